"""Synthetic sequences with known truth for six exercises: single-leg pelvic lift, ball squat, band
adduction, side plank, pelvic list and isometric squat.

Same idea as :mod:`factories`: a stick figure drawn in image pixels from a few joints per frame,
a real :class:`PoseTrack`, and the truth (rep spans, holds, which rep carries which fault). Every
generator takes ``noise_px`` (gaussian, per joint and axis), ``dropout`` (frame index -> no person)
and a seed. Unilateral generators take the person's working side; front views are drawn for the
left side and mirrored for the right (flip x, swap left and right), so both sides are the same
movement by mirror-image people.

Fault sizes are given in the units the exercise's spec judges, and are injected in proportion to
the rep's progress (full size at the top, nothing at rest), so smoothing cannot smear them into a
neighbouring rep.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from siform.landmarks import by_name
from siform.pose import PoseTrack
from siform.signals.geometry import body_line_deg, pelvic_drop_deg

from factories import FPS, Joints, Truth, W, frame_landmarks, rep_profile, track_from

Dropout = Callable[[int], bool] | None
Rows = list[npt.NDArray[np.float32] | None]

# Front view, standing: the person faces the camera, so their left is image right (larger x).
CX = W / 2
HIP_Y, SHOULDER_Y, KNEE_Y, ANKLE_Y = 250.0, 100.0, 345.0, 440.0
HALF_HIPS, HALF_SHOULDERS = 30.0, 50.0
FOOT_PX = 60.0  # foot length, about the hip width as in people
LEG = ANKLE_Y - HIP_Y


def _swap(name: str) -> str:
    if name.startswith("left_"):
        return "right_" + name[5:]
    if name.startswith("right_"):
        return "left_" + name[6:]
    return name


def mirror_joints(j: Joints) -> Joints:
    """The mirror-image person: x -> W - x, left <-> right."""
    return {_swap(k): np.array([W - v[0], v[1]]) for k, v in j.items()}


def _rot(v: npt.NDArray[np.float64], deg: float) -> npt.NDArray[np.float64]:
    """Rotate an image vector by ``deg`` (positive turns +x towards +y, i.e. clockwise on screen)."""
    a = np.radians(deg)
    return np.array([v[0] * np.cos(a) - v[1] * np.sin(a), v[0] * np.sin(a) + v[1] * np.cos(a)])


class _Frames:
    """Collects rows: noise, dropout, mirroring and visibility applied in one place."""

    def __init__(self, noise_px: float, seed: int, dropout: Dropout, mirror: bool) -> None:
        self.rng = np.random.default_rng(seed)
        self.noise_px, self.dropout, self.mirror = noise_px, dropout, mirror
        self.rows: Rows = []

    def add(self, j: Joints, visibility: dict[str, float] | None = None) -> None:
        i = len(self.rows)
        if self.dropout is not None and self.dropout(i):
            self.rows.append(None)
            return
        if self.mirror:
            j = mirror_joints(j)
            visibility = {_swap(k): v for k, v in (visibility or {}).items()}
        if self.noise_px:
            j = {k: v + self.rng.normal(0.0, self.noise_px, 2) for k, v in j.items()}
        self.rows.append(frame_landmarks(j, visibility))

    def track(self) -> PoseTrack:
        return track_from(self.rows)


def _feet(j: Joints, side: str, outward: float, turn_deg: float) -> None:
    """Heel and foot index for a front view: toes towards the camera, turned out by ``turn_deg``."""
    heel = j[f"{side}_ankle"] + np.array([0.0, 8.0])
    t = np.radians(turn_deg)
    j[f"{side}_heel"] = heel
    j[f"{side}_foot_index"] = heel + np.array([outward * FOOT_PX * np.sin(t), 14.0 * np.cos(t)])


def _lean(j: Joints, deg: float) -> None:
    """Turn the shoulders about the hip midpoint by ``deg`` (positive = image clockwise)."""
    mid = (j["left_hip"] + j["right_hip"]) / 2
    for k in ("left_shoulder", "right_shoulder"):
        j[k] = mid + _rot(j[k] - mid, deg)


def tempo_profile(
    moves: list[tuple[float, float, float]], rest_s: float = 1.0, lead_s: float = 1.5
) -> tuple[npt.NDArray[np.float64], list[tuple[int, int]], list[int]]:
    """Like :func:`factories.rep_profile`, with each rep's (down_s, top_s, up_s) given separately."""
    frames: list[float] = [0.0] * int(lead_s * FPS)
    rep_id: list[int] = [-1] * len(frames)
    spans = []
    for r, (down_s, top_s, up_s) in enumerate(moves):
        start = len(frames)
        n_down, n_up = int(down_s * FPS), int(up_s * FPS)
        frames += [0.5 - 0.5 * np.cos(np.pi * k / n_down) for k in range(n_down)]
        frames += [1.0] * int(top_s * FPS)
        frames += [0.5 + 0.5 * np.cos(np.pi * k / n_up) for k in range(n_up)]
        rep_id += [r] * (len(frames) - start)
        spans.append((start, len(frames) - 1))
        frames += [0.0] * int(rest_s * FPS)
        rep_id += [-1] * int(rest_s * FPS)
    return np.array(frames), spans, rep_id


