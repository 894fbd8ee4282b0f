"""What the coach says after a rep or hold, and the gate that keeps cues to one at a time.

The sentences are checked against real engine results (synthetic bridges through
``analyze_track``) and the shipped spec's own words; hand-made records only where the engine
would need a whole hold exercise to make one (a hold short of its target, two failed checks).
"""

from __future__ import annotations

import itertools
import math

import pytest

from siform.live.cues import CueGate, is_provisional, rep_cue, rep_message, worst_failed
from siform.pipeline import analyze_track
from siform.report.text import fmt_score, fmt_value
from siform.results import CheckResult, Hold, Rep
from siform.specs.load import find_spec
from siform.specs.model import ExerciseSpec

from factories import bridge_side_view


@pytest.fixture(scope="module")
def bridge() -> ExerciseSpec:
    return find_spec("glute_bridge")


@pytest.fixture(scope="module")
def bridge_reps(bridge: ExerciseSpec) -> list[Rep]:
    track, truth = bridge_side_view(reps=5, drop_rep=2)
    reps = analyze_track(track, bridge).reps
    assert [r.number for r in reps] == [1, 2, 3, 4, 5]
    assert [bool(r.failed) for r in reps] == [k in truth.faults for k in range(5)]
    return reps


def test_a_faulty_rep_names_its_check_value_limit_and_the_specs_cue(
    bridge: ExerciseSpec, bridge_reps: list[Rep]
) -> None:
    rep = bridge_reps[2]
    (failed,) = rep.failed
    check = next(c for c in bridge.checks if c.id == failed.id)
    text = rep_message(rep, bridge)
    assert text.startswith(f"Rep 3: {fmt_score(rep.score)}.")
    assert check.name in text and text.endswith(check.cue)
    # the measured difference from the set's median, in the check's unit, against the spec's limit
    assert f"missed, {fmt_value(failed.value, 'ratio', signed=True)} from your median" in text
    assert f"(allowed: within ±{check.limit.max:.3f})" in text
    assert failed.value is not None and abs(failed.value) > check.limit.max
    assert rep_cue(rep, bridge) == check.cue


def test_a_good_rep_says_so_and_has_nothing_to_cue(bridge: ExerciseSpec, bridge_reps: list[Rep]) -> None:
    rep = bridge_reps[0]
    assert rep_message(rep, bridge) == f"Rep 1: {fmt_score(rep.score)}. Good form."
    assert rep_cue(rep, bridge) is None


def test_the_words_come_from_the_spec_not_the_code(bridge: ExerciseSpec, bridge_reps: list[Rep]) -> None:
    checks = [
        c.model_copy(update={"name": "Hüften gleich hoch", "cue": "Beide Hüften gleich hoch halten."})
        if c.id == "level_pelvis" else c
        for c in bridge.checks
    ]  # fmt: skip
    renamed = bridge.model_copy(update={"checks": checks})
    text = rep_message(bridge_reps[2], renamed)
    assert "Hüften gleich hoch: missed" in text and text.endswith("Beide Hüften gleich hoch halten.")
    assert "Pelvis" not in text
    assert rep_cue(bridge_reps[2], renamed) == "Beide Hüften gleich hoch halten."


def test_a_bounce_is_not_counted_and_says_how_long_it_took(bridge: ExerciseSpec) -> None:
    track, _truth = bridge_side_view(reps=2, drop_rep=None, rep_s=0.5, top_s=0.0)
    reps = analyze_track(track, bridge).reps
    assert reps and all(r.outcome == "too_fast" for r in reps)
    text = rep_message(reps[0], bridge)
    took = f"{math.floor(reps[0].duration_s * 100) / 100:.2f} s"
    assert text.startswith("Attempt not counted.")
    assert f"took {took}" in text and f"{bridge.rep.min_rep_s:.2f} s" in text
    assert "Move slowly" in (rep_cue(reps[0], bridge) or "")


