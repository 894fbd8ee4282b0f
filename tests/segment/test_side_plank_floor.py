"""The side plank's hold clock needs the hips off the floor: lying on the side is not a hold.

The shipped spec on synthetic sequences whose truth is known from the drawn geometry
(:func:`factories_standing.side_lying_front_view`): one clean plank, then resting propped on the
forearm and lying down flat on the side, body straight and hips on the mat.
"""

from __future__ import annotations

import numpy as np
import pytest

import factories_standing as fs
from siform.pipeline import analyze_track
from siform.signals import geometry as g
from siform.signals.compute import SignalSet, side_map
from siform.specs.load import find_spec

FPS = 30.0


@pytest.mark.parametrize("working", ["left", "right"])
@pytest.mark.parametrize("noise_px", [0.0, 1.0])
def test_lying_down_on_the_side_after_a_plank_is_not_a_hold(working: str, noise_px: float) -> None:
    track, truth = fs.side_lying_front_view(working=working, plank_s=6.0, lie_s=8.0, noise_px=noise_px)
    holds = analyze_track(track, find_spec("side_plank"), side=working).holds
    assert len(holds) == 1, [(h.start_ms, h.end_ms, h.held_s) for h in holds]
    (hold,) = holds
    assert hold.held_s == pytest.approx(truth.hold_s[0], abs=0.5)
    lying_from_s = (2 + 6 + 2 * 0.6 + 1) + 1  # rest, plank, ramps, rest, going down
    assert hold.end_ms / 1000 < lying_from_s


def test_lying_flat_reads_every_other_condition_as_holding() -> None:
    """Why the floor matters: lying flat passes the straightness and on-the-side conditions (and
    reads as sag taken out of the shoulder-ankle line); only the hip's height off the floor tells."""
    spec = find_spec("side_plank")
    track, _truth = fs.side_lying_front_view(working="left", plank_s=6.0, lie_s=8.0)
    pts = np.asarray(track.image[:, :, :2], dtype=np.float64) * np.array([track.width, track.height])
    values = SignalSet(spec, side_map("left", None)).compute(pts, track.t_ms)
    lying = slice(len(track) - int(4 * FPS), len(track))  # the last 4 s, well into lying flat
    assert np.all(values["body_line"][lying] >= 170.0)
    assert np.all(values["on_side"][lying] >= 45.0)
    lift_min = next(c.min for c in spec.hold.conditions if c.signal == "hip_lift")  # type: ignore[union-attr]
    assert lift_min is not None
    assert np.all(values["hip_lift"][lying] < lift_min / 2)  # hips still on the floor
    plank = slice(int(4 * FPS), int(7 * FPS))
    assert np.all(values["hip_lift"][plank] > 3 * lift_min)
    # The sag taken out of the shoulder-ankle line, which ran the clock until 2026-12-03, reads
    # lying flat (a straight body) as the same lift as the straight plank.
    sag_lift = g.hip_lift_ratio(pts, track.t_ms, "left", 60_000)
    assert sag_lift[lying].min() > 0.99 * sag_lift[plank].min() > 3 * lift_min
