"""Which exercise is this? Recognised from the poses, using only what the specs say.

First the person's posture (standing, lying on the back, on one side, on hands and knees, face
down: :mod:`siform.posture`, from MediaPipe's world landmarks and the image) is a hard gate: only
specs done in that posture are candidates, so a standing squat is never weighed as a glute bridge,
and someone face down with straight legs (a plank) is refused outright. When the posture is
unclear, every spec stays a candidate.

Every candidate is tried on the whole recording with :func:`analyze_track` (cheap: all sixteen
cost less than the pose model on a few frames), and scored on how well the recording fits it.
Nothing here names an exercise; the evidence is what each spec defines:

- *activity* (0..1): counted reps that reached the top band (or the hold conditions held, with
  the person getting into and out of position), at least :data:`MIN_ITEMS` of them, explaining at
  least :data:`FULL_COVER` of the recording. Attempts the rep counter rejects (too fast, too slow,
  never reaching the top) are no evidence and count against it; one hold spanning the whole clip
  is a still posture, not an exercise (:data:`STATIC_FACTOR`).
- *form* (0..1): the share of the spec's absolute checks that pass on those reps or holds:
  someone doing another exercise mostly fails the checks of the one it resembles. Checks against
  the person's own median pass by construction and are left out. *systematic* (0..1): the share
  of absolute checks failing on nearly every rep (:func:`_systematic`), which a patient's fault
  rarely does and another movement does.
- *posture* (0..1): the share of frames whose torso lies as the spec's ``posture`` and the view
  the gate matched imply: upright in the image or across it (:data:`UPRIGHT_BY_POSTURE`).
- *laterality* (0..1): for a unilateral spec, how much more the working side explains than the
  other one; for a bilateral spec, how alike both legs move (:func:`leg_motion_asymmetry`).
- penalties when the camera height differs from the spec's views or the landmarks its gate
  needs are hidden.

Two numbers come out of that. The *absolute fit* (:func:`absolute_fit`, 0..1) says how well the
recording fits the spec on its own. The *share* compares candidates: a softmax of
``score = activity x (6 + 4 form + 2 laterality - 6 (1 - posture)) - penalties`` with
:data:`TEMPERATURE` 0.8 (a score lead of 1.8 is 9 to 1). The certainty shown is their product, so
a poor fit for everything is uncertain however the candidates compare, and two equally good fits
(a clip mixing two exercises) are at most 0.5 each.

No exercise is named (``best`` None, ``refusal`` says why and what was seen) when nobody is in
view, when the landmarks jump about instead of following a body (:func:`jitter_ratio`), when no
known exercise is done in the person's posture, when no spec's activity reaches
:data:`MIN_ACTIVITY`, or when the best certainty is below :data:`MIN_PROBABILITY` (0.6: above the
0.5 of two equally good fits and of reps that fit nothing else): a wrong guess would be judged
against the wrong checks, which is worse than asking. ``benchmarks/recognize.py --clips`` measures
it on rendered clips of every exercise and of motions that are none of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from siform.errors import SiformError
from siform.gate import elevation_mismatch
from siform.landmarks import Landmark
from siform.pipeline import SessionResult, analyze_track
from siform.pose import PoseTrack
from siform.posture import SEEN, UNKNOWN, ClipPosture, observe
from siform.specs.model import ExerciseSpec

FloatArray = npt.NDArray[np.float64]

MIN_PROBABILITY = 0.6
"""Below this the recogniser names no exercise (see the module docstring)."""
TEMPERATURE = 0.8
"""Softmax temperature turning scores into probabilities (see the module docstring)."""


@dataclass(frozen=True, slots=True)
class Fit:
    """How well one spec explains the recording."""

    spec_id: str
    score: float
    """Relative evidence: compared between candidates only (the softmax of :func:`recognize`)."""
    reason: str
    features: dict[str, float] = field(default_factory=dict)
    result: SessionResult | None = field(default=None, repr=False)
    absolute: float = 0.0
    """0..1: how well the recording fits this spec on its own, whatever the other specs do
    (:func:`absolute_fit`)."""


@dataclass(frozen=True, slots=True)
class Recognition:
    best: str | None
    """The recognised spec id, or None when the recogniser refuses to guess."""
    candidates: list[tuple[str, float, str]]
    """(spec id, certainty, reason), most certain first. The certainty is the spec's absolute fit
    times its share of the evidence against the others (:func:`recognize`): a poor fit for every
    spec is uncertain however it compares, and so is a tie between two good fits."""
    refusal: str | None = None
    """Why no exercise was named, in plain words (None when ``best`` is set)."""
    fits: list[Fit] = field(default_factory=list, repr=False)
    min_probability: float = MIN_PROBABILITY
    posture: ClipPosture | None = None
    """The person's posture over the recording (:mod:`siform.posture`); only specs it allows
    were candidates."""

    def to_session(self) -> dict[str, Any]:
        """The ``recognition`` object of ``session.json``: choice, probability, runner-up."""
        if self.best is None:
            raise ValueError("nothing was recognised")
        runner = self.candidates[1] if len(self.candidates) > 1 else None
        return {
            "exercise": self.best,
            "probability": round(self.candidates[0][1], 4),
            "runner_up": {"exercise": runner[0], "probability": round(runner[1], 4)} if runner else None,
            "min_probability": self.min_probability,
        }


def torso_tilt_deg(pts: npt.NDArray[np.floating]) -> FloatArray:
    """Per frame: the angle between mid-hip -> mid-shoulder and image up, 0..180 degrees."""
    p = np.asarray(pts, dtype=np.float64)
    sh = (p[:, Landmark.LEFT_SHOULDER, :2] + p[:, Landmark.RIGHT_SHOULDER, :2]) / 2
    hip = (p[:, Landmark.LEFT_HIP, :2] + p[:, Landmark.RIGHT_HIP, :2]) / 2
    v = sh - hip
    with np.errstate(invalid="ignore"):
        return np.degrees(np.arctan2(np.abs(v[:, 0]), -v[:, 1]))


_BODY = [Landmark[f"{s}_{j}"] for s in ("LEFT", "RIGHT") for j in ("SHOULDER", "HIP", "KNEE", "ANKLE")]


def _pixels(track: PoseTrack) -> FloatArray:
    return track.image[:, :, :2].astype(np.float64) * np.array([track.width, track.height], dtype=np.float64)


def jitter_ratio(track: PoseTrack) -> float:
    """Median frame-to-frame step of the shoulders, hips, knees and ankles, in torso lengths.

    A person filmed at video rates moves a few hundredths of a torso length a frame; landmarks that
    jump by a large part of one are not tracking a body (NaN with fewer than 2 frames of pose)."""
    px = _pixels(track)[track.found][:, _BODY]
    if len(px) < 2:
        return float("nan")
    sh = (px[:, 0] + px[:, 4]) / 2
    hip = (px[:, 1] + px[:, 5]) / 2
    torso = float(np.nanmedian(np.linalg.norm(sh - hip, axis=-1)))
    step = np.linalg.norm(np.diff(px, axis=0), axis=-1)
    return float(np.nanmedian(step)) / torso if torso > 0 else float("inf")


ASYMMETRY_FULL = 0.3
"""Torso lengths more travel of one leg than the other that count as one leg moving alone."""


def leg_motion_asymmetry(track: PoseTrack) -> float:
    """0 when both legs move alike, 1 when one leg travels :data:`ASYMMETRY_FULL` torso lengths more.

    ``m`` is the range (5th to 95th percentile) a side's knee and ankle travel in the image, in
    torso lengths, and the asymmetry is ``|mL - mR| / ASYMMETRY_FULL``, capped at 1. A difference,
    not a ratio: the far leg's landmarks drift by up to 0.2 torso lengths while nothing moves
    (MediaPipe on rendered bridges), which a ratio of two small ranges makes look one-sided, while a
    single-leg lift's straight leg travels 0.3-0.4 torso lengths more than the planted one.
    """
    px = _pixels(track)[track.found]
    if len(px) < 10:
        return float("nan")
    sh = (px[:, Landmark.LEFT_SHOULDER] + px[:, Landmark.RIGHT_SHOULDER]) / 2
    hip = (px[:, Landmark.LEFT_HIP] + px[:, Landmark.RIGHT_HIP]) / 2
    torso = float(np.nanmedian(np.linalg.norm(sh - hip, axis=-1)))
    m = {}
    for side in ("LEFT", "RIGHT"):
        travel = [
            np.nanpercentile(px[:, Landmark[f"{side}_{j}"]], 95, axis=0)
            - np.nanpercentile(px[:, Landmark[f"{side}_{j}"]], 5, axis=0)
            for j in ("KNEE", "ANKLE")
        ]
        m[side] = float(np.mean([np.linalg.norm(t) for t in travel])) / torso
    if not (math.isfinite(m["LEFT"]) and math.isfinite(m["RIGHT"])):
        return float("nan")
    return min(1.0, abs(m["LEFT"] - m["RIGHT"]) / ASYMMETRY_FULL)


# (posture, view facing) -> is the torso upright in the image? Lying on the back filmed from the
# feet, the torso points away from the camera and shows upright (shortened); on one side facing
# the camera, or seen from the side lying or on all fours, it lies across the image. Pairs not
# listed (the body seen end-on) give no evidence either way.
UPRIGHT_BY_POSTURE: dict[tuple[str, str], bool] = {
    ("standing", "front"): True,
    ("standing", "side"): True,
    ("lying", "side"): False,
    ("lying", "front"): True,
    ("side_lying", "front"): False,
    ("all_fours", "side"): False,
}
UPRIGHT_MAX_TILT_DEG = 45.0
"""A torso within this angle of image vertical counts as upright."""

MIN_FRAMES = 10
"""Frames with a person needed before anything is recognised."""
MAX_JITTER = 0.25
"""Above this median step per frame (torso lengths; people on video: under 0.05) the landmarks
are not following a body (see :func:`jitter_ratio`)."""
MIN_ITEMS = 3
"""Reps or holds needed for full activity evidence."""
FULL_COVER = 0.4
"""Share of the recording that reps or holds must explain for full activity evidence."""
STATIC_SHARE = 0.9
"""A single hold spanning this share of the recording shows a posture, not an exercise."""
STATIC_FACTOR = 0.25
MIN_ACTIVITY = 0.25
"""Below this activity for every spec, nothing fits and no probabilities are worth giving."""
NO_EVIDENCE = 0.5
"""Form or posture value when the spec gives nothing to compare (no absolute check, no posture)."""
WEIGHTS = {"activity": 6.0, "form": 4.0, "posture": 6.0, "laterality": 2.0}
ELEVATION_PENALTY = 0.5
"""Score lost when the camera faces the right way from another height than the spec's views."""
HIDDEN_PENALTY = 2.0
"""Score lost when landmarks the spec's gate needs are mostly hidden."""


