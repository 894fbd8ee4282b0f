"""Render a synthetic exercise clip with per-frame ground truth (runs inside Blender 3.4).

blender -b -t 1 --python make_clip.py -- CLIP --out DIR [--seed N] [--preview 1,47] [options]
CLIP: bridge | ballsquat | adduction      (all options: see README.md or `-- --help`)

Writes DIR/frames/####.png (frame 1 = truth frame 0) and DIR/gt.json (per-frame 2D/3D joints,
rep/fault labels, exercise metrics, render timings). tools/synth/render_clip.py wraps this and
encodes an MP4 with a compact truth file.

Every random choice (rep tempo and range, lead-in time, camera and light jitter) comes from one
numpy Generator seeded with --seed, so a command line always renders the same clip.
"""

import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpy
import human as Hm
import numpy as np
import scene as S
from human import R4, T, swing, two_bone_ik
from mathutils import Matrix, Quaternion, Vector

FPS = 30
GENERATOR_VERSION = 1
D2R = math.pi / 180
X, Y, Z = Vector((1, 0, 0)), Vector((0, 1, 0)), Vector((0, 0, 1))
# MediaPipe landmark index -> rig bone whose head is the joint centre
MP_JOINTS = {
    11: "upperarm01.L",
    12: "upperarm01.R",
    13: "lowerarm01.L",
    14: "lowerarm01.R",
    15: "wrist.L",
    16: "wrist.R",
    23: "upperleg01.L",
    24: "upperleg01.R",
    25: "lowerleg01.L",
    26: "lowerleg01.R",
    27: "foot.L",
    28: "foot.R",
}
SIDES = {"L": 1.0, "R": -1.0}


def rot_about(p, axis, ang):
    p = Vector(p)
    return T(p) @ R4(Quaternion(Vector(axis), ang)) @ T(-p)


def ease(u):
    u = min(max(u, 0.0), 1.0)
    return 0.5 - 0.5 * math.cos(math.pi * u)


class Variation:
    """All seeded randomness of a clip. jitter=0 gives the nominal motion, camera and lights."""

    def __init__(self, seed, nreps, jitter=1.0):
        rng = np.random.default_rng(seed)
        j = float(jitter)
        self.seed, self.jitter = seed, j
        self.lead = 0.5 + j * float(rng.uniform(0.0, 0.3))  # s of rest before rep 1
        self.tempo = (1.0 + j * rng.uniform(-0.08, 0.08, nreps)).tolist()  # per-rep duration scale
        self.amp = (1.0 + j * rng.uniform(-0.07, 0.03, nreps)).tolist()  # per-rep range of motion
        self.cam_loc = (j * rng.uniform(-0.03, 0.03, 3)).tolist()  # m
        self.cam_aim = (j * rng.uniform(-0.02, 0.02, 3)).tolist()  # m
        self.light = (1.0 + j * rng.uniform(-0.12, 0.12, 3)).tolist()  # key, fill, top power
        self.ambient = 0.6 * (1.0 + j * float(rng.uniform(-0.1, 0.1)))

    def camera(self, loc, aim):
        return (Vector(loc) + Vector(self.cam_loc), Vector(aim) + Vector(self.cam_aim))

    def as_dict(self):
        return {k: v for k, v in vars(self).items()}


class Schedule:
    """lead rest, then n reps of phases [(name, dur, kind)] with kind in up/hold/down/rest.
    tempo[k] scales every phase duration of rep k."""

    def __init__(self, lead, phases, nreps, tail=0.4, tempo=None):
        self.lead, self.phases, self.nreps, self.tail = lead, phases, nreps, tail
        self.period = sum(d for _, d, _ in phases)
        self.tempo = list(tempo) if tempo is not None else [1.0] * nreps
        self.starts = [lead]
        for k in range(nreps):
            self.starts.append(self.starts[-1] + self.period * self.tempo[k])
        self.duration = self.starts[-1] + tail

    def at(self, t):
        if t < self.lead or t >= self.starts[-1]:
            return -1, "rest", 0.0
        k = max(i for i in range(self.nreps) if self.starts[i] <= t)
        u = (t - self.starts[k]) / self.tempo[k]
        for name, d, kind in self.phases:
            if u < d:
                f = u / d
                s = {"up": ease(f), "hold": 1.0, "down": 1.0 - ease(f), "rest": 0.0}[kind]
                return k, name, s
            u -= d
        return k, "rest", 0.0

    def amp(self, k):
        return VAR.amp[k] if k >= 0 else 1.0


