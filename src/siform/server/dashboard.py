"""The therapist's dashboard: adherence, weekly trends and their plots, from stored ``session.json``s.

Pure functions over session documents (dicts as uploaded, format 1.4 and earlier), so they are
tested without a server. Nothing here imports OpenCV or MediaPipe: plots are drawn by matplotlib's
SVG backend through :mod:`siform.report.plots`, the same style as ``report.html``.

Adherence has two definitions, and the pages say which one a row uses:

- With the patient's prescription (set by their therapist on the server), each prescribed exercise's
  dose is **per day**: sets x reps (or holds) per set, on each side for a one-sided exercise
  prescribed for both sides. This week's target is that dose times the days of the week so far
  (Monday to today, UTC); done is the reps (holds) counted in this week's sessions of that exercise
  (of the prescribed side only, when one side is prescribed). A prescribed exercise without a session
  is a row too (0 done): that is what the therapist needs to see. Exercises done but not prescribed
  are listed without a target.
- Without one, "prescribed" is each exercise spec's own dose as the document records it
  (``prescription``: sets x reps, or holds, per session); specs set no sessions-per-week, so
  adherence is the sessions recorded this week and the share of that dose they did.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from siform.prescription import PatientPrescription
    from siform.specs.model import ExerciseSpec

Doc = dict[str, Any]


def recorded_at(doc: Doc) -> datetime | None:
    """When the set was done: ``recorded_utc`` (live) or ``created_utc`` (the analysis time)."""
    for key in ("recorded_utc", "created_utc"):
        text = doc.get(key)
        if isinstance(text, str):
            try:
                t = datetime.fromisoformat(text)
            except ValueError:
                continue
            return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)
    return None


def week_start(t: datetime) -> date:
    """Monday of ``t``'s ISO week (UTC)."""
    d = t.astimezone(UTC).date()
    return d - timedelta(days=d.weekday())


def _counted(doc: Doc) -> list[Doc]:
    if doc.get("exercise", {}).get("kind") == "hold":
        return list(doc.get("holds") or [])
    return [r for r in doc.get("reps") or [] if r.get("outcome", "complete") == "complete"]


def _per_set(doc: Doc) -> int | None:
    """Reps, or holds, per set: a hold spec may give ``reps`` (holds per set); one when it does not."""
    p = doc.get("prescription") or {}
    reps = p.get("reps")
    if isinstance(reps, int) and not isinstance(reps, bool):
        return reps
    return 1 if doc.get("exercise", {}).get("kind") == "hold" else None


def dose(doc: Doc) -> int | None:
    """Reps (or holds) the spec prescribes per session: sets x reps (or holds) per set."""
    sets = (doc.get("prescription") or {}).get("sets")
    per_set = _per_set(doc)
    if not isinstance(sets, int) or per_set is None:
        return None
    return sets * per_set


def dose_text(doc: Doc) -> str:
    p = doc.get("prescription") or {}
    if doc.get("exercise", {}).get("kind") == "hold":
        hold = p.get("hold_s")
        of = f" of {hold:g} s" if isinstance(hold, int | float) else ""
        return f"{p.get('sets')} × {_per_set(doc)} holds{of} per session"
    return f"{p.get('sets')} × {p.get('reps')} reps per session"


@dataclass
class Adherence:
    """One exercise of one patient in one week."""

    exercise: str
    sessions: int
    done: int
    prescribed: int | None
    """The target: the therapist's daily dose times the days so far (``source`` "therapist"), or
    the sum of the spec's dose over those sessions ("spec"); None when there is none."""
    dose: str
    source: str = "spec"
    """``therapist``: against the patient's prescription; ``spec``: the spec's dose per session;
    ``unprescribed``: done although the patient's prescription does not include it."""

    @property
    def percent(self) -> float | None:
        if not self.prescribed:
            return None
        return 100.0 * self.done / self.prescribed


def days_so_far(now: datetime) -> int:
    """Days of ``now``'s week up to and including today (Monday: 1, Sunday: 7; UTC)."""
    return (now.astimezone(UTC).date() - week_start(now)).days + 1


