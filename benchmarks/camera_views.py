"""Camera placement: which view makes a check readable, measured on the same motion from each view.

    python benchmarks/camera_views.py [sample_videos/views/*.mp4]

The clips in ``sample_videos/views/`` are one rendered set per exercise, identical but for the
camera (same seed, same faults: see ``tools/synth/samples.txt``). For each clip and each check the
truth judges, it prints: how often MediaPipe found the person, its mean joint error against the
rig (px), the view siform's setup gate matched, and the check's signal as siform reads it: the
per-rep mean over the frames the truth judges, for clean reps and for each faulty one. "shown" is
the faulty rep's change from the clean reps' median as a share of the change the truth joints
make in the image (how much of what the camera could show MediaPipe reads), and "separation" is
that change over the clean reps' spread (max - min; > 2 is comfortably readable).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from accuracy import pose_track, truth_points

from siform.model_store import ensure_model
from siform.pipeline import analyze_track
from siform.signals.compute import SignalSet
from siform.specs.load import find_spec

ROOT = Path(__file__).resolve().parent.parent


def joint_error_px(track_px: np.ndarray, truth_px: np.ndarray) -> float:
    d = np.linalg.norm(track_px - truth_px, axis=-1)
    return float(np.nanmean(d))


def per_rep_means(values: np.ndarray, truth: dict, phases: tuple[str, ...]) -> dict[int, float]:
    out: dict[int, list[float]] = {}
    for i, f in enumerate(truth["frames"]):
        if f["rep"] >= 0 and f["phase"] in phases and np.isfinite(values[i]):
            out.setdefault(f["rep"], []).append(float(values[i]))
    return {k: float(np.mean(v)) for k, v in out.items()}


def measure(clip: Path, model: Path) -> list[dict]:
    truth = json.loads(clip.with_suffix(".truth.json").read_text(encoding="utf-8"))
    meta = truth["meta"]
    spec = find_spec(meta["spec"])
    track = pose_track(clip, model)
    result = analyze_track(track, spec, meta["side"] if meta.get("unilateral") else None)
    tpts = truth_points(truth)
    keys = [int(k) for k in truth["frames"][0]["joints2d"]]
    err = joint_error_px(track.image_px()[:, keys], tpts[:, keys])
    ours = result.signals
    theirs = SignalSet(spec, result.sides).compute(tpts, result.t_ms)
    rows = []
    for rt_check in meta["rep_truth"][0]["checks"]:
        check = next(c for c in spec.checks if c.id == rt_check)
        phases = tuple(meta["rep_truth"][0]["checks"][rt_check]["phases"])
        mine = per_rep_means(ours[check.signal], truth, phases)
        ref = per_rep_means(theirs[check.signal], truth, phases)
        faulty = {rt["rep"]: rt["faults"] for rt in meta["rep_truth"] if rt["faults"]}
        clean = [k for k in mine if k not in faulty]
        # only the faults aimed at this check (the others would measure cross-talk)
        kinds = meta["fault_kinds"]
        faulty = {k: f for k, f in faulty.items() if any(kinds[kind]["check"] == check.id for kind in f)}
        if not faulty:
            continue
        # ref is empty for a signal the 2D truth joints cannot give (one read in 3D)
        base = np.median([mine[k] for k in clean])
        base_ref = np.median([ref[k] for k in clean if k in ref]) if ref else math.nan
        spread = float(np.ptp([mine[k] for k in clean])) if len(clean) > 1 else math.nan
        verdicts = {}
        for rep in (r for r in result.reps if r.number):
            k = max(range(meta["reps"]), key=lambda j, rep=rep: overlap(truth, j, rep))
            c = next((c for c in rep.checks if c.id == check.id), None)
            verdicts[k] = "-" if c is None or not c.scored else ("fail" if c.passed is False else "pass")
        for k, fl in sorted(faulty.items()):
            change, change_ref = mine.get(k, math.nan) - base, ref.get(k, math.nan) - base_ref
            rows.append({
                "clip": clip.name, "view": meta["view"], "matched": result.view or "none",
                "found": float(track.found.mean()), "joint_err_px": err, "check": check.id,
                "fault": ", ".join(f"{kind} {mag:g}" for kind, mag in fl.items()),
                "clean": base, "faulty": mine.get(k, math.nan), "change": change,
                "shown": change / change_ref if change_ref else math.nan,
                "separation": abs(change) / spread if spread else math.inf,
                "verdicts": " ".join(verdicts.get(j, "?") for j in range(meta["reps"])),
            })  # fmt: skip
    return rows


def overlap(truth: dict, k: int, rep: object) -> int:
    s, e = rep.start_index, rep.end_index  # type: ignore[attr-defined]
    return sum(1 for f in truth["frames"] if f["rep"] == k and s <= f["frame"] <= e)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clips", nargs="*", type=Path)
    a = ap.parse_args(argv)
    model = ensure_model("full").path
    clips = a.clips or sorted((ROOT / "sample_videos" / "views").glob("*.mp4"))
    print("| clip | view | gate matched | pose found | joint error px | check | faulty rep | clean median "
          "| faulty | change | shown | separation | siform per rep |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for clip in clips:
        for r in measure(clip, model):
            print(f"| {r['clip']} | {r['view']} | {r['matched']} | {100 * r['found']:.0f}% "
                  f"| {r['joint_err_px']:.1f} | {r['check']} | {r['fault']} | {r['clean']:.3f} "
                  f"| {r['faulty']:.3f} | {r['change']:+.3f} | {100 * r['shown']:.0f}% "
                  f"| {r['separation']:.1f} | {r['verdicts']} |")  # fmt: skip
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
