"""``report.html``: one set, reviewed rep by rep, as a single self-contained page.

Everything is inside the file (charts as inline SVG, thumbnails as ``data:`` URIs, CSS inline), so
it opens offline, can be mailed to a therapist and prints to PDF without losing anything. The page
reads top-down: the summary, one row per rep (or hold) with each check's value, limit and verdict,
the attempts that were not counted, the charts, then the trend over earlier sessions of the same
person.

Safety: exercise specs, session files (this one and the sibling sessions of the trend) and file
names are data anyone can write, and a report is opened in a browser. So this module builds plain
values only (strings and numbers, never markup) and ``template.html`` / ``charts.html`` turn them
into HTML with Jinja2's autoescape on: a name like ``"><script>`` shows as that text. The only
markup passed through unescaped is the charts' SVG, which :mod:`siform.report.plots` makes safe.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import jinja2
import numpy as np
import numpy.typing as npt
from markupsafe import Markup, escape

from siform import __version__
from siform.history import same_patient
from siform.report.plots import check_plot, driver_plot, mmss, trend_plot
from siform.report.text import (
    finite,
    fmt_date,
    fmt_limit,
    fmt_score,
    fmt_value,
    not_counted_reason,
    plain,
    span_text,
)
from siform.session import series_arrays

Doc = dict[str, Any]

# -- templates -------------------------------------------------------------------------------------


def _load(name: str) -> str:
    return resources.files("siform.report").joinpath(name).read_text("utf-8")


@cache
def _env() -> jinja2.Environment:
    # autoescape for every template whatever its name; StrictUndefined so a misspelt field in a
    # template fails the tests instead of silently printing nothing.
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(_load),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


# -- pieces ----------------------------------------------------------------------------------------


def _items(session: Doc) -> tuple[list[Doc], str]:
    if session["exercise"]["kind"] == "hold":
        return list(session.get("holds") or []), "hold"
    return list(session.get("reps") or []), "rep"


def _counted(items: Sequence[Doc]) -> list[Doc]:
    return [i for i in items if i.get("outcome", "complete") == "complete"]


def _stopped_short(item: Doc) -> bool:
    """A hold that ended before its prescribed time (``results.Hold.stopped_short`` on the JSON)."""
    held, target = item.get("held_s"), item.get("target_s")
    return finite(held) and finite(target) and held < target


def _prescribed(session: Doc) -> int | None:
    # For holds the spec's ``reps`` is the number of holds in a set (see _example.toml).
    rx = session.get("prescription") or {}
    if session["exercise"]["kind"] == "hold" and rx.get("reps"):
        return int(rx["reps"])
    summary = session.get("summary") or {}
    return summary.get("prescribed") if summary else rx.get("reps")


def _check_names(session: Doc) -> dict[str, str]:
    return {c["id"]: c["name"] for c in session.get("checks", [])}


def _header(session: Doc) -> Doc:
    source = session.get("source") or {}
    return {
        "name": session["exercise"]["name"],
        "date": fmt_date(session.get("created_utc")),
        "file": str(source.get("file", "")),
        "duration": fmt_value(source.get("duration_s"), "s"),
    }


def _fault_row(session: Doc, noun: str, counted: list[Doc]) -> Doc | None:
    """The "Most frequent fault" line. "No faults ... Well done" only when every counted rep or
    hold is complete and within its limits: a hold that stopped short of its prescribed time is
    not done, however good the form while it lasted."""
    summary = session.get("summary")
    if not summary:
        return None
    names = _check_names(session)
    if summary.get("most_frequent_fault"):
        failures = summary.get("failures") or {}
        top = max(failures, key=lambda k: failures[k]) if failures else None
        return {
            "text": summary["most_frequent_fault"],
            "detail": f"{names.get(top, top)}: {failures[top]} of {len(counted)} {noun}s" if top else "",
        }
    if not counted:
        return None
    short = [i for i in counted if _stopped_short(i)]
    if short:
        rx = session.get("prescription") or {}
        target = f" {fmt_value(rx['hold_s'], 's')}" if finite(rx.get("hold_s")) else ""
        return {
            "text": f"{len(short)} of {len(counted)} {noun}s ended before the prescribed{target} "
            f"(see “Held” below); no check failed while they lasted.",
            "detail": "",
        }
    return {"text": f"No faults: every counted {noun} stayed within its limits. Well done.", "detail": ""}


def _summary(session: Doc, noun: str) -> Doc:
    items, _ = _items(session)
    summary = session.get("summary")
    counted = _counted(items)
    prescribed = _prescribed(session)
    rx = session.get("prescription") or {}
    names = _check_names(session)
    side = session.get("side")
    done: dict[str | None, int] = {}
    for i in counted:
        done[i.get("side") or side] = done.get(i.get("side") or side, 0) + 1
    of = f" of {prescribed} prescribed" if prescribed else ""
    rx_text = f"{rx.get('sets', 1)} set(s) of {prescribed or '?'} {noun}s"
    if noun == "hold" and finite(rx.get("hold_s")):
        rx_text += f", {rx['hold_s']:g} s each"
    if finite(rx.get("rest_s")):
        rx_text += f", {rx['rest_s']:g} s rest between sets"
    setup = session.get("setup") or {}
    hints = [str(h) for h in setup.get("hints") or []]
    if not setup.get("ok", True) and not hints:
        hints = ["The camera setup was not ideal; some numbers may be less reliable."]
    unusable = (session.get("source") or {}).get("unusable") or []
    view = session.get("view") or {}
    return {
        "exercise": session["exercise"]["name"],
        "patient": session.get("patient"),
        "date": fmt_date(session.get("created_utc")),
        "side": f"{side} side" if side else "both sides (a two-sided exercise)",
        "view": plain(view.get("id")),
        "view_measured": plain(view.get("measured")),
        "done": [{"n": n, "of": of, "side": plain(s) if s else ""} for s, n in (done.items() or [(side, 0)])],
        "rx": rx_text,
        "not_counted": (summary or {}).get("attempts_not_counted") or 0,
        "score": fmt_score((summary or {}).get("mean_score")),
        "scored": finite((summary or {}).get("mean_score")),
        "fault": _fault_row(session, noun, counted),
        "hints": hints,
        "unusable": [
            f"{span_text(round(u['start_s'] * 1000), round(u['end_s'] * 1000))}: {u['reason']}"
            for u in unusable
        ],
        # How the recording itself limited the analysis (a frame rate too low to smooth, ...).
        "source_notes": [str(n) for n in (session.get("source") or {}).get("notes") or []],
        "unscored": [
            {"name": names.get(u["check_id"], u["check_id"]), "reason": u["reason"]}
            for u in session.get("unscored_checks") or []
        ],
        "analysed": bool(summary),
    }


def _na(check_id: str, why: str, label: str = "not measured") -> Doc:
    return {"kind": "na", "id": check_id, "label": label, "why": why}


def _check_cell(c: Doc, defn: Doc | None) -> Doc:
    baseline = (defn or {}).get("baseline") == "set_median" or c.get("baseline") is not None
    if not c.get("scored") or not finite(c.get("value")):
        reason = str(c.get("reason") or "the body part was not visible enough")
        # measured but withheld (another fault on the rep hides it) reads differently from unseen
        label = "not judged" if reason.startswith("not judged") else "not measured"
        return _na(c["id"], reason, label)
    unit = c["unit"]
    detail = ""
    if baseline:
        value = f"{fmt_value(c['value'], unit, signed=True)} from your median"
        raw, median = fmt_value(c.get("raw_value"), unit), fmt_value(c.get("baseline"), unit)
        detail = f"measured {raw}, your median {median}"
    else:
        value = fmt_value(c["value"], unit)
    ok = c.get("passed") is True
    return {
        "kind": "pass" if ok else "fail",
        "id": c["id"],
        "value": value,
        "detail": detail,
        "limit": fmt_limit(c, baseline),
        "verdict": "✓ within limit" if ok else "✗ outside limit",
        "cue": "" if ok or not c.get("cue") else c["cue"],
    }


def _thumbs(item: Doc, noun: str, thumbnails: Mapping[tuple[int, str], bytes]) -> list[Doc]:
    out = []
    for c in item["checks"]:
        jpg = thumbnails.get((int(item["number"]), c["id"]))
        if jpg and c.get("scored") and c.get("passed") is False:
            when = mmss(c["worst_t_ms"] / 1000) if finite(c.get("worst_t_ms")) else ""
            out.append(
                {
                    "src": "data:image/jpeg;base64," + base64.b64encode(jpg).decode("ascii"),
                    "alt": f"{noun.capitalize()} {item['number']}: {c['name']}, worst moment {when}",
                    "caption": f"{c['name']} · {when}",
                }
            )
    return out


def _rows(session: Doc, thumbnails: Mapping[tuple[int, str], bytes]) -> Doc:
    items, noun = _items(session)
    counted = _counted(items)
    defs = {c["id"]: c for c in session.get("checks", [])}
    unscored = {u["check_id"] for u in session.get("unscored_checks") or []}
    rows = []
    for item in counted:
        by_id = {c["id"]: c for c in item["checks"]}
        cells = []
        for cid, d in defs.items():
            c = by_id.get(cid)
            if cid in unscored:
                cells.append(_na(cid, "see “Checks not scored” above"))
            else:
                cells.append(_check_cell(c, d) if c else _na(cid, "not checked"))
        row: Doc = {
            "number": item["number"],
            "side": item.get("side") or "",
            "span": span_text(item["start_ms"], item["end_ms"]),
            "score": fmt_score(item.get("score")),
            "cells": cells,
            "thumbs": _thumbs(item, noun, thumbnails),
        }
        if noun == "hold":
            row["held"] = f"{fmt_value(item['held_s'], 's')} of {fmt_value(item['target_s'], 's')}"
            row["short"] = _stopped_short(item)
            row["breaks"] = item["breaks"]
        else:
            row["duration"] = fmt_value((item["end_ms"] - item["start_ms"]) / 1000, "s")
        rows.append(row)
    return {
        "noun": noun,
        "checks": [{"name": d["name"], "own": d["baseline"] == "set_median"} for d in defs.values()],
        "with_thumbs": any(r["thumbs"] for r in rows),
        "rows": rows,
    }


def _uncounted(session: Doc, driver: str | None, driver_unit: str) -> Doc:
    items, _ = _items(session)
    return {
        "driver": plain(driver),
        "rows": [
            {
                "span": span_text(i["start_ms"], i["end_ms"]),
                "duration": fmt_value((i["end_ms"] - i["start_ms"]) / 1000, "s"),
                "reason": not_counted_reason(i["outcome"], i.get("duration_s"), session.get("counting")),
                "peak": fmt_value(i.get("peak_value"), driver_unit),
            }
            for i in items
            if i.get("outcome", "complete") != "complete"
        ],
    }


def driving_signal(session: Doc, signals: Mapping[str, npt.NDArray[np.float64]]) -> str | None:
    """The signal that counted the reps: the document's ``counting`` signal, or (documents before
    1.1) the one whose value at every rep's peak is its peak value."""
    items, noun = _items(session)
    counting = session.get("counting") or {}
    if noun == "rep" and counting.get("kind") == "reps" and counting.get("signal") in signals:
        return str(counting["signal"])
    if noun == "rep" and items:
        for name, v in signals.items():
            ok = all(
                0 <= r["peak_index"] < len(v)
                and finite(r.get("peak_value"))
                and math.isclose(float(v[r["peak_index"]]), r["peak_value"], rel_tol=1e-5, abs_tol=1e-5)
                for r in items
            )
            if ok:
                return name
    checked = [c["signal"] for c in session.get("checks", []) if c["signal"] in signals]
    return next(iter(signals), None) if noun == "hold" or not checked else checked[0]


