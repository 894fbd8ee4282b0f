"""The posture classifier (standing / lying / side-lying / all fours / face down) and its margins.

Bodies come from :mod:`factories_posture`: a still 3-D body turned into the room and seen by a
camera pitched down by 0-40 degrees, as MediaPipe's world landmarks and image points. What matters
most is what must never happen: someone standing read as lying (or the reverse), and a lying
person filmed from the feet, whose torso looks upright in the picture, read as standing.
"""

from __future__ import annotations

import numpy as np
import pytest

import factories_posture as fp
from siform.posture import (
    ALL_FOURS,
    HORIZONTAL,
    LYING,
    PRONE,
    SIDE_LYING,
    STANDING,
    UNKNOWN,
    ClipPosture,
    classify_frames,
    clip_posture,
    contradiction,
    observe,
)

LYING_KINDS = {LYING, SIDE_LYING, ALL_FOURS, PRONE, HORIZONTAL}


@pytest.mark.parametrize("pitch", [0.0, 15.0, 25.0, 40.0])
@pytest.mark.parametrize("placement", ["standing_front", "standing_side"])
def test_standing_is_standing(placement: str, pitch: float) -> None:
    image, world = fp.pose(placement, pitch, noise_m=0.01)
    assert observe(image, world).label == STANDING


@pytest.mark.parametrize(
    ("placement", "pitch", "all_fours", "expected"),
    [
        ("supine_side", 0.0, False, {LYING}),
        ("supine_side", 25.0, False, {LYING}),
        ("supine_side", 40.0, False, {LYING, HORIZONTAL}),  # near the margin: lying or "lying down"
        ("side_lying_front", 0.0, False, {SIDE_LYING}),
        ("side_lying_front", 25.0, False, {SIDE_LYING}),
        ("prone_side", 0.0, True, {ALL_FOURS}),
        ("prone_side", 25.0, True, {ALL_FOURS}),
        ("prone_side", 0.0, False, {PRONE}),
        ("prone_side", 25.0, False, {PRONE}),
    ],
)
def test_lying_postures(placement: str, pitch: float, all_fours: bool, expected: set[str]) -> None:
    image, world = fp.pose(placement, pitch, all_fours=all_fours, noise_m=0.01)
    assert observe(image, world).label in expected


@pytest.mark.parametrize("pitch", [0.0, 20.0, 35.0, 40.0, 50.0])
def test_lying_filmed_from_the_feet_is_never_standing(pitch: float) -> None:
    # The torso points away from the camera: upright in the picture, but not up in 3-D.
    image, world = fp.pose("supine_feet", pitch, noise_m=0.01)
    torso_px = (image[0, 11] + image[0, 12]) / 2 - (image[0, 23] + image[0, 24]) / 2
    if pitch:  # from a raised camera, the picture alone would say "upright"
        assert abs(torso_px[0]) < 5.0 and torso_px[1] < 0
    found = observe(image, world)
    assert found.label != STANDING
    assert found.allows("lying")


@pytest.mark.parametrize("placement", ["standing_front", "standing_side"])
def test_standing_does_not_allow_lying_exercises(placement: str) -> None:
    image, world = fp.pose(placement, 20.0, noise_m=0.01)
    found = observe(image, world)
    assert found.allows("standing")
    assert not any(found.allows(p) for p in ("lying", "side_lying", "all_fours"))


def test_lying_does_not_allow_standing_exercises() -> None:
    for placement, fours in (("supine_side", False), ("side_lying_front", False), ("prone_side", True)):
        found = observe(*fp.pose(placement, 20.0, all_fours=fours, noise_m=0.01))
        assert not found.allows("standing"), placement


def test_face_down_with_straight_legs_allows_no_exercise() -> None:
    found = observe(*fp.pose("prone_side", 10.0, noise_m=0.01))
    assert found.label == PRONE
    assert not any(found.allows(p) for p in ("standing", "lying", "side_lying", "all_fours"))


def test_world_without_depth_is_not_trusted() -> None:
    # 2-D tracks carry flat world landmarks: no posture from them, only the picture's "across".
    image, flat = fp.pose("standing_front", 0.0, flat_world=True)
    assert observe(image, flat).label == UNKNOWN
    image, flat = fp.pose("supine_side", 0.0, flat_world=True)
    assert observe(image, flat).label == HORIZONTAL
    assert observe(image, None).label == HORIZONTAL


def test_world_and_picture_must_agree_on_standing() -> None:
    # World says "torso up" but the picture shows it lying across: unknown, never standing.
    image, _ = fp.pose("supine_side", 0.0)
    _, world = fp.pose("standing_front", 0.0)
    assert set(classify_frames(image, world)) == {UNKNOWN}


def test_frames_without_a_person_are_skipped() -> None:
    image, world = fp.pose("standing_front", 10.0, frames=40)
    image[:10] = np.nan
    world[:10] = np.nan
    found = observe(image, world)
    assert found.label == STANDING and found.share == 1.0
    assert observe(np.full_like(image, np.nan), np.full_like(world, np.nan)).label == UNKNOWN


def test_clip_posture_needs_a_clear_majority() -> None:
    assert clip_posture([STANDING] * 7 + [UNKNOWN] * 3).label == STANDING
    assert clip_posture([STANDING] * 5 + [UNKNOWN] * 5).label == UNKNOWN
    # lying kinds together make "lying down", though none of them alone has the majority
    mixed = clip_posture([LYING] * 4 + [HORIZONTAL] * 3 + [UNKNOWN] * 3)
    assert mixed.label == HORIZONTAL and mixed.share == pytest.approx(0.7)
    assert clip_posture([STANDING] * 4 + [LYING] * 4 + [UNKNOWN] * 2).label == UNKNOWN
    assert clip_posture([]).label == UNKNOWN


def test_allows_and_contradiction() -> None:
    standing = ClipPosture(STANDING, 1.0)
    assert standing.allows("standing") and standing.allows(None)
    assert not standing.allows("lying")
    assert ClipPosture(UNKNOWN, 0.0).allows("lying")
    assert ClipPosture(HORIZONTAL, 0.8).allows("side_lying")
    assert not ClipPosture(HORIZONTAL, 0.8).allows("standing")
    line = contradiction(standing, "lying", "the glute bridge")
    assert line == "This looks like someone standing, but the glute bridge is done lying on your back."
    assert contradiction(standing, "standing", "the ball squat") is None
    assert contradiction(ClipPosture(UNKNOWN, 0.0), "lying", "the glute bridge") is None
