"""Glute bridge, supine, filmed from the person's side (canonical: their left).

Faults: `pelvic_drop`, the near (canonical left) hip drops by the given degrees of obliquity of the
hip line to the floor; `short_lift`, the hips stop short, losing that fraction of the lift.
"""

import math

import bpy  # noqa: F401  (Blender context for scene.py)
import numpy as np
import scene as S
from common import D2R, SIDES, Exercise, Fault, Schedule, TruthCheck, Y, labels, rot_about
from human import T
from mathutils import Matrix, Quaternion, Vector

Zv = Vector((0, 0, 1))
# camera per view: (location, aim, lens); the person lies along X, head at -X, their left at +Y
VIEWS = {
    "high": "raised side camera, about 40 degrees above the floor",
    "side": "side camera about 22 degrees above the floor",
    "oblique": "45 degrees between the side and the feet end, raised",
    "feet": "from the feet end, raised",
}
CAMERAS = {
    "side": ((0.05, 2.35, 1.05), (-0.05, 0.0, 0.22), 33),
    "high": ((0.05, 1.85, 1.75), (-0.05, 0.0, 0.15), 30),
    "oblique": ((1.30, 1.30, 1.05), (-0.12, 0.0, 0.22), 30),
    "feet": ((2.35, 0.0, 1.35), (-0.2, 0.0, 0.2), 35),
}
MAT_TOP = 0.006


def lying_room(ctx, rig, with_pillow=True):
    S.build_room(
        wall_y=-1.7,
        side_wall_x=(-1.6 if ctx.view != "side" else None),
        mat=((1.85, 0.62, 0.006), (-0.05, 0.0, 0.003), (0.32, 0.22, 0.55)),
    )
    if with_pillow:
        S.add_box(
            "pillow",
            (0.34, 0.30, 0.045),
            (-0.74, 0.0, MAT_TOP + 0.0225),
            S.material("towel", (0.9, 0.88, 0.84), 0.95),
        )
    S.add_lights(
        target=(0, 0, 0.2), key_dir=(0.8, 2.0, 2.6), power_scale=ctx.var.light, ambient=ctx.var.ambient
    )
    loc, aim, lens = CAMERAS[ctx.view]
    # lying exercises keep the camera where it is for the right side: it then sees the person's right
    return S.add_camera(
        Vector(loc) + Vector(ctx.var.cam_loc), Vector(aim) + Vector(ctx.var.cam_aim), lens=lens
    )


class Supine:
    """The lifted-hips chain shared by the two bridges: spine bones rolled up about the neck, the
    pelvis rolled about the lumbar axis to a requested obliquity."""

    ANG = (7, 12, 8, 7, 6)  # spine01..05 share of the lift (deg) at full lift (sum 40)

    def __init__(self, rig):
        self.rig = rig
        self.Rlie = Matrix(((0, 0, -1), (1, 0, 0), (0, -1, 0)))
        self.Qlie = self.Rlie.to_quaternion()
        self.U = T((0.115, 0.0, MAT_TOP + rig.back_y)) @ self.Rlie.to_4x4()

    def trunk(self, lift, drop_deg):
        """Bone transforms for the head, spine and pelvis; returns (G, pelvis transform, roll)."""
        P, rig, U = self.rig.P, self.rig, self.U
        G = {b: U for b in ("neck01", "neck02", "neck03", "head")}
        g = U
        pivot = U @ P.head("neck01")
        for b, a in zip(["spine01", "spine02", "spine03", "spine04", "spine05"], self.ANG):
            g = rot_about(pivot, Y, -a * D2R * lift) @ g
            G[b] = g
            pivot = g @ P.head(b)
        pc = g @ P.head("spine05")
        axis = (g @ P.tail("spine05") - pc).normalized()

        def obliq(r):
            gg = rot_about(pc, axis, r) @ g
            hl, hr = gg @ rig.hip["L"], gg @ rig.hip["R"]
            return math.atan2(hl.z - hr.z, math.hypot(hl.x - hr.x, hl.y - hr.y)), gg

        # solve the pelvis roll that gives the requested obliquity (left hip lower) to the floor
        target, r = -drop_deg * D2R, -drop_deg * D2R
        for _ in range(6):
            o, gp = obliq(r)
            if abs(o - target) < 1e-6:
                break
            o2, _ = obliq(r + 1e-4)
            r -= (o - target) / ((o2 - o) / 1e-4)
        o, gp = obliq(r)
        for b in ("root", "spine05", "pelvis.L", "pelvis.R"):
            G[b] = gp
        return G, gp, r

    def arms(self, G):
        rig = self.rig
        for s_, sg in SIDES.items():
            Sh = G["spine01"] @ rig.shoulder[s_]
            Et = Vector(
                (Sh.x + 0.25 * math.cos(14 * D2R), Sh.y + sg * 0.25 * math.sin(14 * D2R), MAT_TOP + 0.045)
            )
            du = (Et - Sh).normalized()
            df = Vector((1.0, sg * 0.12, -0.03)).normalized()
            rig.arm(G, s_, G["spine01"], du, df, self.Qlie)


