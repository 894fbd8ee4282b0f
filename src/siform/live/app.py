"""``siform live``: the loop that joins the camera, the pose model, the coach, the window and the log.

One frame at a time, always the newest (:mod:`siform.live.camera`): pose (the same VIDEO-mode
MediaPipe landmarker review uses, so a file played through here gives review's poses), then the
coach (:mod:`siform.live.coach`), then the drawing and the keys (``window``/``overlay``), the cue
spoken once (``cues``/``speech``) and every finished rep or hold written to the journal at once
(``journal``). Nothing here decides anything about the exercise.

A second person is found by a second landmarker that looks for up to two people on one frame every
:data:`CROWD_EVERY_MS`: asking the main landmarker for two people would run its person detector on
every frame (measured: 29 ms a frame instead of 19 on a sample clip) and change the poses it tracks
(up to 5% of the frame), so live would no longer see what review sees.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from siform.live.camera import CameraFeed, Feed, FileFeed, Pace
from siform.live.coach import Coach, SetRecord, Tick
from siform.live.state import LiveView
from siform.pose import PoseEstimator
from siform.sources import Frame
from siform.specs.model import ExerciseSpec

log = logging.getLogger(__name__)

CROWD_EVERY_MS = 1000
"""How often (in frame time) the people in view are counted."""
READ_TIMEOUT_S = 0.05
"""How long the loop waits for a frame before it updates timers and the window anyway."""
DONE_SHOW_S = 15.0
"""How long the final summary stays in the window (any key closes it sooner)."""


@dataclass
class LiveOptions:
    """``siform live``'s arguments, as the app needs them."""

    spec: ExerciseSpec
    model: Path
    out_dir: Path
    camera: int = 0
    source: Path | None = None
    pace: Pace = "realtime"
    side: str | None = None
    sets: int | None = None
    reps: int | None = None
    window: bool = True
    save_annotated: Path | None = None
    patient: str | None = None
    mute: bool = False
    record: bool = False
    mirror: bool = True
    checkin_args: Any = None
    """The parsed command line, for the check-in's own options (``--pain``, ``--red-flags``)."""


@dataclass
class LoopStats:
    """What the loop measured: for the summary line and the latency benchmark."""

    frames: int = 0
    dropped: int = 0
    latency_ms: list[float] = field(default_factory=list)
    """Per processed frame: from the frame reaching the loop's mailbox to its overlay drawn."""
    pose_ms: list[float] = field(default_factory=list)


class CrowdWatch:
    """How many people are in view, asked of a two-person landmarker every ``every_ms`` of frame
    time. ``background``: in a thread on the newest frame (a live camera: the loop never waits);
    otherwise in line (a file played fast: the same frames are checked on every run)."""

    def __init__(self, model: Path, every_ms: int = CROWD_EVERY_MS, background: bool = True) -> None:
        self._estimator = PoseEstimator("video", model_path=model, num_poses=2)
        self.every_ms = every_ms
        self.background = background
        self._last_ms: int | None = None
        self._people: int | None = None
        self._lock = threading.Lock()
        self._pending: Frame | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="siform-crowd", daemon=True)
            self._thread.start()

    def _count(self, frame: Frame) -> int:
        self._estimator(frame)
        return int(self._estimator.people)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.2)
            self._wake.clear()
            with self._lock:
                frame, self._pending = self._pending, None
            if frame is not None and not self._stop.is_set():
                people = self._count(frame)
                with self._lock:
                    self._people = people

    def poll(self, frame: Frame) -> int | None:
        """The newest count (None before the first); hands ``frame`` over when a count is due."""
        due = self._last_ms is None or frame.t_ms - self._last_ms >= self.every_ms
        if due:
            self._last_ms = frame.t_ms
            if self.background:
                with self._lock:
                    self._pending = frame
                self._wake.set()
            else:
                self._people = self._count(frame)
        with self._lock:
            return self._people

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._estimator.close()


class VideoOut:
    """An mp4 written as frames come, kept in real time: a frame is repeated for the frames the
    loop dropped, so the video plays at the speed the session happened. Written under a hidden
    name and renamed when closed, so a half-written file never looks finished."""

    def __init__(self, path: Path, size: tuple[int, int], fps: float) -> None:
        self.path = path
        self.fps = fps if fps > 0 else 30.0
        self._tmp = path.with_name(f".{path.name}.part.mp4")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, size)
        self.size = size
        self._t0: int | None = None
        self._written = 0

    def write(self, image: np.ndarray, t_ms: int) -> None:
        if self._t0 is None:
            self._t0 = t_ms
        due = int((t_ms - self._t0) * self.fps / 1000.0) + 1
        if image.shape[1::-1] != self.size:
            image = cv2.resize(image, self.size)
        for _ in range(max(due - self._written, 1 if self._written == 0 else 0)):
            self._writer.write(image)
            self._written += 1

    def close(self) -> None:
        self._writer.release()
        if self._written:
            self._tmp.replace(self.path)
        else:
            self._tmp.unlink(missing_ok=True)


