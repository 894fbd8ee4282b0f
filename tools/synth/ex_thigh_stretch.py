"""Standing thigh (quadriceps) stretch, a hold, filmed from the side of the bent leg (canonical: the
person's LEFT knee bends, the left hand holds that ankle behind, the right hand holds a chair back).

Each rep: the knee bends and the hand takes the foot, bringing the heel near the bottom (knee
angle about 40 degrees, thigh vertical beside the standing thigh), the stretch is held, then the
foot is let down and the person stands on both feet for a moment.

Faults: `knee_forward`, the bent thigh swings the given degrees forward of vertical (the knee
drifts in front of the standing knee, the hip flexes and the stretch is lost); `heel_low`, the
knee bends that many degrees less, so the heel stays further from the bottom. When the foot is out
of the hand's reach the hand holds it with a short strap.

Mirroring (--side right): across X, the person's left-right axis; the camera moves with them to the
mirrored side, so it still films the bent (now right) leg.
"""

import math

import bpy
import numpy as np
import scene as S
from common import D2R, Exercise, Fault, Schedule, TruthCheck, X, Y, labels, rot_about
from human import T, two_bone_ik
from mathutils import Quaternion, Vector

Zv = Vector((0, 0, 1))
KNEE_HELD = 40.0  # deg, hip-knee-ankle angle at a full stretch: the heel near the bottom
THIGH_HELD = -3.0  # deg from vertical (forward +): the bent thigh a little behind the standing one
KNEE_REST = 176.0  # deg, standing knee
TWIST = 8 * D2R  # trunk turned towards the bent leg while the hand holds the ankle
SHOULDER_DROP = 10 * D2R  # that clavicle lowered
GRIP = 0.085  # m from the wrist to where the hand holds the ankle
CHAIR = Vector((-0.50, -0.06, 0.0))  # centre of the chair seat, to the person's right


def chair_props():
    """A simple chair to the person's right, its back towards them; returns (objects, top of back)."""
    m = S.material("chair", (0.40, 0.27, 0.17), 0.55)
    c, seat_z, w = CHAIR, 0.46, 0.42
    parts = [S.add_box("chair_seat", (w, w, 0.04), (c.x, c.y, seat_z), m)]
    bx = c.x + w / 2 - 0.02
    parts.append(S.add_box("chair_back", (0.035, w, 0.42), (bx, c.y, seat_z + 0.23), m))
    for i, (dx, dy) in enumerate(((-1, -1), (-1, 1), (1, -1), (1, 1))):
        loc = (c.x + dx * (w / 2 - 0.03), c.y + dy * (w / 2 - 0.03), (seat_z - 0.02) / 2)
        parts.append(S.add_box(f"chair_leg{i}", (0.035, 0.035, seat_z - 0.02), loc, m))
    return parts, Vector((bx, c.y - 0.02, seat_z + 0.44))


def arm_ik(rig, G, s, Gparent, W, pole, base):
    """Point arm `s` so its wrist reaches W (clamped to the arm's reach); returns the wrist."""
    Sh = Gparent @ rig.shoulder[s]
    reach = 0.995 * (rig.Lu + rig.Lf)
    if (W - Sh).length > reach:
        W = Sh + (W - Sh).normalized() * reach
    E = two_bone_ik(Sh, W, rig.Lu, rig.Lf, pole)
    return rig.arm(G, s, Gparent, (E - Sh).normalized(), (W - E).normalized(), base)[1]


