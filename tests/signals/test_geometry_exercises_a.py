"""Exercise signals A (single-leg lift, ball squat, band adduction, side plank, pelvic list):
tables of known geometry, then mirror, scale and translation properties."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import numpy as np
import pytest

from siform.landmarks import MIRROR, NUM_LANDMARKS, by_name
from siform.signals import geometry as g

NAN = float("nan")


def frame(dims: int = 2, **points: tuple[float, ...]) -> np.ndarray:
    """One ``(33, dims)`` frame, NaN except the named landmarks (``left_hip=(x, y)``)."""
    out = np.full((NUM_LANDMARKS, dims), np.nan)
    for name, xy in points.items():
        out[by_name(name)] = xy
    return out


def mirror(pts: np.ndarray, width: float = 640.0) -> np.ndarray:
    """The mirror-image person: x -> width - x, left <-> right."""
    out = np.array(pts[..., list(MIRROR), :], dtype=np.float64)
    out[..., 0] = width - out[..., 0]
    return out


def close(actual: np.ndarray, expected: float) -> None:
    np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-9, equal_nan=True)


def raises(exc: type[Exception] | None) -> AbstractContextManager[object]:
    return pytest.raises(exc) if exc else nullcontext()


# Front view, person facing the camera: their LEFT is image RIGHT (larger x). Hip width 80 px.
HIPS = {"left_hip": (340, 330), "right_hip": (260, 330)}
BACK_HIPS = {"left_hip": (260, 330), "right_hip": (340, 330)}  # seen from behind
SAME_X_HIPS = {"left_hip": (300, 330), "right_hip": (300, 300)}


# ---------------------------------------------------------------------------------------------
# toe_out_ratio
# ---------------------------------------------------------------------------------------------

TOE_CASES = [
    # toes straight at the camera: the toe is right below the heel
    ("left", {**HIPS, "left_heel": (350, 630), "left_foot_index": (350, 650)}, 0.0, None),
    # left toes 40 px towards image right (the person's outside): half a hip width out
    ("left", {**HIPS, "left_heel": (350, 630), "left_foot_index": (390, 650)}, 0.5, None),
    # left toes 20 px towards the midline: turned in
    ("left", {**HIPS, "left_heel": (350, 630), "left_foot_index": (330, 650)}, -0.25, None),
    # right foot turned out goes to image left, still positive
    ("right", {**HIPS, "right_heel": (250, 630), "right_foot_index": (210, 650)}, 0.5, None),
    # seen from behind the person's left is image left: outward flips with the hips
    ("left", {**BACK_HIPS, "left_heel": (260, 630), "left_foot_index": (220, 610)}, 0.5, None),
    # no side: the more turned-out foot
    (
        None,
        {
            **HIPS,
            "left_heel": (350, 630),
            "left_foot_index": (360, 650),
            "right_heel": (250, 630),
            "right_foot_index": (210, 650),
        },
        0.5,
        None,
    ),
    # no side and one foot missing: unknown
    (None, {**HIPS, "left_heel": (350, 630), "left_foot_index": (360, 650)}, NAN, None),
    # hips at the same x: no outward direction, no hip width
    ("left", {**SAME_X_HIPS, "left_heel": (350, 630), "left_foot_index": (390, 650)}, NAN, None),
    # toe not found
    ("left", {**HIPS, "left_heel": (350, 630)}, NAN, None),
    # nothing at all
    ("left", {}, NAN, None),
    # not a side
    ("middle", HIPS, NAN, ValueError),
]


@pytest.mark.parametrize(("side", "points", "expected", "exc"), TOE_CASES)
def test_toe_out_ratio(side: str | None, points: dict, expected: float, exc: type[Exception] | None) -> None:
    with raises(exc):
        close(g.toe_out_ratio(frame(**points), side), expected)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# ankle_out_ratio
# ---------------------------------------------------------------------------------------------

ANKLE_CASES = [
    # left ankle straight under the left hip
    ("left", {**HIPS, "left_ankle": (340, 630)}, 0.0, None),
    # swung out 40 px (image right for the left leg): abducted half a hip width
    ("left", {**HIPS, "left_ankle": (380, 630)}, 0.5, None),
    # swung in 120 px, past the other ankle: adducted across the midline
    ("left", {**HIPS, "left_ankle": (220, 630)}, -1.5, None),
    # right leg out is image left
    ("right", {**HIPS, "right_ankle": (220, 630)}, 0.5, None),
    # seen from behind: the same movement, the same sign
    ("left", {**BACK_HIPS, "left_ankle": (220, 630)}, 0.5, None),
    # hips at one x (a side view): no outward direction
    ("left", {**SAME_X_HIPS, "left_ankle": (340, 630)}, NAN, None),
    # ankle lost
    ("left", HIPS, NAN, None),
    # not a side
    ("up", {**HIPS, "left_ankle": (340, 630)}, NAN, ValueError),
]


@pytest.mark.parametrize(("side", "points", "expected", "exc"), ANKLE_CASES)
def test_ankle_out_ratio(side: str, points: dict, expected: float, exc: type[Exception] | None) -> None:
    with raises(exc):
        close(g.ankle_out_ratio(frame(**points), side), expected)  # type: ignore[arg-type]


def test_ankle_out_ratio_follows_one_leg_unlike_ankle_travel() -> None:
    """Only the moving leg's value moves, so the working side can be told from the stance side."""
    still = frame(**HIPS, left_ankle=(340, 630), right_ankle=(260, 630))
    swept = frame(**HIPS, left_ankle=(280, 630), right_ankle=(260, 630))
    close(g.ankle_out_ratio(swept, "left") - g.ankle_out_ratio(still, "left"), -0.75)
    close(g.ankle_out_ratio(swept, "right") - g.ankle_out_ratio(still, "right"), 0.0)
    close(g.ankle_travel_ratio(swept, "left"), g.ankle_travel_ratio(swept, "right"))


