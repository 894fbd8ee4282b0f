"""The accuracy benchmark's own arithmetic, and a fast subset of it on real sample clips.

The full benchmark (every clip of ``sample_videos/``) runs by hand: ``python benchmarks/accuracy.py``.
Here a few clips go through it in CI, so a change that breaks its matching or counting, or that
drops the subset below the issue's targets, shows at once.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from siform.results import Rep

from conftest import ROOT, load_benchmark

acc = load_benchmark("accuracy")  # its near_limit is the one tolerance both use

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


# ------------------------------------------------------------------------- tolerance near a limit
def test_the_tolerance_near_a_limit_follows_the_checks_unit() -> None:
    assert acc.limit_tolerance("deg", 168.0, relative=False) == 1.0
    assert acc.limit_tolerance("ratio", 1.05, relative=False) == 0.01  # an absolute ratio
    assert acc.limit_tolerance("ratio", 0.007, relative=True) == pytest.approx(0.00175)  # a quarter of it
    assert acc.limit_tolerance("ratio", -0.025, relative=True) == pytest.approx(0.00625)
    assert acc.limit_tolerance("s", 2.0, relative=False) == 0.0  # no tolerance for what is not measured
    assert acc.near_limit(167.2, 168.0, None, "deg", False)
    assert not acc.near_limit(166.9, 168.0, None, "deg", False)
    assert acc.near_limit(0.0085, None, 0.007, "ratio", True)
    assert not acc.near_limit(0.0095, None, 0.007, "ratio", True)
    assert acc.near_limit(0.245, 0.24, 0.5, "ratio", False)  # the nearer of two limits
    assert not acc.near_limit(0.3, 0.24, 0.5, "ratio", False)
    assert not acc.near_limit(None, None, 0.007, "ratio", True)
    assert not acc.near_limit(math.nan, None, 0.007, "ratio", True)


def _check(
    cid: str, passed: bool | None, value: float | None, lo: float | None = None, hi: float | None = None
) -> dict[str, Any]:
    """A session.json check of an angle read absolutely (no baseline)."""
    return {"id": cid, "scored": passed is not None, "passed": passed, "value": value, "limit_min": lo,
            "limit_max": hi, "unit": "deg", "baseline": None}  # fmt: skip


def _session(reps: list[tuple[int, int, list[dict[str, Any]]]]) -> dict[str, Any]:
    return {"exercise": {"kind": "reps"}, "holds": [],
            "reps": [{"number": i + 1, "start_index": s, "end_index": e, "checks": checks}
                     for i, (s, e, checks) in enumerate(reps)]}  # fmt: skip


def _truth(reps: list[tuple[int, int]], n: int, checks: list[dict[str, bool]]) -> dict[str, Any]:
    doc = truth_of(reps, n)
    doc["meta"] = {"rep_truth": [{"rep": k, "checks": {c: {"fail": f} for c, f in ch.items()}}
                                 for k, ch in enumerate(checks)]}  # fmt: skip
    return doc


def test_verdicts_must_be_the_truths_except_within_the_tolerance_of_their_limit() -> None:
    truth = _truth([(0, 10), (20, 30), (40, 50)], 60,
                   [{"lean": False}, {"lean": True}, {"lean": True}])  # fmt: skip
    right = _session([(0, 10, [_check("lean", True, 3.0, hi=8.0)]),
                      (20, 30, [_check("lean", False, 12.0, hi=8.0)]),
                      (40, 50, [_check("lean", False, 9.0, hi=8.0)])])  # fmt: skip
    assert acc.verdict_mismatches(truth, right) == ([], [])
    # a fault that read 7.5 against 8 passed: within a degree of the limit, either verdict is accepted
    close = _session([(0, 10, [_check("lean", True, 3.0, hi=8.0)]),
                      (20, 30, [_check("lean", True, 7.5, hi=8.0)]),
                      (40, 50, [_check("lean", False, 9.0, hi=8.0)])])  # fmt: skip
    wrong, near = acc.verdict_mismatches(truth, close)
    assert wrong == [] and len(near) == 1 and "rep 2 lean" in near[0]
    # one that read 5 passed: clear of the limit, a mismatch; so is a false alarm at 3 on a clean rep
    far = _session([(0, 10, [_check("lean", False, 3.0, hi=8.0)]),
                    (20, 30, [_check("lean", True, 5.0, hi=8.0)]),
                    (40, 50, [_check("lean", False, 9.0, hi=8.0)])])  # fmt: skip
    wrong, near = acc.verdict_mismatches(truth, far)
    assert [w[:10] for w in wrong] == ["rep 1 lean", "rep 2 lean"] and near == []
    # a fault on a rep siform did not count, or did not judge, is missed whatever the tolerance
    missed = _session([(0, 10, [_check("lean", True, 3.0, hi=8.0)]),
                       (40, 50, [_check("lean", None, None, hi=8.0)])])  # fmt: skip
    wrong, near = acc.verdict_mismatches(truth, missed)
    assert [w[:10] for w in wrong] == ["rep 2 lean", "rep 3 lean"] and near == []


# ----------------------------------------------------------------------------- calibration/holdout
def test_a_holdout_counts_only_while_its_spec_is_the_one_it_was_held_out_against(tmp_path: Path) -> None:
    path = tmp_path / "splits.toml"
    path.write_text('[a]\nspec = "x"\n[a.reps]\nsplit = "calibration"\nreason = "r"\n'
                    '[a.lean]\nsplit = "holdout"\nspec_sha256 = "abc"\n', encoding="utf-8")  # fmt: skip
    tags = acc.load_splits(path)
    assert acc.group_of(tags["a"]["reps"], "abc") == "calibration"
    assert acc.group_of(tags["a"]["lean"], "abc") == "holdout"
    assert acc.group_of(tags["a"]["lean"], "def") == "stale"
    assert acc.group_of(tags["a"].get("knee"), "abc") == "untagged"
    path.write_text('[a.lean]\nsplit = "held-out"\n', encoding="utf-8")
    with pytest.raises(SystemExit, match="expected calibration or holdout"):
        acc.load_splits(path)
    path.write_text('[a.lean]\nsplit = "holdout"\n', encoding="utf-8")
    with pytest.raises(SystemExit, match="without the spec_sha256"):
        acc.load_splits(path)


def _result(clip: str, counts: dict[str, Any], exact: bool = True, sha: str = "abc") -> Any:
    return acc.ClipResult(clip, "ex", None, 5, 5 if exact else 4, exact, None, counts=counts, spec_sha256=sha)


def test_the_summary_puts_each_verdict_and_count_in_its_clips_split() -> None:
    tags = {"a": {"reps": acc.Tag("calibration"), "lean": acc.Tag("calibration")},
            "b": {"reps": acc.Tag("holdout", "abc"), "lean": acc.Tag("holdout", "abc")},
            "c": {"reps": acc.Tag("holdout", "old"), "lean": acc.Tag("holdout", "old")}}  # fmt: skip
    results = [_result("a.mp4", {"lean": acc.Counts(tp=1, tn=4)}),
               _result("b.mp4", {"lean": acc.Counts(fn=1, tn=4)}, exact=False),
               _result("c.mp4", {"lean": acc.Counts(fp=1, tn=4)}),
               _result("d.mp4", {"lean": acc.Counts(tn=5)})]  # fmt: skip
    s = acc.summarize(results, tags)["splits"]
    assert (s["calibration"]["overall"].tp, s["calibration"]["overall"].f1) == (1, 1.0)
    assert (s["holdout"]["overall"].fn, s["holdout"]["overall"].f1) == (1, 0.0)
    assert (s["holdout"]["sets"], s["holdout"]["sets_exact"]) == (1, 0)
    assert s["stale"]["overall"].fp == 1 and s["untagged"]["overall"].tn == 5
    summary = acc.summarize(results, tags)
    assert [(x["clip"], x["item"]) for x in summary["stale"]] == [("c", "reps"), ("c", "lean")]
    assert summary["untagged"] == ["d.reps", "d.lean"]
    assert summary["overall"].tp + summary["overall"].fn + summary["overall"].fp == 3
    text = acc.render(results, summary)
    assert "| ex.lean | 1 0 0 4 | 1.00 | 0 0 1 4 | 0.00 |" in text
    assert "spec changed since held out: c (reps, lean: held out at old, now abc)" in text


def test_every_sample_clip_is_tagged_for_its_count_and_each_check_its_truth_judges() -> None:
    tags = acc.load_splits()
    for clip in acc.sample_clips():
        meta = json.loads(clip.with_suffix(".truth.json").read_text(encoding="utf-8"))["meta"]
        judged = {cid for rt in meta["rep_truth"] for cid in rt["checks"]}
        assert {"reps", *judged} <= set(tags.get(clip.stem, {})), f"{clip.stem}: tag it in splits.toml"
    for stem, items in tags.items():
        for item, tag in items.items():
            if tag.split == "holdout":
                assert len(tag.spec_sha256 or "") == 64, f"{stem}.{item}"
            else:
                assert tag.reason, f"{stem}.{item}: a calibration tag says which change touched it"


def test_hold_out_tags_a_new_clip_with_the_current_spec_and_never_retags(tmp_path: Path) -> None:
    path = tmp_path / "splits.toml"
    path.write_text("# tags\n", encoding="utf-8")
    clip = ROOT / "sample_videos" / "thigh_stretch_left.mp4"
    assert acc.hold_out([clip], path) == ["thigh_stretch_left"]
    tags = acc.load_splits(path)["thigh_stretch_left"]
    sha = acc.sha256_of(acc.spec_file("standing_thigh_stretch"))
    assert set(tags) == {"reps", "heel_to_bottom", "thighs_together"}
    assert all(t.split == "holdout" and t.spec_sha256 == sha for t in tags.values())
    with pytest.raises(SystemExit, match="already in"):
        acc.hold_out([clip], path)


@pytest.mark.slow
def test_the_subset_finds_the_working_side_itself(subset: list[Any]) -> None:
    one_sided = [r for r in subset if r.auto is not None]
    assert {r.clip for r in one_sided} == {"adduction_front.mp4", "pelvic_list_left.mp4"}
    assert [(r.clip, r.auto.detected) for r in one_sided if r.auto.detected != r.side] == []
    detected = acc.summarize(subset)["auto_side"]["side_detected"]
    assert detected.f1 >= 0.95
