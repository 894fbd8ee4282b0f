"""The live session's state machine: poses in, one :class:`~siform.live.state.LiveView` per frame out.

Order of a session: setup (the camera gate, as review runs it, over the last
:data:`SETUP_WINDOW_MS` of poses, with the person told where to stand and which way to face until it
passes) -> a set on one side (one :class:`siform.pipeline.LiveSession`, counted against the
prescription) -> the other side of a one-sided exercise (setup again: the person may have turned
round) -> rest -> the next set ... -> done. The check-in (pain, red flags) happens before the coach
is built (:mod:`siform.live.checkin`).

Pauses never end the session: a key, a camera that stops sending, nobody in view, a second person
in view. Each has its message; the session resumes by itself when the cause is gone (a key pause
by the key again).

The coach does no drawing, speaking or writing: the caller (:mod:`siform.live.app`) shows the view,
speaks new cues and writes every event returned by :meth:`Coach.frame` to the journal at once. So
it can be driven frame by frame in tests, with real poses, and no window.

Sides in every message are the person's own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from siform.engine import HoldEvent, RepEvent
from siform.gate import assess_setup
from siform.landmarks import EDGES
from siform.live.cues import CueGate, rep_cue, rep_message
from siform.live.state import Counter, HoldClock, LastItem, LiveView, Phase
from siform.pipeline import LiveSession, SessionResult, _resolve_gate_names, near_side
from siform.pose import PoseFrame
from siform.results import Hold, Rep, SetupVerdict
from siform.signals.compute import SignalSet, side_map
from siform.signals.filters import mask_low_visibility
from siform.specs.model import ExerciseSpec

log = logging.getLogger(__name__)

SETUP_WINDOW_MS = 1500
"""The stretch of poses the setup gate judges (review judges the whole clip; live cannot wait)."""
SETUP_MIN_MS = 1000
"""Least stretch of poses before the gate is first asked."""
SETUP_EVERY_MS = 250
"""How often the gate is asked again while it fails."""
NOBODY_PAUSE_MS = 1000
"""Nobody in view this long during a set pauses it (shorter gaps are a missed frame or two)."""
FAILING_SHOW_MS = 3000
"""How long the segments of the last rep's failed checks stay in the fault colour."""

Event = RepEvent | HoldEvent
KEY_WORDS = {" ": "pause", "space": "pause", "n": "next", "q": "quit", "esc": "quit"}
"""Keys by their character, for callers without the window (tests, a terminal)."""


def other_side(side: str) -> str:
    return "right" if side == "left" else "left"


@dataclass(frozen=True, slots=True)
class Plan:
    """The dose of this session: ``sets`` sets of ``per_set`` reps (or holds) on each side."""

    sets: int
    per_set: int
    rest_s: float
    sides: int
    """Sides per set: 2 for a one-sided exercise without ``--side``, else 1."""
    side: str | None = None
    """The side given (``--side``), None to find it from the first rep."""

    @classmethod
    def of(cls, spec: ExerciseSpec, sets: int | None, reps: int | None, side: str | None) -> Plan:
        rx = spec.prescription
        per_set = reps or rx.reps or 1  # a hold's prescription is one hold of hold_s per set
        both = spec.laterality == "unilateral" and side is None
        return cls(sets or rx.sets, per_set, float(rx.rest_s), 2 if both else 1,
                   side if spec.laterality == "unilateral" else None)  # fmt: skip


@dataclass(slots=True)
class SetRecord:
    """One set on one side, as it ended: the engine's final judgement of every rep of it."""

    set_number: int
    side: str | None
    setup: SetupVerdict
    view: str
    near: str
    result: SessionResult
    ended: str
    """``complete`` (the prescription reached), ``next`` (the person moved on with the key), or
    ``stopped`` (quit, or the video ended)."""


@dataclass(frozen=True, slots=True)
class SetStart:
    set_number: int
    side: str | None
    view: str
    setup: SetupVerdict
    t_ms: int
    """The time of the set's first frame (the first of the poses the setup gate judged)."""


@dataclass(slots=True)
class Tick:
    """What one frame changed, for the caller to act on at once."""

    events: list[tuple[int, Event]] = field(default_factory=list)
    """Reps and holds that ended on this frame, with their set number: journal them now."""
    started: list[SetStart] = field(default_factory=list)
    """Sets (sides) whose setup passed on this frame: their first frames follow at once."""
    finished: list[SetRecord] = field(default_factory=list)
    """Sets (sides) that ended on this frame."""
    say: str | None = None
    """A cue that appeared on this frame: to be spoken now, once."""


