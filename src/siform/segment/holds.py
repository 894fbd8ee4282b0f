"""Hold timing: a clock that runs only while the posture holds, fed one frame at a time.

A therapist prescribing "3 x 30 s" means 30 s *in position*. So the clock adds a frame interval
only when the frame that starts it satisfies every hold condition. A break shorter than
``grace_s`` (a wobble, a few missed frames) pauses the clock without ending the hold; a longer
break ends it. Holds shorter than ``min_hold_s`` are not reported (passing through the posture).
"""

from __future__ import annotations

from dataclasses import dataclass

from siform.specs.model import HoldSpec


@dataclass(frozen=True, slots=True)
class HoldWindow:
    start: int
    end: int
    start_ms: int
    end_ms: int
    held_s: float
    """Time in position, excluding breaks."""
    breaks: int
    """How many times the posture broke briefly (within the grace period)."""


class HoldTimer:
    """``update(i, t_ms, ok)`` per frame (``ok`` None = no pose); ``finish()`` at the end."""

    def __init__(self, spec: HoldSpec) -> None:
        self.spec = spec
        self.reset()

    def reset(self) -> None:
        self._in_hold = False
        self._start = self._start_ms = 0
        self._last_ok = self._last_ok_ms = 0
        self._prev_ok = False
        self._prev_ms: int | None = None
        self._held_ms = 0.0
        self._breaks = 0
        self._broken = False

    @property
    def held_s(self) -> float:
        """Seconds held so far in the current hold (for a live countdown)."""
        return self._held_ms / 1000.0 if self._in_hold else 0.0

    def _close(self) -> HoldWindow | None:
        window = None
        if self._held_ms / 1000.0 >= self.spec.min_hold_s:
            window = HoldWindow(
                self._start, self._last_ok, self._start_ms, self._last_ok_ms,
                self._held_ms / 1000.0, self._breaks,
            )  # fmt: skip
        self._in_hold = False
        self._held_ms = 0.0
        self._breaks = 0
        self._broken = False
        return window

    def update(self, i: int, t_ms: int, ok: bool | None) -> HoldWindow | None:
        ok = bool(ok)
        result = None
        if self._in_hold and self._prev_ok and self._prev_ms is not None:
            self._held_ms += t_ms - self._prev_ms
        if ok:
            if not self._in_hold:
                self._in_hold = True
                self._start, self._start_ms = i, t_ms
            elif self._broken:
                self._breaks += 1
                self._broken = False
            self._last_ok, self._last_ok_ms = i, t_ms
        elif self._in_hold:
            self._broken = True
            if (t_ms - self._last_ok_ms) / 1000.0 > self.spec.grace_s:
                result = self._close()
        self._prev_ok, self._prev_ms = ok, t_ms
        return result

    def finish(self) -> HoldWindow | None:
        """End of the recording: report a hold still in progress."""
        return self._close() if self._in_hold else None