def adherence(
    docs: Iterable[Doc],
    now: datetime,
    prescription: PatientPrescription | None = None,
    specs: Mapping[str, ExerciseSpec] | None = None,
) -> list[Adherence]:
    """Per exercise, the sessions recorded in ``now``'s week (Monday to Sunday, UTC), against the
    patient's prescription when it prescribes anything (``specs`` gives its defaults and names),
    else against each spec's dose as the documents record it (see the module's docstring)."""
    this_week = week_start(now)
    mine = [
        doc for doc in docs if (t := recorded_at(doc)) is not None and week_start(t) == this_week and t <= now
    ]
    if prescription is not None and prescription.exercises and specs is not None:
        return _prescribed(mine, now, prescription, specs)
    by_exercise: dict[str, list[Doc]] = defaultdict(list)
    for doc in mine:
        by_exercise[doc["exercise"]["name"]].append(doc)
    out = []
    for name, group in sorted(by_exercise.items()):
        done = sum(int((d.get("summary") or {}).get("done") or 0) for d in group)
        doses = [dose(d) for d in group]
        prescribed = None if any(x is None for x in doses) else sum(x for x in doses if x is not None)
        out.append(Adherence(name, len(group), done, prescribed, dose_text(group[-1])))
    return out


def _done(group: Iterable[Doc]) -> int:
    return sum(int((d.get("summary") or {}).get("done") or 0) for d in group)


def _prescribed(
    docs: list[Doc], now: datetime, prescription: PatientPrescription, specs: Mapping[str, ExerciseSpec]
) -> list[Adherence]:
    from siform.server.prescribe import daily_dose, dose_text

    by_id: dict[str, list[Doc]] = defaultdict(list)
    for doc in docs:
        by_id[str((doc.get("exercise") or {}).get("id"))].append(doc)
    days = days_so_far(now)
    out = []
    for ep in prescription.exercises:
        spec = specs.get(ep.exercise)
        group, other_side = [], []
        for d in by_id.pop(ep.exercise, []):
            (group if ep.side is None or d.get("side") in (None, ep.side) else other_side).append(d)
        if spec is None:  # no longer a spec of this server: its sessions still count, without a target
            out.append(
                Adherence(ep.exercise, len(group), _done(group), None, "spec not on this server", "therapist")
            )
            continue
        out.append(
            Adherence(
                spec.name,
                len(group),
                _done(group),
                daily_dose(ep, spec) * days,
                dose_text(ep, spec),
                "therapist",
            )
        )
        if other_side:  # the side that was not prescribed: shown, never counted
            side = other_side[-1].get("side")
            out.append(
                Adherence(
                    f"{spec.name} ({side} side)",
                    len(other_side),
                    _done(other_side),
                    None,
                    f"not prescribed ({ep.side} side only)",
                    "unprescribed",
                )
            )
    for group in by_id.values():
        name = str(group[-1]["exercise"].get("name"))
        out.append(Adherence(name, len(group), _done(group), None, "not prescribed", "unprescribed"))
    return out


# -- trends --------------------------------------------------------------------------------------


@dataclass
class Metric:
    """One quantity of one exercise, a weekly mean per week that has it."""

    key: str
    title: str
    unit: str
    weeks: dict[date, list[float]] = field(default_factory=lambda: defaultdict(list))

    def means(self, weeks: Sequence[date]) -> list[float | None]:
        return [(sum(v) / len(v)) if (v := self.weeks.get(w)) else None for w in weeks]


@dataclass
class ExerciseTrend:
    exercise_id: str
    name: str
    weeks: list[date]
    sessions: dict[date, int]
    metrics: list[Metric]


def _finite(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x) if math.isfinite(x) else None


