"""Frame timing: a variable frame rate, a low frame rate and non-square pixels give the same true
numbers as a plain 30 frames/s recording, and the annotated video keeps the source's clock.

The fast tests run on synthetic bridges (tests/factories.py) and on small files made here with
ffmpeg; the slow ones run the real pose model on re-timed and re-shaped copies of a sample clip.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from siform.draw.video import FramePainter, timestamp_expression, write_annotated
from siform.pipeline import LiveSession, SessionResult, analyze_track, near_side
from siform.pose import PoseFrame, PoseTrack
from siform.review import estimate_track, review_video
from siform.signals.compute import SignalSet
from siform.signals.filters import (
    butterworth_zero_phase,
    frame_timing,
    one_euro,
    review_cutoff,
)
from siform.sources import VideoFileSource, display_size
from siform.specs.load import find_spec
from siform.specs.model import ExerciseSpec

from conftest import ROOT, ffmpeg, write_video
from factories import bridge_side_view

BRIDGE_CLIP = ROOT / "sample_videos" / "bridge_raised_side.mp4"


@pytest.fixture(scope="module")
def bridge() -> ExerciseSpec:
    return find_spec("glute_bridge")


def irregular(frames: int) -> np.ndarray:
    """Indices kept from a steady 30 frames/s recording to make it a real variable frame rate: in
    every 3 s, 1.5 s at full rate less one frame in seven (67 ms gaps), then 1.5 s at a third of it
    (100 ms). The median interval stays 33 ms, so a filter that took the frames as steady would
    run three times too fast through the sparse stretches."""
    n = np.arange(frames)
    return np.flatnonzero(((n % 90 < 45) & (n % 7 != 3)) | (n % 3 == 0))


def subset(track: PoseTrack, keep: np.ndarray) -> PoseTrack:
    return PoseTrack(track.t_ms[keep], track.image[keep], track.world[keep], track.width, track.height)


def check_values(result: SessionResult, check_id: str) -> list[float | None]:
    return [c.raw_value for r in result.reps if r.number for c in r.checks if c.id == check_id]


def verdicts(result: SessionResult) -> list[tuple[int, str, tuple[tuple[str, bool | None], ...]]]:
    return [(r.number, r.outcome, tuple((c.id, c.passed) for c in r.checks)) for r in result.reps]


# ---------------------------------------------------------------------------------------------
# frame timing and the review low-pass on real times
# ---------------------------------------------------------------------------------------------


def test_frame_timing_tells_rounding_from_a_variable_rate() -> None:
    steady = np.round(np.arange(300) * 1000 / 30)  # whole ms: 0, 33, 67, 100, ...
    timing = frame_timing(steady)
    assert timing.regular and timing.rate_hz == pytest.approx(30.0, abs=0.01)
    gif = np.round(np.arange(40) * 100 / 3) * 10  # a GIF's centiseconds at 3 frames/s: 0, 330, 670
    timing = frame_timing(gif)
    assert timing.regular and timing.rate_hz == pytest.approx(3.0, abs=0.01)
    vfr = frame_timing(steady[irregular(300)])
    assert not vfr.regular and vfr.rate_hz == pytest.approx(30.0, abs=0.05)  # the typical interval
    with pytest.raises(ValueError, match="increase"):
        frame_timing(np.zeros(5))


def test_butterworth_on_a_variable_frame_rate_matches_the_steady_recording() -> None:
    """A 0.8 Hz movement with 6 Hz jitter, filtered at 2 Hz: the variable-rate copy, filtered on its
    real times, reads what the steady recording reads at the same frames (within 0.06 of a 1.0
    amplitude, measured 0.045); taking its frames as steady was off by 0.59 (the reported bug)."""
    from scipy.signal import butter, sosfiltfilt

    t = np.round(np.arange(600) * 1000 / 30)
    x = np.sin(2 * np.pi * 0.8 * t / 1000) + 0.3 * np.sin(2 * np.pi * 6.0 * t / 1000 + 1.0)
    keep = irregular(600)
    steady = butterworth_zero_phase(x, t, 2.0)[keep]
    real_times = butterworth_zero_phase(x[keep], t[keep], 2.0)
    inner = slice(20, -20)  # away from the ends' padding
    assert np.abs(real_times - steady)[inner].max() < 0.06
    as_if_steady = sosfiltfilt(butter(2, 2.0, fs=frame_timing(t[keep]).rate_hz, output="sos"), x[keep])
    assert np.abs(as_if_steady - steady)[inner].max() > 0.3  # the test can tell the difference


def test_a_steady_rate_is_filtered_at_its_true_rate_without_resampling() -> None:
    from scipy.signal import butter, sosfiltfilt

    t = np.round(np.arange(200) * 1000 / 30)
    x = np.random.default_rng(1).normal(size=(200, 2))
    fs = 1000.0 * 199 / (t[-1] - t[0])  # the mean rate: 30.0015 frames/s from whole milliseconds
    expected = sosfiltfilt(butter(2, 4.0, fs=fs, output="sos"), x, axis=0)
    np.testing.assert_allclose(butterworth_zero_phase(x, t, 4.0), expected, atol=1e-12)


def test_gaps_stay_gaps_at_a_variable_frame_rate() -> None:
    t = np.round(np.arange(300) * 1000 / 30)[irregular(300)]
    x = np.random.default_rng(2).normal(size=(len(t), 3))
    x[40:55] = np.nan  # nobody in view
    x[100:102, 1] = np.nan  # one landmark lost
    x[0, 2] = np.nan
    before = x.copy()
    out = butterworth_zero_phase(x, t, 3.0)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(x))
    np.testing.assert_array_equal(x, before)
    assert np.abs(out[60:90] - x[60:90]).max() > 0.1  # the runs between are filtered


@pytest.mark.parametrize(
    ("cutoff", "fps", "expected"),
    [
        (2.0, 30.0, 2.0),  # as the spec asks
        (4.0, 10.0, 4.0),  # exactly 0.8 of Nyquist: still as asked
        (4.0, 8.0, 3.2),  # lowered to 0.8 of Nyquist, 80% of the asked cutoff
        (4.0, 5.0, 2.0),  # lowered to half of it: the last rate that still smooths
        (4.0, 4.0, None),  # 1.6 Hz would be 40%: unsmoothed
        (2.0, 4.0, 1.6),
        (2.0, 3.0, 1.2),
        (2.0, 2.0, None),
        (2.0, 1.0, None),
        (12.0, 30.0, 12.0),  # the highest cutoff a spec may give
        (12.0, 20.0, 8.0),
    ],
)
def test_review_cutoff_stays_below_nyquist(cutoff: float, fps: float, expected: float | None) -> None:
    used, note = review_cutoff(cutoff, fps)
    if expected is None:
        assert used is None and note is not None and "unsmoothed" in note
    else:
        assert used == pytest.approx(expected)
        assert (note is None) == (used == cutoff)
        if note:
            assert f"{expected:.2g} Hz instead" in note


# ---------------------------------------------------------------------------------------------
# review and live at low and irregular rates (synthetic bridge, 5 reps)
# ---------------------------------------------------------------------------------------------


def at_rate(track: PoseTrack, fps: float) -> PoseTrack:
    """The same movement filmed at ``fps``: the nearest frame of a 30 frames/s track, on a steady clock."""
    k = np.arange(int((len(track) - 1) * fps / 30.0) + 1)
    keep = np.round(k * 30.0 / fps).astype(int)
    t = np.round(k * 1000.0 / fps).astype(np.int64)
    return PoseTrack(t, track.image[keep], track.world[keep], track.width, track.height)


def live_reps(track: PoseTrack, spec: ExerciseSpec, view: str) -> int:
    session = LiveSession(spec, track.width, track.height, view, near_side(track.image))
    for i in range(len(track)):
        session.update(PoseFrame(i, int(track.t_ms[i]), True, track.image[i], track.world[i]))
    reps, _holds, _summary = session.finish()
    return sum(1 for r in reps if r.number)


@pytest.mark.parametrize(("fps", "smoothed"), [(1, False), (2, False), (3, True), (4, True)])
def test_review_at_four_frames_per_second_or_fewer_says_so_and_counts(
    bridge: ExerciseSpec, fps: float, smoothed: bool, caplog: pytest.LogCaptureFixture
) -> None:
    track, _truth = bridge_side_view(reps=5)
    with caplog.at_level(logging.WARNING, logger="siform.pipeline"):
        result = analyze_track(at_rate(track, fps), bridge)
    assert len(result.notes) == 1
    note = result.notes[0]
    assert f"{fps} frames per second are too few" in note
    assert ("instead" in note) == smoothed and ("unsmoothed" in note) == (not smoothed)
    assert [r.message for r in caplog.records] == [note + "."]
    assert [r.number for r in result.reps if r.number] == [1, 2, 3, 4, 5]
    if fps >= 2:  # live, causal One Euro on real times: at 1 frame/s a rep is two or three frames
        assert live_reps(at_rate(track, fps), bridge, "raised_side") == 5


def test_a_spec_cutoff_above_nyquist(bridge: ExerciseSpec) -> None:
    """A spec's own cutoff above what the video can carry is lowered (or dropped) the same way."""
    track, _truth = bridge_side_view(reps=3)
    high = bridge.model_copy(update={"filter": bridge.filter.model_copy(update={"cutoff_hz": 12.0})})
    assert analyze_track(track, high).notes == []  # 12 Hz at 30 frames/s is fine
    clamped = analyze_track(at_rate(track, 20), high)
    assert clamped.notes == [
        "20 frames per second are too few to smooth at the spec's 12 Hz: smoothed at 8 Hz instead"
    ]
    assert "unsmoothed" in analyze_track(at_rate(track, 10), high).notes[0]


