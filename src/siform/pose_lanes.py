"""Pass 1 of a review: the video's two halves through two pose estimators, on two cores at once.

MediaPipe's pose landmarker keeps one core busy and no more, so on a machine with two a review
spent half its time with a core idle. Here a second reader seeks to the middle of the file and a
second estimator (its own VIDEO-mode tracker) takes the second half, while the first takes the
first half, both at once.

The split is a property of the file, not of the machine: with one core the two halves run in turn,
through the same two estimators, so a review gives the same poses, signals and verdicts wherever it
runs. (MediaPipe's tracking depends on its own past, so a second tracker started at the middle
reads the second half slightly differently from one that ran from the start: up to 2 degrees of a
body line on a rendered side plank, enough to move a hold that sat on its limit. Before the split
was fixed a one-core and a two-core machine could disagree on that hold.)

The second half starts :data:`WARMUP_FRAMES` early and those frames are thrown away, so that its
tracker has found the person and its smoothing has settled by the middle frame. The seam is checked,
not trusted: when the first reader arrives at the middle frame, its picture and timestamp must be
exactly the second reader's. If they are not (a demuxer that seeks to a keyframe, a variable frame
rate, a damaged file) the second half is dropped and the first estimator simply carries on to the
end. Files too short to gain anything, and files whose frame count is unknown, are read whole by
one estimator.

An interrupted review (Ctrl-C, SIGTERM: a KeyboardInterrupt in the main thread) stops the second
lane at its next frame and waits for it to close its landmarker before the exception goes on. A
landmarker's C++ threads still running when the interpreter exits end the process with
"terminate called without an active exception" (SIGABRT): so the second lane is never a daemon
thread and is always joined.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from siform.errors import SiformError
from siform.pose import STOP_SIGNALS, PoseEstimator, PoseFrame, stop_signals_blocked
from siform.sources import Frame, VideoFileSource

WARMUP_FRAMES = 30
"""Frames the second half starts early and discards (1 s at 30 fps, 2 s at 15)."""
MIN_FRAMES_FOR_LANES = 240
"""Shorter files take one lane: two estimators cost a model load each (about 0.3 s)."""

OnFrame = Callable[[int, int | None], None]


def default_lanes() -> int:
    """Two lanes where there are two cores to run them; ``SIFORM_POSE_LANES`` overrides (1 or 2)."""
    wanted = os.environ.get("SIFORM_POSE_LANES")
    if wanted in ("1", "2"):
        return int(wanted)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return 2 if cores >= 2 else 1


@dataclass
class _Lane:
    """One reader and estimator over part of the file; ``poses`` grows as it goes."""

    poses: list[PoseFrame] = field(default_factory=list)
    error: BaseException | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    seam: Frame | None = None
    """The second lane's frame at the middle index, kept for the first lane to compare with."""
    done: threading.Event = field(default_factory=threading.Event)
    """Set as the lane's last act. The first lane waits on this, not on ``Thread.join``: a timed join
    cut by Ctrl-C marks a running thread as ended in CPython 3.11 (see :func:`join_through_interrupts`)."""


def _second_half(
    path: Path,
    model_path: Path,
    middle: int,
    lane: _Lane,
    ready: threading.Event,
    on_pose: Callable[[], None] | None = None,
) -> None:
    if threading.current_thread() is not threading.main_thread():
        # Signals are the main thread's to handle; this thread and the decoder and MediaPipe
        # threads it starts never take them (see pose.stop_signals_blocked).
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        with VideoFileSource(path) as source, PoseEstimator("video", model_path=model_path) as estimator:
            for frame in source.frames_from(max(0, middle - WARMUP_FRAMES)):
                if lane.stop.is_set():
                    return
                pose = estimator(frame)
                if frame.index == middle:
                    lane.seam = frame
                    ready.set()
                if frame.index >= middle:
                    lane.poses.append(pose)
                    if on_pose:
                        on_pose()
    except Exception as exc:  # reported to the first lane, which then reads on alone
        # (not BaseException: run in the main thread on one core, a Ctrl-C must stop the review)
        lane.error = exc
    finally:
        ready.set()
        lane.done.set()


