"""What the coach says after a rep or hold, and when a cue may appear.

:func:`rep_message` is the sentence on screen after each rep or hold (its number, its score and
the worst failed check with the value measured against its limit, then the spec's own cue);
:func:`rep_cue` is the short line shown in the cue box and spoken. Their words come from the
exercise spec (check names and cues) and from the report's own formatting
(:mod:`siform.report.text`), so a rep reads the same live as in ``report.html``.

:class:`CueGate` keeps cues calm: at most one on screen, shown at least ``min_show_s`` and at most
``max_show_s``, the same text not again within ``cooldown_s`` of leaving the screen, and a cue that
waited longer than ``max_wait_s`` for its turn is dropped (it would describe a rep already gone).
Time is passed in, never read from a clock, so the gate behaves the same on a video paced as fast
as possible and in tests.

For the coach (H2): when a rep or hold ends with nothing to correct (:func:`rep_cue` is None),
call :meth:`CueGate.retire`, so the last fault's cue does not stay up beside "Good form".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from siform.report.text import finite, fmt_limit, fmt_score, fmt_value, not_counted_reason
from siform.results import CheckResult, Hold, Rep
from siform.specs.model import CheckSpec, ExerciseSpec

# --- the words -------------------------------------------------------------------------------


def _check_spec(spec: ExerciseSpec, check_id: str) -> CheckSpec | None:
    return next((c for c in spec.checks if c.id == check_id), None)


def _weight(spec: ExerciseSpec, c: CheckResult) -> float:
    defn = _check_spec(spec, c.id)
    return spec.weights.get(c.severity, 1.0) * (defn.weight if defn else 1.0)


def _excess(c: CheckResult) -> float:
    """How far outside its limit a failed check fell, as a share of the limit's own size (so a
    ratio and an angle compare)."""
    v = c.value
    if v is None or not math.isfinite(v):
        return 0.0
    lo, hi = c.limit_min, c.limit_max
    width = (hi - lo) if lo is not None and hi is not None and hi > lo else None
    if hi is not None and v > hi:
        return (v - hi) / (width or abs(hi) or 1.0)
    if lo is not None and v < lo:
        return (lo - v) / (width or abs(lo) or 1.0)
    return 0.0


def worst_failed(item: Rep | Hold, spec: ExerciseSpec) -> CheckResult | None:
    """The failed check to talk about: the heaviest in the score (severity x weight, as
    :func:`siform.checks.score` weighs it), then the one furthest outside its limit."""
    failed = item.failed
    if not failed:
        return None
    return max(failed, key=lambda c: (_weight(spec, c), _excess(c)))


def check_sentence(c: CheckResult, spec: ExerciseSpec) -> str:
    """ "Pelvis stays level: missed, +0.049 from your median (allowed: within ±0.025). Keep both
    hips at the same height as you lift." Name and cue from the spec, numbers as the report
    formats them (:mod:`siform.report.text`)."""
    defn = _check_spec(spec, c.id)
    name = defn.name if defn else c.name
    cue = defn.cue if defn else c.cue
    doc: Mapping[str, Any] = {
        "limit_min": c.limit_min, "limit_max": c.limit_max, "unit": c.unit,
        "reduce": defn.reduce if defn else None,
    }  # fmt: skip
    if c.baseline is not None:
        measured = f"{fmt_value(c.value, c.unit, signed=True)} from your median"
    else:
        measured = fmt_value(c.value, c.unit)
    limit = fmt_limit(doc, c.baseline is not None)
    if c.baseline is not None:  # said once already: "from your median"
        limit = limit.removesuffix(" of your median").removesuffix(" from your median")
    text = f"{name}: missed, {measured} ({limit})."
    return f"{text} {cue}" if cue else text


def _who(item: Rep | Hold, noun: str) -> str:
    """ "Rep 3" or "Left rep 3": the side is the person's own, as the engine records it."""
    return f"{item.side.capitalize()} {noun.lower()}" if item.side else noun


def _held(hold: Hold) -> str:
    """Seconds held, rounded towards the side of the target it missed: 29.96 s of 30 reads
    "29.9 s", never "30.0 s" beside "stopped short"."""
    held = hold.held_s
    if hold.stopped_short and finite(held):
        held = math.floor(round(held * 10, 6)) / 10
    return fmt_value(held, "s")


def _counting(spec: ExerciseSpec) -> dict[str, float]:
    return {"min_rep_s": spec.rep.min_rep_s, "max_rep_s": spec.rep.max_rep_s} if spec.rep else {}


def _not_counted(rep: Rep, spec: ExerciseSpec) -> str:
    reason = not_counted_reason(rep.outcome, rep.duration_s, _counting(spec))
    if rep.outcome in ("too_fast", "too_slow", "not_finished"):  # these already name the time
        return reason
    return f"Took {fmt_value(rep.duration_s, 's')}. {reason}"


