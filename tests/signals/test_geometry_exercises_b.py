"""Exercise signals B (clamshell, lying holds, stretches, cat-cow): tables of known geometry, then
the invariants each signal promises (mirror, scale, translation, one frame versus many)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import numpy as np
import pytest

from siform.landmarks import MIRROR, NUM_LANDMARKS, by_name
from siform.signals import geometry as g
from siform.signals import registry

NAN = float("nan")


def frame(**points: tuple[float, float]) -> np.ndarray:
    """One ``(33, 2)`` frame in pixels, NaN except the named landmarks."""
    out = np.full((NUM_LANDMARKS, 2), np.nan)
    for name, xy in points.items():
        out[by_name(name)] = xy
    return out


def mirror(pts: np.ndarray, width: float = 640.0) -> np.ndarray:
    """The mirror-image person: flip x about the image width and swap left and right."""
    out = np.array(pts[..., list(MIRROR), :], dtype=np.float64)
    out[..., 0] = width - out[..., 0]
    return out


def raises(exc: type[Exception] | None) -> AbstractContextManager[object]:
    return pytest.raises(exc) if exc is not None else nullcontext()


Fn = Callable[[np.ndarray], np.ndarray]

# (id, signal of one frame, frame, expected value, expected exception)
CASES: list[tuple[str, Fn, np.ndarray, float, type[Exception] | None]] = [
    # knee_lift_deg: hip 100 px right of the ankle; the knee 45 degrees above that line.
    ("lift_up", lambda p: g.knee_lift_deg(p, "left"),
     frame(left_ankle=(0, 100), left_hip=(100, 100), left_knee=(50, 50)), 45.0, None),
    # ... and 45 degrees below it (bent knee pointing at a raised camera).
    ("lift_down", lambda p: g.knee_lift_deg(p, "left"),
     frame(left_ankle=(0, 100), left_hip=(100, 100), left_knee=(50, 150)), -45.0, None),
    # Lying the other way round (hip left of the ankle): up is still positive.
    ("lift_other_way", lambda p: g.knee_lift_deg(p, "right"),
     frame(right_ankle=(100, 100), right_hip=(0, 100), right_knee=(50, 50)), 45.0, None),
    # Knee on the line.
    ("lift_on_line", lambda p: g.knee_lift_deg(p, "left"),
     frame(left_ankle=(0, 100), left_hip=(100, 100), left_knee=(50, 100)), 0.0, None),
    # Vertical ankle -> hip line: no "up" side.
    ("lift_vertical", lambda p: g.knee_lift_deg(p, "left"),
     frame(left_ankle=(0, 100), left_hip=(0, 0), left_knee=(50, 50)), NAN, None),
    # Knee on the ankle: no direction.
    ("lift_knee_on_ankle", lambda p: g.knee_lift_deg(p, "left"),
     frame(left_ankle=(0, 100), left_hip=(100, 100), left_knee=(0, 100)), NAN, None),
    ("lift_empty", lambda p: g.knee_lift_deg(p, "left"), frame(), NAN, None),
    ("lift_bad_side", lambda p: g.knee_lift_deg(p, "top"), frame(), NAN, ValueError),  # type: ignore[arg-type]
    # hip_separation_ratio: hips 40 px apart, torso 100 px long.
    ("hipsep", g.hip_separation_ratio,
     frame(left_hip=(0, 0), right_hip=(0, 40), left_shoulder=(100, 0), right_shoulder=(100, 40)), 0.4, None),
    # Diagonal hips: Euclidean distance (30-40-50).
    ("hipsep_diagonal", g.hip_separation_ratio,
     frame(left_hip=(0, 0), right_hip=(30, 40), left_shoulder=(115, 20), right_shoulder=(115, 20)),
     0.5, None),
    # Shoulders over the hips: no torso.
    ("hipsep_no_torso", g.hip_separation_ratio,
     frame(left_hip=(0, 0), right_hip=(0, 40), left_shoulder=(0, 0), right_shoulder=(0, 40)), NAN, None),
    ("hipsep_empty", g.hip_separation_ratio, frame(), NAN, None),
    # knee_gap_ratio: from the feet, knees half as far apart as the hips (a squeezed pillow).
    ("gap_front", g.knee_gap_ratio,
     frame(left_hip=(40, 0), right_hip=(0, 0), left_knee=(30, 100), right_knee=(10, 100)), 0.5, None),
    # From a raised side camera: near and far landmarks one above the other; knees twice as far.
    ("gap_side", g.knee_gap_ratio,
     frame(left_hip=(0, 0), right_hip=(0, -10), left_knee=(100, 0), right_knee=(100, -20)), 2.0, None),
    ("gap_hips_coincide", g.knee_gap_ratio,
     frame(left_hip=(0, 0), right_hip=(0, 0), left_knee=(30, 100), right_knee=(10, 100)), NAN, None),
    ("gap_empty", g.knee_gap_ratio, frame(), NAN, None),
    # knee_offset_ratio: standing side view, knees 30 px apart front-to-back, thighs 100 px.
    ("offset", g.knee_offset_ratio,
     frame(left_hip=(0, 0), right_hip=(30, 0), left_knee=(0, 100), right_knee=(30, 100)), 0.3, None),
    # Knees side by side (one above the other counts as nothing).
    ("offset_none", g.knee_offset_ratio,
     frame(left_hip=(0, 0), right_hip=(0, 0), left_knee=(0, 100), right_knee=(0, 90)), 0.0, None),
    ("offset_no_thighs", g.knee_offset_ratio,
     frame(left_hip=(0, 0), right_hip=(30, 0), left_knee=(0, 0), right_knee=(30, 0)), NAN, None),
    ("offset_empty", g.knee_offset_ratio, frame(), NAN, None),
    # ankle_to_knee_ratio: left ankle 10 px from the right knee, right thigh 100 px.
    ("a2k", lambda p: g.ankle_to_knee_ratio(p, "left"),
     frame(left_ankle=(10, 0), right_knee=(0, 0), right_hip=(0, 100)), 0.1, None),
    # The same frame read for the other leg: right ankle missing.
    ("a2k_other_leg", lambda p: g.ankle_to_knee_ratio(p, "right"),
     frame(left_ankle=(10, 0), right_knee=(0, 0), right_hip=(0, 100)), NAN, None),
    ("a2k_no_thigh", lambda p: g.ankle_to_knee_ratio(p, "left"),
     frame(left_ankle=(10, 0), right_knee=(0, 0), right_hip=(0, 0)), NAN, None),
    ("a2k_empty", lambda p: g.ankle_to_knee_ratio(p, "left"), frame(), NAN, None),
    ("a2k_bad_side", lambda p: g.ankle_to_knee_ratio(p, "both"), frame(), NAN, ValueError),  # type: ignore[arg-type]
    # knee_cross_ratio, from the feet (left hip on image right): left knee a quarter across.
    ("cross_quarter", lambda p: g.knee_cross_ratio(p, "left"),
     frame(left_hip=(60, 0), right_hip=(40, 0), left_knee=(45, -50)), 0.25, None),
    # Left knee over its own hip.
    ("cross_own_hip", lambda p: g.knee_cross_ratio(p, "left"),
     frame(left_hip=(60, 0), right_hip=(40, 0), left_knee=(60, -50)), -0.5, None),
    # Right knee over the left hip.
    ("cross_right_over", lambda p: g.knee_cross_ratio(p, "right"),
     frame(left_hip=(60, 0), right_hip=(40, 0), right_knee=(60, -50)), 0.5, None),
    # Seen from behind or the head (left hip on image left): same numbers.
    ("cross_from_head", lambda p: g.knee_cross_ratio(p, "left"),
     frame(left_hip=(40, 0), right_hip=(60, 0), left_knee=(55, -50)), 0.25, None),
    ("cross_hips_share_x", lambda p: g.knee_cross_ratio(p, "left"),
     frame(left_hip=(50, 0), right_hip=(50, 10), left_knee=(55, -50)), NAN, None),
    ("cross_empty", lambda p: g.knee_cross_ratio(p, "left"), frame(), NAN, None),
    # head_drop_deg: trunk to image right, ear 45 degrees below its line (cat).
    ("head_cat", lambda p: g.head_drop_deg(p, "left"),
     frame(left_hip=(0, 0), left_shoulder=(100, 0), left_ear=(150, 50)), 45.0, None),
    # Ear 45 degrees above (cow).
    ("head_cow", lambda p: g.head_drop_deg(p, "left"),
     frame(left_hip=(0, 0), left_shoulder=(100, 0), left_ear=(150, -50)), -45.0, None),
    # Facing image left: below is still positive.
    ("head_cat_facing_left", lambda p: g.head_drop_deg(p, "right"),
     frame(right_hip=(100, 0), right_shoulder=(0, 0), right_ear=(-50, 50)), 45.0, None),
    # Head straight on (trunk tilted 10 degrees): 0.
    ("head_in_line", lambda p: g.head_drop_deg(p, "left"),
     frame(left_hip=(0, 0), left_shoulder=(100, 17.6327), left_ear=(200, 35.2654)), 0.0, None),
    # Upright trunk (standing): no "below".
    ("head_vertical_trunk", lambda p: g.head_drop_deg(p, "left"),
     frame(left_hip=(0, 100), left_shoulder=(0, 0), left_ear=(0, -20)), NAN, None),
    ("head_empty", lambda p: g.head_drop_deg(p, "left"), frame(), NAN, None),
]  # fmt: skip


@pytest.mark.parametrize(("fn", "pts", "expected", "exc"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_known_values(fn: Fn, pts: np.ndarray, expected: float, exc: type[Exception] | None) -> None:
    with raises(exc):
        value = fn(pts)
        assert value.shape == ()
        np.testing.assert_allclose(value, expected, atol=1e-4, equal_nan=True)


# (id, fn(pts, side), mirror: the value for the mirror image is fn(mirror(pts), other side))
SIDED: list[tuple[str, Callable[[np.ndarray, str], np.ndarray]]] = [
    ("knee_lift_deg", lambda p, s: g.knee_lift_deg(p, s)),  # type: ignore[arg-type]
    ("hip_separation_ratio", lambda p, s: g.hip_separation_ratio(p)),
    ("knee_gap_ratio", lambda p, s: g.knee_gap_ratio(p)),
    ("knee_offset_ratio", lambda p, s: g.knee_offset_ratio(p)),
    ("ankle_to_knee_ratio", lambda p, s: g.ankle_to_knee_ratio(p, s)),  # type: ignore[arg-type]
    ("knee_cross_ratio", lambda p, s: g.knee_cross_ratio(p, s)),  # type: ignore[arg-type]
    ("head_drop_deg", lambda p, s: g.head_drop_deg(p, s)),  # type: ignore[arg-type]
]
OTHER = {"left": "right", "right": "left"}


def random_frames(seed: int, frames: int = 40) -> np.ndarray:
    """Plausible-enough ``(T, 33, 2)`` pixel landmarks: every point somewhere in a 640 x 480 image."""
    rng = np.random.default_rng(seed)
    return rng.uniform([20, 20], [620, 460], size=(frames, NUM_LANDMARKS, 2))


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize(("name", "fn"), SIDED, ids=[s[0] for s in SIDED])
def test_mirror_unchanged_with_side_swapped(
    name: str, fn: Callable[[np.ndarray, str], np.ndarray], side: str
) -> None:
    pts = random_frames(1)
    np.testing.assert_allclose(fn(mirror(pts), OTHER[side]), fn(pts, side), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(("name", "fn"), SIDED, ids=[s[0] for s in SIDED])
def test_scale_and_translation_invariant(name: str, fn: Callable[[np.ndarray, str], np.ndarray]) -> None:
    pts = random_frames(2)
    moved = 2.5 * pts + np.array([-30.0, 75.0])
    np.testing.assert_allclose(fn(moved, "left"), fn(pts, "left"), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(("name", "fn"), SIDED, ids=[s[0] for s in SIDED])
def test_series_matches_frames_and_nan_stays_put(
    name: str, fn: Callable[[np.ndarray, str], np.ndarray]
) -> None:
    pts = random_frames(3, 10)
    pts[4] = np.nan  # nobody in view in frame 4
    series = fn(pts, "right")
    assert series.shape == (10,)
    assert np.isnan(series[4])
    singles = np.array([fn(pts[i], "right") for i in range(10)])
    np.testing.assert_allclose(series, singles, equal_nan=True)
    assert np.isfinite(np.delete(series, 4)).all()


@pytest.mark.parametrize(("name", "fn"), SIDED, ids=[s[0] for s in SIDED])
def test_world_coordinates_accepted(name: str, fn: Callable[[np.ndarray, str], np.ndarray]) -> None:
    """(T, 33, 3) input gives the same as its x, y (depth is ignored by every signal here)."""
    pts = random_frames(4)
    world = np.concatenate([pts, np.random.default_rng(5).normal(size=(*pts.shape[:2], 1))], axis=-1)
    np.testing.assert_allclose(fn(world, "left"), fn(pts, "left"), rtol=1e-12)


def test_bad_shape_rejected() -> None:
    with pytest.raises(ValueError, match="33"):
        g.knee_gap_ratio(np.zeros((5, 17, 2)))


def test_rotation_in_image_leaves_distance_ratios_unchanged() -> None:
    """hip_separation_ratio and knee_gap_ratio use Euclidean image distances: a tilted camera (roll)
    does not change them."""
    pts = random_frames(6)
    t = np.radians(23.0)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    turned = pts @ rot.T
    for fn in (g.hip_separation_ratio, g.knee_gap_ratio):
        np.testing.assert_allclose(fn(turned), fn(pts), rtol=1e-9)


def test_knee_lift_follows_only_the_moving_leg() -> None:
    """Working-side detection relies on the stance leg's value staying put while the top knee lifts."""
    base = frame(left_ankle=(0, 200), left_hip=(200, 200), left_knee=(100, 220),
                 right_ankle=(0, 160), right_hip=(200, 160), right_knee=(100, 180))  # fmt: skip
    lifts = []
    for dy in (0, -40, -80):
        pts = base.copy()
        pts[by_name("left_knee")] += (0, dy)
        lifts.append((float(g.knee_lift_deg(pts, "left")), float(g.knee_lift_deg(pts, "right"))))
    assert lifts[0][0] < lifts[1][0] < lifts[2][0]
    assert lifts[0][1] == lifts[1][1] == lifts[2][1]


@pytest.mark.parametrize(
    "fn", ["knee_lift_deg", "hip_separation_ratio", "knee_gap_ratio", "knee_offset_ratio",
           "ankle_to_knee_ratio", "knee_cross_ratio", "head_drop_deg"],
)  # fmt: skip
def test_registered_with_landmarks_it_reads(fn: str) -> None:
    entry = registry.REGISTRY[fn]
    args = {k: "left" for k in entry.side_params}
    assert registry.validate_signal_args(fn, args, "unilateral") is None
    names = registry.required_landmarks(fn, args)
    assert names and all(by_name(n) is not None for n in names)
    # Hiding any landmark the signal does not list must not change its value.
    pts = random_frames(7, 5)
    listed = {int(by_name(n)) for n in names}
    hidden = pts.copy()
    # the torso yardstick reads both shoulders; ratios over thigh length read both hips and knees
    hidden[:, [i for i in range(NUM_LANDMARKS) if i not in listed]] = np.nan
    np.testing.assert_allclose(
        registry.compute(fn, args, hidden, np.arange(5)), registry.compute(fn, args, pts, np.arange(5))
    )