Describe = Callable[[Rep | Hold, ExerciseSpec], str]


class Coach:
    """One live session of one exercise. Feed it :meth:`frame` per processed camera frame,
    :meth:`idle` while none comes, :meth:`key` for keys and :meth:`end` when the source ends."""

    def __init__(
        self,
        spec: ExerciseSpec,
        plan: Plan,
        width: int,
        height: int,
        describe: Describe = rep_message,
        cue_of: Callable[[Rep | Hold, ExerciseSpec], str | None] = rep_cue,
        cues: CueGate | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.spec = spec
        self.plan = plan
        self.width, self.height = width, height
        self.describe = describe
        self.cue_of = cue_of
        self.cues = cues or CueGate()
        self.extra = dict(extra or {})
        self._offer: str | None = None
        self.set_number = 1
        self.side_index = 0
        self.first_side: str | None = plan.side
        self.records: list[SetRecord] = []
        self._phase: Phase = "setup"
        self._setup_frames: list[PoseFrame] = []
        self._setup_verdict: SetupVerdict | None = None
        self._setup_asked_ms: int | None = None
        self._setup_note: str | None = None
        self._session: LiveSession | None = None
        self._session_setup: tuple[SetupVerdict, str, str] | None = None
        self._counted = 0
        self._last: LastItem | None = None
        self._failing: tuple[tuple[str, str], ...] = ()
        self._failing_until = -1
        self._cue: str | None = None
        self._rest_until: int | None = None
        self._rest_left_ms: float | None = None
        self._paused_key = False
        self._camera_lost: str | None = None
        self._crowd = False
        self._nobody_since: int | None = None
        self._landmarks: np.ndarray | None = None
        self._summary: tuple[str, ...] = ()
        self._done_reason: str | None = None
        self._now = 0
        self._row: dict[str, float] = {}

    # -- what side is being worked now ------------------------------------------------------

    @property
    def side(self) -> str | None:
        """The working side now: given, found by the engine, or None while still unknown."""
        if self.spec.laterality != "unilateral":
            return None
        if self.side_index == 0:
            if self.first_side is None and self._session is not None:
                found = getattr(self._session, "side", None)
                if found:
                    self.first_side = found
            return self.first_side
        return other_side(self.first_side) if self.first_side else None

    @property
    def phase(self) -> Phase:
        if self._phase in ("done", "stopped"):
            return self._phase
        if self.pause_reason is not None:
            return "paused"
        return self._phase

    @property
    def pause_reason(self) -> str | None:
        if self._phase in ("done", "stopped"):
            return None
        if self._camera_lost:
            return f"Camera lost ({self._camera_lost}). Waiting for it to come back..."
        if self._paused_key:
            return "Paused. Press space to go on."
        if self._crowd:
            return "Someone else is in view: only one person at a time, please. Paused until they leave."
        if (
            self._nobody_since is not None
            and self._phase == "active"
            and self._now - self._nobody_since >= NOBODY_PAUSE_MS
        ):
            return "Nobody in view: come back into the picture so your whole body shows."
        return None

    @property
    def finished(self) -> bool:
        return self._phase in ("done", "stopped")

    # -- inputs -------------------------------------------------------------------------------

    @property
    def now_ms(self) -> int:
        """The coach's clock: the newest frame's time, or the feed's while no frame comes."""
        return self._now

    def frame(self, pose: PoseFrame, people: int | None = None) -> Tick:
        """One processed frame: its pose and, when it was counted, how many people are in view."""
        tick = Tick()
        self._now = pose.t_ms
        self._camera_lost = None
        self._landmarks = pose.image if pose.found else None
        if people is not None:
            self._crowd = people >= 2
        if pose.found:
            self._nobody_since = None
        elif self._nobody_since is None:
            self._nobody_since = pose.t_ms
        if self.finished or self._paused_key:
            return self._step_cue(tick)
        if self._phase == "rest":
            self._rest_tick()
        if self._phase == "setup":
            self._setup_frame(pose, tick)
        elif self._phase == "active":
            self._active_frame(pose, tick)
        return self._step_cue(tick)

    def _step_cue(self, tick: Tick) -> Tick:
        """One cue at a time (:class:`~siform.live.cues.CueGate`): none while paused."""
        if self.pause_reason is not None:
            self.cues.clear(self._now)
            self._offer = None
        shown = self.cues.step(self._now, self._offer)
        self._offer = None
        self._cue = shown.text
        if shown.new:
            tick.say = shown.text
        return tick

    def idle(self, now_ms: int, lost: str | None) -> Tick:
        """No frame this time round: timers go on, a lost camera pauses."""
        self._now = max(self._now, now_ms)
        self._camera_lost = lost
        if lost:
            self._landmarks = None
        if not self.finished and not self._paused_key and self._phase == "rest":
            self._rest_tick()
        return self._step_cue(Tick())

    def key(self, key: str) -> Tick:
        """``pause`` (space) pause/resume, ``next`` (n) next set: ends this one, or the rest, ``quit``
        (q, Esc, the window closed). The window's words (:data:`siform.live.window.Key`)."""
        tick = Tick()
        key = KEY_WORDS.get(key, key)
        if self.finished:
            return tick
        if key == "pause":
            self._paused_key = not self._paused_key
            if self._phase == "rest":  # the rest clock stands still while paused
                if self._paused_key and self._rest_until is not None:
                    self._rest_left_ms = self._rest_until - self._now
                elif not self._paused_key and self._rest_left_ms is not None:
                    self._rest_until = self._now + round(self._rest_left_ms)
                    self._rest_left_ms = None
        elif key == "next":
            self._paused_key = False
            if self._phase == "active":
                self._close_side(tick, "next")
            elif self._phase == "rest":
                self._rest_until = self._now
                self._rest_tick()
        elif key == "quit":
            self.end("stopped with the key", tick)
        return tick

    def end(self, why: str, tick: Tick | None = None) -> Tick:
        """The session ends now (quit, the video ended): the set under way is judged and kept."""
        tick = tick or Tick()
        if self.finished:
            return tick
        if self._phase == "active" and self._session is not None:
            self._close_side(tick, "stopped", advance=False)
        if self._phase != "done":
            self._phase = "stopped"
            self._done_reason = why
            self._summary = self._session_summary(f"Session ended: {why}.")
        return tick

    # -- setup ----------------------------------------------------------------------------

    def _setup_frame(self, pose: PoseFrame, tick: Tick) -> None:
        if self._crowd:
            self._setup_frames.clear()  # whose poses those were is not known
            return
        frames = self._setup_frames
        frames.append(pose)
        while frames and pose.t_ms - frames[0].t_ms > SETUP_WINDOW_MS:
            frames.pop(0)
        span = pose.t_ms - frames[0].t_ms
        due = self._setup_asked_ms is None or pose.t_ms - self._setup_asked_ms >= SETUP_EVERY_MS
        if span < SETUP_MIN_MS or not due:
            return
        self._setup_asked_ms = pose.t_ms
        verdict, near = self._assess(frames)
        self._setup_verdict = verdict
        if verdict.view is not None and _only_height_hints(verdict):
            self._start_side(verdict, near, tick)

    def _assess(self, frames: list[PoseFrame]) -> tuple[SetupVerdict, str]:
        image = np.stack([f.image for f in frames]).astype(np.float64)
        world = np.stack([f.world for f in frames]).astype(np.float64)
        found = ~np.isnan(image[:, 0, 0])
        near = near_side(image[found]) if found.any() else "left"
        # The gate's sides: the working side given or found, else the near one (as review's tie-break).
        working = self.side or near
        sides = side_map(working if self.spec.laterality == "unilateral" else None, near)
        masked = mask_low_visibility(image.astype(np.float32), self.spec.filter.min_visibility)
        px = masked[:, :, :2].astype(np.float64) * np.array([self.width, self.height], dtype=np.float64)
        required = SignalSet(self.spec, sides).landmarks()
        gate_names = _resolve_gate_names(list(self.spec.gate.landmarks), sides)
        return assess_setup(self.spec, image, px, required, gate_names, world=world), near

    def _start_side(self, verdict: SetupVerdict, near: str, tick: Tick) -> None:
        assert verdict.view is not None
        # ``measured``: the camera height the gate saw, so checks that need another height go unscored
        self._session = LiveSession(self.spec, self.width, self.height, verdict.view, near, side=self.side,
                                    measured=verdict.facing_measured)  # fmt: skip
        self._session_setup = (verdict, verdict.view, near)
        self._counted = 0
        self._phase = "active"
        self._setup_note = None
        replay, self._setup_frames = self._setup_frames, []
        tick.started.append(SetStart(self.set_number, self.side, verdict.view, verdict, replay[0].t_ms))
        self._setup_asked_ms = None
        self._nobody_since = None
        for pose in replay:  # the poses the gate judged are the set's first frames: nothing is lost
            self._active_frame(pose, tick)
            if self._phase != "active":
                break

    # -- a set ----------------------------------------------------------------------------

    def _active_frame(self, pose: PoseFrame, tick: Tick) -> None:
        session = self._session
        assert session is not None
        if self._crowd:  # not this person's pose: what is under way is not scored on it
            pose = PoseFrame(pose.index, pose.t_ms, False, np.full_like(pose.image, np.nan),
                             np.full_like(pose.world, np.nan))  # fmt: skip
        event = session.update(pose)
        self._row = dict(getattr(session, "last_row", {}) or {})
        if event is None:
            return
        tick.events.append((self.set_number, event))
        item: Rep | Hold = event.rep if isinstance(event, RepEvent) else event.hold
        counted = isinstance(item, Hold) or item.number > 0
        if counted:
            self._counted += 1
        self._last = LastItem(
            "hold" if isinstance(item, Hold) else "rep",
            item.number,
            item.score,
            counted and not item.failed,
            self.describe(item, self.spec),
            any(getattr(c, "provisional", False) for c in item.checks),
        )
        failed = item.failed
        self._offer = self.cue_of(item, self.spec)
        if self._offer is None:
            self.cues.retire()  # an older correction must not stay up beside a good rep
        self._failing = self._segments([c.id for c in failed])
        self._failing_until = pose.t_ms + FAILING_SHOW_MS
        if self._counted >= self.plan.per_set:
            self._close_side(tick, "complete")

    def _segments(self, check_ids: list[str]) -> tuple[tuple[str, str], ...]:
        """Skeleton edges between landmarks that the failed checks' signals read."""
        if self._session is None or not check_ids:
            return ()
        bound = self._session.signals.bound
        names: set[str] = set()
        for check in self.spec.checks:
            if check.id in check_ids and check.signal in bound:
                names.update(bound[check.signal].landmarks)
        edges = [(a, b) for a, b in EDGES if a.name.lower() in names and b.name.lower() in names]
        return tuple((a.name.lower(), b.name.lower()) for a, b in edges)

    def _close_side(self, tick: Tick, ended: str, advance: bool = True) -> None:
        session, setup = self._session, self._session_setup
        assert session is not None and setup is not None
        verdict, view, near = setup
        side = self.side
        notes: list[str] = []
        result = _session_result(session, verdict, notes)
        record = SetRecord(self.set_number, side if side else result.side, verdict, view, near, result, ended)
        self.records.append(record)
        tick.finished.append(record)
        self._session = None
        self._session_setup = None
        self._summary = self._set_summary(record)
        if not advance:
            return
        if self.side_index + 1 < self.plan.sides:
            self.side_index += 1
            self._begin_setup(f"Now your {self.side or 'other'} side.")
        elif self.set_number < self.plan.sets:
            self.side_index = 0
            self._phase = "rest"
            self._rest_until = self._now + round(self.plan.rest_s * 1000)
            self._rest_tick()
        else:
            self._phase = "done"
            self._summary = self._session_summary("Well done: every set is finished.")

    def _begin_setup(self, note: str) -> None:
        self._phase = "setup"
        self._setup_note = note
        self._setup_frames = []
        self._setup_asked_ms = None
        self._setup_verdict = None

    def _rest_tick(self) -> None:
        if self._rest_until is not None and self._now >= self._rest_until:
            self._rest_until = None
            self.set_number += 1
            self._begin_setup(f"Set {self.set_number} of {self.plan.sets}: get into position.")

    # -- summaries --------------------------------------------------------------------------

    def _set_summary(self, record: SetRecord) -> tuple[str, ...]:
        s = record.result.summary
        side = f" ({record.side} side)" if record.side else ""
        unit = "reps" if self.spec.kind == "reps" else "holds"
        if s is None:
            return (f"Set {record.set_number}{side}: nothing counted.",)
        score = f", average score {s.mean_score:.0f}" if s.mean_score is not None else ""
        lines = [f"Set {record.set_number}{side}: {s.done} of {self.plan.per_set} {unit}{score}."]
        if s.holds_short:
            lines.append(f"{s.holds_short} hold(s) ended before {self.spec.prescription.hold_s:g} s.")
        if s.attempts_not_counted:
            lines.append(f"{s.attempts_not_counted} attempt(s) not counted.")
        if s.most_frequent_fault:
            lines.append(f"Most frequent fault: {s.most_frequent_fault}")
        return tuple(lines)

    def _session_summary(self, head: str) -> tuple[str, ...]:
        lines = [head]
        for record in self.records:
            lines.extend(self._set_summary(record)[:1])
        return tuple(lines)

    # -- the view ---------------------------------------------------------------------------

    def counters(self) -> tuple[Counter, ...]:
        if self.spec.laterality != "unilateral":
            return (Counter(None, self._counted if self._phase == "active" else self._done_in_set(None),
                            self.plan.per_set),)  # fmt: skip
        first = self.first_side
        order: list[str | None] = [first, other_side(first) if first else None][: self.plan.sides]
        out = []
        for k, side in enumerate(order):
            done = (
                self._counted
                if (k == self.side_index and self._phase == "active")
                else self._done_in_set(side)
            )
            out.append(Counter(side, done, self.plan.per_set))
        return tuple(out)

    def _done_in_set(self, side: str | None) -> int:
        records = [r for r in self.records if r.set_number == self.set_number and r.side == side]
        if not records or records[-1].result.summary is None:
            return 0
        return records[-1].result.summary.done

    def view(self) -> LiveView:
        """What the window shows now."""
        phase = self.phase
        message: str | None = self.pause_reason
        hold = None
        if message is None and self._phase == "setup":
            message = self._setup_message()
        if self._phase == "active" and self._session is not None and self.spec.hold is not None:
            hold = self._hold_clock()
            if message is None and hold.held_s >= hold.target_s:
                message = "Time: you can relax."
        summary = self._summary
        if message is None and self._phase in ("done", "stopped") and summary:
            message, summary = summary[0], summary[1:]  # the headline once, not twice
        rest_left = None
        if self._phase == "rest":
            left = (
                self._rest_left_ms if self._rest_left_ms is not None else (self._rest_until or 0) - self._now
            )
            rest_left = max(left, 0) / 1000.0
            message = message or f"Rest. Set {self.set_number + 1} of {self.plan.sets} next."
        failing = self._failing if self._now <= self._failing_until else ()
        return LiveView(
            t_ms=self._now,
            phase=phase,
            exercise=self.spec.name,
            set_number=self.set_number,
            sets=self.plan.sets,
            counters=self.counters(),
            landmarks=self._landmarks,
            message=message,
            cue=self._cue,
            last=self._last,
            hold=hold,
            rest_left_s=rest_left,
            failing=failing,
            summary=summary if self._phase in ("rest", "done", "stopped") else (),
            kind=self.spec.kind,
            extra=self.extra,
        )

    def _setup_message(self) -> str:
        if self._setup_verdict is not None and self._setup_verdict.hints:
            text = self._setup_verdict.hints[0]
        else:
            wanted = self.spec.views[0]
            turn = "from the side" if wanted.facing == "side" else "facing it"
            text = f"Get into position so the camera sees you {turn}. {wanted.how}"
        return f"{self._setup_note} {text}" if self._setup_note else text

    def _hold_clock(self) -> HoldClock:
        assert self.spec.hold is not None and self._session is not None
        target = float(self.spec.prescription.hold_s or 0.0)
        timer = getattr(self._session.tracker, "_timer", None)  # HoldTimer.held_s: the live countdown
        held = float(timer.held_s) if timer is not None else 0.0
        values = [self._row.get(c.signal, float("nan")) for c in self.spec.hold.conditions]
        in_position = all(np.isfinite(v) and c.contains(v) for c, v in zip(self.spec.hold.conditions, values,
                                                                             strict=True))  # fmt: skip
        return HoldClock(held, target, bool(in_position))


def _only_height_hints(verdict: SetupVerdict) -> bool:
    """The gate passed, or only asks for another camera height: reps can be counted (checks that need
    that height go unscored, as in review), so the set starts and the hint stays in the session."""
    return verdict.ok or all(h.startswith(("Raise the camera", "Lower the camera")) for h in verdict.hints)


def _session_result(session: LiveSession, setup: SetupVerdict, notes: list[str]) -> SessionResult:
    """The set's final judgement as review's record (``LiveSession.result``, H1's engine)."""
    return session.result(setup, notes)
