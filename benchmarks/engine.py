"""Benchmark: what siform's engine costs per frame on top of pose inference, on one CPU core.

Everything after the pose model: visibility masking, smoothing, signals, the setup gate, rep
counting or hold timing, checks and scores. Inputs are synthetic landmark tracks (no video, no
model), so the figures are the engine's alone.

- review: :func:`siform.pipeline.analyze_track` over a whole recording (zero-phase filter), wall
  time divided by its frames; the median of several runs.
- live: :meth:`siform.pipeline.LiveSession.update` timed frame by frame (causal One Euro): median,
  95th and 99th percentile of ordinary frames, and separately the frames that end a rep or hold
  (they judge it, so they cost more; a live UI must absorb them within one frame).

The glute bridge runs on a generated 30-rep set, and on a long session (``--minutes``, default 10)
whose per-frame cost in its first and last minute shows whether anything grows with the session:
the bridge's pelvic drop takes its yardstick over the whole set so far (a running median) and every
frame is kept for the set's reconciliation at its end, which is timed too (``finish``).

One spec of ``exercise_specs/`` with ``kind = "hold"`` runs too: ``--hold`` picks it, by default
one with a generator in ``tests/factories*.py`` (a function named after the spec id) preferring
signals that look back over a trailing window (the costliest live path); with no generator, a
still bridge stands in.

    python benchmarks/engine.py [--reps 30] [--runs 5] [--hold SPEC_ID] [--pose-ms 19] [--minutes 10]
"""

from __future__ import annotations

import os

# One core: BLAS and OpenMP pools would otherwise spread tiny array operations over all of them.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import importlib  # noqa: E402
import inspect  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from siform.pipeline import LiveSession, analyze_track, near_side  # noqa: E402
from siform.pose import PoseFrame, PoseTrack  # noqa: E402
from siform.specs.load import load_spec  # noqa: E402
from siform.specs.model import ExerciseSpec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from factories import bridge_side_view  # noqa: E402

POSE_STAGE_MS = 19.0
"""Pose stage per frame at 640x480, full model, as measured by benchmarks/pose_stage.py."""
TARGET_MS = 1.0
TARGET_SHARE = 0.03
FPS = 30.0


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to CPU {core}"
    return "not pinned: no sched_setaffinity here"


def frames(track: PoseTrack) -> list[PoseFrame]:
    found = track.found
    return [
        PoseFrame(i, int(track.t_ms[i]), bool(found[i]), track.image[i], track.world[i])
        for i in range(len(track))
    ]


def time_review(track: PoseTrack, spec: ExerciseSpec, runs: int) -> float:
    """Median ms per frame over ``runs`` (after one warm-up run)."""
    analyze_track(track, spec)
    per_frame = []
    for _ in range(runs):
        start = time.perf_counter()
        analyze_track(track, spec)
        per_frame.append((time.perf_counter() - start) * 1000.0 / len(track))
    return statistics.median(per_frame)


