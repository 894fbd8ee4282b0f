"""Form checks: reduce a signal over part of a rep (or hold), compare with the spec's limit, score.

Evaluation happens in two steps because some checks compare each rep with the person's own set
(``baseline = "set_median"``): first every rep's raw value is *measured*, then *judged* once the
set's baseline is known. In live use the baseline is the median of the reps done so far.
"""

from __future__ import annotations

import statistics
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from siform.results import CheckResult
from siform.segment.reps import RepWindow
from siform.signals.filters import frame_timing
from siform.specs.model import CheckSpec, ExerciseSpec, When

Series = npt.NDArray[np.float64]
MIN_BASELINE_REPS = 3


@dataclass(frozen=True, slots=True)
class Measurement:
    """A check's raw reduced value over its window and the frame where it was worst."""

    value: float | None
    worst_index: int | None
    reason: str | None = None
    extremes: tuple[int, int] | None = None
    """For ``mean``: frames of the lowest and highest value; the worst is chosen once the limit
    (and baseline) says which way is bad."""


def window_indices(window: RepWindow, when: When) -> tuple[int, int]:
    """``[a, b)`` frame range of a rep phase; falls back to the whole rep if the phase is empty."""
    top_start = window.top_start if window.top_start is not None else window.peak
    top_end = window.top_end if window.top_end is not None else window.peak + 1
    ranges = {
        "rep": (window.start, window.end + 1),
        "hold": (window.start, window.end + 1),
        "ascent": (window.start, top_start),
        "top": (top_start, max(top_end, top_start + 1)),
        "descent": (top_end, window.end + 1),
        "peak": (window.peak, window.peak + 1),
    }
    a, b = ranges[when]
    return (a, b) if b > a else (window.start, window.end + 1)


def _time_weighted_mean(
    vals: npt.NDArray[np.float64], frames: npt.NDArray[np.intp], t_ms: npt.NDArray[np.int64]
) -> float:
    """Mean of ``vals`` (at ``frames``) with each frame weighted by the time it stands for, half the
    interval to each neighbour: at a variable frame rate a dense stretch must not outvote a sparse
    one (a phone's 60 frames/s burst at the top of a bridge would set its mean alone). At a steady
    rate it is the plain mean: whole-millisecond timestamps (33, 34, 33 ms at 30 frames/s) are
    rounding, not timing, and must not weigh."""
    if frame_timing(t_ms).regular:
        return float(np.mean(vals))
    t = np.asarray(t_ms, dtype=np.float64)
    last = t.shape[0] - 1
    w = (t[np.minimum(frames + 1, last)] - t[np.maximum(frames - 1, 0)]) / 2.0
    total = float(w.sum())
    return float(np.dot(vals, w) / total) if total > 0 else float(np.mean(vals))


def measure(
    check: CheckSpec, values: Series, a: int, b: int, peak: int, t_ms: npt.NDArray[np.int64]
) -> Measurement:
    """Reduce ``values[a:b]`` as the check says; NaN frames are ignored, all-NaN is unmeasurable.

    ``duration_s`` ignores the values: it is how long the phase took (for tempo checks).
    """
    if check.reduce == "duration_s":
        return Measurement((int(t_ms[b - 1]) - int(t_ms[a])) / 1000.0, a)
    if check.reduce == "at_peak":
        v = float(values[peak]) if 0 <= peak < len(values) else float("nan")
        return Measurement(v, peak) if np.isfinite(v) else Measurement(None, None, "no pose at the peak")
    seg = values[a:b]
    finite = np.isfinite(seg)
    if not finite.any():
        return Measurement(None, None, "the body part was not visible")
    idx = np.flatnonzero(finite)
    vals = seg[finite]
    if check.reduce == "max":
        k = int(np.argmax(vals))
        return Measurement(float(vals[k]), a + int(idx[k]))
    if check.reduce == "min":
        k = int(np.argmin(vals))
        return Measurement(float(vals[k]), a + int(idx[k]))
    if check.reduce == "max_abs":
        k = int(np.argmax(np.abs(vals)))
        return Measurement(float(abs(vals[k])), a + int(idx[k]))
    if check.reduce == "range":
        lo, hi = int(np.argmin(vals)), int(np.argmax(vals))
        return Measurement(float(vals[hi] - vals[lo]), a + int(idx[hi]))
    mean = _time_weighted_mean(vals, a + idx, t_ms)
    lo, hi = a + int(idx[int(np.argmin(vals))]), a + int(idx[int(np.argmax(vals))])
    return Measurement(mean, hi, extremes=(lo, hi))


