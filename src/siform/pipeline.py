"""Wiring: landmarks -> conditioned points -> signals -> setup gate -> set tracker -> session result.

Two entry points share every stage but the filter:

- :func:`analyze_track` (review): the whole recording at once, zero-phase smoothing (no lag).
- :class:`LiveSession` (live): one pose frame at a time, causal One Euro smoothing, events as
  reps end.

No geometry and no exercise knowledge here: that lives in ``signals/`` and ``exercise_specs/``.

For the live app and the session journal (issue 13): ``LiveSession(spec, width, height, view, near,
side=None, measured=None)``; ``update(pose) -> RepEvent | HoldEvent | None``; ``finish()`` (idempotent,
no ``update`` after it); ``side`` (None until a unilateral exercise's side is found on its first rep);
``last_row`` (this frame's signal values); ``result(setup, notes) -> SessionResult`` (review's record,
per-frame series included). Events carry ``CheckResult.provisional`` on checks judged against the
person's own reps before ``engine.PROVISIONAL_REPS`` reps; the finished set has none.
"""

from __future__ import annotations

import functools
import heapq
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from siform.engine import HoldEvent, RepEvent, SetTracker
from siform.gate import assess_setup, elevation_mismatch, posture_refusal
from siform.landmarks import NUM_LANDMARKS, VISIBILITY, by_name
from siform.pose import PoseFrame, PoseTrack
from siform.results import Hold, Rep, SetSummary, SetupVerdict, Unscored
from siform.segment.reps import RepCounter
from siform.signals import registry
from siform.signals.compute import SignalSet, side_map
from siform.signals.filters import (
    OneEuroFilter,
    bridge_gaps,
    butterworth_zero_phase,
    frame_timing,
    mask_low_visibility,
    review_cutoff,
)
from siform.specs.model import ExerciseSpec, HoldSpec, RepSpec

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
_SIDE_JOINTS = ("shoulder", "hip", "knee", "ankle")


@dataclass(frozen=True, slots=True)
class SessionResult:
    exercise: str
    side: str | None
    view: str | None
    setup: SetupVerdict
    reps: list[Rep]
    holds: list[Hold]
    summary: SetSummary | None
    unscored: list[Unscored]
    t_ms: npt.NDArray[np.int64]
    signals: dict[str, FloatArray] = field(repr=False)
    frames: int = 0
    frames_with_pose: int = 0
    sides: dict[str, str] = field(default_factory=dict)
    """Relative side names (near, far, working, stance) -> left/right, as resolved for this session."""
    notes: list[str] = field(default_factory=list)
    """What the analysis had to do differently from the spec because of the recording, one plain
    sentence each (e.g. too few frames per second to smooth at the spec's cutoff)."""


def condition_points(track: PoseTrack, spec: ExerciseSpec) -> FloatArray:
    """Review conditioning: hide low-visibility guesses, bridge short gaps, zero-phase low-pass."""
    masked = mask_low_visibility(track.image, spec.filter.min_visibility)
    px = masked[:, :, :2].astype(np.float64) * np.array([track.width, track.height], dtype=np.float64)
    return _bridge_and_smooth(px, track, spec)


def condition_world(track: PoseTrack, spec: ExerciseSpec) -> FloatArray:
    """The world landmarks conditioned as :func:`condition_points` conditions the image ones: hidden
    where the image landmark is a low-visibility guess, short gaps bridged, zero-phase low-pass."""
    image = track.image[..., :1], track.image[..., VISIBILITY : VISIBILITY + 1]
    hidden = np.isnan(image[0]) | (image[1] < spec.filter.min_visibility)
    world = np.where(hidden, np.nan, track.world.astype(np.float64))
    return _bridge_and_smooth(world, track, spec)


