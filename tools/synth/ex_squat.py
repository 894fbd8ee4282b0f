"""Ordinary bodyweight squat (no ball), an off-target motion for testing `--exercise auto`.

Not one of siform's exercises: the truth says `spec: null`, and siform should refuse to name it
(or name nothing above its refusal line). Feet a little wider than the hips and turned out, arms
reaching forward as the body lowers, the trunk leaning forward, thighs to about level at the
bottom. Views: `front` (hip height, as a patient would film a standing exercise), `side` (from the
person's left at hip height). No faults and no truth checks.
"""

import math

import scene as S
from common import D2R, SIDES, Exercise, Schedule, X, labels
from ex_ballsquat import standing_room
from human import R4, T
from mathutils import Quaternion, Vector

Zv = Vector((0, 0, 1))
VIEWS = {
    "front": "front camera at hip height",
    "side": "side camera at hip height, on the person's left",
}
CAMERAS = {"front": ((0.0, -3.2, 1.0), (0, 0, 0.80), 35), "side": ((3.2, -0.1, 1.0), (0, 0, 0.78), 35)}


def standing_camera(ctx, cameras=None):
    """Room, lights and camera for a standing motion; a side view gets a wall behind the person."""
    if ctx.view == "front":
        standing_room(ctx)
    else:
        S.build_room(wall_y=1.6, side_wall_x=-1.7)
        S.add_lights(
            target=(0, 0, 0.9), key_dir=(2.6, -1.6, 2.8), power_scale=ctx.var.light, ambient=ctx.var.ambient
        )
    loc, aim, lens = (cameras or CAMERAS)[ctx.view]
    return S.add_camera(*ctx.camera(loc, aim), lens=lens)


def hanging_arms(rig, G, parent, base, swing_deg=0.0):
    """Arms hanging by the sides; swing_deg > 0 swings the left arm forward and the right back."""
    for s_, sg in SIDES.items():
        f = sg * swing_deg * D2R
        du = (base @ Vector((sg * 0.20, -math.sin(f), -math.cos(f)))).normalized()
        df = (base @ Vector((sg * 0.10, -math.sin(f) - 0.2, -math.cos(f)))).normalized()
        rig.arm(G, s_, parent, du, df, base)


def setup(rig, ctx):
    cam = standing_camera(ctx)
    sched = Schedule(
        ctx.var.lead,
        [("down", 1.0, "up"), ("bottom", 0.3, "hold"), ("up", 0.9, "down"), ("pause", 0.4, "rest")],
        ctx.nreps,
        tempo=ctx.var.tempo,
    )
    hc_rest = (rig.hip["L"] + rig.hip["R"]) / 2

    def pose(t):
        k, phase, s = sched.at(t)
        sm_ = s * ctx.amp(k)
        phs, kap, lam = 32 * D2R * sm_, 115 * D2R * sm_, 45 * D2R * sm_
        pht = kap - phs
        a_c = Vector((0, rig.ankle["L"].y, rig.ankle_h))
        Kc = a_c + rig.Ls * Vector((0, -math.sin(phs), math.cos(phs)))
        Hc = Kc + rig.Lt * Vector((0, math.sin(pht), math.cos(pht))) - Vector((0, 0, 0.004))
        Ql = Quaternion(X, lam)
        gtr = T(Hc) @ R4(Ql) @ T(-hc_rest)
        G = {"root": gtr}
        for s_, sg in SIDES.items():
            H = gtr @ rig.hip[s_]
            A = Vector((sg * 0.19, rig.ankle[s_].y, rig.ankle_h))
            pole = Quaternion(Zv, sg * 14 * D2R) @ Vector((0, -1, 0))
            rig.leg(G, s_, H, A, pole=pole, foot=Quaternion(Zv, sg * 15 * D2R))
            f = (10 + 100 * sm_) * D2R  # arms rise forward to about shoulder height
            du = Vector((sg * 0.15, -math.sin(f), -math.cos(f))).normalized()
            df = Vector((sg * 0.05, -math.sin(f + 8 * D2R), -math.cos(f + 8 * D2R))).normalized()
            rig.arm(G, s_, gtr, du, df, Ql)
        return G, labels(k, phase, s, ctx, {}), {}

    def metrics(J):
        hl, hr = J["upperleg01.L"], J["upperleg01.R"]
        return {"hip_height_m": float((hl[2] + hr[2]) / 2)}

    return cam, sched, pose, metrics, [], []


EXERCISE = Exercise(
    name="squat",
    spec=None,
    views=VIEWS,
    faults={},
    primary_fault=None,
    setup=setup,
    default_fault_rep=0,
    default_reps=5,
)
