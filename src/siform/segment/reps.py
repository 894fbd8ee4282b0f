"""Rep counting: a hysteresis state machine over the driving signal, fed one frame at a time.

The same counter serves live coaching (fed as frames arrive) and review (fed the zero-phase
smoothed signal), so a rep is the same rep in both. Working frame by frame also means a rep is
reported the moment it ends, which is when a live cue is useful.

For ``direction = "up"`` (``down`` is the mirror image)::

    REST --signal > rest--> ASCENT --signal >= top--> TOP --signal < top--> DESCENT --signal <= rest--> REST
                                 \\--back <= rest without reaching top: a partial attempt (or noise)

A missing value (NaN: the person left the frame for longer than the gap bridging allows) voids
the rep in progress instead of guessing, and counting resumes once the signal is back at rest.

When the recording (or the live stream) ends part way through an attempt, :meth:`RepCounter.finish`
reports it as ``not_finished`` with its start and the time it had run, rather than dropping it: a
patient who sees four reps counted after doing five needs to be told the fifth was cut off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from siform.specs.model import RepSpec

Outcome = Literal["complete", "partial", "voided", "too_fast", "too_slow", "not_finished"]


class Phase(Enum):
    REST = "rest"
    ASCENT = "ascent"
    TOP = "top"
    DESCENT = "descent"
    LOST = "lost"  # waiting for the signal to come back to rest after a gap


@dataclass(frozen=True, slots=True)
class RepWindow:
    """Frame indices of one attempt; ``top_start``/``top_end`` are None if the top was not reached.

    ``outcome`` is ``complete`` for a counted rep; everything else is reported but not counted.
    For ``not_finished`` (the recording ended part way) ``end`` is the last frame seen.
    """

    outcome: Outcome
    start: int
    end: int
    start_ms: int
    end_ms: int
    peak: int
    peak_value: float
    top_start: int | None
    top_end: int | None

    @property
    def duration_s(self) -> float:
        return (self.end_ms - self.start_ms) / 1000.0


class RepCounter:
    """``update(i, t_ms, value)`` per frame; returns a :class:`RepWindow` when an attempt ends.
    ``finish()`` at the end of the recording reports an attempt still under way."""

    def __init__(self, spec: RepSpec) -> None:
        self.spec = spec
        self._sign = 1.0 if spec.direction == "up" else -1.0
        self._rest = self._sign * spec.rest
        self._top = self._sign * spec.top
        self._partial = self._sign * spec.partial if spec.partial is not None else None
        self.reset()

    def reset(self) -> None:
        self.phase = Phase.REST
        self._start = self._start_ms = 0
        self._peak = 0
        self._peak_value = -math.inf
        self._top_start: int | None = None
        self._top_end: int | None = None
        self._last_rest = (0, 0)  # last frame seen at rest: where the next attempt starts
        self._top_entered_ms = 0
        self._top_ms = 0.0
        self._last_seen = (0, 0)  # last frame fed: where an attempt cut off by the end stops

    def _window(self, outcome: Outcome, end: int, end_ms: int) -> RepWindow:
        return RepWindow(
            outcome, self._start, end, self._start_ms, end_ms, self._peak,
            self._sign * self._peak_value, self._top_start, self._top_end,
        )  # fmt: skip

    def finish(self) -> RepWindow | None:
        """End of the recording: an attempt under way is reported as ``not_finished``, from its
        start to the last frame seen, if it got as far as an attempt that came back would be
        reported (the top, or ``partial``); a twitch just out of the rest band is not an attempt."""
        if self.phase not in (Phase.ASCENT, Phase.TOP, Phase.DESCENT):
            return None
        reached = self.phase is not Phase.ASCENT or (
            self._partial is not None and self._peak_value >= self._partial
        )
        end, end_ms = self._last_seen
        if self.phase is Phase.TOP:  # the top still open at the end: it closes with the recording
            self._top_end = end
        window = self._window("not_finished", end, end_ms) if reached else None
        self.phase = Phase.REST
        return window

    def update(self, i: int, t_ms: int, value: float) -> RepWindow | None:
        self._last_seen = (i, t_ms)
        if math.isnan(value):
            if self.phase in (Phase.ASCENT, Phase.TOP, Phase.DESCENT):
                window = self._window("voided", i, t_ms)
                self.phase = Phase.LOST
                return window
            if self.phase is Phase.REST:
                self.phase = Phase.LOST
            return None
        s = self._sign * value

        if self.phase is Phase.LOST:
            if s <= self._rest:
                self.phase = Phase.REST
                self._last_rest = (i, t_ms)
            return None

        if self.phase is Phase.REST:
            if s <= self._rest:
                self._last_rest = (i, t_ms)
                return None
            self.phase = Phase.ASCENT
            self._start, self._start_ms = self._last_rest
            self._peak, self._peak_value = i, s
            self._top_start = self._top_end = None
            self._top_ms = 0.0

        if s > self._peak_value:
            self._peak, self._peak_value = i, s

        if self.phase is Phase.ASCENT:
            if s >= self._top:
                self.phase = Phase.TOP
                self._top_start = i
                self._top_entered_ms = t_ms
            elif s <= self._rest:
                self.phase = Phase.REST
                self._last_rest = (i, t_ms)
                if self._partial is not None and self._peak_value >= self._partial:
                    return self._window("partial", i, t_ms)
            return None

        if self.phase is Phase.TOP:
            if s < self._top:
                self.phase = Phase.DESCENT
                self._top_end = i
                self._top_ms += t_ms - self._top_entered_ms
            return None

        # DESCENT
        if s >= self._top:  # a wobble back up into the top band
            self.phase = Phase.TOP
            self._top_entered_ms = t_ms
            return None
        if s > self._rest:
            return None
        self.phase = Phase.REST
        self._last_rest = (i, t_ms)
        duration_s = (t_ms - self._start_ms) / 1000.0
        if duration_s < self.spec.min_rep_s or self._top_ms / 1000.0 < self.spec.min_top_s:
            return self._window("too_fast", i, t_ms)
        if duration_s > self.spec.max_rep_s:
            return self._window("too_slow", i, t_ms)
        return self._window("complete", i, t_ms)