def smoothing_cutoff(track: PoseTrack, spec: ExerciseSpec) -> tuple[float | None, str | None]:
    """The review low-pass cutoff for this recording (None: unsmoothed) and why it differs from the
    spec's, if it does: a low frame rate (a 3 frames/s GIF, say) puts the spec's cutoff at or above
    the Nyquist frequency, where the filter is undefined (see :func:`review_cutoff`)."""
    return review_cutoff(spec.filter.cutoff_hz, frame_timing(track.t_ms).rate_hz)


def _bridge_and_smooth(coords: FloatArray, track: PoseTrack, spec: ExerciseSpec) -> FloatArray:
    return zero_phase_condition(coords, track.t_ms, spec)


def zero_phase_condition(coords: FloatArray, t_ms: npt.NDArray[np.int64], spec: ExerciseSpec) -> FloatArray:
    """Review's conditioning of masked landmarks ``(T, 33, D)`` at ``t_ms``: short gaps bridged,
    zero-phase low-pass at the spec's cutoff (lowered or dropped for too few frames per second).
    Live coaching uses it too, over the frames of a rep that has just ended and over the whole set
    at its end, so that what is measured is measured as review measures it."""
    coords = bridge_gaps(coords, t_ms, spec.filter.max_gap_ms)
    cutoff, _note = review_cutoff(spec.filter.cutoff_hz, frame_timing(t_ms).rate_hz)
    return coords if cutoff is None else butterworth_zero_phase(coords, t_ms, cutoff)


def near_side(image: npt.NDArray[np.floating]) -> str:
    """The side facing the camera: MediaPipe is more confident about the landmarks it can see."""

    def vis(side: str) -> float:
        cols = [by_name(f"{side}_{j}") for j in _SIDE_JOINTS]
        v = image[:, cols, VISIBILITY]
        return float(np.nanmean(v)) if np.isfinite(v).any() else 0.0

    return "left" if vis("left") >= vis("right") else "right"


def _spread(x: FloatArray) -> float:
    x = x[np.isfinite(x)]
    return float(np.percentile(x, 95) - np.percentile(x, 5)) if x.size > 10 else 0.0


def _complete_reps(rep: RepSpec, x: FloatArray, t_ms: npt.NDArray[np.int64]) -> int:
    counter = RepCounter(rep)
    ends = (counter.update(i, t, v) for i, (t, v) in enumerate(zip(t_ms.tolist(), x.tolist(), strict=True)))
    return sum(1 for w in ends if w is not None and w.outcome == "complete")


def _frames_in_position(hold: HoldSpec, values: dict[str, FloatArray]) -> int:
    ok = np.ones(len(next(iter(values.values()))), dtype=bool)
    for c in hold.conditions:
        v = values[c.signal]
        lo = -np.inf if c.min is None else c.min
        hi = np.inf if c.max is None else c.max
        ok &= np.isfinite(v) & (v >= lo) & (v <= hi)
    return int(ok.sum())


def working_side(spec: ExerciseSpec, pts: FloatArray, t_ms: npt.NDArray[np.int64], near: str) -> str:
    """For a unilateral exercise with no side given: the side the exercise is being done on.

    Reps: the side under which the driving signal completes more reps, then the one whose driving
    signal moves most (a signed driver, such as the working hip's drop, moves as much for the wrong
    side, only the other way). Holds: the side under which the hold conditions are met on more
    frames. A tie goes to the side facing the camera.
    """
    scores: dict[str, tuple[float, float]] = {}
    for s in ("left", "right"):
        values = SignalSet(spec, side_map(s, near)).compute(pts, t_ms)
        if spec.rep is not None:
            driver = values[spec.rep.signal]
            scores[s] = (_complete_reps(spec.rep, driver, t_ms), _spread(driver))
        elif spec.hold is not None:
            scores[s] = (_frames_in_position(spec.hold, values), 0.0)
    if not scores or scores["left"] == scores["right"]:
        return near
    return max(scores, key=lambda s: scores[s])


def _resolve_gate_names(names: list[str], sides: dict[str, str]) -> list[str]:
    out = []
    for n in names:
        prefix, _, rest = n.partition("_")
        out.append(f"{sides[prefix]}_{rest}" if prefix in sides else n)
    return out


