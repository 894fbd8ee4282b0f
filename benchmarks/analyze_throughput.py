"""Benchmark: ``siform analyze`` throughput against bare MediaPipe pose inference, same clip, same run.

Four ways through the same video, in video seconds per wall-clock second:

(a) bare inference: decode with OpenCV, ``cv2.cvtColor`` BGR->RGB, ``mp.Image``,
    ``PoseLandmarker.detect_for_video`` (VIDEO mode) on every frame, one landmarker; nothing else;
(b) ``review_video`` (what ``siform analyze`` runs): pass 1 pose (on two estimators at once where
    there are two cores, see ``siform.pose_lanes``), engine, session.json, frames.csv,
    landmarks.trc, annotated.mp4 (pass 2: decode again, paint, encode H.264; the report's charts
    are drawn meanwhile), report;
(c) the same with ``video=False`` (no pass 2);
(d) (b) with one pose estimator (``SIFORM_POSE_LANES=1``): what a one-core machine would do.

The target is (b)/(a) >= 0.97: the review job should cost little more than the inference it
cannot avoid. (b) reaches it by using the second core that MediaPipe leaves idle; (d) shows the
cost of everything else on top of one-lane inference. The ways alternate over several rounds
(order rotated per round, fresh landmarkers each time) so machine load falls on all alike; the
median of each is reported, and the ratios are medians of the per-round ratios. Run on a quiet
machine.

    python benchmarks/analyze_throughput.py [VIDEO] [--exercise glute_bridge] [--rounds 5]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import mediapipe as mp
from mediapipe.tasks.python import BaseOptions, vision

from siform.model_store import ensure_model
from siform.review import review_video
from siform.specs.load import find_spec

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = ROOT / "sample_videos" / "bridge_raised_side.mp4"


def bare_inference(video: Path, model: Path) -> int:
    """(a): every frame through MediaPipe and nothing else; returns the number of frames."""
    options = vision.PoseLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(model)), running_mode=vision.RunningMode.VIDEO
    )
    cap = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG)
    n = 0
    last = -1
    with vision.PoseLandmarker.create_from_options(options) as landmarker:
        while True:
            ok, image = cap.read()
            if not ok:
                break
            t_ms = max(round(cap.get(cv2.CAP_PROP_POS_MSEC)), last + 1)
            last = t_ms
            rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            landmarker.detect_for_video(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb), t_ms)
            n += 1
    cap.release()
    return n


def video_seconds(video: Path) -> float:
    cap = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG)
    frames, fps = cap.get(cv2.CAP_PROP_FRAME_COUNT), cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    return float(frames / fps)


def one_lane(run: Callable[[], object]) -> object:
    """``run`` with pass 1 on one pose estimator, as on a one-core machine."""
    old = os.environ.get("SIFORM_POSE_LANES")
    os.environ["SIFORM_POSE_LANES"] = "1"
    try:
        return run()
    finally:
        if old is None:
            del os.environ["SIFORM_POSE_LANES"]
        else:
            os.environ["SIFORM_POSE_LANES"] = old


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("video", nargs="?", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--exercise", default="glute_bridge", help="exercise spec id (default: glute_bridge)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    model = ensure_model("full").path
    spec = find_spec(args.exercise)
    seconds = video_seconds(args.video)
    with tempfile.TemporaryDirectory() as tmp:
        ways: dict[str, Callable[[], object]] = {
            "a": lambda: bare_inference(args.video, model),
            "b": lambda: review_video(args.video, spec, Path(tmp) / "b", model),
            "c": lambda: review_video(args.video, spec, Path(tmp) / "c", model, video=False),
            "d": lambda: one_lane(lambda: review_video(args.video, spec, Path(tmp) / "d", model)),
        }
        timed(ways["a"])  # warm-up: file cache, model load, lazy imports
        wall: dict[str, list[float]] = {k: [] for k in ways}
        order = list(ways)
        for r in range(args.rounds):
            for key in order[r % len(order) :] + order[: r % len(order)]:
                wall[key].append(timed(ways[key]))
            speeds = {k: seconds / wall[k][-1] for k in ways}
            print(
                f"round {r + 1}: " + "  ".join(f"({k}) {v:5.2f}" for k, v in speeds.items()) + "  video s/s",
                file=sys.stderr,
            )

    labels = {
        "a": "bare inference (decode, cvtColor, mp.Image, detect_for_video)",
        "b": "review_video, annotated video",
        "c": "review_video, video=False",
        "d": "review_video, annotated video, one pose lane (SIFORM_POSE_LANES=1)",
    }
    print(f"{args.video.name}: {seconds:.2f} s of video, {args.rounds} rounds, medians")
    for k, label in labels.items():
        med = statistics.median(wall[k])
        print(f"  ({k}) {seconds / med:6.2f} video s per wall s  ({med:.2f} s)  {label}")
    for k in ("b", "c", "d"):
        ratio = statistics.median(a / x for a, x in zip(wall["a"], wall[k], strict=True))
        print(f"  ({k})/(a) = {ratio:.3f}  (target >= 0.97)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
