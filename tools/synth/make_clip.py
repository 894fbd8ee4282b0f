"""Render a synthetic exercise clip with per-frame ground truth (runs inside Blender 3.4).

blender -b -t 1 --python make_clip.py -- EXERCISE --out DIR [--seed N] [--faults 3:pelvic_drop:12] ...
EXERCISE: one of the ex_*.py modules beside this file (all options: README.md or `-- --help`)

Writes DIR/frames/####.png (frame 1 = truth frame 0) and DIR/gt.json (per-frame 2D/3D joints,
rep/fault labels, exercise metrics, each rep's truth verdict per check, render timings).
tools/synth/render_clip.py wraps this and encodes an MP4 with a compact truth file.

Every random choice (rep tempo and range, lead-in time, camera and light jitter) comes from one
numpy Generator seeded with --seed, so a command line always renders the same clip.
"""

import argparse
import importlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpy
import human as Hm
import numpy as np
import scene as S
from common import METRIC_BONES, MP_JOINTS, Ctx, Rig, Variation
from mathutils import Vector

GENERATOR_VERSION = 2


def exercise_names():
    """Every exercise beside this file: module ex_<name>.py declares EXERCISE (named <name>)."""
    here = os.path.dirname(os.path.abspath(__file__))
    return sorted(f[3:-3] for f in os.listdir(here) if f.startswith("ex_") and f.endswith(".py"))


def load_exercise(name):
    """Only the module asked for is imported, so one being edited cannot break another's render."""
    ex = importlib.import_module("ex_" + name).EXERCISE
    if ex.name != name:
        raise SystemExit(f"ex_{name}.py declares exercise {ex.name!r}")
    return ex


def parse_faults(text, ex, nreps):
    """'3:pelvic_drop:12,4:short_lift' -> {2: {'pelvic_drop': 12.0}, 3: {'short_lift': default}}."""
    faults = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        parts = item.split(":")
        if len(parts) not in (2, 3):
            raise SystemExit(f"--faults item {item!r}: expected REP:KIND[:MAGNITUDE]")
        rep, kind = int(parts[0]), parts[1]
        if kind not in ex.faults:
            raise SystemExit(f"{ex.name} has no fault {kind!r}; it has {sorted(ex.faults)}")
        if not 1 <= rep <= nreps:
            raise SystemExit(f"--faults item {item!r}: rep must be 1..{nreps}")
        mag = float(parts[2]) if len(parts) == 3 else ex.faults[kind].default
        faults.setdefault(rep - 1, {})[kind] = mag
    return faults


def reduce_values(reduce, vals, times):
    vals = np.asarray(vals, dtype=float)
    if reduce == "duration_s":
        return float(times[-1] - times[0]) if len(times) > 1 else 0.0
    return float(
        {
            "mean": np.mean,
            "max": np.max,
            "min": np.min,
            "max_abs": lambda v: np.max(np.abs(v)),
            "range": lambda v: np.max(v) - np.min(v),
            "mean_abs": lambda v: np.mean(np.abs(v)),
        }[reduce](vals)
    )


def rep_truth(ex, gt_frames, faults, nreps, fps):
    """Per rep: its time span, its faults, and each truth check's value, limit and verdict."""
    out = []
    for k in range(nreps):
        fr = [f for f in gt_frames if f["rep"] == k]
        entry = {
            "rep": k,
            "start_s": fr[0]["frame"] / fps,
            "end_s": (fr[-1]["frame"] + 1) / fps,
            "faults": {kind: mag for kind, mag in faults.get(k, {}).items()},
            "checks": {},
        }
        for cid, tc in ex.checks.items():
            sel = [f for f in fr if f["phase"] in tc.phases]
            value = reduce_values(tc.reduce, [f["metrics"][tc.metric] for f in sel], [f["t"] for f in sel])
            fail = (tc.min is not None and value < tc.min) or (tc.max is not None and value > tc.max)
            entry["checks"][cid] = {
                "metric": tc.metric,
                "reduce": tc.reduce,
                "phases": list(tc.phases),
                "value": value,
                "min": tc.min,
                "max": tc.max,
                "fail": bool(fail),
            }
        out.append(entry)
    return out


