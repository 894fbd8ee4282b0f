"""Readable text on video: a filled box behind each line, so it shows on any background."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

FONT = cv2.FONT_HERSHEY_SIMPLEX


def put_label(
    image: npt.NDArray[np.uint8], text: str, origin: tuple[int, int], color: tuple[int, int, int],
    scale: float = 0.5, background: tuple[int, int, int] = (20, 20, 20),
) -> int:  # fmt: skip
    """Draw ``text`` with its top-left at ``origin`` (clamped inside the image); returns its height."""
    (tw, th), base = cv2.getTextSize(text, FONT, scale, 1)
    h, w = image.shape[:2]
    x = int(min(max(origin[0], 2), max(w - tw - 6, 2)))
    y = int(min(max(origin[1], 2), max(h - th - base - 6, 2)))
    cv2.rectangle(image, (x - 3, y - 3), (x + tw + 3, y + th + base + 3), background, -1)
    cv2.putText(image, text, (x, y + th), FONT, scale, color, 1, cv2.LINE_AA)
    return th + base + 8
