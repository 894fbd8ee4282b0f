"""The review job on bad input: one clear line, exit code 1, and nothing already written is lost.

The command line runs as a user runs it (a subprocess, stderr captured: no progress bar, so every
stderr line is a message). A check the camera view cannot show is tested through the Python API on
a synthetic low side-view bridge, which no real clip offers.
"""

from __future__ import annotations

import html
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from siform import review
from siform.pose import PoseTrack
from siform.review import ENDS_EARLY, review_video
from siform.session import validate_session
from siform.sources import VideoFileSource
from siform.specs.load import find_spec

from conftest import ROOT, ffmpeg, write_video
from factories import bridge_side_view

BRIDGE = ROOT / "sample_videos" / "bridge_raised_side.mp4"
BRIDGE_S = 410 / 30.0  # the clip's length: 410 frames at 30 fps


def analyze(*args: str | Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "siform", "analyze", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a failed run (and that it failed cleanly)."""
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("siform: ")
    return lines[0]


def earlier_results(out: Path) -> dict[Path, bytes]:
    """An output folder holding an earlier analysis, which a failed run must leave alone."""
    out.mkdir(parents=True)
    (out / "session.json").write_text('{"earlier": true}\n', encoding="utf-8")
    (out / "report.html").write_text("<p>earlier</p>\n", encoding="utf-8")
    return {p: p.read_bytes() for p in out.iterdir()}


def blank_video(path: Path, frames: int, size: tuple[int, int] = (640, 480)) -> Path:
    w, h = size
    return write_video(path, [np.full((h, w, 3), (90, 120, 140), np.uint8)] * frames)


# ---------------------------------------------------------------------------------------------
# files that are not (usable) videos: nothing is analysed, nothing written is touched
# ---------------------------------------------------------------------------------------------


def _missing(tmp: Path) -> Path:
    return tmp / "nope.mp4"


def _empty(tmp: Path) -> Path:
    (tmp / "empty.mp4").touch()
    return tmp / "empty.mp4"


def _text(tmp: Path) -> Path:
    (tmp / "holiday.mp4").write_text("this is not a video\n", encoding="utf-8")
    return tmp / "holiday.mp4"


def _nobody(tmp: Path) -> Path:
    return blank_video(tmp / "empty_room.mp4", 45)


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_missing, "nope.mp4 does not exist"),  # a typo in the path
        (_empty, "empty.mp4 is empty (0 bytes)"),  # an interrupted copy
        (_text, "holiday.mp4 is not a video file"),  # a text file renamed .mp4
        (_nobody, "Nobody was found in empty_room.mp4"),  # a real video of an empty room
    ],
)
def test_unusable_file_is_one_line_and_keeps_earlier_results(
    tmp_path: Path, model_path: Path, make: Any, says: str
) -> None:
    video = make(tmp_path)
    out = tmp_path / "out"
    before = earlier_results(out)
    line = one_line(analyze(video, "--exercise", "glute_bridge", "--out", out))
    assert says in line
    assert {p: p.read_bytes() for p in out.iterdir()} == before


# ---------------------------------------------------------------------------------------------
# partly usable input: what can be analysed is, and the rest is named
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_truncated_video_is_analysed_up_to_the_cut(tmp_path: Path, model_path: Path) -> None:
    whole = tmp_path / "whole.mp4"
    ffmpeg("-i", str(BRIDGE), "-c", "copy", "-movflags", "+faststart", str(whole))
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # the index is at the front: the first half still plays
    out = tmp_path / "out"
    proc = analyze(cut, "--exercise", "glute_bridge", "--out", out)
    line = one_line(proc)
    assert "cut.mp4 ends early" in line
    session = json.loads((out / "session.json").read_text(encoding="utf-8"))
    validate_session(session)
    (part,) = session["source"]["unusable"]
    assert part["reason"] == ENDS_EARLY
    assert 0.2 * BRIDGE_S < part["start_s"] < 0.8 * BRIDGE_S
    assert part["end_s"] == pytest.approx(BRIDGE_S, abs=0.1)
    frames = session["source"]["frames"]
    assert 0 < frames < 410 and part["start_s"] == pytest.approx((frames - 1) / 30.0, abs=0.05)
    assert [r["number"] for r in session["reps"] if r["number"]], "the usable part holds reps"
    for name in ("report.html", "annotated.mp4", "frames.csv", "landmarks.trc"):
        assert (out / name).stat().st_size > 0, name
    assert "Not analysed:" in proc.stdout


@pytest.mark.slow
def test_folder_with_a_broken_video_analyses_the_others(tmp_path: Path, model_path: Path) -> None:
    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(BRIDGE, folder / "a_good.mp4")
    (folder / "b_broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500)
    out = tmp_path / "out"
    line = one_line(analyze(folder, "--exercise", "glute_bridge", "--out", out, "--no-video"))
    assert "b_broken.mp4" in line and "a_good" not in line
    session = json.loads((out / "a_good" / "session.json").read_text(encoding="utf-8"))
    assert len([r for r in session["reps"] if r["number"]]) == 5
    assert not (out / "b_broken" / "session.json").exists()


@pytest.mark.slow
def test_other_exercise_than_named_gives_no_verdicts(tmp_path: Path, model_path: Path) -> None:
    out = tmp_path / "out"
    proc = analyze(BRIDGE, "--exercise", "ball_squat", "--out", out, "--no-video")
    line = one_line(proc)
    assert "No ball squat was analysed" in line and "Is 'ball_squat' the exercise" in line
    assert "from the side" in line and "from the front" in line
    session = json.loads((out / "session.json").read_text(encoding="utf-8"))
    validate_session(session)
    assert session["view"]["id"] is None and session["summary"] is None
    assert session["reps"] == [] and session["holds"] == []
    assert " of 10 reps" not in proc.stdout  # no count, no score
    assert (out / "report.html").exists()


# ---------------------------------------------------------------------------------------------
# the API on synthetic tracks (given as pass 1's result): unscored checks, review problems
# ---------------------------------------------------------------------------------------------


def review_track(tmp_path: Path, track: PoseTrack, exercise: str, model_path: Path) -> review.ReviewOutput:
    """``review_video`` given ``track`` as pass 1's result, on a blank video of the same length."""
    video = blank_video(tmp_path / "synthetic.mp4", len(track), (track.width, track.height))
    with VideoFileSource(video) as source:
        pass
    out = tmp_path / "out"
    return review_video(video, find_spec(exercise), out, model_path, video=False, estimated=(track, source))


def test_check_the_view_cannot_show_is_unscored_with_its_reason(tmp_path: Path, model_path: Path) -> None:
    # A low side camera cannot see one hip below the other: level_pelvis needs a raised camera.
    track, _truth = bridge_side_view(reps=5, drop_rep=2, raised=False)
    output = review_track(tmp_path, track, "glute_bridge", model_path)
    session = json.loads((tmp_path / "out" / "session.json").read_text(encoding="utf-8"))
    validate_session(session)
    assert output.problems == []
    (unscored,) = session["unscored_checks"]
    assert unscored["check_id"] == "level_pelvis"
    reason = unscored["reason"]
    assert reason.startswith("not visible from") and "to check it:" in reason
    reps = [r for r in session["reps"] if r["number"]]
    assert len(reps) == 5
    for rep in reps:
        check = next(c for c in rep["checks"] if c["id"] == "level_pelvis")
        assert (check["scored"], check["passed"], check["reason"]) == (False, None, reason)
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert html.escape(reason) in report


def test_review_problems_name_what_is_missing(tmp_path: Path, model_path: Path) -> None:
    # A side-view bridge reviewed as a ball squat (checked from the front): no view, no verdicts.
    track, _truth = bridge_side_view(reps=3, drop_rep=None)
    output = review_track(tmp_path, track, "ball_squat", model_path)
    (problem,) = output.problems
    assert problem.startswith("No ball squat was analysed in synthetic.mp4")
    assert output.session["reps"] == [] and output.session["summary"] is None


def test_no_reps_of_a_matching_view_is_a_problem(tmp_path: Path, model_path: Path) -> None:
    # The right view but the person only lies still: nothing of the exercise was done.
    track, _truth = bridge_side_view(reps=0, drop_rep=None)
    output = review_track(tmp_path, track, "glute_bridge", model_path)
    assert output.problems == [
        "No glute bridge reps were found in synthetic.mp4. Is 'glute_bridge' the exercise in this video?"
    ]