def test_irregular_frames_give_the_steady_verdicts(bridge: ExerciseSpec) -> None:
    track, _truth = bridge_side_view(reps=5)
    steady = analyze_track(track, bridge)
    vfr = analyze_track(subset(track, irregular(len(track))), bridge)
    assert vfr.notes == []
    assert verdicts(vfr) == verdicts(steady)
    np.testing.assert_allclose(
        check_values(vfr, "full_extension"), check_values(steady, "full_extension"), atol=0.5
    )
    assert live_reps(subset(track, irregular(len(track))), bridge, "raised_side") == 5


def test_one_euro_at_low_and_irregular_rates_stays_finite_and_bounded() -> None:
    rng = np.random.default_rng(4)
    for t in (np.arange(20) * 1000.0, np.cumsum(rng.integers(1, 700, 50)).astype(float)):
        x = np.sin(t / 900.0) * 100 + rng.normal(0, 2, len(t))
        out = one_euro(x, t, min_cutoff=1.0, beta=0.05)
        assert np.isfinite(out).all() and np.abs(out).max() <= np.abs(x).max() + 1e-9


# ---------------------------------------------------------------------------------------------
# the annotated video keeps the source's clock
# ---------------------------------------------------------------------------------------------


def make_vfr(src: Path, out: Path, keep: str) -> Path:
    """``src`` with only the frames ``keep`` (an ffmpeg select expression of n) left, each at its
    own original time, in a millisecond time base: a real variable-frame-rate file."""
    ffmpeg(
        "-i", str(src), "-vf", f"select='{keep}'", "-fps_mode", "passthrough",
        "-enc_time_base", "1/1000", "-video_track_timescale", "1000",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", str(out),
    )  # fmt: skip
    return out


