"""Pelvic list (hip hitch), standing on a low step, filmed from the front (canonical: the person
stands on the RIGHT leg and the LEFT, free side's hip drops and lifts back to level).

The stance foot stands on a low step near its outer edge, the free foot hangs just beside it, a few
centimetres off the floor. Each rep the pelvis turns about the stance hip so the free hip drops
about 10 degrees, holds briefly, and lifts back to level; the lumbar spine side-bends the other way
so the trunk stays upright, and the arms hang.

Faults: `trunk_lean`, the trunk (mid-hip to mid-shoulder line) leans the given degrees over the
stance leg; `knee_buckle`, the stance knee gives way inwards: it bends with the knee moving
forwards and towards the midline until the hip-knee-ankle angle seen from the front is the given
degrees short of straight (the body sinks with it).
"""

import math

import bpy  # noqa: F401  (Blender context for scene.py)
import numpy as np
import scene as S
from common import D2R, SIDES, Exercise, Fault, Schedule, TruthCheck, X, Y, labels, rot_about
from ex_ballsquat import standing_room
from human import T, two_bone_ik
from mathutils import Quaternion, Vector

Zv = Vector((0, 0, 1))
STEP_H = 0.10  # m, height of the step under the stance foot
# the lumbar side-bend that keeps the trunk upright, shared out over the lumbar bones (bottom up)
LUMBAR = (("spine04", 0.3), ("spine03", 0.4), ("spine02", 0.3))
DROP_DEG = 10.0  # free-side pelvic drop at the bottom of a full rep
BUCKLE_TURN = 50.0  # deg: a buckling stance knee gives way forwards and this far towards the midline


def stance_pole(buckle):
    """Pole of the stance (right) knee: forwards, turning towards the midline (+X) as it buckles."""
    b = BUCKLE_TURN * D2R * min(1.0, buckle / 6.0)
    return Vector((math.sin(b), -math.cos(b), 0.0))


def frontal_angle_deg(h, k, a):
    """Hip-knee-ankle angle in the frontal (X-Z) plane, as a front camera sees it; 180 = straight."""
    u = np.array([h[0] - k[0], h[2] - k[2]])
    v = np.array([a[0] - k[0], a[2] - k[2]])
    c = float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


def step_props(rig, x_edge):
    """The low step under the stance (right, -X) foot; its inner edge at x_edge."""
    wood = S.material("step", (0.62, 0.50, 0.36), 0.6)
    sx, sy = 0.36, 0.44
    y0 = rig.ankle["R"].y - 0.07
    return S.add_box("step", (sx, sy, STEP_H), (x_edge - sx / 2, y0, STEP_H / 2), wood)