class Rig:
    def __init__(self, poser, info):
        self.P = poser
        h = poser.head
        self.hip = {s: h("upperleg01." + s) for s in SIDES}
        self.knee = {s: h("lowerleg01." + s) for s in SIDES}
        self.ankle = {s: h("foot." + s) for s in SIDES}
        self.shoulder = {s: h("upperarm01." + s) for s in SIDES}
        self.elbow = {s: h("lowerarm01." + s) for s in SIDES}
        self.wrist = {s: h("wrist." + s) for s in SIDES}
        self.Lt = (self.knee["L"] - self.hip["L"]).length
        self.Ls = (self.ankle["L"] - self.knee["L"]).length
        self.sole_z = info["sole_z"]
        self.back_y = info["back_y"]
        self.ankle_h = self.ankle["L"].z - self.sole_z

    def leg(self, G, s, H, A, pole, base=Quaternion(), foot=None):
        """Set thigh/shank transforms for hip H -> ankle A (world). foot: rotation for the foot
        (placed at A); None = foot rigid with the shank."""
        K = two_bone_ik(H, A, self.Lt, self.Ls, pole)
        rth = swing(self.knee[s] - self.hip[s], K - H, base)
        gth = T(H) @ R4(rth) @ T(-self.hip[s])
        A2 = K + (A - K).normalized() * self.Ls
        rsh = swing(self.ankle[s] - self.knee[s], A2 - K, rth)
        gsh = T(K) @ R4(rsh) @ T(-self.knee[s])
        for b in ("upperleg01.", "upperleg02."):
            G[b + s] = gth
        for b in ("lowerleg01.", "lowerleg02."):
            G[b + s] = gsh
        if foot is not None:
            G["foot." + s] = T(A2) @ R4(foot) @ T(-self.ankle[s])
        return K

    def arm(self, G, s, Gparent, d_upper, d_fore, base):
        """Aim upper arm along d_upper and forearm along d_fore (world directions)."""
        S_ = Gparent @ self.shoulder[s]
        rua = swing(self.elbow[s] - self.shoulder[s], d_upper, base)
        gua = T(S_) @ R4(rua) @ T(-self.shoulder[s])
        E = gua @ self.elbow[s]
        rfa = swing(self.wrist[s] - self.elbow[s], d_fore, rua)
        gfa = T(E) @ R4(rfa) @ T(-self.elbow[s])
        G["upperarm01." + s] = gua
        G["upperarm02." + s] = gua
        G["lowerarm01." + s] = gfa
        G["lowerarm02." + s] = gfa


