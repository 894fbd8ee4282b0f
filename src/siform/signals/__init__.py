"""The signal layer: pure functions from landmark arrays to per-frame numbers, and their filters.

``geometry`` turns ``(T, 33, D)`` landmarks into ``(T,)`` angles, tilts and normalised distances;
``filters`` smooths landmarks (causal One Euro for live use, zero-phase Butterworth offline) and
bridges short dropouts. Nothing here knows about exercises, reps or video.
"""
