"""Draws a failed check where and when it happens: the body segments its signal reads, in red,
with the measured value against the limit (for example the hip line and "0.063 > 0.025")."""

from __future__ import annotations

from itertools import pairwise

import cv2
import numpy as np
import numpy.typing as npt

from siform.draw.text import put_label
from siform.landmarks import by_name
from siform.results import CheckResult
from siform.signals import registry
from siform.signals.compute import BoundSignal
from siform.signals.geometry import JOINT_CHAINS

RED = (40, 40, 230)


def segments(signal: BoundSignal) -> list[tuple[str, str]]:
    """Landmark pairs to highlight for a signal.

    A joint angle draws its joint chain. Landmarks all on one side of the body (a body line from
    shoulder through hip to ankle) are a chain too, drawn end to end, so the bend shows where it
    is; landmarks in left/right pairs (hip line, knee gap) are drawn pair by pair.
    """
    drawn = registry.REGISTRY[signal.spec.fn].draw
    if drawn:
        return list(drawn)
    if signal.spec.fn == "joint_angle_deg":
        side, (a, b, c) = signal.args["side"], JOINT_CHAINS[signal.args["joint"]]
        return [(f"{side}_{a}", f"{side}_{b}"), (f"{side}_{b}", f"{side}_{c}")]
    names = list(signal.landmarks)
    if len({n.split("_", 1)[0] for n in names}) == 1:
        return list(pairwise(names))
    return [(names[k], names[k + 1]) for k in range(0, len(names) - 1, 2)]


def format_value(result: CheckResult) -> str:
    """ "0.063 > max 0.025" style text, in the check's unit."""
    unit = {"deg": " deg", "s": " s"}.get(result.unit, "")
    v = result.value if result.value is not None else float("nan")
    parts = []
    if result.limit_max is not None and v > result.limit_max:
        parts.append(f"{v:.3g}{unit} > max {result.limit_max:g}{unit}")
    elif result.limit_min is not None and v < result.limit_min:
        parts.append(f"{v:.3g}{unit} < min {result.limit_min:g}{unit}")
    else:
        parts.append(f"{v:.3g}{unit}")
    if result.baseline is not None:
        parts.append("vs your own reps")
    return " ".join(parts)


class FaultAnnotator:
    def __init__(self, color: tuple[int, int, int] = RED, thickness: int = 4) -> None:
        self.color = color
        self.thickness = thickness

    def annotate(
        self,
        image: npt.NDArray[np.uint8],
        landmarks: npt.NDArray[np.floating],
        result: CheckResult,
        signal: BoundSignal,
        label_row: int,
        emphasis: bool,
    ) -> npt.NDArray[np.uint8]:
        """Highlight ``signal``'s segments; ``emphasis`` (the worst moment) draws them thicker."""
        h, w = image.shape[:2]
        thick = self.thickness + (3 if emphasis else 0)
        anchor: tuple[int, int] | None = None
        for a, b in segments(signal):
            pa, pb = landmarks[by_name(a), :2], landmarks[by_name(b), :2]
            if not (np.isfinite(pa).all() and np.isfinite(pb).all()):
                continue
            p1 = (int(pa[0] * w), int(pa[1] * h))
            p2 = (int(pb[0] * w), int(pb[1] * h))
            cv2.line(image, p1, p2, self.color, thick, cv2.LINE_AA)
            anchor = anchor or p1
        text = f"{result.name}: {format_value(result)}"
        put_label(image, text, (10, h - 28 - 24 * label_row), (255, 255, 255), 0.5, background=self.color)
        if anchor is not None and emphasis:
            cv2.circle(image, anchor, 14, self.color, 2, cv2.LINE_AA)
        return image