def judge(
    check: CheckSpec,
    m: Measurement,
    baseline: float | None,
    unit: str,
    t_ms: npt.NDArray[np.int64],
    unscored_reason: str | None = None,
) -> CheckResult:
    """Compare a measurement with the check's limit (after subtracting the baseline if any)."""
    lim = check.limit
    if m.extremes is not None and m.value is not None:
        # The worst moment lies on the side where the value leaves (or comes nearest) the band.
        v = m.value - (baseline or 0.0)
        below = lim.min is not None and (lim.max is None or v - lim.min < lim.max - v)
        m = Measurement(m.value, m.extremes[0] if below else m.extremes[1], m.reason, m.extremes)
    common = dict(
        id=check.id, name=check.name, raw_value=m.value, limit_min=lim.min, limit_max=lim.max,
        baseline=baseline, unit=unit, severity=check.severity,
        worst_index=m.worst_index,
        worst_t_ms=int(t_ms[m.worst_index]) if m.worst_index is not None else None,
    )  # fmt: skip
    reason = unscored_reason or m.reason
    if reason is None and check.baseline == "set_median" and baseline is None:
        reason = f"needs at least {MIN_BASELINE_REPS} reps to know this person's own baseline"
    value = compared_value(check, m, baseline)
    if unscored_reason is not None or value is None:
        return CheckResult(**common, scored=False, passed=None, value=None, cue=None, reason=reason)  # type: ignore[arg-type]
    passed = lim.contains(value)
    return CheckResult(**common, scored=True, passed=passed, value=value, cue=None if passed else check.cue)  # type: ignore[arg-type]


def set_baselines(
    spec: ExerciseSpec,
    measurements: Sequence[Mapping[str, Measurement]],
    unscored: Collection[str] = (),
) -> dict[str, float]:
    """Median raw value per ``set_median`` check across the given reps (needs a few reps).

    A rep on which one of a check's ``not_judged_when_failed`` checks fails is left out of that
    check's median: the landmarks misread it there, so it is no more a reference than a verdict
    (rendered single-leg lifts: two reps with the straight leg dropped read as pelvic drops and
    moved the median onto the one rep that really dropped). Checks are taken in dependency order,
    so a prerequisite that is itself ``set_median`` is judged against its own median first.
    """
    by_id = {c.id: c for c in spec.checks}
    out: dict[str, float] = {}
    for check in spec.checks_in_dependency_order():
        if check.baseline != "set_median":
            continue
        vals = [
            m[check.id].value
            for m in measurements
            if m[check.id].value is not None
            and not any(
                _fails(by_id[o], m[o], out.get(o)) for o in check.not_judged_when_failed if o not in unscored
            )
        ]
        if len(vals) >= MIN_BASELINE_REPS:
            # statistics, not numpy: np.median imports numpy.ma on first use, a 10-20 ms stall that
            # would land on the live frame judging the third rep.
            out[check.id] = float(statistics.median(vals))
    return out


def compared_value(check: CheckSpec, m: Measurement, baseline: float | None) -> float | None:
    """What is held against the check's limit: the measurement, less the set's baseline for a
    ``set_median`` check; None when there is nothing to judge (no value, or no baseline yet)."""
    if m.value is None or m.reason is not None:
        return None
    if baseline is None:
        return None if check.baseline == "set_median" else m.value
    return m.value - baseline


def _fails(check: CheckSpec, m: Measurement, baseline: float | None) -> bool:
    """Whether ``m`` is a scored failure of ``check``, as :func:`judge` would find it."""
    value = compared_value(check, m, baseline)
    return value is not None and not check.limit.contains(value)


def score(spec: ExerciseSpec, results: Sequence[CheckResult]) -> float | None:
    """0-100: the weighted share of scored checks that passed; None if nothing could be scored."""
    by_id = {c.id: c for c in spec.checks}
    total = passed = 0.0
    for r in results:
        if not r.scored:
            continue
        w = spec.weights.get(by_id[r.id].severity, 1.0) * by_id[r.id].weight
        total += w
        passed += w if r.passed else 0.0
    return round(100.0 * passed / total, 1) if total > 0 else None


SHORT_HOLD_MAX_SCORE = 99.0
"""The most a hold that stopped short can score: reports round to whole points (99.7 reads 100)."""


def hold_score(form: float | None, held_s: float, target_s: float) -> float | None:
    """A hold's 0-100 score: the form score scaled by the share of the prescribed time held.

    Holding 10 s of a prescribed 20 s with perfect form scores 50: the hold did half its work, and
    form alone would call it perfect. A hold that stopped short (``held_s < target_s``) is capped
    below 100 however little it missed by, so a summary never reads full marks for it; holding
    longer than prescribed earns nothing extra. None when no check could be scored.
    """
    if form is None:
        return None
    if target_s <= 0 or held_s >= target_s:
        return form
    return round(min(form * held_s / target_s, SHORT_HOLD_MAX_SCORE), 1)
