"""``siform live``: its command-line options. Nothing heavy is imported here (MediaPipe, OpenCV's
window): ``siform --help`` and every other command must not pay for them."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from siform.cli import patient_arg


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _camera(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a camera is a number (0 is the first), got '{text}'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a camera is a number from 0, got {value}")
    return value


def default_out(exercise: str) -> Path:
    """``out/live-<exercise>-<UTC time>``: a new folder per session, sorted by time."""
    return Path("out") / f"live-{exercise}-{datetime.now(UTC):%Y%m%d-%H%M%S}"


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "live",
        help="coach an exercise live in front of a camera: setup, rep-by-rep feedback, session log",
        description="Coach an exercise live: the camera is set up first, then every rep or hold is "
        "counted and judged as it ends, with one cue at a time on screen and spoken. Every finished "
        "rep is in the session file at once; the end writes the same session.json as 'siform analyze'.",
    )
    p.add_argument("exercise", help="exercise id (see 'siform exercises')")
    p.add_argument("--camera", type=_camera, default=0, metavar="N", help="camera number (default: 0)")
    p.add_argument("--side", choices=["left", "right"], help="one-sided exercise: only this side "
                   "(default: both sides each set, the first found from your first rep)")  # fmt: skip
    p.add_argument("--sets", type=_positive, metavar="S", help="sets (default: the exercise's prescription)")
    p.add_argument("--reps", type=_positive, metavar="R",
                   help="reps (or holds) per set and side (default: the prescription)")  # fmt: skip
    p.add_argument("--source", metavar="VIDEO", help="play a video file instead of the camera (tests, demos)")
    p.add_argument("--pace", choices=["realtime", "fast"], default="realtime",
                   help="with --source: at the video's own speed, dropping frames like a camera when "
                   "slower (default), or every frame as fast as possible")  # fmt: skip
    p.add_argument("--no-window", action="store_true", help="no window (headless; quit with Ctrl-C)")
    p.add_argument("--no-mirror", action="store_true", help="show the camera as it is, not as a mirror")
    p.add_argument("--save-annotated", metavar="OUT.mp4", help="also write the picture with the overlay")
    p.add_argument("-o", "--out", metavar="DIR",
                   help="session folder (default: out/live-<exercise>-<time>)")  # fmt: skip
    p.add_argument(
        "--patient", type=patient_arg, metavar="NAME", help="patient id or name, stored in session.json"
    )
    p.add_argument("--mute", action="store_true", help="no spoken cues (they still show on screen)")
    p.add_argument("--record", action="store_true", help="also keep the raw camera video (recording.mp4)")
    p.add_argument(
        "--model", metavar="FILE", help="a .task pose bundle of your own instead of the managed one"
    )
    p.add_argument("--specs", help="folder of exercise specs (default: the bundled exercise_specs/)")
    add_server_arguments(p, "recording.mp4 (needs --record)")
    from siform.live.checkin import add_checkin_arguments

    add_checkin_arguments(p)
    p.set_defaults(func=cmd_live)


def add_server_arguments(p: argparse.ArgumentParser, video_words: str = "the video") -> None:
    """``--no-prescription``, ``--no-upload`` and ``--share-video``, shared by ``siform live`` and
    ``siform analyze`` (``video_words`` says which video is shared)."""
    p.add_argument("--no-prescription", action="store_true",
                   help="ignore the prescription 'siform sync' fetched from your therapist: use the "
                   "exercise's own dose and limits")  # fmt: skip
    p.add_argument("--no-upload", action="store_true",
                   help="do not send session.json to your therapist's server (sent automatically once "
                   "this device is paired; a video only with --share-video)")  # fmt: skip
    p.add_argument("--share-video", action="store_true",
                   help=f"also send {video_words} to your therapist's server, after session.json (it "
                   "shows you; queued with the session when offline). Without it nothing but "
                   "session.json leaves this machine")  # fmt: skip


def cmd_live(args: argparse.Namespace) -> int:
    from siform.live.app import LiveOptions, run_live
    from siform.prescription import prescribed_spec
    from siform.server.client import paired_patient_id
    from siform.specs.load import find_spec

    spec = find_spec(args.exercise, Path(args.specs) if args.specs else None)
    if args.pace == "fast" and not args.source:
        from siform.errors import InputError

        raise InputError("--pace fast needs --source VIDEO: a camera cannot be played faster.")
    check_share_video(args)
    if args.share_video and not args.record:
        from siform.errors import InputError

        raise InputError(
            "--share-video shares the raw camera video, which only --record keeps.",
            "Add --record to keep recording.mp4 and share it.",
        )
    rx = prescribed_spec(spec, use=not args.no_prescription)  # the therapist's dose and limits
    for line in rx.lines:
        print(line, flush=True)
    spec = rx.spec
    if args.model:
        model = Path(args.model)
    else:
        from siform.cli import _provision

        model = _provision("full").path
    opts = LiveOptions(
        spec=spec,
        model=model,
        out_dir=Path(args.out) if args.out else default_out(spec.id),
        camera=args.camera,
        source=Path(args.source) if args.source else None,
        pace=args.pace,
        side=args.side or rx.side,
        sets=args.sets,
        reps=args.reps,
        window=not args.no_window,
        save_annotated=Path(args.save_annotated) if args.save_annotated else None,
        patient=args.patient or paired_patient_id(),  # a paired machine's sessions name their patient
        mute=args.mute,
        record=args.record,
        mirror=not args.no_mirror,
        checkin_args=args,
    )
    session = opts.out_dir / "session.json"
    before = _stamp(session)
    try:
        code = run_live(opts)
    except KeyboardInterrupt:  # the session is written; queue it, with no wait on the network
        if not args.no_upload and _stamp(session) not in (before, None):
            from siform.server.client import queue_if_paired, queue_video_if_paired

            _say(queue_if_paired(session))  # first: a second Ctrl-C below must not lose the session
            try:
                shared = _shared(args, opts.out_dir)
            except KeyboardInterrupt:
                shared = None
                _say("Video not shared: interrupted while it was prepared.")
            if shared is not None:
                _say(queue_video_if_paired(session, shared))
        raise
    if not args.no_upload and _stamp(session) not in (before, None):
        from siform.server.client import upload_if_paired

        _say(upload_if_paired(session, _shared(args, opts.out_dir)))
    return code


def check_share_video(args: argparse.Namespace) -> None:
    """``--share-video`` with ``--no-upload`` contradicts itself: say so before any work."""
    if getattr(args, "share_video", False) and args.no_upload:
        from siform.errors import InputError

        raise InputError("--share-video and --no-upload contradict each other: choose one.")


def _shared(args: argparse.Namespace, out_dir: Path) -> Path | None:
    """The video the patient chose to share: this run's recording.mp4 (None without the opt-in)."""
    if not args.share_video:
        return None
    video = out_dir / "recording.mp4"
    if not video.is_file():
        _say(f"Video not shared: {video} was not written.")
        return None
    return playable_copy(video, out_dir / "recording-shared.mp4")


def playable_copy(recording: Path, target: Path) -> Path:
    """``recording`` re-encoded as H.264 for the therapist's browser, or ``recording`` itself when
    that fails. The live recording is MPEG-4 Part 2 (OpenCV's ``mp4v``), which browsers do not play
    (Chromium: MEDIA_ERR_SRC_NOT_SUPPORTED); ffmpeg (imageio-ffmpeg's, which siform already uses for
    the annotated video) makes an H.264 copy with its index at the front, a few seconds for a set."""
    import subprocess

    try:
        import imageio_ffmpeg

        tmp = target.with_suffix(".part.mp4")
        subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(recording), "-an",
             "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast", "-crf", "23",
             "-movflags", "+faststart", str(tmp)],
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip
        tmp.replace(target)
    except (ImportError, OSError, subprocess.SubprocessError):
        return recording  # the therapist can still download it
    return target


def _stamp(path: Path) -> tuple[int, int] | None:
    """Which file is at ``path`` (None: none): a session.json this run wrote differs from before."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def _say(line: str | None) -> None:
    if line:
        print(line, flush=True)
