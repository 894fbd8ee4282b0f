"""The accuracy benchmark's own arithmetic, and a fast subset of it on real sample clips.

The full benchmark (every clip of ``sample_videos/``) runs by hand: ``python benchmarks/accuracy.py``.
Here a few clips go through it in CI, so a change that breaks its matching or counting, or that
drops the subset below the issue's targets, shows at once.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from siform.results import Rep

from conftest import ROOT


def _load() -> ModuleType:
    path = ROOT / "benchmarks" / "accuracy.py"
    spec = importlib.util.spec_from_file_location("accuracy", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["accuracy"] = mod
    spec.loader.exec_module(mod)
    return mod


acc = _load()

FAST_SUBSET = ["bridge_raised_side", "adduction_front", "ballsquat_front", "pelvic_list_left"]
# The signal targets, on the signals of the subset that measure them: trunk lean and the pelvis's
# drop in degrees, the knee gap ratio in percentage points.
SIGNAL_TARGETS = {"band_adduction.trunk": 2.0, "pelvic_list.drop": 2.0, "pelvic_list.trunk": 2.0,
                  "ball_squat.knees": 5.0}  # fmt: skip


def rep(start: int, end: int, top: tuple[int, int] | None = None, peak: int | None = None) -> Rep:
    return Rep(number=1, side=None, outcome="complete", start_ms=start * 33, end_ms=end * 33,
               peak_ms=0, start_index=start, end_index=end, peak_index=peak if peak is not None else start,
               peak_value=0.0, top_start_index=top[0] if top else None,
               top_end_index=top[1] if top else None, checks=(), score=None)  # fmt: skip


def truth_of(reps: list[tuple[int, int]], n: int) -> dict[str, Any]:
    frames = [{"frame": i, "rep": -1} for i in range(n)]
    for k, (s, e) in enumerate(reps):
        for i in range(s, e + 1):
            frames[i]["rep"] = k
    return {"frames": frames}


def test_counts_turn_verdicts_into_precision_recall_f1() -> None:
    c = acc.Counts()
    for expected, predicted in [(True, True), (True, True), (True, False), (False, True), (False, False),
                                (False, None), (True, None)]:  # fmt: skip
        c.add(expected, predicted)
    assert (c.tp, c.fp, c.fn, c.tn, c.unscored) == (2, 1, 2, 1, 1)
    assert c.precision == pytest.approx(2 / 3)
    assert c.recall == pytest.approx(2 / 4)
    assert c.f1 == pytest.approx(2 * 2 / (2 * 2 + 1 + 2))


def test_the_closest_call_is_the_reading_nearest_to_turning_its_verdict() -> None:
    class R:
        def __init__(self, value: float, lo: float | None = None, hi: float | None = None) -> None:
            self.value, self.limit_min, self.limit_max = value, lo, hi

    assert acc.pass_margin(R(0.3, lo=0.24, hi=0.5)) == pytest.approx(0.06)
    assert acc.pass_margin(R(0.012, hi=0.01)) == pytest.approx(-0.002)
    assert acc.pass_margin(R(math.nan, hi=0.01)) is None
    c = acc.Counts()
    c.add(False, False, 0.004, "a rep 1")  # passes 0.004 inside its limit, as it should
    c.add(True, True, -0.001, "a rep 2")  # fails 0.001 beyond it, as it should: the closest call
    c.add(False, False, 0.02, "a rep 3")
    assert (c.closest, c.closest_at) == (pytest.approx(0.001), "a rep 2")
    wrong = acc.Counts()
    wrong.add(True, False, 0.003, "b rep 1")  # a missed fault reads inside the limit: negative
    c.merge(wrong)
    assert (c.closest, c.closest_at) == (pytest.approx(-0.003), "b rep 1")


def test_f1_without_positives_is_perfect_only_when_nothing_was_flagged() -> None:
    clean = acc.Counts(tn=5)
    assert clean.f1 == 1.0
    assert math.isnan(clean.precision)
    assert acc.Counts(tn=4, fp=1).f1 == 0.0


def test_each_truth_rep_gets_the_counted_rep_overlapping_it_most() -> None:
    truth = truth_of([(10, 30), (40, 60), (70, 90)], 100)
    a, b, c = rep(8, 28), rep(29, 62), rep(75, 95)
    matched = acc.match_reps(truth, [a, b, c])
    assert matched == {0: a, 1: b, 2: c}
    # one counted rep spanning two truth reps serves only one of them
    wide = rep(10, 60)
    assert len(acc.match_reps(truth, [wide])) == 1


def test_judged_frames_follow_the_checks_when() -> None:
    r = rep(10, 40, top=(20, 30), peak=25)
    assert acc.judged_frames(r, "top") == range(20, 30)
    assert acc.judged_frames(r, "ascent") == range(10, 21)
    assert acc.judged_frames(r, "descent") == range(30, 41)
    assert acc.judged_frames(r, "peak") == range(25, 26)
    assert acc.judged_frames(r, "rep") == range(10, 41)
    # a rep that never reached the top: its whole span
    assert acc.judged_frames(rep(10, 40), "top") == range(10, 41)


@pytest.fixture(scope="module")
def subset(model_path: Path) -> list[Any]:
    clips = [ROOT / "sample_videos" / f"{stem}.mp4" for stem in FAST_SUBSET]
    return [acc.score_clip(clip, model_path, use_cache=False) for clip in clips]


@pytest.mark.slow
def test_every_truth_verdict_is_counted_once(subset: list[Any]) -> None:
    import json

    for r in subset:
        truth = json.loads((ROOT / "sample_videos" / r.clip).with_suffix(".truth.json").read_text())
        judged = sum(len(rt["checks"]) for rt in truth["meta"]["rep_truth"])
        total = sum(c.tp + c.fp + c.fn + c.tn + c.unscored for c in r.counts.values())
        assert total == judged, r.clip
        wrong = sum(c.fp + c.fn for c in r.counts.values())
        assert wrong <= len(r.disagreements), r.clip


@pytest.mark.slow
def test_fast_subset_counts_reps_exactly(subset: list[Any]) -> None:
    assert [r.clip for r in subset if not r.reps_exact] == []


@pytest.mark.slow
def test_fast_subset_meets_the_f1_targets(subset: list[Any]) -> None:
    summary = acc.summarize(subset)
    assert summary["overall"].f1 >= 0.95
    assert {k: round(c.f1, 2) for k, c in summary["per_check"].items() if c.f1 < 0.9} == {}


@pytest.mark.slow
def test_fast_subset_meets_the_signal_error_targets(subset: list[Any]) -> None:
    rmse = acc.summarize(subset)["rmse_3d"]
    assert set(SIGNAL_TARGETS) <= set(rmse)
    assert {k: round(rmse[k], 2) for k, limit in SIGNAL_TARGETS.items() if not rmse[k] <= limit} == {}


@pytest.mark.slow
def test_the_hip_line_diagnostic_reads_front_views_where_the_pelvis_is_judged(subset: list[Any]) -> None:
    by_clip = {r.clip: r for r in subset}
    # band adduction judges the pelvis at the top of each rep, the pelvic list over the whole rep
    at_tops = len(by_clip["adduction_front.mp4"].hip_line_errors)
    whole_reps = len(by_clip["pelvic_list_left.mp4"].hip_line_errors)
    assert 0 < at_tops < whole_reps
    # not from a raised side camera (no image hip line measures the tilt there), nor without a pelvis truth
    assert by_clip["bridge_raised_side.mp4"].hip_line_errors == []
    assert by_clip["ballsquat_front.mp4"].hip_line_errors == []