def open_feed(opts: LiveOptions) -> Feed:
    if opts.source is not None:
        return FileFeed(opts.source, opts.pace)
    return CameraFeed.camera(opts.camera)


def normalise_key(key: object) -> str | None:
    """A key from the window (an OpenCV key code or a name) as the coach reads it."""
    if key is None:
        return None
    if isinstance(key, str):
        k = key.lower()
        return "esc" if k in ("escape", "\x1b") else (" " if k == "space" else k)
    if isinstance(key, int) and key >= 0:
        code = key & 0xFF
        if code == 27:
            return "esc"
        return chr(code).lower()
    return None


class Screen:
    """The window (H3's ``LiveWindow``) or nothing, with the annotated video beside it."""

    def __init__(self, opts: LiveOptions, size: tuple[int, int], fps: float) -> None:
        from siform.live.overlay import draw_live

        self._draw = draw_live
        self.window: Any = None
        if opts.window:
            from siform.live.window import LiveWindow

            self.window = LiveWindow(title=f"siform: {opts.spec.name}", mirror=opts.mirror)
            self.window.open()
        self.annotated = VideoOut(opts.save_annotated, size, fps) if opts.save_annotated else None
        self.raw = VideoOut(opts.out_dir / "recording.mp4", size, fps) if opts.record else None

    def show(self, image: np.ndarray, view: LiveView, t_ms: int, fresh: bool) -> str | None:
        """Draw ``view`` on ``image``; the key pressed, if any."""
        if self.raw is not None and fresh:
            self.raw.write(image, t_ms)
        key = None
        if self.window is not None:
            key = normalise_key(self.window.show(image, view))
        if self.annotated is not None:
            self.annotated.write(self._draw(image, view, mirror=False), t_ms)
        return key

    def close(self) -> None:
        for out in (self.annotated, self.raw):
            if out is not None:
                out.close()
        if self.window is not None:
            self.window.close()


def run_session(
    opts: LiveOptions,
    feed: Feed,
    estimator: PoseEstimator,
    crowd: CrowdWatch | None,
    coach: Coach,
    screen: Screen | None,
    on_tick: Callable[[Tick], None],
    speak: Callable[[str], None] | None = None,
    stats: LoopStats | None = None,
) -> LoopStats:
    """The loop, until the coach is finished or the source ends. ``on_tick`` gets every frame's
    events at once (the journal); ``speak`` each new cue or message once."""
    stats = stats or LoopStats()
    blank = np.zeros((feed.info.height, feed.info.width, 3), np.uint8)
    image = blank
    last_said: str | None = None
    try:
        while not coach.finished:
            frame = feed.read(READ_TIMEOUT_S)
            grabbed = time.perf_counter_ns()
            if frame is None:
                if feed.ended:
                    on_tick(coach.end("the video ended"))
                    break
                on_tick(coach.idle(feed.now_ms(), feed.lost))
                fresh = False
            else:
                image = frame.image
                t = time.perf_counter_ns()
                pose = estimator(frame)
                stats.pose_ms.append((time.perf_counter_ns() - t) / 1e6)
                people = crowd.poll(frame) if crowd is not None else None
                on_tick(coach.frame(pose, people))
                fresh = True
                stats.frames += 1
            view = coach.view()
            said = view.cue or view.message
            if speak is not None and said and said != last_said and (view.cue or view.phase != "active"):
                speak(said)
                last_said = said
            key = screen.show(image, view, coach.now_ms, fresh) if screen is not None else None
            if fresh:
                stats.latency_ms.append((time.perf_counter_ns() - grabbed) / 1e6)
            if key is not None:
                on_tick(coach.key(key))
        if screen is not None and screen.window is not None:
            end = time.monotonic() + DONE_SHOW_S
            view = coach.view()
            while time.monotonic() < end:
                if screen.window.show(image, view) is not None:
                    break
    except KeyboardInterrupt:
        on_tick(coach.end("interrupted"))
        raise
    finally:
        stats.dropped = feed.dropped
    return stats


def summary_lines(records: list[SetRecord], coach: Coach) -> list[str]:
    return list(coach.view().summary) or [f"{coach.spec.name}: nothing was counted."]


def _print(line: str) -> None:
    print(line, file=sys.stdout, flush=True)