def time_live(
    track: PoseTrack, spec: ExerciseSpec, view: str, side: str | None, runs: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """ms of every ``update`` over ``runs`` passes (after a warm-up pass), split into ordinary
    frames and frames ending a rep or hold; and how many were counted."""
    poses = frames(track)
    near = near_side(track.image)
    plain: list[float] = []
    ending: list[float] = []
    done = 0
    for run in range(runs + 1):
        session = LiveSession(spec, track.width, track.height, view, near, side)
        for pose in poses:
            start = time.perf_counter_ns()
            event = session.update(pose)
            ms = (time.perf_counter_ns() - start) / 1e6
            if run:
                (ending if event is not None else plain).append(ms)
        _reps, _holds, summary = session.finish()
        done = summary.done
    return np.asarray(plain), np.asarray(ending), done


def generator(spec: ExerciseSpec) -> tuple[Callable[[], object], str] | None:
    """A function of ``tests/factories*.py`` named after the spec id that runs without arguments."""
    for path in sorted((ROOT / "tests").glob("factories*.py")):
        module = importlib.import_module(path.stem)
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if name.startswith(spec.id) and fn.__module__ == module.__name__:
                params = inspect.signature(fn).parameters.values()
                if all(p.default is not inspect.Parameter.empty for p in params):
                    return fn, f"{path.stem}.{name}()"
    return None


def hold_track(spec: ExerciseSpec) -> tuple[PoseTrack, str]:
    """The spec's generator's track, else a minute of a still bridge (the cost hardly depends on it)."""
    found = generator(spec)
    if found is not None:
        fn, label = found
        out = fn()
        track = out[0] if isinstance(out, tuple) else out
        if isinstance(track, PoseTrack):
            return track, label
    track, _truth = bridge_side_view(reps=0)
    still = np.repeat(track.image[-1:], round(60 * FPS), axis=0)
    t = np.round(np.arange(len(still)) * 1000.0 / FPS).astype(np.int64)
    world = np.zeros((len(still), *track.world.shape[1:]), dtype=np.float32)
    return PoseTrack(t, still, world, track.width, track.height), "a still bridge (no generator found)"


def hold_spec(choice: str | None) -> ExerciseSpec | None:
    holds = []
    for path in sorted((ROOT / "exercise_specs").glob("*.toml")):
        if path.name.startswith("_"):
            continue
        spec = load_spec(path)
        if spec.kind == "hold" and choice in (None, spec.id):
            holds.append(spec)

    def rank(spec: ExerciseSpec) -> tuple[bool, bool]:
        looks_back = any(s.fn == "stillness_ratio" for s in spec.signals.values())
        return (generator(spec) is None, not looks_back)

    return sorted(holds, key=rank)[0] if holds else None


def share(ms: float, pose_ms: float) -> str:
    ok = ms < TARGET_MS and ms / pose_ms < TARGET_SHARE
    return f"{100.0 * ms / pose_ms:5.2f} % of pose  [{'ok' if ok else 'OVER TARGET'}]"


def report(
    label: str, track: PoseTrack, spec: ExerciseSpec, runs: int, pose_ms: float, source: str
) -> list[tuple[str, float]]:
    reviewed = analyze_track(track, spec)
    view = reviewed.view or spec.views[0].id
    review_ms = time_review(track, spec, runs)
    plain, ending, live_done = time_live(track, spec, view, reviewed.side, max(1, runs // 2))
    med, p95, p99 = (float(np.percentile(plain, q)) for q in (50, 95, 99))
    unit = "reps" if spec.kind == "reps" else "holds"
    review_done = reviewed.summary.done if reviewed.summary else 0
    side = f", side {reviewed.side}" if reviewed.side else ""

    print(f"\n{label}: {len(track)} frames ({len(track) / FPS:.0f} s at {FPS:.0f} frames/s), {source}")
    print(f"  view {view}{side}; {review_done} {unit} counted in review, {live_done} live")
    print(f"  review  analyze_track       {review_ms:7.3f} ms/frame          {share(review_ms, pose_ms)}")
    print(f"  live    LiveSession.update  {med:7.3f} ms/frame median   {share(med, pose_ms)}")
    print(f"                              {p95:7.3f} ms/frame p95      {share(p95, pose_ms)}")
    print(f"                              {p99:7.3f} ms/frame p99")
    if ending.size:
        print(
            f"          frames ending one   {float(np.median(ending)):7.3f} ms median, "
            f"{float(ending.max()):.3f} ms worst, over {ending.size} frames (the rep or hold is judged there)"
        )
    return [(f"{label} review", review_ms), (f"{label} live median", med), (f"{label} live p95", p95)]


def long_session(spec: ExerciseSpec, minutes: float) -> None:
    """Per-frame cost in the first and the last minute of one long live session, and its finish."""
    reps = max(1, round(minutes * 60.0 / 4.0))  # the generated bridge takes 4 s a rep
    track, _truth = bridge_side_view(reps=reps, noise_px=1.0)
    poses = frames(track)
    session = LiveSession(spec, track.width, track.height, "raised_side", near_side(track.image))
    ms = np.empty(len(poses))
    ended = np.zeros(len(poses), dtype=bool)
    for i, pose in enumerate(poses):
        start = time.perf_counter_ns()
        ended[i] = session.update(pose) is not None
        ms[i] = (time.perf_counter_ns() - start) / 1e6
    start = time.perf_counter_ns()
    _reps, _holds, summary = session.finish()
    finish_ms = (time.perf_counter_ns() - start) / 1e6
    minute = round(60 * FPS)
    first, last = slice(0, minute), slice(len(poses) - minute, len(poses))
    length = f"{len(poses)} frames ({len(poses) / FPS / 60:.1f} min)"
    print(f"\nglute_bridge long session: {length}, {summary.done} reps")
    for label, part in (("first minute", first), ("last minute ", last)):
        plain, ending = ms[part][~ended[part]], ms[part][ended[part]]
        print(
            f"  live    {label}        {float(np.median(plain)):7.3f} ms/frame median, "
            f"p95 {float(np.percentile(plain, 95)):.3f}; "
            f"frames ending a rep {float(np.median(ending)):.3f} ms median"
        )
    print(f"  finish  reconciling the set  {finish_ms:7.1f} ms once")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=30, help="glute bridge reps in the generated set")
    parser.add_argument("--runs", type=int, default=5, help="timed review runs; live passes are half as many")
    parser.add_argument("--hold", help="hold exercise id to time (default: picked automatically)")
    parser.add_argument("--pose-ms", type=float, default=POSE_STAGE_MS, help="pose stage ms/frame to compare")
    parser.add_argument("--minutes", type=float, default=10.0, help="long live session (0: skip)")
    args = parser.parse_args()

    pinned = pin_one_core()
    print(
        f"siform engine cost per frame, pose inference excluded; one core ({pinned}); numpy {np.__version__}"
    )
    print(f"compared with the pose stage: {args.pose_ms:.1f} ms/frame (benchmarks/pose_stage.py, 640x480)")
    print(f"targets: < {TARGET_MS:.0f} ms/frame and < {100 * TARGET_SHARE:.0f} % of the pose stage")

    rows = []
    bridge = load_spec(ROOT / "exercise_specs" / "glute_bridge.toml")
    track, _truth = bridge_side_view(reps=args.reps, noise_px=1.0)
    rows += report("glute_bridge", track, bridge, args.runs, args.pose_ms, f"{args.reps} generated reps")
    hold = hold_spec(args.hold)
    if hold is None:
        print(f"\n(no hold spec {args.hold or ''} in exercise_specs/: hold path not measured)")
    else:
        track, source = hold_track(hold)
        rows += report(hold.id, track, hold, args.runs, args.pose_ms, source)

    if args.minutes > 0:
        long_session(bridge, args.minutes)

    over = [name for name, ms in rows if not (ms < TARGET_MS and ms / args.pose_ms < TARGET_SHARE)]
    print("\n" + ("all within target" if not over else f"over target: {', '.join(over)}"))


if __name__ == "__main__":
    main()
