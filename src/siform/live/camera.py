"""Frames for live coaching: always the newest one, never a queue.

Pose inference takes 20-40 ms a frame on a laptop CPU; a camera delivers one every 33 ms (or 16 at
60 fps). Were frames queued, feedback would fall further behind the person with every frame. So a
grabber thread reads the camera at its own rate and keeps a single slot: a frame not taken before
the next one arrives is dropped (and counted). The coach takes whatever is newest when it is ready.

Two feeds, one interface (:class:`Feed`):

- :class:`CameraFeed`: a camera at its native resolution and frame rate (nothing is forced). A camera
  that stops sending (unplugged, taken by another program, a driver that stalls) is reported as
  lost after :data:`LOSS_AFTER_S` without a frame or at once on a read failure, and reopened every
  :data:`REOPEN_EVERY_S` until it answers again; the session pauses meanwhile instead of ending.
- :class:`FileFeed`: a video file for headless runs and tests. ``realtime`` releases each frame at
  its own time on the wall clock and drops frames exactly as a camera would when the consumer is
  slower; ``fast`` hands over every frame, in order, as fast as it is asked for.

Timestamps only ever grow (MediaPipe refuses anything else): camera frames are stamped by the feed's
own monotonic clock, which keeps running across a reopen; file frames keep the file's times.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Literal, Protocol

from siform.pose_lanes import join_through_interrupts
from siform.sources import CameraSource, Frame, SourceInfo, VideoFileSource

log = logging.getLogger(__name__)

LOSS_AFTER_S = 1.0
"""A camera that has sent nothing for this long is reported lost (30 frames at 30 fps)."""
REOPEN_EVERY_S = 1.0
"""How often a lost camera is tried again."""

Pace = Literal["realtime", "fast"]


class Feed(Protocol):
    """What the live loop reads frames from."""

    info: SourceInfo

    def read(self, timeout: float) -> Frame | None:
        """The newest frame not yet read, waiting up to ``timeout`` s; None if none came."""
        ...

    @property
    def ended(self) -> bool:
        """No frame will ever come again (a file that has ended; never for a camera)."""
        ...

    @property
    def lost(self) -> str | None:
        """Why frames are not coming now (a camera lost and being reopened), or None."""
        ...

    @property
    def dropped(self) -> int:
        """Frames that arrived and were replaced by a newer one before anybody read them."""
        ...

    @property
    def grabbed_ns(self) -> int:
        """When the frame last read reached the feed (``time.perf_counter_ns``): where latency starts."""
        ...

    def now_ms(self) -> int:
        """The session clock, in the frames' time base (for timers while no frame comes)."""
        ...

    def close(self) -> None: ...


class NewestFrame:
    """A one-frame mailbox: ``put`` replaces what is there (counting it as dropped), ``take`` empties it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._put_ns = 0
        self.taken_put_ns = 0
        """When the frame last taken was put (``time.perf_counter_ns``)."""
        self._closed = False
        self.put_count = 0
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._put_ns = time.perf_counter_ns()
            self.put_count += 1
            self._cond.notify_all()

    def take(self, timeout: float) -> Frame | None:
        with self._cond:
            if self._frame is None and not self._closed:
                self._cond.wait(timeout)
            frame, self._frame = self._frame, None
            if frame is not None:
                self.taken_put_ns = self._put_ns
            return frame

    def close(self) -> None:
        """Wake a waiting reader; frames already put can still be taken."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def empty(self) -> bool:
        with self._cond:
            return self._frame is None


class _Closable(Protocol):
    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


class CameraFeed:
    """A camera read by a grabber thread that keeps only the newest frame and survives losing it.

    ``opener`` opens the device (``CameraSource(index)`` by default through :meth:`camera`); it is
    called again after every loss. Its first call happens here, so a camera that is not there at
    all fails at once with the source's own one-line error.
    """

    def __init__(
        self,
        opener: Callable[[], _Closable],
        info: SourceInfo | None = None,
        loss_after_s: float = LOSS_AFTER_S,
        reopen_every_s: float = REOPEN_EVERY_S,
    ) -> None:
        self._opener = opener
        self._loss_after_s = loss_after_s
        self._reopen_every_s = reopen_every_s
        first = opener()
        self.info: SourceInfo = info or getattr(first, "info")  # noqa: B009 - a protocol without info
        self._slot = NewestFrame()
        self._stop = threading.Event()
        self._t0 = time.monotonic_ns()
        self._last_frame_at: float | None = None
        self._failure: str | None = None
        self._lock = threading.Lock()
        self.reopened = 0
        self._thread = threading.Thread(target=self._grab, args=(first,), name="siform-camera", daemon=True)
        self._thread.start()

    @classmethod
    def camera(cls, index: int) -> CameraFeed:
        """Camera ``index`` at its native resolution and frame rate (:func:`native_camera`)."""
        return cls(lambda: native_camera(index))

    def now_ms(self) -> int:
        return (time.monotonic_ns() - self._t0) // 1_000_000

    def _grab(self, source: _Closable | None) -> None:
        last_t: int | None = None
        index = 0
        while not self._stop.is_set():
            if source is None:
                try:
                    source = self._opener()
                    self.reopened += 1
                    log.info("camera reopened")
                except Exception as exc:  # not back yet: try again shortly
                    self._set_failure(f"{exc}")
                    self._stop.wait(self._reopen_every_s)
                    continue
            try:
                for frame in source:
                    if self._stop.is_set():
                        break
                    t = self.now_ms()
                    t = t if last_t is None or t > last_t else last_t + 1
                    last_t = t
                    with self._lock:
                        self._last_frame_at = time.monotonic()
                        self._failure = None
                    self._slot.put(Frame(index, t, frame.image))
                    index += 1
                else:
                    self._set_failure("the camera stopped sending pictures")
            except Exception as exc:  # CameraLostError, a driver error: pause, then reopen
                log.debug("camera read failed", exc_info=True)
                self._set_failure(f"{exc}")
            finally:
                try:
                    source.close()
                except Exception:
                    log.debug("closing a lost camera failed", exc_info=True)
                source = None
            self._stop.wait(self._reopen_every_s)
        self._slot.close()

    def _set_failure(self, why: str) -> None:
        with self._lock:
            self._failure = why or "the camera stopped sending pictures"
            self._last_frame_at = None

    def read(self, timeout: float) -> Frame | None:
        return self._slot.take(timeout)

    @property
    def ended(self) -> bool:
        return False

    @property
    def lost(self) -> str | None:
        with self._lock:
            if self._failure is not None:
                return self._failure
            if (
                self._last_frame_at is not None
                and time.monotonic() - self._last_frame_at > self._loss_after_s
            ):
                return f"no picture from the camera for {time.monotonic() - self._last_frame_at:.0f} s"
            return None

    @property
    def dropped(self) -> int:
        return self._slot.dropped

    @property
    def grabbed_ns(self) -> int:
        return self._slot.taken_put_ns

    def close(self) -> None:
        self._stop.set()
        join_through_interrupts(self._thread, 2.0)