# ---------------------------------------------------------------------------------------------
# thigh_drop_ratio
# ---------------------------------------------------------------------------------------------


def legs(hip_y: float, knee_y: float, ankle_y: float, right_knee_y: float | None = None) -> dict:
    rk = knee_y if right_knee_y is None else right_knee_y
    return {
        "left_hip": (340, hip_y), "right_hip": (260, hip_y), "left_knee": (345, knee_y),
        "right_knee": (255, rk), "left_ankle": (350, ankle_y), "right_ankle": (250, ankle_y),
    }  # fmt: skip


THIGH_CASES = [
    # standing: thigh and shin the same image height
    (legs(330, 480, 630), 1.0),
    # thighs level (chair height): hips at knee height
    (legs(480, 480, 630), 0.0),
    # halfway down
    (legs(405, 480, 630), 0.5),
    # hips sunk 30 px below the knees
    (legs(510, 480, 630), -0.2),
    # legs summed: one thigh 150 px high, the other 0, shins 150 and 300 -> 150 / 450
    (legs(330, 480, 630, right_knee_y=330), 1 / 3),
    # shins of no height (knees at the ankles): unknown, not inf
    (legs(330, 630, 630), NAN),
    # a knee lost
    ({k: v for k, v in legs(330, 480, 630).items() if k != "left_knee"}, NAN),
    # nothing at all
    ({}, NAN),
]


@pytest.mark.parametrize(("points", "expected"), THIGH_CASES)
def test_thigh_drop_ratio(points: dict, expected: float) -> None:
    close(g.thigh_drop_ratio(frame(**points)), expected)


# ---------------------------------------------------------------------------------------------
# body_line_deg, hip_sag_ratio (side plank seen from the front)
# ---------------------------------------------------------------------------------------------


Point = tuple[float, ...]


def plank(hip: Point, shoulder: Point = (500, 300), ankle: Point = (100, 300), side: str = "left") -> dict:
    return {f"{side}_shoulder": shoulder, f"{side}_hip": hip, f"{side}_ankle": ankle}


BODY_LINE_CASES = [
    # straight
    ("left", plank((300, 300)), 180.0),
    # hip 100 px below a 200 + 200 px line: two 26.57 degree bends
    ("left", plank((300, 400)), 180.0 - 2 * np.degrees(np.arctan(0.5))),
    # piked by the same amount: the same angle (unsigned)
    ("left", plank((300, 200)), 180.0 - 2 * np.degrees(np.arctan(0.5))),
    # a right angle at the hip
    ("right", plank((100, 100), shoulder=(100, 0), ankle=(300, 100), side="right"), 90.0),
    # world coordinates, straight in depth
    ("left", plank((0, 0, 1), shoulder=(0, 0, 0), ankle=(0, 0, 2)), 180.0),
    # the hip on the shoulder: no angle
    ("left", plank((500, 300)), NAN),
    # the other side's landmarks only
    ("left", plank((300, 300), side="right"), NAN),
]