def _same_frame(a: Frame, b: Frame | None) -> bool:
    return b is not None and a.index == b.index and a.t_ms == b.t_ms and np.array_equal(a.image, b.image)


def estimate_poses(
    source: VideoFileSource,
    model_path: Path,
    on_frame: OnFrame | None = None,
    lanes: int | None = None,
    split: bool = True,
) -> list[PoseFrame]:
    """Poses for every readable frame of ``source`` (already open), in frame order.

    ``lanes`` is how many halves run at once (2, or 1 to take them in turn); it changes the time a
    review takes, never its result. ``split=False`` reads the whole file with one estimator, as a
    live session would (for comparing the two).
    """
    lanes = default_lanes() if lanes is None else lanes
    total = source.info.frame_count
    middle = total // 2 if total else 0
    halves = split and total is not None and total >= MIN_FRAMES_FOR_LANES
    second = _Lane()
    ready = threading.Event()
    worker: threading.Thread | None = None
    if halves and lanes >= 2:
        worker = threading.Thread(
            target=_second_half, args=(source.path, model_path, middle, second, ready), name="siform-lane-2"
        )
        worker.start()
    thread = worker  # joined whatever happens, also after the seam drops the second half
    poses: list[PoseFrame] = []
    joined = False

    def report() -> None:
        if on_frame:
            on_frame(len(poses) + (len(second.poses) if halves else 0), total)

    try:
        with PoseEstimator("video", model_path=model_path) as estimator:
            for frame in source:
                if halves and frame.index == middle:
                    if worker is None:  # one core: the second half now, in this thread
                        _second_half(source.path, model_path, middle, second, ready, report)
                    ready.wait()
                    if second.error is None and _same_frame(frame, second.seam):
                        joined = True
                        break
                    second.stop.set()  # the seam does not match: this estimator reads on alone
                    halves, worker = False, None
                poses.append(estimator(frame))
                report()
        if joined:
            while worker is not None and not second.done.wait(timeout=0.1):
                report()
            if second.error is not None:
                if isinstance(second.error, SiformError):
                    raise second.error
                raise RuntimeError("the second pose lane failed") from second.error
            poses.extend(second.poses)
    finally:
        second.stop.set()
        if thread is not None:
            join_through_interrupts(thread)  # at most a frame: the lane checks ``stop`` before each
    return poses


def join_through_interrupts(thread: threading.Thread, timeout: float | None = None) -> None:
    """Wait for ``thread`` to end even when Ctrl-C or SIGTERM arrives meanwhile (the interrupt is
    raised after the join, not instead of it).

    Every helper thread of a review (this module's second lane, pass 2's decoder and chart drawer
    in :mod:`siform.review`) is waited for this way. A thread still running when the interpreter
    shuts down is stopped by CPython with ``pthread_exit`` the next time it takes the GIL; from
    inside C++ (matplotlib's Agg renderer, OpenCV's decoder) that unwinding ends the whole process
    with "terminate called without an active exception" or "exception not rethrown" (SIGABRT),
    after siform had already cleaned up and printed its line.

    Catching the KeyboardInterrupt and joining again is not enough: in CPython 3.11 a ``join``
    interrupted by a signal handler's exception releases the running thread's own lock and marks
    it stopped (``Thread._wait_for_tstate_lock``), so ``is_alive()`` then says False, the retry
    returns at once and even interpreter shutdown no longer waits for it. So the stop signals are
    blocked in the waiting thread for the join: the wait is never interrupted, and a signal that
    arrives meanwhile is handled (raised in the main thread) as soon as the join is over. Before
    this, a SIGTERM arriving while pass 2 waited for the charts thread aborted about 1 review in 40
    (benchmarks/interrupt.py); tests/test_cli.py sends one at that very moment.
    """
    with stop_signals_blocked():
        thread.join(timeout)
