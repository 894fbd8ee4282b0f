"""Squat squeezing a ball between the knees, filmed from the front.

Faults: `knees_apart`, the leg planes turn outwards by the given degrees at full depth (the ball
stays between the knees); `shallow`, the squat stops short by that fraction of its depth;
`fast_down`, the lowering takes that fraction of its usual time; `toes_out`, both feet turn out
that many degrees beyond the stance's own 8 as the squat deepens.
"""

import math

import bpy
import numpy as np
import scene as S
from common import D2R, SIDES, Exercise, Fault, Schedule, TruthCheck, X, labels
from human import R4, T
from mathutils import Quaternion, Vector

Zv = Vector((0, 0, 1))


def standing_room(ctx, key_dir=(-1.5, -2.5, 3.0)):
    S.build_room(wall_y=1.6)
    S.add_lights(
        target=(0, 0, 0.9), key_dir=ctx.lights(key_dir), power_scale=ctx.var.light, ambient=ctx.var.ambient
    )


def setup(rig, ctx):
    standing_room(ctx)
    cam = S.add_camera(*ctx.camera((0.0, -3.1, 1.0), (0, 0, 0.80)), lens=35)
    scale = {k: {"down": f} for k, f in ((k, ctx.fault(k, "fast_down")) for k in range(ctx.nreps)) if f}
    sched = Schedule(
        ctx.var.lead,
        [("down", 0.9, "up"), ("bottom", 0.25, "hold"), ("up", 0.9, "down"), ("pause", 0.3, "rest")],
        ctx.nreps,
        tempo=ctx.var.tempo,
        scale=scale,
    )
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
        apart = ctx.fault(k, "knees_apart") * s
        shallow = ctx.fault(k, "shallow")
        beta = 3.0 + apart
        sm_ = s * ctx.amp(k) * (1.0 - shallow)  # this rep's depth
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
            pole = Quaternion(Zv, sg * beta * D2R) @ Vector((0, -1, 0))
            toe_out = (8.0 + ctx.fault(k, "toes_out") * s) * D2R  # 8 degrees: a relaxed stance
            knees[s_] = rig.leg(G, s_, H, A, pole=pole, foot=Quaternion(Zv, sg * toe_out))
            f = (25 + 85 * sm_) * D2R
            du = (Ql @ Vector((sg * 0.22, -math.sin(f), -math.cos(f)))).normalized()
            df = (Ql @ Vector((sg * 0.08, -math.sin(f + 12 * D2R), -math.cos(f + 12 * D2R)))).normalized()
            rig.arm(G, s_, gtr, du, df, Ql)
        mid = (knees["L"] + knees["R"]) / 2 + Vector((0, 0.01, -0.01))
        fast = ctx.fault(k, "fast_down") if phase == "down" else 0.0
        now = {
            "knees_apart": apart,
            "shallow": shallow if s > 0 else 0.0,
            "fast_down": fast,
            "toes_out": ctx.fault(k, "toes_out") * s,
        }
        return G, labels(k, phase, s, ctx, now), {"ball": {"location": tuple(mid)}}

    def metrics(J):
        kl, kr = np.array(J["lowerleg01.L"]), np.array(J["lowerleg01.R"])
        al, ar = np.array(J["foot.L"]), np.array(J["foot.R"])
        hl, hr = np.array(J["upperleg01.L"]), np.array(J["upperleg01.R"])
        thigh = (hl[2] - kl[2]) + (hr[2] - kr[2])
        standing = rig.Lt + rig.Ls - 0.004  # hip above ankle with both legs straight (rest of the pose)
        shin = (kl[2] - al[2]) + (kr[2] - ar[2])
        return {
            "knee_separation_m": float(abs(kl[0] - kr[0])),
            "ankle_separation_m": float(abs(al[0] - ar[0])),
            "knee_to_ankle_sep_ratio": float(abs(kl[0] - kr[0]) / abs(al[0] - ar[0])),
            "hip_height_m": float((hl[2] + hr[2]) / 2),
            "thigh_drop_ratio": float(thigh / shin),
            "hip_lowering_ratio": float(1.0 - ((hl[2] + hr[2]) - (al[2] + ar[2])) / (2 * standing)),
            "toe_out_deg": max(toe_out_deg(J, s_, sg) for s_, sg in SIDES.items()),
        }

    return cam, sched, pose, metrics, [ball], []


def toe_out_deg(J, s_, sg):
    """The foot's turn-out on the floor, degrees: ankle -> toe line against straight ahead (-Y)."""
    d = np.array(J["toe2-1." + s_]) - np.array(J["foot." + s_])
    return math.degrees(math.atan2(sg * d[0], -d[1]))


EXERCISE = Exercise(
    name="ballsquat",
    spec="ball_squat",
    views={"front": "front camera at hip height"},
    faults={
        "knees_apart": Fault("deg", 10.0, "knees_together", "leg plane rotated outwards at full depth"),
        "shallow": Fault(
            "fraction", 0.4, "chair_depth", "the squat stops short by this fraction of its depth"
        ),
        "fast_down": Fault("fraction", 0.25, "slow_lowering", "the lowering takes this fraction of its time"),
        "toes_out": Fault("deg", 15.0, "toes_forward", "both feet turn out this much more than 8 degrees"),
    },
    primary_fault="knees_apart",
    setup=setup,
    checks={
        "knees_together": TruthCheck(
            "knee_to_ankle_sep_ratio",
            ("down", "bottom", "up"),
            "max",
            max=1.05,
            why="ball_squat.toml: knee gap over ankle gap above 1.05 means the knees left the ball",
        ),
        "chair_depth": TruthCheck(
            "thigh_drop_ratio",
            ("bottom",),
            "min",
            max=0.55,
            why="thigh height over shin height at the bottom (3D); 0.55 is the thighs about 30 degrees above level",
        ),
        "toes_forward": TruthCheck(
            "toe_out_deg",
            ("down", "bottom", "up"),
            "max",
            max=17.0,
            why="ball_squat.toml: 0.3 (toe offset over hip width) is about 17 degrees of turn-out",
        ),
        "slow_lowering": TruthCheck(
            "thigh_drop_ratio",
            ("down",),
            "duration_s",
            min=0.6,
            why="ball_squat.toml: a lowering faster than about 0.6 s is a drop into the squat, not a controlled one",
        ),
    },
    mirror_axis=0,
    signal_truth={
        "knees": ("knee_to_ankle_sep_ratio", 1.0, False),
        "depth": ("hip_lowering_ratio", 1.0, False),
    },
    default_fault_rep=3,
)
