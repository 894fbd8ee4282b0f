"""What the live window shows at one moment.

The coach (``coach.py``) produces one :class:`LiveView` per processed frame; the window
(``window.py``/``overlay.py``) draws it and nothing else. Keeping this a plain, immutable record is
what lets the drawing be tested on its own (a screenshot under Xvfb) and the coach be tested
without a window.

Sides in every string here are the person's own left and right, whatever the display mirroring.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

Phase = Literal["checkin", "setup", "active", "paused", "rest", "done", "stopped"]
"""``setup``: placing the camera and the body until the setup gate passes; ``active``: counting;
``paused``: by a key, a lost camera, nobody or two people in view; ``rest``: between sets;
``done``: the prescription is complete (summary on screen); ``stopped``: ended early (a key, a red
flag at check-in)."""


@dataclass(frozen=True, slots=True)
class Counter:
    """Reps (or holds) done on one side of the current set, against the prescription."""

    side: str | None
    """``left``/``right`` for a unilateral exercise, None for a bilateral one."""
    done: int
    prescribed: int | None


@dataclass(frozen=True, slots=True)
class LastItem:
    """The rep or hold that ended most recently, as the person should read it."""

    kind: Literal["rep", "hold"]
    number: int
    score: float | None
    passed: bool
    message: str
    """Plain words, with the failing check's number: "Rep 3: 71/100. The pelvis dropped 9 degrees on
    the left: keep it level." Or why it did not count ("Too fast (0.4 s): not counted")."""
    provisional: bool = False
    """Judged against the person's own reps before enough of them exist; the final session decides."""


@dataclass(frozen=True, slots=True)
class HoldClock:
    held_s: float
    target_s: float
    in_position: bool


@dataclass(frozen=True, slots=True)
class LiveView:
    t_ms: int
    phase: Phase
    exercise: str
    """The exercise's display name."""
    set_number: int
    sets: int
    counters: tuple[Counter, ...]
    """One per side for a unilateral exercise (the working side first), one for a bilateral one."""
    landmarks: npt.NDArray[np.float32] | None = None
    """``(33, 4)`` image landmarks of the camera frame (not mirrored): x, y normalised to [0, 1],
    z, visibility; None when nobody is in view."""
    message: str | None = None
    """The big line: a setup instruction, why it is paused, "Switch to your right leg"."""
    cue: str | None = None
    """The one short cue shown now (and spoken once when it first appears)."""
    last: LastItem | None = None
    hold: HoldClock | None = None
    rest_left_s: float | None = None
    failing: tuple[tuple[str, str], ...] = ()
    """Skeleton segments (pairs of landmark names such as ``left_hip``) drawn in the fault colour
    now: those of checks outside their limit at this moment, or on the rep that just ended."""
    summary: tuple[str, ...] = ()
    """Lines of the set (or session) summary, shown in ``rest``, ``done`` and ``stopped``."""
    keys_help: str = "space: pause   n: next set   q: quit"
    extra: dict[str, str] = field(default_factory=dict)
    """Anything else worth a small line (e.g. "recording" when --record is on)."""
    kind: Literal["reps", "hold"] = "reps"
    """What the counters count (the spec's ``kind``): the overlay words them "reps" or "holds"."""