# ---------------------------------------------------------------------------------------------
# 1. Single-leg pelvic lift (side view, lying)
# ---------------------------------------------------------------------------------------------


def single_leg_lift_side_view(
    working: str = "left",
    reps: int = 6,
    drop_rep: int | None = 1,
    drop_ratio: float = 0.07,
    leg_rep: int | None = 2,
    leg_drop_deg: float = 25.0,
    shallow_rep: int | None = 3,
    raised: bool = True,
    noise_px: float = 0.0,
    seed: int = 0,
    dropout: Dropout = None,
) -> tuple[PoseTrack, Truth]:
    """A single-leg bridge seen from the person's left side (camera raised unless ``raised`` is False).

    The ``working`` leg is held straight, in line with the planted thigh. Faults: the working-side
    hip sags by ``drop_ratio`` thigh lengths at the top of ``drop_rep``; the extended leg drops
    ``leg_drop_deg`` below the thigh line in ``leg_rep``; ``shallow_rep`` lifts only 57% of the way
    (a peak hip angle of about 162 degrees: past the spec's top, short of full extension).
    """
    stance = "right" if working == "left" else "left"
    progress, spans, rep_id = rep_profile(reps)
    thigh, torso, shin = 110.0, 170.0, 100.0
    # A raised camera sees the far side higher in the image (0.38 torso lengths on our renders).
    far_offset = -0.38 * torso if raised else -0.05 * torso
    truth = Truth(rep_frames=spans)
    for r, check in ((drop_rep, "level_pelvis"), (leg_rep, "leg_in_line"), (shallow_rep, "full_extension")):
        if r is not None:
            truth.faults[r] = check
    out = _Frames(noise_px, seed, dropout, mirror=False)
    shoulder = np.array([150.0, 360.0])
    knee = np.array([150.0 + torso + thigh * 0.75, 360.0 - 85.0])
    ankle = knee + np.array([15.0, shin])
    # The planted thigh swings about the knee (a rigid segment, so the far side's offset stays the
    # same in thigh lengths): from the hips on the floor to just above the shoulder-knee line.
    to_floor = np.array([-87.5, 85.0])
    to_line = (shoulder - knee) / np.linalg.norm(shoulder - knee)
    rest_a = np.arctan2(to_floor[1], to_floor[0])
    top_a = np.arctan2(to_line[1], to_line[0]) + np.radians(2.0)
    for i, p in enumerate(progress):
        r = rep_id[i]
        lift = p * (0.57 if r == shallow_rep and r >= 0 else 1.0)
        a = rest_a + lift * (top_a - rest_a)
        hip = knee + np.linalg.norm(to_floor) * np.array([np.cos(a), np.sin(a)])
        along = (knee - hip) / np.linalg.norm(knee - hip)
        along = _rot(along, leg_drop_deg * p if r == leg_rep and r >= 0 else 0.0)
        work_hip = hip + np.array([0.0, drop_ratio * thigh * p if r == drop_rep and r >= 0 else 0.0])
        j: Joints = {
            f"{stance}_hip": hip, f"{stance}_knee": knee, f"{stance}_ankle": ankle,
            f"{working}_hip": work_hip, f"{working}_knee": work_hip + thigh * along,
            f"{working}_ankle": work_hip + (thigh + shin) * along,
            "left_shoulder": shoulder, "right_shoulder": shoulder.copy(),
        }  # fmt: skip
        for k in [k for k in j if k.startswith("right_")]:  # the far side, seen from the left
            j[k] = j[k] + np.array([0.0, far_offset])
        out.add(j, {"right_shoulder": 0.6, "right_hip": 0.6, "right_knee": 0.6, "right_ankle": 0.6})
    return out.track(), truth


