"""Smoothing and gap handling for landmark arrays, with NaN as the only "missing" marker.

- :class:`OneEuroFilter` / :func:`one_euro`: causal and adaptive (Casiez, Roussel and Vogel,
  CHI 2012), for live feedback: strong smoothing when still, little lag when moving.
- :func:`butterworth_zero_phase`: forward-backward low-pass for whole recordings, where the future
  is known: no phase lag, so rep timings and peak angles stay where they happened. It runs on the
  frames' real times (:func:`frame_timing`); :func:`review_cutoff` keeps its cutoff below Nyquist.
- :func:`bridge_gaps`: linear interpolation across short dropouts only.
- :func:`mask_low_visibility`: turns landmarks MediaPipe itself doubts into NaN.

All functions work along axis 0 (time) on arrays ``(T, ...)`` of any trailing shape, never let a
NaN spread to a neighbouring sample, and return new float arrays (inputs are never modified).
Times are ``t_ms`` ``(T,)`` in milliseconds, non-decreasing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from siform.landmarks import IMAGE_CHANNELS, NUM_LANDMARKS, VISIBILITY, ImageLandmarks, X, Z

FloatArray = npt.NDArray[np.float64]
"""``(T, ...)`` float64 series (or one ``(...)`` sample for :meth:`OneEuroFilter.update`)."""

# Finite runs shorter than this (0.1 s at 30 frames/s) are left as they are: a low-pass over two or
# three samples is mostly its own edge transient.
_MIN_RUN: Final = 4
# Frames within this of a steady clock count as regular: container times are rounded to whole
# milliseconds (a GIF's to centiseconds), which is not a variable frame rate.
_REGULAR_TOLERANCE_MS: Final = 1.0
_REGULAR_TOLERANCE: Final = 0.05  # of the frame interval
SAFE_NYQUIST_FRACTION: Final = 0.8
"""Highest review cutoff, as a fraction of the Nyquist frequency (see :func:`review_cutoff`)."""
MIN_CUTOFF_KEPT: Final = 0.5
"""Least fraction of a spec's cutoff a clamp may keep before review gives up smoothing instead."""


def _times(t_ms: npt.ArrayLike, frames: int) -> FloatArray:
    t = np.asarray(t_ms, dtype=np.float64)
    if t.shape != (frames,):
        raise ValueError(f"t_ms must have shape ({frames},) to match the series, got {t.shape}")
    return t


def _alpha(cutoff_hz: FloatArray | float, dt_s: FloatArray) -> FloatArray:
    """Smoothing factor of a first-order low-pass with this cutoff for a step of ``dt_s`` seconds."""
    r = 2.0 * np.pi * np.asarray(cutoff_hz) * dt_s
    return np.asarray(r / (1.0 + r), dtype=np.float64)


