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

``--threads`` also lists, per try, the helper threads still alive when the interpreter began to
shut down (a ``sitecustomize`` put on the child's path prints them at exit). Any such thread is the
hazard behind the rare abort: CPython ends it at shutdown from wherever it is, and inside C++
(matplotlib, OpenCV) that aborts the process. It shows far more often than the abort itself.

``--startup`` measures the other window instead: Ctrl-C sent 0 to ``--startup-ms`` milliseconds
after ``siform exercises`` was started, before siform has installed its own handling. It reports,
per 10 ms, how many tries ended silently by the signal itself (before Python's own handler),
with Python's traceback (the window left), or with siform's one line.

    python benchmarks/interrupt.py --startup [--tries 200] [--startup-ms 200]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "sample_videos" / "bridge_raised_side.mp4"
HANG_S = 300
"""A review still running this long after the signal is counted as hung (and killed)."""


def _default_sigint() -> None:
    """A shell runs background jobs with SIGINT ignored, and Python keeps it ignored: undo that in
    the child, as a terminal's Ctrl-C would find it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} | {
        str(p.relative_to(folder)) + "/": b"" for p in folder.rglob("*") if p.is_dir()
    }


_THREADS_AT_EXIT = """import atexit, sys, threading
def _alive():
    names = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    names = [n for n in names if n != "tqdm_monitor"]  # tqdm's own: pure Python, sleeping
    if names:
        sys.stderr.write("threads alive at exit: " + ", ".join(names) + "\\n")
atexit.register(_alive)
"""


def native_stacks(pid: int) -> str:
    """Every thread's native stack of a hung review (gdb, where installed), to see what it waits for."""
    gdb = shutil.which("gdb")
    if not gdb:
        return ""
    out = subprocess.run(
        [gdb, "-p", str(pid), "-batch", "-ex", "thread apply all bt 25"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    frames = [line for line in out.stdout.splitlines() if line.startswith(("Thread ", "#"))]
    return "\nstacks of the hung process (gdb):\n" + "\n".join(frames)


def _child_path(src: str | None, threads_dir: str | None) -> dict[str, str] | None:
    parts = [p for p in (threads_dir, src) if p]
    if not parts:
        return None
    return dict(os.environ, PYTHONPATH=os.pathsep.join(parts))


def one_try(
    sig: signal.Signals, delay_s: float, video: bool, src: str | None, threads_dir: str | None = None
) -> dict[str, object]:
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
        env = _child_path(src, threads_dir)
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
        hung = False
        try:
            _stdout, stderr = proc.communicate(timeout=HANG_S)
        except subprocess.TimeoutExpired:  # counted, then ended, so the run goes on
            hung = True
            stacks = native_stacks(proc.pid)
            proc.kill()
            _stdout, stderr = proc.communicate()
            stderr += stacks
        abnormal = proc.returncode not in (0, 130, 143)
        left = [line for line in stderr.splitlines() if line.startswith("threads alive at exit")]
        lines = [line for line in stderr.splitlines() if line.strip() and line not in left]
        return {
            "threads_left": left[0].partition(": ")[2] if left else "",
            "hung": hung,
            "rc": proc.returncode,
            "finished_first": finished_first,
            "traceback": "Traceback" in stderr,
            "abort": "terminate called" in stderr or proc.returncode in (-6, 134),
            "lines": len(lines),
            "unchanged": snapshot(out) == before,
            "stderr": stderr.strip()[-(12000 if hung else 4000 if abnormal else 300) :],
        }


def startup(tries: int, max_ms: float, seed: int, src: str | None) -> None:
    """Ctrl-C at random moments of the first ``max_ms`` ms of ``siform exercises``, by 10 ms bucket."""
    rng = random.Random(seed)
    buckets: dict[int, Counter[str]] = {}
    for _ in range(tries):
        delay = rng.uniform(0.0, max_ms / 1000.0)
        proc = subprocess.Popen(
            [sys.executable, "-m", "siform", "exercises"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=_child_path(src, None),
            preexec_fn=_default_sigint,
        )
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        _out, stderr = proc.communicate(timeout=60)
        if "Traceback" in stderr:
            kind = "traceback"
        elif stderr.strip() == "siform: interrupted.":
            kind = "siform line"
        elif proc.returncode == -signal.SIGINT and not stderr.strip():
            kind = "silent"
        elif proc.returncode == 0:
            kind = "finished"
        else:
            kind = f"other (rc {proc.returncode})"
        buckets.setdefault(int(delay * 100), Counter())[kind] += 1
    total: Counter[str] = Counter()
    for b in sorted(buckets):
        total.update(buckets[b])
        row = ", ".join(f"{k} {v}" for k, v in sorted(buckets[b].items()))
        print(f"{b * 10:3d}-{b * 10 + 10:3d} ms: {row}")
    print(f"{tries} tries: " + ", ".join(f"{k} {v}" for k, v in sorted(total.items())))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=32)
    parser.add_argument("--signal", choices=["INT", "TERM", "both"], default="INT")
    parser.add_argument("--min-s", type=float, default=2.0, help="earliest interruption after start")
    parser.add_argument("--max-s", type=float, default=12.0, help="latest interruption after start")
    parser.add_argument("--no-video", action="store_true")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--src", help="folder holding the siform package to run (default: installed)")
    parser.add_argument("--threads", action="store_true", help="list helper threads alive at exit")
    parser.add_argument("--startup", action="store_true", help="Ctrl-C in the first --startup-ms instead")
    parser.add_argument("--startup-ms", type=float, default=200.0)
    args = parser.parse_args()
    if args.startup:
        startup(args.tries, args.startup_ms, args.seed, args.src)
        return 0
    threads_dir: str | None = None
    if args.threads:
        threads_dir = tempfile.mkdtemp(prefix="siform-interrupt-")
        Path(threads_dir, "sitecustomize.py").write_text(_THREADS_AT_EXIT, encoding="utf-8")
    rng = random.Random(args.seed)
    counts: Counter[str] = Counter()
    for k in range(args.tries):
        name = args.signal if args.signal != "both" else ("INT", "TERM")[k % 2]
        sig = signal.Signals[f"SIG{name}"]
        delay = rng.uniform(args.min_s, args.max_s)
        r = one_try(sig, delay, not args.no_video, args.src, threads_dir)
        print(
            f"try {k + 1:2d}: SIG{name} after {delay:4.1f} s -> rc {r['rc']}, stderr lines {r['lines']}, "
            f"traceback {r['traceback']}, abort {r['abort']}, folder unchanged {r['unchanged']}"
            + (" (finished before the signal)" if r["finished_first"] else "")
            + (f" HUNG: still running {HANG_S} s after the signal, killed" if r["hung"] else "")
            + (f"; threads alive at exit: {r['threads_left']}" if r["threads_left"] else ""),
            flush=True,
        )
        interrupted = not r["finished_first"]
        odd = interrupted and (not r["unchanged"] or r["lines"] != 1)
        if r["abort"] or r["traceback"] or r["hung"] or odd:
            print("    " + str(r["stderr"]).replace("\n", "\n    "))
        counts["tries"] += 1
        counts["abort"] += bool(r["abort"])
        counts["traceback"] += bool(r["traceback"])
        counts["changed"] += interrupted and not r["unchanged"]  # a finished review writes, of course
        counts["finished_first"] += bool(r["finished_first"])
        counts["threads_left"] += bool(r["threads_left"])
        counts["hung"] += bool(r["hung"])
    print(
        f"{counts['tries']} tries: {counts['abort']} aborted (SIGABRT), {counts['traceback']} with a "
        f"traceback, {counts['changed']} interrupted ones left the folder changed, "
        f"{counts['finished_first']} finished before the signal, {counts['hung']} hung"
        + (f", {counts['threads_left']} with a helper thread alive at exit" if args.threads else "")
    )
    if threads_dir:
        shutil.rmtree(threads_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