def _rep(outcome: str, number: int, side: str | None, ms: int) -> Rep:
    return Rep(number, side, outcome, 0, ms, ms // 2, 0, 30, 15, 170.0, None, None, (), None)


def test_a_partial_attempt_says_why_with_its_duration(bridge: ExerciseSpec) -> None:
    text = rep_message(_rep("partial", 0, "left", 2140), bridge)
    assert text.startswith("Left attempt not counted. Took 2.1 s.") and "top position" in text


def _check(
    cid: str, severity: str, value: float, lo: float | None, hi: float | None, unit: str
) -> CheckResult:
    return CheckResult(cid, cid, True, False, value, value, lo, hi, None, unit, severity, 3, 100, None)


def test_the_worst_failed_check_is_the_heaviest_then_the_furthest_out(bridge: ExerciseSpec) -> None:
    minor_far = _check("full_extension", "minor", 100.0, 164.5, None, "deg")
    major_near = _check("level_pelvis", "major", 0.026, -0.025, 0.025, "ratio")
    rep = Rep(2, None, "complete", 0, 3000, 1500, 0, 90, 45, 170.0, 40, 50, (minor_far, major_near), 33.0)
    assert worst_failed(rep, bridge) is major_near
    far = _check("level_pelvis", "major", 0.09, -0.025, 0.025, "ratio")
    rep2 = Rep(2, None, "complete", 0, 3000, 1500, 0, 90, 45, 170.0, 40, 50, (major_near, far), 33.0)
    assert worst_failed(rep2, bridge) is far
    # an absolute check reads its value and its limit as the report does
    text = rep_message(Rep(4, None, "complete", 0, 3000, 1500, 0, 90, 45, 170.0, 40, 50, (minor_far,), 67.0),
                       bridge)  # fmt: skip
    assert "Hips fully extended: missed, 100.0° (limit: at least 164.5°)." in text


def _hold(held_s: float, target_s: float, side: str | None, checks: tuple[CheckResult, ...] = ()) -> Hold:
    return Hold(2, side, 0, int(held_s * 1000), held_s, target_s, 0, 0, 10, checks, 60.0)


def test_a_short_hold_says_how_long_against_the_target_never_rounding_up_to_it() -> None:
    plank = find_spec("side_plank")
    target = plank.prescription.hold_s or 30.0
    text = rep_message(_hold(target - 0.04, target, "right"), plank)
    assert text.startswith("Right hold 2: 60 / 100.")
    assert f"Held {target - 0.1:.1f} s of {target:g} s: stopped short." in text
    cue = rep_cue(_hold(target - 0.04, target, "right"), plank)
    assert cue == f"Held {target - 0.1:.1f} s of {target:g} s."
    full = rep_message(_hold(target + 1.0, target, None), plank)
    assert f"Held {target + 1.0:.1f} s of {target:g} s." in full and "stopped short" not in full


def test_provisional_comes_from_the_failed_checks(bridge: ExerciseSpec, bridge_reps: list[Rep]) -> None:
    import dataclasses

    rep = bridge_reps[2]
    assert not is_provisional(rep)
    checks = tuple(dataclasses.replace(c, provisional=True) for c in rep.checks)
    marked = dataclasses.replace(rep, checks=checks)
    assert is_provisional(marked)


# --- the gate --------------------------------------------------------------------------------


def run(
    gate: CueGate, offers: dict[int, str], until_ms: int, every_ms: int = 33
) -> list[tuple[int, str | None, bool]]:
    """Step the gate frame by frame; ``offers`` maps a frame time to what the coach offers then
    (an offer repeats each frame until the next key)."""
    out = []
    keys = sorted(offers)
    for t in range(0, until_ms, every_ms):
        current = [offers[k] for k in keys if k <= t]
        shown = gate.step(t, current[-1] if current else None)
        out.append((t, shown.text, shown.new))
    return out


def test_the_same_cue_offered_every_frame_shows_then_rests() -> None:
    gate = CueGate(min_show_s=2.5, max_show_s=5.0, cooldown_s=12.0)
    frames = run(gate, {0: "Keep both hips level."}, 60_000)
    starts = [t for t, _text, new in frames if new]
    # shown 5 s, then refused for 12 s after it left: a start every 17 s at most
    assert starts[0] == 0 and all(b - a >= 17_000 for a, b in itertools.pairwise(starts))
    assert len(starts) == 4  # at 0, ~17, ~34 and ~51 s
    on_ms = 33 * sum(1 for _t, text, _new in frames if text)
    assert on_ms <= len(starts) * (5_000 + 33)  # each showing lasts its 5 s (to the frame), no longer


def test_a_new_cue_waits_for_the_minimum_display_and_replaces_the_old_one() -> None:
    gate = CueGate(min_show_s=2.5, max_show_s=5.0, cooldown_s=12.0, max_wait_s=3.0)
    assert (gate.step(0, "A").new, gate.step(33, "A").new) == (True, False)  # new once
    assert gate.step(1000, "B").text == "A"  # B waits: A has been up 1 s
    shown = gate.step(2500)
    assert (shown.text, shown.new) == ("B", True)
    assert gate.step(2600).new is False
    assert gate.step(7600).text is None  # B's 5 s are over


def test_only_one_cue_at_a_time_and_a_stale_one_is_dropped() -> None:
    gate = CueGate(min_show_s=2.5, max_show_s=30.0, cooldown_s=0.0, max_wait_s=1.0)
    gate.step(0, "A")
    gate.step(100, "B")
    gate.step(200, "C")  # the newest waiting cue wins
    assert gate.step(2500).text == "A"  # C waited 2.3 s > 1 s: dropped, A stays
    gate.step(2600, "D")
    assert gate.step(2700).text == "D"


def test_a_cue_is_not_repeated_within_its_cooldown() -> None:
    gate = CueGate(min_show_s=1.0, max_show_s=2.0, cooldown_s=10.0)
    assert gate.step(0, "A").new
    assert gate.step(2000).text is None
    assert gate.step(5000, "A").text is None  # 3 s after it left: refused
    assert gate.step(6000, "B").text == "B"  # another cue is fine
    assert gate.step(12_100, "A").text == "A"  # 10.1 s after A left
    gate.clear(12_200)
    assert gate.step(12_300).text is None


def test_good_news_retires_the_old_cue_after_its_minimum_display() -> None:
    gate = CueGate(min_show_s=2.5, max_show_s=5.0, cooldown_s=12.0)
    gate.step(0, "Lift a little higher.")
    gate.retire()  # the next rep, 1 s later in the person's time, was good
    assert gate.step(1000).text == "Lift a little higher."  # still its minimum 2.5 s
    assert gate.step(2500).text is None  # then gone, not at 5 s
    assert gate.step(3000, "Lift a little higher.").text is None  # and its cooldown runs
    assert gate.step(3100, "Keep both hips level.").new
    assert gate.step(5600).text == "Keep both hips level."  # retiring was for the old cue only
