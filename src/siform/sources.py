"""Frame sources: a video file, a camera, or a folder of images, behind one small interface.

Every source yields :class:`Frame` objects with a timestamp in milliseconds that only ever grows,
because MediaPipe's VIDEO and LIVE_STREAM modes reject a timestamp that does not. Video files use
the container's own presentation times (correct for variable frame rate, e.g. phone recordings);
cameras use a monotonic clock; image folders use a nominal frame rate.

Video frames come out in square pixels: a file whose pixels are not square (a sample aspect ratio
other than 1:1, as anamorphic and some DV or broadcast recordings store them) is stretched to its
display shape, so that the pose model sees a true body and every angle measured on it is a true
angle (in a 2:1 squeezed frame a 45-degree thigh would measure 63 degrees).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

# FFmpeg and OpenCV print their own complaints about a bad file ("moov atom not found") straight
# to stderr; siform already says what went wrong in one sentence. Set before cv2 loads FFmpeg.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

import cv2
import numpy as np
import numpy.typing as npt

from siform.errors import CameraLostError, InputError

log = logging.getLogger(__name__)
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

BGRImage = npt.NDArray[np.uint8]
"""``(H, W, 3)`` uint8, OpenCV's BGR channel order, already upright (rotation metadata applied)."""

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
CAMERA_MAX_FAILED_READS = 30  # about one second of silence at 30 fps before the camera is declared lost


@dataclass(frozen=True, slots=True)
class Frame:
    index: int
    t_ms: int
    image: BGRImage


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What is known about a source before reading it; ``frame_count`` is an estimate for files."""

    name: str
    width: int
    height: int
    fps: float
    frame_count: int | None
    kind: str
    sample_aspect: float = 1.0
    """The file's pixel width over height (its SAR); ``width``/``height`` are already the display
    size in square pixels, which is what every frame is resized to when this is not 1."""


class FrameSource(Protocol):
    info: SourceInfo

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


class _ClosingSource:
    """Context-manager plumbing shared by the sources."""

    def close(self) -> None:  # pragma: no cover - overridden
        pass

    def __enter__(self) -> _ClosingSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _monotonic(t_ms: int, last: int | None) -> int:
    return t_ms if last is None or t_ms > last else last + 1


class VideoFileSource(_ClosingSource):
    """Frames of a video file with container timestamps, upright per its rotation metadata."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"{self.path} does not exist.", "Check the path and try again.")
        if self.path.is_dir():
            raise InputError(f"{self.path} is a folder, not a video file.")
        if self.path.stat().st_size == 0:
            raise InputError(f"{self.path.name} is empty (0 bytes).", "Record or copy the video again.")
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise InputError(
                f"{self.path.name} is not a video file siform can read.",
                "Record again or convert it to MP4 (H.264).",
            )
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
        self._cap = cap
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise InputError(
                f"{self.path.name} contains no readable video frames.",
                "Record again or convert it to MP4 (H.264).",
            )
        self._first: BGRImage | None = first
        self._first_t = cap.get(cv2.CAP_PROP_POS_MSEC)
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) or None
        h, w = first.shape[:2]
        num, den = cap.get(cv2.CAP_PROP_SAR_NUM), cap.get(cv2.CAP_PROP_SAR_DEN)
        sar = num / den if num > 0 and den > 0 else 1.0
        turned = round(cap.get(cv2.CAP_PROP_ORIENTATION_META)) % 180 == 90
        self._display = display_size(w, h, sar, turned)
        self.info = SourceInfo(self.path.name, *self._display, float(fps), count, "file", sar)

    def __iter__(self) -> Iterator[Frame]:
        image, t = self._first, self._first_t
        self._first = None
        if image is None:
            raise InputError(f"{self.path.name} can only be read once per VideoFileSource.")
        yield from self._read_on(0, image, t)

    def frames_from(self, start: int) -> Iterator[Frame]:
        """Frames from index ``start`` on, after a seek (a second reader of the same file).

        Indices count from the file's start. Whether the seek landed exactly on ``start`` is for
        the caller to verify (see :mod:`siform.pose_lanes`): demuxers differ, so nothing here
        trusts it. Yields nothing when the seek fails.
        """
        self._first = None
        if start > 0 and not self._cap.set(cv2.CAP_PROP_POS_FRAMES, start):
            return
        ok, image = self._cap.read()
        if ok and image is not None:
            yield from self._read_on(start, image, self._cap.get(cv2.CAP_PROP_POS_MSEC))

    def _read_on(self, index: int, image: BGRImage, t: float) -> Iterator[Frame]:
        """``image`` (frame ``index``, container time ``t``) and every frame the decoder gives after it."""
        cap = self._cap
        last: int | None = None
        fallback_dt = 1000.0 / self.info.fps if self.info.fps > 0 else 1000.0 / 30.0
        stretch = self._display != (self._display_of(image))
        while image is not None:
            # POS_MSEC is the container's presentation time; some demuxers report 0 for every frame.
            t_ms = round(t) if t > 0 or index == 0 else round(index * fallback_dt)
            last = _monotonic(t_ms, last)
            if stretch:
                image = cv2.resize(image, self._display, interpolation=cv2.INTER_LINEAR)
            yield Frame(index, last, image)
            index += 1
            ok, nxt = cap.read()
            if not ok or nxt is None:
                break
            image, t = nxt, cap.get(cv2.CAP_PROP_POS_MSEC)
        self.frames_read = index

    @staticmethod
    def _display_of(image: BGRImage) -> tuple[int, int]:
        return image.shape[1], image.shape[0]

    def close(self) -> None:
        self._cap.release()


