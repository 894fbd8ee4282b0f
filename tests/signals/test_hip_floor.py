"""The hip's height off the floor in a side plank: above the line through the elbow and the ankle."""

from __future__ import annotations

import numpy as np
import pytest

from siform.landmarks import MIRROR, NUM_LANDMARKS, Landmark
from siform.signals import geometry as g

NAN = float("nan")


def lying_left(hip_y: list[float], shoulder_y: list[float] | None = None) -> np.ndarray:
    """On the left side facing the camera, head at image right: ankle (100, 400) and elbow (400, 400)
    on the floor, shoulder above the elbow (propped) unless given, hip at x = 250."""
    n = len(hip_y)
    pts = np.full((n, NUM_LANDMARKS, 2), np.nan)
    pts[:, Landmark.LEFT_ANKLE] = (100, 400)
    pts[:, Landmark.LEFT_ELBOW] = (400, 400)
    pts[:, Landmark.LEFT_SHOULDER, 0] = 400
    pts[:, Landmark.LEFT_SHOULDER, 1] = shoulder_y or [320.0] * n  # shoulder-ankle length 300 * 1.0667
    pts[:, Landmark.LEFT_HIP, 0] = 250
    pts[:, Landmark.LEFT_HIP, 1] = hip_y
    return pts


def test_clearance_is_the_hip_above_the_forearm_feet_line_in_body_lengths() -> None:
    pts = lying_left([390.0, 340.0, 410.0])
    length = np.hypot(300, 80)
    np.testing.assert_allclose(g.hip_clearance_ratio(pts, "left"), [10 / length, 60 / length, -10 / length])


def test_clearance_does_not_move_when_the_shoulder_goes_down() -> None:
    """Lying down flat from resting propped: the hip stays on the floor, and so does the reading
    (the shoulder-ankle length changes a little; the height off the floor does not)."""
    propped, flat = lying_left([390.0], [320.0]), lying_left([390.0], [385.0])
    assert g.hip_sag_ratio(propped, "left")[0] > 0.08 > 0.02 > g.hip_sag_ratio(flat, "left")[0]
    a, b = g.hip_clearance_ratio(propped, "left")[0], g.hip_clearance_ratio(flat, "left")[0]
    assert a == pytest.approx(b, rel=0.1) and a < 0.04


def test_clearance_reads_the_same_for_the_mirror_image_person() -> None:
    pts = lying_left([390.0, 340.0])
    mirrored = pts[:, MIRROR].copy()
    mirrored[..., 0] = 640 - mirrored[..., 0]
    np.testing.assert_allclose(g.hip_clearance_ratio(mirrored, "right"), g.hip_clearance_ratio(pts, "left"))


def test_clearance_is_nan_without_the_elbow() -> None:
    pts = lying_left([390.0])
    pts[:, Landmark.LEFT_ELBOW] = np.nan
    assert np.isnan(g.hip_clearance_ratio(pts, "left")).all()


def test_floor_lift_is_the_clearance_gained_since_the_hips_lay_on_the_floor() -> None:
    # rest, rest, a plank 50 px up, rest, then lying flat (shoulder down, hips still on the floor)
    pts = lying_left([390.0, 390.0, 340.0, 390.0, 390.0], [320.0, 320.0, 320.0, 320.0, 385.0])
    t = np.arange(5) * 1000.0
    lift = g.hip_floor_lift_ratio(pts, t, "left", 60_000)
    np.testing.assert_allclose(lift[:4], [0, 0, 50 / np.hypot(300, 80), 0], atol=1e-12)
    assert lift[4] < 0.005  # lying flat is not a lift
    assert g.hip_lift_ratio(pts, t, "left", 60_000)[4] > 0.1  # as the sag taken out read it
    with pytest.raises(ValueError, match="window_ms"):
        g.hip_floor_lift_ratio(pts, t, "left", 0)
