"""Is the person standing, lying on their back, on their side, on hands and knees, or face down?

Recognition and the setup gate need this as a hard fact, not as one soft clue among others: a
standing squat must never be scored as a glute bridge. Two sources are combined, each covering
the other's blind spot:

- *World landmarks* (MediaPipe's metric 3-D skeleton, origin between the hips, axes in the camera's
  orientation: x right, y down, z away from the camera). They say how the body's own three axes lie
  against the camera's "up" (-y): the torso axis (mid-hip to mid-shoulder), the front of the body
  (the normal of the shoulders-and-hips plane, checked against the nose) and the left-right axis.
  Whichever of the three points up tells the posture: the torso (standing), the front (lying on the
  back), the back (face down or on hands and knees), the left-right axis (lying on one side).
  A camera tilted down by p mixes "up" with "forward" by sin p, which is why the margins below
  leave room for cameras raised up to about 40 degrees. Unlike the image, this tells someone
  standing in front of the camera from someone lying with their feet towards it: both show an
  upright torso in the picture, but only one has it pointing up in 3-D.
- *The image*: the torso's angle to image vertical and how far the lower ankle is below the hips,
  in torso lengths. A torso lying across the picture is never someone standing (phone videos are
  turned upright before this), and someone standing has their ankles well below their hips.
  A standing verdict needs both sources to agree.

World landmarks with no depth at all (a synthetic track, or a broken model output) are not used;
only the image's "not standing" then counts. Anything short of the margins is ``unknown``, which
the gate and the recogniser treat as no evidence: a wrong refusal costs the patient a review.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from siform.landmarks import Landmark

FloatArray = npt.NDArray[np.float64]

STANDING, LYING, SIDE_LYING, ALL_FOURS, PRONE = "standing", "lying", "side_lying", "all_fours", "prone"
HORIZONTAL = "horizontal"
"""Lying down somehow (the torso across the picture), but not clear on which side."""
UNKNOWN = "unknown"

COMPATIBLE: Final[dict[str, frozenset[str]]] = {
    STANDING: frozenset({STANDING}),
    LYING: frozenset({LYING}),
    SIDE_LYING: frozenset({SIDE_LYING}),
    ALL_FOURS: frozenset({ALL_FOURS}),
    PRONE: frozenset(),
    HORIZONTAL: frozenset({LYING, SIDE_LYING, ALL_FOURS}),
}
"""Observed posture -> the spec postures (``standing``, ``lying``, ``side_lying``, ``all_fours``)
it allows. Face down with the legs straight (a plank) is none of them. ``unknown`` allows all."""

UP_STANDING = 0.75
"""Torso axis against camera-up (cosine) at or above which the torso points up: within about 40
degrees, enough for a camera tilted down 25 degrees and a person leaning into a squat. Our rendered
standing clips read 0.92-1.00 (median per clip)."""
FRONT_UP_STANDING = 0.3
"""Someone standing faces the horizon: the front of their body points at most this much up
(cosine; standing clips read -0.38 to 0 as the camera tilts down). A person lying on their back
filmed from a camera raised 40-50 degrees beyond their feet shows an upright torso in the picture
and 0.77 "up" in 3-D, like someone standing, but their front points up the camera at 0.64."""
UP_HORIZONTAL = 0.5
"""At or below this the torso lies down (60 degrees or more from up). Rendered lying clips read
-0.2-0.2; a supine person seen from the feet by a camera raised 40 degrees would read 0.64, so that
view goes ``unknown`` in the world reading and rests on the image."""
AXIS_MIN = 0.5
"""The body axis named as pointing up (front, back or left-right) must be at least this aligned
with camera-up, and :data:`AXIS_MARGIN` more than the other horizontal axis."""
AXIS_MARGIN = 0.2
NOSE_AGREE = 0.3
"""The front of the body (from the plane of shoulders and hips) and the nose's direction from the
shoulders must agree at least this much (cosine) before the front is trusted (MediaPipe's 3-D
skeleton of a bridge filmed from the feet had them opposite)."""
KNEES_UNDER_HIPS_DEG = 130.0
"""Face down: a torso-to-thigh angle below this is on hands and knees (about 90 degrees), above
:data:`STRAIGHT_BODY_DEG` the legs continue the torso (a plank or lying on the front)."""
STRAIGHT_BODY_DEG = 150.0
IMAGE_UPRIGHT_DEG = 30.0
"""Image torso within this angle of vertical, with the lower ankle at least
:data:`ANKLES_BELOW` torso lengths below the hips, looks like standing in the picture."""
ANKLES_BELOW = 0.8
IMAGE_ACROSS_DEG = 55.0
"""Image torso at least this far from vertical lies across the picture: not standing."""
MIN_DEPTH = 0.05
"""World landmarks whose body joints spread less than this share of a torso length in depth
carry no 3-D information (see the module docstring)."""
CLIP_SHARE = 0.6
"""Share of the frames with a person that one posture must hold for the clip to have it."""

_SH = (Landmark.LEFT_SHOULDER, Landmark.RIGHT_SHOULDER)
_HIP = (Landmark.LEFT_HIP, Landmark.RIGHT_HIP)
_KNEE = (Landmark.LEFT_KNEE, Landmark.RIGHT_KNEE)
_ANKLE = (Landmark.LEFT_ANKLE, Landmark.RIGHT_ANKLE)


@dataclass(frozen=True, slots=True)
class ClipPosture:
    """A recording's posture: the label, the share of frames with a person that had it, and every
    label's share (for messages and benchmarks)."""

    label: str
    share: float
    shares: dict[str, float] = field(default_factory=dict)

    def allows(self, spec_posture: str | None) -> bool:
        """False only when this posture clearly contradicts ``spec_posture``."""
        if spec_posture is None or self.label == UNKNOWN:
            return True
        return spec_posture in COMPATIBLE[self.label]


