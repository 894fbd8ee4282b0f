"""Walking on the spot (marching), an off-target motion for testing `--exercise auto`
(truth `spec: null`).

Each rep is two steps: the left knee rises until the thigh is about 50 degrees forward of vertical
and comes down, then the right; the arms swing opposite to the legs and the pelvis bobs a little.
Views: `front` (hip height), `side` (from the person's left). No faults and no truth checks.
"""

import math

from common import D2R, SIDES, Exercise, Schedule, labels
from ex_squat import hanging_arms, standing_camera
from human import T
from mathutils import Quaternion, Vector

Zv = Vector((0, 0, 1))
VIEWS = {
    "front": "front camera at hip height",
    "side": "side camera at hip height, on the person's left",
}
X_ = Vector((1, 0, 0))


def setup(rig, ctx):
    cam = standing_camera(ctx)
    sched = Schedule(
        ctx.var.lead,
        [
            ("left_up", 0.35, "up"),
            ("left_down", 0.35, "down"),
            ("right_up", 0.35, "up"),
            ("right_down", 0.35, "down"),
        ],
        ctx.nreps,
        tempo=ctx.var.tempo,
    )
    hc_rest = (rig.hip["L"] + rig.hip["R"]) / 2
    # standing: the rest pose's hips over the ankles, lifted so the soles are on the floor
    stand = Vector((hc_rest.x, hc_rest.y, rig.ankle_h + hc_rest.z - rig.ankle["L"].z - 0.006))

    def pose(t):
        k, phase, s = sched.at(t)
        lift_side = "L" if phase.startswith("left") else "R"
        e = s * ctx.amp(k)
        bob = 0.015 * math.sin(math.pi * s)
        Hc = stand + Vector((0.03 * (1 if lift_side == "R" else -1) * e, 0, bob))
        gtr = T(Hc) @ T(-hc_rest)
        G = {"root": gtr}
        for s_, sg in SIDES.items():
            H = gtr @ rig.hip[s_]
            if s_ == lift_side and k >= 0:
                th = 50 * D2R * e  # thigh forward of vertical
                kb = 65 * D2R * e  # knee bend
                K = H + rig.Lt * Vector((0, -math.sin(th), -math.cos(th)))
                sh = th - kb
                A = K + rig.Ls * Vector((0, -math.sin(sh), -math.cos(sh)))
                rig.leg(G, s_, H, A, pole=Vector((0, -1, 0.2)), foot=Quaternion(X_, 20 * D2R * e))
            else:
                A = Vector((sg * 0.11, rig.ankle[s_].y, rig.ankle_h))
                rig.leg(G, s_, H, A, pole=Vector((0, -1, 0)), foot=Quaternion(Zv, sg * 6 * D2R))
        swing = 25.0 * e * (1 if lift_side == "R" else -1)
        hanging_arms(rig, G, gtr, Quaternion(), swing)
        return G, labels(k, phase, s, ctx, {}), {}

    def metrics(J):
        return {
            "left_knee_height_m": float(J["lowerleg01.L"][2]),
            "right_knee_height_m": float(J["lowerleg01.R"][2]),
        }

    return cam, sched, pose, metrics, [], []


EXERCISE = Exercise(
    name="march",
    spec=None,
    views=VIEWS,
    faults={},
    primary_fault=None,
    setup=setup,
    default_fault_rep=0,
    default_reps=6,
)
