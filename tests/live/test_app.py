"""``siform live`` as a patient's terminal runs it: a real clip through the real model, headless.

End to end (session.json, the annotated video, --record), a ``kill -9`` in the middle of a set that
loses no finished rep, a red flag at the check-in, and the one-line errors.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from siform.live.journal import JOURNAL_FILE, recover_journals
from siform.session import validate_session

from conftest import ROOT

CLIP = ROOT / "sample_videos" / "bridge_high_right.mp4"  # 5 bridges in 13.3 s at 15 fps
CHECKIN = ["--pain", "2", "--red-flags", "none"]


def _live(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "siform", "live", *args],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT,
    )  # fmt: skip


def test_headless_run_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "session"
    annotated = tmp_path / "annotated.mp4"
    proc = _live("glute_bridge", "--source", str(CLIP), "--pace", "fast", "--no-window", "--mute",
                 "--sets", "1", "--reps", "10", "--out", str(out), "--save-annotated", str(annotated),
                 "--record", "--patient", "p-17", *CHECKIN)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    rep_lines = [line for line in proc.stdout.splitlines() if line.startswith("Set 1: Rep ")]
    assert [line.split(":")[1].strip() for line in rep_lines] == [f"Rep {n}" for n in range(1, 6)]
    doc = json.loads((out / "session.json").read_text(encoding="utf-8"))
    validate_session(doc)
    assert doc["mode"] == "live" and doc["patient"] == "p-17" and doc["recorded"] is True
    assert doc["checkin"]["pain"] == 2
    assert [r["number"] for r in doc["reps"] if r["number"]] == [1, 2, 3, 4, 5]
    assert all(r["set"] == 1 for r in doc["reps"])
    assert not (out / JOURNAL_FILE).exists()  # finalised: the journal is folded into session.json
    # the annotated video and the raw recording play for as long as the clip
    for video in (annotated, out / "recording.mp4"):
        cap = cv2.VideoCapture(str(video))
        frames, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), cap.get(cv2.CAP_PROP_FPS)
        ok, image = cap.read()
        cap.release()
        assert ok and image.shape[:2] == (480, 640)
        assert abs(frames / fps - 13.3) < 0.5, (video, frames, fps)


def test_no_raw_video_without_record(tmp_path: Path) -> None:
    proc = _live("glute_bridge", "--source", str(CLIP), "--pace", "fast", "--no-window", "--mute",
                 "--out", str(tmp_path), *CHECKIN)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["session.json"]
    assert json.loads((tmp_path / "session.json").read_text(encoding="utf-8"))["recorded"] is False


def test_kill_9_mid_set_keeps_every_finished_rep(tmp_path: Path) -> None:
    """Each rep line is printed after its rep is on disk: kill -9 after the second one and every rep
    printed must be in the journal, and in the session recovered from it."""
    out = tmp_path / "session"
    proc = subprocess.Popen(
        [sys.executable, "-m", "siform", "live", "glute_bridge", "--source", str(CLIP), "--pace", "realtime",
         "--no-window", "--mute", "--out", str(out), *CHECKIN],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    printed: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        while len(printed) < 2 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("Set 1: Rep "):
                printed.append(line)
        assert len(printed) == 2, proc.stderr.read() if proc.stderr else ""
        os.kill(proc.pid, signal.SIGKILL)  # mid-set: the clip has three more bridges
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "session.json").exists()
    lines = [
        json.loads(x) for x in (out / JOURNAL_FILE).read_text(encoding="utf-8").splitlines() if x.strip()
    ]
    journalled = [x["record"]["number"] for x in lines if x.get("type") == "rep" and x["record"]["number"]]
    assert journalled[:2] == [1, 2]
    (session,) = recover_journals(out)
    doc = json.loads(session.read_text(encoding="utf-8"))
    validate_session(doc)
    assert doc["interrupted"] is True
    assert [r["number"] for r in doc["reps"] if r["number"]][:2] == [1, 2]


def test_red_flag_stops_before_the_camera(tmp_path: Path) -> None:
    from siform.specs.load import find_spec

    flag = find_spec("glute_bridge").checkin_red_flags()[0].id
    proc = _live("glute_bridge", "--source", str(CLIP), "--no-window", "--mute", "--out", str(tmp_path),
                 "--pain", "3", "--red-flags", flag)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "session.json").read_text(encoding="utf-8"))
    assert doc["reps"] == [] and flag in json.dumps(doc["checkin"])


@pytest.mark.parametrize(
    ("args", "env_extra", "words"),
    [
        (["no_such_exercise", "--source", str(CLIP), "--no-window"], {}, "no_such_exercise"),
        (["glute_bridge", "--source", "missing.mp4", "--no-window", *CHECKIN], {}, "does not exist"),
        (["glute_bridge", "--pace", "fast", "--no-window", *CHECKIN], {}, "--source"),
        (
            ["glute_bridge", "--source", str(CLIP), *CHECKIN],
            {"DISPLAY": "", "WAYLAND_DISPLAY": ""},
            "--no-window",
        ),
    ],
)
def test_errors_are_one_line(tmp_path: Path, args: list[str], env_extra: dict[str, str], words: str) -> None:
    env = {**os.environ, **env_extra}
    proc = _live(*args, "--out", str(tmp_path / "o"), env=env, timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("siform: ") and words in lines[0], proc.stderr
    assert not (tmp_path / "o").exists()  # a session that never began leaves nothing behind


def test_ctrl_c_ends_the_session_with_its_file(tmp_path: Path) -> None:
    """Ctrl-C is how a headless session is ended: the set under way is judged and written."""
    out = tmp_path / "session"
    proc = subprocess.Popen(
        [sys.executable, "-m", "siform", "live", "glute_bridge", "--source", str(CLIP), "--pace", "realtime",
         "--no-window", "--mute", "--out", str(out), *CHECKIN],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        printed = 0
        while printed < 2:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            printed += line.startswith("Set 1: Rep ")
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert err.strip().splitlines() == ["siform: interrupted."]
    assert f"Session: {out / 'session.json'}" in rest
    doc = json.loads((out / "session.json").read_text(encoding="utf-8"))
    validate_session(doc)
    assert doc["interrupted"] is False  # ended by the person, not lost
    assert [r["number"] for r in doc["reps"] if r["number"]][:2] == [1, 2]
    assert not (out / JOURNAL_FILE).exists()
