"""Checks: reduce a signal over part of a rep, judge against the limit, score the rep."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import numpy as np
import pytest

from siform.checks import (
    MIN_BASELINE_REPS,
    Measurement,
    judge,
    measure,
    score,
    set_baselines,
    window_indices,
)
from siform.results import CheckResult
from siform.segment.reps import RepWindow
from siform.specs.load import parse_spec
from siform.specs.model import Bound, CheckSpec, ExerciseSpec

NAN = float("nan")
T_MS = np.arange(0, 1000, 100, dtype=np.int64)  # 10 frames, 100 ms apart
#                  0    1    2    3    4    5    6    7    8    9
VALUES = np.array([NAN, 1.0, 5.0, -7.0, 3.0, NAN, 2.0, 2.0, 2.0, 2.0])


def check(reduce: str = "max", when: str = "rep", baseline: str = "absolute", **limit: float) -> CheckSpec:
    return CheckSpec(
        id="c",
        name="A check",
        signal="x",
        when=when,
        reduce=reduce,
        baseline=baseline,
        limit=Bound(**(limit or {"max": 1.0})),
        cue="Do it better.",
    )


# ---------------------------------------------------------------------------------------------
# measure
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reduce", "a", "b", "peak", "values", "expected", "worst", "reason"),
    [
        # max over frames 0-4: 5 at frame 2 (the leading NaN is ignored).
        ("max", 0, 5, 2, VALUES, 5.0, 2, None),
        # min: -7 at frame 3.
        ("min", 0, 5, 2, VALUES, -7.0, 3, None),
        # mean of 1, 5, -7, 3 = 0.5; until judge() knows which way is bad, the worst frame is
        # the highest (5, frame 2); judge() picks frame 3 (-7) when the low side fails.
        ("mean", 0, 5, 2, VALUES, 0.5, 2, None),
        # max_abs: |-7| = 7, at frame 3.
        ("max_abs", 0, 5, 2, VALUES, 7.0, 3, None),
        # range: 5 - (-7) = 12, worst at the maximum (frame 2).
        ("range", 0, 5, 2, VALUES, 12.0, 2, None),
        # at_peak: the value at the rep's peak frame, whatever the window.
        ("at_peak", 0, 5, 4, VALUES, 3.0, 4, None),
        # duration_s: first to last frame of the window, 0 to 400 ms.
        ("duration_s", 0, 5, 2, VALUES, 0.4, 0, None),
        # duration_s ignores the values, NaN or not.
        ("duration_s", 5, 6, 5, VALUES, 0.0, 5, None),
        # A sub-window: only frames 3-4 count.
        ("max", 3, 5, 3, VALUES, 3.0, 4, None),
        # A window whose worst frame is not the first: offsets are absolute frame indices.
        ("max_abs", 6, 10, 7, VALUES + np.r_[np.zeros(8), 4.0, 0.0], 6.0, 8, None),
        # A constant window: range 0, mean equal to the value.
        ("range", 6, 10, 7, VALUES, 0.0, 6, None),
        ("mean", 6, 10, 7, VALUES, 2.0, 6, None),
        # All NaN in the window: unmeasurable, with a reason, for every value reduce.
        *[
            (r, 5, 6, 5, VALUES, None, None, "the body part was not visible")
            for r in ("max", "min", "mean", "max_abs", "range")
        ],
        # An empty window is unmeasurable too.
        ("mean", 3, 3, 3, VALUES, None, None, "the body part was not visible"),
        # NaN at the peak: no guess from neighbours.
        ("at_peak", 0, 10, 5, VALUES, None, None, "no pose at the peak"),
        # A peak outside the series: unmeasurable, not an IndexError.
        ("at_peak", 0, 10, 10, VALUES, None, None, "no pose at the peak"),
    ],
)
def test_measure(
    reduce: str,
    a: int,
    b: int,
    peak: int,
    values: np.ndarray,
    expected: float | None,
    worst: int | None,
    reason: str | None,
) -> None:
    m = measure(check(reduce), values, a, b, peak, T_MS)
    if expected is None:
        assert m.value is None
    else:
        assert m.value == pytest.approx(expected)
    assert m.worst_index == worst
    assert m.reason == reason


# ---------------------------------------------------------------------------------------------
# judge
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "m", "baseline", "unscored", "scored", "passed", "value", "reason"),
    [
        # Absolute limit, inside: passes, no cue.
        (check(max=10.0), Measurement(5.0, 2), None, None, True, True, 5.0, None),
        # Absolute limit, above the max: fails with the cue.
        (check(max=10.0), Measurement(12.0, 2), None, None, True, False, 12.0, None),
        # The limit is closed: exactly at the max passes.
        (check(max=10.0), Measurement(10.0, 2), None, None, True, True, 10.0, None),
        # Only a min: below it fails.
        (check(min=165.0), Measurement(150.0, 2), None, None, True, False, 150.0, None),
        # Both ends: inside passes.
        (check(min=-1.0, max=1.0), Measurement(0.5, 2), None, None, True, True, 0.5, None),
        # set_median: the limit applies to the difference from the baseline (0.07 - 0.01 = 0.06).
        (
            check(baseline="set_median", min=-0.025, max=0.025),
            Measurement(0.07, 3),
            0.01,
            None,
            True,
            False,
            0.06,
            None,
        ),
        # set_median: a large raw value that is this person's normal passes.
        (
            check(baseline="set_median", min=-0.025, max=0.025),
            Measurement(0.30, 3),
            0.29,
            None,
            True,
            True,
            0.01,
            None,
        ),
        # set_median without a baseline yet (early in a live set): unscored, with the reason.
        (
            check(baseline="set_median", max=0.025),
            Measurement(0.30, 3),
            None,
            None,
            False,
            None,
            None,
            f"needs at least {MIN_BASELINE_REPS} reps to know this person's own baseline",
        ),
        # The view cannot show it: unscored with the view's reason even though it was measured.
        (
            check(max=10.0),
            Measurement(12.0, 2),
            None,
            "not visible from the 'side' view",
            False,
            None,
            None,
            "not visible from the 'side' view",
        ),
        # Unmeasurable: unscored with the measurement's reason.
        (
            check(max=10.0),
            Measurement(None, None, "the body part was not visible"),
            None,
            None,
            False,
            None,
            None,
            "the body part was not visible",
        ),
    ],
)
def test_judge(
    spec: CheckSpec,
    m: Measurement,
    baseline: float | None,
    unscored: str | None,
    scored: bool,
    passed: bool | None,
    value: float | None,
    reason: str | None,
) -> None:
    r = judge(spec, m, baseline, "ratio", T_MS, unscored)
    assert (r.scored, r.passed, r.reason) == (scored, passed, reason)
    assert r.value == (pytest.approx(value) if value is not None else None)
    assert r.raw_value == m.value  # always reported, scored or not
    assert r.cue == ("Do it better." if passed is False else None)
    assert (r.limit_min, r.limit_max) == (spec.limit.min, spec.limit.max)
    assert r.worst_index == m.worst_index
    assert r.worst_t_ms == (int(T_MS[m.worst_index]) if m.worst_index is not None else None)
    assert (r.unit, r.severity, r.id) == ("ratio", "major", "c")


@pytest.mark.parametrize(
    ("limit", "baseline", "worst"),
    [
        ({"max": 0.2}, None, 2),  # mean 0.5 above the max: the highest frame (5, frame 2) is the worst
        ({"min": 1.0}, None, 3),  # below the min: the lowest frame (-7, frame 3)
        ({"min": 0.4, "max": 10.0}, None, 3),  # inside, nearer the min: the low side
        ({"min": -10.0, "max": 0.6}, None, 2),  # inside, nearer the max: the high side
        ({"min": -0.1, "max": 0.1}, 0.55, 3),  # set_median: 0.5 - 0.55 = -0.05 leans low
    ],
)
def test_judge_points_a_mean_at_the_frame_on_the_bad_side(
    limit: dict[str, float], baseline: float | None, worst: int
) -> None:
    m = measure(check("mean", **limit), VALUES, 0, 5, 2, T_MS)
    r = judge(check("mean", **limit), m, baseline, "ratio", T_MS)
    assert (r.worst_index, r.worst_t_ms) == (worst, int(T_MS[worst]))


# ---------------------------------------------------------------------------------------------
# baselines and score
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bridge() -> ExerciseSpec:
    """Two checks: full_extension (minor) and level_pelvis (major, against the set median)."""
    return parse_spec(
        {
            "id": "test_bridge",
            "name": "Bridge",
            "instructions": "Lift your hips.",
            "kind": "reps",
            "laterality": "bilateral",
            "views": [{"id": "side", "facing": "side", "how": "Camera at your side."}],
            "prescription": {"sets": 2, "reps": 10},
            "signals": {
                "angle": {"fn": "joint_angle_deg", "args": {"side": "near", "joint": "hip"}},
                "drop": {"fn": "hip_drop_ratio"},
            },
            "rep": {"signal": "angle", "direction": "up", "rest": 145.0, "top": 160.0},
            "checks": [
                {
                    "id": "full_extension",
                    "name": "Full",
                    "signal": "angle",
                    "when": "peak",
                    "reduce": "at_peak",
                    "limit": {"min": 165.0},
                    "severity": "minor",
                    "cue": "Lift higher.",
                },
                {
                    "id": "level_pelvis",
                    "name": "Level",
                    "signal": "drop",
                    "when": "top",
                    "reduce": "mean",
                    "baseline": "set_median",
                    "limit": {"max": 0.025},
                    "severity": "major",
                    "cue": "Keep level.",
                },
            ],
            "gate": {"landmarks": ["near_hip"]},
        },
        "test_bridge.toml",
    )


def result(spec: ExerciseSpec, check_id: str, passed: bool | None) -> CheckResult:
    c = next(c for c in spec.checks if c.id == check_id)
    return CheckResult(
        check_id,
        c.name,
        passed is not None,
        passed,
        0.0,
        0.0,
        None,
        None,
        None,
        "deg",
        c.severity,
        None,
        None,
        None if passed is not False else c.cue,
        None if passed is not None else "unscored",
    )


@pytest.mark.parametrize(
    ("full_extension", "level_pelvis", "weights", "expected"),
    [
        # Both pass.
        (True, True, None, 100.0),
        # The minor check (weight 1) fails, the major (2) passes: 2 / 3.
        (False, True, None, 66.7),
        # The major fails: 1 / 3.
        (True, False, None, 33.3),
        # Both fail.
        (False, False, None, 0.0),
        # An unscored check is left out of the total: only the minor one counts.
        (True, None, None, 100.0),
        (False, None, None, 0.0),
        # Nothing scored: no score at all (not 0, not 100).
        (None, None, None, None),
        # Custom severity weights: major 3, minor 1 -> a failed minor leaves 3 / 4.
        (False, True, {"major": 3.0, "minor": 1.0}, 75.0),
        # Equal weights.
        (False, True, {"major": 1.0, "minor": 1.0}, 50.0),
    ],
)
def test_score(
    bridge: ExerciseSpec,
    full_extension: bool | None,
    level_pelvis: bool | None,
    weights: dict[str, float] | None,
    expected: float | None,
) -> None:
    spec = bridge.model_copy(update={"weights": weights}) if weights else bridge
    results = [result(spec, "full_extension", full_extension), result(spec, "level_pelvis", level_pelvis)]
    assert score(spec, results) == expected


def test_score_uses_each_checks_own_weight(bridge: ExerciseSpec) -> None:
    checks = [bridge.checks[0].model_copy(update={"weight": 4.0}), bridge.checks[1]]
    spec = bridge.model_copy(update={"checks": checks})
    # full_extension: minor (1) x 4 = 4 passes; level_pelvis: major 2 fails -> 4 / 6.
    assert score(spec, [result(spec, "full_extension", True), result(spec, "level_pelvis", False)]) == 66.7


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], None),  # no reps
        ([0.1, 0.2], None),  # fewer than MIN_BASELINE_REPS: no baseline yet
        ([0.1, 0.2, 0.9], 0.2),  # the median, not the mean: one odd rep does not move it
        ([0.1, None, 0.2, 0.3], 0.2),  # unmeasurable reps are left out
        ([0.1, None, 0.2], None),  # ...and do not count towards the minimum
    ],
)
def test_set_baselines(bridge: ExerciseSpec, values: list[float | None], expected: float | None) -> None:
    ms = [{"level_pelvis": Measurement(v, 0), "full_extension": Measurement(170.0, 0)} for v in values]
    out = set_baselines(bridge, ms)
    assert "full_extension" not in out  # absolute checks have no baseline
    assert out.get("level_pelvis") == (pytest.approx(expected) if expected is not None else None)


def waiting_bridge(bridge: ExerciseSpec) -> ExerciseSpec:
    """The bridge with level_pelvis waiting on full_extension (as the single-leg lift's pelvis
    checks wait on its leg check)."""
    waiting = bridge.checks[1].model_copy(update={"not_judged_when_failed": ["full_extension"]})
    checks = [bridge.checks[0], waiting]
    return bridge.model_copy(update={"checks": checks})


def test_set_baselines_leave_out_reps_the_landmarks_misread(bridge: ExerciseSpec) -> None:
    """Reps where a check that this one waits on failed are no reference either: three misread
    reps (0.06) and one faulty rep (0.05) among two clean ones (0.0) would put the median on a fault."""
    spec = waiting_bridge(bridge)
    drops = [0.0, 0.06, 0.05, 0.0, 0.06, 0.06]
    angles = [170.0, 150.0, 170.0, 170.0, 150.0, 150.0]  # full_extension (min 165) fails reps 1, 4, 5
    ms = [
        {"level_pelvis": Measurement(d, 0), "full_extension": Measurement(a, 0)}
        for d, a in zip(drops, angles, strict=True)
    ]
    assert set_baselines(bridge, ms)["level_pelvis"] == pytest.approx(0.055)  # all six reps
    assert set_baselines(spec, ms)["level_pelvis"] == pytest.approx(0.0)  # reps 0, 2, 3
    # a check the view cannot judge says nothing about the rep: every rep counts again
    assert set_baselines(spec, ms, unscored={"full_extension"})["level_pelvis"] == pytest.approx(0.055)
    # with fewer than MIN_BASELINE_REPS left there is no baseline yet
    assert "level_pelvis" not in set_baselines(spec, ms[1:4])  # reps 2 and 3 only


def test_checks_cannot_wait_on_each_other(bridge: ExerciseSpec) -> None:
    from siform.errors import SpecError

    data = waiting_bridge(bridge).model_dump(mode="json", exclude_none=True)
    data["checks"][0]["not_judged_when_failed"] = ["level_pelvis"]
    with pytest.raises(SpecError, match="waiting on itself"):
        parse_spec(data, "test_bridge.toml")


# ---------------------------------------------------------------------------------------------
# window_indices
# ---------------------------------------------------------------------------------------------

REP = RepWindow("complete", 10, 50, 1000, 5000, 30, 175.0, 25, 35)
PARTIAL = RepWindow("partial", 10, 50, 1000, 5000, 30, 155.0, None, None)
NO_ASCENT = RepWindow("complete", 10, 50, 1000, 5000, 12, 175.0, 10, 35)


@pytest.mark.parametrize(
    ("window", "when", "expected", "raises"),
    [
        (REP, "rep", (10, 51), nullcontext()),  # start to end, inclusive
        (REP, "hold", (10, 51), nullcontext()),  # a hold's window is the whole of it
        (REP, "ascent", (10, 25), nullcontext()),  # start up to the first frame at the top
        (REP, "top", (25, 35), nullcontext()),  # the frames at the top
        (REP, "descent", (35, 51), nullcontext()),  # leaving the top to the end
        (REP, "peak", (30, 31), nullcontext()),  # one frame
        (PARTIAL, "top", (30, 31), nullcontext()),  # never at the top: the peak frame stands in
        (PARTIAL, "ascent", (10, 30), nullcontext()),  # up to the peak
        (PARTIAL, "descent", (31, 51), nullcontext()),  # after the peak
        (NO_ASCENT, "ascent", (10, 51), nullcontext()),  # an empty phase falls back to the whole rep
        (REP, "sideways", None, pytest.raises(KeyError)),  # not a phase
    ],
)
def test_window_indices(
    window: RepWindow, when: str, expected: tuple[int, int] | None, raises: AbstractContextManager[object]
) -> None:
    with raises:
        assert window_indices(window, when) == expected  # type: ignore[arg-type]