# ---------------------------------------------------------------------------------------------
# 2. Ball squat (front view)
# ---------------------------------------------------------------------------------------------

# Values as MediaPipe reads them on the rendered ball squat (sample_videos/ballsquat_front).
BALL_KNEES = 0.84  # knee gap / ankle gap with the ball squeezed
SQUAT_STANDING, SQUAT_BOTTOM = 1.12, 0.79  # thigh_drop_ratio standing and at chair height
TOES_DEG = 6.0  # a relaxed stance: the heel-to-toe line leans out 24 degrees in the image


def ball_squat_front_view(
    reps: int = 6,
    spread_rep: int | None = 1,
    spread_ratio: float = 1.25,
    shallow_rep: int | None = 2,
    shallow_bottom: float = 0.89,
    toes_rep: int | None = 3,
    toes_deg: float = 35.0,
    fast_rep: int | None = 4,
    down_s: float = 2.5,
    fast_down_s: float = 0.3,
    noise_px: float = 0.0,
    seed: int = 0,
    dropout: Dropout = None,
) -> tuple[PoseTrack, Truth]:
    """Squats with a ball between the knees, feet hip-width apart and toes forward (10 degrees out).

    Faults: knees spread to ``spread_ratio`` x the ankle gap (``spread_rep``); a bottom at
    ``shallow_bottom`` instead of :data:`SQUAT_BOTTOM` (``shallow_rep``); feet turned out
    ``toes_deg`` (``toes_rep``); lowering in ``fast_down_s`` instead of ``down_s`` (``fast_rep``).
    """
    moves = [(fast_down_s if r == fast_rep else down_s, 0.5, 1.5) for r in range(reps)]
    progress, spans, rep_id = tempo_profile(moves)
    truth = Truth(rep_frames=spans)
    for r, check in ((spread_rep, "knees_together"), (shallow_rep, "chair_depth"),
                     (toes_rep, "toes_forward"), (fast_rep, "slow_lowering")):  # fmt: skip
        if r is not None:
            truth.faults[r] = check
    out = _Frames(noise_px, seed, dropout, mirror=False)
    shin0 = ANKLE_Y - KNEE_Y
    for i, p in enumerate(progress):
        r = rep_id[i]
        bottom = shallow_bottom if r == shallow_rep and r >= 0 else SQUAT_BOTTOM
        ratio = SQUAT_STANDING - p * (SQUAT_STANDING - bottom)
        shin_h = shin0 * (1.0 - 0.13 * p)  # the shin tilts forward a little
        knee_y = ANKLE_Y - shin_h
        hip_y = knee_y - ratio * shin_h
        sh_y = hip_y - (HIP_Y - SHOULDER_Y) * (1.0 - 0.18 * p)  # the trunk leans forward
        knees = BALL_KNEES + (spread_ratio - BALL_KNEES) * p if r == spread_rep and r >= 0 else BALL_KNEES
        turn = TOES_DEG + (toes_deg - TOES_DEG) * p if r == toes_rep and r >= 0 else TOES_DEG
        j: Joints = {
            "left_shoulder": np.array([CX + HALF_SHOULDERS, sh_y]),
            "right_shoulder": np.array([CX - HALF_SHOULDERS, sh_y]),
            "left_hip": np.array([CX + HALF_HIPS, hip_y]), "right_hip": np.array([CX - HALF_HIPS, hip_y]),
            "left_knee": np.array([CX + HALF_HIPS * knees, knee_y]),
            "right_knee": np.array([CX - HALF_HIPS * knees, knee_y]),
            "left_ankle": np.array([CX + HALF_HIPS, ANKLE_Y]),
            "right_ankle": np.array([CX - HALF_HIPS, ANKLE_Y]),
        }  # fmt: skip
        _feet(j, "left", 1.0, turn)
        _feet(j, "right", -1.0, turn)
        out.add(j)
    return out.track(), truth


