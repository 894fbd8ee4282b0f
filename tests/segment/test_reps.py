"""RepCounter: the hysteresis state machine, fed synthetic driving signals with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from siform.segment.reps import Phase, RepCounter, RepWindow
from siform.specs.model import RepSpec

FPS = 30.0
NAN = float("nan")
# A glute bridge's hip angle: rest below 145 deg, top above 160, partial attempts reach 150.
BRIDGE = {
    "signal": "hip",
    "direction": "up",
    "rest": 145.0,
    "top": 160.0,
    "partial": 150.0,
    "min_rep_s": 1.0,
    "max_rep_s": 15.0,
}
# A squat's knee angle: standing (rest) above 160 deg, the bottom (top) below 100.
SQUAT = {
    "signal": "knee",
    "direction": "down",
    "rest": 160.0,
    "top": 100.0,
    "partial": 130.0,
    "min_rep_s": 1.0,
    "max_rep_s": 15.0,
}


def hold(value: float, s: float) -> np.ndarray:
    return np.full(round(s * FPS), value, dtype=np.float64)


def ramp(a: float, b: float, s: float) -> np.ndarray:
    """``s`` seconds from ``a`` towards ``b`` (the end value is the next piece's first)."""
    n = round(s * FPS)
    return a + (b - a) * np.arange(n) / n


def rep(low: float = 135.0, high: float = 175.0, move_s: float = 1.0, top_s: float = 0.5) -> np.ndarray:
    """One attempt: up over ``move_s``, ``top_s`` at ``high``, down over ``move_s``."""
    return np.concatenate([ramp(low, high, move_s), hold(high, top_s), ramp(high, low, move_s)])


def series(*pieces: np.ndarray) -> np.ndarray:
    return np.concatenate([np.asarray(p, dtype=np.float64) for p in pieces]) if pieces else np.zeros(0)


def sinusoid(reps: int, period_s: float = 3.0, lead_s: float = 1.0, low: float = 135.0, high: float = 180.0):
    t = np.arange(round(reps * period_s * FPS)) / FPS
    wave = low + (high - low) * (0.5 - 0.5 * np.cos(2 * np.pi * t / period_s))
    return series(hold(low, lead_s), wave, hold(low, lead_s))


def run(values: np.ndarray, spec: RepSpec, fps: float = FPS) -> list[RepWindow]:
    counter = RepCounter(spec)
    t_ms = np.round(np.arange(len(values)) * 1000.0 / fps).astype(np.int64)
    out = []
    for i, (t, v) in enumerate(zip(t_ms.tolist(), values.tolist(), strict=True)):
        w = counter.update(i, t, v)
        if w is not None:
            out.append(w)
    return out


def outcomes(windows: list[RepWindow]) -> list[str]:
    return [w.outcome for w in windows]


def jitter(centre: float, amp: float, s: float) -> np.ndarray:
    """Alternating centre +/- amp every frame: tracking jitter parked on a threshold."""
    n = round(s * FPS)
    return centre + amp * np.where(np.arange(n) % 2 == 0, 1.0, -1.0)


REST, LOW = hold(135.0, 1.0), 135.0

CASES = [
    # Nothing at all: no frames, no reps.
    pytest.param(BRIDGE, series(), [], id="empty"),
    # No pose for the whole clip: never guess a rep from missing data.
    pytest.param(BRIDGE, hold(NAN, 3.0), [], id="all_nan"),
    # Lying still at rest.
    pytest.param(BRIDGE, hold(LOW, 5.0), [], id="rest_only"),
    # Three clean reps with rests between them.
    pytest.param(
        BRIDGE, series(REST, rep(), REST, rep(), REST, rep(), REST), ["complete"] * 3, id="three_reps"
    ),
    # Reps back to back: the signal touches rest for one frame only between them.
    pytest.param(
        BRIDGE, series(REST, rep(), rep(), rep(), hold(LOW, 0.1)), ["complete"] * 3, id="back_to_back"
    ),
    # Hysteresis at the top: jitter of +/-2 deg around `top` for 1 s is one rep, not several.
    pytest.param(
        BRIDGE,
        series(REST, ramp(LOW, 160, 1), jitter(160, 2, 1), ramp(160, LOW, 1), REST),
        ["complete"],
        id="jitter_at_top",
    ),
    # Hysteresis at rest: jitter around `rest` that never nears `partial` reports nothing.
    pytest.param(BRIDGE, series(REST, jitter(145, 2, 2), REST), [], id="jitter_at_rest"),
    # Jitter around `rest` after a rep does not start a second one.
    pytest.param(BRIDGE, series(REST, rep(), jitter(145, 2, 2), REST), ["complete"], id="jitter_after_rep"),
    # Wobble at the top: dipping to 155 (between rest and top) and back up does not split the rep.
    pytest.param(
        BRIDGE,
        series(
            REST, ramp(LOW, 170, 1), hold(170, 0.3), hold(155, 0.3), hold(170, 0.3), ramp(170, LOW, 1), REST
        ),
        ["complete"],
        id="wobble_at_top",
    ),
    # Partial: reaches 155 (past `partial`, short of `top`): reported, not counted.
    pytest.param(BRIDGE, series(REST, rep(high=155), REST), ["partial"], id="partial"),
    # Below `partial` too: a twitch, not an attempt; nothing reported.
    pytest.param(BRIDGE, series(REST, rep(high=148), REST), [], id="twitch_below_partial"),
    # Without a `partial` threshold no attempt short of the top is reported.
    pytest.param(
        {**BRIDGE, "partial": None}, series(REST, rep(high=155), REST), [], id="no_partial_threshold"
    ),
    # A partial attempt between two good reps changes neither.
    pytest.param(
        BRIDGE,
        series(REST, rep(), REST, rep(high=155), REST, rep(), REST),
        ["complete", "partial", "complete"],
        id="partial_between_reps",
    ),
    # Bouncing: a full-height rep in 0.4 s is under min_rep_s = 1 s.
    pytest.param(BRIDGE, series(REST, rep(move_s=0.2, top_s=0.0), REST), ["too_fast"], id="too_fast"),
    # Three bounces then a proper rep: only the proper rep counts.
    pytest.param(
        BRIDGE,
        series(REST, *[rep(move_s=0.2, top_s=0.0)] * 3, REST, rep(), REST),
        ["too_fast"] * 3 + ["complete"],
        id="bounces_then_rep",
    ),
    # Far too slow: 20 s from rest to rest, over max_rep_s = 15 s.
    pytest.param(BRIDGE, series(REST, rep(move_s=5.0, top_s=10.0), REST), ["too_slow"], id="too_slow"),
    # min_top_s = 1 s: about 0.45 s above `top` is not enough (reported as too fast).
    pytest.param(
        {**BRIDGE, "min_top_s": 1.0},
        series(REST, rep(high=162, top_s=0.3), REST),
        ["too_fast"],
        id="short_top",
    ),
    # min_top_s = 1 s: 1.5 s at the top is.
    pytest.param(
        {**BRIDGE, "min_top_s": 1.0},
        series(REST, rep(high=162, top_s=1.5), REST),
        ["complete"],
        id="long_top",
    ),
    # Direction down (a squat's knee angle): standing 170, bottom 90.
    pytest.param(
        SQUAT,
        series(hold(170, 1), rep(170, 90), hold(170, 1), rep(170, 90), hold(170, 1)),
        ["complete"] * 2,
        id="down",
    ),
    # Direction down, partial: only to 120 deg (past partial = 130, short of top = 100).
    pytest.param(SQUAT, series(hold(170, 1), rep(170, 120), hold(170, 1)), ["partial"], id="down_partial"),
    # Direction down: an "up" movement (knee over-straightening) is not a rep.
    pytest.param(SQUAT, series(hold(170, 1), rep(170, 185), hold(170, 1)), [], id="down_wrong_way"),
    # NaN at rest: nothing to void, and the next rep counts as soon as the signal is back at rest.
    pytest.param(BRIDGE, series(REST, hold(NAN, 1), REST, rep(), REST), ["complete"], id="nan_at_rest"),
    # NaN mid-ascent voids that rep; the next clean rep counts.
    pytest.param(
        BRIDGE,
        series(REST, ramp(LOW, 155, 0.5), hold(NAN, 0.5), ramp(170, LOW, 1), REST, rep(), REST),
        ["voided", "complete"],
        id="nan_mid_ascent",
    ),
    # NaN at the top; the signal comes back at the top and descends: that is not a new rep.
    pytest.param(
        BRIDGE,
        series(REST, ramp(LOW, 175, 1), hold(NAN, 1), hold(175, 0.5), ramp(175, LOW, 1), REST),
        ["voided"],
        id="nan_at_top_returns_high",
    ),
    # Same, then a full rep afterwards counts again.
    pytest.param(
        BRIDGE,
        series(REST, ramp(LOW, 175, 1), hold(NAN, 1), hold(175, 0.5), ramp(175, LOW, 1), REST, rep(), REST),
        ["voided", "complete"],
        id="nan_then_resume",
    ),
    # One NaN frame in the descent still voids the rep (gap bridging happens upstream, not here).
    pytest.param(
        BRIDGE, series(REST, rep()[:50], [NAN], rep()[51:], REST), ["voided"], id="single_nan_frame"
    ),
]


@pytest.mark.parametrize(("spec", "values", "expected"), CASES)
def test_outcomes(spec: dict, values: np.ndarray, expected: list[str]) -> None:
    assert outcomes(run(values, RepSpec(**spec))) == expected


@pytest.mark.parametrize(
    ("reps", "period_s"),
    [
        (1, 3.0),  # a single rep
        (5, 3.0),  # a typical set
        (12, 2.0),  # quick but above min_rep_s
        (4, 8.0),  # slow, under max_rep_s
    ],
)
def test_sinusoid_count_and_boundaries(reps: int, period_s: float) -> None:
    values = sinusoid(reps, period_s)
    windows = run(values, RepSpec(**BRIDGE))
    assert outcomes(windows) == ["complete"] * reps
    below = values <= BRIDGE["rest"]
    for w in windows:
        # Starts at the last frame at rest, ends at the first frame back at rest.
        assert below[w.start] and not below[w.start + 1]
        assert below[w.end] and not below[w.end - 1]
        assert w.peak_value == pytest.approx(values[w.start : w.end + 1].max())
        assert values[w.peak] == w.peak_value
        assert w.top_start is not None and w.top_end is not None
        assert values[w.top_start] >= BRIDGE["top"] > values[w.top_start - 1]
        assert values[w.top_end] < BRIDGE["top"] <= values[w.top_end - 1]
        assert w.duration_s == pytest.approx((w.end - w.start) / FPS, abs=1e-3)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("noise_deg", [0.5, 2.0])
def test_sinusoid_with_noise_counts_exactly(seed: int, noise_deg: float) -> None:
    rng = np.random.default_rng(seed)
    values = sinusoid(8) + rng.normal(0.0, noise_deg, size=sinusoid(8).shape)
    assert outcomes(run(values, RepSpec(**BRIDGE))) == ["complete"] * 8


def test_down_reports_the_minimum_as_peak() -> None:
    values = series(hold(170, 1), rep(170, 90), hold(170, 1))
    (w,) = run(values, RepSpec(**SQUAT))
    assert w.peak_value == pytest.approx(90.0)
    assert values[w.peak] == pytest.approx(90.0)


def test_wobble_keeps_first_top_entry_and_last_exit() -> None:
    up, top1, dip, top2 = ramp(LOW, 170, 1), hold(170, 0.3), hold(155, 0.3), hold(170, 0.3)
    values = series(REST, up, top1, dip, top2, ramp(170, LOW, 1), REST)
    (w,) = run(values, RepSpec(**BRIDGE))
    first_top = len(REST) + int(np.argmax(up >= 160))
    last_exit = int(np.flatnonzero(values >= 160)[-1]) + 1
    assert (w.top_start, w.top_end) == (first_top, last_exit)


def test_nan_voids_at_the_nan_frame_and_waits_for_rest() -> None:
    values = series(REST, ramp(LOW, 175, 1), hold(NAN, 1), hold(175, 0.5), ramp(175, LOW, 1), REST)
    counter = RepCounter(RepSpec(**BRIDGE))
    first_nan = len(REST) + 30
    phases = []
    for i, v in enumerate(values.tolist()):
        w = counter.update(i, round(i * 1000 / FPS), v)
        if w is not None:
            assert (w.outcome, w.end) == ("voided", first_nan)
        phases.append(counter.phase)
    back = first_nan + 30
    assert phases[back : back + 15] == [Phase.LOST] * 15  # high again, but not at rest yet
    assert phases[-1] is Phase.REST


def test_reset_forgets_a_rep_in_progress() -> None:
    counter = RepCounter(RepSpec(**BRIDGE))
    values = series(REST, ramp(LOW, 175, 1))
    for i, v in enumerate(values.tolist()):
        counter.update(i, round(i * 1000 / FPS), v)
    assert counter.phase is Phase.TOP
    counter.reset()
    assert counter.phase is Phase.REST


def run_to_end(values: np.ndarray, spec: RepSpec) -> tuple[list[RepWindow], RepWindow | None]:
    """Every attempt that ended, and what :meth:`RepCounter.finish` reports when the recording stops."""
    counter = RepCounter(spec)
    out = []
    for i, v in enumerate(values.tolist()):
        w = counter.update(i, round(i * 1000 / FPS), v)
        if w is not None:
            out.append(w)
    return out, counter.finish()


@pytest.mark.parametrize(
    ("values", "top_reached"),
    [
        pytest.param(series(REST, ramp(LOW, 175, 1)), True, id="cut_at_top"),
        pytest.param(
            series(REST, ramp(LOW, 175, 1), hold(175, 0.5), ramp(175, 150, 0.5)), True, id="cut_lowering"
        ),
        pytest.param(series(REST, ramp(LOW, 155, 0.8)), False, id="cut_rising_past_partial"),
    ],
)
def test_an_attempt_cut_off_by_the_end_is_not_finished(values: np.ndarray, top_reached: bool) -> None:
    full = series(REST, rep(), values)
    ended, last = run_to_end(full, RepSpec(**BRIDGE))
    assert outcomes(ended) == ["complete"]
    assert last is not None and last.outcome == "not_finished"
    # From the last frame at rest before it to the last frame of the recording.
    assert (last.start, last.end) == (int(np.flatnonzero(full <= BRIDGE["rest"])[-1]), len(full) - 1)
    assert last.end_ms == round(last.end * 1000 / FPS)
    assert last.duration_s == pytest.approx((last.end - last.start) / FPS, abs=1e-3)
    assert (last.top_start is not None) is top_reached
    assert last.peak_value == pytest.approx(values.max())


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(series(REST, rep(), REST), id="ended_at_rest"),
        pytest.param(series(REST, ramp(LOW, 148, 0.5)), id="twitch_below_partial"),
        pytest.param(series(REST, ramp(LOW, 175, 1), hold(NAN, 1)), id="already_voided"),
        pytest.param(series(), id="empty"),
    ],
)
def test_nothing_open_at_the_end_reports_nothing(values: np.ndarray) -> None:
    _ended, last = run_to_end(values, RepSpec(**BRIDGE))
    assert last is None


def test_finish_twice_reports_once() -> None:
    counter = RepCounter(RepSpec(**BRIDGE))
    for i, v in enumerate(series(REST, ramp(LOW, 175, 1)).tolist()):
        counter.update(i, round(i * 1000 / FPS), v)
    assert counter.finish() is not None
    assert counter.finish() is None