def setup(rig, ctx):
    side_wall = ctx.mirror((-1.7, 0, 0)).x
    S.build_room(wall_y=1.8, side_wall_x=side_wall)
    S.add_lights(
        target=(0, 0, 0.9),
        key_dir=ctx.lights((2.6, -1.6, 2.8)),
        power_scale=ctx.var.light,
        ambient=ctx.var.ambient,
    )
    cam = S.add_camera(*ctx.camera((3.1, 0.05, 0.98), (0.0, 0.08, 0.86)), lens=32)
    sched = Schedule(
        ctx.var.lead,
        [("bend", 1.1, "up"), ("hold", 5.5, "hold"), ("release", 1.1, "down"), ("rest", 0.8, "rest")],
        ctx.nreps,
        tempo=ctx.var.tempo,
    )
    chair, grip_R = chair_props()
    bpy.ops.mesh.primitive_cylinder_add(radius=0.012, depth=2.0, vertices=12)
    strap = bpy.context.active_object
    strap.name = "strap"
    strap.data.materials.append(S.material("strapmat", (0.15, 0.35, 0.65), 0.7))
    shift = -0.03  # weight over the standing (right) foot
    # standing legs: thigh vertical, knee KNEE_REST (the shank a little back); the hips at the height
    # that puts the ankles at the floor
    sb = (180.0 - KNEE_REST) * D2R
    shank_rest = Vector((0, math.sin(sb), -math.cos(sb)))
    hz = rig.ankle_h + rig.Lt + rig.Ls * math.cos(sb)
    trans = Vector((shift, 0, hz - rig.hip["R"].z))
    gtr = T(trans)
    tilt = 2.0 * D2R  # trunk a little forward of vertical (lumbar flexion)
    P = rig.P
    gup = rot_about(gtr @ P.head("spine04"), X, tilt) @ gtr
    Qt = Quaternion(X, tilt)

    def pose(t):
        k, phase, e0 = sched.at(t)
        fwd = ctx.fault(k, "knee_forward") * e0
        low = ctx.fault(k, "heel_low") * e0
        e = e0 * (1.0 + 0.4 * (ctx.amp(k) - 1.0))  # this rep's range, damped: a few degrees of knee bend
        th = (THIGH_HELD * e + fwd) * D2R
        alpha = (KNEE_REST + (KNEE_HELD - KNEE_REST) * e + low) * D2R
        G = {"root": gtr, "spine05": gtr}
        # standing leg (right)
        H_R = gtr @ rig.hip["R"]
        A_R = H_R + Vector((0, 0, -rig.Lt)) + rig.Ls * shank_rest
        rig.leg(G, "R", H_R, A_R, pole=Vector((0, -1, 0)), foot=Quaternion(Zv, -5 * D2R))
        # bent leg (left): thigh `th` from vertical, shank folded back by the knee angle `alpha`
        H = gtr @ rig.hip["L"]
        K = H + rig.Lt * Vector((0, -math.sin(th), -math.cos(th)))
        sh = Vector((0, math.sin(th + alpha), math.cos(th + alpha)))
        A = K + rig.Ls * sh
        A.z = max(A.z, rig.ankle_h)
        beta = math.pi - (th + alpha)  # the shank's rotation about X from hanging straight down
        plantar = 55 * D2R * e0  # the held foot points back along the shin
        foot = Quaternion(X, beta + plantar) @ Quaternion(Zv, 4 * D2R)
        rig.leg(G, "L", H, A, pole=Vector((0, -1, 0)), foot=foot)
        # left hand: from hanging beside the thigh to holding the ankle behind; reaching back, the
        # trunk turns a little towards the bent leg and that shoulder drops
        u = min(1.0, 1.3 * e0)
        gsp = rot_about(gtr @ P.head("spine04"), Zv, TWIST * u) @ gup
        gcl = rot_about(gsp @ P.head("clavicle.L"), Y, SHOULDER_DROP * u) @ gsp
        G["spine04"], G["clavicle.L"] = gsp, gcl
        Qs = Quaternion(Zv, TWIST * u) @ Qt
        toe = foot @ Vector((0, -1, 0))
        grip = A + 0.03 * toe + Vector((0.04, 0, 0))
        Sh = gcl @ rig.shoulder["L"]
        wrist_grip = grip + GRIP * (Sh - grip).normalized()
        hang = gsp @ (rig.shoulder["L"] + Vector((0.10, -0.02, -(rig.Lu + rig.Lf) * 0.985)))
        Wl = hang.lerp(wrist_grip, u) + Vector((0.07 * math.sin(math.pi * u), 0, 0))
        Wl = arm_ik(rig, G, "L", gcl, Wl, Vector((0.6, 0.8, -0.1)), Qs)
        # right hand on the chair back
        arm_ik(rig, G, "R", gsp, grip_R + Vector((0, 0, 0.035)), Vector((-0.5, 0.5, -1.0)), Qs)
        # strap from the hand to the foot when the foot is out of reach
        gap = grip - Wl
        near = Wl + 0.06 * gap.normalized() if gap.length > 1e-6 else Wl
        span = (grip - near).length if e0 >= 0.999 and gap.length > GRIP + 0.01 else 0.0
        q = Zv.rotation_difference((grip - near).normalized()) if span > 0 else Quaternion()
        objs = {
            "strap": {
                "location": tuple((grip + near) / 2) if span > 0 else (0.0, 0.0, -1.0),
                "rotation_quaternion": tuple(q),
                "scale": (1, 1, max(span / 2, 1e-4)),
            }
        }
        lab = labels(k, phase, e0, ctx, {"knee_forward": fwd, "heel_low": low})
        lab["strap_m"] = span
        return G, lab, objs

    def metrics(J):
        hl, hr = np.array(J["upperleg01.L"]), np.array(J["upperleg01.R"])
        kl, kr = np.array(J["lowerleg01.L"]), np.array(J["lowerleg01.R"])
        al = np.array(J["foot.L"])
        u, w = hl - kl, al - kl
        knee = math.degrees(math.acos(np.clip(np.dot(u, w) / np.linalg.norm(u) / np.linalg.norm(w), -1, 1)))
        thigh = math.degrees(math.atan2(-(kl[1] - hl[1]), hl[2] - kl[2]))  # + = knee forward (-Y)
        # as a side camera sees it: front-back (Y) offset of the knees over the thighs' Y-Z length
        lt = 0.5 * (np.hypot(*(hl - kl)[1:]) + np.hypot(*(hr - kr)[1:]))
        return {
            "working_knee_angle_deg": knee,
            "working_thigh_angle_deg": thigh,
            "knee_offset_ratio": float(abs(kl[1] - kr[1]) / lt),
            "heel_to_hip_m": float(np.linalg.norm(al - hl)),
        }

    return cam, sched, pose, metrics, [strap], chair