# ---------------------------------------------------------------------------------------------
# 3. Band adduction (front view, standing on one leg)
# ---------------------------------------------------------------------------------------------


def band_adduction_front_view(
    working: str = "left",
    reps: int = 6,
    lean_rep: int | None = 1,
    lean_deg: float = 12.0,
    hike_rep: int | None = 2,
    hike_deg: float = 8.0,
    out_ratio: float = 1.25,
    in_ratio: float = -0.7,
    noise_px: float = 0.0,
    seed: int = 0,
    dropout: Dropout = None,
) -> tuple[PoseTrack, Truth]:
    """Standing hip adduction: the working ankle sweeps from ``out_ratio`` hip widths outside its hip
    to ``in_ratio`` (in front of the standing leg) and back, the leg straight.

    Faults: the trunk leans ``lean_deg`` towards the standing leg (``lean_rep``); the working side of
    the pelvis hikes ``hike_deg`` (``hike_rep``).
    """
    progress, spans, rep_id = rep_profile(reps)
    truth = Truth(rep_frames=spans)
    for r, check in ((lean_rep, "trunk_upright"), (hike_rep, "level_pelvis")):
        if r is not None:
            truth.faults[r] = check
    out = _Frames(noise_px, seed, dropout, mirror=working == "right")
    hip_w = 2 * HALF_HIPS
    for i, p in enumerate(progress):  # drawn for working = left (image right), mirrored for right
        r = rep_id[i]
        stance_hip = np.array([CX - HALF_HIPS, HIP_Y])
        hike = hike_deg * p if r == hike_rep and r >= 0 else 0.0
        work_hip = stance_hip + _rot(np.array([hip_w, 0.0]), -hike)  # negative: turns up on screen
        dx = (out_ratio + (in_ratio - out_ratio) * p) * hip_w
        ankle = work_hip + np.array([dx, np.sqrt(LEG**2 - dx**2)])
        j: Joints = {
            "right_hip": stance_hip, "right_knee": np.array([CX - HALF_HIPS, KNEE_Y]),
            "right_ankle": np.array([CX - HALF_HIPS, ANKLE_Y]),
            "left_hip": work_hip, "left_knee": (work_hip + ankle) / 2, "left_ankle": ankle,
            "left_shoulder": np.array([CX + HALF_SHOULDERS, SHOULDER_Y]),
            "right_shoulder": np.array([CX - HALF_SHOULDERS, SHOULDER_Y]),
        }  # fmt: skip
        # Leaning towards the standing leg (image left) is an anticlockwise turn on screen.
        _lean(j, -lean_deg * p if r == lean_rep and r >= 0 else 0.0)
        _feet(j, "left", 1.0, 3.0)
        _feet(j, "right", -1.0, 3.0)
        out.add(j)
    return out.track(), truth


