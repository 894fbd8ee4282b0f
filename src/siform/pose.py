"""The pose stage: frames in, 33 landmarks per frame out, as plain numpy arrays.

This is the only module that imports MediaPipe. :class:`PoseEstimator` wraps the Tasks
``PoseLandmarker`` in two modes:

- ``video``: synchronous, for files; the landmarker tracks between frames using the frame's own
  timestamp, so a variable frame rate is handled correctly.
- ``live``: for cameras; :meth:`PoseEstimator.submit` hands a frame to MediaPipe and returns at
  once (MediaPipe drops frames itself while busy), and :meth:`PoseEstimator.latest` returns the
  newest finished result. The capture loop never waits for inference.

A frame without a person is a :class:`PoseFrame` with ``found=False`` and NaN arrays, never an
exception and never a dropped frame, so downstream arrays stay aligned with video time.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from siform.errors import InputError, ModelError
from siform.landmarks import (
    IMAGE_CHANNELS,
    NUM_LANDMARKS,
    WORLD_CHANNELS,
    ImageLandmarks,
    WorldLandmarks,
    empty_image,
    empty_world,
)
from siform.model_store import Variant, ensure_model
from siform.sources import Frame

Mode = Literal["video", "live"]

log = logging.getLogger(__name__)

# MediaPipe's native code writes start-up chatter (XNNPACK delegate, feedback tensors, ROI notes)
# straight to file descriptor 2 while the graph is built and on the first frames. Patients should
# not see it, so those moments run with fd 2 captured and the text goes to the debug log.
_NOISY_FIRST_CALLS = 2


_STDERR_LOCK = threading.Lock()
"""File descriptor 2 is one per process: two estimators (pose lanes) must not swap it at once."""


@contextmanager
def _native_stderr_to_debug_log() -> Iterator[None]:
    with _STDERR_LOCK, _stderr_captured(), stop_signals_blocked():
        yield


STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@contextmanager
def stop_signals_blocked() -> Iterator[None]:
    """Ctrl-C and SIGTERM held back from this thread for the block, and from every thread started
    in it (a thread inherits its creator's signal mask).

    MediaPipe starts its graph's threads while the landmarker is built and on its first frames. A
    signal to the process goes to any thread that does not block it, and MediaPipe's C++ threads
    are not written to be interrupted: blocked there, the signal always reaches Python's main
    thread, which stops the review and closes the graphs; one that arrives during the block waits
    for its end. (That rare abort at exit after a late SIGTERM, 1 in 40 interrupted reviews, had
    another cause: a helper thread forgotten by an interrupted ``join``, see
    :func:`siform.pose_lanes.join_through_interrupts`, which also uses this block.)
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextmanager
def _stderr_captured() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                log.debug("mediapipe: %s", line)


_OPEN_LANDMARKERS: dict[int, Any] = {}
"""Every landmarker built and not yet closed. A MediaPipe graph still running when the interpreter
shuts down ends the process with "terminate called without an active exception" (SIGABRT); a
Ctrl-C can land between two bytecodes of any cleanup (even at the start of ``__exit__``), so
whatever such a race leaves open is closed at exit, before the interpreter tears down."""


_NOWHERE = "http://127.0.0.1:9"
"""A proxy nobody listens on (the discard port of this very machine): a connection to it is
refused before anything leaves the computer."""
_PROXY_VARS = ("https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY")
_proxy_lock = threading.Lock()
_proxy_holders = 0
_saved_proxy_env: dict[str, str | None] = {}


def _send_mediapipe_reports_nowhere() -> None:
    """MediaPipe's native library posts usage logs to Google (play.googleapis.com) when a landmarker
    closes, with no switch to turn it off; it honours the https proxy of the environment. So while
    any landmarker is open the proxy points at a closed local port, and the patient's machine sends
    nothing (strace: only a refused connect to 127.0.0.1:9, no DNS lookup). The user's own settings
    come back when the last landmarker has closed (tests/test_pose.py). Paired with
    :func:`_restore_proxy_env`, once per landmarker."""
    global _proxy_holders
    with _proxy_lock:
        if _proxy_holders == 0:
            _saved_proxy_env.clear()
            _saved_proxy_env.update({k: os.environ.get(k) for k in _PROXY_VARS})
            for key in _PROXY_VARS:
                os.environ.pop(key, None)
            os.environ["https_proxy"] = os.environ["HTTPS_PROXY"] = _NOWHERE
        _proxy_holders += 1


def _restore_proxy_env() -> None:
    global _proxy_holders
    with _proxy_lock:
        _proxy_holders = max(_proxy_holders - 1, 0)
        if _proxy_holders == 0 and _saved_proxy_env:
            for key, value in _saved_proxy_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            _saved_proxy_env.clear()


def _close_quietly(landmarker: Any) -> None:
    """Close a landmarker with its native chatter captured: a graph closed soon after it was built
    (an interrupted review) still logs its start-up lines, from its own threads, until it stops."""
    try:
        with _native_stderr_to_debug_log():
            landmarker.close()
    finally:
        _OPEN_LANDMARKERS.pop(id(landmarker), None)
        _restore_proxy_env()


@atexit.register
def _close_left_open() -> None:
    for landmarker in list(_OPEN_LANDMARKERS.values()):
        try:
            _close_quietly(landmarker)
        except Exception:  # exiting anyway: a graph that fails to close must not hide the exit code
            log.debug("could not close a pose landmarker at exit", exc_info=True)


@dataclass(frozen=True, slots=True)
class PoseFrame:
    """One frame's pose. ``image`` is ``(33, 5)``, ``world`` ``(33, 3)``; NaN when ``found`` is false."""

    index: int
    t_ms: int
    found: bool
    image: ImageLandmarks
    world: WorldLandmarks


def _no_person(index: int, t_ms: int) -> PoseFrame:
    return PoseFrame(index, t_ms, False, empty_image()[0], empty_world()[0])


def _from_result(result: Any, index: int, t_ms: int) -> PoseFrame:
    """Adapt a MediaPipe ``PoseLandmarkerResult`` to a PoseFrame (first person only)."""
    if not result.pose_landmarks:
        return _no_person(index, t_ms)
    image = np.array(
        [(p.x, p.y, p.z, p.visibility or 0.0, p.presence or 0.0) for p in result.pose_landmarks[0]],
        dtype=np.float32,
    )
    world = np.array([(p.x, p.y, p.z) for p in result.pose_world_landmarks[0]], dtype=np.float32)
    return PoseFrame(index, t_ms, True, image, world)


class PoseEstimator:
    """Build once, call per frame: ``PoseEstimator()(frame) -> PoseFrame``.

    ``model_path`` overrides the bundle; otherwise ``variant`` is provisioned through
    :func:`siform.model_store.ensure_model` (found, downloaded or built as needed).
    """

    def __init__(
        self,
        mode: Mode = "video",
        variant: Variant = "full",
        model_path: str | Path | None = None,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        num_poses: int = 1,
    ) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        path = Path(model_path) if model_path else ensure_model(variant).path
        if not path.is_file():
            raise ModelError(f"Pose model {path} does not exist.", "Run 'siform models' to get one.")
        self.mode = mode
        self.model_path = path
        self._latest: PoseFrame | None = None
        self._lock = threading.Lock()
        self._pending: dict[int, int] = {}
        self._last_t_ms: int | None = None
        running_mode = vision.RunningMode.VIDEO if mode == "video" else vision.RunningMode.LIVE_STREAM
        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(path)),
            running_mode=running_mode,
            num_poses=num_poses,
            min_pose_detection_confidence=min_detection_confidence,
            min_pose_presence_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
            result_callback=self._on_result if mode == "live" else None,
        )
        self._quiet_calls = _NOISY_FIRST_CALLS
        landmarker = None
        try:
            with _native_stderr_to_debug_log():
                _send_mediapipe_reports_nowhere()
                landmarker = vision.PoseLandmarker.create_from_options(options)
                _OPEN_LANDMARKERS[id(landmarker)] = landmarker
        except (RuntimeError, ValueError) as exc:
            _restore_proxy_env()  # no landmarker to close: give its hold on the proxy back here
            raise ModelError(
                f"MediaPipe could not load the pose model {path.name} ({exc}).",
                "Delete it and run 'siform models' to get a fresh copy.",
            ) from exc
        except BaseException:
            # Ctrl-C just after the graph was built: no caller will ever close it, and a graph
            # still running when the interpreter exits aborts the process (SIGABRT).
            if landmarker is not None:
                _close_quietly(landmarker)
            else:
                _restore_proxy_env()
            raise
        self._landmarker = landmarker
        self._closed = False
        self.num_poses = num_poses
        self.people: list[ImageLandmarks] = []
        """With ``num_poses`` > 1 (VIDEO mode): the image landmarks of every pose found in the last
        frame, for the live app's second-person check (H2); the PoseFrame is always the first. The
        model can return the same person twice, so the caller decides who is distinct."""

    @staticmethod
    def _mp_image(frame: Frame) -> Any:
        import cv2
        import mediapipe as mp

        if frame.image.ndim != 3 or frame.image.shape[2] != 3 or frame.image.dtype != np.uint8:
            raise InputError(f"Frame {frame.index} is not an 8-bit colour image (shape {frame.image.shape}).")
        rgb = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)
        return mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)

    def _next_timestamp(self, t_ms: int) -> int:
        # MediaPipe refuses a timestamp that does not grow; sources guarantee this, callers may not.
        if self._last_t_ms is not None and t_ms <= self._last_t_ms:
            t_ms = self._last_t_ms + 1
        self._last_t_ms = t_ms
        return t_ms

    def __call__(self, frame: Frame) -> PoseFrame:
        """VIDEO mode: estimate the pose of one frame and wait for the answer."""
        if self.mode != "video":
            raise RuntimeError("Use submit()/latest() in live mode.")
        t_ms = self._next_timestamp(frame.t_ms)
        if self._quiet_calls:
            self._quiet_calls -= 1
            with _native_stderr_to_debug_log():
                result = self._landmarker.detect_for_video(self._mp_image(frame), t_ms)
        else:
            # A Ctrl-C or SIGTERM waits for the frame (tens of milliseconds): raised inside
            # MediaPipe's Image constructor it left a half-made image whose __del__ printed
            # "Exception ignored ... AttributeError: '_image_ptr'" with a traceback to the patient
            # (1 in 38 interrupted reviews, benchmarks/interrupt.py).
            with stop_signals_blocked():
                result = self._landmarker.detect_for_video(self._mp_image(frame), t_ms)
        if self.num_poses > 1:
            self.people = [
                np.array([(p.x, p.y, p.z, p.visibility or 0.0, p.presence or 0.0) for p in lms], np.float32)
                for lms in result.pose_landmarks
            ]
        return _from_result(result, frame.index, frame.t_ms)

    def submit(self, frame: Frame) -> None:
        """LIVE mode: hand a frame to MediaPipe and return immediately."""
        if self.mode != "live":
            raise RuntimeError("submit() is for live mode; call the estimator directly in video mode.")
        t_ms = self._next_timestamp(frame.t_ms)
        with self._lock:
            self._pending[t_ms] = frame.index
            if len(self._pending) > 64:  # results for dropped frames never come back
                for key in sorted(self._pending)[:-64]:
                    del self._pending[key]
        with stop_signals_blocked():  # as in __call__: never a half-made MediaPipe image
            self._landmarker.detect_async(self._mp_image(frame), t_ms)

    def _on_result(self, result: Any, _image: Any, t_ms: int) -> None:
        with self._lock:
            index = self._pending.pop(t_ms, -1)
            self._latest = _from_result(result, index, t_ms)

    def latest(self) -> PoseFrame | None:
        """LIVE mode: the newest finished result, or None before the first one."""
        with self._lock:
            return self._latest

    def run(self, frames: Iterable[Frame]) -> Iterator[PoseFrame]:
        """VIDEO mode over a whole source."""
        for frame in frames:
            yield self(frame)

    def close(self) -> None:
        """Stop MediaPipe's graph and its threads (once; later calls do nothing)."""
        if not self._closed:
            self._closed = True
            _close_quietly(self._landmarker)

    def __enter__(self) -> PoseEstimator:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class PoseTrack:
    """A whole recording's poses as parallel arrays (the canonical container downstream).

    ``t_ms`` ``(T,)`` int64; ``image`` ``(T, 33, 5)`` float32; ``world`` ``(T, 33, 3)`` float32;
    ``width``/``height`` the frame size in pixels, so normalised x, y can be turned into pixels.
    """

    t_ms: np.ndarray
    image: np.ndarray
    world: np.ndarray
    width: int
    height: int

    def __post_init__(self) -> None:
        n = self.t_ms.shape[0]
        expected = {
            "t_ms": (n,),
            "image": (n, NUM_LANDMARKS, IMAGE_CHANNELS),
            "world": (n, NUM_LANDMARKS, WORLD_CHANNELS),
        }
        for name, shape in expected.items():
            actual = getattr(self, name).shape
            if actual != shape:
                raise ValueError(f"PoseTrack.{name} must have shape {shape}, got {actual}")

    def __len__(self) -> int:
        return int(self.t_ms.shape[0])

    @property
    def found(self) -> np.ndarray:
        """``(T,)`` bool: a person was detected in the frame."""
        return ~np.isnan(self.image[:, 0, 0])

    def image_px(self) -> np.ndarray:
        """``(T, 33, 2)`` image x, y in pixels (y down)."""
        return self.image[:, :, :2] * np.array([self.width, self.height], dtype=np.float32)

    @classmethod
    def from_frames(cls, frames: Iterable[PoseFrame], width: int, height: int) -> PoseTrack:
        items = list(frames)
        if not items:
            return cls(
                np.zeros(0, np.int64),
                empty_image(0),
                empty_world(0),
                width,
                height,
            )
        return cls(
            np.array([f.t_ms for f in items], dtype=np.int64),
            np.stack([f.image for f in items]).astype(np.float32, copy=False),
            np.stack([f.world for f in items]).astype(np.float32, copy=False),
            width,
            height,
        )

    def save_npz(self, path: str | Path, **meta: str) -> None:
        np.savez_compressed(
            path,
            t_ms=self.t_ms,
            image=self.image,
            world=self.world,
            size=np.array([self.width, self.height], dtype=np.int64),
            **{f"meta_{k}": np.array(v) for k, v in meta.items()},
        )

    @classmethod
    def load_npz(cls, path: str | Path) -> PoseTrack:
        with np.load(path) as data:
            width, height = (int(v) for v in data["size"])
            return cls(data["t_ms"], data["image"], data["world"], width, height)
