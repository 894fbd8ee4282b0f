"""Piriformis stretch lying on the back, filmed from a raised camera beyond the feet (canonical:
the person's LEFT knee is pulled across).

The person lies along X (head at -X, their left at +Y), legs straight. Each rep is one hold: the
left knee bends up (the hip to about 100 degrees of flexion, the knee about 100) and the right hand,
on the outside of that knee, draws it across the body towards the right shoulder (the thigh swung
about 38 degrees past its own hip's line, the knee about a third of a hip width over the midline),
the left arm resting out on the mat. The stretch is held, then the leg goes back down straight.

Fault: `pelvis_roll`, the pelvis rolls with the pull so the working (left) hip lifts off the mat
by the given degrees of hip-line obliquity (the right hip stays down).

Camera: `raised_feet`, 1.75 m beyond the hips and 1.9 m high, about 43 degrees down along the body.
--side right mirrors the person across the Y axis (the right knee is then pulled across).
"""

import numpy as np
from common import SIDES, Exercise, Fault, Schedule, TruthCheck, labels
from ex_bridge import MAT_TOP, Supine
from ex_pillow_squeeze import lying_leg, raised_leg, roll_pelvis, supine_metrics, supine_scene
from ex_thigh_stretch import arm_ik
from mathutils import Vector

FLEX, ACROSS, KNEE = 100.0, 38.0, 100.0  # degrees at the full stretch
# higher and further back than the bent-knee lying holds' camera: the straight leg's foot stays in view
RAISED_FEET = ((1.75, 0.0, 1.90), (0.25, 0.0, 0.10), 30)


def setup(rig, ctx):
    cam = supine_scene(ctx, RAISED_FEET, mat_rgb=(0.35, 0.50, 0.30))
    sched = Schedule(
        ctx.var.lead,
        [("bend", 1.2, "up"), ("hold", 5.5, "hold"), ("release", 1.2, "down"), ("rest", 0.8, "rest")],
        ctx.nreps,
        tempo=ctx.var.tempo,
    )
    sup = Supine(rig)
    _, gp0, _ = sup.trunk(0.0, 0.0)
    hip_z0 = 0.5 * ((gp0 @ rig.hip["L"]).z + (gp0 @ rig.hip["R"]).z)

    def pose(t):
        k, phase, s = sched.at(t)
        roll = ctx.fault(k, "pelvis_roll") * s
        G, gp, _ = sup.trunk(0.0, 0.0)
        gp = roll_pelvis(rig, G, roll, up_side="L")
        sup.arms(G)
        # other (right) leg straight on the mat
        lying_leg(rig, G, "R", gp @ rig.hip["R"], sup.Qlie)
        # working (left) leg: bends up first, then is drawn across
        a = ctx.amp(k)
        K, A = raised_leg(
            rig, G, "L", SIDES["L"], gp @ rig.hip["L"], sup.Qlie,
            FLEX * s * a, ACROSS * s * s * a, KNEE * min(1.0, 1.4 * s),
        )  # fmt: skip
        if s > 0.02:
            # right hand on the outside of the left knee
            u = min(1.0, 1.5 * s)
            rest_hand = G["spine01"] @ (rig.shoulder["R"]) + Vector((0.50, -0.10, 0.0))
            rest_hand.z = MAT_TOP + 0.05
            grip = K + Vector((0.02, 0.07, 0.03))
            arm_ik(rig, G, "R", G["spine01"], rest_hand.lerp(grip, u), Vector((0.3, -1.0, 0.2)), sup.Qlie)
        return G, labels(k, phase, s, ctx, {"pelvis_roll": roll}), {}

    def metrics(J):
        m = supine_metrics(J, hip_z0)
        hl, hr, kl = (np.array(J[b]) for b in ("upperleg01.L", "upperleg01.R", "lowerleg01.L"))
        # the working knee across the body in hip widths, 0 = over the middle of the pelvis, + = across
        mid, w = (hl + hr) / 2, hl - hr
        m["knee_across_ratio"] = float(-np.dot(kl - mid, w) / np.dot(w, w))
        return m

    return cam, sched, pose, metrics, [], []


EXERCISE = Exercise(
    name="piriformis_stretch",
    spec="piriformis_stretch",
    views={"raised_feet": "1.75 m beyond the hips, 1.9 m high, about 43 degrees down along the body"},
    faults={
        "pelvis_roll": Fault(
            "deg", 10.0, "pelvis_flat", "the working hip lifts off the mat (hip-line obliquity)"
        ),
    },
    primary_fault="pelvis_roll",
    setup=setup,
    checks={
        "pelvis_flat": TruthCheck(
            "pelvic_obliquity_deg",
            ("hold",),
            "mean_abs",
            max=7.0,
            why="piriformis_stretch.toml: 5 degrees of hip-line tilt from a camera tilted 45 degrees is about 7 "
            "degrees of true roll (the working hip about 3 cm off the mat)",
        ),
    },
    mirror_axis=1,
    unilateral=True,
    signed_metrics=("pelvic_obliquity_deg",),
    signal_truth={
        "knee_across": ("knee_across_ratio", 1.0, False),
        "pelvic_tilt": ("pelvic_obliquity_deg", 1.0, True),
    },
    default_fault_rep=2,
    default_reps=2,
)