@pytest.mark.parametrize(("side", "points", "expected"), BODY_LINE_CASES)
def test_body_line_deg(side: str, points: dict, expected: float) -> None:
    dims = len(next(iter(points.values())))
    close(g.body_line_deg(frame(dims, **points), side), expected)  # type: ignore[arg-type]


SAG_CASES = [
    # straight
    ("left", plank((300, 300)), 0.0),
    # 20 px below a 400 px line: sagging 0.05 line lengths
    ("left", plank((300, 320)), 0.05),
    # head at image left instead: the sign still means "towards the floor"
    ("left", plank((300, 320), shoulder=(100, 300), ankle=(500, 300)), 0.05),
    # 20 px above: piking
    ("left", plank((300, 280)), -0.05),
    # an inclined line (feet low at image left, shoulder up at right), hip 10 px straight down from
    # the line, which is 10 cos(a) across it
    (
        "right",
        plank((300, 210), shoulder=(500, 100), ankle=(100, 300), side="right"),
        10 * np.cos(np.arctan(0.5)) / np.hypot(400, 200),
    ),
    # a vertical line has no "down" side
    ("left", plank((300, 300), shoulder=(300, 100), ankle=(300, 500)), NAN),
    # shoulder on the ankle: no line
    ("left", plank((300, 300), shoulder=(100, 300)), NAN),
    # nothing at all
    ("left", {}, NAN),
]


@pytest.mark.parametrize(("side", "points", "expected"), SAG_CASES)
def test_hip_sag_ratio(side: str, points: dict, expected: float) -> None:
    close(g.hip_sag_ratio(frame(**points), side), expected)  # type: ignore[arg-type]


def test_hip_sag_ratio_is_minus_bridge_height_on_the_same_line() -> None:
    """Both are the hip's offset from a line through the shoulder, with opposite senses of "up"."""
    pts = frame(left_shoulder=(100, 300), left_hip=(250, 330), left_knee=(500, 290), left_ankle=(500, 290))
    line = np.hypot(400, 10)
    thigh = np.hypot(250, 40)
    close(g.hip_sag_ratio(pts, "left") * line, -g.bridge_height_ratio(pts, "left") * thigh)


# ---------------------------------------------------------------------------------------------
# pelvic_drop_deg
# ---------------------------------------------------------------------------------------------

TAN10 = np.tan(np.radians(10.0))
DROP_CASES = [
    # level
    ("left", HIPS, 0.0),
    # left hip 10 degrees lower: positive for the left side...
    ("left", {"left_hip": (340, 330 + 80 * TAN10), "right_hip": (260, 330)}, 10.0),
    # ... negative for the right
    ("right", {"left_hip": (340, 330 + 80 * TAN10), "right_hip": (260, 330)}, -10.0),
    # seen from behind: the same sign
    ("left", {"left_hip": (260, 330 + 80 * TAN10), "right_hip": (340, 330)}, 10.0),
    # lying on the left side facing the camera: the left hip straight below the right
    ("left", {"left_hip": (300, 400), "right_hip": (300, 320)}, 90.0),
    # the same pose read for the top side
    ("right", {"left_hip": (300, 400), "right_hip": (300, 320)}, -90.0),
    # hips on one point
    ("left", {"left_hip": (300, 330), "right_hip": (300, 330)}, NAN),
    # a hip lost
    ("left", {"left_hip": (300, 330)}, NAN),
]


@pytest.mark.parametrize(("side", "points", "expected"), DROP_CASES)
def test_pelvic_drop_deg(side: str, points: dict, expected: float) -> None:
    close(g.pelvic_drop_deg(frame(**points), side), expected)  # type: ignore[arg-type]


def test_pelvic_drop_left_is_pelvic_obliquity() -> None:
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 640, (50, NUM_LANDMARKS, 2))
    close(g.pelvic_drop_deg(pts, "left"), g.pelvic_obliquity_deg(pts))
    close(g.pelvic_drop_deg(pts, "right"), -g.pelvic_obliquity_deg(pts))


