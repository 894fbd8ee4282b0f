"""Isometric squat as a wall sit, filmed from the side at hip height (both legs alike; the camera
is on the person's left).

The person stands with their back against the wall (the room's back wall, +Y; they face -Y), feet
hip-width apart about a thigh's length out from it. Each rep is one hold: they slide down the wall
until the knees are at about 95 degrees (thighs nearly level, shins upright), hold, slide back up
and rest standing. The hands rest on the thighs.

Faults (ramping in with the slide): `shallow`, the knees stay the given degrees straighter than
95 (the hips higher up the wall); `deep`, the knees bend the given degrees more than 95 (the hips
lower down the wall, below the knees; for the spec's lower limit); `trunk_lean`, the trunk leans the given degrees forward off the
wall from the hips; `bob`, during the hold the hips bounce 1.5 times a second through the given
cm (the knees following).

Camera: `side`, 3 m to the person's left at 0.75 m (hip height), level.
"""

import math

import numpy as np
import scene as S
from common import D2R, SIDES, Exercise, Fault, Schedule, TruthCheck, X, labels
from ex_thigh_stretch import arm_ik
from human import R4, T
from mathutils import Quaternion, Vector

KNEE_HOLD = 95.0  # deg, hip-knee-ankle at the hold
BOB_HZ = 1.5  # bounces a second for the `bob` fault
SIDE_CAM = ((3.0, -0.25, 0.75), (0.0, -0.25, 0.72), 30)


def _yz_angle(a, b, c):
    """Angle at b in the Y-Z (sagittal) plane: what the side camera sees."""
    a, b, c = (np.array([0.0, p[1], p[2]]) for p in (a, b, c))
    u, w = a - b, c - b
    return math.degrees(math.acos(np.clip(np.dot(u, w) / np.linalg.norm(u) / np.linalg.norm(w), -1, 1)))


def setup(rig, ctx):
    S.build_room(wall_y=rig.back_y + 0.012, side_wall_x=-1.8)
    S.add_lights(
        target=(0, 0, 0.9),
        key_dir=ctx.lights((2.4, -2.0, 2.8)),
        power_scale=ctx.var.light,
        ambient=ctx.var.ambient,
    )
    loc, aim, lens = SIDE_CAM
    cam = S.add_camera(*ctx.camera(loc, aim), lens=lens)
    sched = Schedule(
        ctx.var.lead,
        [("down", 1.5, "up"), ("hold", 5.0, "hold"), ("up", 1.5, "down"), ("rest", 0.8, "rest")],
        ctx.nreps,
        tempo=ctx.var.tempo,
    )
    hc_rest = (rig.hip["L"] + rig.hip["R"]) / 2
    Lt, Ls = rig.Lt, rig.Ls
    d = Lt * math.sin(88 * D2R)  # feet out from under the hips: shins about upright at the hold
    az = rig.ankle_h

    def hip_z(knee_deg):
        """Hip height when the hip-knee-ankle angle is knee_deg, the ankle d in front of the hip."""
        ha2 = Lt * Lt + Ls * Ls - 2 * Lt * Ls * math.cos(knee_deg * D2R)
        return az + math.sqrt(max(ha2 - d * d, 1e-6))

    z_stand = hip_z(172.0)

    def pose(t):
        k, phase, s = sched.at(t)
        shallow = ctx.fault(k, "shallow") * s
        lean = ctx.fault(k, "trunk_lean") * s
        deep = ctx.fault(k, "deep") * s
        knee_target = KNEE_HOLD / ctx.amp(k) ** 0.3 + ctx.fault(k, "shallow") - ctx.fault(k, "deep")
        z = z_stand + (hip_z(knee_target) - z_stand) * s
        bob = ctx.fault(k, "bob") if phase == "hold" else 0.0
        if bob:  # bouncing BOB_HZ times a second, `bob` cm from the top to the bottom of each bounce
            u = t - sched.starts[k] - sched.durs[k][0]
            z += 0.01 * bob * 0.5 * math.sin(2.0 * math.pi * BOB_HZ * u)  # about the hold's height
        Hc = Vector((hc_rest.x, hc_rest.y, z))
        Ql = Quaternion(X, lean * D2R)
        gtr = T(Hc) @ R4(Ql) @ T(-hc_rest)
        G = {"root": gtr}
        for s_, sg in SIDES.items():
            H = gtr @ rig.hip[s_]
            A = Vector((sg * 0.13, hc_rest.y - d, az))
            K = rig.leg(G, s_, H, A, pole=Vector((0, -1, 0)), foot=Quaternion(Zv, sg * 6 * D2R))
            # hands resting on the thighs, towards the knees
            W = H.lerp(K, 0.7) + Vector((sg * 0.02, 0.0, 0.09))
            arm_ik(rig, G, s_, gtr, W, Vector((sg * 0.8, 0.6, -0.2)), Ql)
        now = {"shallow": shallow, "deep": deep, "trunk_lean": lean, "bob": bob}
        return G, labels(k, phase, s, ctx, now), {}

    def metrics(J):
        sh, hp, kn, an = (J[b] for b in ("upperarm01.L", "upperleg01.L", "lowerleg01.L", "foot.L"))
        sm = (np.array(J["upperarm01.L"]) + np.array(J["upperarm01.R"])) / 2
        hm = (np.array(J["upperleg01.L"]) + np.array(J["upperleg01.R"])) / 2
        v = sm - hm
        return {
            "knee_angle_deg": _yz_angle(hp, kn, an),
            "hip_angle_deg": _yz_angle(sh, hp, kn),
            "trunk_lean_deg": math.degrees(math.atan2(-v[1], v[2])),  # + = forward (-Y)
            "hip_height_m": float(hm[2]),
        }

    return cam, sched, pose, metrics, [], []


Zv = Vector((0, 0, 1))

EXERCISE = Exercise(
    name="isometric_squat",
    spec="isometric_squat",
    views={"side": "3 m to the person's left at hip height (0.75 m), level"},
    faults={
        "shallow": Fault("deg", 25.0, "knee_depth", "the knees stay this much straighter than 95 degrees"),
        "deep": Fault("deg", 20.0, "knee_depth", "the knees bend this much more than 95 degrees"),
        "trunk_lean": Fault("deg", 35.0, "trunk_upright", "the trunk leans this far forward off the wall"),
        "bob": Fault("cm", 6.0, "still", "bouncing 1.5 times a second through this height during the hold"),
    },
    primary_fault="shallow",
    setup=setup,
    checks={
        "knee_depth": TruthCheck(
            "knee_angle_deg",
            ("hold",),
            "mean",
            min=80.0,
            max=120.0,
            why="isometric_squat.toml: knees between 80 degrees (deeper than asked) and 120 (a light hold)",
        ),
        "trunk_upright": TruthCheck(
            "hip_angle_deg",
            ("hold",),
            "mean",
            min=60.0,
            why="isometric_squat.toml: a shoulder-hip-knee angle of 60 with level thighs is the trunk leaning "
            "30 degrees forward, the most accepted (side plane, as the camera sees it)",
        ),
        "still": TruthCheck(
            "hip_height_m",
            ("hold",),
            "range",
            max=0.04,
            why="isometric_squat.toml: 0.25 torso lengths a second is about 12 cm/s; bouncing 1.5 times a second "
            "that is about 4 cm from the top to the bottom of each bounce (the hips' height range in the hold)",
        ),
    },
    mirror_axis=0,
    signal_truth={
        "knee": ("knee_angle_deg", 1.0, False),
        "hip": ("hip_angle_deg", 1.0, False),
    },
    default_fault_rep=2,
    default_reps=2,
)
