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
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from siform.engine import RepEvent
from siform.landmarks import VISIBILITY
from siform.live.camera import CameraFeed, Feed, FileFeed, Pace
from siform.live.coach import Coach, Plan, Tick
from siform.live.cues import rep_message
from siform.live.state import LiveView
from siform.pose import PoseEstimator
from siform.pose_lanes import join_through_interrupts
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


SAME_PERSON_IOU = 0.5
"""Two poses whose boxes overlap this much are one person found twice. MediaPipe does return the
same person twice (measured on ballsquat_front at 11 s: two poses 0.003 of the frame apart on
average); two people side by side, or one behind the other's shoulder, overlap far less."""


def _box(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    seen = landmarks[landmarks[:, VISIBILITY] >= 0.5]
    pts = seen if len(seen) >= 4 else landmarks
    return float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 1.0


def distinct_people(poses: list[np.ndarray]) -> int:
    """How many different people the poses of one frame are (``(33, 5)`` image landmarks each)."""
    boxes: list[tuple[float, float, float, float]] = []
    for landmarks in poses:
        box = _box(landmarks)
        if all(_iou(box, other) < SAME_PERSON_IOU for other in boxes):
            boxes.append(box)
    return len(boxes)


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
        return distinct_people(self._estimator.people)

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
            join_through_interrupts(self._thread, 5.0)
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


class Screen:
    """The window (H3's ``LiveWindow``) or nothing, with the annotated video beside it."""

    def __init__(self, opts: LiveOptions, size: tuple[int, int], fps: float) -> None:
        from siform.live.overlay import draw_live

        self._draw = draw_live
        self.window: Any = None
        if opts.window:
            from siform.live.window import LiveWindow

            self.window = LiveWindow(title=f"siform: {opts.spec.name}", mirror=opts.mirror)
            self.window.open()  # no display: one line naming --no-window, before anything starts
        self.annotated = VideoOut(opts.save_annotated, size, fps) if opts.save_annotated else None
        self.raw = VideoOut(opts.out_dir / "recording.mp4", size, fps) if opts.record else None

    def show(self, image: np.ndarray, view: LiveView, t_ms: int, fresh: bool) -> str | None:
        """Draw ``view`` on ``image``; the key pressed, if any."""
        if self.raw is not None and fresh:
            self.raw.write(image, t_ms)
        key = None
        if self.window is not None:
            key = self.window.show(image, view)
        if self.annotated is not None:
            self.annotated.write(self._draw(image, view, mirror=False), t_ms)
        return key

    def close(self) -> None:
        for out in (self.annotated, self.raw):
            if out is not None:
                out.close()
        if self.window is not None:
            self.window.close()


MESSAGE_SPEAK_AFTER_MS = 1500
"""A big message (setup, pause, rest) is spoken once it has stayed this long: the setup gate's
advice can change from one check to the next while the person moves, and should not be read out
at every change."""


class Voice:
    """What is spoken: every new cue at once, and a big message once it has settled."""

    def __init__(self, speak: Callable[[str], None]) -> None:
        self._speak = speak
        self._message: tuple[str, int] | None = None
        self._said: str | None = None

    def step(self, tick: Tick, view: LiveView) -> None:
        if tick.say:
            self._speak(tick.say)
        message = view.message if view.phase != "active" else None
        if message is None:
            self._message = None
            return
        if self._message is None or self._message[0] != message:
            self._message = (message, view.t_ms)
        if message != self._said and view.t_ms - self._message[1] >= MESSAGE_SPEAK_AFTER_MS:
            self._speak(message)
            self._said = message


def run_session(
    feed: Feed,
    estimator: PoseEstimator,
    crowd: CrowdWatch | None,
    coach: Coach,
    screen: Screen | None,
    on_tick: Callable[[Tick], None],
    voice: Voice | None = None,
    stats: LoopStats | None = None,
) -> LoopStats:
    """The loop, until the coach is finished or the source ends. ``on_tick`` gets every frame's
    events at once (the journal). Ctrl-C ends the session as the quit key does, then goes on up."""
    stats = stats or LoopStats()
    image = np.zeros((feed.info.height, feed.info.width, 3), np.uint8)
    try:
        while not coach.finished:
            frame = feed.read(READ_TIMEOUT_S)
            if frame is None:
                if feed.ended:
                    on_tick(coach.end("the video ended"))
                    break
                tick = coach.idle(feed.now_ms(), feed.lost)
                fresh = False
            else:
                grabbed = feed.grabbed_ns
                image = frame.image
                t = time.perf_counter_ns()
                pose = estimator(frame)
                stats.pose_ms.append((time.perf_counter_ns() - t) / 1e6)
                people = crowd.poll(frame) if crowd is not None else None
                tick = coach.frame(pose, people)
                fresh = True
                stats.frames += 1
            on_tick(tick)
            view = coach.view()
            if voice is not None:
                voice.step(tick, view)
            key = screen.show(image, view, coach.now_ms, fresh) if screen is not None else None
            if fresh:
                stats.latency_ms.append((time.perf_counter_ns() - grabbed) / 1e6)
            if key is not None:
                on_tick(coach.key(key))
        if screen is not None and screen.window is not None:  # the summary stays until a key
            view = coach.view()
            end = time.monotonic() + DONE_SHOW_S
            while time.monotonic() < end and screen.window.show(image, view) is None:
                pass
    except KeyboardInterrupt:
        on_tick(coach.end("interrupted"))
        raise
    finally:
        stats.dropped = feed.dropped
    return stats


def run_live(opts: LiveOptions) -> int:
    """The whole command: check-in, then the session, then ``session.json``; 0 when it ran.

    Everything that can refuse to start (no camera, no such video, no display for the window, the
    pose model) is opened before the journal, so a session that never began leaves no journal."""
    from siform.live.checkin import run_checkin
    from siform.live.journal import SessionJournal
    from siform.live.speech import Speaker
    from siform.session import LiveSet
    from siform.sources import VideoFileSource

    spec = opts.spec
    with ExitStack() as stack:
        feed: Feed | None = None
        if opts.source is None:
            feed = CameraFeed.camera(opts.camera)
            stack.callback(feed.close)
        else:
            VideoFileSource(opts.source).close()  # unreadable: said now, before any question
        checkin = run_checkin(spec, opts.checkin_args)
        if checkin.stops:  # the advice is said; the answers still go into the session file
            journal = SessionJournal.create(opts.out_dir, spec, model_path=opts.model, patient=opts.patient,
                                            checkin=checkin, source=_source_block(opts, None))  # fmt: skip
            print(f"Session stopped before it began. Written: {journal.finalize([])}")
            return 0
        estimator = stack.enter_context(PoseEstimator("video", model_path=opts.model))
        crowd = CrowdWatch(opts.model, background=opts.pace == "realtime" or opts.source is None)
        stack.callback(crowd.close)
        if feed is None:
            feed = open_feed(opts)  # a file in real time starts playing here
            stack.callback(feed.close)
        screen = Screen(opts, (feed.info.width, feed.info.height), feed.info.fps)
        stack.callback(screen.close)
        speaker = stack.enter_context(Speaker(muted=opts.mute))
        plan = Plan.of(spec, opts.sets, opts.reps, opts.side)
        extra = {"recording": "recording (--record)"} if opts.record else {}
        coach = Coach(spec, plan, feed.info.width, feed.info.height, extra=extra)
        journal = SessionJournal.create(
            opts.out_dir, spec, model_path=opts.model, patient=opts.patient, checkin=checkin,
            source=_source_block(opts, feed), recorded=opts.record,
        )  # fmt: skip
        for path in journal.recovered:
            print(f"An earlier session in {opts.out_dir} was interrupted; what it recorded is in {path}")

        def on_tick(tick: Tick) -> None:
            for start in tick.started:
                journal.start_set(start.set_number, start.side, view=start.view, setup=start.setup,
                                  t_ms=start.t_ms)  # fmt: skip
            for set_number, event in tick.events:
                journal.append(event, set_number=set_number)  # on disk before anything else happens
                if not opts.window:
                    item = event.rep if isinstance(event, RepEvent) else event.hold
                    print(f"Set {set_number}{_side(item.side)}: {rep_message(item, spec)}", flush=True)
            for record in tick.finished:
                journal.end_set(LiveSet.from_result(record.set_number, record.result))

        try:
            stats = run_session(feed, estimator, crowd, coach, screen, on_tick, Voice(speaker.speak))
        finally:  # Ctrl-C too: the coach has judged the set under way; it all goes into session.json
            # The coach's own records: both sides of a set share its number, which the journal's
            # own list of sets keys by (it would keep one side).
            done = [LiveSet.from_result(r.set_number, r.result) for r in coach.records]
            session_path = journal.finalize(done)
            for line in coach.view().summary:
                print(line)
            print(f"Session: {session_path}", flush=True)
        dropped = f" ({stats.dropped} dropped to keep up with the camera)" if stats.dropped else ""
        print(f"{stats.frames} frames scored{dropped}.")
        return 0


def _side(side: str | None) -> str:
    return f" ({side} side)" if side else ""


def _source_block(opts: LiveOptions, feed: Feed | None) -> dict[str, Any]:
    """What the frames came from, as ``session.json``'s ``source`` says it."""
    block: dict[str, Any] = {}
    if opts.source is not None:
        from siform.model_store import sha256_of

        block |= {"file": opts.source.name, "sha256": sha256_of(opts.source), "pace": opts.pace}
    else:
        block["camera"] = opts.camera
    if feed is not None:
        info = feed.info
        block |= {"width": info.width, "height": info.height, "fps": round(info.fps, 3)}
    return block
