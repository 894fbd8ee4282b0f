"""Live equals review, on synthetic tracks: the signals' declared reach is true, and the live path
that derives its history from it gives review's numbers (the real poses of every sample clip are
compared in ``tests/e2e/test_live_parity_samples.py``).

- Each signal's ``reach`` in ``signals/registry.py`` is checked against what the function does: a
  ``frame`` signal over one frame equals its value over the whole track, a ``window`` one over the
  trailing frames the live buffer keeps for it equals its value over the whole track, a ``set`` one
  given its yardstick's median over the whole track equals its value over the whole track.
- The bridge's pelvic drop, a ``set`` signal, reads live what it reads in review once the set is
  under way (the issue: 0.035 live against 0.049 in review when live took its yardstick from one
  frame).
- A unilateral exercise with no side given finds review's working side on its first rep.
- Checks judged against the person's own reps are provisional until ``PROVISIONAL_REPS`` reps; the
  finished set has none, and :meth:`LiveSession.result` is the record review makes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from factories_standing import ball_squat_front_view, isometric_squat_side_view, single_leg_lift_side_view
from siform.engine import PROVISIONAL_REPS, HoldEvent, RepEvent
from siform.pipeline import (
    LiveSession,
    SessionResult,
    _History,
    _RunningMedian,
    analyze_track,
    condition_points,
    near_side,
    working_side,
)
from siform.pose import PoseFrame, PoseTrack
from siform.results import Hold, Rep, SetupVerdict
from siform.signals import registry
from siform.signals.compute import SignalSet, side_map
from siform.specs.load import load_spec
from siform.specs.model import ExerciseSpec

from conftest import ROOT
from factories import bridge_side_view

SPECS = sorted(p for p in (ROOT / "exercise_specs").glob("*.toml") if not p.name.startswith("_"))


def spec(name: str) -> ExerciseSpec:
    return load_spec(ROOT / "exercise_specs" / f"{name}.toml")


def poses(track: PoseTrack) -> list[PoseFrame]:
    found = track.found
    return [
        PoseFrame(i, int(track.t_ms[i]), bool(found[i]), track.image[i], track.world[i])
        for i in range(len(track))
    ]


def run_live(
    track: PoseTrack, sp: ExerciseSpec, view: str, side: str | None = None
) -> tuple[LiveSession, list[Rep | Hold]]:
    session = LiveSession(sp, track.width, track.height, view, near_side(track.image), side)
    events: list[Rep | Hold] = []
    for pose in poses(track):
        event = session.update(pose)
        if isinstance(event, RepEvent):
            events.append(event.rep)
        elif isinstance(event, HoldEvent):
            events.append(event.hold)
    return session, events


def counted(items: list[Rep | Hold]) -> list[Rep | Hold]:
    return [i for i in items if i.number]


# ---------------------------------------------------------------------------------------------
# the declarations
# ---------------------------------------------------------------------------------------------


def test_every_signal_declares_a_reach_its_arguments_can_carry() -> None:
    for name, entry in registry.REGISTRY.items():
        has_window = "window_ms" in entry.params
        assert (entry.reach == "window") == has_window, f"{name}: reach {entry.reach}, window_ms {has_window}"
        assert (entry.reach == "set") == (entry.yardstick is not None), name
        assert entry.uses_history == (entry.reach != "frame")
        if entry.reach == "window":
            assert entry.needs_time, name


TRACKS: dict[str, Callable[[], PoseTrack]] = {
    "bridge": lambda: bridge_side_view(reps=3, noise_px=1.5)[0],
    "ball_squat": lambda: ball_squat_front_view(reps=3)[0],
    "single_leg": lambda: single_leg_lift_side_view(reps=3)[0],
    "isometric_squat": lambda: isometric_squat_side_view(holds_s=(4.0, 4.0))[0],
}


def spec_signals() -> list[tuple[str, str, dict[str, Any]]]:
    """Every signal of every spec, sides resolved (working left, near left)."""
    out = []
    for path in SPECS:
        sp = load_spec(path)
        bound = SignalSet(sp, side_map("left" if sp.laterality == "unilateral" else None, "left")).bound
        out += [(sp.id, b.spec.fn, b.args) for b in bound.values()]
    return out


@pytest.mark.parametrize("track_name", list(TRACKS))
def test_each_signal_s_value_depends_on_exactly_the_frames_its_reach_declares(track_name: str) -> None:
    track = TRACKS[track_name]()
    pts = track.image_px().astype(np.float64)
    world = track.world.astype(np.float64)
    t = track.t_ms
    seen: set[str] = set()
    jittery: set[str] = set()
    for _spec_id, fn, args in spec_signals():
        entry = registry.REGISTRY[fn]
        src = world if entry.space == "world" else pts
        whole = registry.compute(fn, args, src, t)
        seen.add(entry.reach)
        if entry.reach == "frame":
            for j in range(0, len(t), 7):
                one = registry.compute(fn, args, src[j], t[j : j + 1])
                np.testing.assert_allclose(one, whole[j], rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=fn)
        elif entry.reach == "window":
            reach = registry.lookback_ms(fn, args)
            history = _History(capacity=8, world=True)
            for j in range(len(t)):
                history.push(int(t[j]), pts[j], world[j], reach)
                p, w, tt = history.trailing(reach)
                sub = registry.compute(fn, args, w if entry.space == "world" else p, tt)
                np.testing.assert_allclose(sub[-1], whole[j], 1e-9, 1e-12, equal_nan=True, err_msg=fn)
        else:
            assert entry.yardstick is not None
            series = entry.yardstick.series(src)
            stick = float(np.median(series[np.isfinite(series)]))
            given = registry.compute(fn, args, src, t, stick)
            np.testing.assert_allclose(given, whole, rtol=1e-9, equal_nan=True, err_msg=fn)
            # The yardstick is over the set: on a jittery track, one frame's own is another number
            # (the bug: 0.035 live against 0.049 in review).
            j = int(np.nanargmax(np.abs(series - stick)))
            if abs(series[j] - stick) > 0.01 * abs(stick) and np.isfinite(whole[j]) and whole[j]:
                one = registry.compute(fn, args, src[j : j + 1], t[j : j + 1])
                assert not np.allclose(one, whole[j : j + 1], rtol=1e-3), fn
                jittery.add(fn)
    assert seen == {"frame", "window", "set"}
    if track_name == "bridge":
        assert "hip_to_shoulder_offset_ratio" in jittery


def test_the_running_median_is_the_median_of_what_it_was_given() -> None:
    rng = np.random.default_rng(7)
    running = _RunningMedian()
    assert np.isnan(running.median())
    given: list[float] = []
    for _ in range(2000):
        x = float(rng.normal()) if rng.random() > 0.1 else float("nan")
        running.push(x)
        if np.isfinite(x):
            given.append(x)
        if given:
            assert running.median() == pytest.approx(float(np.median(given)), abs=1e-12)
    assert len(running) == len(given)


# ---------------------------------------------------------------------------------------------
# the bridge's pelvic drop, a set yardstick
# ---------------------------------------------------------------------------------------------


def test_the_bridge_pelvic_drop_live_equals_review_once_the_set_is_under_way() -> None:
    bridge = spec("glute_bridge")
    track, _truth = bridge_side_view(reps=6, drop_rep=4, noise_px=1.0)
    review = analyze_track(track, bridge)
    assert review.view == "raised_side"
    session, events = run_live(track, bridge, review.view)
    reps, _holds, _summary = session.finish()
    by_review = {r.number: next(c for c in r.checks if c.id == "level_pelvis") for r in counted(review.reps)}
    for rep in counted(events):
        live = next(c for c in rep.checks if c.id == "level_pelvis")
        # The yardstick so far (a running median of the shoulder offset) is the whole set's within
        # 2 % by the end of the first rep, so the raw values agree within 0.002 (the fault is 0.02+).
        assert live.raw_value == pytest.approx(by_review[rep.number].raw_value, abs=0.002)
        if rep.number >= PROVISIONAL_REPS:
            assert (live.passed, live.provisional) == (by_review[rep.number].passed, False)
    final = {r.number: next(c for c in r.checks if c.id == "level_pelvis") for r in counted(reps)}
    assert [c.passed for c in final.values()] == [c.passed for c in by_review.values()]
    assert [c.passed for c in final.values()].count(False) == 1 and final[5].passed is False
    for n, c in final.items():  # reconciled over the whole set: review's numbers
        assert c.raw_value == pytest.approx(by_review[n].raw_value, abs=1e-9)
        assert c.value == pytest.approx(by_review[n].value, abs=1e-9)


# ---------------------------------------------------------------------------------------------
# the working side, provisional verdicts, the session record
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("working", ["left", "right"])
def test_a_unilateral_exercise_finds_its_side_on_the_first_rep(working: str) -> None:
    lift = spec("single_leg_pelvic_lift")
    track, truth = single_leg_lift_side_view(working=working, reps=4, drop_rep=None, leg_rep=None,
                                             shallow_rep=None)  # fmt: skip
    review_side = working_side(lift, condition_points(track, lift), track.t_ms, near_side(track.image))
    assert review_side == working
    review = analyze_track(track, lift)
    assert review.view is not None
    session = LiveSession(lift, track.width, track.height, review.view, near_side(track.image))
    first_end = truth.rep_frames[0][1]
    sides = []
    for pose in poses(track):
        event = session.update(pose)
        sides.append(session.side)
        if isinstance(event, RepEvent) and event.rep.number == 1:
            assert event.rep.side == working
    assert sides[0] is None and session.side == working
    assert sides.index(working) <= first_end + 10  # committed as the first rep ends
    assert set(sides[sides.index(working) :]) == {working}
    reps, _holds, _summary = session.finish()
    assert [r.number for r in reps if r.number] == [r.number for r in review.reps if r.number]
    assert all(r.side == working for r in reps)


def test_set_median_checks_are_provisional_until_enough_reps_and_final_after() -> None:
    bridge = spec("glute_bridge")
    track, _truth = bridge_side_view(reps=6, drop_rep=None)
    session, events = run_live(track, bridge, "raised_side")
    for rep in counted(events):
        level = next(c for c in rep.checks if c.id == "level_pelvis")
        full = next(c for c in rep.checks if c.id == "full_extension")  # absolute limit: never provisional
        assert level.provisional == (rep.number < PROVISIONAL_REPS)
        assert full.provisional is False
    reps, _holds, _summary = session.finish()
    assert not any(c.provisional for r in reps for c in r.checks)


def test_live_result_is_the_record_review_makes() -> None:
    bridge = spec("glute_bridge")
    track, _truth = bridge_side_view(reps=4, drop_rep=2, noise_px=1.0)
    review = analyze_track(track, bridge)
    assert review.view is not None
    session, _events = run_live(track, bridge, review.view)
    assert set(session.last_row) == set(bridge.signals)
    result = session.result(review.setup, ["a note"])
    assert isinstance(result, SessionResult)
    assert (result.exercise, result.view, result.side, result.sides) == (
        review.exercise, review.view, review.side, review.sides
    )  # fmt: skip
    assert (result.frames, result.frames_with_pose) == (review.frames, review.frames_with_pose)
    np.testing.assert_array_equal(result.t_ms, review.t_ms)
    assert set(result.signals) == set(review.signals)
    assert result.notes == ["a note"] and result.setup == review.setup
    assert [(r.number, r.outcome, r.start_index, r.end_index) for r in result.reps] == [
        (r.number, r.outcome, r.start_index, r.end_index) for r in review.reps
    ]
    assert [[(c.id, c.passed) for c in r.checks] for r in result.reps] == [
        [(c.id, c.passed) for c in r.checks] for r in review.reps
    ]
    assert result.summary == review.summary
    # The series are the reconciled ones: review's, where review measures.
    for name in ("pelvic_drop", "hip_line"):
        np.testing.assert_allclose(result.signals[name], review.signals[name], atol=1e-9, equal_nan=True)
    assert session.finish() == (result.reps, result.holds, result.summary)  # idempotent
    with pytest.raises(RuntimeError):
        session.update(poses(track)[0])


def test_a_session_that_saw_nothing_still_makes_a_record() -> None:
    bridge = spec("glute_bridge")
    session = LiveSession(bridge, 640, 480, "raised_side", "left", None)
    assert session.side is None and session.last_row == {}
    setup = SetupVerdict(False, None, None, ("step into view",))
    result = session.result(setup)
    assert (result.frames, result.reps, result.holds) == (0, [], [])
    assert result.summary is not None and result.summary.done == 0


def test_the_review_filters_smooth_a_strided_array_as_a_contiguous_one() -> None:
    """Live re-conditioning hands the filters a few landmarks picked out of 33 (a strided array);
    they once wrote into a reshaped copy of it and returned it unsmoothed and unbridged."""
    from siform.signals.filters import bridge_gaps, butterworth_zero_phase

    rng = np.random.default_rng(1)
    t = np.arange(200, dtype=np.int64) * 100
    x = rng.normal(size=(200, 33, 2)).cumsum(axis=0)
    x[50:52, :, :] = np.nan
    picked = x[:, [7, 8, 23]]
    assert not picked.flags.c_contiguous
    bridged = bridge_gaps(picked, t, 300.0)
    np.testing.assert_array_equal(bridged, bridge_gaps(np.ascontiguousarray(picked), t, 300.0))
    assert np.isfinite(bridged).all()
    smooth = butterworth_zero_phase(bridged, t, 2.0)
    np.testing.assert_array_equal(smooth, butterworth_zero_phase(np.ascontiguousarray(bridged), t, 2.0))
    assert not np.allclose(smooth, bridged)