# ---------------------------------------------------------------------------------------------
# 4. Side plank (the person faces the camera while on their side)
# ---------------------------------------------------------------------------------------------

PLANK_INCLINE_DEG = 18.0  # ankles on the floor, shoulder propped on the forearm
PLANK_LEG, PLANK_TORSO = 230.0, 170.0
PLANK_REST_SAG = 0.13  # hips on the floor, in shoulder-ankle lengths


def side_plank_front_view(
    working: str = "left",
    holds_s: tuple[float, ...] = (8.0, 6.0, 7.0),
    sag_hold: int | None = 1,
    sag_ratio: float = 0.075,
    pike_hold: int | None = 2,
    pike_ratio: float = -0.075,
    rest_s: float = 3.0,
    ramp_s: float = 0.6,
    noise_px: float = 0.0,
    seed: int = 0,
    dropout: Dropout = None,
) -> tuple[PoseTrack, Truth]:
    """Side planks on the ``working`` side (the forearm and side on the floor), facing the camera.

    Between holds the person rests with the hips on the floor. Faults: the hips sag ``sag_ratio``
    shoulder-ankle lengths below the line through ``sag_hold``; they pike above it in ``pike_hold``.
    ``truth.hold_s`` is the time the clean figure meets the spec's conditions (body line >= 155
    degrees, lying on the working side), computed from the drawn geometry.
    """
    truth = Truth()
    for h, check in ((sag_hold, "no_sag"), (pike_hold, "straight_line")):
        if h is not None:
            truth.faults[h] = check
    # Drawn for working = left: lying on the left side facing the camera puts the head at image right.
    u = np.array([np.cos(np.radians(PLANK_INCLINE_DEG)), -np.sin(np.radians(PLANK_INCLINE_DEG))])
    down = np.array([-u[1], u[0]])  # perpendicular to the body, pointing to the floor (image down)
    ankle_mid = np.array([110.0, 400.0])
    length = PLANK_LEG + PLANK_TORSO
    half = {"shoulder": 55.0, "ankle": 10.0}
    half["hip"] = half["ankle"] + (half["shoulder"] - half["ankle"]) * PLANK_LEG / length
    half["knee"] = half["ankle"] + (half["hip"] - half["ankle"]) * 0.5

    sag_track: list[float] = [PLANK_REST_SAG] * int(2.0 * FPS)
    hold_of: list[int] = [-1] * len(sag_track)
    n_ramp = int(ramp_s * FPS)
    for h, secs in enumerate(holds_s):
        target = sag_ratio if h == sag_hold else pike_ratio if h == pike_hold else 0.0
        ramp = [PLANK_REST_SAG + (target - PLANK_REST_SAG) * (0.5 - 0.5 * np.cos(np.pi * k / n_ramp))
                for k in range(n_ramp)]  # fmt: skip
        sag_track += ramp + [target] * int(secs * FPS) + ramp[::-1] + [PLANK_REST_SAG] * int(rest_s * FPS)
        hold_of += [h] * (2 * n_ramp + int(secs * FPS)) + [-1] * int(rest_s * FPS)

    out = _Frames(noise_px, seed, dropout, mirror=working == "right")
    in_position = np.zeros(len(holds_s))
    for sag, h in zip(sag_track, hold_of, strict=True):
        centre = {
            "ankle": ankle_mid, "knee": ankle_mid + 0.5 * PLANK_LEG * u, "shoulder": ankle_mid + length * u,
            "hip": ankle_mid + PLANK_LEG * u + sag * length * down,
        }  # fmt: skip
        centre["knee"] = (centre["ankle"] + centre["hip"]) / 2
        j: Joints = {}
        for joint, c in centre.items():
            j[f"left_{joint}"] = c + half[joint] * down  # the side on the floor
            j[f"right_{joint}"] = c - half[joint] * down
        _plank_elbows(j, overhead=0.0)
        if h >= 0:
            pts = np.full((33, 2), np.nan)
            for k, v in j.items():
                pts[by_name(k)] = v
            if body_line_deg(pts, "left") >= 155.0 and pelvic_drop_deg(pts, "left") >= 45.0:
                in_position[h] += 1
        out.add(j)
    truth.hold_s = [float(n / FPS) for n in in_position]
    return out.track(), truth


