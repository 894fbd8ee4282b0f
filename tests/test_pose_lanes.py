"""Pass 1 in two halves: the same poses on one core as on two, and close to one estimator's."""

from __future__ import annotations

import json
import threading
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
def whole(model_path: Path) -> PoseTrack:
    """One estimator over the whole file, as a live session reads it."""
    return estimate_track(BRIDGE, model_path, split=False)[0]


@pytest.fixture(scope="module")
def two_cores(model_path: Path) -> PoseTrack:
    return estimate_track(BRIDGE, model_path, lanes=2)[0]


def verdicts(track: PoseTrack) -> list[tuple[int, list[tuple[str, bool | None]]]]:
    truth = json.loads(BRIDGE.with_suffix(".truth.json").read_text(encoding="utf-8"))
    spec = find_spec(truth["meta"]["spec"])
    result = analyze_track(track, spec)
    return [(r.number, [(c.id, c.passed) for c in r.checks]) for r in result.reps]


def test_one_core_gives_exactly_the_two_core_review(two_cores: PoseTrack, model_path: Path) -> None:
    one_core = estimate_track(BRIDGE, model_path, lanes=1)[0]
    np.testing.assert_array_equal(one_core.t_ms, two_cores.t_ms)
    np.testing.assert_array_equal(one_core.image, two_cores.image)
    np.testing.assert_array_equal(one_core.world, two_cores.world)


def test_halves_are_within_jitter_of_one_estimator(whole: PoseTrack, two_cores: PoseTrack) -> None:
    two = two_cores
    assert len(whole) == len(two) == 410 >= MIN_FRAMES_FOR_LANES
    np.testing.assert_array_equal(two.t_ms, whole.t_ms)
    middle = len(two) // 2
    # The first half is the same estimator over the same frames: identical.
    np.testing.assert_array_equal(two.image[:middle], whole.image[:middle])
    # The second half comes from another tracker that warmed up on the frames before it: not
    # bit-identical (MediaPipe's tracking depends on its own past), but within landmark jitter.
    assert not np.array_equal(two.image[middle:], whole.image[middle:]), "the second half was not split off"
    step = np.nanmax(np.abs(pixels(two) - pixels(whole)).reshape(len(two), -1), axis=1)[middle:]
    assert np.median(step) < 3.0, np.median(step)
    assert np.array_equal(two.found, whole.found)
    assert verdicts(two) == verdicts(whole)


@pytest.mark.parametrize("share", [0.3, 0.75])
def test_cut_off_file_reads_the_same_frames_in_halves(tmp_path: Path, model_path: Path, share: float) -> None:
    """A file whose header promises more frames than it holds: cut before the middle, the second
    half finds nothing to join and the first estimator reads alone; cut after, the halves join at
    the seam. Either way every frame one estimator reads is read, on one core or two."""
    full = tmp_path / "whole.mp4"
    ffmpeg("-i", str(BRIDGE), "-c", "copy", "-movflags", "+faststart", str(full))
    data = full.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * share)])
    one = estimate_track(cut, model_path, split=False)[0]
    assert 0 < len(one) < 410
    assert (len(one) < 205) == (share < 0.5)
    for lanes in (1, 2):
        halves = estimate_track(cut, model_path, lanes=lanes)[0]
        np.testing.assert_array_equal(halves.t_ms, one.t_ms)


def test_default_lanes_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIFORM_POSE_LANES", "1")
    assert default_lanes() == 1
    monkeypatch.setenv("SIFORM_POSE_LANES", "2")
    assert default_lanes() == 2
    monkeypatch.delenv("SIFORM_POSE_LANES")
    assert default_lanes() in (1, 2)


class _CtrlC:
    """An ``on_frame`` callback that raises KeyboardInterrupt once ``at`` frames are done, in the
    main thread, where Python raises a real Ctrl-C."""

    def __init__(self, at: int) -> None:
        self.at = at
        self.raised = 0

    def __call__(self, done: int, _total: int | None) -> None:
        if done >= self.at:
            self.raised += 1
            raise KeyboardInterrupt


@pytest.mark.parametrize(("lanes", "share"), [(2, 0.25), (1, 0.75)])
def test_ctrl_c_stops_both_lanes_and_closes_them(model_path: Path, lanes: int, share: float) -> None:
    """Ctrl-C in either half: the review stops at once (on one core the second half runs in the
    main thread: the interrupt must not be taken for a failed second lane, after which the first
    read on alone), and no lane thread is left running with its landmarker when the exception
    leaves (a MediaPipe graph alive at interpreter exit aborts the process with SIGABRT)."""
    interrupt = _CtrlC(int(410 * share))
    with pytest.raises(KeyboardInterrupt):
        estimate_track(BRIDGE, model_path, on_frame=interrupt, lanes=lanes)
    assert interrupt.raised == 1
    assert not [t.name for t in threading.enumerate() if t.name.startswith("siform-lane")]