def _unscored_for_view(spec: ExerciseSpec, view: str | None, measured: str | None = None) -> dict[str, str]:
    """Checks that cannot be judged from this camera, with the reason in plain words.

    ``view`` is the spec view the session was matched to; ``measured`` (``side/low``...) is what the
    gate saw. When the camera height differs from every view a check lists, it goes unscored too.
    """
    out: dict[str, str] = {}
    for check in spec.checks:
        views = spec.check_views(check)
        if view is None:
            out[check.id] = "the camera setup did not allow scoring"
            continue
        wanted = spec.view(views[0])
        if view not in views:
            out[check.id] = f"not visible from the '{view}' view; to check it: {wanted.how}"
        elif all(elevation_mismatch(spec.view(v), measured) for v in views):
            out[check.id] = f"not visible from this camera height; to check it: {wanted.how}"
    return out


def analyze_track(
    track: PoseTrack, spec: ExerciseSpec, side: str | None = None, view: str | None = None
) -> SessionResult:
    """Review a whole recording. ``side`` is the working side of a unilateral exercise (found
    automatically if None); ``view`` forces a view id instead of detecting it."""
    _cutoff, note = smoothing_cutoff(track, spec)
    notes = [note] if note else []
    if note:
        log.warning("%s", note[0].upper() + note[1:] + ".")
    pts = condition_points(track, spec)
    near = near_side(track.image)
    if spec.laterality == "unilateral" and side is None:
        side = working_side(spec, pts, track.t_ms, near)
    sides = side_map(side if spec.laterality == "unilateral" else None, near)
    signals = SignalSet(spec, sides)
    world = condition_world(track, spec) if signals.uses_world() else None
    values = signals.compute(pts, track.t_ms, world=world)

    gate_names = _resolve_gate_names(list(spec.gate.landmarks), sides)
    setup = assess_setup(spec, track.image, pts, signals.landmarks(), gate_names, world=track.world)
    # a posture that rules the exercise out (standing, for a bridge) is never scored, view or not
    chosen_view = None if posture_refusal(setup) else (view or setup.view)
    unscored = _unscored_for_view(spec, chosen_view, None if view else setup.facing_measured)
    found = int(track.found.sum())
    result_side = side if spec.laterality == "unilateral" else None
    if chosen_view is None:
        return SessionResult(spec.id, result_side, None, setup, [], [], None,
                             [Unscored(k, v) for k, v in unscored.items()], track.t_ms, values,
                             len(track), found, sides, notes)  # fmt: skip

    tracker = SetTracker(spec, result_side, unscored)
    names = list(values)
    stacked = np.stack([values[n] for n in names], axis=1) if names else np.zeros((len(track), 0))
    for i, t in enumerate(track.t_ms.tolist()):
        tracker.update(t, dict(zip(names, stacked[i].tolist(), strict=True)))
    reps, holds, summary = tracker.finish()
    return SessionResult(
        spec.id, result_side, chosen_view, setup, reps, holds, summary,
        [Unscored(k, v) for k, v in unscored.items()], track.t_ms, values, len(track), found, sides,
        notes,
    )  # fmt: skip


REFINE_LEAD_MS = 2000.0
"""Frames before a finished rep that go through the zero-phase filter with it, so its start is not
at the filter's edge: a 2 Hz Butterworth's response has died out within about a second."""