@pytest.mark.parametrize(
    ("side", "knees", "expected"),
    [
        ("left", {"left_knee": (340, 480), "right_knee": (260, 480)}, 0.0),  # level
        ("left", {"left_knee": (340, 480 + 80 * TAN10), "right_knee": (260, 480)}, 10.0),  # left knee lower
        ("right", {"left_knee": (340, 480 + 80 * TAN10), "right_knee": (260, 480)}, -10.0),
        # the knees meet (a leg swept across the other): still their height difference over hip width
        ("left", {"left_knee": (300, 480 + 80 * TAN10), "right_knee": (301, 480)}, 10.0),
        ("left", {"left_knee": (340, 480)}, NAN),  # a knee lost
    ],
)
def test_knee_drop_deg_is_the_knee_height_difference_over_hip_width(
    side: str, knees: dict, expected: float
) -> None:
    # standing level first, then the knees as given: the drop both below the other knee and below
    # where this knee stood
    level = frame(**HIPS, left_knee=(340, 480), right_knee=(260, 480))
    pts = np.stack([level, frame(**HIPS, **knees)])
    close(g.knee_drop_deg(pts, np.array([0, 100]), side, 5000)[1], expected)  # type: ignore[arg-type]


def test_knee_drop_is_the_knee_that_moved() -> None:
    level = frame(**HIPS, left_knee=(340, 480), right_knee=(260, 480))
    left_down = frame(**HIPS, left_knee=(340, 480 + 80 * TAN10), right_knee=(260, 480))
    right_up = frame(**HIPS, left_knee=(340, 480), right_knee=(260, 480 - 80 * TAN10))
    t = np.array([0, 100])
    close(g.knee_drop_deg(np.stack([level, left_down]), t, "left", 5000)[1], 10.0)
    # the right knee rose instead: the left is lower than it, but no lower than it stood
    close(g.knee_drop_deg(np.stack([level, right_up]), t, "left", 5000)[1], 0.0)
    # once the window has forgotten how it stood, only the other knee is left to compare with
    close(g.knee_drop_deg(np.stack([level, left_down]), np.array([0, 9000]), "left", 5000)[1], 0.0)


def test_knee_drop_needs_the_hips_apart() -> None:
    pts = frame(left_hip=(300, 330), right_hip=(300, 330), left_knee=(340, 490), right_knee=(260, 480))
    close(g.knee_drop_deg(pts[None], np.zeros(1), "left", 5000), NAN)


def test_pelvic_drop_bad_side() -> None:
    with pytest.raises(ValueError, match="side"):
        g.pelvic_drop_deg(frame(**HIPS), "both")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# planted_hip_angle_deg
# ---------------------------------------------------------------------------------------------


def leg(knee_deg: float, side: str = "left") -> dict:
    """Shoulder-hip-knee at 135 degrees; the knee bent to ``knee_deg``."""
    hip, knee = np.array([300.0, 300.0]), np.array([400.0, 300.0])
    shoulder = hip + 100 * np.array([np.cos(np.radians(-135)), np.sin(np.radians(-135))])
    ankle = knee + 100 * np.array([np.cos(np.radians(180 - knee_deg)), np.sin(np.radians(180 - knee_deg))])
    return {f"{side}_shoulder": tuple(shoulder), f"{side}_hip": tuple(hip), f"{side}_knee": tuple(knee),
            f"{side}_ankle": tuple(ankle)}  # fmt: skip


PLANTED_CASES = [
    # foot planted, knee at a right angle: the plain hip angle
    ("left", leg(90.0), 135.0),
    # knee bent to 149: still a planted leg
    ("right", leg(149.0, "right"), 135.0),
    # knee at the limit (150): counted as straight
    ("left", leg(g.MAX_PLANTED_KNEE_DEG), NAN),
    # the extended leg of a single-leg bridge: straight knee
    ("left", leg(180.0), NAN),
    # ankle lost: the knee angle is unknown, so is this
    ("left", {k: v for k, v in leg(90.0).items() if k != "left_ankle"}, NAN),
    # the other side asked for
    ("right", leg(90.0), NAN),
]


@pytest.mark.parametrize(("side", "points", "expected"), PLANTED_CASES)
def test_planted_hip_angle_deg(side: str, points: dict, expected: float) -> None:
    close(g.planted_hip_angle_deg(frame(**points), side), expected)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Properties: shapes, empty input, mirror, scale and translation
# ---------------------------------------------------------------------------------------------

