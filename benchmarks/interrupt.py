"""Benchmark: interrupting ``siform analyze`` part way through, many times.

Each try starts ``siform analyze`` on a real clip into an output folder that holds an earlier
result, waits a random time inside the review (pose pass, analysis or the annotated video), sends
SIGINT (Ctrl-C) or SIGTERM, and records: the exit code (130 / 143 wanted; -6 or 134 is the
"terminate called without an active exception" abort of a MediaPipe thread left running), whether
stderr held a traceback or the abort message, how many stderr lines there were, and whether the
output folder is byte-for-byte what it was before.

    python benchmarks/interrupt.py [--tries 32] [--signal INT|TERM|both] [--min-s 2] [--max-s 12]

``--src DIR`` runs the siform package found in ``DIR`` (e.g. an unpacked ``git archive`` of an
earlier commit) instead of the installed one, to measure before and after a change.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "sample_videos" / "bridge_raised_side.mp4"


def _default_sigint() -> None:
    """A shell runs background jobs with SIGINT ignored, and Python keeps it ignored: undo that in
    the child, as a terminal's Ctrl-C would find it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} | {
        str(p.relative_to(folder)) + "/": b"" for p in folder.rglob("*") if p.is_dir()
    }


def one_try(sig: signal.Signals, delay_s: float, video: bool, src: str | None) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        out.mkdir()
        (out / "session.json").write_text('{"earlier": true}\n', encoding="utf-8")
        (out / "annotated.mp4").write_bytes(b"earlier video")
        (out / "notes.txt").write_text("the therapist's own notes\n", encoding="utf-8")
        before = snapshot(out)
        cmd = [sys.executable, "-m", "siform", "analyze", str(CLIP), "-e", "glute_bridge", "--out", str(out)]
        if not video:
            cmd.append("--no-video")
        env = dict(os.environ, PYTHONPATH=src) if src else None
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            preexec_fn=_default_sigint,
        )
        time.sleep(delay_s)
        finished_first = proc.poll() is not None
        if not finished_first:
            proc.send_signal(sig)
        _stdout, stderr = proc.communicate(timeout=300)
        lines = [line for line in stderr.splitlines() if line.strip()]
        return {
            "rc": proc.returncode,
            "finished_first": finished_first,
            "traceback": "Traceback" in stderr,
            "abort": "terminate called" in stderr or proc.returncode in (-6, 134),
            "lines": len(lines),
            "unchanged": snapshot(out) == before,
            "stderr": stderr.strip()[-4000:] if "terminate called" in stderr else stderr.strip()[-300:],
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=32)
    parser.add_argument("--signal", choices=["INT", "TERM", "both"], default="INT")
    parser.add_argument("--min-s", type=float, default=2.0, help="earliest interruption after start")
    parser.add_argument("--max-s", type=float, default=12.0, help="latest interruption after start")
    parser.add_argument("--no-video", action="store_true")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--src", help="folder holding the siform package to run (default: installed)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    counts: Counter[str] = Counter()
    for k in range(args.tries):
        name = args.signal if args.signal != "both" else ("INT", "TERM")[k % 2]
        sig = signal.Signals[f"SIG{name}"]
        delay = rng.uniform(args.min_s, args.max_s)
        r = one_try(sig, delay, not args.no_video, args.src)
        print(
            f"try {k + 1:2d}: SIG{name} after {delay:4.1f} s -> rc {r['rc']}, stderr lines {r['lines']}, "
            f"traceback {r['traceback']}, abort {r['abort']}, folder unchanged {r['unchanged']}"
            + (" (finished before the signal)" if r["finished_first"] else ""),
            flush=True,
        )
        interrupted = not r["finished_first"]
        if r["abort"] or r["traceback"] or (interrupted and (not r["unchanged"] or r["lines"] != 1)):
            print("    " + str(r["stderr"]).replace("\n", "\n    "))
        counts["tries"] += 1
        counts["abort"] += bool(r["abort"])
        counts["traceback"] += bool(r["traceback"])
        counts["changed"] += interrupted and not r["unchanged"]  # a finished review writes, of course
        counts["finished_first"] += bool(r["finished_first"])
    print(
        f"{counts['tries']} tries: {counts['abort']} aborted (SIGABRT), {counts['traceback']} with a "
        f"traceback, {counts['changed']} interrupted ones left the folder changed, "
        f"{counts['finished_first']} finished before the signal"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
