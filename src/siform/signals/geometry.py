"""Landmarks -> one number per frame: joint angles, tilts and normalised distances.

Conventions shared by every function here:

- ``pts`` is ``(T, 33, D)`` or one frame ``(33, D)``, any float dtype; D = 2 is image pixels
  (x right, y down), D = 3 is MediaPipe world metres (y down, z towards the camera negative).
  The result has ``pts``'s leading shape: ``(T,)`` float64, or a 0-d array for one frame (only
  :func:`stillness_ratio`, being about motion, needs ``(T, 33, D)``).
- NaN in a landmark a signal needs gives NaN in that frame only. Degenerate geometry (a zero-length
  segment, zero width) also gives NaN, never ``inf``: a value is either meaningful or missing.
- Segment angles (:func:`angle_deg`, :func:`joint_angle_deg`, :func:`leg_alignment_deg`) use all D
  coordinates, so the caller chooses: image pixels when the limb moves in a plane facing the camera
  (z is MediaPipe's weakest axis), world only for movement truly out of the image plane.
- Every other signal refers to the image (horizontal, vertical, "up") and uses x, y only. World
  input is projected onto the camera's image plane (world x, y follow the camera's axes); z is
  deliberately ignored.
- *Mirror* means: flip x (``x -> W - x`` for pixels, ``-x`` for world) and relabel left <-> right
  (``landmarks.MIRROR``), i.e. the same movement by a mirror-image person. Each docstring says
  whether the signal is then unchanged or negated (with any ``side`` argument swapped too).
- Speed: no Python loop over frames. One frame costs ~20 us per call (numpy overhead); a
  1000-frame track under 1 us per frame per signal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from siform.landmarks import NUM_LANDMARKS, Landmark, side_landmark

FloatArray = npt.NDArray[np.float64]
"""Float64 result: ``(T,)`` per-frame values, or 0-d for a single frame."""
Points = npt.NDArray[np.floating]
"""``(T, 33, D)`` or ``(33, D)`` landmarks, D in {2, 3}; NaN = missing."""
Side = Literal["left", "right"]
Joint = Literal["hip", "knee", "elbow", "shoulder"]

# The three landmarks (end, vertex, end) whose angle is each joint's angle; 180 deg = straight.
JOINT_CHAINS: Final[dict[str, tuple[str, str, str]]] = {
    "hip": ("shoulder", "hip", "knee"),
    "knee": ("hip", "knee", "ankle"),
    "elbow": ("shoulder", "elbow", "wrist"),
    "shoulder": ("elbow", "shoulder", "hip"),
}
_OTHER_SIDE: Final[dict[str, Side]] = {"left": "right", "right": "left"}


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _checked(pts: Points) -> Points:
    arr = np.asarray(pts)
    if arr.ndim not in (2, 3) or arr.shape[-2] != NUM_LANDMARKS or arr.shape[-1] not in (2, 3):
        raise ValueError(f"pts must have shape (T, 33, D) or (33, D) with D 2 or 3, got {arr.shape}")
    return arr


def _other(side: str) -> Side:
    if side not in _OTHER_SIDE:
        raise ValueError(f"side must be 'left' or 'right' (the person's own), got {side!r}")
    return _OTHER_SIDE[side]


def _at(pts: Points, landmark: int, dims: int | None = None) -> FloatArray:
    """``(..., D)`` coordinates of one landmark as float64; ``dims=2`` keeps x, y only."""
    return np.asarray(pts[..., landmark, :dims], dtype=np.float64)


def _side_at(pts: Points, side: str, joint: str, dims: int | None = None) -> FloatArray:
    _other(side)  # validates
    return _at(pts, side_landmark(side, joint), dims)


def _mid(pts: Points, a: int, b: int) -> FloatArray:
    return 0.5 * (_at(pts, a, 2) + _at(pts, b, 2))


def _ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    """``num / den`` with NaN (not inf, no warning) where ``den`` is zero."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return np.asarray(np.where(den == 0, np.nan, out), dtype=np.float64)


def _norm(v: FloatArray) -> FloatArray:
    return np.asarray(np.sqrt(np.sum(v * v, axis=-1)), dtype=np.float64)


def _vector_angle_deg(u: FloatArray, v: FloatArray) -> FloatArray:
    """Unsigned angle between vectors ``(..., D)`` in [0, 180]; NaN if either has zero length.

    ``atan2(|u x v|, u . v)`` stays accurate near 0 and 180 deg, where ``arccos`` loses digits.
    """
    if u.shape[-1] == 2:
        cross = np.abs(u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0])
    elif u.shape[-1] == 3:
        cross = _norm(np.cross(u, v))
    else:
        raise ValueError(f"vectors must have 2 or 3 coordinates, got {u.shape[-1]}")
    deg = np.degrees(np.arctan2(cross, np.sum(u * v, axis=-1)))
    degenerate = (np.sum(u * u, axis=-1) == 0) | (np.sum(v * v, axis=-1) == 0)
    return np.asarray(np.where(degenerate, np.nan, deg), dtype=np.float64)


def torso_length_px(pts: Points) -> FloatArray:
    """Image distance from the hip midpoint to the shoulder midpoint (units of ``pts``).

    The body's largest rigid-ish length, so the natural yardstick for speeds. x, y only: it
    normalises image-plane quantities. Mirror: unchanged. Scales with ``pts``.
    """
    pts = _checked(pts)
    shoulders = _mid(pts, Landmark.LEFT_SHOULDER, Landmark.RIGHT_SHOULDER)
    return _norm(shoulders - _mid(pts, Landmark.LEFT_HIP, Landmark.RIGHT_HIP))


def hip_width(pts: Points) -> FloatArray:
    """Horizontal (image x) distance between the hips, ``|left_hip_x - right_hip_x|``.

    Horizontal, not Euclidean, because it normalises horizontal distances (knees, ankles) seen by a
    camera facing the person; a pelvic tilt should not change the yardstick. Mirror: unchanged.
    """
    pts = _checked(pts)
    return np.asarray(np.abs(_at(pts, Landmark.LEFT_HIP, 2) - _at(pts, Landmark.RIGHT_HIP, 2))[..., 0])


def thigh_length(pts: Points, side: Side) -> FloatArray:
    """Image distance hip -> knee on the person's ``side`` (units of ``pts``).

    x, y only: it normalises image-plane offsets. Mirror: unchanged with ``side`` swapped.
    """
    pts = _checked(pts)
    return _norm(_side_at(pts, side, "knee", 2) - _side_at(pts, side, "hip", 2))


# ---------------------------------------------------------------------------------------------
# Angles between segments (all D coordinates)
# ---------------------------------------------------------------------------------------------