def _activity(spec: ExerciseSpec, result: SessionResult, track: PoseTrack) -> tuple[float, dict[str, float]]:
    """0..1: enough reps (or holds) covering enough of the recording; attempts that never reach the
    top band count against it, a single hold spanning the whole recording (a still posture) too."""
    found = track.found
    n_found = max(int(found.sum()), 1)
    t = track.t_ms[found] if found.any() else track.t_ms[:1]
    dur_s = max(float(t[-1] - t[0]) / 1000.0, 1e-3)
    f: dict[str, float] = {}
    if spec.kind == "reps":
        # Only counted reps are evidence. An attempt at another tempo (too fast, too slow) is a
        # movement the spec does not describe (a quick step is not a slow pelvic list), so it
        # weighs fully against; a partial attempt (noise near the top band, a tired rep) half as
        # much; one cut off by the end of the recording says nothing either way.
        moves = [r for r in result.reps if r.outcome == "complete" and r.top_start_index is not None]
        tempo = sum(1 for r in result.reps if r.outcome in ("too_fast", "too_slow"))
        others = sum(
            1 for r in result.reps if r.outcome not in ("complete", "not_finished", "too_fast", "too_slow")
        )
        attempts = len(moves) + tempo + others
        f["items"] = float(len(moves))
        f["cover"] = sum(r.end_index - r.start_index + 1 for r in moves) / n_found
        f["miss_share"] = (tempo + others) / attempts if attempts else 0.0
        penalty = (tempo + 0.5 * others) / attempts if attempts else 0.0
        a = min(1.0, f["items"] / MIN_ITEMS) * min(1.0, f["cover"] / FULL_COVER) * (1.0 - penalty)
    else:
        f["items"] = float(len(result.holds))
        f["cover"] = sum(h.held_s for h in result.holds) / dur_s
        f["longest"] = max((h.held_s for h in result.holds), default=0.0) / dur_s
        a = min(1.0, f["items"] / MIN_ITEMS) ** 0.5 * min(1.0, f["cover"] / FULL_COVER)
        if f["longest"] >= STATIC_SHARE:
            a *= STATIC_FACTOR
    return a, f