IRREGULAR_SELECT = "(lt(mod(n,90),45)*not(eq(mod(n,7),3)))+not(mod(n,3))"
"""The same pattern as :func:`irregular`, for ffmpeg."""


def frame_times(path: Path) -> list[int]:
    with VideoFileSource(path) as source:
        return [f.t_ms for f in source]


def probed_times(path: Path) -> list[float] | None:
    """Presentation times in ms as ffprobe reads them, when ffprobe is installed."""
    exe = shutil.which("ffprobe")
    if exe is None:
        return None
    out = subprocess.run(
        [exe, "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time",
         "-of", "json", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return [float(f["pts_time"]) * 1000 for f in json.loads(out)["frames"]]


def painter_for(times: list[int], bridge: ExerciseSpec) -> FramePainter:
    """A painter for a synthetic bridge cut to these frames and times."""
    track, _truth = bridge_side_view(reps=3)
    n = len(times)
    track = PoseTrack(np.array(times, np.int64), track.image[:n], track.world[:n], 160, 120)
    result = analyze_track(track, bridge)
    return FramePainter(bridge, track, result, SignalSet(bridge, result.sides))


@pytest.mark.parametrize("variable", [True, False])
def test_annotated_video_keeps_the_source_timestamps(
    tmp_path: Path, bridge: ExerciseSpec, variable: bool
) -> None:
    frames = [np.full((120, 160, 3), (10 + 7 * i) % 250, np.uint8) for i in range(60)]
    source = write_video(tmp_path / "cfr.mp4", frames, fps=30.0)
    if variable:
        source = make_vfr(source, tmp_path / "vfr.mp4", IRREGULAR_SELECT)
    times = frame_times(source)
    assert frame_timing(times).regular is not variable
    out = tmp_path / "annotated.mp4"
    with VideoFileSource(source) as again:
        written = write_annotated(again, painter_for(times, bridge), out, (160, 120), 30.0)
    assert written == len(times)
    assert not list(tmp_path.glob(".timing-*"))  # the filter script is cleaned up
    got = frame_times(out)
    assert len(got) == len(times)
    # Tolerance 1 ms: container times are whole milliseconds on both sides.
    assert np.abs(np.subtract(got, times)).max() <= 1
    probed = probed_times(out)
    if probed is not None:
        assert np.abs(np.subtract(probed, times)).max() <= 1


def test_timestamp_expression_continues_past_its_table() -> None:
    expr = timestamp_expression([0, 100, 140, 180])
    assert expr.count("if(") == 3 and "180+(N-3)*40" in expr
    assert timestamp_expression([5]) == "5+(N-0)*1"


# ---------------------------------------------------------------------------------------------
# real files through the real pose model
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_variable_frame_rate_copy_of_a_sample_gives_the_same_verdicts(
    tmp_path: Path, model_path: Path, bridge: ExerciseSpec
) -> None:
    """The reported case: a re-timed (variable frame rate) bridge_raised_side gives the steady
    original's verdicts and reads its hip line (full extension) within 2 degrees per rep, and the
    annotated video plays each frame at its own time.

    Measured (2026-12-03): per rep 0.02, 0.58, -0.13, 0.28, -1.55 degrees from the original (before
    the fix -1.97, -0.48, 1.06, 1.16, -3.24: rep 5 read 164.6 against a 164.5 limit); the smoothed
    hip line frame by frame at most 2.66 degrees off (before: 7.63). What is left is MediaPipe's
    own: on the same frames taken from the steady track instead, rep 5 is 0.54 off.
    """
    vfr = make_vfr(BRIDGE_CLIP, tmp_path / "bridge_vfr.mp4", IRREGULAR_SELECT)
    steady_track, _source = estimate_track(BRIDGE_CLIP, model_path)
    steady = analyze_track(steady_track, bridge)
    out = review_video(vfr, bridge, tmp_path / "out", model_path)
    result = out.result
    assert not frame_timing(result.t_ms).regular
    assert result.notes == [] and out.session["source"]["notes"] == []
    assert out.session["source"]["variable_frame_rate"] is True
    assert verdicts(result) == verdicts(steady)
    np.testing.assert_allclose(
        check_values(result, "full_extension"), check_values(steady, "full_extension"), atol=2.0
    )
    # Frame by frame, the smoothed hip line agrees where both have the frame (same times).
    at = np.searchsorted(steady.t_ms, result.t_ms)
    assert np.array_equal(steady.t_ms[at], result.t_ms)
    assert np.nanmax(np.abs(steady.signals["hip_line"][at] - result.signals["hip_line"])) < 4.0
    got = frame_times(out.files["video"])
    assert np.abs(np.subtract(got, result.t_ms)).max() <= 1


@pytest.mark.slow
@pytest.mark.parametrize("fps", [1, 2, 3, 4])
def test_low_frame_rate_video_is_reviewed_with_a_note(
    tmp_path: Path, model_path: Path, bridge: ExerciseSpec, fps: int
) -> None:
    clip = tmp_path / f"bridge_{fps}fps.mp4"
    ffmpeg("-i", str(BRIDGE_CLIP), "-vf", f"fps={fps}", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(clip))
    out = review_video(clip, bridge, tmp_path / "out", model_path)
    notes = out.session["source"]["notes"]
    assert len(notes) == 1 and f"{fps} frames per second are too few" in notes[0]
    assert out.session["source"]["variable_frame_rate"] is False
    assert out.files["video"].exists() or out.result.view is None


@pytest.mark.slow
def test_a_three_fps_gif_through_the_command_line(tmp_path: Path) -> None:
    """OpenCV reads a GIF's frames with their centisecond delays as times; the review warns in one
    line, records the note and writes every output, with no traceback."""
    gif = tmp_path / "bridge.gif"
    ffmpeg("-i", str(BRIDGE_CLIP), "-vf", "fps=3,scale=320:-1", str(gif))
    times = frame_times(gif)
    assert len(times) > 30 and times[1] - times[0] in (330, 340)
    done = subprocess.run(
        ["siform", "analyze", str(gif), "--exercise", "glute_bridge", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert "Traceback" not in done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "3 frames per second are too few" in warnings[0], done.stderr
    session = json.loads((tmp_path / "out" / "session.json").read_text(encoding="utf-8"))
    assert session["source"]["notes"] == [warnings[0].removeprefix("WARNING: ").rstrip(".")]
    # The annotated video keeps the GIF's clock (its header says 3.03 frames/s; the delays say 3).
    assert np.abs(np.subtract(frame_times(tmp_path / "out" / "annotated.mp4"), times)).max() <= 10


# ---------------------------------------------------------------------------------------------
# non-square pixels
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "sar", "turned", "expected"),
    [
        ((320, 480), 2.0, False, (640, 480)),  # squeezed 2:1: the width is stretched back
        ((640, 240), 0.5, False, (640, 480)),  # tall pixels: the height is stretched
        ((480, 320), 2.0, True, (480, 640)),  # turned a quarter: the stored width is now the height
        ((720, 480), 1.005, False, (720, 480)),  # within 1%: rounding, left alone
        ((720, 576), 16 / 15, False, (768, 576)),  # PAL DV 4:3
    ],
)
def test_display_size(size: tuple[int, int], sar: float, turned: bool, expected: tuple[int, int]) -> None:
    assert display_size(*size, sar, turned) == expected


def test_a_squeezed_file_is_read_in_square_pixels(tmp_path: Path) -> None:
    image = np.zeros((120, 160, 3), np.uint8)
    cv2.circle(image, (80, 60), 40, (255, 255, 255), -1)
    src = write_video(tmp_path / "round.mp4", [image] * 3)
    squeezed = tmp_path / "squeezed.mp4"
    ffmpeg("-i", str(src), "-vf", "scale=iw/2:ih,setsar=2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           str(squeezed))  # fmt: skip
    with VideoFileSource(squeezed) as source:
        frame = next(iter(source))
    assert source.info.sample_aspect == pytest.approx(2.0)
    assert (source.info.width, source.info.height) == (160, 120) == frame.image.shape[1::-1]
    ys, xs = np.nonzero(frame.image[..., 0] > 128)
    assert xs.max() - xs.min() == pytest.approx(ys.max() - ys.min(), abs=3)  # a circle again


@pytest.mark.slow
def test_a_squeezed_copy_of_a_sample_measures_the_same_angles(
    tmp_path: Path, model_path: Path, bridge: ExerciseSpec
) -> None:
    """bridge_raised_side stored at half its width with 2:1 pixels reads the angles of the
    original, frame by frame within a median 1 degree (measured 0.63 for the hip line, 0.54 for hip
    extension; max 1.7), and its annotated video is 640x480 again. The same pixels taken as square
    are 5.7 degrees off the hip line (median; max 15), which the control below checks."""
    first = tmp_path / "first.mp4"
    squeezed = tmp_path / "squeezed.mp4"
    ffmpeg("-i", str(BRIDGE_CLIP), "-frames:v", "150", "-c:v", "libx264", "-crf", "18", str(first))
    ffmpeg("-i", str(first), "-vf", "scale=iw/2:ih,setsar=2", "-c:v", "libx264", "-crf", "18", str(squeezed))
    original = analyze_track(estimate_track(first, model_path)[0], bridge)
    out = review_video(squeezed, bridge, tmp_path / "out", model_path)
    assert (out.session["source"]["width"], out.session["source"]["height"]) == (640, 480)
    assert out.session["source"]["sample_aspect"] == 2.0
    for name in ("hip_line", "hip_extension"):
        diff = np.abs(original.signals[name] - out.result.signals[name])
        assert np.nanmedian(diff) < 1.0, name
    with VideoFileSource(out.files["video"]) as annotated:
        assert (annotated.info.width, annotated.info.height, annotated.info.sample_aspect) == (640, 480, 1.0)
    as_square = tmp_path / "as_square.mp4"
    ffmpeg("-i", str(squeezed), "-vf", "setsar=1", "-c:v", "libx264", "-crf", "18", str(as_square))
    wrong = analyze_track(estimate_track(as_square, model_path)[0], bridge)
    assert np.nanmedian(np.abs(original.signals["hip_line"] - wrong.signals["hip_line"])) > 3.0
