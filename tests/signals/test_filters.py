"""Filters: what they must do to a signal (smooth, not lag, not shift), and that NaN never spreads."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from siform.landmarks import NUM_LANDMARKS, VISIBILITY, X, Y, Z, empty_image
from siform.signals.filters import (
    OneEuroFilter,
    bridge_gaps,
    butterworth_zero_phase,
    mask_low_visibility,
    one_euro,
)

NAN = float("nan")
FPS = 30.0


def times(frames: int, fps: float = FPS) -> np.ndarray:
    return np.arange(frames) * (1000.0 / fps)


def close(actual: np.ndarray, expected: float | np.ndarray, tol: float = 1e-9) -> None:
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol, equal_nan=True)


# ---------------------------------------------------------------------------------------------
# One Euro
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [0.0, 0.01])
def test_one_euro_reduces_jitter_on_a_still_point(beta: float) -> None:
    rng = np.random.default_rng(1)
    noise = rng.normal(0.0, 2.0, size=(300, NUM_LANDMARKS, 2))  # 2 px of tracking jitter
    out = one_euro(100.0 + noise, times(300), min_cutoff=1.0, beta=beta)
    settled = out[30:] - 100.0
    # A first-order low-pass at 1 Hz, 30 frames/s keeps sqrt(a / (2 - a)) ~ 0.31 of white noise.
    assert settled.std() < 0.5 * noise[30:].std()
    assert abs(settled.mean()) < 0.3


@pytest.mark.parametrize(
    ("beta", "expected_lag_px"),
    [
        (0.0, 100 / (2 * np.pi * 1.0)),  # fixed 1 Hz low-pass: lag = speed / (2 pi fc) = 15.9 px
        (0.1, 100 / (2 * np.pi * 11.0)),  # speed 100 px/s raises the cutoff to 1 + 0.1 * 100 Hz
        (0.5, 100 / (2 * np.pi * 51.0)),  # faster still
    ],
)
def test_one_euro_lag_on_a_ramp(beta: float, expected_lag_px: float) -> None:
    t = times(300)
    ramp = 100.0 * t / 1000.0  # 100 px/s
    out = one_euro(ramp, t, min_cutoff=1.0, beta=beta)
    lag = ramp[-1] - out[-1]
    close(lag, expected_lag_px, 0.01)  # steady state of the discrete filter, exactly as predicted
    lags = ramp[1:] - out[1:]
    assert (lags > 0).all() and lags.max() <= 100 / (2 * np.pi) * 1.001  # never worse than min_cutoff
    assert lags[15:].max() <= 1.1 * expected_lag_px  # settled within half a second


def test_one_euro_holds_state_through_nan() -> None:
    t = times(12)
    x = np.full((12, 2), 5.0)
    x[:, 1] = np.linspace(0, 11, 12)
    x[4:7, 0] = NAN  # three dropped frames in column 0 only
    out = one_euro(x, t, min_cutoff=1.0, beta=0.0)
    assert np.isnan(out[4:7, 0]).all() and np.isfinite(np.delete(out, [4, 5, 6], axis=0)).all()
    close(out[7:, 0], 5.0)  # state not poisoned: the constant carries on as before
    close(out[:, 1], one_euro(x[:, 1], t, min_cutoff=1.0))  # the other column is untouched


def test_one_euro_filter_first_sample_reset_and_duplicate_time() -> None:
    flt = OneEuroFilter(min_cutoff=1.0)
    close(flt.update(np.array([3.0, NAN]), 0), [3.0, NAN])  # first sample passes through
    moved = flt.update(np.array([13.0, 7.0]), 100)
    assert 3.0 < moved[0] < 13.0 and moved[1] == 7.0  # smoothed; second element's first sample
    close(flt.update(np.array([99.0, 99.0]), 100), moved)  # same timestamp: previous estimate
    flt.reset()
    close(flt.update(np.array([-4.0, -4.0]), 200), [-4.0, -4.0])  # fresh start after reset


def test_one_euro_is_causal_and_handles_empty_and_all_nan() -> None:
    rng = np.random.default_rng(2)
    x, t = rng.normal(size=(50, 3)), times(50)
    close(one_euro(x[:20], t[:20], beta=0.3), one_euro(x, t, beta=0.3)[:20])  # no look-ahead
    assert one_euro(np.zeros((0, NUM_LANDMARKS, 2)), np.zeros(0)).shape == (0, NUM_LANDMARKS, 2)
    assert np.isnan(one_euro(np.full((5, 4), NAN), times(5))).all()


@pytest.mark.parametrize(
    ("make", "raises"),
    [
        (lambda: OneEuroFilter(1.0, 0.0, 1.0), nullcontext()),  # defaults are valid
        (lambda: OneEuroFilter(min_cutoff=0.0), pytest.raises(ValueError)),  # would never move
        (lambda: OneEuroFilter(beta=-1.0), pytest.raises(ValueError)),
        (lambda: OneEuroFilter(d_cutoff=0.0), pytest.raises(ValueError)),
        (lambda: one_euro(np.zeros(5), np.zeros(4)), pytest.raises(ValueError)),  # times mismatch
        (lambda: one_euro(np.float64(1.0), np.zeros(1)), pytest.raises(ValueError)),  # no time axis
    ],
)
def test_one_euro_argument_validation(make, raises: AbstractContextManager[object]) -> None:
    with raises:
        make()


def test_one_euro_filter_rejects_a_shape_change() -> None:
    flt = OneEuroFilter()
    flt.update(np.zeros((NUM_LANDMARKS, 2)), 0)
    with pytest.raises(ValueError, match="reset"):
        flt.update(np.zeros((NUM_LANDMARKS, 3)), 33)


# ---------------------------------------------------------------------------------------------
# Zero-phase Butterworth
# ---------------------------------------------------------------------------------------------


def peak_frames(x: np.ndarray) -> list[int]:
    """Frame of the maximum in each interior cycle of a 1 Hz signal at 30 frames/s."""
    return [start + int(np.argmax(x[start : start + 30])) for start in range(15, len(x) - 30, 30)]


def test_butterworth_keeps_peaks_in_place_below_cutoff() -> None:
    t = times(240)
    wave = np.cos(2 * np.pi * t / 1000.0)  # 1 Hz, peaks exactly on frames 30, 60, ...
    out = butterworth_zero_phase(wave, t, cutoff_hz=4.0)
    assert peak_frames(wave) == [30, 60, 90, 120, 150, 180, 210]
    assert np.abs(np.subtract(peak_frames(out), peak_frames(wave))).max() <= 1
    close(out[30:-30].max(), 1.0, 0.02)  # amplitude kept
    # The same filter run causally lags by ~57 ms: the check above can tell the difference.
    causal = sosfilt(butter(2, 4.0, fs=FPS, output="sos"), wave)
    assert np.subtract(peak_frames(causal), peak_frames(wave)).min() >= 1


def test_butterworth_removes_fast_jitter() -> None:
    t = times(300)
    fast = np.sin(2 * np.pi * 12.0 * t / 1000.0)  # 12 Hz, three times the cutoff
    assert np.abs(butterworth_zero_phase(fast, t, cutoff_hz=4.0)[30:-30]).max() < 0.05


def test_butterworth_filters_each_finite_run_alone() -> None:
    t = times(90)
    x = np.concatenate([np.zeros(40), np.full(5, NAN), np.full(45, 100.0)])
    out = butterworth_zero_phase(x, t, cutoff_hz=3.0)
    close(out[:40], 0.0, 1e-7)  # bridging then filtering would drag this run up near the gap
    close(out[45:], 100.0, 1e-7)
    assert np.isnan(out[40:45]).all()


def test_butterworth_nan_never_spreads_and_input_is_untouched() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(120, 3, 2))
    x[0, 0, 0] = x[-1, 1, 1] = NAN  # leading and trailing holes
    x[50:53, 2] = NAN  # a whole landmark gone for 3 frames
    x[70, :, :] = NAN  # nobody in frame 70
    x[10:13, 1, 0] = NAN  # leaves a finite run of 3 samples (frames 13..15) before the next hole
    x[16, 1, 0] = NAN
    before = x.copy()
    out = butterworth_zero_phase(x, times(120), cutoff_hz=5.0)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(x))
    np.testing.assert_array_equal(x, before)
    close(out[13:16, 1, 0], x[13:16, 1, 0])  # too short to filter: left as is
    assert np.abs(out[20:45] - x[20:45]).max() > 0.1  # but long runs really are filtered


@pytest.mark.parametrize(
    ("x", "t", "raises"),
    [
        (np.zeros((0, 33, 2)), np.zeros(0), nullcontext()),  # empty: returned as is
        (np.ones(1), np.zeros(1), nullcontext()),  # one sample
        (np.full((20, 2), NAN), times(20), nullcontext()),  # all NaN
        (np.zeros(20), times(20, fps=7.0), pytest.raises(ValueError)),  # 4 Hz >= Nyquist 3.5 Hz
        (np.zeros(20), np.zeros(20), pytest.raises(ValueError)),  # time stands still
        (np.zeros(20), times(19), pytest.raises(ValueError)),  # times do not match
        (np.float64(1.0), np.zeros(1), pytest.raises(ValueError)),  # no time axis
    ],
)
def test_butterworth_edge_cases(x, t, raises: AbstractContextManager[object]) -> None:
    with raises:
        out = butterworth_zero_phase(x, t, cutoff_hz=4.0)
        close(out, x)
        assert out.shape == x.shape


# ---------------------------------------------------------------------------------------------
# bridge_gaps
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "t", "max_gap_ms", "expected"),
    [
        ([0, NAN, NAN, 12], [0, 40, 80, 120], 120, [0, 4, 8, 12]),  # 2 dropped frames, 120 ms span
        ([0, NAN, NAN, 12], [0, 40, 80, 120], 119, [0, NAN, NAN, 12]),  # just too long
        ([0, *[NAN] * 10, 11], times(12), 100, [0, *[NAN] * 10, 11]),  # long dropout stays missing
        ([NAN, 1, NAN, 3, NAN], [0, 10, 20, 30, 40], 100, [NAN, 1, 2, 3, NAN]),  # ends stay NaN
        ([0, NAN, 10], [0, 10, 100], 100, [0, 1, 10]),  # interpolated in time, not in frames
        ([NAN, NAN, NAN], [0, 10, 20], 1000, [NAN, NAN, NAN]),  # all NaN
        ([], [], 100, []),  # empty
    ],
)
def test_bridge_gaps(x, t, max_gap_ms, expected) -> None:
    close(bridge_gaps(np.array(x, dtype=float), t, max_gap_ms), np.array(expected, dtype=float))


def test_bridge_gaps_works_per_element_and_copies() -> None:
    x = np.zeros((6, 2, 2))
    x[:, 0, 0] = [0, NAN, 2, 3, 4, 5]  # short gap
    x[:, 1, 1] = [0, NAN, NAN, NAN, NAN, 5]  # long gap
    before = x.copy()
    out = bridge_gaps(x, times(6), max_gap_ms=100)
    close(out[:, 0, 0], [0, 1, 2, 3, 4, 5])
    close(out[:, 1, 1], x[:, 1, 1])
    np.testing.assert_array_equal(x, before)


# ---------------------------------------------------------------------------------------------
# mask_low_visibility
# ---------------------------------------------------------------------------------------------


def image_rows(visibility: list[float]) -> np.ndarray:
    """``(len, 33, 5)`` float32 landmarks at (0.5, 0.5, 0.1) with per-frame visibility."""
    rows = np.tile(np.array([0.5, 0.5, 0.1, 0.0, 0.9], dtype=np.float32), (len(visibility), 33, 1))
    rows[..., VISIBILITY] = np.array(visibility, dtype=np.float32)[:, None]
    return rows


@pytest.mark.parametrize(
    ("visibility", "masked"),
    [
        ([0.9], [False]),  # clearly visible
        ([0.2], [True]),  # MediaPipe thinks it is hidden
        ([0.5], [False]),  # exactly at the threshold: kept
        ([0.9, 0.1, 0.7], [False, True, False]),  # frame by frame
    ],
)
def test_mask_low_visibility(visibility: list[float], masked: list[bool]) -> None:
    rows = image_rows(visibility)
    out = mask_low_visibility(rows, 0.5)
    assert out.dtype == np.float32 and out.shape == rows.shape
    for f, hidden in enumerate(masked):
        assert np.isnan(out[f, :, X : Z + 1]).all() == hidden
        assert not np.isnan(out[f, :, X : Z + 1]).any() or hidden
    close(out[..., VISIBILITY:], rows[..., VISIBILITY:])  # visibility and presence kept
    assert not np.isnan(rows).any()  # input untouched


def test_mask_low_visibility_single_frame_no_person_and_bad_shape() -> None:
    one = image_rows([0.9])[0]
    one[7, VISIBILITY] = 0.0  # one hidden landmark
    out = mask_low_visibility(one, 0.5)
    assert np.isnan(out[7, [X, Y, Z]]).all() and not np.isnan(np.delete(out, 7, axis=0)).any()
    assert np.isnan(mask_low_visibility(empty_image(3), 0.5)).all()  # nobody: stays NaN
    assert mask_low_visibility(empty_image(0), 0.5).shape == (0, 33, 5)
    with pytest.raises(ValueError):
        mask_low_visibility(np.zeros((3, 33, 3), dtype=np.float32), 0.5)  # world rows have no visibility