def _form(result: SessionResult, spec: ExerciseSpec) -> float:
    """Share of absolute checks passed over counted reps and holds. Checks against the person's
    own median say nothing about which exercise it is, so they are left out."""
    absolute = {c.id for c in spec.checks if c.baseline == "absolute"}
    checks = [c for item in [*result.reps, *result.holds] if item.number
              for c in item.checks if c.scored and c.id in absolute]  # fmt: skip
    return sum(1 for c in checks if c.passed) / len(checks) if checks else NO_EVIDENCE


SYSTEMATIC_SHARE = 0.8
"""An absolute check failing on at least this share of the counted reps or holds (and on at least
:data:`MIN_ITEMS` of them) fails systematically: see :func:`_systematic`."""


def _systematic(result: SessionResult, spec: ExerciseSpec) -> float:
    """Share of the spec's absolute checks that fail on (nearly) every counted rep or hold.

    A patient's fault comes and goes from rep to rep; a check that fails every time says the
    movement is another one (an ordinary squat read as a ball squat fails 'knees together' and
    'toes forward' on every rep, by twice their limits). 0 when there are too few items to tell."""
    absolute = [c.id for c in spec.checks if c.baseline == "absolute"]
    items = [item for item in [*result.reps, *result.holds] if item.number]
    if not absolute or len(items) < MIN_ITEMS:
        return 0.0
    bad = 0
    for cid in absolute:
        verdicts = [c.passed for item in items for c in item.checks if c.id == cid and c.scored]
        failed = sum(1 for v in verdicts if v is False)
        if len(verdicts) >= MIN_ITEMS and failed >= SYSTEMATIC_SHARE * len(verdicts):
            bad += 1
    return bad / len(absolute)