class OneEuroFilter:
    """Causal One Euro filter on arrays of any fixed shape, element by element.

    The cutoff of a first-order low-pass rises with the (itself low-passed) speed:
    ``cutoff = min_cutoff + beta * |speed|``, so jitter of a still body is smoothed at
    ``min_cutoff`` Hz while fast movement passes with little lag. ``min_cutoff`` and ``d_cutoff`` are
    in Hz; ``beta`` in seconds per unit of ``x`` (per pixel for pixel input), so it must be re-tuned
    when the units change. Typical start: ``min_cutoff=1``, ``beta`` raised until lag on fast moves
    is acceptable.

    State per element (shape of the first sample): last raw value, last filtered value, last filtered
    speed, time of its last finite sample. The speed is taken from consecutive *raw* samples, as in
    the authors' reference implementation (from the filtered value it would include the filter's own
    lag and overestimate). A NaN element outputs NaN and leaves its state alone, so one missing
    frame does not poison later ones; after a gap the longer step makes the filter follow the new
    value more closely. A sample at a time not after the element's last one (duplicate or
    out-of-order timestamp) returns the previous estimate without updating.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0) -> None:
        if not (min_cutoff > 0 and d_cutoff > 0 and beta >= 0):
            raise ValueError(
                f"OneEuroFilter needs min_cutoff > 0, d_cutoff > 0, beta >= 0; "
                f"got {min_cutoff}, {d_cutoff}, {beta}"
            )
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self._state: tuple[FloatArray, FloatArray, FloatArray, FloatArray] | None = None

    def reset(self) -> None:
        """Forget all state; the next sample passes through unchanged."""
        self._state = None

    def update(self, x: npt.ArrayLike, t_ms: float) -> FloatArray:
        """Filter one sample ``x`` taken at ``t_ms``; returns a new float64 array of its shape."""
        x = np.asarray(x, dtype=np.float64)
        if self._state is None:
            nan = np.full(x.shape, np.nan)
            self._state = (nan, nan, np.zeros(x.shape), nan)
        elif x.shape != self._state[0].shape:
            raise ValueError(
                f"OneEuroFilter was fed shape {self._state[0].shape}, now {x.shape}; reset() first"
            )
        raw, value, speed, last = self._state

        seen = np.isfinite(x)
        first = seen & np.isnan(last)
        dt_s = (float(t_ms) - last) / 1000.0  # NaN where never seen
        step = seen & (dt_s > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            new_speed = speed + _alpha(self.d_cutoff, dt_s) * ((x - raw) / dt_s - speed)
            cutoff = self.min_cutoff + self.beta * np.abs(new_speed)
            new_value = value + _alpha(cutoff, dt_s) * (x - value)

        value = np.where(first, x, np.where(step, new_value, value))
        self._state = (
            np.where(first | step, x, raw),
            value,
            np.where(step, new_speed, speed),
            np.where(first | step, float(t_ms), last),
        )
        return np.where(seen, value, np.nan)


def one_euro(
    series: npt.ArrayLike,
    t_ms: npt.ArrayLike,
    min_cutoff: float = 1.0,
    beta: float = 0.0,
    d_cutoff: float = 1.0,
) -> FloatArray:
    """Run a fresh :class:`OneEuroFilter` causally over ``series`` ``(T, ...)``: offline, the exact
    output the live path would have produced."""
    x = np.asarray(series, dtype=np.float64)
    if x.ndim == 0:
        raise ValueError("one_euro needs a series (T, ...), got a scalar; use OneEuroFilter.update")
    t = _times(t_ms, x.shape[0])
    flt = OneEuroFilter(min_cutoff, beta, d_cutoff)
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = flt.update(x[i], float(t[i]))
    return out


def _finite_runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` of the True runs in a 1-D mask."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


@dataclass(frozen=True, slots=True)
class FrameTiming:
    """How a recording's frames are spaced in time, as the review low-pass needs to know it.

    ``regular``: every frame sits within rounding of a steady clock (container times are whole
    milliseconds, a GIF's whole centiseconds), so the frames themselves are the filter's samples and
    ``rate_hz`` is their true mean rate. Otherwise (variable frame rate: a phone changing its
    shutter, dropped or repeated frames) the signals are resampled to a uniform grid at the typical
    (median) frame interval, ``rate_hz`` is that grid's rate, and the filtered values are read back
    at each frame's own time. Treating irregular frames as steady would stretch and squeeze time,
    so the same cutoff would smooth some stretches far harder than others and shave real peaks.
    """

    rate_hz: float
    regular: bool


def frame_timing(t_ms: npt.ArrayLike) -> FrameTiming:
    """The :class:`FrameTiming` of frames at ``t_ms`` (``NaN`` rate for fewer than two frames).

    Raises ValueError when the times do not increase (the median interval is not positive).
    """
    t = np.asarray(t_ms, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"t_ms must be 1-D, got shape {t.shape}")
    if t.shape[0] < 2:
        return FrameTiming(float("nan"), True)
    median_dt = float(np.median(np.diff(t)))
    if not median_dt > 0:
        raise ValueError(f"t_ms must increase; the median frame interval is {median_dt} ms")
    mean_dt = float(t[-1] - t[0]) / (t.shape[0] - 1)
    steady = t[0] + np.arange(t.shape[0]) * mean_dt
    if float(np.abs(t - steady).max()) <= max(_REGULAR_TOLERANCE_MS, _REGULAR_TOLERANCE * mean_dt):
        return FrameTiming(1000.0 / mean_dt, True)
    # The typical interval: the mean of those within rounding of the median (33 and 34 ms at 30
    # frames/s average to the true 33.3; the median alone would say 33 or 34).
    dt = np.diff(t)
    typical = np.abs(dt - median_dt) <= max(_REGULAR_TOLERANCE_MS, _REGULAR_TOLERANCE * median_dt)
    return FrameTiming(1000.0 / float(dt[typical].mean()), False)


def review_cutoff(cutoff_hz: float, rate_hz: float) -> tuple[float | None, str | None]:
    """The low-pass cutoff review can use at this sample rate, and a plain note when it is not the
    one asked for: ``(cutoff, None)``, ``(lower cutoff, note)`` or ``(None, note)`` for no smoothing.

    A Butterworth cutoff must lie below the Nyquist frequency (half the frame rate); close under it
    the filter barely acts. A cutoff above ``SAFE_NYQUIST_FRACTION`` of Nyquist is lowered to
    that fraction as long as this keeps at least ``MIN_CUTOFF_KEPT`` of the asked cutoff: a spec's
    cutoff sits above the movement's own frequencies with a margin, so a mild clamp only removes
    noise. Lower than that it would smooth away real movement (a peak angle shaved is a false
    fault), so the signals are left unsmoothed instead: with a 4 Hz cutoff that happens at 4 frames/s
    and below, with 2 Hz at 2 frames/s and below.
    """
    if not (np.isfinite(rate_hz) and rate_hz > 0):
        return cutoff_hz, None  # fewer than two frames: nothing will be filtered anyway
    safe = SAFE_NYQUIST_FRACTION * rate_hz / 2.0
    if cutoff_hz <= safe * 1.01:  # 1% slack: a rate from whole-ms times reads 29.99 for 30
        return cutoff_hz, None
    too_few = f"{rate_hz:.3g} frames per second are too few to smooth at the spec's {cutoff_hz:g} Hz"
    if safe >= MIN_CUTOFF_KEPT * cutoff_hz:
        return safe, f"{too_few}: smoothed at {safe:.2g} Hz instead"
    return None, f"{too_few}: measured unsmoothed, so values jitter more from frame to frame"


def _lerp(src_t: FloatArray, values: FloatArray, dst_t: FloatArray) -> FloatArray:
    """Rows of ``values`` ``(n, k)`` at ``src_t`` linearly interpolated to ``dst_t`` (held flat
    beyond the ends), all columns at once."""
    if src_t.shape[0] == 1:
        return np.repeat(values, dst_t.shape[0], axis=0)
    j = np.clip(np.searchsorted(src_t, dst_t, side="right") - 1, 0, src_t.shape[0] - 2)
    w = np.clip((dst_t - src_t[j]) / (src_t[j + 1] - src_t[j]), 0.0, 1.0)[:, None]
    result: FloatArray = values[j] * (1.0 - w) + values[j + 1] * w
    return result


@functools.lru_cache(maxsize=64)
def _butter_sos(order: int, cutoff_hz: float, fs: float) -> FloatArray:
    """The low-pass's second-order sections, designed once per (order, cutoff, rate): live coaching
    filters every finished rep, and designing the filter was a third of that."""
    from scipy.signal import butter

    sos: FloatArray = butter(order, cutoff_hz, fs=fs, output="sos")
    return sos  # shared: never written (scipy's filters need it writable, so it is not flagged)


def butterworth_zero_phase(
    x: npt.ArrayLike, t_ms: npt.ArrayLike, cutoff_hz: float, order: int = 2
) -> FloatArray:
    """Zero-phase Butterworth low-pass along axis 0, on the frames' real times, each finite run alone.

    Forward-backward filtering (``scipy.signal.sosfiltfilt``) cancels the phase lag, so a peak stays
    at its frame: right for offline analysis, impossible live (it needs the future). The effective
    order doubles and the -3 dB point moves slightly below ``cutoff_hz``.

    The sample rate is :func:`frame_timing`'s: regular frames are filtered as they are; irregular
    ones (variable frame rate) are resampled to a uniform grid, filtered there, and read back at
    their own times. Each element's runs of finite values are filtered separately, so NaN never
    spreads and values across a dropout never mix. A run shorter than filtfilt's default padding is
    padded with as many samples as it has (odd extension, ``padlen = n - 1``); runs of fewer than 4
    samples are returned unchanged. Raises ValueError when ``cutoff_hz`` is not below the Nyquist
    frequency (see :func:`review_cutoff` for choosing one that is).
    """
    # Imported here: scipy.signal takes over a second to import, which many callers never need.
    from scipy.signal import sosfiltfilt

    out = np.array(x, dtype=np.float64, order="C")  # C order: `flat` below must be a view
    if out.ndim == 0:
        raise ValueError("butterworth_zero_phase needs a series (T, ...), got a scalar")
    t = _times(t_ms, out.shape[0])
    if out.shape[0] < 2:
        return out
    timing = frame_timing(t)
    fs = timing.rate_hz
    if not 0 < cutoff_hz < fs / 2:
        raise ValueError(
            f"cutoff_hz must be in (0, {fs / 2:.3g}) Hz, the Nyquist frequency of {fs:.3g} frames/s; "
            f"got {cutoff_hz}"
        )
    sos = _butter_sos(order, float(cutoff_hz), round(fs, 9))
    trivial = min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    default_pad = 3 * (2 * len(sos) + 1 - trivial)  # sosfiltfilt's own default
    dt_ms = 1000.0 / fs

    def filtered(block: FloatArray) -> FloatArray:
        n = block.shape[0]
        result: FloatArray = sosfiltfilt(sos, block, axis=0, padlen=min(default_pad, n - 1))
        return result

    flat = out.reshape(out.shape[0], -1)  # a view: writing it fills `out`
    finite = np.isfinite(flat)
    # Columns with the same NaN pattern (usually all of a frame's coordinates) go through together;
    # grouping by packed bytes is ~50x faster than np.unique(axis=0) on the mask.
    packed = np.packbits(finite, axis=0)
    groups: dict[bytes, list[int]] = {}
    for col in range(flat.shape[1]):
        groups.setdefault(packed[:, col].tobytes(), []).append(col)
    for cols in groups.values():
        for start, stop in _finite_runs(finite[:, cols[0]]):
            if stop - start < _MIN_RUN:
                continue
            block = flat[start:stop, cols]
            if timing.regular:
                flat[start:stop, cols] = filtered(block)
                continue
            run_t = t[start:stop]
            steps = int(np.ceil((run_t[-1] - run_t[0]) / dt_ms - 1e-9))
            if steps + 1 < _MIN_RUN:
                continue
            grid = run_t[0] + dt_ms * np.arange(steps + 1)
            flat[start:stop, cols] = _lerp(grid, filtered(_lerp(run_t, block, grid)), run_t)
    return out


def bridge_gaps(x: npt.ArrayLike, t_ms: npt.ArrayLike, max_gap_ms: float) -> FloatArray:
    """Linearly interpolate NaN runs spanning at most ``max_gap_ms``, element by element.

    A gap's span is the time between the finite samples either side of it, i.e. the stretch the
    straight line is drawn over: ``k`` missing frames at a steady interval ``dt`` span
    ``(k + 1) * dt`` (two dropped frames at 30 frames/s span 100 ms). Longer gaps, and NaN at the
    start or end (nothing to interpolate towards), stay NaN: guessing through a long dropout would
    invent movement. Interpolation uses the real ``t_ms``, so a variable frame rate is honoured.
    """
    out = np.array(x, dtype=np.float64, order="C")  # C order: `flat` below must be a view
    if out.ndim == 0:
        raise ValueError("bridge_gaps needs a series (T, ...), got a scalar")
    t = _times(t_ms, out.shape[0])
    if out.shape[0] == 0:
        return out
    flat = out.reshape(out.shape[0], -1)
    frames = flat.shape[0]
    missing = np.isnan(flat)
    index = np.broadcast_to(np.arange(frames)[:, None], flat.shape)
    before = np.maximum.accumulate(np.where(missing, -1, index), axis=0)
    after = np.minimum.accumulate(np.where(missing, frames, index)[::-1], axis=0)[::-1]
    inner = missing & (before >= 0) & (after < frames)
    span = np.where(inner, t[np.where(inner, after, 0)] - t[np.where(inner, before, 0)], np.inf)
    rows, cols = np.nonzero((span <= max_gap_ms) & (span > 0))
    lo, hi = before[rows, cols], after[rows, cols]
    w = (t[rows] - t[lo]) / (t[hi] - t[lo])
    flat[rows, cols] = flat[lo, cols] + w * (flat[hi, cols] - flat[lo, cols])
    return out


def mask_low_visibility(image_landmarks: ImageLandmarks, min_visibility: float) -> ImageLandmarks:
    """Copy of ``(T, 33, 5)`` (or ``(33, 5)``) landmarks with x, y, z NaN where visibility is low.

    MediaPipe still returns coordinates for landmarks it believes are occluded or off-frame; they
    are guesses, and a guessed knee would make a confident wrong verdict. Making them NaN lets every
    signal downstream report "not visible" instead. Visibility and presence are kept as they were,
    so callers can still see why. The dtype is kept (float32 from :class:`siform.pose.PoseTrack`).
    """
    arr = np.array(image_landmarks, copy=True)
    if arr.ndim not in (2, 3) or arr.shape[-2:] != (NUM_LANDMARKS, IMAGE_CHANNELS):
        raise ValueError(f"image landmarks must have shape (T, 33, 5) or (33, 5), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    low = arr[..., VISIBILITY] < min_visibility
    arr[low, X : Z + 1] = np.nan
    return arr