def swap_lr(name):
    return name.replace(".L", ".TMP").replace(".R", ".L").replace(".TMP", ".R")


def keyframe_action(arm, frames_basis, bone_names):
    """frames_basis: list (per frame) of dict bone -> (loc, quat). Writes fcurves in bulk."""
    act = bpy.data.actions.new("exercise")
    arm.animation_data_create()
    arm.animation_data.action = act
    n = len(frames_basis)
    fr = np.arange(1, n + 1, dtype=np.float32)
    for b in bone_names:
        locs = np.array([fb[b][0] for fb in frames_basis], dtype=np.float32)
        quats = np.array([fb[b][1] for fb in frames_basis], dtype=np.float32)
        # keep quaternion sign continuous
        for i in range(1, n):
            if np.dot(quats[i], quats[i - 1]) < 0:
                quats[i] = -quats[i]
        for path, arr in (("location", locs), ("rotation_quaternion", quats)):
            for i in range(arr.shape[1]):
                fc = act.fcurves.new(f'pose.bones["{b}"].{path}', index=i, action_group=b)
                fc.keyframe_points.add(n)
                co = np.empty(2 * n, dtype=np.float32)
                co[0::2] = fr
                co[1::2] = arr[:, i]
                fc.keyframe_points.foreach_set("co", co)
                fc.keyframe_points.foreach_set("interpolation", [1] * n)  # LINEAR
                fc.update()


def keyframe_objects(objs_per_frame, scene_objs):
    for o in scene_objs:
        if o.name not in objs_per_frame[0]:
            continue
        o.rotation_mode = "QUATERNION"
        for f, od in enumerate(objs_per_frame, start=1):
            for attr, val in od[o.name].items():
                setattr(o, attr, val)
                o.keyframe_insert(attr, frame=f)


