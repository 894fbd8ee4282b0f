"""Live frame feeds on real video files: the newest frame only (dropped, never queued, under a slow
consumer), every frame in order when played fast, and a camera that is lost and comes back (a file
that ends, a device that fails to open or read, one that stalls) pauses the feed instead of ending it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
import pytest

from siform.errors import CameraLostError, InputError
from siform.live.camera import CameraFeed, FileFeed, NewestFrame, paced
from siform.sources import Frame, VideoFileSource

from conftest import ROOT, write_video

SAMPLE = ROOT / "sample_videos" / "bridge_high_right.mp4"  # 640x480, 15 fps


def _frames(n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(SAMPLE))
    out = []
    while len(out) < n:
        ok, image = cap.read()
        assert ok
        out.append(image)
    cap.release()
    return out


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1.5 s at 30 fps of a real sample clip."""
    return write_video(tmp_path_factory.mktemp("camera") / "clip.mp4", _frames(45), fps=30.0)


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """0.4 s at 30 fps: a "camera" that ends soon."""
    return write_video(tmp_path_factory.mktemp("camera") / "short.mp4", _frames(12), fps=30.0)


class PacedFile:
    """A video file that plays at its own speed and then stops, standing in for a camera."""

    def __init__(self, path: Path) -> None:
        self._source = VideoFileSource(path)
        self.info = self._source.info

    def __iter__(self) -> Iterator[Frame]:
        return paced(self._source)

    def close(self) -> None:
        self._source.close()


def _drain(feed: CameraFeed, seconds: float) -> list[Frame]:
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        frame = feed.read(0.05)
        if frame is not None:
            out.append(frame)
    return out


def test_mailbox_keeps_only_the_newest_frame() -> None:
    box = NewestFrame()
    image = np.zeros((2, 2, 3), np.uint8)
    for i in range(5):
        box.put(Frame(i, i * 33, image))
    got = box.take(0.0)
    assert got is not None and got.index == 4
    assert box.dropped == 4
    assert box.take(0.01) is None


def test_realtime_file_drops_frames_for_a_slow_consumer(clip: Path) -> None:
    feed = FileFeed(clip, "realtime")
    assert (feed.info.width, feed.info.height) == (640, 480)  # native size, nothing forced
    got: list[tuple[Frame, float]] = []
    start = time.monotonic()
    try:
        while not feed.ended:
            frame = feed.read(0.5)
            if frame is None:
                continue
            got.append((frame, time.monotonic() - start))
            time.sleep(0.15)  # a consumer 4-5 times slower than 30 fps
    finally:
        feed.close()
    indices = [f.index for f, _ in got]
    assert indices == sorted(indices) and len(set(indices)) == len(indices)
    assert feed.dropped > 0
    assert len(got) + feed.dropped == 45  # every frame either read or counted as dropped
    assert len(got) < 20
    # each frame read is the newest one: never more than a frame or two behind the wall clock
    for frame, at in got[1:]:
        assert at * 1000.0 - frame.t_ms < 120.0, (frame.index, at)


def test_fast_file_gives_every_frame_in_order(clip: Path) -> None:
    feed = FileFeed(clip, "fast")
    try:
        indices = []
        while (frame := feed.read(0.1)) is not None:
            indices.append(frame.index)
            time.sleep(0.005)
        assert feed.ended
    finally:
        feed.close()
    assert indices == list(range(45))
    assert feed.dropped == 0


def test_camera_that_ends_is_lost_then_reopened(short_clip: Path) -> None:
    opened = []

    def opener() -> PacedFile:
        opened.append(time.monotonic())
        return PacedFile(short_clip)

    feed = CameraFeed(opener, reopen_every_s=0.5)
    saw_lost = False
    frames: list[Frame] = []
    try:
        end = time.monotonic() + 2.5
        while time.monotonic() < end:
            frame = feed.read(0.02)
            if frame is not None:
                frames.append(frame)
            saw_lost |= feed.lost is not None
    finally:
        feed.close()
    assert saw_lost
    assert feed.reopened >= 1 and len(opened) >= 2
    stamps = [f.t_ms for f in frames]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)  # monotonic across reopens
    assert len(frames) > 12  # frames came again after the first loss


