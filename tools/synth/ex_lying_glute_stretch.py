"""Lying glute stretch (figure 4), filmed from a raised camera on the crossed leg's side
(canonical: the person's LEFT leg is crossed, their right leg supports).

The person lies along X (head at -X, their left at +Y, nearest the camera) with both knees bent and
feet flat. Each rep is one hold: the left ankle is crossed over the right thigh just below the knee
(the left knee pointing out towards the camera), then the right foot leaves the mat and both hands
draw the right thigh in to upright with its knee at a right angle (the "90/90" position). The
stretch is held, then the right foot goes back to the mat and the left leg uncrosses.

Faults: `knee_open`, the supporting (right) knee opens the given degrees beyond the right angle, the
shin swinging up and away (the crossed ankle stays on the thigh); `knee_close`, it bends the given
degrees more than the right angle, the heel drawn in towards the buttock (for the spec's lower limit).

Cameras: `raised_side`, as the pillow squeeze: 2 m to the side, 1.5 m high, about 34 degrees down.
`raised_side_high`: the same side, higher (1.9 m) and steeper, moved 0.5 m towards the feet, so the
crossed ankle, which rests on the far side of the upright supporting thigh, shows past the knee
(from `raised_side` MediaPipe gives it visibility 0.48, under the spec's gate of 0.5).
--side right mirrors the person across the Y axis; the camera stays, so it films the crossed leg.
"""

import math

import numpy as np
from common import Exercise, Fault, Schedule, TruthCheck, labels
from ex_bridge import MAT_TOP, Supine
from ex_pillow_squeeze import ANKLE_X, RAISED_SIDE, angle3, knee_pole, supine_metrics, supine_scene
from ex_thigh_stretch import arm_ik
from mathutils import Vector

RAISED_SIDE_HIGH = ((0.50, 1.85, 1.90), (-0.05, 0.0, 0.20), 32)
CAMERAS = {"raised_side": RAISED_SIDE, "raised_side_high": RAISED_SIDE_HIGH}


