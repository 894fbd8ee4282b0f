"""Synthetic sequences for lying, kneeling and stretching exercises, with known truth.

Unlike :mod:`factories`, which draws the figure straight in pixels, these poses are built in 3-D
and projected, because what the camera sees (a clamshell's pelvis rolling back, knees apart seen
from the side) depends on where it stands:

- a pose is a dict of joints in the body's own frame, in centimetres: ``a`` towards the head,
  ``u`` the way the front of the body faces, ``l`` towards the person's left (``a = u x l``);
- :func:`place` puts it in the world (X image right, Y up, Z towards the camera) by saying where
  ``u`` and ``l`` point;
- :func:`project` is an orthographic camera tilted down by ``elevation_deg``: image
  ``x = cx + s X``, ``y = cy + s (-Y cos e + Z sin e)`` (nearer points appear lower).

Hold exercises share :class:`HoldPlan` (hold lengths, a brief break within the grace period, a
longer break that splits a hold, leaving the frame, the faulty hold) and :func:`hold_timeline`,
which also works out the truth: the time in position of every hold the timer should report.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from siform.pose import PoseTrack

from factories import FPS, Joints, Truth, frame_landmarks, rep_profile, track_from

Vec = npt.NDArray[np.float64]
Pose = dict[str, Vec]
"""Joint name -> ``(a, u, l)`` in cm, in the body's frame."""
Dropout = Callable[[int], bool] | None

# Joint-centre dimensions of an adult, in cm.
HIP_HALF, SHOULDER_HALF, TORSO, THIGH, SHIN, NECK = 12.0, 18.0, 50.0, 42.0, 40.0, 16.0
_SIDES = ("left", "right")
_JOINTS = ("shoulder", "hip", "knee", "ankle")


def v(a: float, u: float, l: float) -> Vec:  # noqa: E741
    return np.array([a, u, l], dtype=np.float64)


def other(side: str) -> str:
    return "right" if side == "left" else "left"


def lsign(side: str) -> float:
    """+1 for the person's left (``l`` axis), -1 for their right."""
    return 1.0 if side == "left" else -1.0


def smooth(x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """0 -> 1 cosine step over x in [0, 1]."""
    return np.asarray(0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0)), dtype=np.float64)


def rotate(p: Vec, origin: Vec, axis: Vec, deg: float) -> Vec:
    """Rodrigues rotation of point ``p`` about the line through ``origin`` along ``axis``."""
    k = axis / np.linalg.norm(axis)
    r = p - origin
    t = math.radians(deg)
    return origin + r * math.cos(t) + np.cross(k, r) * math.sin(t) + k * np.dot(k, r) * (1 - math.cos(t))


def sagittal_leg(hip: Vec, flex_deg: float, knee_flex_deg: float) -> tuple[Vec, Vec]:
    """Knee and ankle of a leg moving in its sagittal plane (``l`` kept): lying on the back or
    standing. Hip flexion turns the thigh from pointing to the feet (-a) towards the front (+u);
    knee flexion turns the shin back from the thigh's line."""
    phi = math.radians(flex_deg)
    psi = phi - math.radians(knee_flex_deg)
    knee = hip + THIGH * v(-math.cos(phi), math.sin(phi), 0.0)
    return knee, knee + SHIN * v(-math.cos(psi), math.sin(psi), 0.0)


def pelvis_and_shoulders() -> Pose:
    pose = {}
    for side in _SIDES:
        s = lsign(side)
        pose[f"{side}_hip"] = v(0.0, 0.0, s * HIP_HALF)
        pose[f"{side}_shoulder"] = v(TORSO, 0.0, s * SHOULDER_HALF)
    return pose


def blend(p0: Pose, p1: Pose, w: float) -> Pose:
    return {k: (1.0 - w) * p0[k] + w * p1[k] for k in p0}


def place(u_world: tuple[float, float, float], l_world: tuple[float, float, float]) -> Callable[[Pose], Pose]:
    """Body frame -> world (X right, Y up, Z towards the camera), given where the body's ``u`` and
    ``l`` axes point; the pelvis centre is the origin."""
    u_w, l_w = np.array(u_world, dtype=np.float64), np.array(l_world, dtype=np.float64)
    m = np.stack([np.cross(u_w, l_w), u_w, l_w], axis=1)
    return lambda pose: {k: m @ p for k, p in pose.items()}