class Flaky:
    """A device whose reads fail after a few frames and that cannot be opened once afterwards."""

    calls = 0

    def __init__(self) -> None:
        Flaky.calls += 1
        if Flaky.calls == 2:
            raise InputError("No camera found at index 0.", "Plug a camera in.")
        self.info = None

    def __iter__(self) -> Iterator[Frame]:
        image = np.zeros((48, 64, 3), np.uint8)
        for i in range(5):
            time.sleep(0.02)
            yield Frame(i, i * 20, image)
        raise CameraLostError("The camera stopped sending frames after 5 frames.")

    def close(self) -> None:
        pass


def test_camera_read_failure_and_failed_reopen_pause_then_resume() -> None:
    from siform.sources import SourceInfo

    Flaky.calls = 0
    feed = CameraFeed(Flaky, info=SourceInfo("flaky", 64, 48, 50.0, None, "camera"), reopen_every_s=0.2)
    reasons: set[str] = set()
    frames: list[Frame] = []
    try:
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            frame = feed.read(0.01)
            if frame is not None:
                frames.append(frame)
            if feed.lost:
                reasons.add(feed.lost)
    finally:
        feed.close()
    assert any("stopped sending" in r for r in reasons)
    assert any("No camera found" in r for r in reasons)
    assert Flaky.calls >= 3 and len(frames) >= 8  # frames again after the failed reopen


def test_stalled_camera_is_reported_lost_after_a_second() -> None:
    from siform.sources import SourceInfo

    release = threading.Event()

    class Stalling:
        def __iter__(self) -> Iterator[Frame]:
            image = np.zeros((48, 64, 3), np.uint8)
            for i in range(3):
                yield Frame(i, 0, image)
            release.wait(5.0)  # the driver hangs in a read
            for i in range(3, 300):
                time.sleep(0.02)
                yield Frame(i, 0, image)

        def close(self) -> None:
            pass

    feed = CameraFeed(Stalling, info=SourceInfo("stall", 64, 48, 30.0, None, "camera"), loss_after_s=0.5)
    try:
        assert len(_drain(feed, 0.2)) >= 1
        assert feed.lost is None
        time.sleep(0.7)
        assert feed.lost is not None and "no picture" in feed.lost
        release.set()
        assert _drain(feed, 0.3)
        assert feed.lost is None
    finally:
        release.set()
        feed.close()


class FakeDevice:
    """A camera driver's answers (no device here): its default mode and the largest it offers."""

    modes: ClassVar[dict[bool, tuple[int, int, float]]] = {}

    def __init__(self, index: int, width: int | None = None, height: int | None = None) -> None:
        from siform.sources import SourceInfo

        w, h, fps = FakeDevice.modes[width is not None]
        self.info = SourceInfo(f"camera {index}", w, h, fps, None, "camera")

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("default", "largest", "chosen"),
    [
        ((640, 480, 30.0), (1280, 720, 30.0), (1280, 720)),  # full size at full rate: taken
        ((640, 480, 30.0), (1920, 1080, 5.0), (640, 480)),  # full size only at 5 fps: the default
        ((640, 480, 15.0), (1280, 720, 15.0), (1280, 720)),  # a slow camera is not held to 24 fps
        ((640, 480, 30.0), (640, 480, 30.0), (640, 480)),  # nothing larger
    ],
)
def test_native_camera_takes_the_largest_size_at_full_rate(
    default: tuple[int, int, float], largest: tuple[int, int, float], chosen: tuple[int, int]
) -> None:
    from siform.live.camera import native_camera

    FakeDevice.modes = {False: default, True: largest}
    camera = native_camera(0, open_at=FakeDevice)  # type: ignore[arg-type]
    assert (camera.info.width, camera.info.height) == chosen
