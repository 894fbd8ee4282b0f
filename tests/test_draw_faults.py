"""What the annotated video draws: the body segments of a failed check, the line after a hold."""

from __future__ import annotations

import pytest

from siform.draw.faults import segments
from siform.draw.video import hold_verdict
from siform.results import CheckResult, Hold
from siform.signals.compute import SignalSet, side_map
from siform.specs.load import find_spec


@pytest.mark.parametrize(
    ("spec_id", "signal", "expected"),
    [
        # one side's landmarks: drawn end to end, so the sag at the hip shows
        ("side_plank", "body_line", [("left_shoulder", "left_hip"), ("left_hip", "left_ankle")]),
        # left/right pairs: the hip line and the knee line
        ("ball_squat", "knees", [("left_knee", "right_knee"), ("left_ankle", "right_ankle")]),
        # what the signal itself says to draw: each foot's heel-to-toe line
        ("ball_squat", "toes", [("left_heel", "left_foot_index"), ("right_heel", "right_foot_index")]),
        # a joint angle: its chain
        ("glute_bridge", "hip_extension", [("left_shoulder", "left_hip"), ("left_hip", "left_knee")]),
    ],
)
def test_segments(spec_id: str, signal: str, expected: list[tuple[str, str]]) -> None:
    spec = find_spec(spec_id)
    working = "left" if spec.laterality == "unilateral" else None
    bound = SignalSet(spec, side_map(working, "left")).bound[signal]
    assert segments(bound) == expected


def _hold(held_s: float, checks: tuple[CheckResult, ...] = ()) -> Hold:
    return Hold(number=2, side="left", start_ms=0, end_ms=int(held_s * 1000), held_s=held_s, target_s=30.0,
                breaks=0, start_index=0, end_index=10, checks=checks, score=None)  # fmt: skip


def _check(passed: bool | None, scored: bool = True) -> CheckResult:
    return CheckResult(id="no_sag", name="Hips stay up", scored=scored, passed=passed, value=0.1,
                       raw_value=0.1, limit_min=None, limit_max=0.05, baseline=None, unit="ratio",
                       severity="major", worst_index=3, worst_t_ms=100, cue="Lift your hips.")  # fmt: skip


def test_a_hold_is_green_only_when_both_the_form_and_the_clock_held() -> None:
    assert hold_verdict(_hold(31.0, (_check(True),))) == ("Hold 2: 31.0 s of 30 s", True)
    # good form, but stopped before the prescription: not done, so not green
    assert hold_verdict(_hold(12.4, (_check(True),))) == ("Hold 2: 12.4 s of 30 s, stopped short", False)
    # a failed check says what to change, whatever the clock
    assert hold_verdict(_hold(31.0, (_check(False),))) == ("Hold 2: Lift your hips.", False)
    # a check left unjudged is no fault
    assert hold_verdict(_hold(30.0, (_check(None, scored=False),)))[1] is True


def test_a_verdict_shows_after_its_rep_and_never_into_the_next() -> None:
    """The line under the counter is about the rep that just ended: it appears at that rep's end
    and is gone when the next rep starts (back to back, "Rep 2: ..." used to stay on through most
    of rep 3)."""
    from siform.draw.video import VERDICT_SHOW_MS, FramePainter
    from siform.pipeline import analyze_track

    from factories import bridge_side_view

    spec = find_spec("glute_bridge")
    track, _truth = bridge_side_view(reps=5)
    result = analyze_track(track, spec)
    painter = FramePainter(spec, track, result, SignalSet(spec, result.sides))
    reps = {r.number: r for r in result.reps if r.number}
    assert len(reps) == 5
    gaps = [reps[n + 1].start_ms - reps[n].end_ms for n in range(1, 5)]
    assert min(gaps) < VERDICT_SHOW_MS  # back to back: the old rule showed a verdict into the next rep
    shown: dict[int, list[int]] = {}
    for i in range(len(track)):
        line, _ok = painter._verdict(i)
        if line is not None:
            shown.setdefault(int(line.split(":")[0].removeprefix("Rep ")), []).append(i)
    assert sorted(shown) == [1, 2, 3, 4, 5]
    for number, frames in shown.items():
        rep = reps[number]
        assert min(frames) == rep.end_index
        following = [r.start_index for r in result.reps if r.start_index > rep.end_index]
        if following:
            assert max(frames) < min(following)
        assert track.t_ms[max(frames)] - track.t_ms[rep.end_index] <= VERDICT_SHOW_MS
