from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from conftest import write_video


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
