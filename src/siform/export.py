"""Per-frame exports: ``frames.csv`` (signals, phase, rep) and an OpenSim ``.trc`` of the landmarks.

``frames.csv`` is what a therapist or researcher opens in a spreadsheet to check a number in the
report against the frame it came from. The ``.trc`` lets biomechanists load MediaPipe's world
landmarks in OpenSim; it carries the real frame times, so variable frame rate survives.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from siform.landmarks import NAMES
from siform.pipeline import SessionResult
from siform.pose import PoseTrack


def frame_labels(result: SessionResult) -> tuple[list[int], list[str]]:
    """Per frame: the counted rep (hold) number it belongs to (0 = none) and its phase."""
    n = len(result.t_ms)
    number = [0] * n
    phase = ["rest"] * n
    for rep in result.reps:
        label = rep.outcome if not rep.number else None
        for i in range(rep.start_index, min(rep.end_index + 1, n)):
            number[i] = rep.number
            top_start = rep.top_start_index if rep.top_start_index is not None else rep.peak_index
            top_end = rep.top_end_index if rep.top_end_index is not None else rep.peak_index + 1
            if label:
                phase[i] = label
            elif i < top_start:
                phase[i] = "ascent"
            elif i < top_end:
                phase[i] = "top"
            else:
                phase[i] = "descent"
    for hold in result.holds:
        for i in range(hold.start_index, min(hold.end_index + 1, n)):
            number[i] = hold.number
            phase[i] = "hold"
    return number, phase


def write_frames_csv(result: SessionResult, found: Sequence[bool], path: Path) -> None:
    names = list(result.signals)
    number, phase = frame_labels(result)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["frame", "t_s", "person_found", "rep", "phase", *names])
        columns = [result.signals[n] for n in names]
        for i, t in enumerate(result.t_ms.tolist()):
            values = ["" if not np.isfinite(c[i]) else f"{c[i]:.4f}" for c in columns]
            writer.writerow([i, f"{t / 1000.0:.3f}", int(bool(found[i])), number[i], phase[i], *values])


def write_trc(track: PoseTrack, path: Path) -> None:
    """MediaPipe world landmarks (metres, hip-centred) as OpenSim markers.

    Axes are converted to OpenSim's Y-up convention: X = x, Y = -y, Z = -z. Frames without a person
    are written with empty marker cells, which OpenSim treats as gaps.
    """
    n = len(track)
    t_s = track.t_ms.astype(np.float64) / 1000.0
    rate = 1.0 / float(np.median(np.diff(t_s))) if n > 1 else 30.0
    xyz = track.world.astype(np.float64) * np.array([1.0, -1.0, -1.0])
    lines = [
        f"PathFileType\t4\t(X/Y/Z)\t{path.name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        f"{rate:.2f}\t{rate:.2f}\t{n}\t{len(NAMES)}\tm\t{rate:.2f}\t1\t{n}",
        "Frame#\tTime\t" + "\t\t\t".join(NAMES) + "\t\t",
        "\t\t" + "\t".join(f"X{k}\tY{k}\tZ{k}" for k in range(1, len(NAMES) + 1)),
        "",
    ]
    for i in range(n):
        cells = ["" if not np.isfinite(v) else f"{v:.5f}" for v in xyz[i].ravel()]
        lines.append(f"{i + 1}\t{t_s[i]:.4f}\t" + "\t".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
