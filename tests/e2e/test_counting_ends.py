"""A rep cut off by the end of a real recording: reported as not finished, not dropped.

A rendered glute bridge from ``sample_videos/`` is cut with ffmpeg part way through its fifth rep,
then reviewed with the real pose model as ``siform analyze`` does: four reps are counted and the
fifth is in ``session.json`` as ``not_finished``, from where it left the floor to the last frame.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

from siform.review import review_video
from siform.session import validate_session
from siform.specs.load import find_spec

from conftest import ROOT

pytestmark = pytest.mark.slow

CLIP = ROOT / "sample_videos" / "bridge_high_right.mp4"
CUT_S = 11.6  # rep 5 lifts from 10.27 s and is at the top here


def test_a_rep_cut_off_by_the_end_of_the_video_is_not_finished(tmp_path: Path, model_path: Path) -> None:
    truth = json.loads(CLIP.with_suffix(".truth.json").read_text(encoding="utf-8"))
    cut = tmp_path / "cut.mp4"
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    cmd = [ffmpeg, "-loglevel", "error", "-i", str(CLIP), "-t", str(CUT_S), "-an", str(cut)]
    subprocess.run(cmd, check=True)
    review_video(cut, find_spec("glute_bridge"), tmp_path / "out", model_path, video=False)
    doc = json.loads((tmp_path / "out" / "session.json").read_text(encoding="utf-8"))
    validate_session(doc)

    reps = doc["reps"]
    assert [(r["number"], r["outcome"]) for r in reps] == [(1, "complete"), (2, "complete"), (3, "complete"),
                                                            (4, "complete"), (0, "not_finished")]  # fmt: skip
    last = reps[-1]
    fifth = truth["meta"]["rep_truth"][4]
    assert last["start_ms"] / 1000 == pytest.approx(fifth["start_s"], abs=0.5)
    assert last["end_ms"] / 1000 == pytest.approx(CUT_S, abs=0.15)  # the last frame of the video
    assert last["duration_s"] == pytest.approx((last["end_ms"] - last["start_ms"]) / 1000)
    assert last["checks"] == [] and last["score"] is None
    summary = doc["summary"]
    assert (summary["done"], summary["not_finished"], summary["attempts_not_counted"]) == (4, 1, 1)
