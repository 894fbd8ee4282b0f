#!/usr/bin/env python3
"""Check a rendered clip against its truth file, and optionally score MediaPipe Pose on it.

    python tools/synth/check_clip.py sample_videos/bridge_raised_side.mp4 [--model pose_landmarker_full.task]
        [--every 1] [--json report.json]

Needs opencv-python and numpy; --model also needs mediapipe. Opens the MP4 with OpenCV, checks the
frame count and size against `<clip>.truth.json`, and with --model runs a PoseLandmarker (VIDEO mode,
every decoded frame so its tracking behaves as on a live stream) and reports the pixel error of the
12 truth joints (shoulders, elbows, wrists, hips, knees, ankles) on every --every-th frame.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np


def truth_path(video: Path) -> Path:
    return video.with_name(video.stem + ".truth.json")


def read_frames(video: Path) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise SystemExit(f"cannot open {video}")
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    return frames, fps


def mediapipe_errors(
    frames: list[np.ndarray], fps: float, truth: dict[str, Any], model: Path, every: int
) -> dict[str, Any]:
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    opts = vision.PoseLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(model)),
        running_mode=vision.RunningMode.VIDEO,
        num_poses=1,
    )
    keys = sorted(truth["frames"][0]["joints2d"], key=int)
    errs: list[list[float]] = []  # per scored frame, per joint (nan if no pose)
    found = scored = 0
    with vision.PoseLandmarker.create_from_options(opts) as lm:
        for i, img in enumerate(frames):
            h, w = img.shape[:2]
            rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            res = lm.detect_for_video(
                mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb), int(round(i * 1000 / fps))
            )
            if i % every:
                continue
            scored += 1
            t = truth["frames"][i]["joints2d"]
            if not res.pose_landmarks:
                errs.append([float("nan")] * len(keys))
                continue
            found += 1
            p = res.pose_landmarks[0]
            errs.append([float(np.hypot(p[int(k)].x * w - t[k][0], p[int(k)].y * h - t[k][1])) for k in keys])
    e = np.array(errs)
    names = truth["meta"].get("landmarks", {})
    per_joint = {names.get(k, k): round(float(np.nanmean(e[:, j])), 1) for j, k in enumerate(keys)}
    return {
        "frames_scored": scored,
        "pose_found": found,
        "pose_found_pct": round(100.0 * found / max(scored, 1), 1),
        "mean_joint_error_px": round(float(np.nanmean(e)), 2),
        "median_joint_error_px": round(float(np.nanmedian(e)), 2),
        "p95_joint_error_px": round(float(np.nanpercentile(e, 95)), 1),
        "per_joint_mean_px": per_joint,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("video", type=Path)
    ap.add_argument("--model", type=Path, default=None, help="MediaPipe PoseLandmarker .task bundle")
    ap.add_argument(
        "--every", type=int, default=1, help="score every N-th frame (all frames are still tracked)"
    )
    ap.add_argument("--json", type=Path, default=None, help="also write the report here")
    a = ap.parse_args(argv)

    with open(truth_path(a.video)) as fh:
        truth = json.load(fh)
    meta = truth["meta"]
    frames, fps = read_frames(a.video)
    h, w = frames[0].shape[:2] if frames else (0, 0)
    report: dict[str, Any] = {
        "video": str(a.video),
        "bytes": a.video.stat().st_size,
        "frames": len(frames),
        "width": w,
        "height": h,
        "fps": fps,
    }
    problems = []
    if len(frames) != meta["frames"] or len(truth["frames"]) != meta["frames"]:
        problems.append(
            f"frame count: video {len(frames)}, truth meta {meta['frames']}, truth rows {len(truth['frames'])}"
        )
    if (w, h) != (meta["width"], meta["height"]):
        problems.append(f"size: video {w}x{h}, truth {meta['width']}x{meta['height']}")
    if abs(fps - meta["fps"]) > 1e-3:
        problems.append(f"fps: video {fps}, truth {meta['fps']}")
    report["problems"] = problems
    if a.model and not problems:
        report["mediapipe"] = mediapipe_errors(frames, fps, truth, a.model, a.every)
    print(json.dumps(report, indent=1))
    if a.json:
        a.json.write_text(json.dumps(report, indent=1) + "\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