def angle_deg(a: npt.ArrayLike, b: npt.ArrayLike, c: npt.ArrayLike) -> FloatArray:
    """Angle at ``b`` between ``b -> a`` and ``b -> c`` in degrees, [0, 180]; arrays ``(..., D)``.

    Unsigned, so unchanged by mirror, translation, scale and rotation. NaN if ``a`` or ``c``
    coincides with ``b``.
    """
    b_ = np.asarray(b, dtype=np.float64)
    return _vector_angle_deg(np.asarray(a, dtype=np.float64) - b_, np.asarray(c, dtype=np.float64) - b_)


def joint_angle_deg(pts: Points, side: Side, joint: Joint) -> FloatArray:
    """Included angle of the person's ``side`` ``joint``; 180 = straight, smaller = more flexed.

    Keypoints (:data:`JOINT_CHAINS`): hip = shoulder-hip-knee (the glute bridge's
    "shoulder-hip-knee line"), knee = hip-knee-ankle, elbow = shoulder-elbow-wrist,
    shoulder = elbow-shoulder-hip. Unsigned, so flexion and hyperextension both read below 180.
    Uses all D coordinates: image pixels when the limb's plane faces the camera (side view of a
    bridge: no depth error at all), world only when the limb moves towards the camera.
    Mirror: unchanged with ``side`` swapped.
    """
    pts = _checked(pts)
    if joint not in JOINT_CHAINS:
        raise ValueError(f"joint must be one of {sorted(JOINT_CHAINS)}, got {joint!r}")
    a, b, c = (_side_at(pts, side, name) for name in JOINT_CHAINS[joint])
    return _vector_angle_deg(a - b, c - b)


def midline_hip_angle_deg(world: Points) -> FloatArray:
    """Angle at the mid-hip between the mid-shoulder and the mid-knee, in 3D, degrees (180 = straight).

    For MediaPipe's world landmarks (metric, hip-centred), not image pixels. Lying in a bridge seen
    by a raised side camera, the image angle is no measure of the lift: the camera's tilt shrinks
    its vertical and the near side's joints sit at different depths, so even the rig's own joints
    projected read a 164.6-degree lift as 171.5; MediaPipe's 3D midline follows the lift's order
    (rendered bridges: 162.9 and 163.8 for 164.6 and 169.7 true, 165.2-170.5 for 170.3-180), reading
    about 5-8 degrees under the true angle when averaged over the top of a rep. Midpoints, because
    each side's landmarks err on their own and the true angle is the body's midline. Mirror:
    unchanged. NaN where a joint is missing.
    """
    w = _checked(world)

    def mid(joint: str) -> FloatArray:
        return 0.5 * (_side_at(w, "left", joint) + _side_at(w, "right", joint))

    return angle_deg(mid("shoulder"), mid("hip"), mid("knee"))


def leg_alignment_deg(pts: Points, working_side: Side) -> FloatArray:
    """Angle between the working leg (hip -> ankle) and the other thigh (hip -> knee), [0, 180].

    0 = the extended leg continues the line of the other thigh, as wanted in a single-leg pelvic
    lift; it grows as the straight leg drops or rises. Hip -> ankle rather than the shank so a bent
    knee also counts as misalignment. Uses all D coordinates; from the usual side view both legs lie
    in a plane facing the camera, so image pixels are the right input.
    Mirror: unchanged with ``working_side`` swapped.
    """
    pts = _checked(pts)
    other = _other(working_side)
    leg = _side_at(pts, working_side, "ankle") - _side_at(pts, working_side, "hip")
    thigh = _side_at(pts, other, "knee") - _side_at(pts, other, "hip")
    return _vector_angle_deg(leg, thigh)


# ---------------------------------------------------------------------------------------------
# Image-referenced signals (x, y only)
# ---------------------------------------------------------------------------------------------


def pelvic_obliquity_deg(pts: Points) -> FloatArray:
    """Tilt of the right-hip -> left-hip line against image horizontal, in (-90, 90] degrees.

    Positive when the person's LEFT hip is lower in the image (larger y). The horizontal part is
    taken as ``|dx|``, so the sign is the same whether the camera faces the person (their left on
    image right) or their back. For front/back views, where the pelvis line is face-on to the
    camera: image x, y measure it directly, and depth would only add MediaPipe's z noise.
    90 when the hips are vertically aligned; NaN when they coincide. Mirror: negated.
    """
    pts = _checked(pts)
    d = _at(pts, Landmark.LEFT_HIP, 2) - _at(pts, Landmark.RIGHT_HIP, 2)
    deg = np.degrees(np.arctan2(d[..., 1], np.abs(d[..., 0])))
    return np.asarray(np.where((d[..., 0] == 0) & (d[..., 1] == 0), np.nan, deg), dtype=np.float64)


def hip_drop_ratio(pts: Points) -> FloatArray:
    """``(left_hip_y - right_hip_y) / mean(left, right thigh length)``; positive = left hip lower.

    The side-view proxy for pelvic drop in a lying bridge: the camera cannot see the pelvis line
    face-on, but a dropping hip shows as a vertical image offset between the two hip landmarks.
    Dividing by the image thigh length makes it independent of distance to the camera. Image y only
    (not depth), because the drop is vertical in the image. Mirror: negated.
    """
    pts = _checked(pts)
    dy = _at(pts, Landmark.LEFT_HIP, 2)[..., 1] - _at(pts, Landmark.RIGHT_HIP, 2)[..., 1]
    return _ratio(dy, 0.5 * (thigh_length(pts, "left") + thigh_length(pts, "right")))


def hip_to_shoulder_offset_ratio(pts: Points, yardstick: float | None = None) -> FloatArray:
    """``(left_hip_y - right_hip_y)`` per frame over the median ``(left_shoulder_y - right_shoulder_y)``
    of all frames given: the pelvis's left-right vertical offset in units of the shoulders' offset.

    For a person lying on their back filmed by a raised side camera (looking down at about 40
    degrees), each left-right pair appears vertically apart. The shoulders stay on the mat through a
    bridge, so their offset is a yardstick that does not change as the hips rise, unlike thigh
    length (which :func:`hip_drop_ratio` uses and which foreshortens with the lift); taking its
    median over the frames given (a whole set in review, the set so far live) keeps landmark
    jitter out of the denominator. A level pelvis keeps the ratio at the person's own constant (hip
    width over shoulder width, about 0.63 on our renders). The sign of the shoulder offset says which
    side is nearer the camera, so the ratio rises when the NEAR hip drops towards the floor (+0.046
    for a 12 degree drop on our renders) and falls when the far one does, whichever side faces the
    camera. Meaningless where the shoulders are level in the image (front views, low side cameras):
    NaN when the median offset is zero or unknown. Image y only. Mirror: unchanged (both offsets
    change sign).

    ``yardstick``: the shoulder offset to divide by, when the set it is the median of is not the
    frames given (live coaching passes the running median of the set so far, one frame at a time;
    see :func:`shoulder_offset_px`).
    """
    hips, median = _hip_and_shoulder_offsets(pts, yardstick)
    return _ratio(hips, np.full_like(hips, median, dtype=np.float64))


