from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, write_video


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "siform", *args], capture_output=True, text=True, timeout=300
    )


def test_help_lists_commands() -> None:
    out = run("--help")
    assert out.returncode == 0
    assert "models" in out.stdout and "pose" in out.stdout


def test_models_second_call_says_nothing_to_do(model_path: Path) -> None:
    out = run("models", "--offline")
    assert out.returncode == 0
    assert "nothing to do" in out.stdout


def test_pose_writes_landmarks(tmp_path: Path, astronaut_bgr, model_path: Path) -> None:
    video = write_video(tmp_path / "astronaut.mp4", [astronaut_bgr] * 4)
    out = run("pose", str(video), "-o", str(tmp_path / "lm.npz"))
    assert out.returncode == 0, out.stderr
    assert "a person found in 4 (100.0%)" in out.stdout
    data = np.load(tmp_path / "lm.npz")
    assert data["image"].shape == (4, 33, 5) and data["world"].shape == (4, 33, 3)
    assert data["size"].tolist() == [512, 512]


def test_bad_input_is_one_line_without_traceback(tmp_path: Path) -> None:
    fake = tmp_path / "holiday.mp4"
    fake.write_text("this is not a video")
    for target in (str(fake), str(tmp_path / "nope.mp4")):
        out = run("pose", target, "-o", str(tmp_path / "x.npz"))
        assert out.returncode == 1
        lines = [line for line in out.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, out.stderr
        assert lines[0].startswith("siform: ") and "Traceback" not in out.stderr


# ---------------------------------------------------------------------------------------------
# no traceback without --debug, ever: one line for every way a run can fail
# ---------------------------------------------------------------------------------------------

BRIDGE = ROOT / "sample_videos" / "bridge_raised_side.mp4"


def only_line(out: subprocess.CompletedProcess[str]) -> str:
    """The one stderr line of a failed run (exit 1, no traceback)."""
    assert out.returncode == 1, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("siform: ")
    return lines[0]


@pytest.fixture
def locked_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder nobody may write to, root included: root ignores permission bits, so as root the
    folder is made immutable (``chattr +i``); otherwise mode 555 does."""
    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "session.json").write_text('{"earlier": true}\n', encoding="utf-8")
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(folder)], capture_output=True).returncode:
        pytest.skip("no way to make a folder read-only for root here (chattr +i)")
    try:
        yield folder
    finally:
        subprocess.run([chattr, "-i", str(folder)], check=True)


def test_out_is_a_file_or_below_one(tmp_path: Path) -> None:
    a_file = tmp_path / "results.txt"
    a_file.write_text("not a folder\n", encoding="utf-8")
    line = only_line(run("analyze", str(BRIDGE), "-e", "glute_bridge", "--out", str(a_file)))
    assert line.startswith(f"siform: Output folder {a_file} is a file, not a folder.")
    below = a_file / "bridge"
    line = only_line(run("analyze", str(BRIDGE), "-e", "glute_bridge", "--out", str(below)))
    assert line.startswith(f"siform: Output folder {below} cannot be made: {a_file} is a file")
    assert a_file.read_text(encoding="utf-8") == "not a folder\n"


def test_out_in_a_read_only_folder(locked_folder: Path) -> None:
    for out in (locked_folder, locked_folder / "new"):
        line = only_line(run("analyze", str(BRIDGE), "-e", "glute_bridge", "--out", str(out)))
        assert line.startswith(f"siform: Output folder {out} cannot be written (")
        assert f": {locked_folder})." in line
    assert [p.name for p in locked_folder.iterdir()] == ["session.json"]


def test_os_error_names_the_path(tmp_path: Path, astronaut_bgr: np.ndarray, locked_folder: Path) -> None:
    """A file system error no check foresaw (here: writing pose's .npz into a read-only folder)."""
    video = write_video(tmp_path / "astronaut.mp4", [astronaut_bgr] * 2)
    target = locked_folder / "lm.npz"
    line = only_line(run("pose", str(video), "-o", str(target)))
    assert line.startswith(f"siform: {target}: ")
    assert line.endswith("Choose a folder you can write to, or check its permissions.")


def test_missing_specs_folder(tmp_path: Path) -> None:
    nowhere = tmp_path / "my_specs"
    for args in (
        ("exercises",),
        ("analyze", str(BRIDGE), "-e", "glute_bridge"),
        ("analyze", str(BRIDGE), "-e", "auto"),
    ):
        line = only_line(run(*args, "--specs", str(nowhere)))
        assert line.startswith(f"siform: Exercise specs folder {nowhere}: no such folder."), args


def test_analyze_reads_the_specs_folder_it_is_given(tmp_path: Path) -> None:
    text = (ROOT / "exercise_specs" / "glute_bridge.toml").read_text(encoding="utf-8")
    (tmp_path / "my_bridge.toml").write_text(
        text.replace('id = "glute_bridge"', 'id = "my_bridge"'), encoding="utf-8"
    )
    line = only_line(run("analyze", str(BRIDGE), "-e", "glute_bridge", "--specs", str(tmp_path)))
    assert line == "siform: No exercise called 'glute_bridge'. Known exercises: my_bridge."


def test_broken_spec_names_file_and_key(tmp_path: Path) -> None:
    text = (ROOT / "exercise_specs" / "glute_bridge.toml").read_text(encoding="utf-8")
    (tmp_path / "glute_bridge.toml").write_text(
        text.replace("cutoff_hz = ", "cutoff_hz = nan #"), encoding="utf-8"
    )
    line = only_line(run("exercises", "--specs", str(tmp_path)))
    want = "glute_bridge.toml: filter.cutoff_hz: must be a finite number (nan and inf are not allowed)"
    assert line == f"siform: {want}"


BROKEN_COMMAND = """
import sys
import siform.cli as cli

def broken(args):  # a bug: what no SiformError foresaw
    return {}["missing key"]

cli.cmd_exercises = broken
sys.exit(cli.main(sys.argv[1:]))
"""


def test_unexpected_error_is_one_line_and_debug_shows_the_traceback() -> None:
    cmd = [sys.executable, "-c", BROKEN_COMMAND]
    out = subprocess.run([*cmd, "exercises"], capture_output=True, text=True, timeout=120)
    assert only_line(out) == (
        "siform: unexpected error (KeyError: 'missing key'). Run again with --debug for details and "
        "please report it."
    )
    out = subprocess.run([*cmd, "--debug", "exercises"], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "Traceback" in out.stderr and "KeyError: 'missing key'" in out.stderr


def test_the_printed_summary_never_rounds_a_lost_point_to_full_marks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The terminal line agrees with the report: 99.6 is 99 / 100, and holds that ended early and
    a rep cut off by the end of the recording are said, each once."""
    from siform.cli import _print_summary

    session = {
        "setup": {"ok": True, "hints": []},
        "exercise": {"name": "Side plank", "kind": "hold"},
        "side": "left",
        "summary": {"done": 2, "prescribed": 3, "mean_score": 99.6, "attempts_not_counted": 2,
                    "not_finished": 1, "holds_short": 1, "most_frequent_fault": None},
        "source": {"unusable": []},
    }  # fmt: skip
    _print_summary(session, {"session": tmp_path / "session.json"})
    line = capsys.readouterr().out.splitlines()[0]
    assert line == (
        "Side plank (left side): 2 of 3 holds, average score 99 / 100, 1 ended before the prescribed "
        "time, 1 attempt(s) not counted (see the report), 1 not finished when the recording ended."
    )



_SIGNAL_DURING_IMPORT = """
import builtins, os, signal, sys
import siform.entry
sig = getattr(signal, sys.argv[1])
real_import = builtins.__import__
def importing(name, *args, **kwargs):
    if name == "siform.cli" and "siform.cli" not in sys.modules:
        os.kill(os.getpid(), sig)  # a real signal, at the worst moment
    return real_import(name, *args, **kwargs)
builtins.__import__ = importing
sys.argv[1:] = ["exercises"]
sys.exit(siform.entry.main())
"""


@pytest.mark.parametrize(
    ("sig", "code", "line"),
    [("SIGINT", 130, "siform: interrupted."), ("SIGTERM", 143, "siform: stopped (SIGTERM).")],
)
def test_a_signal_while_the_command_line_is_imported_is_one_line(sig: str, code: int, line: str) -> None:
    """Importing the command line takes a good part of a second on a slow laptop; a Ctrl-C or
    SIGTERM landing there ends in one line, not in Python's traceback."""
    out = subprocess.run([sys.executable, "-c", _SIGNAL_DURING_IMPORT, sig],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert "Traceback" not in out.stderr
    assert out.stderr.strip() == line
    assert out.returncode == code


_SIGNAL_WHILE_THE_CHARTS_DRAW = """
import os, signal, sys, threading
from pathlib import Path
import siform.entry, siform.review
clip, out, marker = sys.argv[1], sys.argv[2], Path(sys.argv[3])
real_charts = siform.review.report_charts
main_id = threading.main_thread().ident

def main_waits_for_a_thread():
    frame = sys._current_frames().get(main_id)
    while frame is not None:
        if frame.f_code.co_name == "join":
            return True
        frame = frame.f_back
    return False

def charts(*args, **kwargs):
    drawn = real_charts(*args, **kwargs)
    while not main_waits_for_a_thread():  # pass 2 is done, the review waits for the charts
        threading.Event().wait(0.01)
    os.kill(os.getpid(), signal.SIGTERM)  # a real signal, at that moment
    for _ in range(3):  # still inside matplotlib's native code for a while
        real_charts(*args, **kwargs)
    marker.write_text("the charts thread ran to its end", encoding="utf-8")
    return drawn

siform.review.report_charts = charts
sys.argv[1:] = ["analyze", clip, "-e", "glute_bridge", "--out", out]
sys.exit(siform.entry.main())
"""


def test_a_signal_while_the_review_waits_for_its_charts_thread(tmp_path: Path, model_path: Path) -> None:
    """SIGTERM while pass 2 waited for the thread drawing the report's charts used to stop the wait
    and leave that thread drawing; CPython then ended it at exit from inside matplotlib's C++
    code and the process aborted ("terminate called without an active exception", 1 interrupted
    review in 40) after siform had printed its line. Now every helper thread is waited for."""
    clip = ROOT / "sample_videos" / "views" / "bridge_view_high.mp4"
    out, marker = tmp_path / "out", tmp_path / "charts-ended.txt"
    out.mkdir()
    (out / "notes.txt").write_text("the therapist's own notes\n", encoding="utf-8")
    env = dict(os.environ, SIFORM_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-c", _SIGNAL_WHILE_THE_CHARTS_DRAW, str(clip), str(out), str(marker)],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert marker.is_file(), (proc.returncode, proc.stderr[-2000:])
    assert proc.returncode == 143, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == "siform: stopped (SIGTERM)."
    assert "terminate called" not in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]  # left as it was