def trends(docs: Iterable[Doc]) -> list[ExerciseTrend]:
    """Weekly means per exercise: mean score, every check's measured value (``raw_value``, before
    any set-median baseline: range of motion, pelvic obliquity, knee separation... whatever the
    exercise checks) and, for holds, seconds held. Only what the documents carry is plotted."""
    grouped: dict[str, list[tuple[date, Doc]]] = defaultdict(list)
    names: dict[str, str] = {}
    for doc in docs:
        t = recorded_at(doc)
        ex = doc.get("exercise") or {}
        if t is None or not isinstance(ex.get("id"), str):
            continue
        grouped[ex["id"]].append((week_start(t), doc))
        names[ex["id"]] = str(ex.get("name") or ex["id"])
    out = []
    for ex_id, items in sorted(grouped.items(), key=lambda kv: names[kv[0]]):
        metrics: dict[str, Metric] = {}
        sessions: dict[date, int] = defaultdict(int)

        def metric(key: str, title: str, unit: str, metrics: dict[str, Metric] = metrics) -> Metric:
            return metrics.setdefault(key, Metric(key, title, unit))

        for week, doc in items:
            sessions[week] += 1
            score = _finite((doc.get("summary") or {}).get("mean_score"))
            if score is not None:
                metric("score", "Mean score", "0-100").weeks[week].append(score)
            labels = {c.get("id"): c.get("signal_label") or c.get("name") for c in doc.get("checks") or []}
            for item in _counted(doc):
                held = _finite(item.get("held_s"))
                if held is not None:
                    metric("held_s", "Seconds held", "s").weeks[week].append(held)
                for c in item.get("checks") or []:
                    value = _finite(c.get("raw_value"))
                    if value is None and c.get("baseline") is None:
                        value = _finite(c.get("value"))
                    if value is None or not isinstance(c.get("id"), str):
                        continue
                    title = str(c.get("name") or c["id"])
                    label = labels.get(c["id"])
                    if label and label != title:
                        title = f"{title}: {label}"
                    metric("check:" + c["id"], title, str(c.get("unit") or "")).weeks[week].append(value)
        weeks = sorted(sessions)
        ordered = sorted(metrics.values(), key=lambda m: (m.key != "score", m.key != "held_s", m.title))
        out.append(ExerciseTrend(ex_id, names[ex_id], weeks, dict(sessions), ordered))
    return out


def week_label(w: date) -> str:
    return f"{w.isoformat()} (wk {w.isocalendar().week})"


def trend_svg(metric: Metric, weeks: Sequence[date]) -> Any:
    """One metric's weekly means as an inline SVG (markupsafe.Markup; matplotlib escapes text).

    The x axis is calendar weeks, so a week without a session is a gap, not a squeezed step. The
    title is the check's short name; its long description goes under the plot in the page."""
    import matplotlib as mpl
    import numpy as np
    from matplotlib.figure import Figure

    from siform.report.plots import _STYLE, _svg, unit_label

    y = np.array([math.nan if v is None else v for v in metric.means(weeks)], dtype=np.float64)
    x = np.array([(w - weeks[0]).days / 7 for w in weeks], dtype=np.float64) if weeks else np.zeros(0)
    title = metric.title.split(": ", 1)[0]
    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(4.6, 2.1))
        ax = fig.subplots()
        ok = np.isfinite(y)
        ax.plot(x[ok], y[ok], color="#1f4e79", marker="o", linewidth=1.4)
        if metric.key == "score":
            ax.set_ylim(0, 105)
        ax.set_xticks(x, [week_label(w) for w in weeks], rotation=20, ha="right", fontsize=7.5)
        ax.set_xlim((x.min() if len(x) else 0) - 0.5, (x.max() if len(x) else 0) + 0.5)
        ax.set_ylabel(unit_label(metric.unit), fontsize=8)
        ax.grid(axis="y", color="#dddddd", linewidth=0.6)
        ax.set_title(f"{title} (weekly mean)")
        return _svg(fig, f"{metric.title}, weekly mean")


def latest_scores(docs: Sequence[Doc], n: int = 3) -> list[tuple[str, float | None]]:
    """The newest ``n`` sessions' (exercise name, mean score), newest first."""
    dated = [(t, d) for d in docs if (t := recorded_at(d)) is not None]
    dated.sort(key=lambda td: td[0], reverse=True)
    return [
        (str(d["exercise"]["name"]), _finite((d.get("summary") or {}).get("mean_score")))
        for _t, d in dated[:n]
    ]
