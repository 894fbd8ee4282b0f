"""Bird-dog on hands and knees, an off-target motion for testing `--exercise auto`
(truth `spec: null`).

On all fours along the world X axis (head at +X): hands under the shoulders, knees under the hips.
Each rep one arm reaches forward to horizontal while the opposite leg straightens back to
horizontal, holds, and returns; reps alternate (left arm and right leg first). Filmed from the side
(the camera at -Y sees the person's right side). No faults and no truth checks.
"""

import math

from common import D2R, Exercise, Schedule, labels
from ex_plank import MAT_TOP, Q_PRONE, mat_room, prone_trunk, trunk_length
from mathutils import Quaternion, Vector

Yv = Vector((0, 1, 0))
VIEWS = {"side": "camera beside the person at about shoulder height"}
CAMERA = ((0.05, -2.7, 0.80), (0.05, 0.0, 0.42), 32)


def setup(rig, ctx):
    cam = mat_room(ctx, CAMERA)
    sched = Schedule(
        ctx.var.lead,
        [("reach", 0.9, "up"), ("hold", 0.8, "hold"), ("return", 0.9, "down"), ("pause", 0.4, "rest")],
        ctx.nreps,
        tempo=ctx.var.tempo,
    )
    knee_z, wrist_z = MAT_TOP + 0.05, MAT_TOP + 0.03
    H = Vector((-0.25, rig.hip["L"].x, knee_z + rig.Lt))
    r_tr = trunk_length(rig)
    S_z = wrist_z + rig.Lu + rig.Lf
    elev = math.asin(max(-0.99, min(0.99, (S_z - H.z) / r_tr)))
    g, q = prone_trunk(rig, H, elev)
    foot = Quaternion(Yv, 80 * D2R) @ Q_PRONE  # instep on the mat, toes pointing back

    def pose(t):
        k, phase, s = sched.at(t)
        e = s * ctx.amp(k)
        arm_side, leg_side = ("L", "R") if k % 2 == 0 else ("R", "L")
        G = {"root": g}
        for s_ in ("L", "R"):
            Hs = g @ rig.hip[s_]
            el = e if (s_ == leg_side and k >= 0) else 0.0
            ft = (-90 - 92 * el) * D2R  # thigh: straight down -> just above straight back
            fs = ft - 90 * D2R * (1 - el)  # shank: along the mat -> in line with the thigh
            K = Hs + rig.Lt * Vector((math.cos(ft), 0, math.sin(ft)))
            A = K + rig.Ls * Vector((math.cos(fs), 0, math.sin(fs)))
            rig.leg(G, s_, Hs, A, pole=Vector((1, 0, -1)).normalized(), base=q, foot=foot)
            fa = (-90 + 95 * e) * D2R if (s_ == arm_side and k >= 0) else -90 * D2R
            d = Vector((math.cos(fa), 0, math.sin(fa)))
            rig.arm(G, s_, g, d, d, q)
        return G, labels(k, phase, s, ctx, {}), {}

    def metrics(J):
        return {"left_ankle_height_m": float(J["foot.L"][2]), "right_ankle_height_m": float(J["foot.R"][2])}

    return cam, sched, pose, metrics, [], []


EXERCISE = Exercise(
    name="birddog",
    spec=None,
    views=VIEWS,
    faults={},
    primary_fault=None,
    setup=setup,
    default_fault_rep=0,
    default_reps=4,
)
