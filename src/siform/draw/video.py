"""The annotated review video: every frame with skeleton, rep count, phase, and each failed check
drawn on the body where and when it happened.

Frames are encoded to H.264 (plays in every browser and phone) by the static ffmpeg that the
``imageio-ffmpeg`` wheel ships, in its own process, so encoding overlaps with siform's own work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from siform.draw.faults import FaultAnnotator
from siform.draw.hud import HudAnnotator
from siform.draw.skeleton import SkeletonAnnotator
from siform.export import frame_labels
from siform.pipeline import SessionResult
from siform.pose import PoseTrack
from siform.results import CheckResult, Hold, Rep
from siform.signals.compute import SignalSet
from siform.sources import Frame
from siform.specs.model import ExerciseSpec

VERDICT_SHOW_MS = 2500
EMPHASIS_MS = 400


@dataclass(frozen=True, slots=True)
class _FaultSpan:
    start: int
    end: int
    worst: int
    result: CheckResult


def rep_verdict(rep: Rep) -> tuple[str, bool]:
    """The line shown after a rep, and whether it is good news (green) or a cue (amber)."""
    if not rep.failed:
        score = f" ({rep.score:.0f})" if rep.score is not None else ""
        return f"Rep {rep.number}: good form{score}", True
    return f"Rep {rep.number}: {rep.failed[0].cue}", False


def hold_verdict(hold: Hold) -> tuple[str, bool]:
    """The line shown after a hold: green only when the form held and so did the clock."""
    if hold.failed:
        return f"Hold {hold.number}: {hold.failed[0].cue}", False
    clock = f"Hold {hold.number}: {hold.held_s:.1f} s of {hold.target_s:g} s"
    if hold.stopped_short:
        return f"{clock}, stopped short", False
    return clock, True


class FramePainter:
    """Knows the whole session's result and paints frame ``i`` of it."""

    def __init__(
        self, spec: ExerciseSpec, track: PoseTrack, result: SessionResult, signals: SignalSet
    ) -> None:
        self.spec = spec
        self.track = track
        self.result = result
        self.signals = signals
        self.number, self.phase = frame_labels(result)
        self.skeleton = SkeletonAnnotator()
        self.hud = HudAnnotator()
        self.faults = FaultAnnotator()
        t = track.t_ms
        self._spans: list[_FaultSpan] = []
        items = sorted([*result.reps, *result.holds], key=lambda it: it.start_index)
        for k, item in enumerate(items):
            # A fault stays on screen a little after its rep, but never into the next rep's own faults.
            next_start = items[k + 1].start_index - 1 if k + 1 < len(items) else len(t) - 1
            shown_until = int(np.searchsorted(t, t[item.end_index] + VERDICT_SHOW_MS))
            end_extra = max(item.end_index, min(shown_until, next_start))
            for c in item.failed:
                if c.worst_index is not None:
                    self._spans.append(_FaultSpan(item.start_index, end_extra, c.worst_index, c))
        self._ends = sorted((r.end_index, r) for r in result.reps if r.number)
        self._hold_ends = sorted((h.end_index, h) for h in result.holds)
        self._holds = {h.number: h for h in result.holds}
        rx = spec.prescription
        self._target = rx.reps if spec.kind == "reps" else rx.hold_s

    def _verdict(self, i: int) -> tuple[str | None, bool]:
        t = self.track.t_ms
        for end, rep in reversed(self._ends):
            if end <= i:
                if t[i] - t[end] > VERDICT_SHOW_MS:
                    return None, True
                return rep_verdict(rep)
        for end, hold in reversed(self._hold_ends):
            if end <= i and t[i] - t[end] <= VERDICT_SHOW_MS:
                return hold_verdict(hold)
        return None, True

    def paint(self, i: int, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        lm = self.track.image[i]
        self.skeleton.annotate(image, lm)
        if self.spec.kind == "reps":
            done = sum(1 for end, _r in self._ends if end <= i)
            count = f"Reps {done}/{self._target}"
        else:
            current = self._holds.get(self.number[i]) if self.phase[i] == "hold" else None
            if current is not None:  # the clock of the hold under way, as the therapist counts it
                elapsed = (int(self.track.t_ms[i]) - current.start_ms) / 1000.0
                count = f"Hold {current.number}: {elapsed:.0f} of {current.target_s:g} s"
            else:
                count = f"Holds done {sum(1 for end, _h in self._hold_ends if end <= i)}"
        verdict, ok = self._verdict(i)
        self.hud.annotate(image, self.spec.name, count, self.phase[i], verdict, ok)
        row = 0
        t = self.track.t_ms
        for span in self._spans:
            if span.start <= i <= span.end:
                signal = self.signals.bound[self._signal_of(span.result.id)]
                emphasis = abs(int(t[i]) - int(t[span.worst])) <= EMPHASIS_MS
                self.faults.annotate(image, lm, span.result, signal, row, emphasis)
                row += 1
        if not np.isfinite(lm[0, 0]):
            from siform.draw.text import put_label

            h = image.shape[0]
            put_label(image, "No person in view", (10, h // 2), (40, 180, 245), 0.7)
        return image

    def _signal_of(self, check_id: str) -> str:
        return next(c.signal for c in self.spec.checks if c.id == check_id)


def write_annotated(
    frames: Iterable[Frame],
    painter: FramePainter,
    path: Path,
    size: tuple[int, int],
    fps: float,
    on_painted: Callable[[int, npt.NDArray[np.uint8]], None] | None = None,
) -> int:
    """Paint and encode every frame to H.264 MP4; returns the number of frames written.

    ``on_painted(index, image)`` sees each painted frame before it is encoded (e.g. to keep a
    thumbnail of the worst moment of a failed check).
    """
    import imageio_ffmpeg

    writer: Iterator[None] = imageio_ffmpeg.write_frames(
        str(path), size, fps=fps, codec="libx264", pix_fmt_in="bgr24", quality=None,
        output_params=["-crf", "26", "-preset", "veryfast", "-movflags", "+faststart"],
        macro_block_size=2,
    )  # fmt: skip
    writer.send(None)  # type: ignore[attr-defined]
    n = 0
    try:
        for frame in frames:
            image = np.ascontiguousarray(frame.image)
            painter.paint(frame.index, image)
            if on_painted is not None:
                on_painted(frame.index, image)
            writer.send(image)  # type: ignore[attr-defined]
            n += 1
    finally:
        writer.close()  # type: ignore[attr-defined]
    return n
