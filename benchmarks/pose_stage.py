"""Benchmark: what siform's pose stage costs on top of bare MediaPipe, per frame, in VIDEO mode.

Both sides get the same decoded frames (decoding is the frame source's cost, not the pose
stage's). The bare side does what any caller of MediaPipe must do: BGR->RGB, wrap in mp.Image,
``detect_for_video``. The siform side calls ``PoseEstimator(frame)``, which also turns the result
into numpy arrays. Each side has its own landmarker (own tracking state) and they take turns frame
by frame, in alternating order (bare first on even frames, siform first on odd ones), so machine
load and cache effects fall on both alike. Each round uses fresh landmarkers; the figures of the
round with the median ratio are reported. Run it on a quiet machine: other load shows as noise.

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


def interleaved_round(model: Path, frames: list[Frame]) -> tuple[float, float]:
    """ms/frame for (bare, siform) over the same frames, taking turns frame by frame."""
    options = vision.PoseLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(model)), running_mode=vision.RunningMode.VIDEO
    )
    bare = vision.PoseLandmarker.create_from_options(options)
    stage = PoseEstimator("video", model_path=model)

    def run_bare(frame: Frame) -> float:
        start = time.perf_counter()
        rgb = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)
        bare.detect_for_video(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb), frame.t_ms)
        return time.perf_counter() - start

    def run_stage(frame: Frame) -> float:
        start = time.perf_counter()
        stage(frame)
        return time.perf_counter() - start

    try:
        run_bare(frames[0])  # first calls build graphs and caches on both sides; not timed
        run_stage(frames[0])
        t_bare = t_stage = 0.0
        for k, frame in enumerate(frames[1:]):
            if k % 2 == 0:
                t_bare += run_bare(frame)
                t_stage += run_stage(frame)
            else:
                t_stage += run_stage(frame)
                t_bare += run_bare(frame)
        n = len(frames) - 1
        return t_bare * 1000.0 / n, t_stage * 1000.0 / n
    finally:
        bare.close()
        stage.close()


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
        b_ms, s_ms = interleaved_round(model, frames)
        bare.append(b_ms)
        stage.append(s_ms)
        msg = f"round {i + 1}: bare {bare[-1]:.2f} ms/frame, siform {stage[-1]:.2f} ms/frame"
        print(msg, file=sys.stderr)
    ratios = [st / b for b, st in zip(bare, stage, strict=True)]
    k = ratios.index(statistics.median_low(ratios))
    b, s = bare[k], stage[k]
    print(f"clip: {args.video.name}, {len(frames)} frames at 640x480, model {model.name}")
    print(f"rounds: {args.rounds}, bare and siform taking turns frame by frame")
    print(f"bare PoseLandmarker.detect_for_video : {b:7.2f} ms/frame (round with the median ratio)")
    print(f"siform PoseEstimator (pose stage)    : {s:7.2f} ms/frame (round with the median ratio)")
    print(f"ratio siform / bare                  : {s / b:7.4f}  (overhead {100.0 * (s / b - 1):+.2f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
