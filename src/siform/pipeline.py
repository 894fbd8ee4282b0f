"""Wiring: landmarks -> conditioned points -> signals -> setup gate -> set tracker -> session result.

Two entry points share every stage but the filter:

- :func:`analyze_track` (review): the whole recording at once, zero-phase smoothing (no lag).
- :class:`LiveSession` (live): one pose frame at a time, causal One Euro smoothing, events as
  reps end.

No geometry and no exercise knowledge here: that lives in ``signals/`` and ``exercise_specs/``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

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
    coords = bridge_gaps(coords, track.t_ms, spec.filter.max_gap_ms)
    cutoff, _note = smoothing_cutoff(track, spec)
    return coords if cutoff is None else butterworth_zero_phase(coords, track.t_ms, cutoff)


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


class LiveSession:
    """Frame-by-frame coaching: ``update(pose_frame)`` returns a rep or hold event when one ends.

    The camera view and near side must be known up front (the live UI runs the setup gate on the
    first seconds); smoothing is causal One Euro, so nothing waits for future frames.
    """

    HISTORY_MS = 2000
    """Least trailing history kept for signals that look back; more when their window is longer."""

    def __init__(
        self, spec: ExerciseSpec, width: int, height: int, view: str, near: str, side: str | None = None
    ) -> None:
        self.spec = spec
        self.scale = np.array([width, height], dtype=np.float64)
        sides = side_map(side if spec.laterality == "unilateral" else None, near)
        self.signals = SignalSet(spec, sides)
        self.tracker = SetTracker(spec, side, _unscored_for_view(spec, view))
        self._filter = OneEuroFilter(spec.filter.one_euro_min_cutoff, spec.filter.one_euro_beta)
        # World landmarks go through the same filter in millimetres, whose speeds are of the order of
        # the image's pixels per second that the filter's parameters were set for.
        self._world_filter = (
            OneEuroFilter(spec.filter.one_euro_min_cutoff, spec.filter.one_euro_beta)
            if self.signals.uses_world() else None
        )  # fmt: skip
        self._history = _History()
        # Signals that look back are computed over the recent history; the rest over this frame
        # alone, so a look-back signal does not make every other signal cost O(history) per frame.
        self._history_names = [
            n for n, b in self.signals.bound.items() if registry.REGISTRY[b.spec.fn].uses_history
        ]
        self._frame_names = [n for n in self.signals.bound if n not in self._history_names]
        args = [self.signals.bound[n].args for n in self._history_names]
        windows = [float(a.get("window_ms", 0)) + float(a.get("lag_ms", 0)) for a in args]
        self.history_ms = max([self.HISTORY_MS, *windows])
        self._last_seen: tuple[FloatArray, FloatArray] | None = None  # (33, 2) pixels and their t_ms

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
        masked = mask_low_visibility(pose.image, self.spec.filter.min_visibility)
        raw = self._bridge(masked[:, :2].astype(np.float64) * self.scale, pose.t_ms)
        px = self._filter.update(raw, pose.t_ms)
        now = np.array([pose.t_ms], dtype=np.int64)
        world = None
        if self._world_filter is not None:
            hidden = ~np.isfinite(masked[:, :1])
            mm = np.where(hidden, np.nan, pose.world.astype(np.float64) * 1000.0)
            world = self._world_filter.update(mm, pose.t_ms)[None] / 1000.0
        frame_values = self.signals.compute(px[None], now, self._frame_names, world=world)
        row = {n: float(v[-1]) for n, v in frame_values.items()}
        if self._history_names:
            pts, t = self._history.push(pose.t_ms, px, self.history_ms)
            row |= {n: float(v[-1]) for n, v in self.signals.compute(pts, t, self._history_names).items()}
        return self.tracker.update(pose.t_ms, row)

    def finish(self) -> tuple[list[Rep], list[Hold], SetSummary]:
        return self.tracker.finish()


class _History:
    """The trailing frames a look-back signal needs, kept contiguous so reading them copies nothing.

    A growable buffer with a moving start: frames are written in place and the oldest dropped by
    advancing the start; the live part moves back to the front only when the buffer's end is reached.
    Stacking a deque of frames instead cost most of a millisecond per frame for a minute of history.
    """

    def __init__(self, capacity: int = 256) -> None:
        self._pts = np.empty((capacity, NUM_LANDMARKS, 2), dtype=np.float64)
        self._t = np.empty(capacity, dtype=np.int64)
        self._start = 0
        self._end = 0

    def push(self, t_ms: int, px: FloatArray, keep_ms: float) -> tuple[FloatArray, npt.NDArray[np.int64]]:
        """Add a frame, drop frames older than ``keep_ms`` before it; views of the frames kept."""
        if self._end == self._t.shape[0]:
            live = self._end - self._start
            if live * 2 > self._t.shape[0]:  # mostly live: grow
                self._pts = np.concatenate([self._pts[self._start : self._end], np.empty_like(self._pts)])
                self._t = np.concatenate([self._t[self._start : self._end], np.empty_like(self._t)])
            else:
                self._pts[:live] = self._pts[self._start : self._end]
                self._t[:live] = self._t[self._start : self._end]
            self._start, self._end = 0, live
        self._pts[self._end] = px
        self._t[self._end] = t_ms
        self._end += 1
        t = self._t[self._start : self._end]
        self._start += int(np.searchsorted(t, t_ms - keep_ms, side="left"))
        return self._pts[self._start : self._end], self._t[self._start : self._end]
