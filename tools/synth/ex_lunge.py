"""Split-stance lunge, an off-target motion for testing `--exercise auto` (truth `spec: null`).

The left foot stands about 40 cm ahead of the right, whose heel is raised; each rep the body
lowers until the front thigh is nearly level and the back knee points at the floor, then rises.
The trunk stays upright and the arms hang. Views: `side` (from the person's left, hip height),
`front` (hip height). No faults and no truth checks.
"""

import math

from common import D2R, Exercise, Schedule, X, labels
from ex_squat import hanging_arms, standing_camera
from human import R4, T
from mathutils import Quaternion, Vector

VIEWS = {
    "side": "side camera at hip height, on the person's left",
    "front": "front camera at hip height",
}
CAMERAS = {"front": ((0.0, -3.3, 1.0), (0, 0, 0.78), 35), "side": ((3.2, -0.05, 1.0), (0, 0, 0.75), 34)}


def setup(rig, ctx):
    cam = standing_camera(ctx, CAMERAS)
    sched = Schedule(
        ctx.var.lead,
        [("down", 1.1, "up"), ("bottom", 0.3, "hold"), ("up", 1.0, "down"), ("pause", 0.5, "rest")],
        ctx.nreps,
        tempo=ctx.var.tempo,
    )
    hc_rest = (rig.hip["L"] + rig.hip["R"]) / 2
    L = rig.Lt + rig.Ls
    step = 0.40
    A = {
        "L": Vector((0.10, rig.ankle["L"].y - step / 2, rig.ankle_h)),
        "R": Vector((-0.10, rig.ankle["R"].y + step / 2, rig.ankle_h + 0.06)),
    }
    y_mid = (A["L"].y + A["R"].y) / 2 + 0.02
    # highest the pelvis can stand with both legs nearly straight, and how far a rep lowers it
    z_top = min(a.z + math.sqrt((0.985 * L) ** 2 - (y_mid - a.y) ** 2) for a in A.values())
    depth = 0.36

    def pose(t):
        k, phase, s = sched.at(t)
        e = s * ctx.amp(k)
        Hc = Vector((0.0, y_mid, z_top - depth * e))
        Ql = Quaternion(X, 4 * D2R)
        gtr = T(Hc) @ R4(Ql) @ T(-hc_rest)
        G = {"root": gtr}
        rig.leg(G, "L", gtr @ rig.hip["L"], A["L"], pole=Vector((0.05, -1, 0)), foot=Quaternion())
        rig.leg(
            G, "R", gtr @ rig.hip["R"], A["R"], pole=Vector((-0.05, -1, -0.4)), foot=Quaternion(X, 35 * D2R)
        )
        hanging_arms(rig, G, gtr, Ql)
        return G, labels(k, phase, s, ctx, {}), {}

    def metrics(J):
        hl, hr = J["upperleg01.L"], J["upperleg01.R"]
        return {"hip_height_m": float((hl[2] + hr[2]) / 2)}

    return cam, sched, pose, metrics, [], []


EXERCISE = Exercise(
    name="lunge",
    spec=None,
    views=VIEWS,
    faults={},
    primary_fault=None,
    setup=setup,
    default_fault_rep=0,
    default_reps=4,
)