class LiveSession:
    """Frame-by-frame coaching: ``update(pose_frame)`` returns a rep or hold event when one ends.

    The camera view and near side must be known up front (the live UI runs the setup gate on the
    first seconds); smoothing is causal One Euro, so nothing waits for future frames. Everything
    else is review's: the same signal functions, rep counter, checks and scores.

    What history each signal needs comes from its declared reach (:attr:`registry.SignalFn.reach`):
    ``frame`` signals are computed on this frame alone; ``window`` ones over exactly the trailing
    frames their window reaches (image and world landmarks alike); ``set`` ones on this frame with
    the running median of their yardstick over the set so far (a heap pair: O(log n) a frame however
    long the session), and :meth:`finish` recomputes them over the whole set, as review does.

    A unilateral exercise given no ``side`` runs both sides until one of them completes a rep (or a
    hold), then keeps that one: :attr:`side` is None until then, and attempts that ended before it
    are not returned as events (they are in :meth:`finish`'s reps all the same).

    Checks judged against the person's own reps are ``provisional`` on the events until
    :data:`PROVISIONAL_REPS` reps are done (see :mod:`siform.engine`); :meth:`finish` judges every
    rep against the whole set, with nothing provisional left.

    For the live app and the session journal: :attr:`last_row` (this frame's signal values),
    :meth:`result` (the :class:`SessionResult` review would return, per-frame series included).
    ``measured`` is the setup gate's ``facing_measured`` (e.g. ``side/low``): checks no view at
    that camera height can show go unscored, as in review.
    """

    def __init__(
        self,
        spec: ExerciseSpec,
        width: int,
        height: int,
        view: str,
        near: str,
        side: str | None = None,
        measured: str | None = None,
    ) -> None:
        self.spec = spec
        self.view = view
        self.near = near
        self.scale = np.array([width, height], dtype=np.float64)
        self.unscored = _unscored_for_view(spec, view, measured)
        unilateral = spec.laterality == "unilateral"
        choices: list[str | None] = [side] if side or not unilateral else ["left", "right"]
        self._candidates = [_Candidate(spec, s if unilateral else None, near, self.unscored) for s in choices]
        self._chosen: _Candidate | None = self._candidates[0] if len(self._candidates) == 1 else None
        self._filter = OneEuroFilter(spec.filter.one_euro_min_cutoff, spec.filter.one_euro_beta)
        # World landmarks go through the same filter in millimetres, whose speeds are of the order of
        # the image's pixels per second that the filter's parameters were set for.
        uses_world = any(c.signals.uses_world() for c in self._candidates)
        self._world_filter = (
            OneEuroFilter(spec.filter.one_euro_min_cutoff, spec.filter.one_euro_beta) if uses_world else None
        )
        self.history_ms = max(c.window_ms for c in self._candidates)
        """Trailing filtered history kept (ms): the longest look-back of a ``window`` signal."""
        world_history = any(c.world_history for c in self._candidates)
        self._history = _History(world=world_history) if self.history_ms > 0 else None
        # Every frame's masked, unfiltered landmarks: what review conditions, for measuring a rep that
        # has just ended and, at the end, the whole set the way review does (see _refine).
        self._raw = _History(world=uses_world)
        for c in self._candidates:
            c.tracker.refine = functools.partial(self._refine, c)
        # The zero-phase filter's module takes over a second to import: here, not on the first rep.
        import scipy.signal  # noqa: F401

        self._last_seen: tuple[FloatArray, FloatArray] | None = None  # (33, 2) pixels and their t_ms
        self._frames = 0
        self._found = 0
        self._finished: tuple[list[Rep], list[Hold], SetSummary] | None = None
        self.last_row: dict[str, float] = {}
        """This frame's value of every signal of the spec (NaN where unknown): the overlay colours
        the segments of checks whose signal is out of its limit with it."""

    # -- the session's side ---------------------------------------------------------------

    @property
    def side(self) -> str | None:
        """The working side (``left``/``right``) of a unilateral exercise: as given, or found from
        the first rep; None while it is being found, and for bilateral exercises."""
        return self._chosen.side if self._chosen is not None else None

    @property
    def _current(self) -> _Candidate:
        """The chosen side, or while none is: the side facing the camera (for :attr:`last_row`)."""
        if self._chosen is not None:
            return self._chosen
        return next((c for c in self._candidates if c.side == self.near), self._candidates[0])

    @property
    def signals(self) -> SignalSet:
        return self._current.signals

    @property
    def tracker(self) -> SetTracker:
        return self._current.tracker

    @property
    def sides(self) -> dict[str, str]:
        return side_map(self.side, self.near)

    # -- feeding --------------------------------------------------------------------------

    def _bridge(self, raw: FloatArray, t_ms: int) -> FloatArray:
        """Live counterpart of review's gap bridging: a landmark missing for up to
        ``filter.max_gap_ms`` keeps its last seen position (the future is not known yet)."""
        if self._last_seen is None:
            self._last_seen = (np.full_like(raw, np.nan), np.full_like(raw, -np.inf))
        last, last_ms = self._last_seen
        seen = np.isfinite(raw)
        held = ~seen & (t_ms - last_ms <= self.spec.filter.max_gap_ms)
        self._last_seen = (np.where(seen, raw, last), np.where(seen, float(t_ms), last_ms))
        return np.where(held, last, raw)

    def update(self, pose: PoseFrame) -> RepEvent | HoldEvent | None:
        if self._finished is not None:
            raise RuntimeError("LiveSession.update after finish(): start a new session for a new set")
        self._frames += 1
        self._found += bool(pose.found)
        masked = mask_low_visibility(pose.image, self.spec.filter.min_visibility)
        seen_px = masked[:, :2].astype(np.float64) * self.scale
        raw = self._bridge(seen_px, pose.t_ms)
        px = self._filter.update(raw, pose.t_ms)
        world = seen_world = None
        if self._world_filter is not None:
            hidden = ~np.isfinite(masked[:, :1])
            seen_world = np.where(hidden, np.nan, pose.world.astype(np.float64))
            world = self._world_filter.update(seen_world * 1000.0, pose.t_ms) / 1000.0
        self._raw.push(pose.t_ms, seen_px, seen_world)
        if self._history is not None:
            self._history.push(pose.t_ms, px, world, self.history_ms)
        if self._chosen is not None:
            event = self._chosen.update(pose.t_ms, px, world, self._history)
            self.last_row = self._chosen.row
            return event
        events = [c.update(pose.t_ms, px, world, self._history) for c in self._candidates]
        self.last_row = self._current.row
        return self._choose_side(events)

    def _choose_side(self, events: list[RepEvent | HoldEvent | None]) -> RepEvent | HoldEvent | None:
        """Keep the first side to complete a rep or a hold; on the same frame, the side whose driving
        signal moved more (reps) or that held the position longer (holds), then the near side."""
        done = [
            (c, e) for c, e in zip(self._candidates, events, strict=True)
            if isinstance(e, HoldEvent) or (isinstance(e, RepEvent) and e.rep.number > 0)
        ]  # fmt: skip
        if not done:
            return None
        best = max(done, key=lambda ce: (ce[0].tracker.activity(), ce[0].side == self.near))
        self._chosen = best[0]
        self._candidates = [best[0]]
        self.last_row = best[0].row
        return best[1]

    def _refine(self, candidate: _Candidate, first: int) -> dict[str, FloatArray]:
        """A rep (hold) from frame ``first`` has just ended: every signal's values from there to now
        as review would compute them. The frames from ``REFINE_LEAD_MS`` plus the longest look-back
        before the rep to now go through review's zero-phase filter (the rep is over, so its own
        future is known); only the newest frames lack what follows them, where a rep is back at rest.
        ``set`` signals take the running yardstick. Causal One Euro values lag and flatten a rep's
        peaks: measured on the sample clips that moved values across limits (tests/e2e)."""
        t_all = self._raw.times()
        lead = REFINE_LEAD_MS + candidate.window_ms
        start = min(int(np.searchsorted(t_all, t_all[first] - lead, side="left")), first)
        pts, world, t = self._raw.since(start)
        values = candidate.signals.compute(
            _conditioned(pts, t, self.spec, candidate.read["image"]), t,
            world=None if world is None else _conditioned(world, t, self.spec, candidate.read["world"]),
            yardsticks=candidate.yardsticks(),
        )  # fmt: skip
        return {name: v[first - start :] for name, v in values.items()}

    # -- the end --------------------------------------------------------------------------

    def finish(self) -> tuple[list[Rep], list[Hold], SetSummary]:
        """Close the set: reconcile what depended on the set so far (yardsticks over the whole set,
        every rep judged against the set's own baselines, nothing provisional) and return the reps,
        holds and summary. Idempotent; :meth:`update` may not be called after it."""
        if self._finished is None:
            for c in self._candidates:
                c.reconcile(self._raw, self.spec)
            if self._chosen is None:  # no side completed a rep: review's tie-breaks, then the near side
                self._chosen = max(
                    self._candidates, key=lambda c: (c.tracker.activity(), c.side == self.near)
                )
                self._candidates = [self._chosen]
            self._finished = self._chosen.final()
        return self._finished

    def result(self, setup: SetupVerdict, notes: list[str] | None = None) -> SessionResult:
        """The session as :func:`analyze_track` returns a review: for ``build_session``, the report
        and the frames export. ``setup`` is the live setup gate's verdict; ``notes`` what the
        session had to do differently, in plain words. Calls :meth:`finish` if not yet called."""
        reps, holds, summary = self.finish()
        assert self._chosen is not None
        t_ms, values = self._chosen.tracker.series()
        unscored = [Unscored(k, v) for k, v in self.unscored.items()]
        return SessionResult(
            self.spec.id, self.side, self.view, setup, reps, holds, summary, unscored, t_ms,
            dict(values), self._frames, self._found, self.sides, list(notes or []),
        )  # fmt: skip


