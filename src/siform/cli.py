"""The ``siform`` command: thin subcommands over the library.

This is the only place that turns a :class:`SiformError` into an exit code: one line on stderr, no
traceback (``--debug`` shows it). Patients run this; a stack trace helps nobody in front of a camera.
"""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, get_args

from siform import __version__
from siform.errors import InputError, SiformError, os_reason
from siform.model_store import ModelReport, Variant

log = logging.getLogger("siform")

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM (a service manager, ``kill``, a closing terminal session), raised in the main thread
    as Ctrl-C is, so one cleanup path runs for both: the pose lanes stop and close their models,
    a review's half-written outputs are removed and the output folder is left as it was."""


def _terminate(_signum: int, _frame: object) -> None:
    raise Terminated


def _os_error_line(exc: OSError) -> str:
    """A file system error as one sentence naming the path, with what to do about it."""
    path = f"{exc.filename}: " if exc.filename else ""
    hint = ""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = " Choose a folder you can write to, or check its permissions."
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = " Free some disk space or choose a folder on another disk."
    return f"{path}{os_reason(exc)}.{hint}"


def _unexpected_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = text if len(text) <= 200 else text[:197] + "..."
    detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return f"unexpected error ({detail}). Run again with --debug for details and please report it."


def _progress_bar_hook(desc: str) -> tuple[Callable[[int, int | None], None], Callable[[], None]]:
    from tqdm import tqdm

    bar: tqdm | None = None  # type: ignore[type-arg]

    def update(done: int, total: int | None) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc, unit="B", unit_scale=True, leave=False, file=sys.stderr)
        bar.update(done - bar.n)

    def close() -> None:
        if bar is not None:
            bar.close()

    return update, close


def _provision(variant: Variant, offline: bool = False, wheel: str | None = None) -> ModelReport:
    """Find, download or build the pose model, showing progress (first use can take a minute)."""
    from siform.model_store import ensure_model

    update, close = _progress_bar_hook("pose model")
    try:
        return ensure_model(
            variant,
            offline=True if offline else None,
            wheel=Path(wheel) if wheel else None,
            progress=update,
            step=lambda msg: print(f"  {msg}", file=sys.stderr),
        )
    finally:
        close()


def cmd_models(args: argparse.Namespace) -> int:
    report = _provision(args.variant, args.offline, args.wheel)
    if report.action == "present":
        print(
            f"{report.path.name} is already in {report.path.parent} and verified "
            f"(sha256 {report.sha256[:12]}...); nothing to do."
        )
    else:
        for line in report.tried:
            print(f"  {line}", file=sys.stderr)
        print(f"{report.action.capitalize()} {report.path} (sha256 {report.sha256[:12]}...), verified.")
    return 0


