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


_OPEN_AND_CLOSE = """
import os, sys
import numpy as np
model = sys.argv[1]
image = np.zeros((240, 320, 3), np.uint8)
if sys.argv[2] == "bare":  # MediaPipe as it comes: the control that shows the trap would see it
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision
    opts = vision.PoseLandmarkerOptions(base_options=BaseOptions(model_asset_path=model),
                                        running_mode=vision.RunningMode.VIDEO)
    lm = vision.PoseLandmarker.create_from_options(opts)
    lm.detect_for_video(mp.Image(image_format=mp.ImageFormat.SRGB, data=image), 0)
    lm.close()
else:
    from siform.pose import PoseEstimator
    from siform.sources import Frame
    with PoseEstimator("video", model_path=model) as est:
        assert os.environ["https_proxy"] != os.environ["SIFORM_TEST_TRAP"]
        est(Frame(0, 0, image))
    # the user's own proxy settings are back once no landmarker is open
    assert os.environ["https_proxy"] == os.environ["SIFORM_TEST_TRAP"], os.environ["https_proxy"]
print("done")
"""


@pytest.mark.slow
def test_mediapipe_sends_nothing_out_when_siform_closes_it(model_path: Path, tmp_path: Path) -> None:
    """MediaPipe posts usage logs to Google when a landmarker closes. A trap proxy on loopback
    stands in for the network: bare MediaPipe connects to it; through siform nothing does."""
    import os
    import socket
    import subprocess
    import sys
    import threading

    def run(how: str) -> int:
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.settimeout(0.2)
        seen: list[bytes] = []
        stop = threading.Event()

        def accept() -> None:
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                conn.settimeout(2)
                try:
                    seen.append(conn.recv(200))
                except OSError:
                    seen.append(b"")
                conn.close()

        thread = threading.Thread(target=accept)
        thread.start()
        trap = f"http://127.0.0.1:{server.getsockname()[1]}"
        env = {**os.environ, "https_proxy": trap, "HTTPS_PROXY": trap, "SIFORM_TEST_TRAP": trap}
        env.pop("no_proxy", None)
        env.pop("NO_PROXY", None)
        try:
            out = subprocess.run([sys.executable, "-c", _OPEN_AND_CLOSE, str(model_path), how],
                                 env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
        finally:
            stop.set()
            thread.join()
            server.close()
        assert out.returncode == 0 and "done" in out.stdout, out.stderr[-2000:]
        return len(seen)

    assert run("bare") >= 1, "the control: bare MediaPipe did not try to reach anything"
    assert run("siform") == 0