@dataclass(frozen=True)
class Camera:
    elevation_deg: float
    scale: float = 3.0
    """Pixels per cm."""
    centre: tuple[float, float] = (320.0, 300.0)
    """Where the pelvis centre appears."""

    def project(self, world: Pose) -> Joints:
        e = math.radians(self.elevation_deg)
        cx, cy = self.centre
        return {
            k: np.array(
                [cx + self.scale * p[0], cy + self.scale * (-p[1] * math.cos(e) + p[2] * math.sin(e))]
            )
            for k, p in world.items()
        }


def visibility(far: str | None, far_vis: float = 0.6) -> dict[str, float]:
    """The far side's main joints reported less visible (None: everything fully visible)."""
    if far is None:
        return {}
    return {f"{far}_{j}": far_vis for j in _JOINTS}


def render(
    poses: list[Pose | None],
    to_world: Callable[[Pose], Pose],
    camera: Camera,
    vis: dict[str, float],
    noise_px: float,
    seed: int,
    dropout: Dropout,
) -> PoseTrack:
    """Project each frame's pose (None = nobody in view), add pixel noise, drop frames."""
    rng = np.random.default_rng(seed)
    rows: list[npt.NDArray[np.float32] | None] = []
    for i, pose in enumerate(poses):
        if pose is None or (dropout is not None and dropout(i)):
            rows.append(None)
            continue
        joints = camera.project(to_world(pose))
        if noise_px:
            joints = {k: p + rng.normal(0.0, noise_px, 2) for k, p in joints.items()}
        rows.append(frame_landmarks(joints, vis))
    return track_from(rows)


# ---------------------------------------------------------------------------------------------
# Placements
# ---------------------------------------------------------------------------------------------


def supine_side(near: str) -> Callable[[Pose], Pose]:
    """Lying on the back, seen from the ``near`` side (head to image right when the left is near)."""
    return place((0, 1, 0), (0, 0, lsign(near)))


supine_feet = place((0, 1, 0), (1, 0, 0))
"""Lying on the back, seen from the feet: the head away from the camera, the left on image right."""


def side_lying_front(top: str) -> Callable[[Pose], Pose]:
    """Lying on one side with the ``top`` side up, front of the body facing the camera."""
    return place((0, 0, 1), (0, lsign(top), 0))


def standing_side(near: str) -> Callable[[Pose], Pose]:
    """Standing, seen from the ``near`` side."""
    return place((-lsign(near), 0, 0), (0, 0, lsign(near)))


def all_fours_side(near: str) -> Callable[[Pose], Pose]:
    """On hands and knees (front of the body facing the floor), seen from the ``near`` side."""
    return place((0, -1, 0), (0, 0, lsign(near)))


# ---------------------------------------------------------------------------------------------
# Hold timelines
# ---------------------------------------------------------------------------------------------

Event = tuple[int, float, float]
"""(hold index, seconds after the hold starts, duration in seconds)."""


@dataclass(frozen=True)
class HoldPlan:
    """When the person is in position. Durations are from mid-ramp to mid-ramp (where the
    position is half reached), which is where the spec thresholds sit."""

    holds_s: tuple[float, ...] = (30.0, 30.0, 30.0, 30.0)
    wobble: Event | None = (1, 10.0, 0.4)
    """A brief break, shorter than the spec's grace period: the hold goes on, minus this time."""
    long_break: Event | None = (3, 12.0, 2.5)
    """A break longer than the grace period: the hold ends and a new one starts afterwards."""
    leave: Event | None = None
    """The person is out of the frame (no pose): the hold ends; a new one starts on return."""
    fault_hold: int | None = 2
    rest_s: float = 4.0
    lead_s: float = 2.0
    ramp_s: float = 0.4
    break_ramp_s: float = 0.2


@dataclass
class HoldTimeline:
    p: npt.NDArray[np.float64]
    """0 out of position .. 1 in position."""
    brk: npt.NDArray[np.float64]
    """0 .. 1: how far into the break posture."""
    gone: npt.NDArray[np.bool_]
    hold: npt.NDArray[np.int64]
    """Plan hold index per frame, -1 between holds."""
    held_s: list[float] = field(default_factory=list)
    """Truth: time in position of each hold the timer should report, in order."""
    reported: dict[int, list[int]] = field(default_factory=dict)
    """Plan hold index -> indices in ``held_s``."""