# A standing person with feet, and a side-plank-like pose, as (33, 2) templates.
STANDING = frame(
    **HIPS, left_shoulder=(360, 150), right_shoulder=(240, 150), left_knee=(350, 480),
    right_knee=(250, 480), left_ankle=(365, 630), right_ankle=(245, 630), left_heel=(366, 638),
    right_heel=(244, 638), left_foot_index=(385, 652), right_foot_index=(240, 652),
)  # fmt: skip
LYING = frame(
    left_shoulder=(500, 330), right_shoulder=(490, 230), left_hip=(300, 372), right_hip=(292, 300),
    left_knee=(200, 380), right_knee=(195, 330), left_ankle=(100, 390), right_ankle=(98, 370),
)  # fmt: skip
BRIDGE = frame(**leg(80.0, "left"), **leg(170.0, "right"))

Signal = Callable[[np.ndarray, str], np.ndarray]
# (id, fn(pts, side), template); every one is unchanged by mirror with the side swapped, and by
# scale and translation.
PROPERTY_CASES: list[tuple[str, Signal, np.ndarray]] = [
    ("toe_out", lambda p, s: g.toe_out_ratio(p, s), STANDING),  # type: ignore[arg-type]
    ("toe_out_worst", lambda p, s: g.toe_out_ratio(p), STANDING),
    ("ankle_out", lambda p, s: g.ankle_out_ratio(p, s), STANDING),  # type: ignore[arg-type]
    ("thigh_drop", lambda p, s: g.thigh_drop_ratio(p), STANDING),
    ("body_line", lambda p, s: g.body_line_deg(p, s), LYING),  # type: ignore[arg-type]
    ("hip_sag", lambda p, s: g.hip_sag_ratio(p, s), LYING),  # type: ignore[arg-type]
    ("pelvic_drop", lambda p, s: g.pelvic_drop_deg(p, s), LYING),  # type: ignore[arg-type]
    ("planted_hip", lambda p, s: g.planted_hip_angle_deg(p, s), BRIDGE),  # type: ignore[arg-type]
]
PROPS = [pytest.param(fn, tpl, id=name) for name, fn, tpl in PROPERTY_CASES]


def jittered(tpl: np.ndarray, frames: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return tpl[None] + rng.normal(0.0, 3.0, (frames, *tpl.shape))


@pytest.mark.parametrize(("fn", "tpl"), PROPS)
@pytest.mark.parametrize("side", ["left", "right"])
def test_unchanged_by_mirror_with_sides_swapped(fn: Signal, tpl: np.ndarray, side: str) -> None:
    pts = jittered(tpl)
    other = "right" if side == "left" else "left"
    values = fn(pts, side)
    if side == "left":  # every template is drawn so that the left side's value exists
        assert np.isfinite(values).all()
    close(fn(mirror(pts), other), values)


@pytest.mark.parametrize(("fn", "tpl"), PROPS)
@pytest.mark.parametrize(("scale", "shift"), [(2.5, (0.0, 0.0)), (0.4, (-120.0, 35.0)), (1.0, (1e4, -1e4))])
def test_invariant_to_scale_and_translation(fn: Signal, tpl: np.ndarray, scale: float, shift: tuple) -> None:
    pts = jittered(tpl)
    moved = pts * scale + np.array(shift)
    np.testing.assert_allclose(fn(moved, "left"), fn(pts, "left"), rtol=1e-7, atol=1e-7, equal_nan=True)


@pytest.mark.parametrize(("fn", "tpl"), PROPS)
def test_shapes_empty_and_all_nan(fn: Signal, tpl: np.ndarray) -> None:
    pts = jittered(tpl, frames=7)
    assert fn(pts, "left").shape == (7,)
    assert fn(pts[0], "left").shape == ()
    assert fn(pts.astype(np.float32), "left").dtype == np.float64
    assert fn(np.zeros((0, NUM_LANDMARKS, 2)), "left").shape == (0,)
    assert np.isnan(fn(np.full((3, NUM_LANDMARKS, 2), np.nan), "left")).all()
    with pytest.raises(ValueError, match="shape"):
        fn(np.zeros((5, 17, 2)), "left")


def test_planted_hip_tells_the_planted_leg_from_the_extended_one() -> None:
    """Both thighs parallel: plain hip angles agree, the planted one is only defined on the bent leg."""
    close(g.joint_angle_deg(BRIDGE, "left", "hip"), g.joint_angle_deg(BRIDGE, "right", "hip"))
    assert np.isfinite(g.planted_hip_angle_deg(BRIDGE, "left"))
    assert np.isnan(g.planted_hip_angle_deg(BRIDGE, "right"))