class _Candidate:
    """One working side's signals and set tracker (both sides run until a unilateral exercise's
    side is known; one otherwise), and the live state its signals' reaches need."""

    def __init__(self, spec: ExerciseSpec, side: str | None, near: str, unscored: dict[str, str]) -> None:
        self.side = side
        self.signals = SignalSet(spec, side_map(side, near))
        self.tracker = SetTracker(spec, side, unscored)
        self.row: dict[str, float] = {}
        self.lookbacks: dict[str, float] = {}
        """Signal name -> the history (ms) its value reaches back: >0 for window and set signals."""
        self._frame_names: list[str] = []
        self._window_names: list[str] = []
        self._set: dict[str, tuple[registry.Yardstick, _RunningMedian]] = {}
        self.world_history = False
        self.read: dict[str, list[int]] = {"image": [], "world": []}
        """The landmarks its image and world signals read: the only ones re-conditioning filters."""
        for b in self.signals.bound.values():
            space = registry.REGISTRY[b.spec.fn].space
            self.read[space] = sorted({*self.read[space], *registry.read_landmarks(b.spec.fn, b.args)})
        for name, b in self.signals.bound.items():
            entry = registry.REGISTRY[b.spec.fn]
            reach = registry.lookback_ms(b.spec.fn, b.args)
            if entry.reach == "frame":
                self._frame_names.append(name)
                continue
            self.lookbacks[name] = reach
            if entry.reach == "window":
                self.world_history |= entry.space == "world"
                self._window_names.append(name)
            else:
                assert entry.yardstick is not None, f"'{b.spec.fn}' has a set reach but no yardstick"
                self._set[name] = (entry.yardstick, _RunningMedian())

    def update(
        self, t_ms: int, px: FloatArray, world: FloatArray | None, history: _History | None
    ) -> RepEvent | HoldEvent | None:
        now = np.array([t_ms], dtype=np.int64)
        world1 = None if world is None else world[None]
        values = self.signals.compute(px[None], now, self._frame_names, world1)
        row = {n: float(v[-1]) for n, v in values.items()}
        for name, (stick, running) in self._set.items():
            b = self.signals.bound[name]
            space = registry.REGISTRY[b.spec.fn].space
            frame = px if space == "image" else world
            if frame is None:
                row[name] = float("nan")
                continue
            running.push(float(stick.series(frame)))
            row[name] = float(registry.compute(b.spec.fn, b.args, frame[None], now, running.median())[-1])
        if self._window_names:
            assert history is not None
            for name in self._window_names:
                pts, hist_world, t = history.trailing(self.lookbacks[name])
                value = self.signals.compute(pts, t, [name], hist_world)[name]
                row[name] = float(value[-1])
        self.row = row
        return self.tracker.update(t_ms, row)

    @property
    def window_ms(self) -> float:
        """The longest look-back of its ``window`` signals (0 without any)."""
        return max((self.lookbacks[n] for n in self._window_names), default=0.0)

    def yardsticks(self) -> dict[str, float]:
        """The running yardstick of each ``set`` signal: its median over the set so far."""
        return {name: running.median() for name, (_stick, running) in self._set.items()}

    def reconcile(self, raw: _History, spec: ExerciseSpec) -> None:
        """The set is over: every signal recomputed over all of it exactly as review computes it
        (zero-phase filter over the whole set, ``set`` yardsticks over all its frames)."""
        pts, world, t = raw.since(0)
        if not t.size:
            return
        values = self.signals.compute(
            _conditioned(pts, t, spec, self.read["image"]), t,
            world=None if world is None else _conditioned(world, t, spec, self.read["world"]),
        )  # fmt: skip
        self.tracker.refine = None  # the values are final now
        self.tracker.revise(values)

    def final(self) -> tuple[list[Rep], list[Hold], SetSummary]:
        """The set's reps and holds, judged on the reconciled values. The attempts are also counted
        again on those values (a replay of the tracker, as review counts): when that finds the same
        attempts with the same outcomes, each over the frames of the one announced live, its frame
        boundaries are the ones kept, so the final record is the one review makes of the same poses.
        Otherwise the live count stands, re-measured (the person was told those reps)."""
        t, values = self.tracker.series()
        replay = SetTracker(self.tracker.spec, self.side, self.tracker.unscored)
        names = list(values)
        stacked = np.stack([values[n] for n in names], axis=1) if names else np.zeros((len(t), 0))
        for i, t_ms in enumerate(t.tolist()):
            replay.update(t_ms, dict(zip(names, stacked[i].tolist(), strict=True)))
        live, again = self.tracker.finish(), replay.finish()
        return again if _same_attempts(live, again) else live


