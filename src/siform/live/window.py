"""The live window: OpenCV's own window (Qt here), resizable, with three keys.

:meth:`LiveWindow.show` draws a :class:`~siform.live.state.LiveView` over the camera frame with
:func:`~siform.live.overlay.draw_live` (mirrored by default), puts it on screen and returns the key
pressed since the last frame as a word: ``"pause"`` (space), ``"next"`` (n: next set) or ``"quit"``
(q, Esc, or the window closed with its title-bar button). It waits 1 ms for keys, so the frame loop
is never held up by the window.

On Linux without a display (an SSH session, a server), opening a Qt window would abort the whole
process from inside Qt, so :meth:`open` checks for one first and raises a :class:`WindowError`
that names the way out (``--no-window``).
"""

from __future__ import annotations

import os
import sys
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from siform.errors import SiformError
from siform.live.overlay import draw_live
from siform.live.state import LiveView

Key = Literal["pause", "next", "quit"]
KEYS: dict[int, Key] = {ord(" "): "pause", ord("n"): "next", ord("N"): "next", ord("q"): "quit",
                        ord("Q"): "quit", 27: "quit"}  # fmt: skip


class WindowError(SiformError):
    """No window can be opened here (no display)."""


def has_display() -> bool:
    """Whether a window can appear: always on Windows and macOS; on Linux an X11 or Wayland display."""
    if sys.platform.startswith("win") or sys.platform == "darwin":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


MAX_FIRST = (1280, 720)
"""The largest size the window opens at: it fits a 1366x768 laptop screen with its title bar and
task bar. A bigger camera image is scaled down to it (the person can resize the window)."""


def first_size(width: int, height: int) -> tuple[int, int]:
    """The window's opening size for an image: its own, or scaled down (same shape) to fit
    :data:`MAX_FIRST`."""
    scale = min(1.0, MAX_FIRST[0] / max(width, 1), MAX_FIRST[1] / max(height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


class LiveWindow:
    """``with LiveWindow() as win: key = win.show(frame, view)``."""

    def __init__(self, title: str = "siform live", mirror: bool = True, size: tuple[int, int] | None = None):
        self.title = title
        self.mirror = mirror
        self.size = size
        """Initial (width, height) on screen; None: the first frame's own size, scaled down to
        :data:`MAX_FIRST` if larger."""
        self._open = False
        self._shown = False

    def open(self) -> LiveWindow:
        if self._open:
            return self
        if not has_display():
            raise WindowError(
                "No display to open the live window on.",
                "Run it on the computer's own screen, or add --no-window "
                "(with --save-annotated to keep the picture).",
            )
        cv2.namedWindow(self.title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
        if self.size is not None:
            cv2.resizeWindow(self.title, *self.size)
        self._open = True
        self._shown = False
        return self

    def show(self, frame_bgr: npt.NDArray[np.uint8], view: LiveView | None = None) -> Key | None:
        """Draw ``view`` over ``frame_bgr`` (or show ``frame_bgr`` as it is when ``view`` is None)
        and return the key pressed, if any. After the window was closed, every call returns "quit"."""
        if not self._open:
            self.open()
        elif self._shown and self.closed_by_user():
            return "quit"
        image = draw_live(frame_bgr, view, self.mirror) if view is not None else frame_bgr
        if not self._shown and self.size is None:
            cv2.resizeWindow(self.title, *first_size(image.shape[1], image.shape[0]))
        cv2.imshow(self.title, image)
        self._shown = True
        code = cv2.waitKey(1)
        if code != -1:
            key = KEYS.get(code & 0xFF)
            if key is not None:
                return key
        return "quit" if self.closed_by_user() else None

    def closed_by_user(self) -> bool:
        """The window was shown and is gone (its close button): the person wants to stop."""
        if not self._open:
            return False
        try:
            visible = cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE)
        except cv2.error:  # Qt: the window is gone
            return True
        return 0 <= visible < 1  # -1: this GUI backend cannot tell (GTK); the keys still quit

    def close(self) -> None:
        if self._open:
            self._open = False
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)  # lets the GUI thread take the window down now
            except cv2.error:
                pass

    def __enter__(self) -> LiveWindow:
        return self.open()

    def __exit__(self, *_exc: object) -> None:
        self.close()
