"""Each sample clip reviewed once per door (the CLI in a subprocess, the Python API in process) and
kept for the test session: the e2e tests of review and of live coaching read the same runs.

The ``runs`` fixture that hands them out is in the root ``conftest.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siform.review import ReviewOutput, review_video
from siform.specs.load import find_spec


@dataclass
class Run:
    out_dir: Path
    returncode: int
    stdout: str
    stderr: str
    truth: dict[str, Any]
    output: ReviewOutput | None = None
    """The API door's review as returned (with the pose track it judged); None for the CLI door."""

    @property
    def session(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.out_dir / "session.json").read_text(encoding="utf-8"))
        return doc


def load_truth(clip: Path) -> dict[str, Any]:
    truth: dict[str, Any] = json.loads(clip.with_suffix(".truth.json").read_text(encoding="utf-8"))
    return truth


def spec_id(truth: dict[str, Any]) -> str:
    assert truth.get("format") == "siform-synth-truth/2", "re-make the truth: render_samples.py --truth-only"
    spec: str = truth["meta"]["spec"]
    return spec


def truth_side(truth: dict[str, Any]) -> str | None:
    meta = truth["meta"]
    return str(meta["side"]) if meta.get("unilateral") else None


class Runs:
    """Analyses each (clip, door) on first request and keeps the result for the session."""

    def __init__(self, root: Path, model_path: Path) -> None:
        self.root = root
        self.model_path = model_path
        self._done: dict[tuple[Path, str], Run] = {}

    def get(self, clip: Path, door: str) -> Run:
        key = (clip, door)
        if key not in self._done:
            self._done[key] = self._run(clip, door)
        return self._done[key]

    def _run(self, clip: Path, door: str) -> Run:
        truth = load_truth(clip)
        exercise = spec_id(truth)
        side = truth_side(truth)
        out_dir = self.root / door / clip.stem
        if door == "cli":
            cmd = [sys.executable, "-m", "siform", "analyze", str(clip), "--exercise", exercise]
            if side:
                cmd += ["--side", side]
            proc = subprocess.run([*cmd, "--out", str(out_dir)], capture_output=True, text=True, timeout=600)
            return Run(out_dir, proc.returncode, proc.stdout, proc.stderr, truth)
        output = review_video(clip, find_spec(exercise), out_dir, self.model_path, side=side)
        return Run(out_dir, 1 if output.problems else 0, "", "\n".join(output.problems), truth, output)
