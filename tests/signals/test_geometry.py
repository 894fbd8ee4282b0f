"""Tables of known geometry, plus properties every signal must keep (scale, translation, mirror)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from siform.landmarks import MIRROR, NUM_LANDMARKS, Landmark, by_name
from siform.signals import geometry as g

L = Landmark
NAN = float("nan")


def frame(dims: int = 2, **points: tuple[float, ...]) -> np.ndarray:
    """One ``(33, dims)`` frame, NaN except the named landmarks (``left_hip=(x, y)``)."""
    out = np.full((NUM_LANDMARKS, dims), np.nan)
    for name, xy in points.items():
        out[by_name(name)] = xy
    return out


def mirror(pts: np.ndarray, width: float | None = None) -> np.ndarray:
    """The mirror-image person: flip x (about ``width`` for pixels, about 0 for world), swap L/R."""
    out = np.array(pts[..., list(MIRROR), :], dtype=np.float64)
    out[..., 0] = (width - out[..., 0]) if width is not None else -out[..., 0]
    return out


def close(actual: np.ndarray, expected: float | np.ndarray, tol: float = 1e-9) -> None:
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol, equal_nan=True)


# Front view, person facing the camera: their LEFT is on image RIGHT (larger x). Pixels, y down.
STANDING = {
    "nose": (300, 80, 0), "left_shoulder": (360, 150, 10), "right_shoulder": (240, 150, -10),
    "left_elbow": (380, 250, 20), "right_elbow": (220, 250, -5), "left_wrist": (390, 340, 30),
    "right_wrist": (210, 340, 0), "left_hip": (340, 330, 5), "right_hip": (260, 330, -5),
    "left_knee": (345, 480, 15), "right_knee": (255, 480, -15), "left_ankle": (350, 620, 0),
    "right_ankle": (250, 620, 10),
}  # fmt: skip
# Side view of a glute bridge, head to image left, lying on a floor at y = 400.
LYING = {
    "nose": (40, 390, 0), "left_shoulder": (100, 400, 20), "right_shoulder": (105, 395, -20),
    "left_elbow": (170, 420, 25), "right_elbow": (175, 415, -25), "left_wrist": (240, 420, 30),
    "right_wrist": (245, 415, -30), "left_hip": (250, 330, 20), "right_hip": (255, 325, -20),
    "left_knee": (400, 300, 20), "right_knee": (405, 295, -20), "left_ankle": (420, 400, 20),
    "right_ankle": (425, 395, -20),
}  # fmt: skip


def template(points: dict[str, tuple[int, int, int]]) -> np.ndarray:
    out = np.tile(np.array(points["nose"], dtype=np.float64), (NUM_LANDMARKS, 1))  # face, hands, feet
    for name, xyz in points.items():
        out[by_name(name)] = xyz
    return out


TEMPLATES = {"standing": template(STANDING), "lying": template(LYING)}

# Signal cases for the shared properties: (id, fn(pts), template, mirror fn, mirror sign,
# scale exponent (0 = invariant, 1 = a length), landmarks the signal needs).
Fn = Callable[[np.ndarray], np.ndarray]
CASES: list[tuple[str, Fn, str, Fn, float, int, set[int]]] = []


def _case(name: str, fn: Fn, tpl: str, mirrored: Fn, sign: float, power: int, needs: set[int]) -> None:
    CASES.append((name, fn, tpl, mirrored, sign, power, needs))


HIPS = {L.LEFT_HIP, L.RIGHT_HIP}
TORSO = HIPS | {L.LEFT_SHOULDER, L.RIGHT_SHOULDER}
FEET = HIPS | {L.LEFT_ANKLE, L.RIGHT_ANKLE}
for _tpl in ("standing", "lying"):
    for _joint, _chain in g.JOINT_CHAINS.items():
        _case(
            f"{_joint}_angle_{_tpl}",
            lambda p, j=_joint: g.joint_angle_deg(p, "left", j),
            _tpl,
            lambda p, j=_joint: g.joint_angle_deg(p, "right", j),
            1,
            0,
            {by_name(f"left_{n}") for n in _chain},
        )
    _case(
        "leg_alignment_" + _tpl,
        lambda p: g.leg_alignment_deg(p, "left"),
        _tpl,
        lambda p: g.leg_alignment_deg(p, "right"),
        1,
        0,
        {L.LEFT_HIP, L.LEFT_ANKLE, L.RIGHT_HIP, L.RIGHT_KNEE},
    )
    _case(
        "hip_drop_" + _tpl,
        g.hip_drop_ratio,
        _tpl,
        g.hip_drop_ratio,
        -1,
        0,
        HIPS | {L.LEFT_KNEE, L.RIGHT_KNEE},
    )
    _case(
        "thigh_" + _tpl,
        lambda p: g.thigh_length(p, "left"),
        _tpl,
        lambda p: g.thigh_length(p, "right"),
        1,
        1,
        {L.LEFT_HIP, L.LEFT_KNEE},
    )
_case("pelvic_obliquity", g.pelvic_obliquity_deg, "standing", g.pelvic_obliquity_deg, -1, 0, HIPS)
_case(
    "knee_sep_ankle",
    g.knee_separation_ratio,
    "standing",
    g.knee_separation_ratio,
    1,
    0,
    {L.LEFT_KNEE, L.RIGHT_KNEE, L.LEFT_ANKLE, L.RIGHT_ANKLE},
)
_case(
    "knee_sep_hip",
    lambda p: g.knee_separation_ratio(p, by="hip"),
    "standing",
    lambda p: g.knee_separation_ratio(p, by="hip"),
    1,
    0,
    HIPS | {L.LEFT_KNEE, L.RIGHT_KNEE},
)
_case("trunk_lean", g.trunk_lean_deg, "standing", g.trunk_lean_deg, -1, 0, TORSO)
# A sway is the mirror image's sway only when its baseline is mirrored (negated) too.
_case(
    "trunk_sway",
    lambda p: g.trunk_sway_deg(p, 3.0),
    "standing",
    lambda p: g.trunk_sway_deg(p, -3.0),
    -1,
    0,
    TORSO,
)
_case(
    "bridge_height",
    lambda p: g.bridge_height_ratio(p, "left"),
    "lying",
    lambda p: g.bridge_height_ratio(p, "right"),
    1,
    0,
    {L.LEFT_SHOULDER, L.LEFT_HIP, L.LEFT_KNEE},
)
_case(
    "ankle_travel",
    lambda p: g.ankle_travel_ratio(p, "left"),
    "standing",
    lambda p: g.ankle_travel_ratio(p, "right"),
    1,
    0,
    FEET,
)
_case(
    "ankle_offset",
    lambda p: g.ankle_offset_ratio(p, "left", 0.4),
    "standing",
    lambda p: g.ankle_offset_ratio(p, "right", 0.4),
    1,
    0,
    FEET,
)
_case("torso_length", g.torso_length_px, "standing", g.torso_length_px, 1, 1, TORSO)
_case("hip_width", g.hip_width, "standing", g.hip_width, 1, 1, HIPS)
CASE_IDS = [c[0] for c in CASES]


@st.composite
def poses(draw: st.DrawFn, tpl: str, dims: int) -> np.ndarray:
    """1-4 frames of a template, each landmark jittered by up to 20 px: varied but never degenerate."""
    frames = draw(st.integers(1, 4))
    jitter = draw(hnp.arrays(np.float64, (frames, NUM_LANDMARKS, dims), elements=st.floats(-20, 20)))
    return TEMPLATES[tpl][:, :dims] + jitter


# ---------------------------------------------------------------------------------------------
# Properties shared by every signal
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize(("name", "fn", "tpl", "mirrored", "sign", "power", "needs"), CASES, ids=CASE_IDS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_invariants(name, fn, tpl, mirrored, sign, power, needs, dims, data) -> None:
    pts = data.draw(poses(tpl, dims))
    scale = data.draw(st.floats(0.05, 20))
    shift = data.draw(hnp.arrays(np.float64, (dims,), elements=st.floats(-1e4, 1e4)))
    base = fn(pts)
    assert base.shape == pts.shape[:1] and base.dtype == np.float64
    assert np.isfinite(base).all()
    close(fn(pts + shift), base, 1e-7)  # translation
    close(fn(pts * scale), base * scale**power, 1e-7)  # uniform scale
    close(mirrored(mirror(pts, width=640.0 if dims == 2 else None)), sign * base, 1e-7)
    close(fn(pts[0]), base[0])  # a single frame gives the same, as a 0-d result
    assert fn(pts[0]).shape == ()


@pytest.mark.parametrize(("name", "fn", "tpl", "mirrored", "sign", "power", "needs"), CASES, ids=CASE_IDS)
def test_nan_stays_in_its_frame_and_only_needed_landmarks_matter(
    name, fn, tpl, mirrored, sign, power, needs
) -> None:
    pts = np.repeat(TEMPLATES[tpl][None, :, :2], 3, axis=0)
    base = fn(pts)
    for lm in Landmark:
        holed = pts.copy()
        holed[1, lm] = np.nan
        out = fn(holed)
        close(out[[0, 2]], base[[0, 2]])
        if lm in needs:
            assert np.isnan(out[1]), f"{name}: missing {lm.name} should give NaN"
        else:
            close(out[1], base[1])


@pytest.mark.parametrize(("name", "fn", "tpl", "mirrored", "sign", "power", "needs"), CASES, ids=CASE_IDS)
def test_empty_and_all_nan(name, fn, tpl, mirrored, sign, power, needs) -> None:
    assert fn(np.zeros((0, NUM_LANDMARKS, 2))).shape == (0,)  # no frames
    assert np.isnan(fn(np.full((3, NUM_LANDMARKS, 2), np.nan))).all()  # nobody in any frame
    out = fn(np.repeat(TEMPLATES[tpl][None, :, :2], 2, axis=0).astype(np.float32))
    assert out.dtype == np.float64  # float32 landmarks in, float64 signals out


@pytest.mark.parametrize(
    ("call", "raises"),
    [
        (lambda: g.hip_width(np.zeros((4, 33, 2))), nullcontext()),  # a track
        (lambda: g.hip_width(np.zeros((33, 3))), nullcontext()),  # a single world frame
        (lambda: g.hip_width(np.zeros((4, 33, 5))), pytest.raises(ValueError)),  # raw image rows
        (lambda: g.hip_width(np.zeros((4, 17, 2))), pytest.raises(ValueError)),  # COCO-17 skeleton
        (lambda: g.thigh_length(np.zeros((33, 2)), "up"), pytest.raises(ValueError)),  # no such side
        (lambda: g.joint_angle_deg(np.zeros((33, 2)), "left", "ankle"), pytest.raises(ValueError)),
        (lambda: g.knee_separation_ratio(np.zeros((33, 2)), by="foot"), pytest.raises(ValueError)),
        (lambda: g.angle_deg(np.zeros(4), np.ones(4), np.zeros(4)), pytest.raises(ValueError)),  # 4-D
    ],
)
def test_argument_validation(call: Callable[[], object], raises: AbstractContextManager[object]) -> None:
    with raises:
        call()


# ---------------------------------------------------------------------------------------------
# Tables of known values
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "c", "expected"),
    [
        ((1, 0), (0, 0), (0, 1), 90.0),  # right angle
        ((-1, 0), (0, 0), (2, 0), 180.0),  # straight
        ((1, 0), (0, 0), (3, 0), 0.0),  # folded onto itself
        ((1, 0), (0, 0), (1, 1), 45.0),
        ((11, 5), (10, 5), (10, 4), 90.0),  # away from the origin, y down makes no difference
        ((1, 0, 0), (0, 0, 0), (0, 0, 5), 90.0),  # 3-D right angle using z
        ((1, 0, 0), (0, 1, 0), (0, 0, 1), 60.0),  # 3-D equilateral triangle
        ((0, 0), (0, 0), (1, 0), NAN),  # zero-length arm: undefined
        ((NAN, 0), (0, 0), (1, 0), NAN),  # missing point
    ],
)
def test_angle_deg(a, b, c, expected) -> None:
    close(g.angle_deg(a, b, c), expected)


def test_angle_deg_vectorised_and_empty() -> None:
    a = np.array([[1, 0], [-1, 0], [NAN, 0]])
    close(g.angle_deg(a, np.zeros((3, 2)), np.array([[0, 1], [1, 0], [1, 0]])), [90, 180, NAN])
    assert g.angle_deg(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros((0, 2))).shape == (0,)


@given(
    hnp.arrays(np.float64, (3, 2), elements=st.floats(-100, 100)),
    st.floats(0, 2 * np.pi),
    st.floats(0.1, 10),
)
def test_angle_deg_ignores_rotation_and_scale(tri: np.ndarray, turn: float, scale: float) -> None:
    a, b, c = tri
    assume(min(np.linalg.norm(a - b), np.linalg.norm(c - b)) > 1)  # degenerate: see the table
    rot = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]]) * scale
    close(g.angle_deg(a @ rot.T, b @ rot.T, c @ rot.T), g.angle_deg(a, b, c), 1e-7)


ELBOW = ("left", "elbow")


@pytest.mark.parametrize(
    ("pts", "side", "joint", "expected"),
    [
        (frame(left_hip=(0, 0), left_knee=(0, 100), left_ankle=(0, 200)), "left", "knee", 180.0),  # straight
        (frame(right_hip=(0, 0), right_knee=(0, 100), right_ankle=(100, 100)), "right", "knee", 90.0),
        (frame(left_shoulder=(0, 0), left_hip=(0, 100), left_knee=(100, 200)), "left", "hip", 135.0),
        (frame(left_shoulder=(0, 0), left_elbow=(10, 0), left_hip=(0, 20)), "left", "shoulder", 90.0),
        # 3-D: a straight arm pointing at the camera (only z changes), then bent 90 deg in depth
        (frame(3, left_shoulder=(0, 0, 0), left_elbow=(0, 0, -1), left_wrist=(0, 0, -2)), *ELBOW, 180.0),
        (frame(3, left_shoulder=(0, 0, 0), left_elbow=(0, 1, 0), left_wrist=(0, 1, -1)), *ELBOW, 90.0),
        (frame(left_hip=(0, 0), left_knee=(0, 100), right_ankle=(0, 200)), "left", "knee", NAN),  # no ankle
        (frame(right_hip=(0, 0), right_knee=(0, 0), right_ankle=(0, 200)), "right", "knee", NAN),  # no thigh
    ],
)
def test_joint_angle_deg(pts, side, joint, expected) -> None:
    close(g.joint_angle_deg(pts, side, joint), expected)


@pytest.mark.parametrize(
    ("pts", "expected"),
    [
        (frame(left_hip=(340, 300), right_hip=(260, 300)), 0.0),  # level, facing the camera
        (frame(left_hip=(310, 310), right_hip=(300, 300)), 45.0),  # left hip lower, facing the camera
        (frame(left_hip=(290, 310), right_hip=(300, 300)), 45.0),  # left hip lower, seen from behind
        (frame(left_hip=(310, 290), right_hip=(300, 300)), -45.0),  # right hip lower
        (frame(left_hip=(300, 310), right_hip=(300, 300)), 90.0),  # one hip straight below the other
        (frame(left_hip=(300, 300), right_hip=(300, 300)), NAN),  # coincident: no line
        (frame(right_hip=(300, 300)), NAN),  # left hip missing
    ],
)
def test_pelvic_obliquity_deg(pts, expected) -> None:
    close(g.pelvic_obliquity_deg(pts), expected)


@pytest.mark.parametrize(
    ("pts", "expected"),
    [
        (frame(left_hip=(0, 15), right_hip=(0, 0), left_knee=(150, 15), right_knee=(150, 0)), 0.1),
        (frame(left_hip=(0, 0), right_hip=(0, 15), left_knee=(150, 0), right_knee=(150, 15)), -0.1),
        (frame(left_hip=(0, 0), right_hip=(5, 0), left_knee=(150, 0), right_knee=(150, 0)), 0.0),  # level
        # thighs 100 and 200 px long: divided by their mean, 150
        (frame(left_hip=(0, 30), right_hip=(0, 0), left_knee=(100, 30), right_knee=(200, 0)), 0.2),
        (frame(left_hip=(0, 5), right_hip=(0, 0), left_knee=(0, 5), right_knee=(0, 0)), NAN),  # no thighs
        (frame(left_hip=(0, 5), right_hip=(0, 0), left_knee=(150, 5)), NAN),  # right knee missing
    ],
)
def test_hip_drop_ratio(pts, expected) -> None:
    close(g.hip_drop_ratio(pts), expected)


KNEES = {"left_hip": (340, 300), "right_hip": (260, 300), "left_ankle": (350, 600), "right_ankle": (250, 600)}


@pytest.mark.parametrize(
    ("pts", "by", "expected"),
    [
        (frame(**KNEES, left_knee=(325, 450), right_knee=(275, 450)), "ankle", 0.5),  # caving in
        (frame(**KNEES, left_knee=(325, 450), right_knee=(275, 450)), "hip", 0.625),  # 50 / 80
        (frame(**KNEES, left_knee=(325, 400), right_knee=(275, 480)), "ankle", 0.5),  # height gap ignored
        (frame(**KNEES, left_knee=(275, 450), right_knee=(325, 450)), "ankle", 0.5),  # crossed: still a gap
        (frame(**KNEES, left_knee=(360, 450), right_knee=(240, 450)), "ankle", 1.2),  # knees out
        # feet together: no yardstick
        (
            frame(**{**KNEES, "left_ankle": (250, 600)}, left_knee=(325, 450), right_knee=(275, 450)),
            "ankle",
            NAN,
        ),
    ],
)
def test_knee_separation_ratio(pts, by, expected) -> None:
    close(g.knee_separation_ratio(pts, by=by), expected)


def trunk(hips: tuple[float, float], shoulders: tuple[float, float], sx: float = 120) -> np.ndarray:
    """Hips at x = hips[0] (left) / hips[1] (right), y 300; shoulders centred at ``shoulders``,
    ``sx`` apart with the left shoulder on the same side as the left hip."""
    side = np.sign(hips[0] - hips[1]) or 1
    cx, cy = shoulders
    return frame(
        left_hip=(hips[0], 300),
        right_hip=(hips[1], 300),
        left_shoulder=(cx + side * sx / 2, cy),
        right_shoulder=(cx - side * sx / 2, cy),
    )


TILTED = frame(left_hip=(350, 320), right_hip=(250, 280), left_shoulder=(360, 100), right_shoulder=(240, 100))


@pytest.mark.parametrize(
    ("pts", "expected"),
    [
        # Facing the camera (left hip on image right), shoulders 100 px right and 100 px up: +45.
        (trunk((350, 250), (400, 200)), 45.0),
        # The same image seen as the person's back (left hip on image left): a lean to their right.
        (trunk((250, 350), (400, 200)), -45.0),
        (trunk((350, 250), (300, 100)), 0.0),  # upright
        (trunk((350, 250), (300 - 200 * np.sqrt(3), 100)), -60.0),  # towards their right, facing us
        # Upright trunk over a tilted pelvis: still 0, the lean is against vertical, not the pelvis.
        (TILTED, 0.0),
        (trunk((300, 300), (300, 100)), NAN),  # hips share an x: side view, lateral lean unseen
        (frame(left_hip=(350, 300), right_hip=(250, 300), left_shoulder=(360, 100)), NAN),  # no shoulder
    ],
)
def test_trunk_lean_and_sway(pts, expected) -> None:
    close(g.trunk_lean_deg(pts), expected)
    close(g.trunk_sway_deg(pts, 10.0), expected - 10.0)


Pt = tuple[float, float]


def chain(side: str, shoulder: Pt, hip: Pt, knee: Pt) -> np.ndarray:
    return frame(**{f"{side}_shoulder": shoulder, f"{side}_hip": hip, f"{side}_knee": knee})


UP30 = 30 / np.hypot(150, 30)  # hip 30 px off a horizontal line, thigh sqrt(150^2 + 30^2) long


@pytest.mark.parametrize(
    ("pts", "side", "expected"),
    [
        (chain("left", (0, 0), (150, -30), (300, 0)), "left", UP30),  # head to image left, hip above
        (chain("left", (300, 0), (150, -30), (0, 0)), "left", UP30),  # head to image right: same sign
        (chain("right", (0, 0), (150, 30), (300, 0)), "right", -UP30),  # sagging below the line
        (chain("left", (0, 0), (150, 0), (300, 0)), "left", 0.0),  # shoulder, hip, knee in line
        # Sloping line y = -x: hip (0, -100) lies 100/sqrt(2) above it; thigh 100 px.
        (chain("left", (0, 0), (0, -100), (100, -100)), "left", 1 / np.sqrt(2)),
        (chain("left", (0, 0), (10, 150), (0, 300)), "left", NAN),  # vertical line: no "up" side
        (frame(left_shoulder=(0, 0), left_knee=(300, 0)), "left", NAN),  # hip missing
        (chain("right", (0, 0), (150, -30), (300, 0)), "left", NAN),  # only the other side visible
    ],
)
def test_bridge_height_ratio(pts, side, expected) -> None:
    close(g.bridge_height_ratio(pts, side), expected)


@pytest.mark.parametrize(
    ("pts", "expected"),
    [
        (frame(left_hip=(0, 0), left_ankle=(300, 0), right_hip=(0, 0), right_knee=(150, 0)), 0.0),  # in line
        (frame(left_hip=(0, 0), left_ankle=(300, 0), right_hip=(0, 0), right_knee=(150, -150)), 45.0),
        (frame(left_hip=(0, 0), left_ankle=(300, 300), right_hip=(5, 0), right_knee=(155, 0)), 45.0),
        (frame(left_hip=(0, 0), left_ankle=(-300, 0), right_hip=(0, 0), right_knee=(150, 0)), 180.0),
        (frame(left_hip=(0, 0), left_ankle=(300, 0), right_hip=(0, 0)), NAN),  # other knee missing
    ],
)
def test_leg_alignment_deg(pts, expected) -> None:
    close(g.leg_alignment_deg(pts, "left"), expected)


HIPS_FRONT = {"left_hip": (340, 300), "right_hip": (260, 300)}  # facing the camera, 80 px apart
HIPS_BACK = {"left_hip": (260, 300), "right_hip": (340, 300)}  # back to the camera
HIPS_SIDE = {"left_hip": (300, 300), "right_hip": (300, 290)}


@pytest.mark.parametrize(
    ("pts", "side", "expected"),
    [
        (frame(**HIPS_FRONT, left_ankle=(350, 600), right_ankle=(250, 600)), "left", 1.25),  # apart
        (frame(**HIPS_FRONT, left_ankle=(350, 600), right_ankle=(250, 600)), "right", 1.25),  # symmetric
        (frame(**HIPS_FRONT, left_ankle=(250, 600), right_ankle=(250, 600)), "left", 0.0),  # ankles touch
        (frame(**HIPS_FRONT, left_ankle=(240, 600), right_ankle=(250, 600)), "left", -0.125),  # crossed
        (frame(**HIPS_BACK, left_ankle=(250, 600), right_ankle=(350, 600)), "left", 1.25),  # from behind
        (frame(**HIPS_SIDE, left_ankle=(350, 600), right_ankle=(250, 600)), "left", NAN),  # hips share an x
    ],
)
def test_ankle_travel_and_offset_ratio(pts, side, expected) -> None:
    close(g.ankle_travel_ratio(pts, side), expected)
    close(g.ankle_offset_ratio(pts, side, 1.0), expected - 1.0)


def test_length_helpers() -> None:
    pts = frame(left_shoulder=(330, 100), right_shoulder=(270, 100), left_hip=(340, 400),
                right_hip=(260, 380), left_knee=(340, 550))  # fmt: skip
    close(g.torso_length_px(pts), np.hypot(0, 290))  # shoulder mid (300,100) -> hip mid (300,390)
    close(g.hip_width(pts), 80.0)  # horizontal only, the 20 px height gap is ignored
    close(g.thigh_length(pts, "left"), 150.0)
    close(g.thigh_length(pts, "right"), NAN)


# ---------------------------------------------------------------------------------------------
# stillness_ratio
# ---------------------------------------------------------------------------------------------

STILL_LMS = [L.LEFT_WRIST, L.RIGHT_WRIST]


def track(frames: int, dt_ms: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    """A standing pose repeated; torso length 180 px."""
    return np.repeat(TEMPLATES["standing"][None, :, :2], frames, axis=0), np.arange(frames) * dt_ms


def test_stillness_of_a_still_pose_is_zero_after_the_first_frame() -> None:
    pts, t = track(5)
    close(g.stillness_ratio(pts, t, 300, STILL_LMS), [NAN, 0, 0, 0, 0])


def test_stillness_is_speed_in_torso_lengths_per_second() -> None:
    pts, t = track(6)
    pts[:, L.LEFT_WRIST, 0] += np.arange(6) * 36.0  # 360 px/s = 2 torso lengths/s
    # RMS over the two wrists, one moving at 2 /s and one still: sqrt((4 + 0) / 2).
    close(g.stillness_ratio(pts, t, 250, STILL_LMS), [NAN, *[np.sqrt(2)] * 5])
    # Alternating steps of 1 and 3 torso/s on both wrists, window of two steps: sqrt((1 + 9) / 2).
    pts, t = track(5)
    pts[:, STILL_LMS, 1] += np.cumsum([0, 18, 54, 18, 54])[:, None]
    close(g.stillness_ratio(pts, t, 200, STILL_LMS), [NAN, 1, np.sqrt(5), np.sqrt(5), np.sqrt(5)])


def test_stillness_window_is_trailing_and_causal() -> None:
    pts, t = track(10)
    pts[:4, L.LEFT_WRIST, 0] += np.arange(4) * 36.0  # moves until frame 3, then holds
    pts[4:, L.LEFT_WRIST, 0] = pts[3, L.LEFT_WRIST, 0]
    out = g.stillness_ratio(pts, t, 300, STILL_LMS)
    assert (out[1:4] > 1).all() and (out[4:6] > 0).all()  # motion still inside the window
    close(out[6:], 0.0)  # steps 1-3 have left the 300 ms window by frame 6
    close(g.stillness_ratio(pts[:5], t[:5], 300, STILL_LMS), out[:5])  # the future changes nothing


def test_stillness_nan_handling() -> None:
    pts, t = track(6)
    pts[2, L.LEFT_WRIST] = np.nan
    out = g.stillness_ratio(pts, t, 500, STILL_LMS)
    close(out, [NAN, 0, NAN, 0, 0, 0])  # NaN only where the wrist is missing now
    assert np.isnan(g.stillness_ratio(np.full((4, 33, 2), np.nan), np.arange(4) * 33, 100, STILL_LMS)).all()
    assert g.stillness_ratio(np.zeros((0, 33, 2)), np.zeros(0), 100, STILL_LMS).shape == (0,)


@pytest.mark.parametrize(
    ("pts", "t", "window", "lms"),
    [
        (np.zeros((33, 2)), np.zeros(()), 100, STILL_LMS),  # one frame: speed needs time
        (np.zeros((3, 33, 2)), np.zeros(2), 100, STILL_LMS),  # times do not match frames
        (np.zeros((3, 33, 2)), np.zeros(3), 0, STILL_LMS),  # empty window
        (np.zeros((3, 33, 2)), np.zeros(3), 100, []),  # no landmarks
    ],
)
def test_stillness_rejects_bad_arguments(pts, t, window, lms) -> None:
    with pytest.raises(ValueError):
        g.stillness_ratio(pts, t, window, lms)


@settings(max_examples=50, deadline=None)
@given(
    hnp.arrays(np.float64, (6, NUM_LANDMARKS, 2), elements=st.floats(-20, 20)),
    st.floats(0.05, 20),
    st.floats(-1e4, 1e4),
)
def test_stillness_invariants(jitter: np.ndarray, scale: float, shift: float) -> None:
    pts, t = track(6, 33.0)
    pts = pts + jitter
    lms = [L.LEFT_WRIST, L.NOSE, L.RIGHT_ANKLE]
    base = g.stillness_ratio(pts, t, 100, lms)
    close(g.stillness_ratio(pts * scale + shift, t, 100, lms), base, 1e-6)
    mirrored_lms = [MIRROR[i] for i in lms]
    close(g.stillness_ratio(mirror(pts, 640.0), t, 100, mirrored_lms), base, 1e-6)


# ---------------------------------------------------------------------------------------------
# hip_to_shoulder_offset_ratio
# ---------------------------------------------------------------------------------------------


def _lying(hip_dy: float, shoulder_dy: float, lift: float = 0.0) -> np.ndarray:
    """One frame of a person lying seen from a raised side camera: far side drawn higher."""
    pts = np.full((33, 2), np.nan)
    pts[Landmark.LEFT_SHOULDER] = (100.0, 300.0)
    pts[Landmark.RIGHT_SHOULDER] = (100.0, 300.0 - shoulder_dy)
    pts[Landmark.LEFT_HIP] = (260.0, 300.0 - lift)
    pts[Landmark.RIGHT_HIP] = (260.0, 300.0 - lift - hip_dy)
    return pts


@pytest.mark.parametrize(
    ("pts", "expected"),
    [
        # Hips offset 30 px, shoulders 48 px: the person's own constant, 0.625.
        (_lying(30.0, 48.0), 0.625),
        # The same pose with the hips lifted 60 px: unchanged (the point of the shoulder yardstick).
        (_lying(30.0, 48.0, lift=60.0), 0.625),
        # Left hip 6 px lower (a drop on the left): the ratio rises.
        (_lying(36.0, 48.0), 0.75),
        # Shoulders level in the image (front or low camera): undefined, NaN.
        (_lying(30.0, 0.0), np.nan),
        # All NaN: NaN.
        (np.full((33, 2), np.nan), np.nan),
    ],
)
def test_hip_to_shoulder_offset_ratio(pts: np.ndarray, expected: float) -> None:
    got = float(g.hip_to_shoulder_offset_ratio(pts))
    if np.isnan(expected):
        assert np.isnan(got)
    else:
        assert got == pytest.approx(expected)


def test_hip_to_shoulder_offset_ratio_ignores_scale_translation_and_mirror() -> None:
    pts = _lying(30.0, 48.0)
    base = float(g.hip_to_shoulder_offset_ratio(pts))
    assert float(g.hip_to_shoulder_offset_ratio(pts * 2.5 + 40.0)) == pytest.approx(base)
    mirrored = pts[list(MIRROR)] * np.array([-1.0, 1.0]) + np.array([640.0, 0.0])
    assert float(g.hip_to_shoulder_offset_ratio(mirrored)) == pytest.approx(base)


def test_hip_to_shoulder_offset_ratio_yardstick_is_the_median_over_frames() -> None:
    # Five frames, one with a shoulder landmark 20 px off: that frame's hips are still measured
    # against the median shoulder offset (48 px), not its own jittered one.
    frames = np.stack([_lying(30.0, 48.0) for _ in range(5)])
    frames[2, Landmark.RIGHT_SHOULDER, 1] -= 20.0
    got = g.hip_to_shoulder_offset_ratio(frames)
    np.testing.assert_allclose(got, np.full(5, 0.625))


# ---------------------------------------------------------------------------------------------
# hip_lowering_ratio
# ---------------------------------------------------------------------------------------------


def squat_track(heights: list[float], dt_ms: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    """Standing poses whose hips sit ``heights`` px above the ankles (ankles at y = 500)."""
    pts, t = track(len(heights), dt_ms)
    pts[:, [L.LEFT_ANKLE, L.RIGHT_ANKLE], 1] = 500.0
    pts[:, [L.LEFT_HIP, L.RIGHT_HIP], 1] = 500.0 - np.asarray(heights)[:, None]
    return pts, t


def test_hip_lowering_is_the_share_of_standing_hip_height_lost() -> None:
    pts, t = squat_track([400, 400, 300, 200, 300, 400])
    close(g.hip_lowering_ratio(pts, t, 10_000), [0, 0, 0.25, 0.5, 0.25, 0])
    # the same squat by a person half the size, elsewhere in the picture: the same values
    small = pts * 0.5 + 40.0
    close(g.hip_lowering_ratio(small, t, 10_000), [0, 0, 0.25, 0.5, 0.25, 0])


def test_hip_lowering_reference_is_the_trailing_window_only() -> None:
    pts, t = squat_track([400, 300, 300, 300, 300])
    out = g.hip_lowering_ratio(pts, t, 250)  # 400 leaves the window after 2.5 frames
    close(out, [0, 0.25, 0.25, 0, 0])
    close(g.hip_lowering_ratio(pts[:3], t[:3], 250), out[:3])  # causal: the future changes nothing


def test_hip_lowering_skips_missing_frames() -> None:
    pts, t = squat_track([400, 400, 200, 400])
    pts[1, L.LEFT_HIP] = np.nan
    close(g.hip_lowering_ratio(pts, t, 10_000), [0, NAN, 0.5, 0])
    with pytest.raises(ValueError, match="window_ms"):
        g.hip_lowering_ratio(pts, t, 0)


def test_hip_lowering_speed_is_standing_heights_per_second() -> None:
    pts, t = squat_track([400, 400, 360, 320, 320, 360])  # 0.1 standing heights per 100 ms frame
    close(g.hip_lowering_speed(pts, t, 10_000, 100), [NAN, 0, 1.0, 1.0, 0, -1.0])
    # a longer lag averages over more frames: 0.2 over 0.2 s
    close(g.hip_lowering_speed(pts, t, 10_000, 200), [NAN, NAN, 0.5, 1.0, 0.5, -0.5])
    with pytest.raises(ValueError, match="lag_ms"):
        g.hip_lowering_speed(pts, t, 10_000, 0)


def test_hip_rise_is_the_lift_above_the_hips_own_rest() -> None:
    # lying on the left side facing the camera: shoulder and ankle 300 px apart, hip resting 10 px up
    pts = np.full((4, NUM_LANDMARKS, 2), np.nan)
    pts[:, L.LEFT_SHOULDER] = (100, 400)
    pts[:, L.LEFT_ANKLE] = (400, 400)
    pts[:, L.LEFT_HIP, 0] = 250
    pts[:, L.LEFT_HIP, 1] = [390, 390, 360, 390]  # rest, rest, 30 px up (0.1 body lengths), rest
    t = np.arange(4) * 1000.0
    close(g.hip_rise_ratio(pts, t, "left", 60_000), [0, 0, 0.1, 0])
    # with a window shorter than the rest before it, the lifted pose becomes its own reference
    close(g.hip_rise_ratio(pts, t, "left", 500), [0, 0, 0, 0])


def test_hip_lift_is_the_sag_taken_out_since_the_hips_rested() -> None:
    # lying on the left side facing the camera: shoulder and ankle 300 px apart on image y = 400;
    # resting, the hip lies 30 px below that line (0.1 body lengths); lifting takes 24 px of it out
    pts = np.full((5, NUM_LANDMARKS, 2), np.nan)
    pts[:, L.LEFT_SHOULDER] = (100, 400)
    pts[:, L.LEFT_ANKLE] = (400, 400)
    pts[:, L.LEFT_HIP, 0] = 250
    pts[:, L.LEFT_HIP, 1] = [430, 430, 406, 370, 430]  # rest, rest, sagging hold, pike, rest
    t = np.arange(5) * 1000.0
    close(g.hip_lift_ratio(pts, t, "left", 60_000), [0, 0, 0.08, 0.2, 0])
    # with a window shorter than the rest before it, the lifted pose becomes its own reference
    close(g.hip_lift_ratio(pts, t, "left", 500), [0, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="window_ms"):
        g.hip_lift_ratio(pts, t, "left", 0)


@settings(max_examples=200, deadline=None)
@given(
    steps=hnp.arrays(np.int64, st.integers(0, 120), elements=st.integers(0, 80)),
    data=st.data(),
    window=st.floats(1.0, 3000.0),
)
def test_trailing_max_matches_a_frame_by_frame_scan(
    steps: np.ndarray, data: st.DataObject, window: float
) -> None:
    """The sparse-table maximum equals a plain scan of each frame's causal window (ties in time included)."""
    t = np.cumsum(steps).astype(np.float64)
    x = data.draw(hnp.arrays(np.float64, t.shape, elements=st.one_of(st.floats(-5, 5), st.just(np.nan))))
    got = g._trailing_max(x, t, window)
    for j in range(t.shape[0]):
        inside = x[: j + 1][(t[: j + 1] > t[j] - window) & np.isfinite(x[: j + 1])]
        if inside.size:
            assert got[j] == inside.max()
        else:
            assert np.isnan(got[j])