def setup(rig, ctx):
    cam = supine_scene(ctx, CAMERAS[ctx.view], mat_rgb=(0.60, 0.42, 0.20))
    sched = Schedule(
        ctx.var.lead,
        [("into", 2.0, "up"), ("hold", 5.5, "hold"), ("out", 1.6, "down"), ("rest", 0.8, "rest")],
        ctx.nreps,
        tempo=ctx.var.tempo,
    )
    sup = Supine(rig)
    _, gp0, _ = sup.trunk(0.0, 0.0)
    hip_z0 = 0.5 * ((gp0 @ rig.hip["L"]).z + (gp0 @ rig.hip["R"]).z)
    az = MAT_TOP + rig.ankle_h
    A_floor = {"L": Vector((ANKLE_X, 0.115, az)), "R": Vector((ANKLE_X, -0.115, az))}
    pole_floor = {
        s_: knee_pole(rig, gp0 @ rig.hip[s_], A_floor[s_], sg, 0.105) for s_, sg in (("L", 1), ("R", -1))
    }

    def pose(t):
        k, phase, s = sched.at(t)
        opn = ctx.fault(k, "knee_open") * s
        cls = ctx.fault(k, "knee_close") * s
        G, gp, _ = sup.trunk(0.0, 0.0)
        sup.arms(G)
        u1, u2 = min(1.0, 2.0 * s), max(0.0, 2.0 * s - 1.0)  # cross the ankle, then lift the support
        # supporting (right) leg: from foot flat to thigh upright, knee 90 (+ the fault)
        H_R = gp @ rig.hip["R"]
        flex = (90.0 * ctx.amp(k) ** 0.5) * math.pi / 180
        K_up = H_R + rig.Lt * Vector((math.cos(flex), 0, math.sin(flex)))
        kb = (90.0 - opn + cls) * math.pi / 180  # knee flexion
        A_up = K_up + 0.999 * rig.Ls * Vector((math.cos(flex - kb), 0, math.sin(flex - kb)))
        A_R = A_floor["R"].lerp(A_up, u2) + Vector((0, 0, 0.06 * math.sin(math.pi * u2)))
        pole_R = pole_floor["R"].lerp((K_up - H_R).normalized(), u2)
        K_R = rig.leg(G, "R", H_R, A_R, pole=pole_R, base=sup.Qlie)
        # crossed (left) leg: the ankle across the front of the right thigh just below the knee
        H_L = gp @ rig.hip["L"]
        th = (K_R - H_R).normalized()
        front = Vector((th.z, 0.0, -th.x))  # the front of the thigh, away from the head
        if front.x < 0:
            front = -front
        A_cross = K_R - 0.08 * th + 0.075 * front + Vector((0, -0.03, 0))
        A_L = A_floor["L"].lerp(A_cross, u1) + Vector((0, 0, 0.10 * math.sin(math.pi * u1)))
        pole_L = pole_floor["L"].lerp(Vector((0.4, 1.0, 0.25)), u1)
        rig.leg(G, "L", H_L, A_L, pole=pole_L, base=sup.Qlie)
        if u2 > 0:
            # both hands behind the right thigh, near the knee
            for s_, sg in (("L", 1.0), ("R", -1.0)):
                rest = G["spine01"] @ rig.shoulder[s_] + Vector((0.50, sg * 0.08, 0.0))
                rest.z = 0.05
                grip = H_R + 0.72 * (K_R - H_R) - 0.07 * front + Vector((0, sg * 0.045, 0))
                pole = Vector((0.0, sg * 1.0, -0.3))
                arm_ik(rig, G, s_, G["spine01"], rest.lerp(grip, min(1.0, 1.5 * u2)), pole, sup.Qlie)
        return G, labels(k, phase, s, ctx, {"knee_open": opn, "knee_close": cls}), {}

    def metrics(J):
        m = supine_metrics(J, hip_z0)
        hr, kr, ar = (np.array(J[b]) for b in ("upperleg01.R", "lowerleg01.R", "foot.R"))
        m["stance_knee_angle_deg"] = angle3(hr, kr, ar)
        m["stance_hip_angle_deg"] = angle3(J["upperarm01.R"], hr, kr)
        m["ankle_to_knee_ratio"] = float(np.linalg.norm(np.array(J["foot.L"]) - kr) / np.linalg.norm(kr - hr))
        return m

    return cam, sched, pose, metrics, [], []


EXERCISE = Exercise(
    name="lying_glute_stretch",
    spec="lying_glute_stretch",
    views={
        "raised_side": "2 m to the crossed leg's side, 1.5 m high, looking down about 34 degrees",
        "raised_side_high": "1.85 m to the crossed leg's side and 0.5 m towards the feet, 1.9 m high, "
        "looking down about 42 degrees",
    },
    faults={
        "knee_open": Fault(
            "deg", 30.0, "support_at_90", "the supporting knee opens this much beyond 90 degrees"
        ),
        "knee_close": Fault(
            "deg", 25.0, "support_at_90", "the supporting knee bends this much more than 90 degrees"
        ),
    },
    primary_fault="knee_open",
    setup=setup,
    checks={
        "support_at_90": TruthCheck(
            "stance_knee_angle_deg",
            ("hold",),
            "mean",
            min=70.0,
            max=115.0,
            why="lying_glute_stretch.toml: the supporting knee within about 20 degrees of a right angle "
            "(70-115 degrees hip-knee-ankle)",
        ),
    },
    mirror_axis=1,
    unilateral=True,
    signal_truth={
        "support_hip": ("stance_hip_angle_deg", 1.0, False),
        "support_knee": ("stance_knee_angle_deg", 1.0, False),
        "ankle_on_knee": ("ankle_to_knee_ratio", 1.0, False),
    },
    default_fault_rep=2,
    default_reps=2,
)