def _conditioned(
    coords: FloatArray, t_ms: npt.NDArray[np.int64], spec: ExerciseSpec, read: list[int]
) -> FloatArray:
    """:func:`zero_phase_condition` of the landmarks in ``read`` (each landmark's coordinates are
    filtered on their own, so the others do not change them); NaN elsewhere. A quarter of the
    landmarks for the bridge: a quarter of the filtering on the frame a rep ends."""
    out = np.full(coords.shape, np.nan)
    out[:, read] = zero_phase_condition(coords[:, read], t_ms, spec)
    return out


def _same_attempts(
    a: tuple[list[Rep], list[Hold], SetSummary], b: tuple[list[Rep], list[Hold], SetSummary]
) -> bool:
    """The same reps (outcome and number) and holds, pairwise over overlapping frames."""
    if len(a[0]) != len(b[0]) or len(a[1]) != len(b[1]):
        return False
    reps = all(
        (x.outcome, x.number) == (y.outcome, y.number)
        and x.start_index <= y.end_index
        and y.start_index <= x.end_index
        for x, y in zip(a[0], b[0], strict=True)
    )
    holds = all(
        x.start_index <= y.end_index and y.start_index <= x.end_index for x, y in zip(a[1], b[1], strict=True)
    )
    return reps and holds


