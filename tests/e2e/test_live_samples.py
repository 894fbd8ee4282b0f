"""``siform live`` headless on every sample clip equals ``siform analyze`` on it.

Each clip is played once through the live command as fast as it can go (``--source CLIP --pace fast
--no-window``, one set that holds every rep of the clip: ``--sets 1 --reps 99``, the working side as
the review is given it) and its ``session.json`` compared with analyze's (the shared ``runs``
fixture, ``tests/e2e/sample_runs.py``):

- the same number of counted reps (or holds), each starting and ending within
  :data:`TIMING_TOLERANCE_FRAMES` frames of review's (a hold's end within its spec's grace time:
  review's second pose tracker, see ``_mismatches``);
- the same verdict on every check of every rep, except where either reading lies within the
  accuracy benchmark's ``limit_tolerance`` of its limit (1 degree for angles; for ratios 0.01, or a
  quarter of the limit for a check against the person's own reps): there the causal (live) and
  zero-phase (review) filters may fall on either side of the limit, and either verdict is accepted.
  The values themselves are compared, with their documented tolerance, by the engine's parity
  test (``tests/e2e/test_live_parity_samples.py``).

Where live and review disagree beyond that, the case is a strict xfail with the measured reason, so
it turns into a failure the day the disagreement is fixed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from siform.session import validate_session
from siform.specs.load import find_spec

from conftest import ROOT, load_benchmark
from sample_runs import Runs, load_truth, spec_id, truth_side

pytestmark = pytest.mark.slow

acc = load_benchmark("accuracy")  # near_limit: the one tolerance near a limit, as test_samples uses

CLIPS = sorted((ROOT / "sample_videos").glob("*.mp4"))
TIMING_TOLERANCE_FRAMES = 2
"""A rep's start and end, and a hold's start, live against review (measured: equal on every clip)."""

KNOWN_DISCREPANCIES: dict[str, str] = {
    # clip stem -> what live does instead of review (measured 2026-12-03)
    "single_leg_lift_right_ten": "9 of review's 10 reps counted live: rep 9 (23.1-25.3 s) is voided "
    "at 23.9 s: the planted-hip angle that drives the count is undefined for 533 ms live against 467 ms "
    "in review on the same one-lane poses (one frame more of One Euro lag), past the spec's 500 ms "
    "max_gap_ms; review on those poses counts 10",
}


def _items(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if doc["exercise"]["kind"] == "hold":
        return list(doc["holds"])
    return [r for r in doc["reps"] if r["number"]]


def _run_live(clip: Path, out: Path) -> dict[str, Any]:
    truth = load_truth(clip)
    cmd = [sys.executable, "-m", "siform", "live", spec_id(truth), "--source", str(clip), "--pace", "fast",
           "--no-window", "--mute", "--sets", "1", "--reps", "99", "--pain", "0", "--red-flags", "none",
           "--out", str(out)]  # fmt: skip
    side = truth_side(truth)
    if side:
        cmd += ["--side", side]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    doc: dict[str, Any] = json.loads((out / "session.json").read_text(encoding="utf-8"))
    validate_session(doc)
    return doc


def _mismatches(review: dict[str, Any], live: dict[str, Any], fps: float) -> list[str]:
    got, want = _items(live), _items(review)
    if len(got) != len(want):
        return [f"{len(got)} counted live, {len(want)} in review"]
    out = []
    slack = TIMING_TOLERANCE_FRAMES * 1000.0 / fps
    # A hold ends when its conditions have failed for the spec's grace time. Review reads the second
    # half of a clip with a second pose tracker (siform.pose_lanes: up to 2 degrees of a body line on
    # a side plank), live with one tracker from the start, so a hold whose conditions sit on their
    # limit as it ends may end up to that grace apart (measured: side_plank_front_left hold 2 ends
    # 200 ms earlier live, grace 0.5 s).
    hold = find_spec(live["exercise"]["id"]).hold
    end_slack = max(slack, 1000.0 * hold.grace_s) if hold is not None else slack
    for a, b in zip(want, got, strict=True):
        if abs(a["start_ms"] - b["start_ms"]) > slack or abs(a["end_ms"] - b["end_ms"]) > end_slack:
            out.append(
                f"#{a['number']}: review {a['start_ms']}-{a['end_ms']} ms, live {b['start_ms']}-{b['end_ms']}"
            )
        live_checks = {c["id"]: c for c in b["checks"]}
        for c in a["checks"]:
            d = live_checks[c["id"]]
            if c["passed"] == d["passed"]:
                continue
            relative = c.get("baseline") is not None or d.get("baseline") is not None
            if any(
                acc.near_limit(x["value"], x["limit_min"], x["limit_max"], x["unit"], relative)
                for x in (c, d)
            ):
                continue
            verdicts = f"review {c['passed']} ({c['value']}), live {d['passed']} ({d['value']})"
            out.append(f"#{a['number']} {c['id']}: {verdicts}")
    return out


@pytest.mark.parametrize(
    "clip",
    [
        pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=KNOWN_DISCREPANCIES[c.stem]))
        if c.stem in KNOWN_DISCREPANCIES
        else c
        for c in CLIPS
    ],
    ids=[c.stem for c in CLIPS],
)
def test_live_equals_analyze(clip: Path, runs: Runs, tmp_path: Path) -> None:
    review = runs.get(clip, "cli").session
    live = _run_live(clip, tmp_path / "live")
    assert live["mode"] == "live"
    assert live["view"] == review["view"] or review["view"] is None
    assert _mismatches(review, live, float(review["source"]["fps"]) or 30.0) == []