def shoulder_offset_px(pts: Points) -> FloatArray:
    """Per frame ``left_shoulder_y - right_shoulder_y``: the series whose median over a set is the
    yardstick of :func:`hip_to_shoulder_offset_ratio` and :func:`side_hip_drop_ratio`."""
    pts = _checked(pts)
    offset = _at(pts, Landmark.LEFT_SHOULDER, 2)[..., 1] - _at(pts, Landmark.RIGHT_SHOULDER, 2)[..., 1]
    return np.asarray(offset, dtype=np.float64)


def _hip_and_shoulder_offsets(pts: Points, yardstick: float | None) -> tuple[FloatArray, float]:
    """Per frame ``left_hip_y - right_hip_y``, and the yardstick: ``yardstick`` if given, else the
    median ``left_shoulder_y - right_shoulder_y`` over the frames given (0 when none is known)."""
    pts = _checked(pts)
    hips = _at(pts, Landmark.LEFT_HIP, 2)[..., 1] - _at(pts, Landmark.RIGHT_HIP, 2)[..., 1]
    if yardstick is not None:
        return hips, float(yardstick) if np.isfinite(yardstick) else 0.0
    shoulders = shoulder_offset_px(pts)
    finite = shoulders[np.isfinite(shoulders)]
    return hips, float(np.median(finite)) if finite.size else 0.0


def side_hip_drop_ratio(pts: Points, side: Side, yardstick: float | None = None) -> FloatArray:
    """How far ``side``'s hip sits below the other one, in units of the shoulders' image offset.

    :func:`hip_to_shoulder_offset_ratio` signed by body side instead of by camera side: it rises
    when ``side``'s hip drops towards the floor, whichever hip is nearer the camera. For an exercise
    whose fault goes one way only (on one leg the unsupported side sags), a one-sided limit on this
    ignores landmark noise in the other direction, which on rendered single-leg lifts made up most of
    the spread of clean reps. Same view needs, NaN rules and ``yardstick`` as the ratio it signs.
    Mirror: unchanged with ``side`` swapped.
    """
    hips, median = _hip_and_shoulder_offsets(pts, yardstick)
    sign = 1.0 if side == "left" else -1.0
    return _ratio(sign * hips, np.full_like(hips, abs(median), dtype=np.float64))


def knee_separation_ratio(pts: Points, by: Literal["ankle", "hip"] = "ankle") -> FloatArray:
    """Horizontal knee gap over the horizontal ankle (or hip) gap; >= 0, 1 = knees over ankles.

    ``|left_knee_x - right_knee_x| / |left_<by>_x - right_<by>_x|``. For a camera facing the
    person (front or back): knees caving in (valgus) or falling out shows as horizontal movement,
    while a vertical offset between the knees (a stance shift, one foot forward in perspective) is
    not separation, so horizontal beats Euclidean. NaN when the reference gap is zero.
    Mirror: unchanged.
    """
    pts = _checked(pts)
    if by not in ("ankle", "hip"):
        raise ValueError(f"by must be 'ankle' or 'hip', got {by!r}")
    knees = _at(pts, Landmark.LEFT_KNEE, 2) - _at(pts, Landmark.RIGHT_KNEE, 2)
    ref = _side_at(pts, "left", by, 2) - _side_at(pts, "right", by, 2)
    return _ratio(np.abs(knees[..., 0]), np.abs(ref[..., 0]))


def trunk_lean_deg(pts: Points) -> FloatArray:
    """Lateral lean of hip-mid -> shoulder-mid against image vertical (up), in (-180, 180] deg.

    Positive when the shoulders are displaced towards the person's LEFT. Which image direction is
    the person's left comes from the hip line: the trunk's horizontal offset is projected onto the
    horizontal direction of right-hip -> left-hip (``sign(left_hip_x - right_hip_x)``). Facing the
    camera, the person's left is image right, so positive = shoulders towards image right; seen
    from behind it is image left. Only the sign of the hip axis is used, so a tilted pelvis does
    not leak into the trunk angle (it is against vertical, not relative to the pelvis). For front or
    back views, where lateral lean is in the image plane; NaN when the hips share an x (side view:
    lateral lean is invisible there). Mirror: negated.
    """
    pts = _checked(pts)
    trunk = _mid(pts, Landmark.LEFT_SHOULDER, Landmark.RIGHT_SHOULDER) - _mid(
        pts, Landmark.LEFT_HIP, Landmark.RIGHT_HIP
    )
    hip_dx = _at(pts, Landmark.LEFT_HIP, 2)[..., 0] - _at(pts, Landmark.RIGHT_HIP, 2)[..., 0]
    deg = np.degrees(np.arctan2(trunk[..., 0] * np.sign(hip_dx), -trunk[..., 1]))
    degenerate = (hip_dx == 0) | ((trunk[..., 0] == 0) & (trunk[..., 1] == 0))
    return np.asarray(np.where(degenerate, np.nan, deg), dtype=np.float64)


def trunk_sway_deg(pts: Points, baseline: float) -> FloatArray:
    """:func:`trunk_lean_deg` minus a ``baseline`` lean (degrees), e.g. the set-up posture's.

    Same sign: positive = more towards the person's left than at baseline. Mirror: negated when the
    baseline is negated too.
    """
    return np.asarray(trunk_lean_deg(pts) - float(baseline), dtype=np.float64)


def bridge_height_ratio(pts: Points, side: Side) -> FloatArray:
    """Signed distance of the hip from the shoulder -> knee line, over thigh length (``side``).

    Positive = hip above the line (towards image up): the bridge is over-lifted, the lumbar spine
    extending. 0 = shoulder, hip and knee in one line; negative = hip sagging below it. The normal
    used is the one pointing image-up, so the sign does not depend on which way the person lies
    (head to image left or right). For a side view, where the sagittal plane faces the camera:
    image x, y carry the whole movement and z would only add noise. NaN when the shoulder-knee
    line is vertical (no "up" side). Mirror: unchanged with ``side`` swapped.
    """
    pts = _checked(pts)
    shoulder = _side_at(pts, side, "shoulder", 2)
    line = _side_at(pts, side, "knee", 2) - shoulder
    hip = _side_at(pts, side, "hip", 2) - shoulder
    # cross(line, hip) / |line| is the offset along the normal (-line_y, line_x); that normal points
    # up (negative y) when line_x < 0, so flip by -sign(line_x).
    cross = line[..., 0] * hip[..., 1] - line[..., 1] * hip[..., 0]
    offset = _ratio(-np.sign(line[..., 0]) * cross, _norm(line))
    offset = np.where(line[..., 0] == 0, np.nan, offset)
    return _ratio(offset, thigh_length(pts, side))


