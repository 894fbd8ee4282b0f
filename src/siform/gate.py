"""Camera-setup gate: is the person in view, from a view the exercise can be judged from?

Scoring garbage is worse than scoring nothing, so before any rep is judged siform checks that the
landmarks the exercise needs are visible and that the camera sees the person from the side or the
front as the spec asks. Both come from the image alone:

- *facing*: shoulder and hip widths against torso length. Seen from the front, shoulders are about
  0.6-0.9 torso lengths wide; from the side they nearly overlap (under ~0.3).
- *elevation* (side views only): a camera raised above a lying person sees the near and far hips
  apart; from a low camera they overlap. We measure hip separation against thigh length.

If something is off, the verdict carries a plain instruction ("step back so your feet are in view")
instead of a score.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from siform.landmarks import VISIBILITY, Landmark, by_name
from siform.results import SetupVerdict
from siform.specs.model import ExerciseSpec, ViewSpec

FRONT_MIN_WIDTH_RATIO = 0.45
SIDE_MAX_WIDTH_RATIO = 0.33
RAISED_MIN_HIP_SEPARATION = 0.12
"""Hip separation / thigh length above which a side camera counts as raised (calibrated on renders)."""

_LOWER_BODY = ("knee", "ankle", "heel", "foot_index")


def _median(x: npt.NDArray[np.float64]) -> float:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else float("nan")


def measure_facing(pts: npt.NDArray[np.floating]) -> tuple[float, float]:
    """Median (shoulder+hip width)/2 over torso length, and median hip separation over thigh length."""
    p = np.asarray(pts, dtype=np.float64)
    ls, rs = p[:, Landmark.LEFT_SHOULDER], p[:, Landmark.RIGHT_SHOULDER]
    lh, rh = p[:, Landmark.LEFT_HIP], p[:, Landmark.RIGHT_HIP]
    lk, rk = p[:, Landmark.LEFT_KNEE], p[:, Landmark.RIGHT_KNEE]
    torso = np.linalg.norm((ls + rs) / 2 - (lh + rh) / 2, axis=-1)
    width = (np.linalg.norm(ls - rs, axis=-1) + np.linalg.norm(lh - rh, axis=-1)) / 2
    thigh = (np.linalg.norm(lh - lk, axis=-1) + np.linalg.norm(rh - rk, axis=-1)) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return _median(width / torso), _median(np.linalg.norm(lh - rh, axis=-1) / thigh)


def classify_view(width_ratio: float, hip_sep: float) -> tuple[str | None, str | None]:
    """(facing, elevation) from the two ratios; None where ambiguous."""
    if not np.isfinite(width_ratio):
        return None, None
    if width_ratio >= FRONT_MIN_WIDTH_RATIO:
        return "front", None
    if width_ratio <= SIDE_MAX_WIDTH_RATIO:
        return "side", ("raised" if hip_sep >= RAISED_MIN_HIP_SEPARATION else "low")
    return None, None


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
) -> SetupVerdict:
    """Judge the camera setup over a stretch of frames (e.g. the first seconds, or the whole clip).

    ``image`` is ``(T, 33, 5)`` raw landmarks (for visibility), ``pts_px`` ``(T, 33, 2)`` pixels.
    ``required`` are landmark names the exercise's signals read; ``gate_landmarks`` the spec's
    gate list with relative sides (``near_hip``) already resolved.
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

    width_ratio, hip_sep = measure_facing(pts_px[found])
    facing, elevation = classify_view(width_ratio, hip_sep)
    view = next((v for v in spec.views if _view_matches(v, facing, elevation)), None)
    if view is None:
        # Accept a view with the right facing but another elevation; checks it cannot see go unscored.
        view = next((v for v in spec.views if v.facing == facing), None)
    if view is None:
        wanted = spec.views[0]
        turn = "from the side" if wanted.facing == "side" else "facing it"
        hints.append(f"Turn so the camera sees you {turn}. {wanted.how}")
    measured = f"{facing}/{elevation}" if facing and elevation else facing
    return SetupVerdict(not hints, view.id if view else None, measured, tuple(hints), vis)
