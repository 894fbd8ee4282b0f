"""Review and live pipelines on synthetic glute bridges with known reps, faults and dropouts."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from siform.engine import RepEvent
from siform.landmarks import MIRROR
from siform.pipeline import LiveSession, SessionResult, analyze_track, near_side
from siform.pose import PoseFrame, PoseTrack
from siform.results import Rep
from siform.specs.load import load_spec
from siform.specs.model import ExerciseSpec

from conftest import ROOT
from factories import FPS, bridge_side_view


@pytest.fixture(scope="module")
def bridge() -> ExerciseSpec:
    return load_spec(ROOT / "exercise_specs" / "glute_bridge.toml")


def counted(result: SessionResult | list[Rep]) -> list[Rep]:
    reps = result.reps if isinstance(result, SessionResult) else result
    return [r for r in reps if r.number]


def flagged(reps: list[Rep], check_id: str = "level_pelvis") -> list[int]:
    """Numbers of the counted reps that failed the check."""
    return [r.number for r in counted(reps) if any(c.id == check_id for c in r.failed)]


def verdicts(result: SessionResult) -> list[tuple[int, str, tuple[tuple[str, bool | None], ...]]]:
    return [(r.number, r.outcome, tuple((c.id, c.passed) for c in r.checks)) for r in result.reps]


def frames(track: PoseTrack) -> list[PoseFrame]:
    found = track.found
    return [
        PoseFrame(i, int(track.t_ms[i]), bool(found[i]), track.image[i], track.world[i])
        for i in range(len(track))
    ]


def live(track: PoseTrack, spec: ExerciseSpec, view: str) -> tuple[list[RepEvent], list[Rep]]:
    session = LiveSession(spec, track.width, track.height, view, near_side(track.image))
    events = [e for f in frames(track) if isinstance(e := session.update(f), RepEvent)]
    reps, _holds, _summary = session.finish()
    return events, reps


# ---------------------------------------------------------------------------------------------
# review: counts and faults
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reps", "drop_rep"),
    [
        (5, 2),  # the fault in the middle of the set
        (5, 0),  # in the first rep (the set median still knows the normal)
        (8, 7),  # in the last rep
        (3, None),  # a clean set: nothing flagged
        (12, 5),  # a longer set
    ],
)
def test_review_counts_reps_and_flags_the_faulty_one(
    bridge: ExerciseSpec, reps: int, drop_rep: int | None
) -> None:
    track, truth = bridge_side_view(reps=reps, drop_rep=drop_rep)
    result = analyze_track(track, bridge)
    assert result.setup.ok and result.view == "raised_side"
    assert [r.outcome for r in result.reps] == ["complete"] * reps
    assert [r.number for r in result.reps] == list(range(1, reps + 1))
    assert flagged(result.reps) == ([drop_rep + 1] if drop_rep is not None else [])
    assert flagged(result.reps, "full_extension") == []
    for r, (start, end) in zip(result.reps, truth.rep_frames, strict=True):
        # Rep boundaries fall inside the generated movement (threshold crossings, not its ends).
        assert start <= r.start_index < r.peak_index < r.end_index <= end
    assert result.summary is not None
    assert result.summary.done == reps
    assert result.summary.failures == ({"level_pelvis": 1} if drop_rep is not None else {})


@pytest.mark.parametrize("shallow_rep", [1, 3])
def test_a_shallow_rep_never_passes_as_good(bridge: ExerciseSpec, shallow_rep: int) -> None:
    """Lifting half way is either an uncounted partial or a counted rep failing full_extension."""
    track, truth = bridge_side_view(shallow_rep=shallow_rep, drop_rep=None)
    result = analyze_track(track, bridge)
    start, end = truth.rep_frames[shallow_rep]
    (shallow,) = [r for r in result.reps if start <= r.peak_index <= end]
    assert shallow.outcome == "partial" or [c.id for c in shallow.failed] == ["full_extension"]
    others = [r for r in result.reps if r is not shallow]
    assert [r.outcome for r in others] == ["complete"] * (len(truth.rep_frames) - 1)
    assert all(not r.failed for r in others)


def test_low_view_leaves_level_pelvis_unscored_but_counts(bridge: ExerciseSpec) -> None:
    track, _truth = bridge_side_view(raised=False)
    result = analyze_track(track, bridge)
    assert result.view == "side" and result.setup.ok
    assert len(counted(result)) == 5
    for r in counted(result):
        level = next(c for c in r.checks if c.id == "level_pelvis")
        assert (level.scored, level.passed) == (False, None)
        assert level.reason and level.reason.endswith(bridge.view("raised_side").how)  # says how to see it
        full = next(c for c in r.checks if c.id == "full_extension")
        assert full.scored and full.passed  # what the low view can see is still judged
    assert [u.check_id for u in result.unscored] == ["level_pelvis"]
    assert result.summary is not None and result.summary.failures == {}


def test_forced_view_overrides_detection(bridge: ExerciseSpec) -> None:
    track, _truth = bridge_side_view(raised=True)
    result = analyze_track(track, bridge, view="side")
    assert result.view == "side"
    assert all(not c.scored for r in counted(result) for c in r.checks if c.id == "level_pelvis")


@pytest.mark.parametrize(
    ("gap", "outcomes", "fault_rep"),
    [
        # 2 s out of frame in the middle of rep 4: that rep is voided, the others count, the fault in
        # rep 3 is still flagged.
        ((420, 480), ["complete", "complete", "complete", "voided", "complete"], 3),
        # 2 s out of frame during the faulty rep: voided, and no other rep is blamed for it.
        ((300, 360), ["complete", "complete", "voided", "complete", "complete"], None),
        # 2 s out of frame at rest between reps: nothing is lost.
        ((375, 400), ["complete"] * 5, 3),
        # 0.17 s dropout mid-rep (under max_gap_ms = 300): bridged, nothing is lost.
        ((440, 445), ["complete"] * 5, 3),
    ],
)
def test_leaving_the_frame(
    bridge: ExerciseSpec, gap: tuple[int, int], outcomes: list[str], fault_rep: int | None
) -> None:
    track, _truth = bridge_side_view(dropout=lambda i: gap[0] <= i < gap[1])
    result = analyze_track(track, bridge)
    assert [r.outcome for r in result.reps] == outcomes
    assert flagged(result.reps) == ([fault_rep] if fault_rep else [])
    assert result.frames_with_pose == len(track) - (gap[1] - gap[0])
    voided = [r for r in result.reps if r.outcome == "voided"]
    if voided:
        assert voided[0].end_index == gap[0]  # voided where the person vanished
        assert voided[0].number == 0 and voided[0].checks == () and voided[0].score is None
        assert result.summary is not None and result.summary.attempts_not_counted == 1


@pytest.mark.parametrize("seed", range(5))
def test_two_pixel_noise_keeps_counts_exact(bridge: ExerciseSpec, seed: int) -> None:
    track, _truth = bridge_side_view(reps=6, noise_px=2.0, seed=seed)
    result = analyze_track(track, bridge)
    assert [r.outcome for r in result.reps] == ["complete"] * 6
    assert flagged(result.reps) == [3]


# ---------------------------------------------------------------------------------------------
# live: causal One Euro, events as reps end
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raised", "noise_px"),
    [
        (True, 0.0),  # clean
        (True, 2.0),  # tracking jitter
        (False, 0.0),  # low camera: level_pelvis unscored live too
    ],
)
def test_live_matches_review(bridge: ExerciseSpec, raised: bool, noise_px: float) -> None:
    track, _truth = bridge_side_view(raised=raised, noise_px=noise_px)
    review = analyze_track(track, bridge)
    assert review.view is not None
    events, reps = live(track, bridge, review.view)
    assert len(counted(reps)) == len(counted(review)) == 5
    assert flagged(reps) == flagged(review.reps) == ([3] if raised else [])
    # The set reconciled at its end: the same attempts counted again on the zero-phase values, so the
    # final record has review's frames.
    def bounds(rs: list[Rep]) -> list[tuple[int, int | None, int | None, int]]:
        return [(r.start_index, r.top_start_index, r.top_end_index, r.end_index) for r in rs]

    assert bounds(counted(reps)) == bounds(counted(review))
    # Each counted rep is announced once, the frame it ends: the causal filter lags a few frames at most.
    announced = [e.rep for e in events if e.rep.number]
    assert [r.number for r in announced] == [1, 2, 3, 4, 5]
    for a, b in zip(announced, counted(review), strict=True):
        assert abs(a.start_index - b.start_index) <= 6 and abs(a.end_index - b.end_index) <= 6


def test_live_events_wait_for_a_baseline(bridge: ExerciseSpec) -> None:
    track, _truth = bridge_side_view()
    events, _reps = live(track, bridge, "raised_side")
    level = [next(c for c in e.rep.checks if c.id == "level_pelvis") for e in events]
    # Reps 1 and 2 come before the person's own baseline exists; from rep 3 on they are judged.
    assert [c.scored for c in level] == [False, False, True, True, True]
    assert level[0].reason == "needs at least 3 reps to know this person's own baseline"
    assert [c.passed for c in level[2:]] == [False, True, True]


# ---------------------------------------------------------------------------------------------
# geometric invariants: where the person is in the picture, how big, which way they face
# ---------------------------------------------------------------------------------------------


def transformed(track: PoseTrack, fn: Callable[[np.ndarray], np.ndarray]) -> PoseTrack:
    """Apply ``fn`` to the pixel x, y of every landmark (NaN rows stay NaN)."""
    image = track.image.copy()
    scale = np.array([track.width, track.height], dtype=np.float64)
    px = image[..., :2].astype(np.float64) * scale
    image[..., :2] = (fn(px) / scale).astype(np.float32)
    return PoseTrack(track.t_ms, image, track.world, track.width, track.height)


@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda p: p + np.array([60.0, -40.0]), id="shift_up_right"),
        pytest.param(lambda p: p + np.array([-120.0, 80.0]), id="shift_down_left"),
        pytest.param(lambda p: (p - 320.0) * 0.6 + 320.0, id="smaller_further_away"),
        pytest.param(lambda p: (p - np.array([300.0, 300.0])) * 1.4 + np.array([300.0, 300.0]), id="closer"),
        pytest.param(lambda p: p * 0.5 + np.array([200.0, 100.0]), id="scale_and_shift"),
    ],
)
@pytest.mark.parametrize("raised", [True, False])
def test_translation_and_scale_leave_verdicts_unchanged(
    bridge: ExerciseSpec, fn: Callable[[np.ndarray], np.ndarray], raised: bool
) -> None:
    track, _truth = bridge_side_view(raised=raised, noise_px=1.0)
    base = analyze_track(track, bridge)
    moved = analyze_track(transformed(track, fn), bridge)
    assert (moved.view, moved.setup.facing_measured) == (base.view, base.setup.facing_measured)
    assert verdicts(moved) == verdicts(base)
    for a, b in zip(moved.reps, base.reps, strict=True):
        assert (a.start_index, a.peak_index, a.end_index) == (b.start_index, b.peak_index, b.end_index)


def mirrored(track: PoseTrack) -> PoseTrack:
    """The same person seen in a mirror: x flipped and left/right landmarks swapped."""
    image = track.image[:, list(MIRROR)].copy()
    image[..., 0] = 1.0 - image[..., 0]
    world = track.world[:, list(MIRROR)].copy()
    world[..., 0] = -world[..., 0]
    return PoseTrack(track.t_ms, image, world, track.width, track.height)


@pytest.mark.parametrize(("reps", "drop_rep"), [(5, 2), (4, None)])
def test_mirror_keeps_the_count(bridge: ExerciseSpec, reps: int, drop_rep: int | None) -> None:
    track, _truth = bridge_side_view(reps=reps, drop_rep=drop_rep)
    base, mirror = analyze_track(track, bridge), analyze_track(mirrored(track), bridge)
    assert near_side(track.image) == "left" and near_side(mirrored(track).image) == "right"
    assert len(counted(mirror)) == len(counted(base)) == reps
    assert mirror.view == base.view
    # The drop is now on the person's right, which is now the side nearer the camera: the level-pelvis
    # signal measures the near hip against the far one, so its values are unchanged, and so is the rep.
    assert flagged(mirror.reps) == flagged(base.reps)
    lp = [c.raw_value for r in counted(base) for c in r.checks if c.id == "level_pelvis"]
    lp_m = [c.raw_value for r in counted(mirror) for c in r.checks if c.id == "level_pelvis"]
    np.testing.assert_allclose(lp_m, lp, atol=1e-9)


def test_timing_is_in_real_time(bridge: ExerciseSpec) -> None:
    """Rep times come from t_ms: at 30 frames/s a rep of ~68 frames lasts ~2.2 s."""
    track, _truth = bridge_side_view(reps=3)
    for r in counted(analyze_track(track, bridge)):
        assert r.end_ms - r.start_ms == pytest.approx((r.end_index - r.start_index) * 1000 / FPS, abs=1)


@pytest.mark.parametrize("world", [False, True])
def test_live_history_keeps_exactly_the_trailing_frames(world: bool) -> None:
    """The live look-back buffer, through growth and compaction, holds the frames a plain list would:
    those within ``keep_ms`` of the newest and the newest one before them (a step into the window)."""
    from siform.pipeline import _History

    history = _History(capacity=4, world=world)
    kept: list[tuple[int, np.ndarray, np.ndarray]] = []
    rng = np.random.default_rng(3)
    t_ms = 0
    for _ in range(500):
        t_ms += int(rng.integers(0, 70))
        px, xyz = rng.normal(size=(33, 2)), rng.normal(size=(33, 3))
        keep_ms = float(rng.choice([100.0, 400.0, 2000.0]))
        pts, t = history.push(t_ms, px, xyz if world else None, keep_ms)
        kept.append((t_ms, px, xyz))
        inside = next(k for k, item in enumerate(kept) if item[0] >= t_ms - keep_ms)
        kept = kept[max(inside - 1, 0) :]
        assert t.tolist() == [item[0] for item in kept]
        np.testing.assert_array_equal(pts, np.stack([item[1] for item in kept]))
        reach = float(rng.choice([50.0, 100.0, 400.0]))
        sub_pts, sub_world, sub_t = history.trailing(reach)
        inside = next(k for k, item in enumerate(kept) if item[0] >= t_ms - reach)
        want = kept[max(inside - 1, 0) :]
        assert sub_t.tolist() == [item[0] for item in want]
        np.testing.assert_array_equal(sub_pts, np.stack([item[1] for item in want]))
        if world:
            assert sub_world is not None
            np.testing.assert_array_equal(sub_world, np.stack([item[2] for item in want]))
        else:
            assert sub_world is None