def hold_timeline(plan: HoldPlan) -> HoldTimeline:
    starts = []
    t = plan.lead_s + plan.ramp_s
    for d in plan.holds_s:
        starts.append(t)
        t += d + plan.rest_s
    n = round((t + plan.lead_s) * FPS)
    ts = np.arange(n) / FPS
    p = np.zeros(n)
    hold = np.full(n, -1, dtype=np.int64)
    for k, (s, d) in enumerate(zip(starts, plan.holds_s, strict=True)):
        r = plan.ramp_s
        p += smooth((ts - (s - r / 2)) / r) - smooth((ts - (s + d - r / 2)) / r)
        hold[(ts >= s - r / 2) & (ts < s + d + r / 2)] = k
    brk = np.zeros(n)
    gone = np.zeros(n, dtype=bool)
    for event in (plan.wobble, plan.long_break):
        if event is not None:
            k, at, dur = event
            s, r = starts[k] + at, plan.break_ramp_s
            brk += smooth((ts - (s - r / 2)) / r) - smooth((ts - (s + dur - r / 2)) / r)
    if plan.leave is not None:
        k, at, dur = plan.leave
        gone = (ts >= starts[k] + at) & (ts < starts[k] + at + dur)
    timeline = HoldTimeline(p, brk, gone, hold)
    for k, d in enumerate(plan.holds_s):
        pieces = [d]
        if plan.wobble is not None and plan.wobble[0] == k:
            pieces = [d - plan.wobble[2]]
        for event in (plan.long_break, plan.leave):
            if event is not None and event[0] == k:
                pieces = [event[1], d - event[1] - event[2]]
        timeline.reported[k] = list(range(len(timeline.held_s), len(timeline.held_s) + len(pieces)))
        timeline.held_s += pieces
    return timeline


def hold_truth(plan: HoldPlan, timeline: HoldTimeline, check_id: str) -> Truth:
    truth = Truth(hold_s=list(timeline.held_s))
    if plan.fault_hold is not None:
        for idx in timeline.reported[plan.fault_hold]:
            truth.faults[idx] = check_id
    return truth


def _hold_poses(
    plan: HoldPlan, pose_at: Callable[[float, float, float], Pose]
) -> tuple[list[Pose | None], HoldTimeline]:
    """``pose_at(p, brk, fault)`` per frame; fault is 1 inside the faulty hold, else 0."""
    tl = hold_timeline(plan)
    poses: list[Pose | None] = []
    for i in range(len(tl.p)):
        fault = 1.0 if plan.fault_hold is not None and tl.hold[i] == plan.fault_hold else 0.0
        poses.append(None if tl.gone[i] else pose_at(float(tl.p[i]), float(tl.brk[i]), fault))
    return poses, tl


SHORT_HOLDS = HoldPlan(
    holds_s=(5.0, 5.0, 5.0, 5.0, 8.0, 5.0),
    wobble=(1, 2.0, 0.3),
    long_break=(4, 3.0, 1.5),
    fault_hold=2,
    rest_s=3.0,
)
"""Repeated 5-second holds (pillow squeeze, band abduction): grace 0.5 s, min hold 2 s."""


# ---------------------------------------------------------------------------------------------
# 1. Clamshell: side-lying, raised camera in front of the person
# ---------------------------------------------------------------------------------------------


