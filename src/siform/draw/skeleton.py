"""Draws the pose skeleton: edges from ``landmarks.EDGES``, joints as dots, hidden joints skipped."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from siform.landmarks import EDGES, VISIBILITY

BGR = tuple[int, int, int]


class SkeletonAnnotator:
    """Style in the constructor, data per call; returns the same image, drawn on."""

    def __init__(
        self, color: BGR = (235, 235, 235), joint_color: BGR = (60, 200, 255), thickness: int = 2,
        min_visibility: float = 0.3,
    ) -> None:  # fmt: skip
        self.color = color
        self.joint_color = joint_color
        self.thickness = thickness
        self.min_visibility = min_visibility

    def annotate(
        self, image: npt.NDArray[np.uint8], landmarks: npt.NDArray[np.floating]
    ) -> npt.NDArray[np.uint8]:
        """``landmarks`` is one frame ``(33, 5)`` normalised; nothing is drawn for a NaN row."""
        if not np.isfinite(landmarks[0, 0]):
            return image
        h, w = image.shape[:2]
        px = np.round(landmarks[:, :2] * (w, h)).astype(int)
        shown = landmarks[:, VISIBILITY] >= self.min_visibility
        for a, b in EDGES:
            if shown[a] and shown[b]:
                cv2.line(image, tuple(px[a]), tuple(px[b]), self.color, self.thickness, cv2.LINE_AA)
        for k in np.flatnonzero(shown[11:]) + 11:  # body joints; the face is left uncluttered
            cv2.circle(image, tuple(px[k]), self.thickness + 2, self.joint_color, -1, cv2.LINE_AA)
        return image