def display_size(width: int, height: int, sample_aspect: float, turned: bool = False) -> tuple[int, int]:
    """``(width, height)`` in square pixels of an upright frame stored with pixels ``sample_aspect``
    times as wide as high. ``turned``: the file's rotation metadata turned it a quarter, so the
    stored width (the axis the aspect ratio stretches) is now the height.

    The short axis is stretched, never the long one squeezed, so no detail the pose model could use
    is thrown away. Within 1% of square nothing changes (rounding in the container's numbers).
    """
    if not sample_aspect > 0 or abs(sample_aspect - 1.0) < 0.01:
        return width, height
    stretch_x = sample_aspect if not turned else 1.0 / sample_aspect  # display x over stored x
    if stretch_x >= 1.0:
        return round(width * stretch_x), height
    return width, round(height / stretch_x)


class ImageFolderSource(_ClosingSource):
    """Images of a folder in name order, timed at a nominal ``fps`` (EXIF orientation applied)."""

    def __init__(self, folder: str | Path, fps: float = 30.0) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise InputError(f"{self.folder} is not a folder.")
        self.files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise InputError(
                f"{self.folder} holds no images.", f"Supported: {', '.join(sorted(IMAGE_SUFFIXES))}."
            )
        first = self._read(self.files[0])
        h, w = first.shape[:2]
        self.fps = fps
        self.info = SourceInfo(self.folder.name, w, h, fps, len(self.files), "images")

    @staticmethod
    def _read(path: Path) -> BGRImage:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise InputError(f"{path.name} is not an image siform can read.")
        return image

    def __iter__(self) -> Iterator[Frame]:
        for i, path in enumerate(self.files):
            yield Frame(i, round(i * 1000.0 / self.fps), self._read(path))

    def close(self) -> None:
        pass


class CameraSource(_ClosingSource):
    """A live camera; timestamps from a monotonic clock so they track real time, not frame count."""

    def __init__(self, index: int, width: int | None = None, height: int | None = None) -> None:
        cap = cv2.VideoCapture(index)
        if not cap.isOpened():
            cap.release()
            raise InputError(
                f"No camera found at index {index}.",
                "Plug a camera in, close other programs that use it, or try another index.",
            )
        if width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self._cap = cap
        w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.info = SourceInfo(
            f"camera {index}", w, h, float(cap.get(cv2.CAP_PROP_FPS) or 30.0), None, "camera"
        )

    def __iter__(self) -> Iterator[Frame]:
        t0 = time.monotonic_ns()
        last: int | None = None
        failed = 0
        index = 0
        while True:
            ok, image = self._cap.read()
            if not ok or image is None:
                failed += 1
                if failed >= CAMERA_MAX_FAILED_READS:
                    raise CameraLostError(
                        f"The camera stopped sending frames after {index} frames.",
                        "Check its cable or whether another program took it; what was recorded is kept.",
                    )
                continue
            failed = 0
            last = _monotonic((time.monotonic_ns() - t0) // 1_000_000, last)
            yield Frame(index, last, image)
            index += 1

    def close(self) -> None:
        self._cap.release()


def open_source(
    target: str | int | Path, fps: float = 30.0
) -> VideoFileSource | ImageFolderSource | CameraSource:
    """Open a camera index (``0`` or ``"0"``), a folder of images, or a video file."""
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return CameraSource(int(target))
    path = Path(target)
    if path.is_dir():
        return ImageFolderSource(path, fps)
    return VideoFileSource(path)
