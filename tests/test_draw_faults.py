"""Which body segments a failed check is drawn on."""

from __future__ import annotations

import pytest

from siform.draw.faults import segments
from siform.signals.compute import SignalSet, side_map
from siform.specs.load import find_spec


@pytest.mark.parametrize(
    ("spec_id", "signal", "expected"),
    [
        # one side's landmarks: drawn end to end, so the sag at the hip shows
        ("side_plank", "body_line", [("left_shoulder", "left_hip"), ("left_hip", "left_ankle")]),
        # left/right pairs: the hip line and the knee line
        ("ball_squat", "knees", [("left_knee", "right_knee"), ("left_ankle", "right_ankle")]),
        # what the signal itself says to draw: each foot's heel-to-toe line
        ("ball_squat", "toes", [("left_heel", "left_foot_index"), ("right_heel", "right_foot_index")]),
        # a joint angle: its chain
        ("glute_bridge", "hip_extension", [("left_shoulder", "left_hip"), ("left_hip", "left_knee")]),
    ],
)
def test_segments(spec_id: str, signal: str, expected: list[tuple[str, str]]) -> None:
    spec = find_spec(spec_id)
    working = "left" if spec.laterality == "unilateral" else None
    bound = SignalSet(spec, side_map(working, "left")).bound[signal]
    assert segments(bound) == expected
