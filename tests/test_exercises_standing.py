"""End to end on synthetic sequences: six exercise specs through review (analyze_track) and live
coaching (LiveSession). Single-leg pelvic lift, ball squat, band adduction, side plank, pelvic list,
isometric squat: counts, injected faults, noise, dropouts, hold timing, working-side detection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import factories_standing as fs
from siform.cli import main
from siform.pipeline import LiveSession, SessionResult, analyze_track, near_side
from siform.pose import PoseFrame, PoseTrack
from siform.results import Hold, Rep
from siform.specs.load import find_spec
from siform.specs.model import ExerciseSpec

from factories import Truth

Generator = Callable[..., tuple[PoseTrack, Truth]]

# exercise id -> (generator, arguments that switch every fault off, unilateral)
EXERCISES: dict[str, tuple[Generator, dict[str, Any], bool]] = {
    "single_leg_pelvic_lift": (
        fs.single_leg_lift_side_view, {"drop_rep": None, "leg_rep": None, "shallow_rep": None}, True
    ),
    "ball_squat": (
        fs.ball_squat_front_view,
        {"spread_rep": None, "shallow_rep": None, "toes_rep": None, "fast_rep": None},
        False,
    ),
    "band_adduction": (fs.band_adduction_front_view, {"lean_rep": None, "hike_rep": None}, True),
    "side_plank": (fs.side_plank_front_view, {"sag_hold": None, "pike_hold": None}, True),
    "pelvic_list": (fs.pelvic_list_front_view, {"lean_rep": None, "knee_rep": None}, True),
    "isometric_squat": (
        fs.isometric_squat_side_view, {"lean_hold": None, "bob_hold": None, "shallow_hold": None}, False
    ),
}  # fmt: skip
# Checks a fault also fails, besides its own: a sagging side plank is also not a straight line.
ALSO_FAILS: dict[tuple[str, str], set[str]] = {("side_plank", "no_sag"): {"straight_line"}}

CASES = [
    pytest.param(name, side, id=f"{name}-{side}" if side else name)
    for name, (_gen, _clean, unilateral) in EXERCISES.items()
    for side in (("left", "right") if unilateral else (None,))
]
# A few frames without a person inside the first three reps or holds (under 0.15 s each).
DROPOUT = frozenset(range(70, 74)) | frozenset(range(200, 203)) | frozenset(range(331, 335))


def spec_of(name: str) -> ExerciseSpec:
    return find_spec(name)


def generate(name: str, side: str | None, clean: bool = False, **kw: Any) -> tuple[PoseTrack, Truth]:
    gen, off, _unilateral = EXERCISES[name]
    args = dict(off if clean else {}, **kw)
    if side is not None:
        args["working"] = side
    return gen(**args)


def items(result: SessionResult) -> list[Rep | Hold]:
    """Counted reps, or holds."""
    return [r for r in result.reps if r.number] + list(result.holds)


def failed(item: Rep | Hold) -> set[str]:
    return {c.id for c in item.checks if c.scored and c.passed is False}


def expected_count(truth: Truth) -> int:
    return len(truth.hold_s) if truth.hold_s else len(truth.rep_frames)


def assert_faults(name: str, result: SessionResult, truth: Truth) -> None:
    """Each injected fault fails its check in its own rep (or hold) and in no other; nothing else fails."""
    got = items(result)
    assert len(got) == expected_count(truth)
    for k, item in enumerate(got):
        fault = truth.faults.get(k)
        want = {fault} | ALSO_FAILS.get((name, fault), set()) if fault else set()
        assert failed(item) == want, f"{name} item {k}: failed {failed(item)}, expected {want}"


def live_items(spec: ExerciseSpec, track: PoseTrack, view: str, side: str | None) -> list[Rep | Hold]:
    session = LiveSession(spec, track.width, track.height, view, near_side(track.image), side)
    for i, t in enumerate(track.t_ms.tolist()):
        session.update(PoseFrame(i, t, bool(track.found[i]), track.image[i], track.world[i]))
    reps, holds, _summary = session.finish()
    return [r for r in reps if r.number] + list(holds)


# ---------------------------------------------------------------------------------------------
# Review
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "side"), CASES)
def test_clean_sequence_counts_and_passes_everything(name: str, side: str | None) -> None:
    track, truth = generate(name, side, clean=True)
    result = analyze_track(track, spec_of(name), side=side)
    assert result.setup.ok, result.setup.hints
    assert result.view == spec_of(name).views[0].id
    got = items(result)
    assert len(got) == expected_count(truth)
    for item in got:
        assert all(c.scored for c in item.checks), [(c.id, c.reason) for c in item.checks]
        assert failed(item) == set()
        # Perfect form; a hold shorter than prescribed (8 s of the side plank's 20) scores for its share.
        short = isinstance(item, Hold) and item.stopped_short
        assert item.score == (pytest.approx(100.0 * item.held_s / item.target_s, abs=0.1) if short else 100.0)


@pytest.mark.parametrize(("name", "side"), CASES)
def test_each_fault_flagged_in_its_rep_only(name: str, side: str | None) -> None:
    track, truth = generate(name, side)
    assert truth.faults, "the default sequence carries faults"
    assert_faults(name, analyze_track(track, spec_of(name), side=side), truth)


@pytest.mark.parametrize(("name", "side"), CASES)
def test_noise_and_dropouts_keep_counts_and_verdicts(name: str, side: str | None) -> None:
    track, truth = generate(name, side, noise_px=1.5, seed=3, dropout=DROPOUT.__contains__)
    assert not track.found[sorted(DROPOUT)].any()
    result = analyze_track(track, spec_of(name), side=side)
    assert len(items(result)) == expected_count(truth)
    assert_faults(name, result, truth)


@pytest.mark.parametrize("name", [n for n, (_g, _c, _u) in EXERCISES.items() if find_spec(n).kind == "hold"])
@pytest.mark.parametrize("noisy", [False, True])
def test_holds_timed_within_a_fifth_of_a_second(name: str, noisy: bool) -> None:
    side = "left" if EXERCISES[name][2] else None
    kw: dict[str, Any] = {"noise_px": 1.5, "seed": 5, "dropout": DROPOUT.__contains__} if noisy else {}
    track, truth = generate(name, side, **kw)
    result = analyze_track(track, spec_of(name), side=side)
    held = [h.held_s for h in result.holds]
    assert len(held) == len(truth.hold_s)
    np.testing.assert_allclose(held, truth.hold_s, atol=0.2)


@pytest.mark.parametrize(("name", "side"), [c for c in CASES if c.values[1] is not None])
def test_working_side_found_when_not_given(name: str, side: str) -> None:
    track, truth = generate(name, side, noise_px=1.5, seed=7)
    result = analyze_track(track, spec_of(name), side=None)
    assert result.side == side
    assert {i.side for i in items(result)} == {side}
    assert_faults(name, result, truth)


@pytest.mark.parametrize(("name", "side"), [c for c in CASES if c.values[1] is not None])
def test_the_other_side_given_counts_nothing(name: str, side: str) -> None:
    """Told the wrong working side, siform counts no reps (and times no holds) instead of guessing."""
    track, _truth = generate(name, side)
    other = "right" if side == "left" else "left"
    assert items(analyze_track(track, spec_of(name), side=other)) == []


# ---------------------------------------------------------------------------------------------
# Live
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("noisy", [False, True])
@pytest.mark.parametrize(("name", "side"), CASES)
def test_live_session_counts_the_same(name: str, side: str | None, noisy: bool) -> None:
    kw: dict[str, Any] = {"noise_px": 1.5, "seed": 11, "dropout": DROPOUT.__contains__} if noisy else {}
    track, truth = generate(name, side, **kw)
    spec = spec_of(name)
    review = analyze_track(track, spec, side=side)
    assert review.view is not None
    live = live_items(spec, track, review.view, side)
    assert len(live) == len(items(review)) == expected_count(truth)
    if spec.kind == "hold":
        np.testing.assert_allclose([h.held_s for h in live], truth.hold_s, atol=0.3)  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------
# Specific behaviour
# ---------------------------------------------------------------------------------------------


def test_side_plank_tells_sagging_from_piking() -> None:
    track, _truth = fs.side_plank_front_view(sag_hold=0, pike_hold=1, holds_s=(6.0, 6.0))
    holds = analyze_track(track, spec_of("side_plank"), side="left").holds
    sag, pike = ({c.id: c for c in h.checks} for h in holds)
    assert sag["no_sag"].passed is False and sag["no_sag"].value > 0  # type: ignore[operator]
    assert pike["no_sag"].passed is True and pike["no_sag"].value < 0  # type: ignore[operator]
    assert pike["straight_line"].passed is False


def test_ball_squat_tempo_is_the_lowering_speed() -> None:
    # 2.5 s lowerings against one of 0.3 s: standing hip heights per second, fastest in the rep
    track, _truth = fs.ball_squat_front_view(fast_rep=4)
    reps = items(analyze_track(track, spec_of("ball_squat")))
    speed = [next(c for c in rep.checks if c.id == "slow_lowering").value for rep in reps]
    assert all(v is not None for v in speed)
    assert speed[4] > 1.0 > 0.3 > max(v for k, v in enumerate(speed) if k != 4)  # type: ignore[operator]


def test_single_leg_lift_level_pelvis_needs_the_raised_camera() -> None:
    track, _truth = fs.single_leg_lift_side_view(raised=False)
    result = analyze_track(track, spec_of("single_leg_pelvic_lift"))
    assert result.view == "side"
    assert len(items(result)) == 6
    for rep in items(result):
        level = next(c for c in rep.checks if c.id == "level_pelvis")
        assert level.scored is False and level.reason and "to check it" in level.reason


def test_exercises_command_lists_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["exercises"]) == 0
    out = capsys.readouterr().out
    for name in EXERCISES:
        assert f"{name}: " in out


def test_single_leg_pelvis_is_not_judged_on_a_rep_whose_leg_dropped() -> None:
    """A dropping straight leg moves MediaPipe's hips: on that rep the pelvis checks wait, with why."""
    track, _truth = fs.single_leg_lift_side_view(drop_rep=1, leg_rep=1, shallow_rep=None)
    result = analyze_track(track, spec_of("single_leg_pelvic_lift"), side="left")
    reps = [r for r in result.reps if r.number]
    checks = {c.id: c for c in reps[1].checks}
    assert checks["leg_in_line"].passed is False
    for cid in ("level_pelvis", "full_extension"):
        assert not checks[cid].scored and checks[cid].passed is None
        assert "Straight leg in line" in (checks[cid].reason or "")
    # the other reps are judged as usual
    assert all(c.scored for r in reps[2:] for c in r.checks)


def test_not_judged_when_failed_must_name_another_check() -> None:
    import tomllib

    from siform.errors import SpecError
    from siform.specs.load import parse_spec, specs_dir

    data = tomllib.loads((specs_dir() / "single_leg_pelvic_lift.toml").read_text(encoding="utf-8"))
    data["checks"][0]["not_judged_when_failed"] = ["no_such_check"]
    with pytest.raises(SpecError, match="not_judged_when_failed"):
        parse_spec(data, "single_leg_pelvic_lift.toml")
