"""Camera-setup gate: is the person in view, from a view the exercise can be judged from?

Scoring garbage is worse than scoring nothing, so before any rep is judged siform checks that the
landmarks the exercise needs are visible and that the camera sees the person from the side or the
front as the spec asks. Both come from the image alone:

- *facing*: shoulder and hip widths against torso length. Seen from the front, shoulders and hips
  are about 0.5-0.9 torso lengths wide; from the side they nearly overlap.
- *elevation* (side views only): a camera raised above a lying person looks down on the near and
  far sides, which then separate in the image: on our rendered bridges, 0.38 torso lengths from a
  camera raised about 40 degrees against under 0.2 from a low one.

- *posture* (given MediaPipe's world landmarks): standing, lying on the back, on one side, on hands
  and knees or face down (:mod:`siform.posture`). A posture that clearly contradicts the spec's
  (someone standing, for an exercise done lying on the back) is a hard stop: no view is matched and
  no check is scored, because every reading would be of another movement.

If something is off, the verdict carries a plain instruction ("step back so your feet are in view")
instead of a score.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from siform.landmarks import VISIBILITY, Landmark, by_name
from siform.posture import contradiction, observe
from siform.results import SetupVerdict
from siform.specs.model import ExerciseSpec, ViewSpec

FRONT_MIN_WIDTH_RATIO = 0.48
"""(shoulder + hip width) / 2 over torso length, at or above which the camera faces the person."""
FRONT_MIN_WIDTH_RATIO_SIDE_LYING = 0.40
"""The same for a person lying on their side: MediaPipe draws stacked hips and shoulders closer
together than they are (on a rendered clamshell from a camera tilted down 27 degrees: hips 0.31
torso lengths apart against the rig's 0.43, a ratio of 0.435 in all), so a face-on camera reads
lower than for someone standing. From the head or feet end the torso is seen end-on and the ratio
is large; from overhead it is near 0; so the lower bar does not let a wrong view through."""
RAISED_MIN_WIDTH_RATIO = 0.22
"""Below the front range, at or above this a side camera is raised (looks down on the person)."""

_LOWER_BODY = ("knee", "ankle", "heel", "foot_index")
POSTURE_HINT = "Is that the exercise in this video? 'siform exercises' lists them, or try --exercise auto."
"""Ends the one line of a posture refusal, which is how :func:`posture_refusal` knows it."""


def posture_refusal(setup: SetupVerdict) -> str | None:
    """The gate's posture refusal line, when the setup failed for that reason (else None)."""
    return next((h for h in setup.hints if h.endswith(POSTURE_HINT)), None)


def _median(x: npt.NDArray[np.float64]) -> float:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else float("nan")


def width_ratio(pts: npt.NDArray[np.floating]) -> float:
    """Median over frames of (shoulder width + hip width) / 2 over torso length, in the image."""
    p = np.asarray(pts, dtype=np.float64)
    ls, rs = p[:, Landmark.LEFT_SHOULDER], p[:, Landmark.RIGHT_SHOULDER]
    lh, rh = p[:, Landmark.LEFT_HIP], p[:, Landmark.RIGHT_HIP]
    torso = np.linalg.norm((ls + rs) / 2 - (lh + rh) / 2, axis=-1)
    width = (np.linalg.norm(ls - rs, axis=-1) + np.linalg.norm(lh - rh, axis=-1)) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return _median(width / torso)


def classify_view(ratio: float, front_min: float = FRONT_MIN_WIDTH_RATIO) -> tuple[str | None, str | None]:
    """(facing, elevation) from :func:`width_ratio`; elevation only for side views."""
    if not np.isfinite(ratio):
        return None, None
    if ratio >= front_min:
        return "front", None
    return "side", ("raised" if ratio >= RAISED_MIN_WIDTH_RATIO else "low")


def elevation_mismatch(view: ViewSpec, facing_measured: str | None) -> bool:
    """True when the camera height measured (``side/low``...) is not the one ``view`` asks for."""
    if view.elevation == "any" or not facing_measured or "/" not in facing_measured:
        return False
    return facing_measured.split("/", 1)[1] != view.elevation


def _view_matches(view: ViewSpec, facing: str | None, elevation: str | None) -> bool:
    if facing != view.facing:
        return False
    return view.elevation == "any" or elevation is None or view.elevation == elevation


def assess_setup(
    spec: ExerciseSpec,
    image: npt.NDArray[np.floating],
    pts_px: npt.NDArray[np.floating],
    required: Sequence[str],
    gate_landmarks: Sequence[str] | None = None,
    world: npt.NDArray[np.floating] | None = None,
) -> SetupVerdict:
    """Judge the camera setup over a stretch of frames (e.g. the first seconds, or the whole clip).

    ``image`` is ``(T, 33, 5)`` raw landmarks (for visibility), ``pts_px`` ``(T, 33, 2)`` pixels.
    ``required`` are landmark names the exercise's signals read; ``gate_landmarks`` the spec's
    gate list with relative sides (``near_hip``) already resolved. ``world`` ``(T, 33, 3)`` are
    MediaPipe's world landmarks: with them a posture that contradicts the spec's fails the gate with
    one line saying so (see :func:`posture_refusal`), and no view is matched.
    """
    found = ~np.isnan(image[:, 0, 0])
    if not found.any():
        return SetupVerdict(
            False, None, None, ("Nobody is in view: step into the picture so your whole body shows.",)
        )
    names = list(dict.fromkeys([*(gate_landmarks or spec.gate.landmarks), *required]))
    vis = {n: float(np.nanmean(np.where(found, image[:, by_name(n), VISIBILITY], np.nan))) for n in names}
    hints: list[str] = []
    hidden = [n for n, v in vis.items() if not v >= spec.gate.min_visibility]
    if hidden:
        if any(any(part in n for part in _LOWER_BODY) for n in hidden):
            hints.append("Move the camera back (or step away from it) so your feet are in view.")
        else:
            shown = ", ".join(n.replace("_", " ") for n in hidden[:3])
            hints.append(f"The camera cannot see your {shown}: make sure your whole body is in view.")

    front_min = FRONT_MIN_WIDTH_RATIO_SIDE_LYING if spec.posture == "side_lying" else FRONT_MIN_WIDTH_RATIO
    facing, elevation = classify_view(width_ratio(pts_px[found]), front_min)
    view = next((v for v in spec.views if _view_matches(v, facing, elevation)), None)
    if view is None:
        # The right facing at another camera height: reps can still be counted, but checks that
        # need the spec's camera height go unscored (see elevation_mismatch) and the user is told.
        view = next((v for v in spec.views if v.facing == facing), None)
        if view is not None:
            higher = "Raise" if view.elevation == "raised" else "Lower"
            hints.append(f"{higher} the camera to check every point: {view.how}")
    if view is None:
        wanted = spec.views[0]
        turn = "from the side" if wanted.facing == "side" else "facing it"
        hints.append(f"Turn so the camera sees you {turn}. {wanted.how}")
    measured = f"{facing}/{elevation}" if facing and elevation else facing
    if world is not None:
        wrong = contradiction(observe(pts_px, world), spec.posture, f"the {spec.name.lower()}")
        if wrong is not None:
            return SetupVerdict(False, None, measured, (f"{wrong} {POSTURE_HINT}",), vis)
    return SetupVerdict(not hints, view.id if view else None, measured, tuple(hints), vis)