def _posture(spec: ExerciseSpec, result: SessionResult, upright_share: float) -> float:
    """Share of frames whose torso lies as the spec's posture and matched view imply."""
    if spec.posture is None or result.view is None or not math.isfinite(upright_share):
        return NO_EVIDENCE
    expected = UPRIGHT_BY_POSTURE.get((spec.posture, spec.view(result.view).facing))
    if expected is None:
        return NO_EVIDENCE
    return upright_share if expected else 1.0 - upright_share


ABSOLUTE_BASE = 0.6
"""Absolute fit of reps or holds that explain the recording, before the form, laterality and
posture evidence add their :data:`ABSOLUTE_WEIGHTS` (a perfect fit is 1)."""
ABSOLUTE_WEIGHTS = {"form": 0.2, "laterality": 0.1, "posture": 0.1}
ELEVATION_FACTOR = 0.85
"""Absolute fit kept when the camera faces the right way from another height than the spec's."""
HIDDEN_FACTOR = 0.6
NO_CHECK_FACTOR = 0.8
"""Absolute fit kept when not one check could be scored on the reps or holds found: only the
driving signal moved as the spec's does, and nothing of its form was measured (a dead bug's
alternating legs make two minimum-length band-abduction holds from a side camera: 0.72, now 0.58)."""
"""Absolute fit kept when landmarks the spec's gate needs are mostly hidden."""