def _unit(v: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _mid(p: FloatArray, pair: tuple[Landmark, Landmark]) -> FloatArray:
    return (p[:, pair[0]] + p[:, pair[1]]) / 2


def world_axes(world: npt.NDArray[np.floating]) -> dict[str, FloatArray]:
    """Per frame, how much each body axis points up the camera (cosines, -1..1): ``torso`` (hips to
    shoulders), ``front`` (out of the chest), ``left`` (right to left); ``nose`` the agreement of the
    front with the nose's direction; ``torso_thigh`` the angle between torso and thighs (degrees);
    ``depth`` the body joints' spread in depth over the torso length."""
    w = np.asarray(world, dtype=np.float64)
    sh, hip = _mid(w, _SH), _mid(w, _HIP)
    up = _unit(sh - hip)
    left = _unit((w[:, _SH[0]] - w[:, _SH[1]]) + (w[:, _HIP[0]] - w[:, _HIP[1]]))
    front = _unit(np.cross(left, up))
    nose = w[:, Landmark.NOSE] - sh
    nose_perp = _unit(nose - np.sum(nose * up, axis=-1, keepdims=True) * up)
    # the more bent of the two legs: on all fours one knee stays under the hips while the other
    # leg may reach back (a bird-dog)
    thighs = [_unit(w[:, k] - w[:, h]) for h, k in zip(_HIP, _KNEE, strict=True)]
    body = w[:, [*_SH, *_HIP, *_KNEE, *_ANKLE]]
    torso_len = np.linalg.norm(sh - hip, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frames without a person: all NaN
        depth = (np.nanmax(body[..., 2], axis=1) - np.nanmin(body[..., 2], axis=1)) / torso_len
        torso_thigh = np.fmin(
            *(np.degrees(np.arccos(np.clip(np.sum(up * t, axis=-1), -1.0, 1.0))) for t in thighs)
        )
    return {
        "torso": -up[:, 1],
        "front": -front[:, 1],
        "left": -left[:, 1],
        "nose": np.sum(front * nose_perp, axis=-1),
        "torso_thigh": torso_thigh,
        "depth": depth,
    }


def image_cues(pts_px: npt.NDArray[np.floating]) -> dict[str, FloatArray]:
    """Per frame: ``tilt``, the torso's angle to image vertical (degrees, 0..180), and
    ``ankles_below``, how far the lower ankle is below the hips in torso lengths (y down)."""
    p = np.asarray(pts_px, dtype=np.float64)[..., :2]
    sh, hip = _mid(p, _SH), _mid(p, _HIP)
    v = sh - hip
    torso = np.linalg.norm(v, axis=-1)
    low_ankle = np.fmax(p[:, _ANKLE[0], 1], p[:, _ANKLE[1], 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        tilt = np.degrees(np.arctan2(np.abs(v[:, 0]), -v[:, 1]))
        below = (low_ankle - hip[:, 1]) / torso
    return {"tilt": tilt, "ankles_below": below}


def _lying_kind(front: float, left: float, nose: float, torso_thigh: float) -> str:
    """Which horizontal posture, from the world axes of a frame whose torso lies down."""
    if abs(left) >= AXIS_MIN and abs(left) - abs(front) >= AXIS_MARGIN:
        return SIDE_LYING
    if abs(front) < AXIS_MIN or abs(front) - abs(left) < AXIS_MARGIN or not nose >= NOSE_AGREE:
        return HORIZONTAL
    if front > 0:
        return LYING
    if torso_thigh < KNEES_UNDER_HIPS_DEG:
        return ALL_FOURS
    return PRONE if torso_thigh > STRAIGHT_BODY_DEG else HORIZONTAL


def classify_frames(
    pts_px: npt.NDArray[np.floating], world: npt.NDArray[np.floating] | None = None
) -> list[str]:
    """One posture label per frame (``unknown`` where there is no person or no clear answer).

    ``pts_px`` is ``(T, 33, 2+)`` image points in pixels (y down), ``world`` ``(T, 33, 3)`` MediaPipe
    world landmarks or None. See the module docstring for the rules and :data:`UP_STANDING` etc.
    for the margins.
    """
    img = image_cues(pts_px)
    n = len(img["tilt"])
    ax = world_axes(world) if world is not None else None
    labels: list[str] = []
    for i in range(n):
        tilt, below = img["tilt"][i], img["ankles_below"][i]
        upright_img = bool(tilt <= IMAGE_UPRIGHT_DEG and below >= ANKLES_BELOW)
        across_img = bool(tilt >= IMAGE_ACROSS_DEG)
        has_world = ax is not None and bool(ax["depth"][i] >= MIN_DEPTH) and np.isfinite(ax["torso"][i])
        label = UNKNOWN
        if has_world and ax is not None:
            torso = float(ax["torso"][i])
            if torso >= UP_STANDING:
                facing_up = not float(ax["front"][i]) <= FRONT_UP_STANDING
                label = STANDING if upright_img and not facing_up else UNKNOWN
            elif torso <= UP_HORIZONTAL and not upright_img:
                front, left, nose = (float(ax[k][i]) for k in ("front", "left", "nose"))
                label = _lying_kind(front, left, nose, float(ax["torso_thigh"][i]))
        elif across_img:
            label = HORIZONTAL
        labels.append(label)
    return labels


def clip_posture(labels: list[str]) -> ClipPosture:
    """The recording's posture from its frames' labels: a posture held in :data:`CLIP_SHARE` of the
    frames with a label, or ``horizontal`` when the lying postures together are, else ``unknown``.
    Frames labelled ``unknown`` count against every posture, so a clip the classifier is unsure
    about most of the time stays ``unknown``."""
    if not labels:
        return ClipPosture(UNKNOWN, 0.0, {})
    counts: dict[str, int] = {}
    for lab in labels:
        counts[lab] = counts.get(lab, 0) + 1
    shares = {k: c / len(labels) for k, c in sorted(counts.items(), key=lambda kv: -kv[1])}
    best, share = next(((k, s) for k, s in shares.items() if k != UNKNOWN), (UNKNOWN, 0.0))
    if best != UNKNOWN and share >= CLIP_SHARE:
        return ClipPosture(best, share, shares)
    down = sum(s for k, s in shares.items() if k not in (STANDING, UNKNOWN))
    if down >= CLIP_SHARE:
        return ClipPosture(HORIZONTAL, down, shares)
    return ClipPosture(UNKNOWN, shares.get(UNKNOWN, 0.0), shares)


def observe(pts_px: npt.NDArray[np.floating], world: npt.NDArray[np.floating] | None = None) -> ClipPosture:
    """The posture of a recording: :func:`classify_frames` over the frames with a person, then
    :func:`clip_posture`."""
    p = np.asarray(pts_px)
    found = ~np.isnan(p[:, Landmark.LEFT_HIP, 0])
    if not found.any():
        return ClipPosture(UNKNOWN, 0.0, {})
    w = None if world is None else np.asarray(world)[found]
    return clip_posture(classify_frames(p[found], w))


SEEN: Final[dict[str, str]] = {
    STANDING: "someone standing",
    LYING: "someone lying on their back",
    SIDE_LYING: "someone lying on their side",
    ALL_FOURS: "someone on hands and knees",
    PRONE: "someone face down with the legs straight (a plank, or lying on the front)",
    HORIZONTAL: "someone lying down",
}
DONE: Final[dict[str, str]] = {
    STANDING: "standing",
    LYING: "lying on your back",
    SIDE_LYING: "lying on your side",
    ALL_FOURS: "on your hands and knees",
}


def contradiction(observed: ClipPosture, spec_posture: str | None, spec_name: str) -> str | None:
    """One plain line when the person's posture clearly rules out an exercise done in
    ``spec_posture`` (None when it does not)."""
    if observed.allows(spec_posture) or spec_posture is None:
        return None
    return f"This looks like {SEEN[observed.label]}, but {spec_name} is done {DONE[spec_posture]}."
