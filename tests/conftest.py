"""Shared fixtures: the real pose model, real video files made on the fly, offline mode.

Tests never reach outside the package index: SIFORM_OFFLINE makes the model store skip the
download from MediaPipe's storage and build the bundle from the PyPI wheel instead.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np
import pytest

os.environ["SIFORM_OFFLINE"] = "1"
# A test never uses the pairing of the machine it runs on: analyze and live upload automatically
# on a paired machine, so every test (and every siform it starts) gets an empty client folder of its
# own unless it sets one itself.
if "SIFORM_CLIENT_DIR" not in os.environ:
    import tempfile

    os.environ["SIFORM_CLIENT_DIR"] = tempfile.mkdtemp(prefix="siform-test-client-")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The real full pose bundle (built on first use, then reused from models/)."""
    from siform.model_store import ensure_model

    return ensure_model("full").path


@pytest.fixture(scope="session")
def astronaut_bgr() -> np.ndarray:
    """NASA's public-domain portrait of Eileen Collins, as shipped by scikit-image (512x512)."""
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def write_video(path: Path, frames: Iterable[np.ndarray], fps: float = 30.0) -> Path:
    """Write frames with OpenCV's own encoder (MPEG-4 part 2 in .mp4): a real, playable file."""
    frames = list(frames)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def ffmpeg(*args: str) -> None:
    """Run the static ffmpeg binary that the imageio-ffmpeg wheel ships."""
    import imageio_ffmpeg

    exe = imageio_ffmpeg.get_ffmpeg_exe()
    subprocess.run([exe, "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def load_benchmark(name: str) -> ModuleType:
    """A script of benchmarks/ as a module (it is not a package), registered under its own name so
    its dataclasses resolve; the tests score with the benchmark's own rules, not a copy of them."""
    path = ROOT / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory, model_path: Path) -> Any:
    """Every sample clip reviewed once per door for the whole test session (``e2e/sample_runs.py``)."""
    sys.path.insert(0, str(ROOT / "tests" / "e2e"))
    from sample_runs import Runs

    return Runs(tmp_path_factory.mktemp("samples"), model_path)
