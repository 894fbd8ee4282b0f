"""Pass 1 on two cores (two readers, two pose estimators) against one, on real sample videos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from siform.pipeline import analyze_track
from siform.pose import PoseTrack
from siform.pose_lanes import MIN_FRAMES_FOR_LANES, default_lanes
from siform.review import estimate_track
from siform.specs.load import find_spec

from conftest import ROOT, ffmpeg

BRIDGE = ROOT / "sample_videos" / "bridge_raised_side.mp4"  # 410 frames at 30 fps


def pixels(track: PoseTrack) -> np.ndarray:
    return track.image[..., :2] * np.array([track.width, track.height])


@pytest.fixture(scope="module")
def one_lane(model_path: Path) -> PoseTrack:
    return estimate_track(BRIDGE, model_path, lanes=1)[0]


def verdicts(track: PoseTrack) -> list[tuple[int, list[tuple[str, bool | None]]]]:
    truth = json.loads(BRIDGE.with_suffix(".truth.json").read_text(encoding="utf-8"))
    spec = find_spec(truth["meta"]["spec"])
    result = analyze_track(track, spec)
    return [(r.number, [(c.id, c.passed) for c in r.checks]) for r in result.reps]


def test_two_lanes_give_the_one_lane_review(one_lane: PoseTrack, model_path: Path) -> None:
    two, _source = estimate_track(BRIDGE, model_path, lanes=2)
    assert len(one_lane) == len(two) == 410 >= MIN_FRAMES_FOR_LANES
    np.testing.assert_array_equal(two.t_ms, one_lane.t_ms)
    middle = len(two) // 2
    # The first half is the same estimator over the same frames: identical.
    np.testing.assert_array_equal(two.image[:middle], one_lane.image[:middle])
    # The second half comes from another tracker that warmed up on the frames before it: not
    # bit-identical (MediaPipe's tracking depends on its own past), but within landmark jitter.
    assert not np.array_equal(two.image[middle:], one_lane.image[middle:]), "the second lane did not run"
    step = np.nanmax(np.abs(pixels(two) - pixels(one_lane)).reshape(len(two), -1), axis=1)[middle:]
    assert np.median(step) < 3.0, np.median(step)
    assert np.array_equal(two.found, one_lane.found)
    assert verdicts(two) == verdicts(one_lane)


@pytest.mark.parametrize("share", [0.3, 0.75])
def test_cut_off_file_reads_the_same_frames_on_two_lanes(
    tmp_path: Path, model_path: Path, share: float
) -> None:
    """A file whose header promises more frames than it holds: cut before the middle, the second
    lane finds nothing to join and the first reads alone; cut after, the halves join at the seam.
    Either way both read exactly the frames one lane reads."""
    whole = tmp_path / "whole.mp4"
    ffmpeg("-i", str(BRIDGE), "-c", "copy", "-movflags", "+faststart", str(whole))
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * share)])
    one = estimate_track(cut, model_path, lanes=1)[0]
    two = estimate_track(cut, model_path, lanes=2)[0]
    assert 0 < len(one) < 410
    assert (len(one) < 205) == (share < 0.5)
    np.testing.assert_array_equal(two.t_ms, one.t_ms)


def test_default_lanes_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIFORM_POSE_LANES", "1")
    assert default_lanes() == 1
    monkeypatch.setenv("SIFORM_POSE_LANES", "2")
    assert default_lanes() == 2
    monkeypatch.delenv("SIFORM_POSE_LANES")
    assert default_lanes() in (1, 2)
