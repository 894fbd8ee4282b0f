"""HoldTimer: a clock that runs only in position, with a grace period for brief breaks."""

from __future__ import annotations

import numpy as np
import pytest

from siform.segment.holds import HoldTimer, HoldWindow
from siform.specs.model import HoldCondition, HoldSpec

FPS = 30.0
FRAME_S = 1.0 / FPS
SPEC = HoldSpec(conditions=[HoldCondition(signal="body_line", min=165.0)], grace_s=0.5, min_hold_s=3.0)

Pattern = list[tuple[bool | None, float]]
"""(ok, seconds) pieces: True in position, False out of it, None no pose."""


def frames(pattern: Pattern) -> list[bool | None]:
    out: list[bool | None] = []
    for ok, s in pattern:
        out += [ok] * round(s * FPS)
    return out


def run(oks: list[bool | None], t_ms: list[int] | None = None, spec: HoldSpec = SPEC) -> list[HoldWindow]:
    timer = HoldTimer(spec)
    t_ms = t_ms if t_ms is not None else [round(i * 1000 / FPS) for i in range(len(oks))]
    out = []
    for i, (t, ok) in enumerate(zip(t_ms, oks, strict=True)):
        w = timer.update(i, t, ok)
        if w is not None:
            out.append(w)
    last = timer.finish()
    return [*out, last] if last is not None else out


CASES = [
    # Nothing fed: no hold.
    pytest.param([], [], id="empty"),
    # No pose at all: no hold.
    pytest.param([(None, 5.0)], [], id="no_pose"),
    # Out of position throughout.
    pytest.param([(False, 5.0)], [], id="never_in_position"),
    # A steady 10 s hold (closed by finish()).
    pytest.param([(False, 1.0), (True, 10.0)], [(10.0, 0)], id="steady_open_at_end"),
    # A steady 10 s hold ended by leaving the position.
    pytest.param([(False, 1.0), (True, 10.0), (False, 2.0)], [(10.0, 0)], id="steady_then_leave"),
    # A 0.2 s wobble (< grace_s = 0.5) pauses the clock but keeps the hold: 10 s held, 1 break.
    pytest.param([(True, 5.0), (False, 0.2), (True, 5.0)], [(10.0, 1)], id="short_break"),
    # Missing pose for 0.2 s counts as a break like any other.
    pytest.param([(True, 5.0), (None, 0.2), (True, 5.0)], [(10.0, 1)], id="short_dropout"),
    # Three wobbles: all counted, none ends the hold.
    pytest.param(
        [(True, 4.0), (False, 0.1), (True, 2.0), (False, 0.3), (True, 2.0), (None, 0.2), (True, 2.0)],
        [(10.0, 3)],
        id="three_short_breaks",
    ),
    # A 1 s break (> grace_s) ends the hold; a new one starts when the position is back.
    pytest.param([(True, 5.0), (False, 1.0), (True, 5.0)], [(5.0, 0), (5.0, 0)], id="long_break_splits"),
    # Under min_hold_s = 3 s: passing through the posture, not a hold.
    pytest.param([(False, 1.0), (True, 2.0), (False, 2.0)], [], id="too_short"),
    # A too-short hold, a long break, then a real one: only the real one.
    pytest.param([(True, 2.0), (False, 1.0), (True, 4.0)], [(4.0, 0)], id="short_then_real"),
    # Two sub-minimum pieces joined by a brief wobble add up to a hold.
    pytest.param([(True, 2.0), (False, 0.2), (True, 2.0)], [(4.0, 1)], id="pieces_add_up"),
]


@pytest.mark.parametrize(("pattern", "expected"), CASES)
def test_holds(pattern: Pattern, expected: list[tuple[float, int]]) -> None:
    windows = run(frames(pattern))
    assert len(windows) == len(expected)
    for w, (held_s, breaks) in zip(windows, expected, strict=True):
        assert w.held_s == pytest.approx(held_s, abs=FRAME_S + 1e-9)  # within one frame
        assert w.breaks == breaks


def test_window_spans_first_to_last_frame_in_position() -> None:
    oks = frames([(False, 1.0), (True, 5.0), (False, 0.2), (True, 3.0), (False, 2.0)])
    (w,) = run(oks)
    first, last = oks.index(True), len(oks) - 1 - oks[::-1].index(True)
    assert (w.start, w.end) == (first, last)
    assert (w.start_ms, w.end_ms) == (round(first * 1000 / FPS), round(last * 1000 / FPS))


def test_long_break_is_reported_when_grace_runs_out() -> None:
    oks = frames([(True, 5.0), (False, 2.0)])
    timer = HoldTimer(SPEC)
    ended_at = None
    for i, ok in enumerate(oks):
        if timer.update(i, round(i * 1000 / FPS), ok) is not None:
            ended_at = i
    leave = round(5.0 * FPS)
    assert ended_at is not None
    # Reported on the first frame more than grace_s after the last frame in position.
    assert (ended_at - (leave - 1)) / FPS == pytest.approx(SPEC.grace_s, abs=FRAME_S + 1e-9)
    assert timer.finish() is None


def test_finish_closes_an_open_hold_once() -> None:
    timer = HoldTimer(SPEC)
    for i in range(round(4 * FPS)):
        assert timer.update(i, round(i * 1000 / FPS), True) is None
    assert timer.held_s == pytest.approx(4.0, abs=FRAME_S + 1e-9)  # the live countdown
    w = timer.finish()
    assert w is not None and w.held_s == pytest.approx(4.0, abs=FRAME_S + 1e-9)
    assert timer.finish() is None
    assert timer.held_s == 0.0


@pytest.mark.parametrize("seed", range(3))
def test_variable_frame_intervals(seed: int) -> None:
    """Frames every 20-60 ms at random: the clock follows real time, not frame counts."""
    rng = np.random.default_rng(seed)
    steps = rng.integers(20, 61, size=400)
    t_ms = np.concatenate([[0], np.cumsum(steps)]).tolist()
    oks: list[bool | None] = [True] * len(t_ms)
    # A 150 ms-or-so wobble in the middle (a few frames): pauses the clock, not the hold.
    mid = len(t_ms) // 2
    oks[mid : mid + 4] = [False] * 4
    (w,) = run(oks, t_ms)
    paused = t_ms[mid + 4] - t_ms[mid]
    assert w.breaks == 1
    assert w.held_s == pytest.approx((t_ms[-1] - t_ms[0] - paused) / 1000.0, abs=0.060 + 1e-9)


def test_min_hold_is_inclusive_and_configurable() -> None:
    spec = HoldSpec(conditions=SPEC.conditions, grace_s=0.0, min_hold_s=1.0)
    # 31 frames in position span exactly 1.0 s.
    assert len(run([True] * 31, spec=spec)) == 1
    assert run([True] * 30, spec=spec) == []