NATIVE_ASK = (4096, 2160)
"""Asked of a camera so that it answers with the largest size it has (drivers pick the nearest)."""
MIN_LIVE_FPS = 24.0
"""A larger picture is taken only if the camera still delivers at least this rate (or its default
rate, when that is lower): a smooth 30 fps matters more for counting than pixels."""


def native_camera(index: int, open_at: Callable[..., CameraSource] = CameraSource) -> CameraSource:
    """Camera ``index`` at the largest size it offers at full frame rate.

    OpenCV opens a V4L2 camera at 640x480 whatever the camera can do; asked for a size beyond any
    camera's, the driver picks the largest it has. That size is kept when the camera reports a rate
    no lower than it did at the default (capped at :data:`MIN_LIVE_FPS`): many laptop cameras give
    their full size only at a few frames per second, and then the default is the better choice.
    """
    plain = open_at(index)
    default = plain.info
    plain.close()
    large = open_at(index, *NATIVE_ASK)
    bigger = large.info.width * large.info.height > default.width * default.height
    if bigger and large.info.fps + 0.5 >= min(default.fps, MIN_LIVE_FPS):
        log.info("camera %d: %dx%d at %.0f fps", index, large.info.width, large.info.height, large.info.fps)
        return large
    large.close()
    return open_at(index)


def paced(frames: Iterable[Frame], stop: threading.Event | None = None) -> Iterator[Frame]:
    """``frames`` released at their own times on the wall clock (frame 0 at once), as a camera would
    deliver them. A late consumer gets the frames late; dropping is the mailbox's business."""
    start: float | None = None
    first_ms = 0
    for frame in frames:
        if start is None:
            start, first_ms = time.monotonic(), frame.t_ms
        wait = start + (frame.t_ms - first_ms) / 1000.0 - time.monotonic()
        if wait > 0:
            if stop is not None:
                if stop.wait(wait):
                    return
            else:
                time.sleep(wait)
        yield frame


class FileFeed:
    """A video file as a live source: ``realtime`` (paced, newest frame only) or ``fast`` (every frame)."""

    def __init__(self, path: str | Path, pace: Pace = "realtime") -> None:
        self._source = VideoFileSource(path)
        self.info = self._source.info
        self.pace = pace
        self._frames = iter(self._source)
        self._done = False
        self._last_ms = 0
        self._slot = NewestFrame()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._wall0 = time.monotonic()
        self._fast_grab_ns = 0
        if pace == "realtime":
            self._thread = threading.Thread(target=self._play, name="siform-file", daemon=True)
            self._thread.start()

    def _play(self) -> None:
        try:
            for frame in paced(self._frames, self._stop):
                self._slot.put(frame)
        except BaseException as exc:  # handed to the reader, which raises it
            self._error = exc
        finally:
            self._done = True
            self._slot.close()

    def read(self, timeout: float) -> Frame | None:
        if self.pace == "fast":
            if self._done:
                return None
            frame = next(self._frames, None)
            self._fast_grab_ns = time.perf_counter_ns()
            if frame is None:
                self._done = True
                return None
            self._last_ms = frame.t_ms
            return frame
        frame = self._slot.take(timeout)
        if frame is None and self._error is not None:
            raise self._error
        if frame is not None:
            self._last_ms = frame.t_ms
        return frame

    @property
    def ended(self) -> bool:
        return self._done and self._slot.empty

    @property
    def lost(self) -> str | None:
        return None

    @property
    def dropped(self) -> int:
        return self._slot.dropped

    @property
    def grabbed_ns(self) -> int:
        return self._fast_grab_ns if self.pace == "fast" else self._slot.taken_put_ns

    def now_ms(self) -> int:
        if self.pace == "fast":
            return self._last_ms
        return round((time.monotonic() - self._wall0) * 1000.0)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            join_through_interrupts(self._thread, 2.0)
        self._source.close()
