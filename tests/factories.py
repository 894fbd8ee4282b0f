"""Synthetic landmark sequences with known truth: reps, faults, noise, dropouts, leaving the frame.

Each generator draws a stick figure in image pixels from a few joint positions per frame and
returns a real :class:`PoseTrack` (normalised landmarks, visibility, NaN rows where nobody is in
view), plus the truth: which frames belong to which rep, which rep carries which fault.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from siform.landmarks import NUM_LANDMARKS, Landmark
from siform.pose import PoseTrack

W, H = 640, 480
FPS = 30.0
Joints = dict[str, npt.NDArray[np.float64]]
"""Joint name (``left_hip``...) -> ``(2,)`` pixel position for one frame."""


@dataclass
class Truth:
    rep_frames: list[tuple[int, int]] = field(default_factory=list)
    faults: dict[int, str] = field(default_factory=dict)
    """0-based rep index -> id of the check that must fail in it."""
    hold_s: list[float] = field(default_factory=list)


def frame_landmarks(joints: Joints, visibility: dict[str, float] | None = None) -> npt.NDArray[np.float32]:
    """One ``(33, 5)`` row: the given joints, the rest placed plausibly around them."""
    row = np.zeros((NUM_LANDMARKS, 5), dtype=np.float32)
    pos: dict[int, npt.NDArray[np.float64]] = {}
    for name, p in joints.items():
        pos[Landmark[name.upper()]] = np.asarray(p, dtype=np.float64)
    mid_sh = (pos[Landmark.LEFT_SHOULDER] + pos[Landmark.RIGHT_SHOULDER]) / 2
    mid_hip = (pos[Landmark.LEFT_HIP] + pos[Landmark.RIGHT_HIP]) / 2
    up = mid_sh - mid_hip
    head = mid_sh + 0.35 * up
    for lm in Landmark:
        if lm in pos:
            continue
        name = lm.name
        side = "LEFT" if name.startswith("LEFT") else "RIGHT"
        if any(k in name for k in ("EYE", "EAR", "NOSE", "MOUTH")):
            pos[lm] = head + (np.array([4.0, 0.0]) if side == "LEFT" else np.array([-4.0, 0.0]))
        elif any(k in name for k in ("ELBOW", "WRIST", "PINKY", "INDEX", "THUMB")) and "FOOT" not in name:
            sh, hip = pos[Landmark[f"{side}_SHOULDER"]], pos[Landmark[f"{side}_HIP"]]
            frac = 0.5 if "ELBOW" in name else 0.95
            pos[lm] = sh + frac * (hip - sh) + np.array([3.0, 0.0])
        elif "HEEL" in name:
            pos[lm] = pos[Landmark[f"{side}_ANKLE"]] + np.array([-5.0, 6.0])
        elif "FOOT_INDEX" in name:
            pos[lm] = pos[Landmark[f"{side}_ANKLE"]] + np.array([12.0, 8.0])
    for lm, p in pos.items():
        row[lm, 0] = p[0] / W
        row[lm, 1] = p[1] / H
        row[lm, 3] = (visibility or {}).get(lm.name.lower(), 0.99)
        row[lm, 4] = 0.99
    return row


def track_from(rows: list[npt.NDArray[np.float32] | None], fps: float = FPS) -> PoseTrack:
    image = np.full((len(rows), NUM_LANDMARKS, 5), np.nan, dtype=np.float32)
    for i, r in enumerate(rows):
        if r is not None:
            image[i] = r
    # World landmarks as MediaPipe gives them (metres, origin between the hips): here the drawn
    # pose itself, flat (z = 0) at 400 px to the metre, so 3D signals read what the image shows.
    px = image[..., :2].astype(np.float64) * np.array([W, H])
    hips = 0.5 * (px[:, Landmark.LEFT_HIP] + px[:, Landmark.RIGHT_HIP])
    world = np.zeros((len(rows), NUM_LANDMARKS, 3), dtype=np.float32)
    world[..., :2] = (px - hips[:, None, :]) / 400.0
    world[np.isnan(image[:, 0, 0])] = np.nan
    t = np.round(np.arange(len(rows)) * 1000.0 / fps).astype(np.int64)
    return PoseTrack(t, image, world, W, H)


def rep_profile(
    reps: int, rep_s: float = 3.0, rest_s: float = 1.0, lead_s: float = 1.5, top_s: float = 0.6
) -> tuple[npt.NDArray[np.float64], list[tuple[int, int]], list[int]]:
    """Progress 0..1 per frame for ``reps`` smooth reps.

    Returns (progress, each rep's first and last frame, rep index per frame with -1 at rest).
    """
    frames: list[float] = []
    rep_id: list[int] = []
    spans = []
    frames += [0.0] * int(lead_s * FPS)
    rep_id += [-1] * int(lead_s * FPS)
    move = (rep_s - top_s) / 2
    for r in range(reps):
        start = len(frames)
        up = [0.5 - 0.5 * np.cos(np.pi * k / (move * FPS)) for k in range(int(move * FPS))]
        frames += up + [1.0] * int(top_s * FPS) + up[::-1]
        rep_id += [r] * (len(frames) - start)
        spans.append((start, len(frames) - 1))
        frames += [0.0] * int(rest_s * FPS)
        rep_id += [-1] * int(rest_s * FPS)
    return np.array(frames), spans, rep_id


def bridge_side_view(
    reps: int = 5,
    drop_rep: int | None = 2,
    drop_ratio: float = 0.06,
    shallow_rep: int | None = None,
    partial_rep: int | None = None,
    raised: bool = True,
    noise_px: float = 0.0,
    seed: int = 0,
    dropout: Callable[[int], bool] | None = None,
    rep_s: float = 3.0,
    top_s: float = 0.6,
) -> tuple[PoseTrack, Truth]:
    """A glute bridge seen from the person's left side (camera raised unless ``raised`` is False).

    Each rep takes ``rep_s`` from leaving the floor to lying back down, ``top_s`` of it at the top.

    The pelvic drop fault lowers the left hip by ``drop_ratio`` thigh lengths at the top of
    ``drop_rep``; ``shallow_rep`` lifts under half way (the hip angle tops out near 162 degrees);
    ``partial_rep`` lifts less than a third (near 157: an attempt, not a rep).
    """
    rng = np.random.default_rng(seed)
    progress, spans, rep_id = rep_profile(reps, rep_s=rep_s, top_s=top_s)
    thigh, torso, shin = 110.0, 170.0, 100.0
    # A raised camera sees the far side higher in the image (0.38 torso lengths on our renders).
    far_offset = -0.38 * torso if raised else -0.05 * torso
    rows: list[npt.NDArray[np.float32] | None] = []
    truth = Truth(rep_frames=spans)
    if drop_rep is not None:
        truth.faults[drop_rep] = "level_pelvis"
    if shallow_rep is not None:
        truth.faults[shallow_rep] = "full_extension"
    for i, p in enumerate(progress):
        if dropout is not None and dropout(i):
            rows.append(None)
            continue
        r = rep_id[i]
        lift = p * (0.45 if r == shallow_rep and r >= 0 else 0.3 if r == partial_rep and r >= 0 else 1.0)
        shoulder = np.array([150.0, 360.0])
        knee = np.array([150.0 + torso + thigh * 0.75, 360.0 - 55.0])
        # Hip rises from the floor towards the shoulder-knee line (slightly above at full lift).
        hip_floor = np.array([150.0 + torso * 0.97, 360.0])
        hip_top = shoulder + (knee - shoulder) * (torso / (torso + thigh * 0.8)) + np.array([0.0, -4.0])
        hip = hip_floor + lift * (hip_top - hip_floor)
        ankle = knee + np.array([15.0, shin])
        drop = drop_ratio * thigh * (p if r == drop_rep else 0.0)
        j: Joints = {
            "left_shoulder": shoulder, "right_shoulder": shoulder + np.array([0.0, far_offset]),
            "left_hip": hip + np.array([0.0, drop]), "right_hip": hip + np.array([0.0, far_offset]),
            "left_knee": knee, "right_knee": knee + np.array([0.0, far_offset]),
            "left_ankle": ankle, "right_ankle": ankle + np.array([0.0, far_offset]),
        }  # fmt: skip
        if noise_px:
            j = {k: v + rng.normal(0.0, noise_px, 2) for k, v in j.items()}
        rows.append(frame_landmarks(j, {"right_shoulder": 0.6, "right_hip": 0.6, "right_knee": 0.6,
                                        "right_ankle": 0.6}))  # fmt: skip
    return track_from(rows), truth