# ============================================================================ exercises
def setup_bridge(rig):
    """Supine glute bridge, camera on the person's left. Fault: rep 3 pelvis drops 12 deg on the left."""
    mat_top = 0.006
    S.build_room(
        wall_y=-1.7,
        side_wall_x=(-1.6 if VIEW != "side" else None),
        mat=((1.85, 0.62, 0.006), (-0.05, 0.0, 0.003), (0.32, 0.22, 0.55)),
    )
    S.add_box(
        "pillow",
        (0.34, 0.30, 0.045),
        (-0.74, 0.0, mat_top + 0.0225),
        S.material("towel", (0.9, 0.88, 0.84), 0.95),
    )
    S.add_lights(target=(0, 0, 0.2), key_dir=(0.8, 2.0, 2.6), power_scale=VAR.light, ambient=VAR.ambient)
    if VIEW == "side":  # camera on the person's left, elevated ~22 deg
        cam = S.add_camera(*VAR.camera((0.05, 2.35, 1.05), (-0.05, 0.0, 0.22)), lens=33)
    elif VIEW == "high":  # same side, camera higher (~40 deg elevation) so the far hip is less occluded
        cam = S.add_camera(*VAR.camera((0.05, 1.85, 1.75), (-0.05, 0.0, 0.15)), lens=30)
    elif VIEW == "oblique":  # 45 deg between the left side and the feet end, elevated
        cam = S.add_camera(*VAR.camera((1.30, 1.30, 1.05), (-0.12, 0.0, 0.22)), lens=30)
    else:  # from the feet end, elevated
        cam = S.add_camera(*VAR.camera((2.35, 0.0, 1.35), (-0.2, 0.0, 0.2)), lens=35)
    sched = Schedule(
        VAR.lead,
        [("lift", 0.8, "up"), ("hold", 0.5, "hold"), ("lower", 0.8, "down"), ("rest", 0.4, "rest")],
        NREPS,
        tempo=VAR.tempo,
    )
    faults = fault_table("pelvic_drop_left")
    Rlie = Matrix(((0, 0, -1), (1, 0, 0), (0, -1, 0)))
    Qlie = Rlie.to_quaternion()
    U = T((0.115, 0.0, mat_top + rig.back_y)) @ Rlie.to_4x4()
    P = rig.P
    ang = [7, 12, 8, 7, 6]  # spine01, 02, 03, 04, 05 lift share (deg) at full lift (sum 40)
    ankle_x = 0.50
    Rz90 = Quaternion(Z, math.pi / 2)

    def pose(t):
        k, phase, s = sched.at(t)
        fault = faults.get(k)
        drop = (fault["deg"] * s) if fault else 0.0
        sm_ = s * sched.amp(k)  # this rep's range of motion
        G = {}
        for b in ("neck01", "neck02", "neck03", "head"):
            G[b] = U
        g = U
        pivot = U @ P.head("neck01")
        chain = ["spine01", "spine02", "spine03", "spine04", "spine05"]
        for b, a in zip(chain, ang):
            g = rot_about(pivot, Y, -a * D2R * sm_) @ g
            G[b] = g
            pivot = g @ P.head(b)
        # pelvis group: root, spine05, pelvis.L/R ; roll about the lumbar axis for the drop fault
        pc = g @ P.head("spine05")
        axis = (g @ P.tail("spine05") - pc).normalized()

        def obliq(r):
            gg = rot_about(pc, axis, r) @ g
            hl, hr = gg @ rig.hip["L"], gg @ rig.hip["R"]
            return math.atan2(hl.z - hr.z, math.hypot(hl.x - hr.x, hl.y - hr.y)), gg

        # solve the pelvis roll that gives the requested obliquity (left hip lower) w.r.t. the floor
        target, r = -drop * D2R, -drop * D2R
        for _ in range(6):
            o, gp = obliq(r)
            if abs(o - target) < 1e-6:
                break
            o2, _ = obliq(r + 1e-4)
            r -= (o - target) / ((o2 - o) / 1e-4)
        o, gp = obliq(r)
        for b in ("root", "spine05", "pelvis.L", "pelvis.R"):
            G[b] = gp
        for s_, sg in SIDES.items():
            H = gp @ rig.hip[s_]
            A = Vector((ankle_x, sg * 0.115, mat_top + rig.ankle_h))
            rig.leg(G, s_, H, A, pole=Vector((0, sg * 0.15, 1.0)), base=Qlie, foot=Rz90)
            # arms lying on the mat beside the body
            Sh = G["spine01"] @ rig.shoulder[s_]
            Et = Vector(
                (Sh.x + 0.25 * math.cos(14 * D2R), Sh.y + sg * 0.25 * math.sin(14 * D2R), mat_top + 0.045)
            )
            du = (Et - Sh).normalized()
            df = Vector((1.0, sg * 0.12, -0.03)).normalized()
            rig.arm(G, s_, G["spine01"], du, df, Qlie)
        return (
            G,
            {
                "rep": k,
                "phase": phase,
                "progress": s,
                "fault": fault["type"] if (fault and s > 0) else None,
                "fault_magnitude_deg": drop,
                "pelvis_roll_deg": math.degrees(r),
            },
            {},
        )

    def metrics(J):
        hl, hr = J["upperleg01.L"], J["upperleg01.R"]
        obl = math.degrees(math.atan2(hl[2] - hr[2], math.hypot(hl[0] - hr[0], hl[1] - hr[1])))
        hm = (np.array(hl) + np.array(hr)) / 2
        sm = (np.array(J["upperarm01.L"]) + np.array(J["upperarm01.R"])) / 2
        km = (np.array(J["lowerleg01.L"]) + np.array(J["lowerleg01.R"])) / 2
        v1, v2 = sm - hm, km - hm
        ext = math.degrees(math.acos(np.dot(v1, v2) / np.linalg.norm(v1) / np.linalg.norm(v2)))
        return {"pelvic_obliquity_deg": obl, "hip_height_m": float(hm[2]), "shoulder_hip_knee_deg": ext}

    return cam, sched, pose, metrics, [], faults