def bridge_metrics(J):
    hl, hr = J["upperleg01.L"], J["upperleg01.R"]
    obl = math.degrees(math.atan2(hl[2] - hr[2], math.hypot(hl[0] - hr[0], hl[1] - hr[1])))
    hm = (np.array(hl) + np.array(hr)) / 2
    sm = (np.array(J["upperarm01.L"]) + np.array(J["upperarm01.R"])) / 2
    km = (np.array(J["lowerleg01.L"]) + np.array(J["lowerleg01.R"])) / 2
    v1, v2 = sm - hm, km - hm
    ext = math.degrees(math.acos(np.dot(v1, v2) / np.linalg.norm(v1) / np.linalg.norm(v2)))
    return {"pelvic_obliquity_deg": obl, "hip_height_m": float(hm[2]), "shoulder_hip_knee_deg": ext}


def setup(rig, ctx):
    cam = lying_room(ctx, rig)
    sched = Schedule(
        ctx.var.lead,
        [("lift", 0.8, "up"), ("hold", 0.5, "hold"), ("lower", 0.8, "down"), ("rest", 0.4, "rest")],
        ctx.nreps,
        tempo=ctx.var.tempo,
    )
    sup = Supine(rig)
    ankle_x = 0.50
    Rz90 = Quaternion(Zv, math.pi / 2)

    def pose(t):
        k, phase, s = sched.at(t)
        drop = ctx.fault(k, "pelvic_drop") * s
        short = ctx.fault(k, "short_lift")
        lift = s * ctx.amp(k) * (1.0 - short)
        G, gp, r = sup.trunk(lift, drop)
        for s_, sg in SIDES.items():
            H = gp @ rig.hip[s_]
            A = Vector((ankle_x, sg * 0.115, MAT_TOP + rig.ankle_h))
            rig.leg(G, s_, H, A, pole=Vector((0, sg * 0.15, 1.0)), base=sup.Qlie, foot=Rz90)
        sup.arms(G)
        lab = labels(k, phase, s, ctx, {"pelvic_drop": drop, "short_lift": short if s > 0 else 0.0})
        lab["pelvis_roll_deg"] = math.degrees(r)
        return G, lab, {}

    return cam, sched, pose, bridge_metrics, [], []


EXERCISE = Exercise(
    name="bridge",
    spec="glute_bridge",
    views=VIEWS,
    faults={
        "pelvic_drop": Fault("deg", 12.0, "level_pelvis", "pelvic obliquity to the floor, near hip low"),
        "short_lift": Fault(
            "fraction", 0.35, "full_extension", "the hips stop short by this fraction of the lift"
        ),
    },
    primary_fault="pelvic_drop",
    setup=setup,
    checks={
        "level_pelvis": TruthCheck(
            "pelvic_obliquity_deg",
            ("hold",),
            "mean_abs",
            max=7.0,
            why="glute_bridge.toml: an image offset ratio of 0.025 against the set median is about 7 degrees of drop",
        ),
        "full_extension": TruthCheck(
            "shoulder_hip_knee_deg",
            ("hold",),
            "mean",
            min=170.0,
            why="glute_bridge.toml: 164 degrees as MediaPipe reads it is about 170 true",
        ),
    },
    mirror_axis=1,
    signed_metrics=("pelvic_obliquity_deg",),
    signal_truth={"hip_extension": ("shoulder_hip_knee_deg", 1.0, False)},
    default_fault_rep=3,
)