def main():
    argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
    ap = argparse.ArgumentParser(prog="blender -b --python make_clip.py --")
    ap.add_argument("clip", choices=exercise_names())
    ap.add_argument("--seed", type=int, default=0, help="seeds every random choice of the clip")
    ap.add_argument("--jitter", type=float, default=1.0, help="scale of the seeded variation (0 = nominal)")
    ap.add_argument("--faults", default=None, help="REP:KIND[:MAG],... (1-based reps); '' = a clean clip")
    ap.add_argument(
        "--fault-rep", type=int, default=None, help="1-based rep carrying the primary fault, 0 = none"
    )
    ap.add_argument("--fault-deg", type=float, default=None, help="primary fault magnitude")
    ap.add_argument("--side", default="left", choices=["left", "right"], help="working (or faulty) side")
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--preview", default="", help="comma separated frame numbers (1-based) to render only")
    ap.add_argument("--no-render", action="store_true", help="write gt.json only, render no frames")
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--engine", default="BLENDER_EEVEE")
    ap.add_argument("--out", default="out", help="output folder: frames/ and gt.json go inside")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--gender", default="male", choices=["male", "female"])
    ap.add_argument("--race", default="0,0,1", help="african,asian,caucasian weights")
    ap.add_argument("--skin", default="0.78,0.55,0.42")
    ap.add_argument("--shirt", default="0.10,0.22,0.45")
    ap.add_argument("--shorts", default="0.05,0.05,0.06")
    ap.add_argument("--hair", default="0.10,0.06,0.035")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--view", default=None, help="camera view; the exercise's first view by default")
    a = ap.parse_args(argv)
    ex = load_exercise(a.clip)
    nreps = a.reps or ex.default_reps
    view = a.view or next(iter(ex.views))
    if view not in ex.views:
        raise SystemExit(f"{ex.name} has views {list(ex.views)}, not {view!r}")
    if a.faults is not None:
        faults = parse_faults(a.faults, ex, nreps)
    else:
        rep = ex.default_fault_rep if a.fault_rep is None else a.fault_rep
        mag = ex.faults[ex.primary_fault].default if a.fault_deg is None else a.fault_deg
        faults = {rep - 1: {ex.primary_fault: mag}} if 1 <= rep <= nreps else {}
    var = Variation(a.seed, nreps, a.jitter)
    ctx = Ctx(view, nreps, var, faults, side=a.side, mirror_axis=ex.mirror_axis)
    fps = a.fps
    outdir = a.out

    def col(v, n=3):
        t = tuple(float(x) for x in v.split(","))
        if len(t) != n:
            raise SystemExit(f"expected {n} comma separated numbers, got {v!r}")
        return t

    os.makedirs(os.path.join(outdir, "frames"), exist_ok=True)

    t0 = time.time()
    S.clear_scene()
    arm, body, info = Hm.build_human(
        gender=a.gender,
        race=col(a.race),
        skin=col(a.skin),
        shirt=col(a.shirt),
        shorts=col(a.shorts),
        hair=col(a.hair),
    )
    poser = Hm.Poser(arm)
    rig = Rig(poser, info)
    cam, sched, pose_fn, metrics_fn, anim_objs, props = ex.setup(rig, ctx)
    mirrored = a.side == "right"
    if mirrored:
        # the person and their props, reflected across the body's mid-plane: the same motion done
        # with the other side (bone .L is then the person's right)
        mirror = bpy.data.objects.new("mirror", None)
        bpy.context.scene.collection.objects.link(mirror)
        sc_ = [1.0, 1.0, 1.0]
        sc_[ex.mirror_axis] = -1.0
        mirror.scale = sc_
        for o in [arm, *anim_objs, *props]:
            o.parent = mirror
        bpy.context.view_layer.update()
    S.render_settings(w=a.width, h=a.height, engine=a.engine, samples=a.samples, fps=fps)
    sc = bpy.context.scene
    nfr = int(round(sched.duration * fps))
    sc.frame_start, sc.frame_end = 1, nfr
    t_build = time.time() - t0

    frames_basis, labels, joints3d, canon3d, objs_pf = [], [], [], [], []
    for i in range(nfr):
        G, lab, objs = pose_fn(i / fps)
        objs_pf.append(objs)
        poser.apply(G)
        frames_basis.append(
            {
                n: (tuple(arm.pose.bones[n].location), tuple(arm.pose.bones[n].rotation_quaternion))
                for n in poser.order
            }
        )
        canon3d.append(
            {
                b: tuple((poser.full[b] @ poser.rest[b]).translation)
                for b in (*MP_JOINTS.values(), *METRIC_BONES)
            }
        )
        joints3d.append(
            {
                b: tuple(arm.matrix_world @ (poser.full[b] @ poser.rest[b]).translation)
                for b in MP_JOINTS.values()
            }
        )
        labels.append(lab)
    keyframe_action(arm, frames_basis, poser.order)
    if anim_objs:
        keyframe_objects(objs_pf, anim_objs)

    # consistency check: Blender-evaluated bone heads vs our FK, a few frames
    check = []
    for f in sorted({1, nfr // 3, nfr // 2, (2 * nfr) // 3}):
        sc.frame_set(f)
        err = max(
            (arm.matrix_world @ arm.pose.bones[b].head - Vector(joints3d[f - 1][b])).length
            for b in MP_JOINTS.values()
        )
        check.append((f, err))
    print("FK check (frame, max m):", check)

    # MediaPipe index -> bone as the camera sees it: mirrored, bone .L is the person's right
    mp_to_bone = {mi: (swap_lr(b) if mirrored else b) for mi, b in MP_JOINTS.items()}
    W, Hh = a.width, a.height
    gt_frames = []
    for i in range(nfr):
        J = joints3d[i]
        # metrics on the canonical (unmirrored) pose: they describe the working side as "left"
        m = metrics_fn(canon3d[i])
        if mirrored:
            m = {k.replace("left", "working"): (-v if k in ex.signed_metrics else v) for k, v in m.items()}
        gt_frames.append(
            {
                "frame": i,
                "t": i / fps,
                **labels[i],
                "joints2d": {str(mi): S.project(cam, J[b])[:2] for mi, b in mp_to_bone.items()},
                "joints3d": {str(mi): J[b] for mi, b in mp_to_bone.items()},
                "metrics": m,
            }
        )
    truth_reps = rep_truth(ex, gt_frames, faults, nreps, fps)

    # ---- render
    times = []
    bpy.app.handlers.render_pre.append(lambda *_: times.append(("pre", time.time())))
    bpy.app.handlers.render_post.append(lambda *_: times.append(("post", time.time())))
    sc.render.filepath = os.path.join(outdir, "frames", "")
    t1 = time.time()
    if a.no_render:
        pass
    elif a.preview:
        for f in [int(x) for x in a.preview.split(",")]:
            sc.frame_set(f)
            sc.render.filepath = os.path.join(outdir, "frames", f"{f:04d}.png")
            bpy.ops.render.render(write_still=True)
    else:
        bpy.ops.render.render(animation=True)
    t_render = time.time() - t1
    pres = [t for k, t in times if k == "pre"]
    per_frame = np.diff(pres).tolist() if len(pres) > 1 else []
    fault_list = [
        {"rep": k, "rep_number": k + 1, "type": kind, "magnitude": mag, "unit": ex.faults[kind].unit,
         "check": ex.faults[kind].check, "description": ex.faults[kind].description}
        for k in sorted(faults) for kind, mag in faults[k].items()
    ]  # fmt: skip
    first = fault_list[0] if fault_list else None
    meta = {
        "clip": a.clip,
        "spec": ex.spec,
        "fps": fps,
        "width": W,
        "height": Hh,
        "frames": nfr,
        "engine": a.engine,
        "samples": a.samples,
        "build_s": t_build,
        "render_total_s": t_render,
        "render_s_per_frame_median": float(np.median(per_frame)) if per_frame else None,
        "render_s_per_frame_mean": float(np.mean(per_frame)) if per_frame else None,
        "fk_check": check,
        "blender": bpy.app.version_string,
        "mp_joint_to_bone": {str(k): v for k, v in mp_to_bone.items()},
        "camera": {
            "location": tuple(cam.location),
            "rotation_euler": tuple(cam.rotation_euler),
            "lens_mm": cam.data.lens,
            "sensor_width_mm": cam.data.sensor_width,
        },
        "preview": a.preview,
        "view": view,
        "side": a.side,
        "unilateral": ex.unilateral,
        "reps": nreps,
        "seed": a.seed,
        "jitter": a.jitter,
        "variation": var.as_dict(),
        "generator_version": GENERATOR_VERSION,
        "body": {
            "gender": a.gender,
            "race_african_asian_caucasian": col(a.race),
            "skin_rgb": col(a.skin),
            "hair_rgb": col(a.hair),
        },
        "clothing": {"shirt_rgb": col(a.shirt), "shorts_rgb": col(a.shorts), "socks_rgb": (0.92, 0.92, 0.92)},
        "faults": fault_list,
        "fault": {
            "type": first["type"] if first else None,
            "rep": first["rep"] if first else None,
            "rep_number": first["rep_number"] if first else None,
            "magnitude_deg": first["magnitude"] if first else 0.0,
            "description": first["description"] if first else "",
        },
        "fault_kinds": {
            k: {"unit": f.unit, "default": f.default, "check": f.check, "description": f.description}
            for k, f in ex.faults.items()
        },
        "truth_checks": {cid: {"why": tc.why} for cid, tc in ex.checks.items()},
        # siform signal -> the truth metric measuring the same thing (metrics are in the person's
        # own left/right terms on both sides, as siform's signals are)
        "signal_truth": {
            sig: {"metric": (met.replace("left", "working") if mirrored else met), "sign": sign}
            for sig, (met, sign, _) in ex.signal_truth.items()
        },
        "rep_truth": truth_reps,
        "rep_starts_s": sched.starts[:-1],
        "command": sys.argv,
    }
    with open(os.path.join(outdir, "gt.json"), "w") as fh:
        json.dump({"meta": meta, "frames": gt_frames}, fh)
    print("DONE", json.dumps({k: meta[k] for k in ("clip", "frames", "faults", "render_s_per_frame_median")}))


main()