class _RunningMedian:
    """Median of the finite values pushed so far, in O(log n) a push: a max-heap of the lower half
    and a min-heap of the upper half, the lower one as big or one bigger."""

    def __init__(self) -> None:
        self._low: list[float] = []  # negated
        self._high: list[float] = []

    def push(self, x: float) -> None:
        if not math.isfinite(x):
            return
        if self._low and x > -self._low[0]:
            heapq.heappush(self._high, x)
        else:
            heapq.heappush(self._low, -x)
        if len(self._low) > len(self._high) + 1:
            heapq.heappush(self._high, -heapq.heappop(self._low))
        elif len(self._high) > len(self._low):
            heapq.heappush(self._low, -heapq.heappop(self._high))

    def median(self) -> float:
        """NaN before any finite value."""
        if not self._low:
            return float("nan")
        if len(self._low) > len(self._high):
            return -self._low[0]
        return (-self._low[0] + self._high[0]) / 2.0

    def __len__(self) -> int:
        return len(self._low) + len(self._high)


class _History:
    """The trailing frames signals that look back need, kept contiguous so reading them copies nothing.

    A growable buffer with a moving start: frames are written in place and the oldest dropped by
    advancing the start; the live part moves back to the front only when the buffer's end is reached.
    Stacking a deque of frames instead cost most of a millisecond per frame for a minute of history.
    World landmarks are kept beside the image ones when a world signal looks back.
    """

    def __init__(self, capacity: int = 256, world: bool = False) -> None:
        self._pts = np.empty((capacity, NUM_LANDMARKS, 2), dtype=np.float64)
        self._world = np.empty((capacity, NUM_LANDMARKS, 3), dtype=np.float64) if world else None
        self._t = np.empty(capacity, dtype=np.int64)
        self._start = 0
        self._end = 0

    def push(
        self, t_ms: int, px: FloatArray, world: FloatArray | None = None, keep_ms: float = float("inf")
    ) -> tuple[FloatArray, npt.NDArray[np.int64]]:
        """Add a frame, drop frames older than ``keep_ms`` before it but the newest of them (a signal
        over steps between frames needs the frame before its window); views of the frames kept."""
        if self._end == self._t.shape[0]:
            live = self._end - self._start
            grow = live * 2 > self._t.shape[0]  # mostly live: grow, else move the live part forward
            self._pts = _compacted(self._pts, self._start, self._end, grow)
            if self._world is not None:
                self._world = _compacted(self._world, self._start, self._end, grow)
            self._t = _compacted(self._t, self._start, self._end, grow)
            self._start, self._end = 0, live
        self._pts[self._end] = px
        if self._world is not None:
            self._world[self._end] = np.nan if world is None else world
        self._t[self._end] = t_ms
        self._end += 1
        if math.isfinite(keep_ms):
            t = self._t[self._start : self._end]
            self._start += max(int(np.searchsorted(t, t_ms - keep_ms, side="left")) - 1, 0)
        return self._pts[self._start : self._end], self._t[self._start : self._end]

    def times(self) -> npt.NDArray[np.int64]:
        return self._t[self._start : self._end]

    def since(self, first: int) -> tuple[FloatArray, FloatArray | None, npt.NDArray[np.int64]]:
        """Frames from the ``first`` ever pushed on (a buffer that never drops any): views."""
        a = self._start + first
        world = None if self._world is None else self._world[a : self._end]
        return self._pts[a : self._end], world, self._t[a : self._end]

    def trailing(self, reach_ms: float) -> tuple[FloatArray, FloatArray | None, npt.NDArray[np.int64]]:
        """Image points, world points (None if not kept) and times of the frames within ``reach_ms``
        of the newest, and the one before them: views, not copies."""
        t = self._t[self._start : self._end]
        first = self._start
        if math.isfinite(reach_ms) and t.size:
            first += max(int(np.searchsorted(t, t[-1] - reach_ms, side="left")) - 1, 0)
        world = None if self._world is None else self._world[first : self._end]
        return self._pts[first : self._end], world, self._t[first : self._end]


def _compacted(buf: npt.NDArray[Any], start: int, end: int, grow: bool) -> npt.NDArray[Any]:
    if grow:
        return np.concatenate([buf[start:end], np.empty_like(buf)])
    buf[: end - start] = buf[start:end]
    return buf
