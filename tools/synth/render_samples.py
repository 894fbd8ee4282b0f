#!/usr/bin/env python3
"""Render the sample clips listed in samples.txt whose MP4 is missing (stdlib only).

    python3 tools/synth/render_samples.py [--jobs 2] [--only NAME ...] [--truth-only]

Each line of samples.txt is a render_clip.py command line; the clips are rendered one per job with
`-t 1`, so --jobs should not exceed the machine's cores. --truth-only rewrites the truth of every
clip already rendered (no rendering), for a truth format change.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def plan() -> list[list[str]]:
    lines = (HERE / "samples.txt").read_text().splitlines()
    return [shlex.split(line) for line in lines if line.strip() and not line.lstrip().startswith("#")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--only", nargs="*", default=None, help="clip stems to consider, in this order")
    ap.add_argument("--truth-only", action="store_true")
    a = ap.parse_args()
    todo = []
    lines = plan()
    if a.only is not None:  # in the order given
        by_stem = {Path(args[1]).stem: args for args in lines}
        lines = [by_stem[stem] for stem in a.only if stem in by_stem]
    for args in lines:
        out = ROOT / args[1]
        if a.truth_only:
            if out.exists():
                todo.append([*args, "--truth-only"])
        elif not out.exists():
            todo.append(args)
    print(f"{len(todo)} clip(s) to do", flush=True)

    def one(args: list[str]) -> int:
        log = HERE / "work" / (Path(args[1]).stem + ".log")
        log.parent.mkdir(exist_ok=True)
        with log.open("w") as fh:
            rc = subprocess.run(
                [sys.executable, str(HERE / "render_clip.py"), *args],
                cwd=ROOT,
                stdout=fh,
                stderr=subprocess.STDOUT,
            ).returncode
        print(f"{'ok' if rc == 0 else 'FAILED'} {args[1]} (log: {log})", flush=True)
        return rc

    with ThreadPoolExecutor(max_workers=max(1, a.jobs)) as ex:
        rcs = list(ex.map(one, todo))
    return 1 if any(rcs) else 0


if __name__ == "__main__":
    sys.exit(main())
