"""The exercise engine: per-frame signal rows in, reps and holds with verdicts out.

:class:`SetTracker` is the streaming core shared by live coaching and review. It is fed one row of
signal values per frame (``update``) and reports each rep or hold as soon as it ends; at the end
(``finish``) the set's baselines are known and every rep is judged. Live coaching feeds it rows
computed from causally filtered landmarks; review feeds it rows from zero-phase filtered ones
(:func:`siform.pipeline.analyze_track`). No geometry and no exercise names live here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from siform.checks import (
    MIN_BASELINE_REPS,
    SHORT_HOLD_MAX_SCORE,
    Measurement,
    hold_score,
    judge,
    measure,
    score,
    set_baselines,
    window_indices,
)
from siform.results import CheckResult, Hold, Rep, SetSummary
from siform.segment.holds import HoldTimer, HoldWindow
from siform.segment.reps import RepCounter, RepWindow
from siform.specs.model import ExerciseSpec

ALIGN_LEAD_MS = 500
"""How far before a finished rep its refined driving signal is counted again (:meth:`SetTracker._aligned`):
more than the causal filter's lag at the start of a rep."""
PROVISIONAL_REPS = MIN_BASELINE_REPS + 1
"""Reps (holds) done before a live verdict judged against the person's own reps stands: until
then a rep event marks such checks ``provisional`` and :meth:`SetTracker.finish` may judge them
otherwise. Measured on the real poses of the sample clips (set-median checks on the events against
the finished set): at rep 3, the first with a baseline, 2 of 23 verdicts changed and the baseline
moved by up to 0.76 of the check's limit; at rep 4 none of 20 changed (up to 0.54 of the limit);
from rep 5 on none of 26 (up to 0.25). A rep whose baseline is missing (reps left out of it) is
provisional too."""


@dataclass(frozen=True, slots=True)
class RepEvent:
    """A rep (or uncounted attempt) that just ended, judged with what is known so far."""

    rep: Rep


@dataclass(frozen=True, slots=True)
class HoldEvent:
    hold: Hold


class _Buffers:
    """Every frame's time and signal values, in growable arrays (one row per signal), so reading
    them is a view: a rep ending ten minutes into a session costs what one ending at the start does
    (lists turned into arrays on each rep grew it from 8 to 26 ms, benchmarks/engine.py)."""

    def __init__(self, names: list[str], capacity: int = 1024) -> None:
        self.names = names
        self.t_ms = np.empty(capacity, dtype=np.int64)
        self.values = np.empty((len(names), capacity), dtype=np.float64)
        self.n = 0

    def append(self, t_ms: int, row: Mapping[str, float]) -> None:
        if self.n == self.t_ms.shape[0]:
            self.t_ms = np.concatenate([self.t_ms, np.empty_like(self.t_ms)])
            self.values = np.concatenate([self.values, np.empty_like(self.values)], axis=1)
        self.t_ms[self.n] = t_ms
        self.values[:, self.n] = [row.get(name, np.nan) for name in self.names]
        self.n += 1

    def column(self, name: str) -> npt.NDArray[np.float64]:
        return self.values[self.names.index(name), : self.n]


class _DriverHold:
    """The driving value the rep counter sees, and the frame it stands for. For up to
    ``filter.max_gap_ms`` after the last known value it is held, as a landmark gap that short
    is bridged; a longer gap reaches the counter as missing at the frame where it began, so a
    voided rep ends where the person vanished. Gaps also come from a signal undefined in a pose
    (the single-leg lift's planted hip angle while MediaPipe reads that knee straight for a few
    frames); without the hold such a flicker voided the whole rep. Causal, so live and review
    count the same reps; checks still skip the unknown frames."""

    def __init__(self, max_gap_ms: float) -> None:
        self.max_gap_ms = max_gap_ms
        self._last: tuple[int, float] | None = None
        self._gap_start: tuple[int, int] | None = None

    def __call__(self, i: int, t_ms: int, value: float) -> tuple[float, int, int]:
        if np.isfinite(value):
            self._last = (t_ms, value)
            self._gap_start = None
            return value, i, t_ms
        if self._gap_start is None:
            self._gap_start = (i, t_ms)
        if self._last is not None and t_ms - self._last[0] <= self.max_gap_ms:
            return self._last[1], i, t_ms
        return value, *self._gap_start