EXERCISE = Exercise(
    name="thigh_stretch",
    spec="standing_thigh_stretch",
    views={"side": "side camera at hip height on the bent leg's side"},
    faults={
        "knee_forward": Fault(
            "deg", 25.0, "thighs_together", "bent thigh swung forward of vertical, knee ahead of the other"
        ),
        "heel_low": Fault(
            "deg", 30.0, "heel_to_bottom", "knee bent this much less: the heel further from the bottom"
        ),
    },
    primary_fault="knee_forward",
    setup=setup,
    checks={
        "thighs_together": TruthCheck(
            "working_thigh_angle_deg",
            ("hold",),
            "mean_abs",
            max=15.0,
            why="standing_thigh_stretch.toml: 0.25 thigh lengths of knee offset is the bent thigh about 15 degrees off vertical",
        ),
        "heel_to_bottom": TruthCheck(
            "working_knee_angle_deg",
            ("hold",),
            "mean",
            max=60.0,
            why="standing_thigh_stretch.toml: 60 degrees between thigh and shin, the heel within a hand's width of the bottom",
        ),
    },
    mirror_axis=0,
    unilateral=True,
    signed_metrics=(),
    signal_truth={
        "knee_angle": ("working_knee_angle_deg", 1.0, False),
        "knee_offset": ("knee_offset_ratio", 1.0, False),
    },
    default_fault_rep=2,
    default_reps=2,
)
