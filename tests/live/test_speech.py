"""Spoken cues: the system's offline voice, started in the background, one utterance at a time.

The audio test uses espeak-ng itself (its ``-w`` writes what it would say to a WAV file), on a
real sentence built from the shipped spec, and checks that the file holds speech, not silence.
"""

from __future__ import annotations

import logging
import shutil
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from siform.live.cues import rep_message
from siform.live.speech import Speaker, find_engine, render_wav, speakable
from siform.pipeline import analyze_track
from siform.specs.load import find_spec

from factories import bridge_side_view

needs_espeak = pytest.mark.skipif(
    not (shutil.which("espeak-ng") or shutil.which("espeak")), reason="no espeak-ng on this system"
)


def test_signs_are_said_in_words() -> None:
    said = speakable("Rep 3: 71 / 100. Pelvis: +0.049 (allowed: within ±0.025) — 9.5° after 2.0 s, 2-3 m")
    assert "71 out of 100" in said and "plus or minus 0.025" in said and "9.5 degrees" in said
    assert "2.0 seconds" in said and "3 metres" in said and "—" not in said and "/" not in said


@needs_espeak
def test_espeak_is_found_and_reads_its_text_from_stdin() -> None:
    engine = find_engine("linux")
    assert engine is not None and Path(engine[0]).name in ("espeak-ng", "espeak") and "--stdin" in engine


@needs_espeak
def test_a_real_cue_becomes_audible_speech(tmp_path: Path) -> None:
    spec = find_spec("glute_bridge")
    track, _truth = bridge_side_view(reps=3, drop_rep=1)
    rep = analyze_track(track, spec).reps[1]
    assert rep.failed
    path = render_wav(rep_message(rep, spec), tmp_path / "cue.wav")
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2
        rate, n = w.getframerate(), w.getnframes()
        samples = np.frombuffer(w.readframes(n), dtype=np.int16).astype(np.float64)
    seconds = n / rate
    assert 4.0 < seconds < 40.0  # a sentence of ~30 words at 155 words a minute
    rms = float(np.sqrt(np.mean(samples**2)))
    assert rms > 500.0  # int16 full scale is 32767; silence is 0
    # speech all along, not a click: most 100 ms windows carry sound
    win = rate // 10
    loud = [np.abs(samples[k : k + win]).max() > 1000 for k in range(0, len(samples) - win, win)]
    assert sum(loud) / len(loud) > 0.6


@needs_espeak
def test_speak_returns_at_once_and_the_engine_runs() -> None:
    with Speaker() as speaker:
        assert speaker.available
        times = []
        for text in ["Keep both hips at the same height as you lift.", "Rep 4: 100 / 100. Good form."]:
            t0 = time.perf_counter()
            speaker.speak(text)
            times.append(time.perf_counter() - t0)
            time.sleep(0.3)
        assert max(times) < 0.05, times
        assert speaker.wait(timeout=30.0)
        assert speaker.utterances == 2


def test_a_newer_cue_replaces_the_one_being_spoken(tmp_path: Path) -> None:
    """A stand-in engine that takes 5 s per utterance and logs what it was given: the second cue
    must start long before the first would have ended (no queue), and both reached an engine."""
    heard = tmp_path / "heard.txt"
    slow = ["sh", "-c", 'cat >> "$0"; echo >> "$0"; sleep 5', str(heard)]
    with Speaker(engine=slow) as speaker:
        t0 = time.monotonic()
        speaker.speak("first cue")
        time.sleep(0.5)
        speaker.speak("second cue")
        assert speaker.wait(timeout=20.0)
        elapsed = time.monotonic() - t0
    assert heard.read_text().split("\n")[:2] == ["first cue", "second cue"]
    assert speaker.utterances == 2
    assert elapsed < 8.0  # 0.5 s + 5 s for the second; a queue would take 10 s


def test_muted_speaks_nothing(tmp_path: Path) -> None:
    heard = tmp_path / "heard.txt"
    with Speaker(muted=True, engine=["sh", "-c", 'cat >> "$0"', str(heard)]) as speaker:
        speaker.speak("Keep both hips level.")
        assert not speaker.available and speaker.wait(1.0)
    assert speaker.utterances == 0 and not heard.exists()


def test_no_engine_says_once_that_cues_are_on_screen_only(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert find_engine("linux") is None
    with caplog.at_level(logging.WARNING, logger="siform.live.speech"):
        speaker = Speaker()
        for _ in range(5):
            speaker.speak("Keep both hips level.")
        speaker.close()
    warnings = [r for r in caplog.records if "on screen only" in r.getMessage()]
    assert len(warnings) == 1 and not speaker.available and speaker.utterances == 0


def test_an_engine_that_cannot_start_is_reported_and_dropped(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="siform.live.speech"),
        Speaker(engine=["/nonexistent/espeak-ng"]) as speaker,
    ):
        speaker.speak("one")
        assert speaker.wait(5.0)
        speaker.speak("two")
        assert speaker.wait(5.0)
    assert sum("on screen only" in r.getMessage() for r in caplog.records) == 1
    assert not speaker.available


@pytest.mark.parametrize(
    ("platform", "exe", "expect"),
    [
        ("darwin", "say", ["-r", "155", "-f", "-"]),
        ("win32", "powershell", ["-NoProfile", "-NonInteractive", "-Command"]),
        ("linux", "espeak-ng", ["-s", "155", "--stdin"]),
    ],
)
def test_each_system_has_its_own_offline_voice_reading_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, platform: str, exe: str, expect: list[str]
) -> None:
    """The command each system would run, found on PATH (here a stand-in file of that name)."""
    stand_in = tmp_path / exe
    stand_in.write_text("#!/bin/sh\n")
    stand_in.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    engine = find_engine(platform)
    assert engine is not None and engine[0] == str(stand_in)
    assert engine[1 : 1 + len(expect)] == expect
    if platform == "win32":
        assert "System.Speech" in engine[-1] and "[Console]::In.ReadToEnd()" in engine[-1]
