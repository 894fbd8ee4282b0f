"""Speaking a cue aloud, offline, without ever holding up the frame loop.

A patient lying on a mat cannot read the screen at every rep, so each new cue is also spoken by
the system's own offline voice: espeak-ng (or espeak) on Linux, ``say`` on macOS, the Windows
speech API through PowerShell. Nothing is sent anywhere and no model is downloaded.

:meth:`Speaker.speak` only hands the text to a worker thread and returns (microseconds); the
worker starts the engine as a child process. One utterance at a time: a newer cue *replaces* the
one being spoken (that process is stopped), because the newest cue is about what the person is
doing now, and a queue would fall further behind at every rep. The :class:`~siform.live.cues.CueGate`
already spaces cues seconds apart, so a cut happens only when a rep's news arrives mid-sentence.

With no engine on the system, or ``muted``, nothing is spoken; a missing engine is said once in
the log ("cues are on screen only").
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

RATE_WPM = 155
"""A little slower than espeak-ng's default 175: heard from 2-3 m while exercising."""

_WINDOWS_SCRIPT = (
    "Add-Type -AssemblyName System.Speech; "
    "$s = New-Object System.Speech.Synthesis.SpeechSynthesizer; "
    "$s.Speak([Console]::In.ReadToEnd())"
)


def find_engine(platform: str | None = None) -> list[str] | None:
    """The command that speaks text read from its standard input on this system, or None.

    The text goes through stdin, never the command line, so a cue can never be read as an option."""
    platform = platform or sys.platform
    if platform == "darwin":
        say = shutil.which("say")
        return [say, "-r", str(RATE_WPM), "-f", "-"] if say else None
    if platform.startswith("win"):
        ps = shutil.which("powershell") or shutil.which("pwsh")
        return [ps, "-NoProfile", "-NonInteractive", "-Command", _WINDOWS_SCRIPT] if ps else None
    for name in ("espeak-ng", "espeak"):
        exe = shutil.which(name)
        if exe:
            return [exe, "-s", str(RATE_WPM), "--stdin"]
    return None


_SPOKEN = [
    (re.compile(r"(\d+) ?/ ?100\b"), r"\1 out of 100"),
    (re.compile(r"±"), " plus or minus "),
    (re.compile(r"°"), " degrees"),
    (re.compile(r"\s*[—–]\s*"), ", "),
    (re.compile(r"(\d) s\b"), r"\1 seconds"),
    (re.compile(r"(\d) m\b"), r"\1 metres"),
    (re.compile(r"[✓✗…]"), ""),
    (re.compile(r"\s+"), " "),
]


def speakable(text: str) -> str:
    """Signs a voice would misread, in words: "71 / 100" -> "71 out of 100", "±" -> "plus or
    minus", "9°" -> "9 degrees", "2.5 s" -> "2.5 seconds"."""
    for pattern, repl in _SPOKEN:
        text = pattern.sub(repl, text)
    return text.strip()


class Speaker:
    """Speaks cues one at a time in the background; see the module docstring for the policy.

    ``engine`` is the command (reading text on stdin) to use instead of the system's own; ``muted``
    speaks nothing. Call :meth:`close` at the end (it stops any utterance under way).
    """

    def __init__(self, muted: bool = False, engine: Sequence[str] | None = None) -> None:
        self.muted = muted
        self.engine = list(engine) if engine is not None else (None if muted else find_engine())
        self._cond = threading.Condition()
        self._next: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._closed = False
        self._started = 0
        self._handing = False
        self._thread: threading.Thread | None = None
        if not muted and self.engine is None:
            log.warning(
                "No speech engine found (espeak-ng on Linux, 'say' on macOS, PowerShell on Windows): "
                "cues are on screen only."
            )

    @property
    def available(self) -> bool:
        """True when cues will be heard (an engine exists and it is not muted)."""
        return not self.muted and self.engine is not None

    @property
    def utterances(self) -> int:
        """How many utterances the engine has been started for (for tests and the journal)."""
        return self._started

    def speak(self, text: str) -> None:
        """Say ``text`` as soon as possible, replacing anything still being said; returns at once."""
        text = speakable(text)
        if not text or not self.available or self._closed:
            return
        with self._cond:
            self._next = text
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="siform-speech", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._next is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                text, self._next = self._next, None
                self._handing = True
            try:
                self._stop_current()
                self._start(text)
            finally:
                self._handing = False

    def _start(self, text: str) -> None:
        assert self.engine is not None
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)
        try:
            proc = subprocess.Popen(
                self.engine, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, creationflags=flags,
            )  # fmt: skip
        except OSError as exc:
            log.warning("The speech engine %s could not start (%s): cues are on screen only.",
                        Path(self.engine[0]).name, exc)  # fmt: skip
            self.engine = None
            return
        self._proc = proc
        self._started += 1
        try:
            assert proc.stdin is not None
            proc.stdin.write(text.encode("utf-8"))
            proc.stdin.close()
        except OSError:  # the engine ended at once (no audio device): nothing more to do
            pass

    def _stop_current(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def speaking(self) -> bool:
        """True while an utterance (or one handed over and not yet started) is under way."""
        proc = self._proc
        return self._next is not None or self._handing or (proc is not None and proc.poll() is None)

    def wait(self, timeout: float = 10.0) -> bool:
        """Block until nothing is being said (e.g. the last summary before exit); True if so."""
        end = time.monotonic() + timeout
        while self.speaking():
            if time.monotonic() > end:
                return False
            time.sleep(0.02)
        return True

    def close(self) -> None:
        """Stop speaking and end the worker thread."""
        with self._cond:
            self._closed = True
            self._next = None
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._stop_current()

    def __enter__(self) -> Speaker:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def render_wav(text: str, path: Path, engine: Sequence[str] | None = None) -> Path:
    """Write what the cue sounds like to a WAV file with espeak-ng/espeak (``-w``): lets a test,
    or a therapist checking a spec's wording, hear a cue without a sound card."""
    cmd = list(engine) if engine is not None else find_engine("linux")
    if cmd is None or Path(cmd[0]).name not in ("espeak-ng", "espeak"):
        raise RuntimeError("writing a WAV needs espeak-ng or espeak")
    subprocess.run([*cmd, "-w", str(path)], input=speakable(text).encode("utf-8"), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)  # fmt: skip
    return path
