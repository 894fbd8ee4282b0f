"""The one place that knows MediaPipe's 33 pose landmarks: indices, channels, sides and edges.

Left and right are always the *person's* own, as MediaPipe reports them (``LEFT_HIP`` is the
person's left hip, which appears on the right of a camera image facing them).

Array conventions used across siform (``T`` frames):

- image landmarks ``(T, 33, 5)`` float32: x, y normalised to the frame width and height (y down),
  z (relative depth, same scale as x, smaller is nearer), visibility, presence;
- world landmarks ``(T, 33, 3)`` float32: metres, origin at the hip midpoint, y down;
- a frame without a person is a row of NaN, never a dropped row.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

import numpy as np
import numpy.typing as npt

ImageLandmarks = npt.NDArray[np.float32]
"""``(T, 33, 5)`` or ``(33, 5)``: x, y, z, visibility, presence."""
WorldLandmarks = npt.NDArray[np.float32]
"""``(T, 33, 3)`` or ``(33, 3)``: metres, hip-centred."""

NUM_LANDMARKS: Final = 33
IMAGE_CHANNELS: Final = 5
WORLD_CHANNELS: Final = 3

# Channel indices of an image landmark row.
X: Final = 0
Y: Final = 1
Z: Final = 2
VISIBILITY: Final = 3
PRESENCE: Final = 4


class Landmark(IntEnum):
    """Index of each BlazePose landmark, in MediaPipe's order."""

    NOSE = 0
    LEFT_EYE_INNER = 1
    LEFT_EYE = 2
    LEFT_EYE_OUTER = 3
    RIGHT_EYE_INNER = 4
    RIGHT_EYE = 5
    RIGHT_EYE_OUTER = 6
    LEFT_EAR = 7
    RIGHT_EAR = 8
    MOUTH_LEFT = 9
    MOUTH_RIGHT = 10
    LEFT_SHOULDER = 11
    RIGHT_SHOULDER = 12
    LEFT_ELBOW = 13
    RIGHT_ELBOW = 14
    LEFT_WRIST = 15
    RIGHT_WRIST = 16
    LEFT_PINKY = 17
    RIGHT_PINKY = 18
    LEFT_INDEX = 19
    RIGHT_INDEX = 20
    LEFT_THUMB = 21
    RIGHT_THUMB = 22
    LEFT_HIP = 23
    RIGHT_HIP = 24
    LEFT_KNEE = 25
    RIGHT_KNEE = 26
    LEFT_ANKLE = 27
    RIGHT_ANKLE = 28
    LEFT_HEEL = 29
    RIGHT_HEEL = 30
    LEFT_FOOT_INDEX = 31
    RIGHT_FOOT_INDEX = 32


NAMES: Final[tuple[str, ...]] = tuple(lm.name.lower() for lm in Landmark)

# Each landmark's mirror image (left <-> right); the nose maps to itself.
MIRROR: Final[tuple[int, ...]] = tuple(
    Landmark[lm.name.replace("LEFT", "@").replace("RIGHT", "LEFT").replace("@", "RIGHT")] for lm in Landmark
)

# Skeleton edges drawn on overlays and exported for biomechanists.
EDGES: Final[tuple[tuple[Landmark, Landmark], ...]] = (
    (Landmark.LEFT_SHOULDER, Landmark.RIGHT_SHOULDER),
    (Landmark.LEFT_SHOULDER, Landmark.LEFT_ELBOW),
    (Landmark.LEFT_ELBOW, Landmark.LEFT_WRIST),
    (Landmark.RIGHT_SHOULDER, Landmark.RIGHT_ELBOW),
    (Landmark.RIGHT_ELBOW, Landmark.RIGHT_WRIST),
    (Landmark.LEFT_SHOULDER, Landmark.LEFT_HIP),
    (Landmark.RIGHT_SHOULDER, Landmark.RIGHT_HIP),
    (Landmark.LEFT_HIP, Landmark.RIGHT_HIP),
    (Landmark.LEFT_HIP, Landmark.LEFT_KNEE),
    (Landmark.LEFT_KNEE, Landmark.LEFT_ANKLE),
    (Landmark.LEFT_ANKLE, Landmark.LEFT_HEEL),
    (Landmark.LEFT_HEEL, Landmark.LEFT_FOOT_INDEX),
    (Landmark.LEFT_ANKLE, Landmark.LEFT_FOOT_INDEX),
    (Landmark.RIGHT_HIP, Landmark.RIGHT_KNEE),
    (Landmark.RIGHT_KNEE, Landmark.RIGHT_ANKLE),
    (Landmark.RIGHT_ANKLE, Landmark.RIGHT_HEEL),
    (Landmark.RIGHT_HEEL, Landmark.RIGHT_FOOT_INDEX),
    (Landmark.RIGHT_ANKLE, Landmark.RIGHT_FOOT_INDEX),
    (Landmark.NOSE, Landmark.LEFT_EYE),
    (Landmark.NOSE, Landmark.RIGHT_EYE),
    (Landmark.LEFT_EYE, Landmark.LEFT_EAR),
    (Landmark.RIGHT_EYE, Landmark.RIGHT_EAR),
)


def by_name(name: str) -> Landmark:
    """Look a landmark up by its lower-case name as written in exercise specs (``left_hip``)."""
    try:
        return Landmark[name.upper()]
    except KeyError:
        raise KeyError(f"unknown landmark {name!r}; known: {', '.join(NAMES)}") from None


def side_landmark(side: str, joint: str) -> Landmark:
    """``side_landmark("left", "hip")`` -> ``Landmark.LEFT_HIP``; side is the person's own."""
    return by_name(f"{side}_{joint}")


def empty_image(frames: int = 1) -> ImageLandmarks:
    """A NaN block meaning "no person" for ``frames`` frames."""
    return np.full((frames, NUM_LANDMARKS, IMAGE_CHANNELS), np.nan, dtype=np.float32)


def empty_world(frames: int = 1) -> WorldLandmarks:
    return np.full((frames, NUM_LANDMARKS, WORLD_CHANNELS), np.nan, dtype=np.float32)