def setup_ballsquat(rig):
    """Front view squat squeezing a ball between the knees. Fault: rep 3 knees spread apart."""
    S.build_room(wall_y=1.6)
    S.add_lights(target=(0, 0, 0.9), key_dir=(-1.5, -2.5, 3.0), power_scale=VAR.light, ambient=VAR.ambient)
    cam = S.add_camera(*VAR.camera((0.0, -3.1, 1.0), (0, 0, 0.80)), lens=35)
    sched = Schedule(
        VAR.lead,
        [("down", 0.9, "up"), ("bottom", 0.25, "hold"), ("up", 0.9, "down"), ("pause", 0.3, "rest")],
        NREPS,
        tempo=VAR.tempo,
    )
    faults = fault_table("knees_apart")
    hc_rest = (rig.hip["L"] + rig.hip["R"]) / 2
    ball_r = 0.10
    bm = S.material("ball", (0.85, 0.25, 0.15), 0.5)
    bpy.ops.mesh.primitive_uv_sphere_add(radius=ball_r, segments=32, ring_count=16)
    ball = bpy.context.active_object
    ball.name = "ball"
    ball.data.materials.append(bm)
    for p in ball.data.polygons:
        p.use_smooth = True

    def pose(t):
        k, phase, s = sched.at(t)
        fault = faults.get(k)
        beta = 3.0 + ((fault["deg"] * s) if fault else 0.0)
        sm_ = s * sched.amp(k)  # this rep's depth
        phs, kap, lam = 26 * D2R * sm_, 100 * D2R * sm_, 36 * D2R * sm_
        pht = kap - phs
        a_c = Vector((0, rig.ankle["L"].y, rig.ankle_h))
        Kc = a_c + rig.Ls * Vector((0, -math.sin(phs), math.cos(phs)))
        Hc = Kc + rig.Lt * Vector((0, math.sin(pht), math.cos(pht))) - Vector((0, 0, 0.004))
        Ql = Quaternion(X, lam)
        gtr = T(Hc) @ R4(Ql) @ T(-hc_rest)
        G = {"root": gtr}
        knees = {}
        for s_, sg in SIDES.items():
            H = gtr @ rig.hip[s_]
            A = Vector((sg * 0.16, rig.ankle[s_].y, rig.ankle_h))
            pole = Quaternion(Z, sg * beta * D2R) @ Vector((0, -1, 0))
            knees[s_] = rig.leg(G, s_, H, A, pole=pole, foot=Quaternion(Z, sg * 8 * D2R))
            f = (25 + 85 * sm_) * D2R
            du = (Ql @ Vector((sg * 0.22, -math.sin(f), -math.cos(f)))).normalized()
            df = (Ql @ Vector((sg * 0.08, -math.sin(f + 12 * D2R), -math.cos(f + 12 * D2R)))).normalized()
            rig.arm(G, s_, gtr, du, df, Ql)
        mid = (knees["L"] + knees["R"]) / 2 + Vector((0, 0.01, -0.01))
        objs = {"ball": {"location": tuple(mid)}}
        return (
            G,
            {
                "rep": k,
                "phase": phase,
                "progress": s,
                "fault": fault["type"] if (fault and s > 0) else None,
                "fault_magnitude_deg": beta - 3.0,
            },
            objs,
        )

    def metrics(J):
        kl, kr = np.array(J["lowerleg01.L"]), np.array(J["lowerleg01.R"])
        al, ar = np.array(J["foot.L"]), np.array(J["foot.R"])
        return {
            "knee_separation_m": float(abs(kl[0] - kr[0])),
            "ankle_separation_m": float(abs(al[0] - ar[0])),
            "knee_to_ankle_sep_ratio": float(abs(kl[0] - kr[0]) / abs(al[0] - ar[0])),
            "hip_height_m": float((J["upperleg01.L"][2] + J["upperleg01.R"][2]) / 2),
        }

    return cam, sched, pose, metrics, [ball], faults


