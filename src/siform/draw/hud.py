"""The heads-up panel: exercise, rep count against the prescription, phase, last rep's verdict."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from siform.draw.text import put_label

WHITE = (255, 255, 255)
GREEN = (90, 200, 90)
AMBER = (40, 180, 245)


class HudAnnotator:
    def __init__(self, scale: float = 0.55) -> None:
        self.scale = scale

    def annotate(
        self,
        image: npt.NDArray[np.uint8],
        title: str,
        count_text: str,
        phase: str,
        verdict: str | None,
        verdict_ok: bool,
    ) -> npt.NDArray[np.uint8]:
        y = 8
        y += put_label(image, title, (10, y), WHITE, self.scale)
        y += put_label(image, f"{count_text}   {phase}", (10, y), WHITE, self.scale)
        if verdict:
            put_label(image, verdict, (10, y), GREEN if verdict_ok else AMBER, self.scale)
        return image