def _plank_elbows(j: Joints, overhead: float) -> None:
    """Elbows for a person lying on the left side facing the camera (head at image right). The left
    (floor) forearm rests on the mat: its elbow on the floor, level with the left ankle, under the
    shoulder when ``overhead`` is 0 (propped) and an upper arm's length past it, under the head,
    when 1 (lying flat, the arm stretched out as a pillow). The top arm lies along the body."""
    floor_y = j["left_ankle"][1]
    upper_arm = 0.2 * (PLANK_LEG + PLANK_TORSO)
    x = j["left_shoulder"][0] + overhead * upper_arm
    j["left_elbow"] = np.array([x, floor_y])
    j["right_elbow"] = j["right_shoulder"] + 0.4 * (j["right_hip"] - j["right_shoulder"])


def side_lying_front_view(
    working: str = "left",
    plank_s: float = 6.0,
    lie_s: float = 8.0,
    ramp_s: float = 0.6,
    noise_px: float = 0.0,
    seed: int = 0,
) -> tuple[PoseTrack, Truth]:
    """One side plank, then lying down flat on the ``working`` side: not a hold.

    Resting propped on the forearm (2 s, hips on the mat), a clean side plank of ``plank_s``, back to
    the propped rest (1 s), then the shoulder goes down to the mat (over 1 s) and the person lies on
    the side for ``lie_s``: body straight, the floor-side shoulder, hip and ankle all on the floor
    line, the forearm stretched out under the head. ``truth.hold_s`` has the one plank's time in
    position (body line >= 155, on the working side, hips off the floor); the lying adds nothing.
    """
    u_of = lambda deg: np.array([np.cos(np.radians(deg)), -np.sin(np.radians(deg))])  # noqa: E731
    length = PLANK_LEG + PLANK_TORSO
    half = {"shoulder": 55.0, "ankle": 10.0}
    half["hip"] = half["ankle"] + (half["shoulder"] - half["ankle"]) * PLANK_LEG / length
    half["knee"] = (half["hip"] + half["ankle"]) / 2
    # Lying flat the floor-side joints all touch the floor: the body's centre line rises towards the
    # head by the growth of the half widths (shoulder 55 px over ankle 10 px along 400 px).
    flat_deg = float(np.degrees(np.arctan((half["shoulder"] - half["ankle"]) / length)))
    ankle_mid = np.array([110.0, 400.0])
    n_ramp = int(ramp_s * FPS)

    def ease(k: int, n: int) -> float:
        return float(0.5 - 0.5 * np.cos(np.pi * k / n))

    # (incline, sag, overhead, in the plank) per frame
    resting = (PLANK_INCLINE_DEG, PLANK_REST_SAG, 0.0, False)
    poses: list[tuple[float, float, float, bool]] = [resting] * int(2 * FPS)
    up = [(PLANK_INCLINE_DEG, PLANK_REST_SAG * (1 - ease(k, n_ramp)), 0.0, True) for k in range(n_ramp)]
    poses += up + [(PLANK_INCLINE_DEG, 0.0, 0.0, True)] * int(plank_s * FPS) + up[::-1]
    poses += [resting] * int(1 * FPS)
    n_down = int(1 * FPS)
    for k in range(n_down):
        w = ease(k, n_down)
        incline = PLANK_INCLINE_DEG + (flat_deg - PLANK_INCLINE_DEG) * w
        poses.append((incline, PLANK_REST_SAG * (1 - w), w, False))
    poses += [(flat_deg, 0.0, 1.0, False)] * int(lie_s * FPS)

    out = _Frames(noise_px, seed, None, mirror=working == "right")
    held = 0
    for incline, sag, overhead, planking in poses:
        u = u_of(incline)
        down = np.array([-u[1], u[0]])
        centre = {
            "ankle": ankle_mid, "shoulder": ankle_mid + length * u,
            "hip": ankle_mid + PLANK_LEG * u + sag * length * down,
        }  # fmt: skip
        centre["knee"] = (centre["ankle"] + centre["hip"]) / 2
        j: Joints = {}
        for joint, c in centre.items():
            j[f"left_{joint}"] = c + half[joint] * down
            j[f"right_{joint}"] = c - half[joint] * down
        _plank_elbows(j, overhead)
        if planking:
            pts = np.full((33, 2), np.nan)
            for k, v in j.items():
                pts[by_name(k)] = v
            held += int(body_line_deg(pts, "left") >= 155.0 and pelvic_drop_deg(pts, "left") >= 45.0)
        out.add(j)
    truth = Truth()
    truth.hold_s = [held / FPS]
    return out.track(), truth