def cmd_pose(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from siform.pose import PoseEstimator, PoseTrack
    from siform.sources import open_source

    out = Path(args.output)
    with open_source(args.video) as source:
        model = Path(args.model) if args.model else _provision(args.variant).path
        estimator = PoseEstimator("video", model_path=model)
        try:
            frames = []
            bar = tqdm(source, total=source.info.frame_count, desc="pose", unit="frame", file=sys.stderr,
                       disable=None)  # fmt: skip  (no bar when stderr is not a terminal)
            for pose in estimator.run(bar):
                frames.append(pose)
            bar.close()
        finally:
            estimator.close()
        track = PoseTrack.from_frames(frames, source.info.width, source.info.height)
    out.parent.mkdir(parents=True, exist_ok=True)
    track.save_npz(out, source=str(args.video), model=estimator.model_path.name, siform=__version__)
    found = int(track.found.sum())
    print(
        f"Wrote {out}: {len(track)} frames, a person found in {found} "
        f"({100.0 * found / max(len(track), 1):.1f}%)."
    )
    if found == 0:
        print("Nobody was found in this video: make sure your whole body is in view.", file=sys.stderr)
    return 0


def cmd_exercises(args: argparse.Namespace) -> int:
    from siform.specs.load import load_all

    specs = load_all(Path(args.specs) if args.specs else None)
    for spec in specs.values():
        rx = spec.prescription
        dose = f"{rx.sets} x {rx.reps} reps" if spec.kind == "reps" else f"{rx.sets} x {rx.hold_s:g} s hold"
        sided = "each side" if spec.laterality == "unilateral" else "both sides together"
        print(f"{spec.id}: {spec.name} ({dose}, {sided})")
        for view in spec.views:
            elevation = "" if view.elevation == "any" else f", {view.elevation} camera"
            print(f"    view {view.id}: from the {view.facing}{elevation}")
        for check in spec.checks:
            views = spec.check_views(check)
            only = "" if len(views) == len(spec.views) else f" [only from {', '.join(views)}]"
            print(f"    check {check.id}: {check.name} ({check.severity}){only}")
    return 0


VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm")


AUTO_EXERCISE = "auto"


def _recognise(
    video: Path, model: Path, on_frame: Callable[[int, int | None], None], specs_dir: Path | None = None
) -> tuple[Any, tuple[Any, Any], dict[str, Any]]:
    """Pass 1 once, then the exercise recognised from its poses (or a SiformError saying why not)."""
    from siform.recognize import recognize, recognized_or_raise
    from siform.review import estimate_track
    from siform.specs.load import load_all

    specs = load_all(specs_dir)  # a broken spec is said before pass 1, not after it
    track, source = estimate_track(video, model, on_frame)
    found = recognize(track, specs)
    spec = specs[recognized_or_raise(found)]
    print(f"Recognised: {spec.name} ({100 * found.candidates[0][1]:.0f}% sure)")
    return spec, (track, source), found.to_session()


def cmd_analyze(args: argparse.Namespace) -> int:
    from siform.entry import stop_signals_held

    with stop_signals_held():  # a signal inside matplotlib's import would become an ImportError
        from tqdm import tqdm

        from siform.history import earlier_sessions
        from siform.prescription import prescribed_spec
        from siform.review import check_out_dir, review_video
        from siform.specs.load import find_spec

    from siform.live.command import check_share_video

    check_share_video(args)
    target = Path(args.video)
    if target.is_dir():
        videos = sorted(p for p in target.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        if not videos:
            raise InputError(f"{target} holds no videos.", f"Supported: {', '.join(VIDEO_SUFFIXES)}.")
    else:
        videos = [target]
    specs = Path(args.specs) if args.specs else None
    spec = None if args.exercise == AUTO_EXERCISE else find_spec(args.exercise, specs)
    out_root = Path(args.out)
    out_dirs = {v: out_root / v.stem if len(videos) > 1 or args.out == "out" else out_root for v in videos}
    for out_dir in dict.fromkeys(out_dirs.values()):
        check_out_dir(out_dir)  # now, not after pass 1's minutes
    model = Path(args.model) if args.model else _provision(args.variant).path
    failures = 0
    said: set[str] = set()  # the prescription's lines, once per exercise
    from siform.server.client import paired_patient_id

    patient = args.patient or paired_patient_id()  # a paired machine's sessions name their patient
    for video in videos:
        out_dir = out_dirs[video]
        # No bar when stderr is not a terminal: a log or a calling program gets only the error lines.
        bar = tqdm(desc=video.name, unit="frame", file=sys.stderr, leave=False, disable=None)

        def on_frame(done: int, total: int | None, bar: tqdm = bar) -> None:  # type: ignore[type-arg]
            if total and bar.total != total:
                bar.total = total
            bar.update(done - bar.n)

        try:
            video_spec, estimated, recognition = spec, None, None
            if video_spec is None:
                video_spec, estimated, recognition = _recognise(video, model, on_frame, specs)
            rx = prescribed_spec(video_spec, use=not args.no_prescription)  # the same limits as live
            for line in (x for x in rx.lines if x not in said):
                said.add(line)
                print(line)
            video_spec = rx.spec
            history = earlier_sessions(out_dir.parent, patient=patient, exercise=video_spec.id,
                                       exclude=out_dir / "session.json")
            output = review_video(video, video_spec, out_dir, model, side=args.side, history=history,
                                  on_frame=on_frame, video=not args.no_video, estimated=estimated,
                                  recognition=recognition, patient=patient)  # fmt: skip
        except SiformError as exc:
            if len(videos) == 1:
                raise
            bar.close()
            print(f"siform: {video.name}: {exc}", file=sys.stderr)
            failures += 1
            continue
        finally:
            bar.close()
        _print_summary(output.session, output.files)
        if not args.no_upload:
            from siform.server.client import upload_if_paired

            uploaded = upload_if_paired(output.files["session"], video if args.share_video else None)
            if uploaded:
                print(uploaded)
        if output.problems:  # what could be analysed is written; say what was not, in one line
            print(f"siform: {' '.join(output.problems)}", file=sys.stderr)
            failures += 1
    return EXIT_ERROR if failures else 0


def _print_summary(session: dict[str, Any], files: dict[str, Path]) -> None:
    from siform.report.text import fmt_score

    summary = session.get("summary") or {}
    setup = session["setup"]
    name = session["exercise"]["name"]
    side = f" ({session['side']} side)" if session.get("side") else ""
    if not setup["ok"]:
        for hint in setup["hints"]:
            print(f"Camera setup: {hint}")
    if summary:
        unit = "reps" if session["exercise"]["kind"] == "reps" else "holds"
        score = summary.get("mean_score")
        # The report's rounding: a set that lost anything never reads 100 / 100 here either.
        score_text = f", average score {fmt_score(score)}" if score is not None else ""
        unfinished = summary.get("not_finished") or 0  # also among the attempts not counted
        missed = (summary.get("attempts_not_counted") or 0) - unfinished
        missed_text = f", {missed} attempt(s) not counted (see the report)" if missed else ""
        short = summary.get("holds_short") or 0
        short_text = f", {short} ended before the prescribed time" if short else ""
        unfinished_text = f", {unfinished} not finished when the recording ended" if unfinished else ""
        print(
            f"{name}{side}: {summary['done']} of {summary['prescribed']} {unit}"
            f"{score_text}{short_text}{missed_text}{unfinished_text}."
        )
        if summary.get("most_frequent_fault"):
            print(f"Most frequent fault: {summary['most_frequent_fault']}")
    for part in session["source"]["unusable"]:
        print(f"Not analysed: {part['start_s']:.1f}-{part['end_s']:.1f} s ({part['reason']}).")
    if "report" in files:
        print(f"Report: {files['report']}")
    print(f"Results in {files['session'].parent}")


def patient_arg(text: str) -> str:
    """``--patient``: a name that says something (spaces around it dropped)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("give a patient id or name (it is empty)")
    return text.strip()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="siform",
        description="Camera-based form checker for sacroiliac-joint rehabilitation exercises.",
    )
    parser.add_argument("--version", action="version", version=f"siform {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    variants = list(get_args(Variant))
    p = sub.add_parser("models", help="get and verify the pose model (download or build offline)")
    p.add_argument("--variant", choices=variants, default="full", help="model size (default: full)")
    p.add_argument("--offline", action="store_true", help="no network at all: build from a wheel on disk")
    p.add_argument("--wheel", help="mediapipe 0.10.21 wheel (or its folder) to build the full model from")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("pose", help="estimate landmarks on every frame of a video into an .npz file")
    p.add_argument("video", help="video file, folder of images, or camera index")
    p.add_argument("-o", "--output", default="landmarks.npz", help="output .npz (default: landmarks.npz)")
    p.add_argument("--variant", choices=variants, default="full", help="model size (default: full)")
    p.add_argument("--model", help="path to a .task bundle to use instead of the managed one")
    p.set_defaults(func=cmd_pose)

    p = sub.add_parser("analyze", help="review a recorded video: annotated video, session.json, report")
    p.add_argument("video", help="video file, or a folder of videos")
    p.add_argument("-e", "--exercise", required=True, help="exercise id (see 'siform exercises') or 'auto'")
    p.add_argument("--side", choices=["left", "right"], help="working side of a one-sided exercise")
    p.add_argument("-o", "--out", default="out", help="output folder (default: out/<video name>)")
    p.add_argument("--variant", choices=variants, default="full", help="model size (default: full)")
    p.add_argument("--model", help="a .task bundle of your own, used as given (recorded as not pinned)")
    p.add_argument("--no-video", action="store_true", help="skip the annotated video")
    p.add_argument("--specs", help="folder of exercise specs (default: the bundled exercise_specs/)")
    p.add_argument(
        "--patient", type=patient_arg, metavar="NAME",
        help="patient id or name, stored in session.json; the report's trend compares this session "
        "with earlier ones of the same patient and exercise in sibling folders (none without it)",
    )  # fmt: skip
    from siform.live.command import add_server_arguments

    add_server_arguments(p, "the input video")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("exercises", help="list the exercises siform knows, with their views and checks")
    p.add_argument("--specs", help="folder of exercise specs (default: the bundled exercise_specs/)")
    p.set_defaults(func=cmd_exercises)

    from siform.live import command as live_command

    live_command.add_parser(sub)

    from siform.server import command as server_command

    server_command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main else None
    # Nothing but --debug shows a traceback: a patient gets one line whatever went wrong.
    try:
        return int(args.func(args))
    except SiformError as exc:
        if args.debug:
            raise
        print(f"siform: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except Terminated:
        print("siform: stopped (SIGTERM).", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("siform: interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        if args.debug:
            raise
        print(f"siform: {_os_error_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:
        if args.debug:
            raise
        print(f"siform: {_unexpected_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