@pytest.mark.parametrize("near", ["left", "right"])
def test_side_hip_drop_ratio_rises_when_that_side_drops_whichever_side_is_near(near: str) -> None:
    def frame(left_drop: float, right_drop: float) -> np.ndarray:
        pts = _lying(30.0, 48.0)
        pts[Landmark.LEFT_HIP, 1] += left_drop
        pts[Landmark.RIGHT_HIP, 1] += right_drop
        if near == "right":  # the same body turned the other way: its right side faces the camera
            pts = pts[list(MIRROR)] * np.array([-1.0, 1.0]) + np.array([640.0, 0.0])
        return pts

    level = {s: float(g.side_hip_drop_ratio(frame(0.0, 0.0), s)) for s in ("left", "right")}
    # a 6 px drop of one hip is 6/48 = 0.125 shoulder offsets, on that side's signal only
    for side, pts in (("left", frame(6.0, 0.0)), ("right", frame(0.0, 6.0))):
        if near == "right":
            side = "right" if side == "left" else "left"  # the mirror swapped which hip dropped
        other = "right" if side == "left" else "left"
        assert float(g.side_hip_drop_ratio(pts, side)) - level[side] == pytest.approx(0.125)
        assert float(g.side_hip_drop_ratio(pts, other)) - level[other] == pytest.approx(-0.125)
    assert np.isnan(g.side_hip_drop_ratio(_lying(30.0, 0.0), "left")).all()