def _plots(
    session: Doc, t_ms: npt.NDArray[np.int64], signals: Mapping[str, npt.NDArray[np.float64]]
) -> list[Doc]:
    """Each chart as ``{"svg": Markup from plots, "caption": text}``."""
    items, noun = _items(session)
    if len(t_ms) == 0 or not signals:
        return []
    out = _counting_plots(session, t_ms, signals, items, noun)
    unscored = {u["check_id"] for u in session.get("unscored_checks") or []}
    counted = _counted(items)
    for c in session.get("checks", []):
        if c["id"] in unscored or c["signal"] not in signals:
            continue
        band = (
            "The green band is the allowed range around your own median for this set."
            if c["baseline"] == "set_median"
            else "The green band is the allowed range."
        )
        out.append(
            {
                "svg": check_plot(t_ms, signals[c["signal"]], c, counted, noun),
                "caption": f"{c.get('signal_label') or plain(c['signal'])} "
                f"({fmt_limit(c, c['baseline'] == 'set_median')}). {band} "
                f"{noun.capitalize()}s outside it are shaded red, with ✗ at their worst moment.",
            }
        )
    return out


def _counting_plots(
    session: Doc,
    t_ms: npt.NDArray[np.int64],
    signals: Mapping[str, npt.NDArray[np.float64]],
    items: list[Doc],
    noun: str,
) -> list[Doc]:
    """How the reps or holds were found: the driving signal with its thresholds, or for a hold one
    chart per condition of the clock (sessions before format 1.1 carry no ``counting``: the signal
    that explains the reps, without thresholds)."""
    counting = session.get("counting") or {}
    shading = (
        f"Each counted {noun} is shaded and numbered; grey hatching marks attempts that were not counted."
    )
    if counting.get("kind") == "hold":
        conditions = [c for c in counting.get("conditions") or [] if c["signal"] in signals]
        out = []
        for c in conditions:
            bounds = [(v, k) for k, v in (("at least", c["min"]), ("at most", c["max"])) if finite(v)]
            title = f"How the holds were found: {c.get('label') or c['signal'].replace('_', ' ')}"
            svg = driver_plot(t_ms, signals[c["signal"]], items, title, c["unit"], noun, bounds)
            out.append(
                {
                    "svg": svg,
                    "caption": "The hold clock runs only while all of these charts are on the right side "
                    f"of their dashed line ({len(conditions)} condition(s)). {shading}",
                }
            )
        return out
    if counting.get("kind") == "reps" and counting.get("signal") in signals:
        name = counting["signal"]
        lines = [(counting["rest"], "rest"), (counting["top"], "top")]
        title = f"How the reps were found: {counting.get('label') or name.replace('_', ' ')}"
        svg = driver_plot(t_ms, signals[name], items, title, counting["unit"], noun, lines)
        return [
            {
                "svg": svg,
                "caption": "A rep counts when this passes the top line and comes back past the rest "
                f"line. {shading}",
            }
        ]
    driver = driving_signal(session, signals)
    if driver is None:
        return []
    units = {c["signal"]: c["unit"] for c in session.get("checks", [])}
    title = f"How the {noun}s were found: {plain(driver)} over time"
    svg = driver_plot(t_ms, signals[driver], items, title, units.get(driver, ""), noun)
    return [{"svg": svg, "caption": shading}]