def clamshell_front_view(
    reps: int = 6,
    side: str = "right",
    roll_rep: int | None = 3,
    roll_deg: float = 20.0,
    open_deg: float = 45.0,
    shallow_rep: int | None = None,
    shallow_frac: float = 0.6,
    elevation_deg: float = 25.0,
    noise_px: float = 0.0,
    seed: int = 0,
    dropout: Dropout = None,
) -> tuple[PoseTrack, Truth]:
    """Clamshells on the ``side`` leg (the top one), filmed from in front, camera raised.

    Hips flexed 50 degrees, knees 90, feet together; the top knee turns ``open_deg`` about the line
    from its hip to its ankle. In ``roll_rep`` the pelvis and top leg also roll back (top hip away
    from the camera) by ``roll_deg`` at the top;
    ``shallow_rep`` opens only ``shallow_frac`` as far (a partial attempt).
    """
    progress, spans, rep_id = rep_profile(reps)
    truth = Truth(rep_frames=spans)
    if roll_rep is not None:
        truth.faults[roll_rep] = "pelvis_stacked"
    top, bottom = side, other(side)
    base = pelvis_and_shoulders()
    for s in _SIDES:
        sg = lsign(s)
        base[f"{s}_knee"] = v(-27.0, 32.2, sg * 6.0)
        base[f"{s}_ankle"] = v(-57.6, 6.5, sg * 5.0)
    up = lsign(top)  # the top side's direction along l
    poses: list[Pose | None] = []
    for i, p in enumerate(progress):
        r = rep_id[i]
        pose = {k: x.copy() for k, x in base.items()}
        hip, ankle = pose[f"{top}_hip"], pose[f"{top}_ankle"]
        amount = p * (shallow_frac if r == shallow_rep and r >= 0 else 1.0)
        # Turn the knee about hip -> ankle, towards the top side (pick the sense that lifts it).
        cand = [rotate(pose[f"{top}_knee"], hip, ankle - hip, sgn * open_deg * amount) for sgn in (1, -1)]
        pose[f"{top}_knee"] = max(cand, key=lambda k: up * k[2])
        if r == roll_rep and r >= 0:
            # Roll back about the long axis through the bottom hip: the top hip moves to -u.
            pivot = pose[f"{bottom}_hip"]
            for j in ("hip", "knee"):
                cand = [rotate(pose[f"{top}_{j}"], pivot, v(1, 0, 0), sgn * roll_deg * p) for sgn in (1, -1)]
                pose[f"{top}_{j}"] = min(cand, key=lambda k: k[1])
        poses.append(pose)
    track = render(
        poses, side_lying_front(top), Camera(elevation_deg, 3.0, (320.0, 260.0)),
        visibility(bottom, 0.75), noise_px, seed, dropout,
    )  # fmt: skip
    return track, truth


# ---------------------------------------------------------------------------------------------
# 2-3. Lying on the back, knees bent: pillow squeeze and band abduction
# ---------------------------------------------------------------------------------------------


def hook_lying(knee_half: float, feet_half: float = HIP_HALF, hip_flex: float = 45.0) -> Pose:
    """On the back, hips flexed ``hip_flex``, feet flat; knees ``knee_half`` cm either side of the
    midline (moved sideways about the hip -> ankle line, so thighs and shins keep their length)."""
    pose = pelvis_and_shoulders()
    for s in _SIDES:
        sg = lsign(s)
        hip = pose[f"{s}_hip"]
        knee, ankle = sagittal_leg(hip, hip_flex, 2 * hip_flex)  # shin back down to the floor
        ankle = ankle + v(0, 0, sg * (feet_half - HIP_HALF))
        knee = knee + v(0, 0, sg * (feet_half - HIP_HALF))
        # Swing the knee sideways about hip -> ankle until it sits knee_half from the midline.
        best = knee
        for deg in np.linspace(-80, 80, 641):
            cand = rotate(knee, hip, ankle - hip, float(deg))
            if abs(sg * cand[2] - knee_half) < abs(sg * best[2] - knee_half):
                best = cand
        pose[f"{s}_knee"], pose[f"{s}_ankle"] = best, ankle
    return pose


def roll_pelvis(pose: Pose, deg: float) -> Pose:
    """Roll the hips (and knees with them) about the long axis; positive lifts the left hip."""
    out = dict(pose)
    for s in _SIDES:
        for j in ("hip", "knee"):
            out[f"{s}_{j}"] = rotate(pose[f"{s}_{j}"], v(0, 0, 0), v(1, 0, 0), -deg)
    return out


def lift_pelvis(pose: Pose, cm: float) -> Pose:
    out = dict(pose)
    for s in _SIDES:
        out[f"{s}_hip"] = pose[f"{s}_hip"] + v(0, cm, 0)
    return out


