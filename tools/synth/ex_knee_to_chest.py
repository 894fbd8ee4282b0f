"""Single knee to chest, lying on the back, filmed from a raised camera on the bent leg's side
(canonical: the person's LEFT knee is drawn in).

The person lies along X (head at -X, their left at +Y, nearest the camera), legs straight. Each rep
is one hold: the left knee bends up and both hands, on the front of the shin just below the knee,
draw it towards the chest (the hip to about 125 degrees of flexion, the knee about 120), hold, then
the leg goes back down straight and rests.

Fault: `other_leg_lift`, the other (right) thigh lifts off the mat by the given degrees, its knee
bending and its heel sliding on the mat towards the bottom.

Camera: `raised_side`, as the pillow squeeze: 2 m to the side, 1.5 m high, about 34 degrees down.
--side right mirrors the person across the Y axis; the camera stays, so it films the right knee.
"""

from common import SIDES, Exercise, Fault, Schedule, TruthCheck, labels
from ex_bridge import Supine
from ex_pillow_squeeze import (
    RAISED_SIDE,
    lying_leg,
    raised_leg,
    sagittal_angle,
    supine_metrics,
    supine_scene,
)
from ex_thigh_stretch import arm_ik
from mathutils import Vector

FLEX, KNEE = 125.0, 120.0  # degrees at the full hold: hip flexion, knee flexion


def hands_on(rig, G, sup, K, A, s):
    """Both hands from beside the body to the front of the shin just below the knee."""
    sh = (A - K).normalized()
    for s_, sg in SIDES.items():
        rest = G["spine01"] @ rig.shoulder[s_] + Vector((0.50, sg * 0.08, 0.0))
        rest.z = 0.05
        grip = K + 0.07 * sh + Vector((-0.05, sg * 0.05, 0.0))
        pole = Vector((0.0, sg * 1.0, -0.4))
        arm_ik(rig, G, s_, G["spine01"], rest.lerp(grip, min(1.0, 1.5 * s)), pole, sup.Qlie)


def sagittal_metrics(J, hip_z0):
    """supine_metrics plus the hip and knee angles of the working and the stance leg as a side camera
    sees them (X-Z plane)."""
    m = supine_metrics(J, hip_z0)
    for s_, name in (("L", "working"), ("R", "stance")):  # canonical working leg: the left
        sh, hp, kn, an = (J[b + s_] for b in ("upperarm01.", "upperleg01.", "lowerleg01.", "foot."))
        m[f"{name}_hip_side_deg"] = sagittal_angle(sh, hp, kn)
        m[f"{name}_knee_side_deg"] = sagittal_angle(hp, kn, an)
    return m


def setup(rig, ctx):
    cam = supine_scene(ctx, RAISED_SIDE, mat_rgb=(0.50, 0.45, 0.25))
    sched = Schedule(
        ctx.var.lead,
        [("draw_in", 1.2, "up"), ("hold", 5.5, "hold"), ("release", 1.2, "down"), ("rest", 0.8, "rest")],
        ctx.nreps,
        tempo=ctx.var.tempo,
    )
    sup = Supine(rig)
    _, gp0, _ = sup.trunk(0.0, 0.0)
    hip_z0 = 0.5 * ((gp0 @ rig.hip["L"]).z + (gp0 @ rig.hip["R"]).z)

    def pose(t):
        k, phase, s = sched.at(t)
        lift = ctx.fault(k, "other_leg_lift") * s
        G, gp, _ = sup.trunk(0.0, 0.0)
        sup.arms(G)
        lying_leg(rig, G, "R", gp @ rig.hip["R"], sup.Qlie, lift_deg=lift)
        a = ctx.amp(k)
        K, A = raised_leg(rig, G, "L", SIDES["L"], gp @ rig.hip["L"], sup.Qlie, FLEX * s * a, 0.0,
                          KNEE * min(1.0, 1.3 * s))  # fmt: skip
        if s > 0.02:
            hands_on(rig, G, sup, K, A, s)
        return G, labels(k, phase, s, ctx, {"other_leg_lift": lift}), {}

    def metrics(J):
        return sagittal_metrics(J, hip_z0)

    return cam, sched, pose, metrics, [], []


EXERCISE = Exercise(
    name="knee_to_chest",
    spec="knee_to_chest",
    views={"raised_side": "2 m to the bent leg's side, 1.5 m high, looking down about 34 degrees"},
    faults={
        "other_leg_lift": Fault(
            "deg", 25.0, "other_leg_down", "the other thigh lifts off the mat, its knee bending"
        ),
    },
    primary_fault="other_leg_lift",
    setup=setup,
    checks={
        "other_leg_down": TruthCheck(
            "stance_hip_side_deg",
            ("hold",),
            "mean",
            min=160.0,
            why="knee_to_chest.toml: a shoulder-hip-knee angle of 160 is the other thigh about 20 degrees off "
            "the mat; measured in the side (sagittal) plane as the camera sees it",
        ),
    },
    mirror_axis=1,
    unilateral=True,
    signal_truth={
        "hip_angle": ("working_hip_side_deg", 1.0, False),
        "other_hip_angle": ("stance_hip_side_deg", 1.0, False),
    },
    default_fault_rep=2,
    default_reps=2,
)