def setup(rig, ctx):
    standing_room(ctx)
    cam = S.add_camera(*ctx.camera((-0.05, -3.3, 1.02), (-0.05, 0, 0.90)), lens=36)
    sched = Schedule(
        ctx.var.lead,
        [("drop", 1.0, "up"), ("bottom", 0.3, "hold"), ("lift", 1.0, "down"), ("pause", 0.5, "rest")],
        ctx.nreps,
        tempo=ctx.var.tempo,
    )
    P = rig.P
    step = step_props(rig, x_edge=-0.035)
    L = rig.Lt + rig.Ls
    shift = -0.045  # weight over the stance foot: pelvis shifted towards the stance side
    A_R = Vector((rig.hip["R"].x + shift - 0.012, rig.ankle["R"].y, STEP_H + rig.ankle_h))
    H_R0 = rig.hip["R"] + Vector((shift, 0, 0))
    dxy = math.hypot(H_R0.x - A_R.x, H_R0.y - A_R.y)

    def stance_reach(buckle):
        """Hip-ankle distance of the stance leg whose frontal knee angle is 180 - buckle."""
        lo, hi = 0.80 * L, 0.998 * L
        if buckle <= 0:
            return hi
        for _ in range(40):
            d = 0.5 * (lo + hi)
            H = Vector((H_R0.x, H_R0.y, A_R.z + math.sqrt(d * d - dxy * dxy)))
            K = two_bone_ik(H, A_R, rig.Lt, rig.Ls, stance_pole(buckle))
            dev = 180.0 - frontal_angle_deg(H, K, A_R)
            lo, hi = (d, hi) if dev > buckle else (lo, d)
        return 0.5 * (lo + hi)

    def pose(t):
        k, phase, e0 = sched.at(t)
        lean = ctx.fault(k, "trunk_lean") * e0
        buckle = ctx.fault(k, "knee_buckle") * e0
        e = e0 * ctx.amp(k)  # this rep's range of motion
        drop = DROP_DEG * e
        d = stance_reach(buckle)
        hz = A_R.z + math.sqrt(d * d - dxy * dxy)
        trans = Vector((shift, 0, hz - rig.hip["R"].z))
        # pelvis turned about the stance (right) hip: the free (left) hip drops by `drop`
        gtr = rot_about(T(trans) @ rig.hip["R"], Y, drop * D2R) @ T(trans)
        G = {"root": gtr}
        hm = gtr @ ((rig.hip["L"] + rig.hip["R"]) / 2)

        def bend(r):
            """Lumbar side-bend r shared by the lumbar bones; bone -> transform."""
            g, out = gtr, {}
            for b, w in LUMBAR:
                g = rot_about(g @ P.head(b), Y, w * r) @ g
                out[b] = g
            return out

        def lean_of(r):
            v = bend(r)[LUMBAR[-1][0]] @ ((rig.shoulder["L"] + rig.shoulder["R"]) / 2) - hm
            return math.atan2(v.x, v.z)

        # lumbar side-bend r that sets the mid-hip -> mid-shoulder line to -lean (over the stance leg)
        target = -lean * D2R
        r = target - drop * D2R
        for _ in range(8):
            o = lean_of(r)
            if abs(o - target) < 1e-7:
                break
            r -= (o - target) / ((lean_of(r + 1e-4) - o) / 1e-4)
        G.update(bend(r))
        gup = G[LUMBAR[-1][0]]
        Ql = Quaternion(Y, r + drop * D2R)  # the trunk's own tilt in the world
        # stance leg (right) on the step; it gives way forwards and inwards when buckling
        rig.leg(G, "R", gtr @ rig.hip["R"], A_R, pole=stance_pole(buckle), foot=Quaternion(Zv, -6 * D2R))
        # free leg (left): hangs nearly vertical, hip and knee slightly flexed, foot relaxed
        H = gtr @ rig.hip["L"]
        gam, fl = 1.5 * D2R, 6 * D2R
        A = H + 0.975 * L * Vector((math.sin(gam), -math.sin(fl), -math.cos(gam) * math.cos(fl)))
        A.z = max(A.z, rig.ankle_h + 0.03)
        rig.leg(
            G, "L", H, A, pole=Vector((0.05, -1, 0)), foot=Quaternion(Zv, 5 * D2R) @ Quaternion(X, 10 * D2R)
        )
        Qa = Quaternion(Y, 0.4 * (r + drop * D2R))  # hanging arms follow the trunk's tilt only partly
        for s_, sg in SIDES.items():
            du = (Qa @ Vector((sg * 0.22, -0.04, -1.0))).normalized()
            df = (Qa @ Vector((sg * 0.12, -0.22, -1.0))).normalized()
            rig.arm(G, s_, gup, du, df, Ql)
        lab = labels(k, phase, e0, ctx, {"trunk_lean": lean, "knee_buckle": buckle})
        lab["target_drop_deg"] = drop
        return G, lab, {}

    def metrics(J):
        hl, hr = np.array(J["upperleg01.L"]), np.array(J["upperleg01.R"])
        kr, ar = np.array(J["lowerleg01.R"]), np.array(J["foot.R"])
        hm = (hl + hr) / 2
        sm = (np.array(J["upperarm01.L"]) + np.array(J["upperarm01.R"])) / 2
        v = sm - hm
        lean = math.degrees(math.atan2(v[0], v[2]))  # + = toward the person's left (+X)
        drop = math.degrees(math.atan2(hr[2] - hl[2], abs(hl[0] - hr[0])))  # + = free (left) hip lower
        u, w = hr - kr, ar - kr
        knee3d = math.degrees(math.acos(np.clip(np.dot(u, w) / np.linalg.norm(u) / np.linalg.norm(w), -1, 1)))
        return {
            "pelvic_drop_deg": drop,
            "trunk_lateral_lean_deg": lean,
            "stance_knee_frontal_deg": frontal_angle_deg(hr, kr, ar),
            "stance_knee_3d_deg": knee3d,
            "free_foot_clearance_m": float(J["foot.L"][2] - rig.ankle_h),
        }

    return cam, sched, pose, metrics, [], [step]


EXERCISE = Exercise(
    name="pelvic_list",
    spec="pelvic_list",
    views={"front": "front camera at hip height"},
    faults={
        "trunk_lean": Fault(
            "deg", 12.0, "trunk_upright", "trunk (mid-hip to mid-shoulder) leaning over the stance leg"
        ),
        "knee_buckle": Fault(
            "deg",
            25.0,
            "stance_knee_straight",
            "stance knee giving way forwards and inwards: frontal hip-knee-ankle angle short of straight",
        ),
    },
    primary_fault="trunk_lean",
    setup=setup,
    checks={
        "trunk_upright": TruthCheck(
            "trunk_lateral_lean_deg",
            ("drop", "bottom", "lift"),
            "max_abs",
            max=8.0,
            why="pelvic_list.toml: 8 degrees of lateral lean separates a balance shift from leaning over the stance leg"
            " (MediaPipe read 11.8 for a true 12)",
        ),
        "stance_knee_straight": TruthCheck(
            "stance_knee_frontal_deg",
            ("drop", "bottom", "lift"),
            "min",
            min=165.0,
            why="pelvic_list.toml: 165 degrees hip-knee-ankle seen from the front; the truth is the same frontal-plane"
            " angle of the rig joints (MediaPipe read 164 for a true 160, straight knees 179 for 180)",
        ),
    },
    mirror_axis=0,
    unilateral=True,
    signed_metrics=("trunk_lateral_lean_deg",),
    signal_truth={
        "drop": ("pelvic_drop_deg", 1.0, False),
        "trunk": ("trunk_lateral_lean_deg", 1.0, True),
        "stance_knee": ("stance_knee_frontal_deg", 1.0, False),
    },
    default_fault_rep=3,
)