def rep_message(item: Rep | Hold, spec: ExerciseSpec) -> str:
    """The sentence shown after a rep or hold, e.g. "Rep 3: 71 / 100. Pelvis stays level: missed,
    +0.049 from your median (allowed: within ±0.025). Keep both hips at the same height as you
    lift." An attempt that did not count says why, with how long it took; a hold
    that stopped short says how long it was held against the target."""
    if isinstance(item, Hold):
        head = f"{_who(item, 'Hold')} {item.number}: {fmt_score(item.score)}."
        clock = f"Held {_held(item)} of {item.target_s:g} s"
        clock += ": stopped short." if item.stopped_short else "."
        worst = worst_failed(item, spec)
        return " ".join([head, clock, *([check_sentence(worst, spec)] if worst else [])])
    if item.outcome != "complete" or item.number == 0:
        return f"{_who(item, 'Attempt')} not counted. {_not_counted(item, spec)}"
    head = f"{_who(item, 'Rep')} {item.number}: {fmt_score(item.score)}."
    worst = worst_failed(item, spec)
    return f"{head} {check_sentence(worst, spec)}" if worst else f"{head} Good form."


def rep_cue(item: Rep | Hold, spec: ExerciseSpec) -> str | None:
    """The one short line for the cue box and the voice after a rep or hold: the worst failed
    check's cue from the spec, why an attempt did not count, or how short a hold fell; None when
    there is nothing to correct (the score on screen says it went well)."""
    worst = worst_failed(item, spec)
    if worst is not None:
        defn = _check_spec(spec, worst.id)
        return (defn.cue if defn else worst.cue) or (defn.name if defn else worst.name)
    if isinstance(item, Hold):
        return f"Held {_held(item)} of {item.target_s:g} s." if item.stopped_short else None
    if item.outcome != "complete" or item.number == 0:
        return _not_counted(item, spec)
    return None


def is_provisional(item: Rep | Hold) -> bool:
    """A verdict that may change at the set's end: a failed check judged against the person's
    own reps before enough of them existed (``CheckResult.provisional``)."""
    return any(getattr(c, "provisional", False) for c in item.failed)


# --- the gate --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShownCue:
    text: str | None
    """The cue on screen now (None: none)."""
    new: bool
    """True on the one call where ``text`` first appears: speak it then, and only then."""


@dataclass
class CueGate:
    """At most one cue at a time, never a message every frame.

    Call :meth:`step` once per frame with the time and, when the coach has something to say, the
    cue it would like shown. A cue offered while another is on screen waits (the newest waiting
    one wins) until the current one has been up ``min_show_s``; a cue goes after ``max_show_s``;
    the same text is refused for ``cooldown_s`` after it left the screen; a cue that waited more
    than ``max_wait_s`` is dropped.
    """

    min_show_s: float = 2.5
    max_show_s: float = 5.0
    cooldown_s: float = 12.0
    max_wait_s: float = 3.0
    _current: str | None = field(default=None, init=False)
    _since_ms: int = field(default=0, init=False)
    _pending: tuple[str, int] | None = field(default=None, init=False)
    _left_ms: dict[str, int] = field(default_factory=dict, init=False)
    _retiring: bool = field(default=False, init=False)

    def _cooling(self, text: str, t_ms: int) -> bool:
        left = self._left_ms.get(text)
        return left is not None and t_ms - left < self.cooldown_s * 1000

    def _end(self, t_ms: int) -> None:
        if self._current is not None:
            self._left_ms[self._current] = t_ms
            self._current = None
        self._retiring = False

    def step(self, t_ms: int, offer: str | None = None) -> ShownCue:
        """Advance to ``t_ms`` (milliseconds, never decreasing), considering ``offer``."""
        if offer and offer != self._current and not self._cooling(offer, t_ms):
            self._pending = (offer, t_ms)
        shown_ms = t_ms - self._since_ms
        if self._current is not None and (
            shown_ms >= self.max_show_s * 1000 or (self._retiring and shown_ms >= self.min_show_s * 1000)
        ):
            self._end(t_ms)
        if self._pending is not None and t_ms - self._pending[1] > self.max_wait_s * 1000:
            self._pending = None
        new = False
        if self._pending is not None and (
            self._current is None or t_ms - self._since_ms >= self.min_show_s * 1000
        ):
            text = self._pending[0]
            self._pending = None
            self._end(t_ms)
            if not self._cooling(text, t_ms):
                self._current, self._since_ms, new = text, t_ms, True
        return ShownCue(self._current, new)

    def retire(self) -> None:
        """The cue on screen is out of date (the next rep went well): it leaves as soon as it has
        had its minimum display, instead of staying its full ``max_show_s`` beside good news."""
        self._retiring = self._current is not None
        self._pending = None

    def clear(self, t_ms: int) -> None:
        """Take the cue off screen now (a pause, a new set); its cooldown starts."""
        self._end(t_ms)
        self._pending = None