# ---------------------------------------------------------------------------------------------
# 5. Pelvic list (hip hitch; front view, standing on one leg)
# ---------------------------------------------------------------------------------------------


def pelvic_list_front_view(
    working: str = "left",
    reps: int = 6,
    drop_deg: float = 10.0,
    lean_rep: int | None = 1,
    lean_deg: float = 12.0,
    knee_rep: int | None = 2,
    knee_deg: float = 150.0,
    noise_px: float = 0.0,
    seed: int = 0,
    dropout: Dropout = None,
) -> tuple[PoseTrack, Truth]:
    """Standing on the stance leg, the free (``working``) side of the pelvis drops ``drop_deg`` and
    lifts back to level; the free foot hangs just off the floor.

    Faults: the trunk leans ``lean_deg`` towards the standing leg (``lean_rep``); the standing knee
    gives way inwards to an image angle of ``knee_deg`` (``knee_rep``).
    """
    progress, spans, rep_id = rep_profile(reps)
    truth = Truth(rep_frames=spans)
    for r, check in ((lean_rep, "trunk_upright"), (knee_rep, "stance_knee_straight")):
        if r is not None:
            truth.faults[r] = check
    out = _Frames(noise_px, seed, dropout, mirror=working == "right")
    thigh = KNEE_Y - HIP_Y
    buckle_px = thigh * np.tan(np.radians((180.0 - knee_deg) / 2))
    for i, p in enumerate(progress):  # drawn for working = left (image right), mirrored for right
        r = rep_id[i]
        stance_hip = np.array([CX - HALF_HIPS, HIP_Y])
        work_hip = stance_hip + _rot(np.array([2 * HALF_HIPS, 0.0]), drop_deg * p)  # turns down
        buckle = buckle_px * p if r == knee_rep and r >= 0 else 0.0
        j: Joints = {
            "right_hip": stance_hip, "right_knee": np.array([CX - HALF_HIPS + buckle, KNEE_Y]),
            "right_ankle": np.array([CX - HALF_HIPS, ANKLE_Y]),
            "left_hip": work_hip, "left_knee": work_hip + np.array([0.0, thigh]),
            "left_ankle": work_hip + np.array([2.0, LEG - 12.0]),
            "left_shoulder": np.array([CX + HALF_SHOULDERS, SHOULDER_Y]),
            "right_shoulder": np.array([CX - HALF_SHOULDERS, SHOULDER_Y]),
        }  # fmt: skip
        _lean(j, -lean_deg * p if r == lean_rep and r >= 0 else 0.0)
        _feet(j, "left", 1.0, 3.0)
        _feet(j, "right", -1.0, 3.0)
        out.add(j)
    return out.track(), truth


# ---------------------------------------------------------------------------------------------
# 6. Isometric squat (side view)
# ---------------------------------------------------------------------------------------------


