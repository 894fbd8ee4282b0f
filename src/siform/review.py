"""The review job: a recorded video in, ``session.json``, ``frames.csv``, ``landmarks.trc``,
``annotated.mp4`` and ``report.html`` out.

Two passes over the video: the first estimates poses (the expensive part), then the engine judges
the whole set (a rep's verdict can depend on the reps after it, through the person's own
baseline), then the second pass paints those verdicts onto the frames. Whatever part of a file is
usable is analysed; what is not is listed in the session with the reason.

The outputs are written into a hidden folder inside the output folder and moved in only when the
whole review succeeded, so a folder never mixes two runs (an old ``annotated.mp4`` beside a new
``--no-video`` report) and a failed or interrupted review (Ctrl-C, SIGTERM) leaves it as it was.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import queue
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from siform.draw.video import FramePainter, write_annotated
from siform.errors import InputError, OutputError, os_reason
from siform.export import write_frames_csv, write_trc
from siform.gate import posture_refusal
from siform.model_store import sha256_of
from siform.pipeline import SessionResult, analyze_track
from siform.pose import PoseTrack
from siform.pose_lanes import estimate_poses, join_through_interrupts
from siform.report import render_report, report_charts
from siform.session import build_session, validate_session, write_session
from siform.signals.compute import SignalSet
from siform.signals.filters import frame_timing
from siform.sources import Frame, VideoFileSource
from siform.specs.model import ExerciseSpec

log = logging.getLogger(__name__)

NO_PERSON_GAP_S = 1.0
"""Stretches without a person at least this long are reported as unusable."""
THUMB_WIDTH = 360
PREFETCH_FRAMES = 16
"""Pass 2 decodes this many frames ahead in a thread, overlapping decoding with painting and the
encoder's pipe (about 5% of the review's time on two cores; in pass 1, next to MediaPipe, it gained
nothing measurable, see benchmarks/analyze_throughput.py)."""
ENDS_EARLY = "the file ends early (cut off or damaged); the rest could not be read"
OUTPUT_NAMES = ("session.json", "frames.csv", "landmarks.trc", "annotated.mp4", "report.html")
"""Every file a review can write. A file of one of these names left by an earlier run that this run
does not write is removed when the new outputs move in; no other file of the folder is touched.
(A new output must be added here, or an old copy of it would outlive a run that skips it.)"""
STAGING_PREFIX = ".siform-incomplete-"
"""The hidden folder inside the output folder that a review writes into until it is complete,
followed by the process id of the review (a folder left by a killed process is removed next time)."""
OUT_HINT = "Choose another output folder with --out."


@dataclass(slots=True)
class ReviewOutput:
    out_dir: Path
    session: dict[str, object]
    result: SessionResult
    files: dict[str, Path] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    """Why the review is incomplete, one plain sentence each (empty when nothing is wrong). The
    outputs are written either way; the command line exits non-zero when there are any."""
    track: PoseTrack | None = None
    """The poses the review judged (pass 1), for callers that compare other paths on the same poses."""


def prefetched(frames: Iterable[Frame], depth: int = PREFETCH_FRAMES) -> Iterator[Frame]:
    """``frames``, read ahead by a thread (OpenCV releases the GIL while decoding).

    An error in the reader is raised here, in the consumer; closing this generator stops the reader.
    """
    items: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for frame in frames:
                if not put(frame):
                    return
        except BaseException as exc:  # handed over to the consumer, which raises it
            put(exc)
            return
        put(end)

    reader = threading.Thread(target=read, name="siform-decode", daemon=True)
    reader.start()
    try:
        while (item := items.get()) is not end:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        # At most a frame's decoding. A Ctrl-C or SIGTERM landing in this wait must not leave the
        # reader inside OpenCV at exit: see :func:`siform.pose_lanes.join_through_interrupts`.
        join_through_interrupts(reader)


def estimate_track(
    path: Path,
    model_path: Path,
    on_frame: Callable[[int, int | None], None] | None = None,
    lanes: int | None = None,
    split: bool = True,
) -> tuple[PoseTrack, VideoFileSource]:
    """Pass 1: poses for every readable frame of ``path``, in two halves (on two cores where there
    are two; the result is the same either way, see :mod:`siform.pose_lanes`)."""
    source = VideoFileSource(path)
    with source:
        frames = estimate_poses(source, model_path, on_frame, lanes, split)
    track = PoseTrack.from_frames(frames, source.info.width, source.info.height)
    return track, source


def unusable_parts(track: PoseTrack, source: VideoFileSource) -> list[dict[str, object]]:
    """Stretches without a person, and a file that ends before its own header says it should."""
    parts: list[dict[str, object]] = []
    t = track.t_ms / 1000.0
    found = track.found
    k = 0
    n = len(track)
    while k < n:
        if found[k]:
            k += 1
            continue
        start = k
        while k < n and not found[k]:
            k += 1
        end_s = float(t[k]) if k < n else float(t[-1])
        if end_s - float(t[start]) >= NO_PERSON_GAP_S or start == 0 or k == n:
            parts.append(
                {"start_s": round(float(t[start]), 3), "end_s": round(end_s, 3), "reason": "nobody in view"}
            )
    expected = source.info.frame_count
    if expected and n < expected - 2 and source.info.fps > 0:
        parts.append(
            {
                "start_s": round(float(t[-1]) if n else 0.0, 3),
                "end_s": round(expected / source.info.fps, 3),
                "reason": ENDS_EARLY,
            }
        )
    return parts


def review_problems(
    result: SessionResult, spec: ExerciseSpec, unusable: list[dict[str, object]], name: str
) -> list[str]:
    """What keeps a review from being complete: a cut-off file, a camera view the exercise cannot
    be judged from (often the wrong exercise named), or nothing of the exercise found."""
    problems = [
        f"{name} ends early at {part['start_s']:.1f} s of {part['end_s']:.1f} s (cut off or damaged): "
        "only the part before that was analysed."
        for part in unusable
        if part["reason"] == ENDS_EARLY
    ]
    check = f"Is '{spec.id}' the exercise in this video?"
    wrong_posture = posture_refusal(result.setup)
    if wrong_posture is not None:  # the person's posture rules the exercise out: one line, no checks
        problems.append(f"No {spec.name.lower()} was analysed in {name}: {wrong_posture}")
    elif result.view is None:
        measured = result.setup.facing_measured
        seen = f"from the {measured.split('/')[0]}" if measured else "from an unclear angle"
        wanted = " or the ".join(dict.fromkeys(v.facing for v in spec.views))
        problems.append(
            f"No {spec.name.lower()} was analysed in {name}: the camera sees the person {seen}, "
            f"and this exercise is checked from the {wanted}. {check}"
        )
    elif not result.reps and not result.holds:
        unit = "reps" if spec.kind == "reps" else "holds"
        problems.append(f"No {spec.name.lower()} {unit} were found in {name}. {check}")
    return problems


def _thumbnail(image: np.ndarray) -> bytes:
    h, w = image.shape[:2]
    scale = THUMB_WIDTH / w
    small = cv2.resize(image, (THUMB_WIDTH, round(h * scale)), interpolation=cv2.INTER_AREA)
    ok, jpg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 82])
    return jpg.tobytes() if ok else b""


def check_out_dir(out_dir: Path) -> None:
    """Raise :class:`OutputError` when ``out_dir`` cannot hold a review's results.

    Called before pass 1, which takes minutes: an output path that is a file or below one, or a
    folder siform may not write to, is said at once. Writability is tried, not read from permission
    bits (root ignores those; a read-only mount or an immutable folder does not): a hidden folder
    is made and removed where the outputs would go, or where ``out_dir`` would be created.
    """
    out_dir = Path(out_dir)
    nearest = out_dir
    while not os.path.lexists(nearest) and nearest.parent != nearest:
        nearest = nearest.parent
    if not nearest.is_dir():
        where = "is a file" if nearest == out_dir else f"cannot be made: {nearest} is a file"
        raise OutputError(f"Output folder {out_dir} {where}, not a folder.", OUT_HINT)
    try:
        Path(tempfile.mkdtemp(prefix=".siform-check-", dir=nearest)).rmdir()
    except OSError as exc:
        reason = f"{os_reason(exc)}: {nearest}"
        raise OutputError(f"Output folder {out_dir} cannot be written ({reason}).", OUT_HINT) from None
    for name in OUTPUT_NAMES:
        if (out_dir / name).is_dir():
            raise OutputError(f"Output folder {out_dir} holds a folder called {name}.", OUT_HINT)


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block is done, then act as they would have.

    Moving the finished outputs in, or cleaning up after a failure, takes milliseconds; cut half way
    it would leave the folder mixed. (Python runs signal handlers in the main thread only, so
    elsewhere this does nothing.)
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: caught.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}  # fmt: skip
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        for signum in caught:
            signal.raise_signal(signum)


def _make_folders(out_dir: Path) -> list[Path]:
    """Create ``out_dir`` and its missing parents; the ones created, outermost first."""
    missing: list[Path] = []
    folder = out_dir
    while not os.path.lexists(folder) and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    created = []
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:
            continue  # made meanwhile by someone else: not ours to remove
        created.append(folder)
    return created


def _move_in(stage: Path, out_dir: Path) -> None:
    """The staged outputs into ``out_dir`` (same file system: each a rename), then an earlier run's
    outputs that this run did not write out of it."""
    written = {item.name for item in stage.iterdir() if not item.name.startswith(".")}  # not helpers' temps
    for name in sorted(written):
        (stage / name).replace(out_dir / name)
    for name in OUTPUT_NAMES:
        old = out_dir / name
        if name not in written and (old.is_file() or old.is_symlink()):
            old.unlink()


def _remove_abandoned_stages(out_dir: Path) -> None:
    """Staging folders of reviews killed outright (SIGKILL, a power cut: no cleanup ran). One whose
    process still runs is another review writing into the same folder and is left alone."""
    for stage in out_dir.glob(f"{STAGING_PREFIX}*"):
        pid = stage.name.removeprefix(STAGING_PREFIX).partition("-")[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(stage, ignore_errors=True)
        except OSError:
            continue  # alive, another user's


def _staged(review: Callable[..., ReviewOutput]) -> Callable[..., ReviewOutput]:
    """Run ``review`` with its ``out_dir`` replaced by a staging folder inside it; move the outputs
    in only when it returns. On any exception, KeyboardInterrupt included, the staging folder and
    any folders made for it are removed and ``out_dir`` is left exactly as it was."""
    parameters = inspect.signature(review)

    @functools.wraps(review)
    def run(*args: object, **kwargs: object) -> ReviewOutput:
        bound = parameters.bind(*args, **kwargs)
        out_dir = Path(bound.arguments["out_dir"])  # type: ignore[arg-type]
        check_out_dir(out_dir)
        created: list[Path] = []
        stage: Path | None = None
        try:
            created = _make_folders(out_dir)
            _remove_abandoned_stages(out_dir)
            stage = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=out_dir))
            bound.arguments["out_dir"] = stage
            output = review(*bound.args, **bound.kwargs)
            with _signals_deferred():
                _move_in(stage, out_dir)
                shutil.rmtree(stage, ignore_errors=True)
        except BaseException:
            with _signals_deferred():
                if stage is not None:
                    shutil.rmtree(stage, ignore_errors=True)
                for folder in reversed(created):
                    try:
                        folder.rmdir()
                    except OSError:
                        break  # something else was put there meanwhile: leave it
            raise
        output.out_dir = out_dir
        output.files = {key: out_dir / file.name for key, file in output.files.items()}
        return output

    return run


@_staged
def review_video(
    path: Path,
    spec: ExerciseSpec,
    out_dir: Path,
    model_path: Path,
    side: str | None = None,
    history: list[dict[str, object]] | None = None,
    on_frame: Callable[[int, int | None], None] | None = None,
    video: bool = True,
    estimated: tuple[PoseTrack, VideoFileSource] | None = None,
    recognition: dict[str, object] | None = None,
    patient: str | None = None,
) -> ReviewOutput:
    """``estimated`` is pass 1's result (:func:`estimate_track`) when the caller already ran it,
    e.g. to recognise the exercise first; ``recognition`` then goes into ``session.json``, as does
    ``patient`` (whose set it is: the report's trend compares only that person's sessions).

    All outputs or none: they appear in ``out_dir`` only when the whole review succeeded, replacing
    an earlier run's (see :func:`_staged`; ``out_dir`` is the staging folder inside this body)."""
    track, source = estimated or estimate_track(path, model_path, on_frame)
    if not track.found.any():
        raise InputError(
            f"Nobody was found in {path.name}.",
            "Record again with your whole body in view and good light.",
        )
    result = analyze_track(track, spec, side)
    unusable = unusable_parts(track, source)
    info = source.info
    session = build_session(
        result, spec, mode="review", model_path=model_path, unusable=unusable, recognition=recognition,
        patient=patient,
        source={"file": path.name, "sha256": sha256_of(path), "width": info.width,
                "height": info.height, "fps": round(info.fps, 3),
                "sample_aspect": round(info.sample_aspect, 4),
                "variable_frame_rate": len(track) > 1 and not frame_timing(track.t_ms).regular},
    )  # fmt: skip
    validate_session(session)
    files = {
        "session": out_dir / "session.json",
        "frames": out_dir / "frames.csv",
        "trc": out_dir / "landmarks.trc",
    }
    write_session(session, files["session"])
    write_frames_csv(result, track.found.tolist(), files["frames"])
    write_trc(track, files["trc"])

    thumbnails: dict[tuple[int, str], bytes] = {}
    charts: str | None = None
    if video and result.view is not None:
        # The charts need no thumbnails: draw them in a thread while pass 2 paints and encodes
        # (OpenCV, the decoder thread and ffmpeg's process leave the interpreter mostly free).
        drawn: dict[str, str | BaseException] = {}

        def draw_charts() -> None:
            try:
                drawn["charts"] = report_charts(session, result.t_ms, result.signals)
            except BaseException as exc:  # raised below, in this thread
                drawn["charts"] = exc

        drawer = threading.Thread(target=draw_charts, name="siform-charts", daemon=True)
        drawer.start()
        wanted: dict[int, list[tuple[int, str]]] = {}
        for item in [*result.reps, *result.holds]:
            for c in item.failed:
                if c.worst_index is not None:
                    wanted.setdefault(c.worst_index, []).append((item.number, c.id))
        painter = FramePainter(spec, track, result, SignalSet(spec, result.sides))

        def keep_thumbnail(index: int, painted: np.ndarray) -> None:
            if index in wanted:
                jpg = _thumbnail(painted)
                for key in wanted[index]:
                    thumbnails[key] = jpg

        files["video"] = out_dir / "annotated.mp4"
        fps = info.fps if info.fps > 0 else 30.0
        with VideoFileSource(path) as again, closing(prefetched(again)) as ahead:
            try:
                size = (info.width, info.height)
                write_annotated(ahead, painter, files["video"], size, fps, keep_thumbnail)
            finally:
                # Also when pass 2 was interrupted: the charts thread must have ended before the
                # process does (a Ctrl-C or SIGTERM while waiting for it is raised after it ended).
                join_through_interrupts(drawer)
        if isinstance(drawn["charts"], BaseException):
            raise drawn["charts"]
        charts = drawn["charts"]

    files["report"] = out_dir / "report.html"
    html = render_report(session, result.t_ms, result.signals, thumbnails, history or [], charts)
    files["report"].write_text(html, encoding="utf-8")
    problems = review_problems(result, spec, unusable, path.name)
    return ReviewOutput(out_dir, session, result, files, problems, track)