def pillow_squeeze_side_view(
    plan: HoldPlan = SHORT_HOLDS,
    near: str = "left",
    lift_cm: float = 10.0,
    elevation_deg: float = 30.0,
    noise_px: float = 0.0,
    seed: int = 0,
    dropout: Dropout = None,
) -> tuple[PoseTrack, Truth]:
    """Pillow squeezes seen from a raised side camera.

    Squeezing, the knee centres are 16 cm apart (the pillow compressed); relaxed between squeezes,
    22 cm (hips: 24 cm). A break lets the knees part to 24 cm. In the faulty hold the pelvis lifts
    ``lift_cm`` off the mat (pushing through the feet while squeezing).
    """
    squeeze, relaxed, apart = hook_lying(8.0), hook_lying(11.0), hook_lying(12.5)

    def pose_at(p: float, b: float, fault: float) -> Pose:
        pose = blend(blend(relaxed, squeeze, p), apart, b)
        return lift_pelvis(pose, lift_cm * fault * p)

    poses, tl = _hold_poses(plan, pose_at)
    track = render(
        poses, supine_side(near), Camera(elevation_deg), visibility(other(near)), noise_px, seed, dropout
    )
    return track, hold_truth(plan, tl, "hips_down")


def band_abduction_feet_view(
    plan: HoldPlan = SHORT_HOLDS,
    roll_deg: float = 12.0,
    elevation_deg: float = 45.0,
    noise_px: float = 0.0,
    seed: int = 0,
    dropout: Dropout = None,
    from_side: str | None = None,
) -> tuple[PoseTrack, Truth]:
    """Band abduction filmed from the feet, camera raised (or from the ``from_side`` side).

    Pushing, the knee centres are 48 cm apart (hips 24); relaxed, 22 cm; a break lets them come
    back to 26 cm. In the faulty hold the pelvis rolls ``roll_deg`` (left hip up).
    """
    push, relaxed, sag = hook_lying(24.0), hook_lying(11.0), hook_lying(13.0)

    def pose_at(p: float, b: float, fault: float) -> Pose:
        return roll_pelvis(blend(blend(relaxed, push, p), sag, b), roll_deg * fault * p)

    poses, tl = _hold_poses(plan, pose_at)
    if from_side is None:
        to_world, cam, vis = supine_feet, Camera(elevation_deg, 3.0, (320.0, 240.0)), {}
    else:
        to_world, cam, vis = supine_side(from_side), Camera(30.0), visibility(other(from_side))
    track = render(poses, to_world, cam, vis, noise_px, seed, dropout)
    return track, hold_truth(plan, tl, "pelvis_level" if from_side is None else "pelvis_level_side")


# ---------------------------------------------------------------------------------------------
# 4. Cat-cow on all fours, side view
# ---------------------------------------------------------------------------------------------

CAT_DEG, COW_DEG = 60.0, -35.0


def cat_cow_side_view(
    reps: int = 6,
    shallow_rep: int | None = 2,
    shallow_peak_deg: float = 40.0,
    near: str = "left",
    elevation_deg: float = 10.0,
    noise_px: float = 0.0,
    seed: int = 0,
    dropout: Dropout = None,
) -> tuple[PoseTrack, Truth]:
    """Cat-cow waves from cow (head up, ``COW_DEG``) to cat (head tucked, ``CAT_DEG``) and back.

    The neck (shoulder -> ear) turns against the trunk line; the back itself has no landmarks, so
    hips and shoulders stay put, as they do on hands and knees. ``shallow_rep`` only drops the head
    to ``shallow_peak_deg``.
    """
    progress, spans, rep_id = rep_profile(reps)
    truth = Truth(rep_frames=spans)
    if shallow_rep is not None:
        truth.faults[shallow_rep] = "full_range"
    poses: list[Pose | None] = []
    for i, p in enumerate(progress):
        r = rep_id[i]
        peak = shallow_peak_deg if r == shallow_rep and r >= 0 else CAT_DEG
        h = math.radians(COW_DEG + p * (peak - COW_DEG))
        pose = pelvis_and_shoulders()
        for s in _SIDES:
            sg = lsign(s)
            hip, sh = pose[f"{s}_hip"], pose[f"{s}_shoulder"]
            pose[f"{s}_knee"] = hip + v(0, THIGH, 0)  # +u is the belly side: the floor
            pose[f"{s}_ankle"] = hip + v(-SHIN, THIGH, 0)
            pose[f"{s}_elbow"] = sh + v(0, 22, 0)
            pose[f"{s}_wrist"] = sh + v(0, 44, 0)
            # Ear: the neck turned h below the trunk's line (towards the floor, +u is the belly).
            pose[f"{s}_ear"] = v(TORSO + NECK * math.cos(h), NECK * math.sin(h), sg * 7.0)
        pose["nose"] = v(TORSO + 1.3 * NECK * math.cos(h + 0.3), 1.3 * NECK * math.sin(h + 0.3), 0.0)
        poses.append(pose)
    track = render(
        poses, all_fours_side(near), Camera(elevation_deg, 3.0, (320.0, 220.0)),
        visibility(other(near)), noise_px, seed, dropout,
    )  # fmt: skip
    return track, truth