def setup_adduction(rig):
    """Front view standing hip adduction of the left leg against a band anchored to the person's left.
    Fault: rep 4 trunk leans 12 deg toward the stance (right) side."""
    S.build_room(wall_y=1.6)
    S.add_lights(target=(0, 0, 0.9), key_dir=(-1.5, -2.5, 3.0), power_scale=VAR.light, ambient=VAR.ambient)
    cam = S.add_camera(*VAR.camera((0.15, -3.3, 1.0), (0.15, 0, 0.82)), lens=32)
    sched = Schedule(
        VAR.lead,
        [("adduct", 1.0, "up"), ("return", 1.0, "down"), ("pause", 0.3, "rest")],
        NREPS,
        tempo=VAR.tempo,
    )
    faults = fault_table("trunk_lean_right")
    P = rig.P
    anchor = Vector((1.0, -0.02, 0.14))
    pole_m = S.material("pole", (0.55, 0.55, 0.58), 0.4)
    bpy.ops.mesh.primitive_cylinder_add(radius=0.025, depth=1.2, location=(anchor.x + 0.03, anchor.y, 0.6))
    bpy.context.active_object.data.materials.append(pole_m)
    bpy.context.active_object.name = "anchor_post"
    bpy.ops.mesh.primitive_cylinder_add(radius=0.011, depth=2.0, vertices=16)
    band = bpy.context.active_object
    band.name = "band"
    band.data.materials.append(S.material("bandmat", (0.1, 0.55, 0.25), 0.6))
    shift = -0.035
    A_R = Vector((-0.12, rig.ankle["R"].y, rig.ankle_h))
    H_R0 = rig.hip["R"] + Vector((shift, 0, 0))
    dxy = math.hypot(H_R0.x - A_R.x, H_R0.y - A_R.y)
    hz = A_R.z + math.sqrt((0.997 * (rig.Lt + rig.Ls)) ** 2 - dxy**2)
    trans = Vector((shift, 0, hz - rig.hip["R"].z))

    def pose(t):
        k, phase, e0 = sched.at(t)
        fault = faults.get(k)
        lean = (fault["deg"] * e0) if fault else 0.0
        e = e0 * sched.amp(k)  # this rep's range of motion
        gtr = T(trans)
        G = {"root": gtr}
        pl = gtr @ P.head("spine04")
        hm = gtr @ ((rig.hip["L"] + rig.hip["R"]) / 2)

        def lean_of(r):
            g = rot_about(pl, Y, r) @ gtr
            v = g @ ((rig.shoulder["L"] + rig.shoulder["R"]) / 2) - hm
            return math.atan2(v.x, v.z)

        # lumbar side-bend r that tilts the mid-hip -> mid-shoulder line by -lean (toward the right)
        target = r = -lean * D2R
        for _ in range(6):
            o = lean_of(r)
            if abs(o - target) < 1e-7:
                break
            r -= (o - target) / ((lean_of(r + 1e-4) - o) / 1e-4)
        gup = rot_about(pl, Y, r) @ gtr
        G["spine04"] = gup
        Ql = Quaternion(Y, r)
        # stance leg (right)
        rig.leg(G, "R", gtr @ rig.hip["R"], A_R, pole=Vector((0, -1, 0)), foot=Quaternion(Z, -6 * D2R))
        # moving leg (left): hip angle from 18 deg abduction to 12 deg adduction, 10 deg flexion
        gam = (18 - 30 * e) * D2R
        fl = (6 + 8 * math.sin(math.pi * e)) * D2R
        H = gtr @ rig.hip["L"]
        L = 0.985 * (rig.Lt + rig.Ls)
        A = H + L * Vector((math.sin(gam), -math.sin(fl) * math.cos(gam), -math.cos(gam) * math.cos(fl)))
        A.z = max(A.z, rig.ankle_h + 0.035)
        rig.leg(G, "L", H, A, pole=Vector((0, -1, 0)))
        for s_, sg in SIDES.items():
            du = (Ql @ Vector((sg * 0.28, -0.05, -1.0))).normalized()
            df = (Ql @ Vector((sg * 0.20, -0.25, -1.0))).normalized()
            rig.arm(G, s_, gup, du, df, Ql)
        # band from the left shin (just above the ankle) to the anchor
        p0 = G["lowerleg02.L"] @ (rig.ankle["L"] + Vector((0, 0, 0.05)))
        d = anchor - p0
        q = Z.rotation_difference(d.normalized())
        objs = {
            "band": {
                "location": tuple((p0 + anchor) / 2),
                "rotation_quaternion": tuple(q),
                "scale": (1, 1, d.length / 2),
            }
        }
        return (
            G,
            {
                "rep": k,
                "phase": phase,
                "progress": e0,
                "fault": fault["type"] if (fault and e0 > 0) else None,
                "fault_magnitude_deg": lean,
            },
            objs,
        )

    def metrics(J):
        hm = (np.array(J["upperleg01.L"]) + np.array(J["upperleg01.R"])) / 2
        sm = (np.array(J["upperarm01.L"]) + np.array(J["upperarm01.R"])) / 2
        v = sm - hm
        lean = math.degrees(math.atan2(v[0], v[2]))  # + = toward person's left (+X)
        th = np.array(J["lowerleg01.L"]) - np.array(J["upperleg01.L"])
        add = math.degrees(math.atan2(-th[0], -th[2]))  # + = adduction (knee toward midline)
        return {"trunk_lateral_lean_deg": lean, "left_hip_adduction_deg": add}

    return cam, sched, pose, metrics, [band], faults


