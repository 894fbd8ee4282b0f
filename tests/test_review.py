"""The review job on bad input: one clear line, exit code 1, and nothing already written is lost.

The command line runs as a user runs it (a subprocess, stderr captured: no progress bar, so every
stderr line is a message). A check the camera view cannot show is tested through the Python API on
a synthetic low side-view bridge, which no real clip offers.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import markupsafe
import numpy as np
import pytest

from siform import review
from siform.errors import InputError, OutputError
from siform.pose import PoseTrack
from siform.review import ENDS_EARLY, check_out_dir, review_video
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
    # The posture gate rules a standing exercise out for a person lying down, and says so.
    assert line.startswith("siform: No ball squat was analysed in bridge_raised_side.mp4: ")
    assert "lying on their back" in line and "done standing" in line
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
    assert str(markupsafe.escape(reason)) in report  # escaped as the report's template escapes it


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


# ---------------------------------------------------------------------------------------------
# outputs: all or none, never mixed with an earlier run's, and nothing left by an interruption
# ---------------------------------------------------------------------------------------------


def folder_state(folder: Path) -> dict[str, bytes | None]:
    """Every file's bytes and every sub-folder (None) below ``folder``, by relative path."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


def test_a_run_replaces_every_output_of_the_run_before(tmp_path: Path, model_path: Path) -> None:
    """A --no-video report after a run with video, or a ball-squat report after a bridge run, leaves
    no annotated.mp4 of the earlier run beside it; a file of the user's own is never touched."""
    track, _truth = bridge_side_view(reps=2, drop_rep=None)
    video = blank_video(tmp_path / "synthetic.mp4", len(track), (track.width, track.height))
    with VideoFileSource(video) as source:
        pass
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("the therapist's own notes\n", encoding="utf-8")
    # What a review killed outright (SIGKILL: no cleanup) left behind, named with its process id.
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    abandoned = out / f"{review.STAGING_PREFIX}{int(gone.stdout)}-x1y2"
    abandoned.mkdir()
    (abandoned / "session.json").write_text("{}", encoding="utf-8")

    def run(exercise: str, with_video: bool) -> review.ReviewOutput:
        output = review_video(video, find_spec(exercise), out, model_path, video=with_video,
                              estimated=(track, source))  # fmt: skip
        assert output.out_dir == out
        assert all(path.parent == out and path.is_file() for path in output.files.values())
        return output

    first = run("glute_bridge", True)
    assert sorted(p.name for p in out.iterdir()) == sorted([*review.OUTPUT_NAMES, "notes.txt"])
    assert not abandoned.exists()
    assert first.files["video"] == out / "annotated.mp4"
    run("glute_bridge", False)
    assert not (out / "annotated.mp4").exists()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [n for n in review.OUTPUT_NAMES if n != "annotated.mp4"] + ["notes.txt"]
    )
    run("glute_bridge", True)
    squat = run("ball_squat", True)  # seen from the side: no view, so no video is made
    assert "video" not in squat.files and not (out / "annotated.mp4").exists()
    assert json.loads((out / "session.json").read_text(encoding="utf-8"))["exercise"]["id"] == "ball_squat"
    assert (out / "notes.txt").read_text(encoding="utf-8") == "the therapist's own notes\n"


def test_a_failed_review_creates_no_folder(tmp_path: Path, model_path: Path) -> None:
    video = blank_video(tmp_path / "empty_room.mp4", 45)
    out = tmp_path / "new" / "deeper"
    with pytest.raises(InputError, match="Nobody was found"):
        review_video(video, find_spec("glute_bridge"), out, model_path, video=False)
    assert not (tmp_path / "new").exists()


def test_a_path_that_cannot_hold_the_outputs_is_refused_before_pass_1(tmp_path: Path) -> None:
    a_file = tmp_path / "results"
    a_file.write_text("not a folder\n", encoding="utf-8")
    with pytest.raises(OutputError, match=r"results is a file, not a folder"):
        check_out_dir(a_file)
    with pytest.raises(OutputError, match=r"cannot be made: .*results is a file"):
        check_out_dir(a_file / "bridge")
    (tmp_path / "out" / "report.html").mkdir(parents=True)  # a folder where a file must go
    with pytest.raises(OutputError, match=r"holds a folder called report\.html"):
        check_out_dir(tmp_path / "out")
    check_out_dir(tmp_path / "not" / "yet" / "made")  # made when the review starts
    assert not (tmp_path / "not").exists()


def _default_sigint() -> None:
    """A shell starts background jobs with SIGINT ignored, and Python keeps it so: a test run from
    one would never see Ctrl-C reach siform. Restore what a terminal gives."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_interrupted_review_leaves_the_folder_as_it_was(tmp_path: Path, model_path: Path) -> None:
    """Ctrl-C or SIGTERM at several moments of a review (model loading, pass 1 on two lanes, the
    analysis, pass 2): exit 130 or 143 with one line, never MediaPipe's SIGABRT ("terminate called
    without an active exception", 14 of 32 Ctrl-Cs before the lanes were joined), and the output
    folder byte for byte as before, with no staging folder left in it. The moments are shares of
    an uninterrupted review's time on this machine, so a fast machine is interrupted as early."""

    def start(out: Path) -> tuple[subprocess.Popen[str], float]:
        """A review into ``out``, and the time its staging folder appeared (its work begins)."""
        cmd = [sys.executable, "-m", "siform", "analyze", BRIDGE, "-e", "glute_bridge", "--out", out]
        proc = subprocess.Popen(list(map(str, cmd)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, preexec_fn=_default_sigint)  # fmt: skip
        deadline = time.monotonic() + 120
        while not (out.is_dir() and any(p.name.startswith(review.STAGING_PREFIX) for p in out.iterdir())):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the review never started"
            time.sleep(0.02)
        return proc, time.monotonic()

    proc, began = start(tmp_path / "whole")
    _stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    review_s = time.monotonic() - began

    out = tmp_path / "out"
    earlier_results(out)
    (out / "annotated.mp4").write_bytes(b"an earlier video")
    before = folder_state(out)
    shares = [0.01, 0.1, 0.25, 0.4, 0.55, 0.7]  # not later: a signal as the process exits kills it
    for k, share in enumerate(shares):
        sig = (signal.SIGINT, signal.SIGTERM)[k % 2]
        proc, began = start(out)
        time.sleep(max(0.0, began + share * review_s - time.monotonic()))
        assert proc.poll() is None, f"the review ended within {share:.0%} of {review_s:.1f} s"
        proc.send_signal(sig)
        _stdout, stderr = proc.communicate(timeout=120)
        want = 130 if sig == signal.SIGINT else 143
        # After a Ctrl-C that passed through some import machinery, CPython itself may end the
        # process by SIGINT once siform returned 130 (-2 here): what a shell shows as 130 too.
        assert proc.returncode in ((want, -2) if want == 130 else (want,)), (
            sig.name,
            share,
            proc.returncode,
            stderr,
        )
        assert "terminate called" not in stderr and "Traceback" not in stderr
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert lines == ["siform: interrupted." if want == 130 else "siform: stopped (SIGTERM)."], (
            share,
            stderr,
        )
        assert folder_state(out) == before, (sig.name, share)
