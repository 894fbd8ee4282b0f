"""Hamstring stretch lying on the back, filmed from a raised camera on the raised leg's side
(canonical: the person's LEFT leg is raised).

The person lies along X (head at -X, their left at +Y, nearest the camera), legs straight. Each rep
is one hold: the left leg rises with the knee straight to about 75 degrees of hip flexion, both
hands holding the back of the thigh just above the knee, the other leg flat on the mat; the
stretch is held, then the leg is lowered and rests.

Faults: `knee_bend`, the raised knee bends by the given degrees (the hip flexion stays);
`other_leg_lift`, the other thigh lifts off the mat by the given degrees, its knee bending and its
heel sliding towards the bottom.

Camera: `raised_side`, as the pillow squeeze: 2 m to the side, 1.5 m high, about 34 degrees down.
--side right mirrors the person across the Y axis; the camera stays, so it films the right leg.
"""

from common import SIDES, Exercise, Fault, Schedule, TruthCheck, labels
from ex_bridge import Supine
from ex_knee_to_chest import sagittal_metrics
from ex_pillow_squeeze import RAISED_SIDE, lying_leg, raised_leg, supine_scene
from ex_thigh_stretch import arm_ik
from mathutils import Vector

FLEX, KNEE = 75.0, 4.0  # degrees at the full hold: hip flexion, the knee's own slight bend


def setup(rig, ctx):
    cam = supine_scene(ctx, RAISED_SIDE, mat_rgb=(0.30, 0.30, 0.55))
    sched = Schedule(
        ctx.var.lead,
        [("raise", 1.2, "up"), ("hold", 5.5, "hold"), ("lower", 1.2, "down"), ("rest", 0.8, "rest")],
        ctx.nreps,
        tempo=ctx.var.tempo,
    )
    sup = Supine(rig)
    _, gp0, _ = sup.trunk(0.0, 0.0)
    hip_z0 = 0.5 * ((gp0 @ rig.hip["L"]).z + (gp0 @ rig.hip["R"]).z)

    def pose(t):
        k, phase, s = sched.at(t)
        bend = ctx.fault(k, "knee_bend") * s
        lift = ctx.fault(k, "other_leg_lift") * s
        G, gp, _ = sup.trunk(0.0, 0.0)
        sup.arms(G)
        lying_leg(rig, G, "R", gp @ rig.hip["R"], sup.Qlie, lift_deg=lift)
        H = gp @ rig.hip["L"]
        K, A = raised_leg(rig, G, "L", SIDES["L"], H, sup.Qlie, FLEX * s * ctx.amp(k), 0.0, KNEE + bend)
        if s > 0.02:
            # both hands behind the thigh, a hand's width above the knee
            th = (K - H).normalized()
            under = Vector((-th.z, 0.0, th.x))  # the back of the thigh, towards the head/mat
            if under.z > 0:
                under = -under
            for s_, sg in SIDES.items():
                rest = G["spine01"] @ rig.shoulder[s_] + Vector((0.50, sg * 0.08, 0.0))
                rest.z = 0.05
                grip = H + 0.78 * (K - H) + 0.07 * under + Vector((0.0, sg * 0.05 - 0.0, 0.0))
                pole = Vector((0.0, sg * 1.0, -0.3))
                arm_ik(rig, G, s_, G["spine01"], rest.lerp(grip, min(1.0, 1.5 * s)), pole, sup.Qlie)
        return G, labels(k, phase, s, ctx, {"knee_bend": bend, "other_leg_lift": lift}), {}

    def metrics(J):
        return sagittal_metrics(J, hip_z0)

    return cam, sched, pose, metrics, [], []


EXERCISE = Exercise(
    name="hamstring_stretch",
    spec="hamstring_stretch",
    views={"raised_side": "2 m to the raised leg's side, 1.5 m high, looking down about 34 degrees"},
    faults={
        "knee_bend": Fault("deg", 25.0, "knee_straight", "the raised knee bends by this much more"),
        "other_leg_lift": Fault(
            "deg", 25.0, "other_leg_flat", "the other thigh lifts off the mat, its knee bending"
        ),
    },
    primary_fault="knee_bend",
    setup=setup,
    checks={
        "knee_straight": TruthCheck(
            "working_knee_side_deg",
            ("hold",),
            "mean",
            min=160.0,
            why="hamstring_stretch.toml: 20 degrees of knee bend (a hip-knee-ankle angle under 160) takes most "
            "of the stretch off the hamstrings",
        ),
        "other_leg_flat": TruthCheck(
            "stance_hip_side_deg",
            ("hold",),
            "mean",
            min=160.0,
            why="hamstring_stretch.toml: the other thigh 20 degrees off the mat (shoulder-hip-knee 160, side plane)",
        ),
    },
    mirror_axis=1,
    unilateral=True,
    signal_truth={
        "hip_angle": ("working_hip_side_deg", 1.0, False),
        "knee_angle": ("working_knee_side_deg", 1.0, False),
        "other_hip_angle": ("stance_hip_side_deg", 1.0, False),
    },
    default_fault_rep=2,
    default_reps=2,
)