def isometric_squat_side_view(
    holds_s: tuple[float, ...] = (7.0, 6.0, 6.0, 6.0),
    knee_deg: float = 95.0,
    hip_deg: float = 80.0,
    lean_hold: int | None = 1,
    lean_hip_deg: float = 45.0,
    bob_hold: int | None = 2,
    bob_deg: float = 8.0,
    bob_hz: float = 1.5,
    shallow_hold: int | None = 3,
    shallow_knee_deg: float = 132.0,
    rest_s: float = 3.0,
    ramp_s: float = 1.0,
    noise_px: float = 0.0,
    seed: int = 0,
    dropout: Dropout = None,
) -> tuple[PoseTrack, Truth]:
    """Squat holds seen from the person's left side (low camera), standing up between holds.

    At depth the knee angle is ``knee_deg`` and the hip angle ``hip_deg``. Faults: the trunk leans
    forward to a hip angle of ``lean_hip_deg`` (``lean_hold``); the body bobs ``bob_deg`` of knee angle
    at ``bob_hz`` (``bob_hold``); the hold is at ``shallow_knee_deg`` (``shallow_hold``).
    ``truth.hold_s`` counts the frames whose drawn knee angle is within the spec's 60-140 degrees.
    """
    truth = Truth()
    for h, check in ((lean_hold, "trunk_upright"), (bob_hold, "still"), (shallow_hold, "knee_depth")):
        if h is not None:
            truth.faults[h] = check
    p_track: list[float] = [0.0] * int(1.5 * FPS)
    hold_of: list[int] = [-1] * len(p_track)
    n_ramp = int(ramp_s * FPS)
    ramp = [0.5 - 0.5 * np.cos(np.pi * k / n_ramp) for k in range(n_ramp)]
    for h, secs in enumerate(holds_s):
        p_track += ramp + [1.0] * int(secs * FPS) + ramp[::-1] + [0.0] * int(rest_s * FPS)
        hold_of += [h] * (2 * n_ramp + int(secs * FPS)) + [-1] * int(rest_s * FPS)
    out = _Frames(noise_px, seed, dropout, mirror=False)
    shin, thigh, torso = ANKLE_Y - KNEE_Y, KNEE_Y - HIP_Y, HIP_Y - SHOULDER_Y
    ankle = np.array([330.0, ANKLE_Y])
    in_position = np.zeros(len(holds_s))
    for i, (p, h) in enumerate(zip(p_track, hold_of, strict=True)):
        k_target = shallow_knee_deg if h == shallow_hold else knee_deg
        h_target = lean_hip_deg if h == lean_hold else hip_deg
        knee_a = 180.0 - p * (180.0 - k_target)
        if h == bob_hold and h >= 0:
            knee_a += p * bob_deg * np.sin(2 * np.pi * bob_hz * i / FPS)
        hip_a = 180.0 - p * (180.0 - h_target)
        shin_tilt = 15.0 * p
        down = np.array([-np.sin(np.radians(shin_tilt)), np.cos(np.radians(shin_tilt))])  # knee -> ankle
        knee = ankle - shin * down
        to_hip = _rot(down, knee_a)
        hip = knee + thigh * to_hip
        shoulder = hip + torso * _rot(-to_hip, -hip_a)
        if h >= 0 and 60.0 <= knee_a <= 140.0:
            in_position[h] += 1
        far = np.array([2.0, -2.0])  # low camera: the far side nearly hidden behind the near one
        j: Joints = {
            "left_shoulder": shoulder, "left_hip": hip, "left_knee": knee, "left_ankle": ankle,
            "right_shoulder": shoulder + far, "right_hip": hip + far, "right_knee": knee + far,
            "right_ankle": ankle + far,
        }  # fmt: skip
        out.add(j, {"right_shoulder": 0.6, "right_hip": 0.6, "right_knee": 0.6, "right_ankle": 0.6})
    truth.hold_s = [float(n / FPS) for n in in_position]
    return out.track(), truth