def test_midline_hip_angle_deg_reads_the_middle_of_the_body_in_3d() -> None:
    pts = np.full((33, 3), np.nan)
    # Each side bent differently in depth; the midpoints lie on one straight line along x.
    pts[Landmark.LEFT_SHOULDER], pts[Landmark.RIGHT_SHOULDER] = (-0.5, 0.0, 0.2), (-0.5, 0.0, -0.2)
    pts[Landmark.LEFT_HIP], pts[Landmark.RIGHT_HIP] = (0.0, 0.05, 0.1), (0.0, -0.05, -0.1)
    pts[Landmark.LEFT_KNEE], pts[Landmark.RIGHT_KNEE] = (0.45, 0.0, 0.1), (0.45, 0.0, -0.1)
    assert float(g.midline_hip_angle_deg(pts)) == pytest.approx(180.0)
    # Knees raised 0.45 m above the hips (y down, as MediaPipe's world frame): a right angle.
    bent = pts.copy()
    bent[[Landmark.LEFT_KNEE, Landmark.RIGHT_KNEE], :2] = (0.0, -0.45)
    assert float(g.midline_hip_angle_deg(bent)) == pytest.approx(90.0)
    # Left and right swapped (a mirrored body): the same angle.
    assert float(g.midline_hip_angle_deg(bent[list(MIRROR)])) == pytest.approx(90.0)
    missing = bent.copy()
    missing[Landmark.RIGHT_KNEE] = np.nan
    assert np.isnan(g.midline_hip_angle_deg(missing))


