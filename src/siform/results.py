"""Result records: what a session found, rep by rep, in the shape ``session.json`` stores.

Plain frozen dataclasses, so live coaching, review and the therapist server all pass the same
objects around; :func:`to_jsonable` is the one place they become JSON.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

SESSION_SCHEMA_VERSION = "1.5"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check on one rep or hold.

    ``scored`` is false when the check could not be judged (the view cannot show it, the signal was
    missing, no baseline yet); then ``passed`` is None and ``reason`` says why. ``value`` is what
    was compared with the limit: for baseline checks, the difference from the set's median, with
    the raw value in ``raw_value``.
    """

    id: str
    name: str
    scored: bool
    passed: bool | None
    value: float | None
    raw_value: float | None
    limit_min: float | None
    limit_max: float | None
    baseline: float | None
    unit: str
    severity: str
    worst_index: int | None
    worst_t_ms: int | None
    cue: str | None
    reason: str | None = None
    provisional: bool = False
    """Live coaching only: judged against the person's own reps before enough of them were done, so
    the verdict may change when the set ends; a finished session has no provisional verdicts."""


@dataclass(frozen=True, slots=True)
class Rep:
    number: int
    """1-based among counted reps of this side; 0 for attempts that were not counted."""
    side: str | None
    outcome: str
    """``complete`` (counted), or why not: ``partial``, ``voided``, ``too_fast``, ``too_slow``, or
    ``not_finished`` (the recording ended part way through; ``end_ms`` is its last frame)."""
    start_ms: int
    end_ms: int
    peak_ms: int
    start_index: int
    end_index: int
    peak_index: int
    peak_value: float
    top_start_index: int | None
    """First frame in the top band of the driving signal (None if the top was never reached)."""
    top_end_index: int | None
    checks: tuple[CheckResult, ...]
    score: float | None
    duration_s: float = field(init=False)
    """``end_ms - start_ms`` in seconds: the time the rep counter held against the spec's
    ``min_rep_s`` and ``max_rep_s``, stored so every reader shows a "too fast" attempt's real time."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "duration_s", round((self.end_ms - self.start_ms) / 1000.0, 3))

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.scored and c.passed is False)


@dataclass(frozen=True, slots=True)
class Hold:
    number: int
    side: str | None
    start_ms: int
    end_ms: int
    held_s: float
    target_s: float
    breaks: int
    start_index: int
    end_index: int
    checks: tuple[CheckResult, ...]
    score: float | None
    """0-100: the form score (share of checks passed) times the share of the prescribed time held,
    so a hold that stopped short never reads as full marks (see :func:`siform.checks.hold_score`)."""

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.scored and c.passed is False)

    @property
    def stopped_short(self) -> bool:
        """Ended before the prescribed time: not done, however good the form while it lasted."""
        return self.held_s < self.target_s


@dataclass(frozen=True, slots=True)
class SetSummary:
    side: str | None
    done: int
    prescribed: int | None
    """Reps (or holds) prescribed per set."""
    attempts_not_counted: int
    mean_score: float | None
    failures: dict[str, int]
    """Check id -> number of reps (holds) that failed it."""
    most_frequent_fault: str | None
    """The cue of the most often failed check, in plain words."""
    not_finished: int = 0
    """Attempts still under way when the recording ended (among ``attempts_not_counted``)."""
    holds_short: int = 0
    """Holds (among ``done``) that ended before the prescribed time (:attr:`Hold.stopped_short`)."""


@dataclass(frozen=True, slots=True)
class SetupVerdict:
    ok: bool
    view: str | None
    facing_measured: str | None
    hints: tuple[str, ...]
    visibility: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Unscored:
    check_id: str
    reason: str


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, enums, tuples and NaN -> JSON-safe values (NaN and inf become null)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, float):
        return None if not math.isfinite(obj) else round(obj, 6)
    if hasattr(obj, "item"):  # numpy scalars
        return to_jsonable(obj.item())
    return obj
