"""Live coaching latency: from a frame grabbed to its overlay drawn, beside bare pose inference.

The live loop of ``siform live`` (:func:`siform.live.app.run_session`: the newest-frame mailbox,
the pose model, the two-person check, the coach, :func:`siform.live.overlay.draw_live`) plays a
sample clip and times every frame it processes from the moment the frame reached the mailbox (a
fast feed: was read) to the moment its overlay was drawn. MediaPipe's ``PoseLandmarker`` alone
(VIDEO mode, the image already converted) runs on the same frames in the same run: with
``--pace fast`` interleaved with the loop frame by frame, so both are measured under the same load
(the fair comparison on a shared machine); in real time after the loop, on the frames it processed.
The target: the loop's median at most 5 ms above bare inference's. "All the rest" is each frame's
latency minus its own pose call (mailbox wait, colour conversion, coach, drawing).

    python benchmarks/live_latency.py [--clip sample_videos/bridge_high_right.mp4] [--pace fast]

Prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from siform.live.app import CrowdWatch, LoopStats, run_session
from siform.live.camera import FileFeed
from siform.live.coach import Coach, Plan, Tick
from siform.live.overlay import draw_live
from siform.live.state import LiveView
from siform.model_store import ensure_model
from siform.pose import PoseEstimator
from siform.sources import Frame, VideoFileSource
from siform.specs.load import find_spec

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 5.0


class DrawOnly:
    """What the window does to a frame, without a screen: the overlay drawn (mirrored)."""

    window = None

    def __init__(self) -> None:
        self.shown: list[int] = []

    def show(self, image: np.ndarray, view: LiveView, t_ms: int, fresh: bool) -> None:
        draw_live(image, view, mirror=True)
        if fresh:
            self.shown.append(view.t_ms)


def percentile(x: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(x), q))


class BareLandmarker:
    """MediaPipe's ``PoseLandmarker`` alone (VIDEO mode), timed on ``detect_for_video`` only."""

    def __init__(self, model: Path) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(model)), running_mode=vision.RunningMode.VIDEO
        )
        self._landmarker = vision.PoseLandmarker.create_from_options(options)
        self.ms: list[float] = []

    def __call__(self, frame: Frame) -> None:
        import mediapipe as mp

        rgb = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
        t = time.perf_counter_ns()
        self._landmarker.detect_for_video(image, frame.t_ms)
        self.ms.append((time.perf_counter_ns() - t) / 1e6)

    def close(self) -> None:
        self._landmarker.close()


class Interleaved:
    """A fast file feed that, before handing over each frame, runs the bare landmarker on the frame
    the loop processed last: both measured at the same moment, under the same load, on the same
    frames, and the bare call outside the loop's timing (a fast feed's frame is grabbed when read)."""

    def __init__(self, feed: FileFeed, bare: BareLandmarker) -> None:
        self._feed = feed
        self._bare = bare
        self._last: Frame | None = None
        self.info = feed.info

    def read(self, timeout: float) -> Frame | None:
        if self._last is not None:
            self._bare(self._last)
        frame = self._last = self._feed.read(timeout)
        return frame

    def __getattr__(self, name: str) -> object:
        return getattr(self._feed, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", type=Path, default=ROOT / "sample_videos" / "bridge_high_right.mp4")
    parser.add_argument("--exercise", default=None, help="spec id (default: from the clip's truth file)")
    parser.add_argument("--pace", choices=["realtime", "fast"], default="realtime")
    args = parser.parse_args()
    exercise = args.exercise
    if exercise is None:
        import json

        exercise = json.loads(args.clip.with_suffix(".truth.json").read_text())["meta"]["spec"]
    spec = find_spec(exercise)
    model = ensure_model("full").path

    feed = FileFeed(args.clip, args.pace)
    bare_model = BareLandmarker(model)
    source = Interleaved(feed, bare_model) if args.pace == "fast" else feed
    estimator = PoseEstimator("video", model_path=model)
    crowd = CrowdWatch(model, background=args.pace == "realtime")
    coach = Coach(spec, Plan.of(spec, 1, 99, None), feed.info.width, feed.info.height)
    screen = DrawOnly()
    stats = LoopStats()

    def on_tick(_tick: Tick) -> None:
        pass

    try:
        run_session(source, estimator, crowd, coach, screen, on_tick, None, stats)  # type: ignore[arg-type]
        if args.pace == "realtime":  # afterwards, on the frames the loop processed
            with VideoFileSource(args.clip) as again:
                for frame in again:
                    if frame.t_ms in set(screen.shown):
                        bare_model(frame)
    finally:
        crowd.close()
        estimator.close()
        feed.close()
        bare_model.close()
    loop = stats.latency_ms[2:]
    bare = bare_model.ms[2:]
    in_loop = stats.pose_ms[2:]
    total = stats.frames + stats.dropped
    info = feed.info
    print(f"clip {args.clip.name} ({info.width}x{info.height}, {info.fps:g} fps), pace {args.pace}")
    print(f"frames processed {stats.frames} of {total} ({stats.dropped} dropped, never queued)")
    overhead = [a - b for a, b in zip(loop, in_loop, strict=True)]
    for label, x in (
        ("grab -> overlay drawn", loop),
        ("  of which pose model", in_loop),
        ("  all the rest", overhead),
        ("bare PoseLandmarker", bare),
    ):
        print(f"{label:<22}: median {statistics.median(x):6.1f} ms   p95 {percentile(x, 95):6.1f} ms")
    over = statistics.median(loop) - statistics.median(bare)
    print(f"loop over inference   : median {over:+6.1f} ms (target at most {TARGET_MS:g} ms): "
          f"{'met' if over <= TARGET_MS else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
