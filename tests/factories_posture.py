"""Bodies in 3-D, in every posture, as MediaPipe reports them: world landmarks and image points.

The posture classifier (:mod:`siform.posture`) reads MediaPipe's world landmarks, which are metric,
centred between the hips and turned with the camera (x right, y down, z away from the camera), and
the image. So these poses are built in the body's own frame (cm: ``a`` towards the head, ``u`` out
of the chest, ``l`` towards the person's left), turned into the room (x right, y down with gravity,
z away from the camera, horizontal), and then seen by a camera pitched down by ``pitch_deg``:
camera ``y = y cos p - z sin p``, ``z = y sin p + z cos p``. The image is that, orthographic, at
:data:`SCALE` pixels per cm; world landmarks are in metres, with optional noise.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from siform.landmarks import NUM_LANDMARKS, Landmark
from siform.pose import PoseTrack

Vec = npt.NDArray[np.float64]
SCALE = 2.5
CENTRE = (320.0, 260.0)

# body frame joint centres, cm: (a, u, l)
_HIP_HALF, _SHOULDER_HALF, _TORSO, _THIGH, _SHIN = 12.0, 18.0, 50.0, 42.0, 40.0


def _straight_body() -> dict[str, Vec]:
    """Standing straight (also lying flat: the posture is where the body frame is turned)."""
    p: dict[str, Vec] = {}
    for side, sg in (("left", 1.0), ("right", -1.0)):
        # a body is not flat: shoulders sit a little behind the hips, knees ahead of them
        p[f"{side}_hip"] = np.array([0.0, 0.0, sg * _HIP_HALF])
        p[f"{side}_shoulder"] = np.array([_TORSO, -4.0, sg * _SHOULDER_HALF])
        p[f"{side}_knee"] = np.array([-_THIGH, 3.0, sg * _HIP_HALF])
        p[f"{side}_ankle"] = np.array([-_THIGH - _SHIN, -2.0, sg * _HIP_HALF])
    p["nose"] = np.array([_TORSO + 20.0, 9.0, 0.0])
    return p


def _hands_and_knees() -> dict[str, Vec]:
    """On all fours in the body frame: thighs at a right angle to the torso (towards the front),
    shins back along the torso's line."""
    p = _straight_body()
    for side, sg in (("left", 1.0), ("right", -1.0)):
        p[f"{side}_knee"] = np.array([0.0, -_THIGH, sg * _HIP_HALF])
        p[f"{side}_ankle"] = np.array([-_SHIN, -_THIGH, sg * _HIP_HALF])
    p["nose"] = np.array([_TORSO + 18.0, 8.0, 0.0])
    return p


# where the body's a (head), u (front) and l (left) axes point in the room (x right, y down, z away)
_ROOM: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    # (a, u); l = a x u
    "standing_front": ((0, -1, 0), (0, 0, -1)),  # facing the camera
    "standing_side": ((0, -1, 0), (-1, 0, 0)),  # facing image left
    "supine_side": ((1, 0, 0), (0, -1, 0)),  # on the back, head to image right
    "supine_feet": ((0, 0, 1), (0, -1, 0)),  # on the back, head away from the camera
    "side_lying_front": ((1, 0, 0), (0, 0, -1)),  # on the left side, facing the camera
    "prone_side": ((1, 0, 0), (0, 1, 0)),  # face down, head to image right
}


def pose(
    posture: str,
    pitch_deg: float = 0.0,
    *,
    all_fours: bool = False,
    frames: int = 30,
    noise_m: float = 0.0,
    flat_world: bool = False,
    seed: int = 0,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """``(image_px (T, 33, 2), world (T, 33, 3))`` of a still body in ``posture`` (a key of the
    placements above) seen by a camera pitched down ``pitch_deg``. ``all_fours`` bends hips and
    knees to a right angle (use with ``prone_side``). ``flat_world`` gives world landmarks without
    depth, as the 2-D synthetic tracks of :mod:`factories` do."""
    a, u = (np.array(v, dtype=np.float64) for v in _ROOM[posture])
    l_ = np.cross(a, u)  # the body frame is right-handed: a = u x l, so l = a x u
    m = np.stack([a, u, l_], axis=1)  # body (a, u, l) -> room
    body = _hands_and_knees() if all_fours else _straight_body()
    p = math.radians(pitch_deg)
    cam = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    rng = np.random.default_rng(seed)
    image = np.full((frames, NUM_LANDMARKS, 2), np.nan, dtype=np.float32)
    world = np.full((frames, NUM_LANDMARKS, 3), np.nan, dtype=np.float32)
    hips = (body["left_hip"] + body["right_hip"]) / 2
    for name, b in body.items():
        c = cam @ (m @ (b - hips)) / 100.0  # metres, camera-turned, centred between the hips
        idx = Landmark[name.upper()]
        for t in range(frames):
            w = c + (rng.normal(0.0, noise_m, 3) if noise_m else 0.0)
            world[t, idx] = (w[0], w[1], 0.0 if flat_world else w[2])
            image[t, idx] = (CENTRE[0] + SCALE * 100.0 * w[0], CENTRE[1] + SCALE * 100.0 * w[1])
    return image, world


def posture_track(placement: str, pitch: float, frames: int = 90) -> PoseTrack:
    """A still body (:func:`pose`) as a PoseTrack (640x480, 30 fps)."""
    px, world = pose(placement, pitch, frames=frames, noise_m=0.005)
    image = np.full((frames, 33, 5), np.nan, dtype=np.float32)
    image[..., 0] = px[..., 0] / 640.0
    image[..., 1] = px[..., 1] / 480.0
    image[..., 2] = 0.0
    image[..., 3:] = 1.0
    # landmarks the factory does not place sit on a joint it does (arms along the body, feet at the
    # ankles, the face at the nose), all visible
    for lm in Landmark:
        if not np.isnan(image[0, lm, 0]):
            continue
        side = lm.name.split("_")[0]
        if side not in ("LEFT", "RIGHT"):
            src = Landmark.NOSE
        elif any(k in lm.name for k in ("HEEL", "FOOT")):
            src = Landmark[f"{side}_ANKLE"]
        elif any(k in lm.name for k in ("EYE", "EAR", "MOUTH")):
            src = Landmark.NOSE
        else:  # elbow, wrist and hand
            src = Landmark[f"{side}_HIP"]
        image[:, lm] = image[:, src]
        world[:, lm] = world[:, src]
    t = np.round(np.arange(frames) * 1000.0 / 30.0).astype(np.int64)
    return PoseTrack(t, image, world, 640, 480)