def absolute_fit(
    features: Mapping[str, float], view_matched: bool, elevation_off: bool, hidden: bool
) -> float:
    """0..1: how well one spec explains the recording on its own.

    ``activity x (1 - systematic) x (0.6 + 0.2 form + 0.1 laterality + 0.1 posture)``, where
    ``systematic`` is the share of absolute checks failing on (nearly) every rep
    (:func:`_systematic`); scaled down when the camera height or hidden landmarks weaken the
    reading or no check at all could be scored (``scored`` 0), and 0 when the spec cannot be judged
    from this view at all. It does not look at other
    specs, so a motion that fits none of them well (a lunge, a bird-dog) is a poor fit for each,
    however they compare.
    """
    if not view_matched:
        return 0.0
    value = (
        features["activity"]
        * (1.0 - features.get("systematic", 0.0))
        * (ABSOLUTE_BASE + sum(w * features[k] for k, w in ABSOLUTE_WEIGHTS.items()))
    )
    if elevation_off:
        value *= ELEVATION_FACTOR
    if hidden:
        value *= HIDDEN_FACTOR
    if features.get("scored", 1.0) == 0:
        value *= NO_CHECK_FACTOR
    return float(min(1.0, max(0.0, value)))


def fit(track: PoseTrack, spec: ExerciseSpec, upright_share: float, asymmetry: float) -> Fit:
    """Score how well ``spec`` explains ``track`` (see the module docstring)."""
    result = analyze_track(track, spec)
    activity, f = _activity(spec, result, track)
    f["activity"] = activity
    f["form"] = _form(result, spec)
    f["systematic"] = _systematic(result, spec)
    counted = [item for item in [*result.reps, *result.holds] if item.number]
    f["scored"] = float(sum(1 for item in counted for c in item.checks if c.scored))
    f["posture"] = _posture(spec, result, upright_share)
    if spec.laterality == "unilateral" and result.side is not None and activity > 0:
        other = "right" if result.side == "left" else "left"
        other_activity, _ = _activity(spec, analyze_track(track, spec, side=other), track)
        f["laterality"] = max(0.0, activity - other_activity) / activity
    elif spec.laterality == "bilateral":
        f["laterality"] = 1.0 - asymmetry if math.isfinite(asymmetry) else NO_EVIDENCE
    else:
        f["laterality"] = 0.0
    # Form, posture and side say how well the reps or holds found fit: without any, nothing.
    # A posture that contradicts the spec costs up to WEIGHTS["posture"]; agreeing costs nothing.
    score = activity * (
        WEIGHTS["activity"]
        + WEIGHTS["form"] * f["form"]
        + WEIGHTS["laterality"] * f["laterality"]
        - WEIGHTS["posture"] * (1.0 - f["posture"])
    )
    reasons = []
    elevation_off = False
    if result.view is None:
        reasons.append("camera view does not match")
    elif elevation_mismatch(spec.view(result.view), result.setup.facing_measured):
        score -= ELEVATION_PENALTY
        elevation_off = True
        reasons.append("camera height differs")
    vis = result.setup.visibility
    hidden = [n for n, v in vis.items() if not v >= spec.gate.min_visibility]
    absolute = absolute_fit(f, result.view is not None, elevation_off, bool(hidden))
    if hidden:
        score -= HIDDEN_PENALTY
        reasons.append(f"{len(hidden)} needed landmark(s) hard to see")
    unit = "reps" if spec.kind == "reps" else "holds"
    reasons.insert(0, f"{int(f['items'])} {unit} covering {100 * f['cover']:.0f}% of the clip")
    if f["form"] != NO_EVIDENCE:
        reasons.append(f"{100 * f['form']:.0f}% of form checks pass")
    if f["posture"] < 0.5:
        reasons.append(f"body not {spec.posture}")
    return Fit(spec.id, score, "; ".join(reasons), f, result, absolute)