# ---------------------------------------------------------------------------------------------
# 5. Thirty-second stretches
# ---------------------------------------------------------------------------------------------

STRETCH = HoldPlan()
"""Four 30-s holds: a 0.4 s wobble in the 2nd, a fault in the 3rd, a 2.5 s break splitting the 4th."""
QUICK_STRETCH = HoldPlan(
    holds_s=(6.0, 6.0, 6.0, 14.0), wobble=(1, 3.0, 0.4), long_break=(3, 6.0, 2.0), rest_s=2.5
)
"""The same events in 6-s holds (the timer does not care about the prescription): quicker tests."""


def _lying_legs(pose: Pose, side: str, flex: float, knee_flex: float) -> None:
    pose[f"{side}_knee"], pose[f"{side}_ankle"] = sagittal_leg(pose[f"{side}_hip"], flex, knee_flex)


def hamstring_stretch_side_view(
    side: str = "left",
    plan: HoldPlan = STRETCH,
    bent_knee_deg: float = 40.0,
    noise_px: float = 0.0,
    seed: int = 0,
    dropout: Dropout = None,
) -> tuple[PoseTrack, Truth]:
    """On the back, the ``side`` leg raised straight to 75 degrees of hip flexion, the other flat;
    camera raised on the same side. Between holds the leg lies flat; a break lowers it to 20
    degrees. In the faulty hold the knee bends ``bent_knee_deg``."""

    def pose_at(p: float, b: float, fault: float) -> Pose:
        pose = pelvis_and_shoulders()
        _lying_legs(pose, other(side), 0.0, 0.0)
        flex = 75.0 * p - 55.0 * b
        _lying_legs(pose, side, flex, 5.0 + bent_knee_deg * fault * p)
        return pose

    poses, tl = _hold_poses(plan, pose_at)
    track = render(poses, supine_side(side), Camera(30.0), visibility(other(side)), noise_px, seed, dropout)
    return track, hold_truth(plan, tl, "knee_straight")


def standing_thigh_stretch_side_view(
    side: str = "left",
    plan: HoldPlan = STRETCH,
    knee_forward_deg: float = 35.0,
    noise_px: float = 0.0,
    seed: int = 0,
    dropout: Dropout = None,
) -> tuple[PoseTrack, Truth]:
    """Standing, the ``side`` heel pulled to the buttock (knee flexed 140), seen from that side at
    hip height. Between holds both feet are down; a break lets the foot down to 70 degrees of knee
    flexion. In the faulty hold the bent leg's hip flexes ``knee_forward_deg`` (knee forward)."""

    def pose_at(p: float, b: float, fault: float) -> Pose:
        pose = pelvis_and_shoulders()
        _lying_legs(pose, other(side), 0.0, 0.0)
        _lying_legs(pose, side, knee_forward_deg * fault * p, 140.0 * p - 70.0 * b)
        return pose

    poses, tl = _hold_poses(plan, pose_at)
    cam = Camera(5.0, 2.6, (320.0, 230.0))
    track = render(poses, standing_side(side), cam, visibility(other(side)), noise_px, seed, dropout)
    return track, hold_truth(plan, tl, "thighs_together")