class SetTracker:
    """Counts and judges one set of one exercise on one side.

    ``unscored`` maps check ids to the reason they cannot be judged in this session (for example,
    the camera view cannot show them); those checks are reported, never guessed.
    """

    def __init__(
        self, spec: ExerciseSpec, side: str | None, unscored: Mapping[str, str] | None = None
    ) -> None:
        self.spec = spec
        self.side = side
        self.unscored = dict(unscored or {})
        self.units = {name: s.unit for name, s in spec.signals.items()}
        self._buf = _Buffers(list(spec.signals))
        self._counter = RepCounter(spec.rep) if spec.rep else None
        self._timer = HoldTimer(spec.hold) if spec.hold else None
        self._windows: list[RepWindow | HoldWindow] = []
        self._measurements: list[dict[str, Measurement]] = []
        self._outcomes: list[str] = []
        self._frame = -1
        self._hold = _DriverHold(spec.filter.max_gap_ms)
        self._revised = False
        self.refine: Callable[[int], Mapping[str, npt.ArrayLike]] | None = None
        """Live coaching's hook, called as a rep or hold ends, before it is measured, with its first
        frame: better values of signals (zero-phase filtered now that the rep is over) for the frames
        from there to the current one, which replace the values fed (see :meth:`_refine_from`)."""

    # -- feeding ---------------------------------------------------------------------------

    def update(self, t_ms: int, row: Mapping[str, float]) -> RepEvent | HoldEvent | None:
        """Add one frame; ``row`` has a value (NaN if unknown) for every signal of the spec."""
        self._frame += 1
        i = self._frame
        self._buf.append(int(t_ms), row)
        if self._counter is not None and self.spec.rep is not None:
            driver, at, at_ms = self._driver(i, t_ms, float(row.get(self.spec.rep.signal, np.nan)))
            window = self._counter.update(at, at_ms, driver)
            return self._rep_ended(window) if window else None
        if self._timer is not None:
            hold_window = self._timer.update(i, t_ms, self._hold_ok(row))
            return self._hold_ended(hold_window) if hold_window else None
        return None

    def activity(self) -> float:
        """How much this set has gone on so far, to tell a unilateral exercise's working side from
        the other when both complete their first rep or hold on the same frame (review's
        :func:`siform.pipeline.working_side` criteria): the driving signal's spread (5th to 95th
        percentile) for reps, frames in the hold position for holds."""
        _t, values = self._arrays()
        if self.spec.rep is None:
            if self.spec.hold is None or not len(_t):
                return 0.0
            ok = np.ones(len(_t), dtype=bool)
            for c in self.spec.hold.conditions:
                v = values[c.signal]
                ok &= np.isfinite(v) & (v >= (-np.inf if c.min is None else c.min))
                ok &= v <= (np.inf if c.max is None else c.max)
            return float(ok.sum())
        x = values[self.spec.rep.signal]
        x = x[np.isfinite(x)]
        return float(np.percentile(x, 95) - np.percentile(x, 5)) if x.size > 10 else 0.0

    def revise(self, values: Mapping[str, npt.ArrayLike]) -> None:
        """Replace signals' per-frame values before :meth:`finish` (one per frame fed so far): live
        coaching recomputes a signal measured against its set so far once the whole set is known.
        Reps and holds keep the frames they were counted on; their checks are measured again."""
        n = self._buf.n
        for name, series in values.items():
            arr = np.asarray(series, dtype=np.float64)
            if arr.shape != (n,):
                raise ValueError(f"revise: '{name}' has shape {arr.shape}, the set has {n} frames")
            self._buf.column(name)[:] = arr
        self._revised = True

    def series(self) -> tuple[npt.NDArray[np.int64], dict[str, npt.NDArray[np.float64]]]:
        """Every frame's time and signal values so far (arrays; do not modify them)."""
        return self._arrays()

    def _driver(self, i: int, t_ms: int, value: float) -> tuple[float, int, int]:
        return self._hold(i, t_ms, value)

    def _hold_ok(self, row: Mapping[str, float]) -> bool | None:
        assert self.spec.hold is not None
        values = [row.get(c.signal, np.nan) for c in self.spec.hold.conditions]
        if any(np.isnan(v) for v in values):
            return None
        return all(c.contains(v) for c, v in zip(self.spec.hold.conditions, values, strict=True))

    # -- judging ---------------------------------------------------------------------------

    def _arrays(self) -> tuple[npt.NDArray[np.int64], dict[str, npt.NDArray[np.float64]]]:
        """Views of the buffers (valid until the next frame is fed)."""
        return self._buf.t_ms[: self._buf.n], {name: self._buf.column(name) for name in self._buf.names}

    def _measure(self, window: RepWindow | HoldWindow) -> dict[str, Measurement]:
        t, values = self._arrays()
        out: dict[str, Measurement] = {}
        for check in self.spec.checks:
            if isinstance(window, RepWindow):
                a, b = window_indices(window, check.when)
                peak = window.peak
            else:
                a, b, peak = window.start, window.end + 1, window.end
            out[check.id] = measure(check, values[check.signal], a, b, peak, t)
        return out

    def _judge(
        self, index: int, baselines: Mapping[str, float], provisional: bool = False
    ) -> tuple[tuple[CheckResult, ...], float | None]:
        """The checks of rep (hold) ``index``; with ``provisional`` (an event during the set), those
        judged against the person's own reps are marked so while fewer than
        :data:`PROVISIONAL_REPS` reps are done."""
        t, _values = self._arrays()
        results = tuple(
            judge(
                check,
                self._measurements[index][check.id],
                baselines.get(check.id) if check.baseline == "set_median" else None,
                "s" if check.reduce == "duration_s" else self.units[check.signal],
                t,
                self.unscored.get(check.id),
            )
            for check in self.spec.checks
        )
        failed = {r.id: r.name for r in results if r.scored and r.passed is False}
        results = tuple(
            _not_judged(r, [failed[o] for o in check.not_judged_when_failed if o in failed])
            for r, check in zip(results, self.spec.checks, strict=True)
        )
        if provisional:
            early = len(self._completed()) < PROVISIONAL_REPS
            results = tuple(
                replace(r, provisional=True)
                if check.baseline == "set_median" and (early or baselines.get(check.id) is None)
                else r
                for r, check in zip(results, self.spec.checks, strict=True)
            )
        return results, score(self.spec, results)

    def _completed(self) -> list[int]:
        return [k for k, o in enumerate(self._outcomes) if o == "complete"]

    def _live_baselines(self) -> dict[str, float]:
        done = self._completed()
        return set_baselines(self.spec, [self._measurements[k] for k in done], self.unscored)

    def _refine_from(self, first: int) -> None:
        if self.refine is None:
            return
        n = self._buf.n
        for name, series in self.refine(first).items():
            arr = np.asarray(series, dtype=np.float64)
            if arr.shape != (n - first,):
                raise ValueError(f"refine: '{name}' has shape {arr.shape}, expected ({n - first},)")
            self._buf.column(name)[first:] = arr

    def _aligned(self, window: RepWindow) -> RepWindow:
        """``window`` with its top band and peak where the refined driving signal puts them.

        The causal filter the rep counter runs on lags (a frame at 10-15 frames/s), so its top band
        starts and ends a frame late, and a check averaged over the top read across its limit on
        sample clips where review did not. With :attr:`refine` set, the frames from shortly before
        the rep are refined and counted again, and the rep measured over the frames that count finds
        for it (its start and top a frame earlier, typically)."""
        if self.refine is None or self.spec.rep is None:
            return window
        t = self._buf.t_ms[: self._buf.n]
        lo = self._windows[-1].end + 1 if self._windows else 0
        while lo < window.start and t[lo] < t[window.start] - ALIGN_LEAD_MS:
            lo += 1
        self._refine_from(lo)
        _t, values = self._arrays()
        driver = values[self.spec.rep.signal]
        counter, hold = RepCounter(self.spec.rep), _DriverHold(self.spec.filter.max_gap_ms)
        found: RepWindow | None = None
        for i in range(lo, len(t)):
            value, at, at_ms = hold(i, int(t[i]), float(driver[i]))
            w = counter.update(at, at_ms, value)
            if w is not None and w.outcome == "complete" and w.start <= window.end and w.end >= window.start:
                found = w
        if found is None:  # the refined signal may not be back at rest on the frame the rep ended
            w = counter.finish()
            found = w if w is not None and w.start <= window.end else None
        if found is None or found.top_start is None or found.top_end is None:
            return window
        # Its frames too, when the refined count has them all (a rep ends where it is back at rest):
        # a check over the whole rep (a range) read 4.6 degrees off on one frame more at its start.
        start = found.start
        end = found.end if found.outcome == "complete" else window.end
        top_start = min(max(found.top_start, start), end)
        top_end = min(max(found.top_end, top_start), end)
        peak = min(max(found.peak, start), end)
        return replace(
            window, start=start, end=end, start_ms=int(t[start]), end_ms=int(t[end]), top_start=top_start,
            top_end=top_end, peak=peak, peak_value=found.peak_value,
        )  # fmt: skip

    def _rep_ended(self, window: RepWindow) -> RepEvent:
        if window.outcome == "complete":
            if self.refine is not None and self.spec.rep is not None:
                window = self._aligned(window)
            else:
                self._refine_from(window.start)
        self._windows.append(window)
        self._outcomes.append(window.outcome)
        self._measurements.append(self._measure(window) if window.outcome == "complete" else {})
        return RepEvent(self._make_rep(len(self._windows) - 1, self._live_baselines(), provisional=True))

    def _hold_ended(self, window: HoldWindow) -> HoldEvent:
        self._refine_from(window.start)
        self._windows.append(window)
        self._outcomes.append("complete")
        self._measurements.append(self._measure(window))
        return HoldEvent(self._make_hold(len(self._windows) - 1, self._live_baselines(), provisional=True))

    def _make_rep(self, k: int, baselines: Mapping[str, float], provisional: bool = False) -> Rep:
        w = self._windows[k]
        assert isinstance(w, RepWindow)
        t = self._buf.t_ms
        number = self._completed().index(k) + 1 if self._outcomes[k] == "complete" else 0
        checks, sc = self._judge(k, baselines, provisional) if number else ((), None)
        return Rep(
            number, self.side, w.outcome, w.start_ms, w.end_ms, int(t[w.peak]), w.start, w.end, w.peak,
            w.peak_value, w.top_start, w.top_end, checks, sc,
        )  # fmt: skip

    def _make_hold(self, k: int, baselines: Mapping[str, float], provisional: bool = False) -> Hold:
        w = self._windows[k]
        assert isinstance(w, HoldWindow) and self.spec.prescription.hold_s is not None
        checks, form = self._judge(k, baselines, provisional)
        number = self._completed().index(k) + 1
        target_s = self.spec.prescription.hold_s
        return Hold(
            number, self.side, w.start_ms, w.end_ms, w.held_s, target_s, w.breaks,
            w.start, w.end, checks, hold_score(form, w.held_s, target_s),
        )  # fmt: skip

    def finish(self) -> tuple[list[Rep], list[Hold], SetSummary]:
        """Close an open hold, report an attempt cut off by the end of the recording (``not_finished``),
        compute the set's baselines and judge every rep against them."""
        if self._counter is not None:
            open_rep = self._counter.finish()
            if open_rep is not None:
                self._rep_ended(open_rep)
        if self._timer is not None:
            last = self._timer.finish()
            if last is not None:
                self._hold_ended(last)
        done = self._completed()
        if self._revised:
            for k in done:
                self._measurements[k] = self._measure(self._windows[k])
        baselines = set_baselines(self.spec, [self._measurements[k] for k in done], self.unscored)
        reps: list[Rep] = []
        holds: list[Hold] = []
        for k, w in enumerate(self._windows):
            if isinstance(w, RepWindow):
                reps.append(self._make_rep(k, baselines))
            else:
                holds.append(self._make_hold(k, baselines))
        return reps, holds, self._summary(reps, holds)

    def _summary(self, reps: list[Rep], holds: list[Hold]) -> SetSummary:
        items: list[Rep | Hold] = [r for r in reps if r.number] + list(holds)
        failures: dict[str, int] = {}
        for item in items:
            for c in item.failed:
                failures[c.id] = failures.get(c.id, 0) + 1
        scores = [i.score for i in items if i.score is not None]
        worst = max(failures, key=lambda cid: failures[cid]) if failures else None
        cue = next((c.cue for c in self.spec.checks if c.id == worst), None)
        prescribed = self.spec.prescription.reps or (None if self.spec.kind == "reps" else 1)
        return SetSummary(
            side=self.side,
            done=len(items),
            prescribed=prescribed,
            attempts_not_counted=sum(1 for r in reps if not r.number),
            mean_score=_mean_score(scores, any(h.stopped_short for h in holds)),
            failures=failures,
            most_frequent_fault=cue,
            not_finished=sum(1 for r in reps if r.outcome == "not_finished"),
            holds_short=sum(1 for h in holds if h.stopped_short),
        )


def _mean_score(scores: list[float], short: bool) -> float | None:
    """The set's mean score; below full marks when a hold stopped short, however well the others
    went (holds of 100, 100 and 99 average 99.7, which reads 100 rounded)."""
    if not scores:
        return None
    mean = round(float(np.mean(scores)), 1)
    return min(mean, SHORT_HOLD_MAX_SCORE) if short else mean


def _not_judged(result: CheckResult, because: list[str]) -> CheckResult:
    """``result`` withdrawn when a check it cannot be told apart from failed on the same rep."""
    if not because or not result.scored:
        return result
    reason = f"not judged on this rep: '{because[0]}' failed, and the camera cannot tell the two apart"
    return replace(result, scored=False, passed=None, value=None, cue=None, reason=reason)