def _named(candidate: tuple[str, float, str]) -> str:
    return f"'{candidate[0]}' ({100 * candidate[1]:.0f}%)"


def recognize(
    track: PoseTrack,
    specs: Mapping[str, ExerciseSpec],
    min_probability: float = MIN_PROBABILITY,
    temperature: float = TEMPERATURE,
) -> Recognition:
    """Which of ``specs`` is being done in ``track``, with a certainty per candidate.

    Only specs whose posture the person's posture allows are candidates (a hard gate, see
    :mod:`siform.posture`). Each gets an absolute fit (:func:`absolute_fit`) and a share of the
    evidence against the others (a softmax of the scores); its certainty is the product. ``best``
    is None (and ``refusal`` says why and what was seen) when nobody is in view, when the landmarks
    do not follow a body, when no known exercise is done in this posture, when no spec's reps or
    holds explain the recording, or when the most certain spec is below ``min_probability``.
    """
    if not specs:
        raise ValueError("no exercise specs to recognise from")
    if int(track.found.sum()) < MIN_FRAMES:
        return Recognition(None, [], "Nobody is in view long enough to recognise the exercise.")
    jitter = jitter_ratio(track)
    if not jitter <= MAX_JITTER:
        return Recognition(
            None, [], "The landmarks jump from frame to frame instead of following one person "
            "steadily, so the exercise cannot be recognised."
        )  # fmt: skip
    px = _pixels(track)
    posture = observe(px, track.world)
    allowed = {k: s for k, s in specs.items() if posture.allows(s.posture)}
    if not allowed:
        return Recognition(
            None, [], f"This looks like {SEEN[posture.label]}, and none of the known exercises is done "
            "that way.", [], min_probability, posture,
        )  # fmt: skip
    tilt = torso_tilt_deg(px[track.found])
    tilt = tilt[np.isfinite(tilt)]
    upright = float(np.mean(tilt < UPRIGHT_MAX_TILT_DEG)) if tilt.size else float("nan")
    asymmetry = leg_motion_asymmetry(track)
    fits = [fit(track, s, upright, asymmetry) for s in allowed.values()]
    scores = np.array([f.score for f in fits])
    z = np.exp((scores - scores.max()) / temperature)
    share = z / z.sum()
    certainty = [f.absolute * float(p) for f, p in zip(fits, share, strict=True)]
    order = sorted(range(len(fits)), key=lambda i: (-certainty[i], -fits[i].score))
    fits = [fits[i] for i in order]
    candidates = [(fits[j].spec_id, certainty[i], fits[j].reason) for j, i in enumerate(order)]
    top_two = " or ".join(_named(c) for c, f in zip(candidates[:2], fits, strict=False) if f.score > 0)
    seen = f"it looks like {SEEN[posture.label]}; " if posture.label != UNKNOWN else ""
    if max(f.features["activity"] for f in fits) < MIN_ACTIVITY:
        closest = f" (closest: {top_two})" if top_two else ""
        refusal = (
            f"None of the known exercises fits this recording: {seen}too few of their reps or holds "
            f"were found{closest}."
        )
        return Recognition(None, candidates, refusal, fits, min_probability, posture)
    if candidates[0][1] < min_probability:
        why = f" ({candidates[0][2]})" if candidates[0][2] else ""
        refusal = f"Not sure which exercise this is: {seen}closest {top_two}{why}."
        return Recognition(None, candidates, refusal, fits, min_probability, posture)
    return Recognition(candidates[0][0], candidates, None, fits, min_probability, posture)


def recognized_or_raise(recognition: Recognition) -> str:
    """The recognised spec id, or a :class:`SiformError` saying why none was and what to do."""
    if recognition.best is not None:
        return recognition.best
    raise SiformError(
        recognition.refusal or "The exercise could not be recognised.",
        "Name it with --exercise ID (see 'siform exercises' for the ids).",
    )