def lying_glute_stretch_side_view(
    side: str = "left",
    plan: HoldPlan = STRETCH,
    support_knee_deg: float = 45.0,
    noise_px: float = 0.0,
    seed: int = 0,
    dropout: Dropout = None,
) -> tuple[PoseTrack, Truth]:
    """Figure 4: the ``side`` ankle on the other knee, the other thigh pulled up to 90 degrees with
    its knee at 90; camera raised on the ``side`` side. Between holds both feet are on the floor,
    knees bent; a break lets the crossed ankle slip off. In the faulty hold the supporting knee
    opens to ``support_knee_deg`` of flexion (shin drifting away)."""
    w, st = lsign(side), lsign(other(side))
    rest = hook_lying(HIP_HALF)

    def pose_at(p: float, b: float, fault: float) -> Pose:
        figure4 = pelvis_and_shoulders()
        knee_flex = 90.0 + (support_knee_deg - 90.0) * fault
        figure4[f"{other(side)}_knee"], figure4[f"{other(side)}_ankle"] = sagittal_leg(
            figure4[f"{other(side)}_hip"], 90.0, knee_flex
        )
        support_knee = sagittal_leg(figure4[f"{other(side)}_hip"], 90.0, 90.0)[0]
        figure4[f"{side}_knee"] = v(-12.0, 32.0, w * 30.0)
        figure4[f"{side}_ankle"] = support_knee + v(-4.0, 4.0, -st * 4.0)
        pose = blend(rest, figure4, p)
        pose[f"{side}_ankle"] = pose[f"{side}_ankle"] + b * v(-15.0, -20.0, w * 15.0)
        return pose

    poses, tl = _hold_poses(plan, pose_at)
    track = render(poses, supine_side(side), Camera(30.0), visibility(other(side)), noise_px, seed, dropout)
    return track, hold_truth(plan, tl, "support_at_90")


def knee_to_chest_side_view(
    side: str = "left",
    plan: HoldPlan = STRETCH,
    other_flex_deg: float = 35.0,
    noise_px: float = 0.0,
    seed: int = 0,
    dropout: Dropout = None,
) -> tuple[PoseTrack, Truth]:
    """On the back, the ``side`` knee pulled to the chest (hip flexed 125, knee 120), the other leg
    straight on the mat; camera raised on the ``side`` side. Between holds the knee is bent with
    the foot on the floor; a break lets the knee drift away to 80 degrees. In the faulty hold the
    other leg lifts (hip ``other_flex_deg``, knee bent 40)."""

    def pose_at(p: float, b: float, fault: float) -> Pose:
        pose = pelvis_and_shoulders()
        _lying_legs(pose, other(side), other_flex_deg * fault * p, 40.0 * fault * p)
        flex = 45.0 + 80.0 * p - 45.0 * b
        _lying_legs(pose, side, flex, 90.0 + 30.0 * p)
        return pose

    poses, tl = _hold_poses(plan, pose_at)
    track = render(poses, supine_side(side), Camera(30.0), visibility(other(side)), noise_px, seed, dropout)
    return track, hold_truth(plan, tl, "other_leg_down")


def piriformis_stretch_feet_view(
    side: str = "left",
    plan: HoldPlan = STRETCH,
    roll_deg: float = 14.0,
    noise_px: float = 0.0,
    seed: int = 0,
    dropout: Dropout = None,
) -> tuple[PoseTrack, Truth]:
    """On the back, the ``side`` knee (hip flexed about 90) pulled across to 8 cm past the midline,
    the other leg straight; filmed from the feet, camera raised 45 degrees. Between holds the leg
    lies straight; a break lets the knee back to its own side. In the faulty hold the pelvis rolls
    ``roll_deg`` towards the other side (the working hip lifts off the mat)."""
    w = lsign(side)
    flat = pelvis_and_shoulders()
    _lying_legs(flat, "left", 0.0, 0.0)
    _lying_legs(flat, "right", 0.0, 0.0)
    across = dict(flat)
    across[f"{side}_knee"] = v(-5.0, 40.0, -w * 8.0)
    across[f"{side}_ankle"] = v(-38.0, 28.0, w * 2.0)
    own_side = dict(across)
    own_side[f"{side}_knee"] = v(-5.0, 40.0, w * 8.0)

    def pose_at(p: float, b: float, fault: float) -> Pose:
        pose = blend(blend(flat, across, p), own_side, b)
        return roll_pelvis(pose, w * roll_deg * fault * p)

    poses, tl = _hold_poses(plan, pose_at)
    cam = Camera(45.0, 3.0, (320.0, 240.0))
    track = render(poses, supine_feet, cam, {}, noise_px, seed, dropout)
    return track, hold_truth(plan, tl, "pelvis_flat")