def ankle_travel_ratio(pts: Points, working_side: Side) -> FloatArray:
    """Horizontal working-ankle offset from the stance ankle, over horizontal hip width.

    ``(working_ankle_x - stance_ankle_x) / (working_hip_x - stance_hip_x)``: that is, the ankle gap
    over :func:`hip_width`, signed so it is positive while the working ankle is on its own side
    (apart; about 1 standing with feet hip-width apart) and negative once it crosses past the
    stance ankle. For standing band adduction filmed from the front or back: the leg sweeps in the
    image plane, so image x says it all. NaN when the hips share an x.
    Mirror: unchanged with ``working_side`` swapped.
    """
    pts = _checked(pts)
    stance = _other(working_side)
    ankles = _side_at(pts, working_side, "ankle", 2) - _side_at(pts, stance, "ankle", 2)
    hips = _side_at(pts, working_side, "hip", 2) - _side_at(pts, stance, "hip", 2)
    return _ratio(ankles[..., 0], hips[..., 0])


def ankle_offset_ratio(pts: Points, working_side: Side, reference: float) -> FloatArray:
    """:func:`ankle_travel_ratio` minus a ``reference`` value (e.g. at the start of the set).

    Negative = the working ankle has moved in towards the stance leg since the reference.
    Mirror: unchanged with ``working_side`` swapped.
    """
    return np.asarray(ankle_travel_ratio(pts, working_side) - float(reference), dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# Exercise signals A: single-leg lift, ball squat, band adduction, side plank, pelvic list
# ---------------------------------------------------------------------------------------------

MAX_PLANTED_KNEE_DEG: Final = 150.0
"""A leg whose knee (hip-knee-ankle) is straighter than this is not a planted, bent stance leg."""


def _outward(pts: Points, side: str) -> FloatArray:
    """+1 or -1: the image-x direction from the other hip towards ``side``'s hip; NaN if they share x."""
    dx = _side_at(pts, side, "hip", 2)[..., 0] - _side_at(pts, _other(side), "hip", 2)[..., 0]
    return np.asarray(np.where(dx == 0, np.nan, np.sign(dx)), dtype=np.float64)


def planted_hip_angle_deg(pts: Points, side: Side) -> FloatArray:
    """:func:`joint_angle_deg` of ``side``'s hip, only while that knee is bent; NaN otherwise.

    Shoulder-hip-knee, 180 = straight line, for the leg whose foot is planted in a single-leg
    bridge. NaN in frames where the same side's knee angle (hip-knee-ankle) is at or above
    :data:`MAX_PLANTED_KNEE_DEG`: in a single-leg bridge the extended leg's thigh is held parallel
    to the planted one, so both plain hip angles read the same; only the knee tells the legs apart,
    and this NaN is what lets working-side detection find the planted leg. All D coordinates (as
    :func:`joint_angle_deg`). Mirror: unchanged with ``side`` swapped.
    """
    pts = _checked(pts)
    hip = joint_angle_deg(pts, side, "hip")
    bent = joint_angle_deg(pts, side, "knee") < MAX_PLANTED_KNEE_DEG
    return np.asarray(np.where(bent, hip, np.nan), dtype=np.float64)


def thigh_drop_ratio(pts: Points) -> FloatArray:
    """Vertical hip -> knee drop over vertical knee -> ankle drop, both legs summed; squat depth.

    ``((l_knee_y - l_hip_y) + (r_knee_y - r_hip_y)) / ((l_ankle_y - l_knee_y) + (r_ankle_y -
    r_knee_y))``. About 1 standing (thigh and shin similar lengths, both vertical), about 0 with the
    thighs horizontal (chair height), negative once the hips sink below the knees. For a camera
    facing the person (front or back): the thigh turns towards the camera as the person squats, so
    its image height shrinks while the shin's stays; image y only (z is MediaPipe's weakest axis).
    Summing the legs halves single-landmark jitter. NaN when the shins have no height.
    Mirror: unchanged. Invariant to scale and translation.
    """
    pts = _checked(pts)
    y = {j: _at(pts, side_landmark("left", j), 2)[..., 1] + _at(pts, side_landmark("right", j), 2)[..., 1]
         for j in ("hip", "knee", "ankle")}  # fmt: skip
    return _ratio(y["knee"] - y["hip"], y["ankle"] - y["knee"])


def toe_out_ratio(pts: Points, side: Side | None = None) -> FloatArray:
    """Horizontal heel -> foot-index offset, outward positive, over :func:`hip_width`.

    ``(foot_index_x - heel_x) * outward / hip_width``, where outward is the image-x direction from
    the other hip towards ``side``'s hip. Seen from the front (or back) a foot pointing at the
    camera has its toes straight below (or above) the heel: 0; turned out by an angle a, the offset is
    about foot length x sin(a), and a foot is about as long as the hips are wide, so 0.3 is roughly
    17 degrees out. Negative = toes turned in. ``side`` None: the more turned-out foot (the larger
    value of the two). Image x only. NaN when the hips share an x.
    Mirror: unchanged (with ``side`` swapped).
    """
    pts = _checked(pts)
    if side is None:
        return np.asarray(np.maximum(toe_out_ratio(pts, "left"), toe_out_ratio(pts, "right")))
    dx = _side_at(pts, side, "foot_index", 2)[..., 0] - _side_at(pts, side, "heel", 2)[..., 0]
    return _ratio(dx * _outward(pts, side), hip_width(pts))


def toe_out_deg(pts: Points, side: Side | None = None) -> FloatArray:
    """The foot's heel -> toe line in the image against image vertical, outward positive, degrees.

    Seen from the front, a foot pointing at the camera draws its toe straight below the heel; turned
    out by ``a`` the line leans out by ``atan(tan a / sin d)``, ``d`` the camera's downward angle to
    the feet, so the reading is the foot's own shape and no body proportion enters. (The toe offset
    over hip width it replaces read the same 7-degree stance as 0.165 on one rendered body and 0.25
    on another.) ``side`` None: the more turned-out foot. Image x, y only. NaN where a foot is
    missing. Mirror: unchanged with ``side`` swapped.
    """
    pts = _checked(pts)
    if side is None:
        return np.asarray(np.fmax(toe_out_deg(pts, "left"), toe_out_deg(pts, "right")))
    d = _side_at(pts, side, "foot_index", 2) - _side_at(pts, side, "heel", 2)
    out = np.degrees(np.arctan2(d[..., 0] * _outward(pts, side), d[..., 1]))
    return np.asarray(np.where(np.isfinite(out), out, np.nan), dtype=np.float64)


def ankle_out_ratio(pts: Points, side: Side) -> FloatArray:
    """Horizontal offset of ``side``'s ankle from its own hip, outward positive, over hip width.

    ``(ankle_x - hip_x) * outward / hip_width`` (outward as in :func:`toe_out_ratio`): 0 with the
    ankle under its hip, positive with the leg swung out (abducted), negative swung in towards or
    across the other leg (adducted). Unlike :func:`ankle_travel_ratio`, which is the same number
    whichever leg moves, it follows one leg, so only the moving leg's value moves: that is how
    working-side detection finds the leg doing band adduction. Front or back views, image x only.
    NaN when the hips share an x. Mirror: unchanged with ``side`` swapped.
    """
    pts = _checked(pts)
    dx = _side_at(pts, side, "ankle", 2)[..., 0] - _side_at(pts, side, "hip", 2)[..., 0]
    return _ratio(dx * _outward(pts, side), hip_width(pts))


def body_line_deg(pts: Points, side: Side) -> FloatArray:
    """Angle at ``side``'s hip between its shoulder and its ankle, [0, 180]; 180 = straight body.

    For planks: sagging and piking both read below 180 (unsigned; :func:`hip_sag_ratio` tells them
    apart). All D coordinates, as :func:`joint_angle_deg`: pass image pixels for a camera square to
    the plane the body bends in (a side plank seen from the front). Mirror: unchanged with ``side``
    swapped.
    """
    pts = _checked(pts)
    hip = _side_at(pts, side, "hip")
    return _vector_angle_deg(_side_at(pts, side, "shoulder") - hip, _side_at(pts, side, "ankle") - hip)


def hip_sag_ratio(pts: Points, side: Side) -> FloatArray:
    """Signed distance of ``side``'s hip below its shoulder -> ankle line, over that line's length.

    Positive = hip below the line (towards image down, the floor in a plank): sagging; negative =
    above it: piking; 0 = straight. The normal used is the one pointing image-down, so the sign does
    not depend on which way the person lies. For a side plank filmed from the front (or back), where
    the sag happens in the image plane; image x, y only. NaN when the shoulder-ankle line is vertical
    (no "down" side) or has no length. Mirror: unchanged with ``side`` swapped. Scale invariant.
    """
    pts = _checked(pts)
    shoulder = _side_at(pts, side, "shoulder", 2)
    line = _side_at(pts, side, "ankle", 2) - shoulder
    hip = _side_at(pts, side, "hip", 2) - shoulder
    # cross(line, hip) / |line| is the offset along the normal (-line_y, line_x), which points down
    # (positive y) when line_x > 0: flip by sign(line_x).
    cross = line[..., 0] * hip[..., 1] - line[..., 1] * hip[..., 0]
    ratio = _ratio(np.sign(line[..., 0]) * cross, np.sum(line * line, axis=-1))
    return np.asarray(np.where(line[..., 0] == 0, np.nan, ratio), dtype=np.float64)


def pelvic_drop_deg(pts: Points, side: Side) -> FloatArray:
    """:func:`pelvic_obliquity_deg` signed towards ``side``: positive when ``side``'s hip is lower.

    ``atan2(side_hip_y - other_hip_y, |dx|)`` in (-90, 90] degrees against image horizontal: for a
    pelvic list, the drop of the free (working) side; lying on one side (a side plank seen from the
    front) the lower hip reads near +90. ``pelvic_drop_deg(pts, "left")`` equals
    :func:`pelvic_obliquity_deg`. Image x, y only; front or back views. NaN when the hips coincide.
    Mirror: unchanged with ``side`` swapped.
    """
    pts = _checked(pts)
    d = _side_at(pts, side, "hip", 2) - _side_at(pts, _other(side), "hip", 2)
    deg = np.degrees(np.arctan2(d[..., 1], np.abs(d[..., 0])))
    return np.asarray(np.where((d[..., 0] == 0) & (d[..., 1] == 0), np.nan, deg), dtype=np.float64)


def leg_hike_ratio(pts: Points, side: Side) -> FloatArray:
    """How far ``side``'s knee and ankle sit above the other leg's, in thigh lengths (image y).

    The mean of the knee and the ankle height differences, over the mean thigh length of both legs.
    Hiking the hip on one side lifts the whole leg that hangs from it, so the pelvis tilt shows in the
    legs: by hip-joint spacing times the sine of the tilt, about 0.06 thigh lengths for 8 degrees.
    Standing, MediaPipe's hip landmarks hardly follow such a tilt (on rendered band adductions an 8-9
    degree hike moved its hip line by 0.1-0.2 degrees while a 12 degree trunk lean moved it by 5), but
    its knees and ankles do, at 30-45% of the rig's own image change, and a trunk lean does not
    move them. Judged against the person's own median rep (the legs also differ in height as one
    sweeps across the other). NaN where a joint is missing. Mirror: unchanged with ``side`` swapped.
    """
    pts = _checked(pts)
    other = _other(side)
    up = [_side_at(pts, other, j, 2)[..., 1] - _side_at(pts, side, j, 2)[..., 1] for j in ("knee", "ankle")]
    thigh = 0.5 * (thigh_length(pts, side) + thigh_length(pts, other))
    return _ratio(0.5 * (up[0] + up[1]), thigh)


def knee_drop_deg(pts: Points, t_ms: npt.ArrayLike, side: Side, window_ms: float) -> FloatArray:
    """How far ``side``'s knee has dropped, as an angle over the hip width: positive lower.

    The smaller of two drops, each ``atan2(dy, |left_hip_x - right_hip_x|)``: below the other knee,
    and below the highest this knee stood in the trailing ``window_ms``. For a pelvic list, where
    the free leg hangs straight below its hip, the free knee drops as far as the hip does, so both
    read the pelvis's tilt; MediaPipe keeps its knee landmarks on the knees, while its hip landmarks
    follow a sideways tilt of the pelvis only in part (on rendered pelvic lists: about 0 of a true
    10-degree drop, against 6-9 here). Needing both tells which knee moved: when the other knee
    rises instead (a leg swept in against a band), this knee is lower than that one but no lower
    than it stood. The hip width is the yardstick, not the knees' own distance, so knees that meet
    do not tilt a line through them. Causal. Image x, y only; front or back views. NaN when the hips
    share an x or a knee is missing. Mirror: unchanged with ``side`` swapped.
    """
    pts, t = _track_and_times("knee_drop_deg", pts, t_ms, window_ms)
    knee_y = _side_at(pts, side, "knee", 2)[..., 1]
    other_y = _side_at(pts, _other(side), "knee", 2)[..., 1]
    width = np.abs(_at(pts, Landmark.LEFT_HIP, 2)[..., 0] - _at(pts, Landmark.RIGHT_HIP, 2)[..., 0])
    highest = -_trailing_max(-knee_y, t, window_ms)  # image y grows downwards
    dy = np.minimum(knee_y - other_y, knee_y - highest)
    deg = np.degrees(np.arctan2(dy, width))
    return np.asarray(np.where(width > 0, deg, np.nan), dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# Exercise signals B: clamshell, lying holds (pillow squeeze, band abduction), stretches, cat-cow
# ---------------------------------------------------------------------------------------------


def _up_signed_deg(base: FloatArray, v: FloatArray) -> FloatArray:
    """Signed angle from ``base`` to ``v`` (image x, y), positive when ``v`` turns towards image-up.

    "Towards image-up" is the side of ``base``'s line with smaller y. NaN when ``base`` is vertical
    (it has no up side) or either vector has zero length.
    """
    cross = base[..., 0] * v[..., 1] - base[..., 1] * v[..., 0]
    deg = np.degrees(np.arctan2(-np.sign(base[..., 0]) * cross, np.sum(base * v, axis=-1)))
    degenerate = (base[..., 0] == 0) | (np.sum(v * v, axis=-1) == 0)
    return np.asarray(np.where(degenerate, np.nan, deg), dtype=np.float64)


def knee_lift_deg(pts: Points, side: Side) -> FloatArray:
    """Signed angle at ``side``'s ankle from the ankle -> hip line up to the ankle -> knee line.

    The clamshell's opening, one leg at a time: lying on one side with knees bent and feet
    together, the top leg turns about the line from its hip to its ankle, and a camera in front of
    the person sees its knee rise above that line. Positive = knee on the image-up side of the line
    (the normal used points image-up, so it does not matter which way the person lies); at rest the
    knee sits on or a little below the line (negative: it points at a raised camera), and a
    45-degree opening reads roughly 30-40 degrees more. Only the moving leg's value moves, which is
    how working-side detection finds the top leg. Image x, y only: the knee rises in the image
    plane. NaN when the ankle -> hip line is vertical or a segment has no length.
    Mirror: unchanged with ``side`` swapped.
    """
    pts = _checked(pts)
    ankle = _side_at(pts, side, "ankle", 2)
    return _up_signed_deg(_side_at(pts, side, "hip", 2) - ankle, _side_at(pts, side, "knee", 2) - ankle)


def hip_separation_ratio(pts: Points) -> FloatArray:
    """Image distance between the two hip landmarks over :func:`torso_length_px`; >= 0.

    For a side-lying person (clamshell) filmed by a raised camera in front of them: the hips are
    stacked, and the top hip's offset of length w, rolled back (away from the camera) by an angle r,
    appears as ``w cos(r - e)`` for a camera tilted down by e. So the ratio grows as the pelvis
    rolls back (up to r = e) and shrinks as it rolls forward. A camera at floor height (e = 0) sees
    ``w cos r`` and cannot tell back from forward; that is why the clamshell asks for a raised
    camera. The absolute value depends on build and camera, so compare it with the person's own
    (``baseline = "set_median"``). Image x, y only. NaN when the torso has no length.
    Mirror: unchanged. Invariant to scale, translation and rotation in the image.
    """
    pts = _checked(pts)
    hips = _at(pts, Landmark.LEFT_HIP, 2) - _at(pts, Landmark.RIGHT_HIP, 2)
    return _ratio(_norm(hips), torso_length_px(pts))


def knee_gap_ratio(pts: Points) -> FloatArray:
    """Image distance between the knees over image distance between the hips; 1 = as wide as the hips.

    Lying on the back with knees bent: below 1 with knees squeezed together (a pillow between
    them), above 1 with knees pushed apart (a band round the thighs). From the feet (or the front)
    both gaps are horizontal and seen directly. From a raised side camera both gaps point along the
    view and are seen as vertical offsets between the near and far landmark, shortened by the same
    factor (the sine of the camera's tilt), so the ratio survives; a camera at floor height sees both
    collapse and the ratio turns to noise. A height difference between the knees also counts as gap.
    Euclidean (not horizontal only) so that one signal works from both views. NaN when the hips
    coincide. Mirror: unchanged. Invariant to scale, translation and rotation in the image.
    """
    pts = _checked(pts)
    knees = _at(pts, Landmark.LEFT_KNEE, 2) - _at(pts, Landmark.RIGHT_KNEE, 2)
    return _ratio(_norm(knees), _norm(_at(pts, Landmark.LEFT_HIP, 2) - _at(pts, Landmark.RIGHT_HIP, 2)))


def knee_offset_ratio(pts: Points) -> FloatArray:
    """Horizontal (image x) distance between the knees over the mean image thigh length; >= 0.

    For a standing quad stretch filmed from the side: 0 with the knees side by side (thighs
    together and vertical); grows as the bent leg's knee drifts forward (hip flexing, less stretch)
    or back (the lower back arching). Sideways drift is along the view and does not show.
    Image x only. NaN when both thighs have no length. Mirror: unchanged. Scale invariant.
    """
    pts = _checked(pts)
    dx = _at(pts, Landmark.LEFT_KNEE, 2)[..., 0] - _at(pts, Landmark.RIGHT_KNEE, 2)[..., 0]
    return _ratio(np.abs(dx), 0.5 * (thigh_length(pts, "left") + thigh_length(pts, "right")))


def ankle_to_knee_ratio(pts: Points, working_side: Side) -> FloatArray:
    """Image distance from the working ankle to the other knee, over the other thigh's image length.

    Small (under about 0.5) while the working ankle rests on the other knee, as in the figure-4
    glute stretch; about 1 or more once the legs are uncrossed. Image x, y only: from a raised side
    camera the crossing is mostly in the image plane. NaN when the other thigh has no length.
    Mirror: unchanged with ``working_side`` swapped. Scale invariant.
    """
    pts = _checked(pts)
    stance = _other(working_side)
    gap = _side_at(pts, working_side, "ankle", 2) - _side_at(pts, stance, "knee", 2)
    return _ratio(_norm(gap), thigh_length(pts, stance))


def knee_cross_ratio(pts: Points, working_side: Side) -> FloatArray:
    """Image-x position of the working knee from the hip midpoint, in hip widths, towards the other hip.

    ``(working_knee_x - hip_mid_x) / (stance_hip_x - working_hip_x)``: 0 = knee over the middle of
    the pelvis, +0.5 = over the other hip, -0.5 = over its own hip, so positive means the knee has
    been pulled across the body (piriformis stretch). For a camera at the feet (or front or back)
    of a person lying on their back, where the pelvis line is horizontal in the image and the knee
    crosses in the image plane. NaN when the hips share an x. Mirror: unchanged with
    ``working_side`` swapped. Scale and translation invariant.
    """
    pts = _checked(pts)
    stance_x = _side_at(pts, _other(working_side), "hip", 2)[..., 0]
    working_x = _side_at(pts, working_side, "hip", 2)[..., 0]
    knee_x = _side_at(pts, working_side, "knee", 2)[..., 0]
    return _ratio(knee_x - 0.5 * (stance_x + working_x), stance_x - working_x)


def head_drop_deg(pts: Points, side: Side) -> FloatArray:
    """Signed angle from ``side``'s hip -> shoulder line to its shoulder -> ear line, degrees.

    For cat-cow on all fours filmed from the side: positive = the ear below the trunk line's
    extension (head and upper back dropping into the rounded "cat"), negative = above it (head
    lifted, back hollowed: "cow"), about +10 with the head relaxed. The normal used points
    image-down, so it does not matter which way the person faces; it assumes a roughly horizontal
    trunk (NaN when hip -> shoulder is vertical). The ear rather than the nose, because the ear
    sits near the axis the head nods about: a nod alone moves it little. There are no spine
    landmarks: this follows the neck and upper back, not the lower back or pelvis. Image x, y only.
    Mirror: unchanged with ``side`` swapped. Invariant to scale and translation.
    """
    pts = _checked(pts)
    shoulder = _side_at(pts, side, "shoulder", 2)
    return -_up_signed_deg(shoulder - _side_at(pts, side, "hip", 2), _side_at(pts, side, "ear", 2) - shoulder)


# ---------------------------------------------------------------------------------------------
# Motion
# ---------------------------------------------------------------------------------------------


def _track_and_times(
    name: str, pts: Points, t_ms: npt.ArrayLike, window_ms: float
) -> tuple[Points, FloatArray]:
    """Checked ``(T, 33, D)`` points and ``(T,)`` times for a signal that looks back ``window_ms``."""
    pts = _checked(pts)
    t = np.asarray(t_ms, dtype=np.float64)
    if pts.ndim != 3 or t.shape != pts.shape[:1]:
        raise ValueError(f"{name} needs pts (T, 33, D) and t_ms (T,), got {pts.shape}, {t.shape}")
    if not window_ms > 0:
        raise ValueError(f"window_ms must be > 0, got {window_ms}")
    return pts, t


def stillness_ratio(
    pts: Points, t_ms: npt.ArrayLike, window_ms: float, landmarks: Sequence[int]
) -> FloatArray:
    """Causal RMS speed of ``landmarks``, in torso lengths per second, over a trailing window.

    For frame j: the root mean square, over the given landmarks and over the frame-to-frame steps
    ending in ``(t_j - window_ms, t_j]``, of image speed divided by that frame's
    :func:`torso_length_px`. 0 = perfectly still; tracking jitter sits around 0.05-0.2 /s. Causal
    (only past frames), so live and offline agree. Image x, y only: depth jitter is MediaPipe's
    largest noise and would read as motion. Steps with a NaN (or a non-increasing time) are
    skipped; the result is NaN on the first frame, where the current frame's landmarks or torso are
    missing, and where no valid step falls in the window. Needs ``(T, 33, D)`` and ``t_ms`` ``(T,)``
    non-decreasing. Invariant to translation, scale and mirror.
    """
    pts, t = _track_and_times("stillness_ratio", pts, t_ms, window_ms)
    if len(landmarks) == 0:
        raise ValueError("stillness_ratio needs at least one landmark")
    if pts.shape[0] == 0:
        return np.zeros(0, dtype=np.float64)
    xy = np.asarray(pts[:, list(landmarks), :2], dtype=np.float64)  # (T, K, 2)
    torso = torso_length_px(pts)
    dt_s = np.diff(t) / 1000.0
    step = np.diff(xy, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        sq = np.mean(np.sum(step * step, axis=-1), axis=-1) / (dt_s * torso[1:]) ** 2
    valid = np.isfinite(sq) & (dt_s > 0)
    total = np.concatenate(([0.0], np.cumsum(np.where(valid, sq, 0.0))))
    count = np.concatenate(([0], np.cumsum(valid)))
    # Frame j averages steps i (step i ends at frame i, i >= 1) with t_i > t_j - window_ms.
    first = np.maximum(np.searchsorted(t, t - window_ms, side="right"), 1)
    n = count - count[first - 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        rms = np.sqrt((total - total[first - 1]) / n)
    missing = (n == 0) | np.isnan(xy).any(axis=(1, 2)) | ~(torso > 0)
    return np.asarray(np.where(missing, np.nan, rms), dtype=np.float64)


def _trailing_max(x: FloatArray, t: FloatArray, window_ms: float) -> FloatArray:
    """For each frame j, the largest finite ``x`` with time in ``(t_j - window_ms, t_j]``; NaN if none.

    A sparse table of maxima over power-of-two spans, so each frame's window is two lookups and the
    whole track costs ``O(T log T)`` in numpy calls rather than a Python loop over frames: live
    coaching recomputes this over up to a minute of history on every frame.
    """
    n = x.shape[0]
    out = np.full(x.shape, np.nan)
    if n == 0:
        return out
    first = np.searchsorted(t, t - window_ms, side="right")  # oldest frame inside each window
    end = np.arange(n)
    length = end - first + 1  # >= 1: frame j is always inside its own window
    k = np.floor(np.log2(length)).astype(np.int64)
    level = np.where(np.isfinite(x), x, -np.inf)  # level[i] = max of x[i : i + 2**lvl]
    best = np.full(n, -np.inf)
    for lvl in range(int(k.max()) + 1):
        sel = k == lvl
        if sel.any():
            span = 1 << lvl
            best[sel] = np.maximum(level[first[sel]], level[end[sel] - span + 1])
        span = 1 << lvl
        if 2 * span <= n:
            level = np.maximum(level[:-span], level[span:])
    out[np.isfinite(best)] = best[np.isfinite(best)]
    return out


def hip_lowering_ratio(pts: Points, t_ms: npt.ArrayLike, window_ms: float) -> FloatArray:
    """Share of the standing hip height lost: ``1 - h_j / max(h over the trailing window)``.

    ``h`` is the image height of the hip midpoint above the ankle midpoint (image y). 0 standing
    tall, about 0.3 at chair height for a squat, 1 with the hips at ankle level. The reference is the
    highest the hips stood in the last ``window_ms``, so the person is their own yardstick: no body
    proportion enters, and the hips and ankles are the joints MediaPipe keeps in place while a
    squatting knee comes towards the camera (its knee landmark then drifts down, which bent the
    thigh/shin ratio this replaces). Causal: only past frames, so live and offline agree. NaN where
    the hips or ankles are missing now, or no valid standing height is in the window. Needs
    ``(T, 33, D)`` and ``t_ms`` ``(T,)`` non-decreasing. Invariant to translation, scale and mirror.
    """
    pts, t = _track_and_times("hip_lowering_ratio", pts, t_ms, window_ms)

    def mid_y(joint: str) -> FloatArray:
        return 0.5 * (
            _at(pts, side_landmark("left", joint), 2)[..., 1]
            + _at(pts, side_landmark("right", joint), 2)[..., 1]
        )

    h = mid_y("ankle") - mid_y("hip")
    ref = _trailing_max(h, t, window_ms)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 1.0 - h / ref
    return np.asarray(np.where(ref > 0, out, np.nan), dtype=np.float64)


def hip_lowering_speed(pts: Points, t_ms: npt.ArrayLike, window_ms: float, lag_ms: float) -> FloatArray:
    """How fast the hips are going down, in standing hip heights per second (negative rising).

    The change of :func:`hip_lowering_ratio` over the last ``lag_ms``, divided by the time it took:
    a squat lowered over 3 s peaks near 0.2 /s, over 1 s near 0.6 /s, and a drop into the bottom in
    a quarter second near 2 /s. A speed rather than a duration, because the duration of a descent
    depends on where one says it starts and ends, which a few pixels of jitter move by frames.
    Causal, like the ratio it is made from. NaN where either end of the step is missing or no frame
    is at least ``lag_ms`` old yet.
    """
    t = np.asarray(t_ms, dtype=np.float64)
    if not lag_ms > 0:
        raise ValueError(f"lag_ms must be > 0, got {lag_ms}")
    low = hip_lowering_ratio(pts, t, window_ms)
    back = np.searchsorted(t, t - lag_ms, side="right") - 1  # newest frame at least lag_ms old
    ok = back >= 0
    prev = np.where(ok, low[np.maximum(back, 0)], np.nan)
    dt_s = np.where(ok, (t - t[np.maximum(back, 0)]) / 1000.0, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray((low - prev) / dt_s, dtype=np.float64)


def hip_lift_ratio(pts: Points, t_ms: npt.ArrayLike, side: Side, window_ms: float) -> FloatArray:
    """How far ``side``'s hip has come up towards its shoulder -> ankle line since it last rested.

    The largest :func:`hip_sag_ratio` of the trailing ``window_ms`` minus the current one, in body
    lengths: 0 while the hips lie on the mat (the most they sag below the line of a body propped on
    its forearm), then how much of that sag a lift has taken out. Any forearm side plank, however
    sagging, has the hips higher than on the mat, so this is the lift with the person's own rest as
    reference. It reads more steadily than the hip's height (:func:`hip_rise_ratio`), which the
    rendered sagging hold of one body showed at its rest height while its sag had fallen by 0.02.
    Causal. Image x, y only. NaN where a joint is missing now.
    """
    pts, t = _track_and_times("hip_lift_ratio", pts, t_ms, window_ms)
    sag = hip_sag_ratio(pts, side)
    return np.asarray(_trailing_max(sag, t, window_ms) - sag, dtype=np.float64)


def hip_rise_ratio(pts: Points, t_ms: npt.ArrayLike, side: Side, window_ms: float) -> FloatArray:
    """How far ``side``'s hip has risen above the lowest it lay in the trailing window, in body lengths.

    The hip's image height above the ankle of the same side, over the shoulder -> ankle distance,
    minus the smallest such value in the last ``window_ms``. For a side plank filmed from the front:
    0 while the hips rest on the mat, then the lift. The person's own resting pose is the reference,
    because how high a resting hip reads depends on the body and the camera: on rendered side planks
    one body's rest reads like another's hold sagging 10 cm on every absolute measure (body line,
    pelvis tilt, hip below the line). A hold longer than the window loses its reference, so the
    window is set longer than any hold. Causal. Image x, y only. NaN where a joint is missing now.
    """
    pts, t = _track_and_times("hip_rise_ratio", pts, t_ms, window_ms)
    hip = _side_at(pts, side, "hip", 2)
    ankle = _side_at(pts, side, "ankle", 2)
    length = _norm(_side_at(pts, side, "shoulder", 2) - ankle)
    height = _ratio(ankle[..., 1] - hip[..., 1], length)
    lowest = -_trailing_max(-height, t, window_ms)
    return np.asarray(height - lowest, dtype=np.float64)


def hip_clearance_ratio(pts: Points, side: Side) -> FloatArray:
    """Height of ``side``'s hip above the line through its elbow and ankle, over its shoulder -> ankle
    length (image up positive).

    In a forearm side plank filmed from the front, the elbow and the feet are what rest on the floor,
    so their line is the floor under the body and this is how far the hip is off it. It does not
    move when the shoulder does: lying down flat on the side (shoulder lowered, body straight, hips
    on the mat) reads as low as resting propped on the forearm, where the hip's sag below the
    shoulder -> ankle line (:func:`hip_sag_ratio`) shrinks as if the hips had lifted. Image x, y only.
    NaN when the elbow and ankle coincide or a joint is missing. Mirror: unchanged with ``side``
    swapped.
    """
    pts = _checked(pts)
    elbow = _side_at(pts, side, "elbow", 2)
    ankle = _side_at(pts, side, "ankle", 2)
    floor = ankle - elbow
    hip = _side_at(pts, side, "hip", 2) - elbow
    # cross(floor, hip) / |floor| is the offset along (-floor_y, floor_x), which points image up
    # (negative y) when floor_x < 0: flip by -sign(floor_x) so up is positive either way.
    cross = floor[..., 0] * hip[..., 1] - floor[..., 1] * hip[..., 0]
    height = _ratio(-np.sign(floor[..., 0]) * cross, _norm(floor))
    ratio = _ratio(height, _norm(_side_at(pts, side, "shoulder", 2) - ankle))
    return np.asarray(np.where(floor[..., 0] == 0, np.nan, ratio), dtype=np.float64)


def hip_floor_lift_ratio(pts: Points, t_ms: npt.ArrayLike, side: Side, window_ms: float) -> FloatArray:
    """How far ``side``'s hip has come off the floor since it last lay there, in body lengths.

    :func:`hip_clearance_ratio` minus its lowest in the trailing ``window_ms``: 0 while the hips lie
    on the mat (propped on the forearm or lying flat), then the lift. The person's own rest is the
    reference because a resting hip's clearance depends on the body (a wide pelvis rests higher:
    0.05 on one rendered body, where another holds a sagging side plank). Causal. Image x, y only.
    NaN where a joint is missing now.
    """
    pts, t = _track_and_times("hip_floor_lift_ratio", pts, t_ms, window_ms)
    clearance = hip_clearance_ratio(pts, side)
    return np.asarray(clearance + _trailing_max(-clearance, t, window_ms), dtype=np.float64)
