from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from siform.landmarks import Landmark
from siform.pose import PoseEstimator, PoseFrame, PoseTrack
from siform.sources import Frame, VideoFileSource

from conftest import write_video


@pytest.fixture(scope="module")
def estimator(model_path: Path):
    with PoseEstimator("video", model_path=model_path) as est:
        yield est


def test_landmarks_on_a_real_photograph_are_plausible(model_path: Path, astronaut_bgr) -> None:
    with PoseEstimator("video", model_path=model_path) as est:
        pose = est(Frame(0, 0, astronaut_bgr))
    assert pose.found
    h, w = astronaut_bgr.shape[:2]
    px = pose.image[:, :2] * (w, h)
    nose, l_sh, r_sh = px[Landmark.NOSE], px[Landmark.LEFT_SHOULDER], px[Landmark.RIGHT_SHOULDER]
    # The astronaut faces the camera: her face is in the upper half (nose roughly at 223, 128),
    # her shoulders below it, her own left shoulder on the image's right.
    assert 170 < nose[0] < 280 and 80 < nose[1] < 180
    assert l_sh[1] > nose[1] + 50 and r_sh[1] > nose[1] + 50
    assert l_sh[0] > nose[0] > r_sh[0]
    assert 120 < l_sh[0] - r_sh[0] < 260
    assert pose.image[Landmark.NOSE, 3] > 0.9  # visibility
    # World landmarks are metres around the hip midpoint: the nose is above the hips (y down).
    assert -0.9 < pose.world[Landmark.NOSE, 1] < -0.3


def test_video_without_a_person_yields_no_person_frames(tmp_path: Path, estimator: PoseEstimator) -> None:
    rng = np.random.default_rng(1)
    frames = [rng.integers(90, 110, (240, 320, 3), dtype=np.uint8) for _ in range(8)]
    path = write_video(tmp_path / "empty_room.mp4", frames)
    with VideoFileSource(path) as source, PoseEstimator("video", model_path=estimator.model_path) as est:
        poses = list(est.run(source))
        track = PoseTrack.from_frames(poses, source.info.width, source.info.height)
    assert len(poses) == 8
    assert not any(p.found for p in poses)
    assert np.isnan(track.image).all() and np.isnan(track.world).all()
    assert not track.found.any()


def test_person_video_keeps_frame_times(tmp_path: Path, astronaut_bgr, model_path: Path) -> None:
    path = write_video(tmp_path / "still.mp4", [astronaut_bgr] * 6, fps=20.0)
    with VideoFileSource(path) as source, PoseEstimator("video", model_path=model_path) as est:
        poses = list(est.run(source))
    assert [p.t_ms for p in poses] == [0, 50, 100, 150, 200, 250]
    assert all(p.found for p in poses)


def test_live_mode_does_not_block_and_delivers_results(model_path: Path, astronaut_bgr) -> None:
    with PoseEstimator("live", model_path=model_path) as est:
        for i in range(5):
            est.submit(Frame(i, i * 33, astronaut_bgr))
        deadline = time.monotonic() + 10
        latest: PoseFrame | None = None
        while time.monotonic() < deadline:
            latest = est.latest()
            if latest is not None and latest.index == 4:
                break
            time.sleep(0.01)
    assert latest is not None and latest.found
    assert latest.image.shape == (33, 5)


def test_track_roundtrips_through_npz(tmp_path: Path) -> None:
    t = np.arange(4, dtype=np.int64) * 33
    image = np.random.default_rng(0).random((4, 33, 5)).astype(np.float32)
    image[2] = np.nan
    world = np.zeros((4, 33, 3), np.float32)
    track = PoseTrack(t, image, world, 640, 480)
    track.save_npz(tmp_path / "t.npz", source="x.mp4")
    back = PoseTrack.load_npz(tmp_path / "t.npz")
    np.testing.assert_array_equal(back.image, image)
    assert (back.width, back.height) == (640, 480)
    assert back.found.tolist() == [True, True, False, True]
    assert back.image_px()[0, 0, 0] == pytest.approx(image[0, 0, 0] * 640)


def test_track_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"image must have shape \(3, 33, 5\)"):
        PoseTrack(
            np.zeros(3, np.int64), np.zeros((3, 33, 4), np.float32), np.zeros((3, 33, 3), np.float32), 1, 1
        )
