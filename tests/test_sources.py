from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from siform.errors import InputError
from siform.sources import CameraSource, ImageFolderSource, VideoFileSource, open_source

from conftest import ffmpeg, write_video


def numbered_frames(n: int, w: int = 160, h: int = 120) -> list[np.ndarray]:
    """Frames whose brightness encodes their index (mod 250), so order can be checked after decoding."""
    return [np.full((h, w, 3), (10 + 20 * i) % 250, np.uint8) for i in range(n)]


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        # a path that does not exist
        (lambda d: d / "missing.mp4", "does not exist"),
        # an empty file
        (lambda d: _file(d / "empty.mp4", b""), "is empty"),
        # a text file renamed .mp4
        (lambda d: _file(d / "notes.mp4", b"squats 3x10\n" * 50), "not a video"),
        # random bytes: a corrupt file
        (lambda d: _file(d / "corrupt.mp4", np.random.default_rng(0).bytes(20000)), "not a video"),
        # a folder where a file is expected
        (lambda d: d, "is a folder"),
    ],
)
def test_bad_video_inputs_give_one_clear_error(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path)
    with pytest.raises(InputError, match=message) as info:
        VideoFileSource(path)
    text = str(info.value)
    assert "\n" not in text and "Traceback" not in text


def test_video_frames_come_in_order_with_growing_timestamps(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.mp4", numbered_frames(12), fps=25.0)
    with VideoFileSource(path) as src:
        frames = list(src)
    assert src.info.width == 160 and src.info.height == 120
    assert [f.index for f in frames] == list(range(12))
    means = [float(f.image.mean()) for f in frames]
    assert means == sorted(means)
    assert [f.t_ms for f in frames] == [round(i * 40) for i in range(12)]


def test_variable_frame_rate_uses_container_timestamps(tmp_path: Path) -> None:
    # 20 frames: the first 10 at 100 ms spacing, the last 10 at 40 ms (a phone slowing its shutter).
    src = write_video(tmp_path / "cfr.mp4", numbered_frames(20), fps=10.0)
    expr = "if(lt(N,10),N*0.1,1.0+(N-10)*0.04)/TB"
    ffmpeg(
        "-i",
        str(src),
        "-vf",
        f"setpts='{expr}'",
        "-fps_mode",
        "vfr",
        "-enc_time_base",
        "1/1000",
        "-video_track_timescale",
        "1000",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        str(tmp_path / "vfr.mp4"),
    )
    with VideoFileSource(tmp_path / "vfr.mp4") as source:
        times = [f.t_ms for f in source]
    expected = [i * 100 for i in range(10)] + [1000 + i * 40 for i in range(10)]
    assert len(times) == 20
    assert np.max(np.abs(np.array(times) - expected)) <= 1


def test_rotation_metadata_is_honoured(tmp_path: Path) -> None:
    # A landscape 160x120 recording flagged "rotate 90" (how phones store portrait video).
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[:, :20] = 255  # a white band on the left edge
    src = write_video(tmp_path / "plain.mp4", [frame] * 3)
    ffmpeg("-display_rotation", "90", "-i", str(src), "-c", "copy", str(tmp_path / "rotated.mp4"))
    with VideoFileSource(tmp_path / "rotated.mp4") as source:
        first = next(iter(source))
    assert first.image.shape[:2] == (160, 120)  # upright portrait
    # Rotating 90 degrees counter-clockwise moves the left band to the bottom.
    assert first.image[-10:].mean() > 200 and first.image[:10].mean() < 50


def test_a_gif_is_read_with_its_frame_delays_as_times(tmp_path: Path) -> None:
    # GIF delays are whole centiseconds: 3 frames/s is stored as 33, 34, 33... hundredths.
    src = write_video(tmp_path / "clip.mp4", numbered_frames(9), fps=3.0)
    ffmpeg("-i", str(src), str(tmp_path / "clip.gif"))
    with VideoFileSource(tmp_path / "clip.gif") as source:
        frames = list(source)
    assert [f.index for f in frames] == list(range(9))
    times = np.array([f.t_ms for f in frames])
    assert np.abs(times - np.arange(9) * 1000 / 3).max() <= 10


def test_non_square_pixels_turned_by_rotation_metadata(tmp_path: Path) -> None:
    # 80x120 stored with 2:1 pixels (160x120 on screen), then flagged "rotate 90": upright it is
    # 120 wide and 160 tall, and the stretch goes to the height, which the stored width became.
    frame = np.zeros((120, 80, 3), np.uint8)
    frame[:, :10] = 255  # a white band on the stored left edge
    src = write_video(tmp_path / "plain.mp4", [frame] * 3)
    sar, turned = tmp_path / "sar.mp4", tmp_path / "turned.mp4"
    ffmpeg("-i", str(src), "-vf", "setsar=2", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(sar))
    ffmpeg("-display_rotation", "90", "-i", str(sar), "-c", "copy", str(turned))
    with VideoFileSource(turned) as source:
        first = next(iter(source))
    assert source.info.sample_aspect == pytest.approx(2.0)
    assert first.image.shape[:2] == (160, 120) == (source.info.height, source.info.width)
    band = np.flatnonzero(first.image[:, 60, 0] > 128)  # the band, now along the bottom, 20 px deep
    assert band.min() >= 135 and 16 <= band.size <= 24


def test_truncated_video_yields_the_readable_part(tmp_path: Path) -> None:
    src = write_video(tmp_path / "full.mp4", numbered_frames(60))
    ffmpeg(
        "-i",
        str(src),
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-movflags",
        "+faststart",
        str(tmp_path / "fast.mp4"),
    )
    data = (tmp_path / "fast.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) * 2 // 3])
    with VideoFileSource(tmp_path / "cut.mp4") as source:
        frames = list(source)
    assert 0 < len(frames) < 60


def test_image_folder_in_name_order_at_nominal_rate(tmp_path: Path) -> None:
    for i, frame in enumerate(numbered_frames(4)):
        cv2.imwrite(str(tmp_path / f"img_{i:03d}.png"), frame)
    (tmp_path / "readme.txt").write_text("not an image")
    with open_source(tmp_path, fps=10) as source:
        assert isinstance(source, ImageFolderSource)
        frames = list(source)
    assert [f.t_ms for f in frames] == [0, 100, 200, 300]
    assert [int(f.image[0, 0, 0]) for f in frames] == [10, 30, 50, 70]


def test_empty_image_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="holds no images"):
        ImageFolderSource(tmp_path)


def test_missing_camera_is_an_error() -> None:
    with pytest.raises(InputError, match="No camera found at index 7"):
        CameraSource(7)


def test_open_source_dispatches_by_kind(tmp_path: Path) -> None:
    path = write_video(tmp_path / "a.mp4", numbered_frames(2))
    assert isinstance(open_source(str(path)), VideoFileSource)
    with pytest.raises(InputError, match="No camera"):
        open_source("9")
