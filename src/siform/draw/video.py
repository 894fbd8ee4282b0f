"""The annotated review video: every frame with skeleton, rep count, phase, and each failed check
drawn on the body where and when it happened.

Frames are encoded to H.264 (plays in every browser and phone) by the static ffmpeg that the
``imageio-ffmpeg`` wheel ships, in its own process, so encoding overlaps with siform's own work.
Each frame keeps its source presentation time, so a variable-frame-rate recording plays back in
real time and a moment in the video is the moment the report names.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
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
from siform.signals.filters import frame_timing
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
        self._verdicts = self._verdict_windows(items)
        rx = spec.prescription
        self._target = rx.reps if spec.kind == "reps" else rx.hold_s

    def _verdict_windows(self, items: list[Rep | Hold]) -> list[tuple[int, int, str, bool]]:
        """(first frame, last frame, line, good news) of each counted rep's or hold's verdict.

        A verdict appears when its rep or hold has ended and stays :data:`VERDICT_SHOW_MS`, but
        never into the next movement: from the frame the next rep, hold or uncounted attempt
        starts, the line would read as a verdict on the movement under way (back-to-back reps
        showed "Rep 2: ..." during most of rep 3).
        """
        t = self.track.t_ms
        windows: list[tuple[int, int, str, bool]] = []
        for k, item in enumerate(items):
            if isinstance(item, Rep) and not item.number:
                continue  # an attempt too fast to count has no verdict line
            line, ok = rep_verdict(item) if isinstance(item, Rep) else hold_verdict(item)
            last = int(np.searchsorted(t, t[item.end_index] + VERDICT_SHOW_MS, side="right")) - 1
            if k + 1 < len(items):
                last = min(last, items[k + 1].start_index - 1)
            if last >= item.end_index:
                windows.append((item.end_index, last, line, ok))
        return windows

    def _verdict(self, i: int) -> tuple[str | None, bool]:
        for first, last, line, ok in self._verdicts:
            if first <= i <= last:
                return line, ok
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


def timestamp_expression(t_ms: Sequence[int]) -> str:
    """An ffmpeg expression of the input frame number ``N`` giving each frame's time in ms.

    A balanced tree of ``if(lt(N,k),...)`` over the frames: ffmpeg's ``setpts`` has no way to read
    a table of times, and the tree costs about 25 bytes per frame and ``log2(frames)`` comparisons
    per frame (0.5 MB, parsed in well under a second, for 20 000 frames). Frames past the end of
    ``t_ms`` continue at the median interval, so their times still grow. Commas are escaped for a
    filtergraph.
    """
    t = [int(v) for v in t_ms]
    if not t:
        return "N"
    step = max(1, round(float(np.median(np.diff(t))))) if len(t) > 1 else 1

    def tree(lo: int, hi: int) -> str:
        if hi - lo == 1:
            return str(t[lo]) if hi < len(t) else f"{t[lo]}+(N-{lo})*{step}"
        mid = (lo + hi) // 2
        return f"if(lt(N\\,{mid})\\,{tree(lo, mid)}\\,{tree(mid, hi)})"

    return tree(0, len(t))


def write_annotated(
    frames: Iterable[Frame],
    painter: FramePainter,
    path: Path,
    size: tuple[int, int],
    fps: float,
    on_painted: Callable[[int, npt.NDArray[np.uint8]], None] | None = None,
    t_ms: Sequence[int] | npt.NDArray[np.int64] | None = None,
) -> int:
    """Paint and encode every frame to H.264 MP4; returns the number of frames written.

    ``t_ms`` are the frames' source presentation times (default: the painter's track, i.e. pass
    1's times of the same file). A steady clock is written at ``fps`` (at the frames' own rate
    when that differs from ``fps`` by more than 0.5%); a variable frame rate keeps
    every frame's own time (millisecond time base), so the video neither speeds up nor slows down
    where the camera changed its rate. ``on_painted(index, image)`` sees each painted frame before
    it is encoded (e.g. to keep a thumbnail of the worst moment of a failed check).
    """
    import imageio_ffmpeg

    times = np.asarray(painter.track.t_ms if t_ms is None else t_ms, dtype=np.int64)
    quality = ["-crf", "26", "-preset", "veryfast", "-movflags", "+faststart"]
    script: Path | None = None
    timing = frame_timing(times) if len(times) > 1 else None
    if timing is None or timing.regular:
        output_params, block = quality, 2  # imageio-ffmpeg pads odd sizes for yuv420p
        if timing is not None and abs(fps - timing.rate_hz) > 0.005 * timing.rate_hz:
            # The header's rate is not the frames' own (a GIF's 3 frames/s reads as 3.03): the
            # frames' clock wins, or the video would drift from the report's times.
            fps = round(timing.rate_hz, 3)
    else:
        # The filter goes through a file: its expression outgrows a command-line argument.
        fd, name = tempfile.mkstemp(prefix=".timing-", suffix=".txt", dir=path.parent)
        script = Path(name)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write("pad=ceil(iw/2)*2:ceil(ih/2)*2,settb=1/1000,setpts=" + timestamp_expression(times))
        output_params = [
            "-/vf", str(script), "-fps_mode", "passthrough", "-enc_time_base", "1/1000",
            "-video_track_timescale", "1000", *quality,
        ]  # fmt: skip
        block = 1  # the script pads; imageio-ffmpeg's own -vf would replace it
    try:
        writer: Iterator[None] = imageio_ffmpeg.write_frames(
            str(path), size, fps=fps, codec="libx264", pix_fmt_in="bgr24", quality=None,
            output_params=output_params, macro_block_size=block,
            # ffmpeg's own lines are not for patients: an interrupted review closes the pipe mid-frame
            # and ffmpeg reports the torn frame as an error (an encoder that dies breaks the pipe,
            # which raises here).
            ffmpeg_log_level="fatal",
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
    finally:
        if script is not None:
            script.unlink(missing_ok=True)
    return n