@pytest.mark.parametrize(
    ("dx", "dy", "expected"),
    [
        (0.0, 14.0, 0.0),  # toes straight below the heel: pointing at the camera
        (14.0, 14.0, 45.0),  # leaning out as far as down
        (-5.0, 5.0, -45.0),  # turned in
    ],
)
def test_toe_out_deg(dx: float, dy: float, expected: float) -> None:
    pts = np.full((33, 2), np.nan)
    pts[Landmark.LEFT_HIP], pts[Landmark.RIGHT_HIP] = (350.0, 200.0), (290.0, 200.0)  # left on image right
    for side, sign, x in (("LEFT", 1.0, 360.0), ("RIGHT", -1.0, 280.0)):
        pts[Landmark[f"{side}_HEEL"]] = (x, 420.0)
        pts[Landmark[f"{side}_FOOT_INDEX"]] = (x + sign * dx, 420.0 + dy)
    for side in ("left", "right"):
        assert float(g.toe_out_deg(pts, side)) == pytest.approx(expected)  # type: ignore[arg-type]
    assert float(g.toe_out_deg(pts)) == pytest.approx(expected)
    mirrored = pts[list(MIRROR)] * np.array([-1.0, 1.0]) + np.array([640.0, 0.0])
    assert float(g.toe_out_deg(mirrored, "left")) == pytest.approx(expected)
