"""Benchmark: what siform's pose stage costs on top of bare MediaPipe, per frame, in VIDEO mode.

Both sides get the same decoded frames (decoding is the frame source's cost, not the pose
stage's). The bare side does what any caller of MediaPipe must do: BGR->RGB, wrap in mp.Image,
``detect_for_video``. The siform side calls ``PoseEstimator(frame)``, which also turns the result
into numpy arrays. Rounds alternate (bare, siform, bare, ...) with a fresh landmarker each so
warm-up and machine load fall on both sides alike; the median round is reported.

    python benchmarks/pose_stage.py [VIDEO] [--rounds 5] [--frames 150]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import mediapipe as mp
from mediapipe.tasks.python import BaseOptions, vision

from siform.model_store import ensure_model
from siform.pose import PoseEstimator
from siform.sources import Frame, VideoFileSource

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = ROOT / "sample_videos" / "bridge_raised_side.mp4"


def load_frames(path: Path, limit: int, size: tuple[int, int]) -> list[Frame]:
    frames = []
    with VideoFileSource(path) as source:
        for frame in source:
            image = frame.image
            if image.shape[1::-1] != size:
                image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            frames.append(Frame(frame.index, frame.t_ms, image))
            if len(frames) >= limit:
                break
    return frames


def bare_round(model: Path, frames: list[Frame]) -> float:
    options = vision.PoseLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(model)), running_mode=vision.RunningMode.VIDEO
    )
    landmarker = vision.PoseLandmarker.create_from_options(options)
    try:
        start = time.perf_counter()
        for frame in frames:
            rgb = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)
            landmarker.detect_for_video(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb), frame.t_ms)
        return (time.perf_counter() - start) * 1000.0 / len(frames)
    finally:
        landmarker.close()


def stage_round(model: Path, frames: list[Frame]) -> float:
    with PoseEstimator("video", model_path=model) as estimator:
        start = time.perf_counter()
        for frame in frames:
            estimator(frame)
        return (time.perf_counter() - start) * 1000.0 / len(frames)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--frames", type=int, default=150)
    args = parser.parse_args()

    model = ensure_model("full").path
    frames = load_frames(args.video, args.frames, (640, 480))
    bare: list[float] = []
    stage: list[float] = []
    for i in range(args.rounds):
        bare.append(bare_round(model, frames))
        stage.append(stage_round(model, frames))
        msg = f"round {i + 1}: bare {bare[-1]:.2f} ms/frame, siform {stage[-1]:.2f} ms/frame"
        print(msg, file=sys.stderr)
    b, s = statistics.median(bare), statistics.median(stage)
    print(f"clip: {args.video.name}, {len(frames)} frames at 640x480, model {model.name}")
    print(f"rounds: {args.rounds}, alternating bare and siform")
    print(f"bare PoseLandmarker.detect_for_video : {b:7.2f} ms/frame (median round)")
    print(f"siform PoseEstimator (pose stage)    : {s:7.2f} ms/frame (median round)")
    print(f"ratio siform / bare                  : {s / b:7.4f}  (overhead {100.0 * (s / b - 1):+.2f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
