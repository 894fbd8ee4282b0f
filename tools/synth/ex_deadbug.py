"""Dead bug, lying on the back, an off-target motion for testing `--exercise auto`
(truth `spec: null`).

Supine along the world X axis (head at -X, as in ex_bridge.py), arms pointing at the ceiling, hips
and knees bent 90 degrees (shins level). Each rep one arm lowers overhead towards the floor while
the opposite leg straightens out to about 15 degrees above the floor, then both return; reps
alternate (left arm and right leg first). Views as the bridge's (`high` raised side camera first,
the glute bridge's own placement, or `side`). No faults and no truth checks.
"""

import math

from common import D2R, SIDES, Exercise, Schedule, labels
from ex_bridge import VIEWS, Supine, lying_room
from mathutils import Vector


def setup(rig, ctx):
    cam = lying_room(ctx, rig)
    sched = Schedule(
        ctx.var.lead,
        [("reach", 1.0, "up"), ("hold", 0.6, "hold"), ("return", 1.0, "down"), ("pause", 0.4, "rest")],
        ctx.nreps,
        tempo=ctx.var.tempo,
    )
    sup = Supine(rig)

    def pose(t):
        k, phase, s = sched.at(t)
        e = s * ctx.amp(k)
        arm_side, leg_side = ("L", "R") if k % 2 == 0 else ("R", "L")
        G, gp, _ = sup.trunk(0.0, 0.0)
        for s_, sg in SIDES.items():
            H = gp @ rig.hip[s_]
            el = e if (s_ == leg_side and k >= 0) else 0.0
            ft = (90 - 75 * el) * D2R  # thigh: pointing up -> 15 degrees above the floor, to the feet
            fs = 15 * D2R * el  # shank: level -> in line with the thigh
            K = H + rig.Lt * Vector((math.cos(ft), 0, math.sin(ft)))
            A = K + rig.Ls * Vector((math.cos(fs), 0, math.sin(fs)))
            rig.leg(G, s_, H, A, pole=Vector((-1, 0, 1)).normalized(), base=sup.Qlie)
            ea = e if (s_ == arm_side and k >= 0) else 0.0
            fa = (90 + 80 * ea) * D2R  # arm: at the ceiling -> overhead, 10 degrees above the floor
            d = Vector((math.cos(fa), sg * 0.05, math.sin(fa))).normalized()
            rig.arm(G, s_, G["spine01"], d, d, sup.Qlie)
        return G, labels(k, phase, s, ctx, {}), {}

    def metrics(J):
        return {"left_ankle_height_m": float(J["foot.L"][2]), "right_ankle_height_m": float(J["foot.R"][2])}

    return cam, sched, pose, metrics, [], []


EXERCISE = Exercise(
    name="deadbug",
    spec=None,
    views=VIEWS,
    faults={},
    primary_fault=None,
    setup=setup,
    default_fault_rep=0,
    default_reps=4,
)