# clip -> (default fault rep, 1-based; default fault magnitude, deg; what the magnitude rotates)
FAULT_DEFAULTS = {
    "bridge": (3, 12.0, "pelvic obliquity to the floor, left hip low"),
    "ballsquat": (3, 10.0, "leg plane rotated outwards at full depth (knees apart)"),
    "adduction": (4, 12.0, "trunk (mid-hip to mid-shoulder) leaning toward the stance side"),
}
SETUPS = {"bridge": setup_bridge, "ballsquat": setup_ballsquat, "adduction": setup_adduction}
# module-level options, set once by main() before a setup runs
VIEW = "side"
NREPS = 5
FAULT_REP = 3  # 1-based; 0 = a clean clip
FAULT_DEG = 12.0
VAR = None


def fault_table(kind):
    """{0-based rep: fault} for the clip's single faulty rep (empty for a clean clip)."""
    if FAULT_REP <= 0 or FAULT_REP > NREPS:
        return {}
    return {FAULT_REP - 1: {"type": kind, "deg": FAULT_DEG}}


# ============================================================================ main
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
    ap.add_argument("clip", choices=list(SETUPS))
    ap.add_argument("--seed", type=int, default=0, help="seeds every random choice of the clip")
    ap.add_argument("--jitter", type=float, default=1.0, help="scale of the seeded variation (0 = nominal)")
    ap.add_argument(
        "--fault-rep",
        type=int,
        default=None,
        help="1-based rep that carries the fault, 0 = no fault (default: bridge/ballsquat 3, adduction 4)",
    )
    ap.add_argument(
        "--fault-deg", type=float, default=None, help="fault magnitude in degrees (default 12 / 10 / 12)"
    )
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
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument(
        "--view", default="side", choices=["side", "high", "oblique", "feet"], help="bridge camera"
    )
    a = ap.parse_args(argv)
    global VIEW, NREPS, FAULT_REP, FAULT_DEG, VAR
    d_rep, d_deg, fault_desc = FAULT_DEFAULTS[a.clip]
    VIEW, NREPS = a.view, a.reps
    FAULT_REP = d_rep if a.fault_rep is None else a.fault_rep
    FAULT_DEG = d_deg if a.fault_deg is None else a.fault_deg
    VAR = Variation(a.seed, NREPS, a.jitter)
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
    cam, sched, pose_fn, metrics_fn, anim_objs, faults = SETUPS[a.clip](rig)
    S.render_settings(w=a.width, h=a.height, engine=a.engine, samples=a.samples, fps=FPS)
    sc = bpy.context.scene
    nfr = int(round(sched.duration * FPS))
    sc.frame_start, sc.frame_end = 1, nfr
    t_build = time.time() - t0

    frames_basis, labels, joints3d, objs_pf = [], [], [], []
    for i in range(nfr):
        G, lab, objs = pose_fn(i / FPS)
        objs_pf.append(objs)
        poser.apply(G)
        frames_basis.append(
            {
                n: (tuple(arm.pose.bones[n].location), tuple(arm.pose.bones[n].rotation_quaternion))
                for n in poser.order
            }
        )
        J = {
            b: tuple(arm.matrix_world @ (poser.full[b] @ poser.rest[b]).translation)
            for b in MP_JOINTS.values()
        }
        joints3d.append(J)
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

    W, Hh = a.width, a.height
    gt_frames = []
    for i in range(nfr):
        J = joints3d[i]
        j2d = {str(mi): S.project(cam, J[b])[:2] for mi, b in MP_JOINTS.items()}
        gt_frames.append(
            {
                "frame": i,
                "t": i / FPS,
                **labels[i],
                "joints2d": j2d,
                "joints3d": {str(mi): J[b] for mi, b in MP_JOINTS.items()},
                "metrics": metrics_fn(J),
            }
        )

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
    meta = {
        "clip": a.clip,
        "fps": FPS,
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
        "mp_joint_to_bone": {str(k): v for k, v in MP_JOINTS.items()},
        "camera": {
            "location": tuple(cam.location),
            "rotation_euler": tuple(cam.rotation_euler),
            "lens_mm": cam.data.lens,
            "sensor_width_mm": cam.data.sensor_width,
        },
        "preview": a.preview,
        "view": a.view if a.clip == "bridge" else "front",
        "reps": NREPS,
        "seed": a.seed,
        "jitter": a.jitter,
        "variation": VAR.as_dict(),
        "generator_version": GENERATOR_VERSION,
        "body": {
            "gender": a.gender,
            "race_african_asian_caucasian": col(a.race),
            "skin_rgb": col(a.skin),
            "hair_rgb": col(a.hair),
        },
        "clothing": {"shirt_rgb": col(a.shirt), "shorts_rgb": col(a.shorts), "socks_rgb": (0.92, 0.92, 0.92)},
        "fault": {
            "type": next(iter(faults.values()))["type"] if faults else None,
            "rep": (FAULT_REP - 1) if faults else None,
            "rep_number": FAULT_REP if faults else None,
            "magnitude_deg": FAULT_DEG if faults else 0.0,
            "description": fault_desc,
        },
        "rep_starts_s": sched.starts[:-1],
        "command": sys.argv,
    }
    with open(os.path.join(outdir, "gt.json"), "w") as fh:
        json.dump({"meta": meta, "frames": gt_frames}, fh)
    print("DONE", json.dumps(meta))


main()