def _when(doc: Doc) -> datetime | None:
    try:
        when = datetime.fromisoformat(doc["created_utc"])
    except (KeyError, TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else None


def _same_limits(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return finite(a) and finite(b) and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def other_limits(earlier: Doc, session: Doc) -> list[str]:
    """Checks of ``session`` that ``earlier`` judged under other limits, each with the old limit.

    A check's count of failures is only comparable across sessions when the limit and the baseline
    were the same: a therapist who tightens a limit makes the same movement fail more often.
    """
    theirs = {c.get("id"): c for c in earlier.get("checks") or [] if isinstance(c, dict)}
    changed = []
    for ours in session.get("checks", []):
        old = theirs.get(ours["id"])
        if old is None:
            continue  # its column reads "not checked" for that session
        same = old.get("baseline") == ours["baseline"] and all(
            _same_limits(old.get(k), ours[k]) for k in ("limit_min", "limit_max")
        )
        if not same:
            unit = old.get("unit") or ours["unit"]
            then = fmt_limit({**old, "unit": unit}, old.get("baseline") == "set_median")
            changed.append(f"{ours['name']} (then {then})")
    return changed


def _trend(session: Doc, history: Sequence[Doc]) -> Doc:
    """The trend over this patient's earlier sessions of this exercise, or why there is none."""
    noun = _items(session)[1]
    patient = session.get("patient")
    exercise = session["exercise"]
    base = {"patient": patient or "", "exercise": exercise["name"], "id": exercise["id"]}
    if not patient:
        return {**base, "state": "no_patient"}
    now = _when(session)
    same = [
        h
        for h in history
        if h is not session
        and (h.get("exercise") or {}).get("id") == session["exercise"]["id"]
        and same_patient(h.get("patient"), patient)
        and (now is None or (when := _when(h)) is None or when < now)
    ]
    if not same:
        return {**base, "state": "first"}
    sessions = sorted([*same, session], key=lambda d: str(d.get("created_utc") or ""))
    names: dict[str, str] = {}
    for s in sessions:
        names.update(_check_names(s))
    rows, labels, scores = [], [], []
    for s in sessions:
        summary = s.get("summary") or {}
        fails = summary.get("failures") or {}
        done = summary.get("done")
        current = s is session
        label = fmt_date(s.get("created_utc"))
        unique_day = sum(1 for x in sessions if fmt_date(x.get("created_utc"))[:10] == label[:10]) == 1
        labels.append(label[:10] if unique_day else label)
        scores.append(summary.get("mean_score") if finite(summary.get("mean_score")) else None)
        pres = _prescribed(s)
        cells = [
            plain(s.get("side")) if s.get("side") else "both",
            "not scored" if done is None else f"{done}" + (f" of {pres}" if pres else ""),
            fmt_score(summary.get("mean_score")),
        ]
        cells += ["not checked" if not summary else str(fails.get(cid, 0)) for cid in names]
        rows.append(
            {
                "date": label + (" (this session)" if current else ""),
                "current": current,
                "other_limits": [] if current else other_limits(s, session),
                "cells": cells,
            }
        )
    return {
        **base,
        "state": "table",
        "earlier": len(same),
        "head": ["Date", "Side", f"{noun.capitalize()}s done", "Mean score"]
        + [f"{n}: times outside limit" for n in names.values()],
        "rows": rows,
        "chart": trend_plot(labels, scores, sessions.index(session)),
    }


def _footer(session: Doc) -> list[str]:
    sw, src = session.get("software") or {}, session.get("source") or {}
    model = (sw.get("model") or {}).get("file") or "not recorded"
    return [
        f"File: {src.get('file', 'not recorded')}",
        f"sha256: {src.get('sha256', 'not recorded')}",
        f"{src.get('frames', 0)} frames, {src.get('frames_with_pose', 0)} with a person found",
        f"siform {sw.get('siform', __version__)}, model {model}, "
        f"session format {session.get('schema_version')}",
    ]


def report_charts(
    session: Doc, t_ms: npt.NDArray[np.int64], signals: Mapping[str, npt.NDArray[np.float64]]
) -> str:
    """The report's charts section (the costly part of a report: matplotlib draws every chart).

    Returns markup (a :class:`markupsafe.Markup`) for :func:`render_report`'s ``charts``.
    """
    plots = _plots(session, np.asarray(t_ms), signals)
    if not plots:
        return Markup()
    section: Markup = _env().get_template("charts.html").module.charts(plots)  # type: ignore[attr-defined]
    return section


def render_report(
    session: Doc,
    t_ms: npt.NDArray[np.int64],
    signals: dict[str, npt.NDArray[np.float64]],
    thumbnails: dict[tuple[int, str], bytes],
    history: list[Doc],
    charts: str | None = None,
) -> str:
    """The review report of one session as one self-contained HTML page.

    ``t_ms`` and ``signals`` are the per-frame arrays of the analysis (``SessionResult``); given
    none (an empty ``t_ms`` and no signals, as the therapist server has only the document), the
    charts are drawn from the document's own ``series`` (format 1.5) when it has one;
    ``thumbnails`` maps (rep or hold number, check id) to JPEG bytes of that check's worst moment;
    ``history`` holds earlier session documents (any order; other exercises, other patients and
    later sessions are ignored, see :mod:`siform.history`). ``charts`` is :func:`report_charts` of
    the same arguments when the caller drew them already (the review draws them while the
    annotated video encodes, as they need no thumbnails); it is inserted as markup, so it must be
    that function's output and nothing else.
    """
    if len(t_ms) == 0 and not signals and (stored := series_arrays(session)) is not None:
        t_ms, signals = stored
    noun = _items(session)[1]
    driver = driving_signal(session, signals)
    driver_unit = {c["signal"]: c["unit"] for c in session.get("checks", [])}.get(driver or "", "")
    page = _env().get_template("template.html")
    return page.render(
        version=__version__,
        noun=noun,
        header=_header(session),
        summary=_summary(session, noun),
        table=_rows(session, thumbnails),
        uncounted=_uncounted(session, driver, driver_unit),
        # markupsafe.escape keeps report_charts' Markup as it is and escapes any other string
        charts=report_charts(session, t_ms, signals) if charts is None else escape(charts),
        trend=_trend(session, history),
        footer=_footer(session),
    )
