"""Single-leg pelvic lift (single-leg bridge), supine, filmed from the side (canonical working leg:
the person's left, the straight one; the right foot stays planted with the knee bent).

The hips lift until the planted side's shoulder, hip and knee are in line, while the straight left
leg is held with its thigh parallel to the planted thigh (the whole leg continues that thigh's line).
Same lying set-up, cameras and views as the two-legged bridge (`ex_bridge`).

Faults: `pelvic_drop`, the working (straight leg's) hip drops by the given degrees of obliquity of
the hip line to the floor; `leg_drop`, the straight leg sags that many degrees below the line of the
planted thigh; `short_lift`, the hips stop short, losing that fraction of the lift.
"""

import math

import numpy as np
from common import D2R, Exercise, Fault, Schedule, TruthCheck, labels, rot_about
from ex_bridge import MAT_TOP, VIEWS, Supine, lying_room
from mathutils import Quaternion, Vector

Zv = Vector((0, 0, 1))
ANKLE_X = 0.50  # planted (right) ankle, as in the bridge
STRAIGHT = 0.999  # hip -> ankle distance of the straight leg over its full length (keeps the IK stable)


def _angle(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    c = np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b)
    return math.degrees(math.acos(float(np.clip(c, -1.0, 1.0))))


def _elevation(v):
    """Degrees of a vector above the floor plane."""
    return math.degrees(math.atan2(float(v[2]), math.hypot(float(v[0]), float(v[1]))))


def lift_metrics(J):
    """Truth on the canonical pose: working = left (the straight leg), stance = right (planted)."""
    p = {k: np.array(v, dtype=float) for k, v in J.items()}
    hw, hs = p["upperleg01.L"], p["upperleg01.R"]
    kw, ks = p["lowerleg01.L"], p["lowerleg01.R"]
    aw, as_ = p["foot.L"], p["foot.R"]
    sh_s = p["upperarm01.R"]
    d = hw - hs
    # + = the person's left hip lower (as siform's pelvic_obliquity_deg); signed, flips with the side
    obl = math.degrees(math.atan2(-d[2], math.hypot(d[0], d[1])))
    return {
        "pelvic_obliquity_deg": obl,
        # + = the working (straight leg's) hip lower, whichever side works
        "working_hip_drop_deg": obl,
        "hip_height_m": float((hw[2] + hs[2]) / 2),
        # planted side's shoulder-hip-knee in the sagittal plane (the person lies along X), as a side
        # camera sees it (siform: planted_hip_angle_deg, side = stance); the 3D angle would add the
        # lateral kink of a shoulder set wider than the hip
        "stance_shoulder_hip_knee_deg": _angle((sh_s - hs)[[0, 2]], (ks - hs)[[0, 2]]),
        # working leg hip -> ankle against the planted thigh hip -> knee (siform: leg_alignment_deg)
        "leg_line_deg": _angle(aw - hw, ks - hs),
        # + = the straight leg below the planted thigh's line (the leg_drop fault), - = above it
        "leg_drop_deg": _elevation(ks - hs) - _elevation(aw - hw),
        "working_knee_deg": _angle(hw - kw, aw - kw),
        "stance_knee_deg": _angle(hs - ks, as_ - ks),
    }


def lifted_trunk(sup, lift, drop_deg):
    """Supine.trunk with the pelvis rolled about an axis through the planted (right) hip joint,
    parallel to the lifted trunk's long axis (mid-shoulder to the pelvis centre), instead of about
    the spine05 bone's axis through the pelvis centre. That bone points steeply up out of the lifted
    pelvis (about 60 degrees from the floor on the male body, more on the female), so rolling about it
    takes 25-45 degrees of roll for 12 degrees of obliquity, mostly a yaw of the pelvis that bends the
    planted side's shoulder-hip-knee angle by up to 17 degrees. Here the roll is the pelvic rotation
    of an unsupported side sagging about the supporting leg: about 13 degrees for 12 of obliquity,
    the planted hip (and so its leg and line) stays put and only the working hip drops.
    Returns (G, pelvis transform, roll about that axis in radians).
    """
    rig = sup.rig
    G, g, _ = sup.trunk(lift, 0.0)
    pc = g @ rig.P.head("spine05")
    ms = G["spine01"] @ ((rig.shoulder["L"] + rig.shoulder["R"]) / 2)
    axis = (pc - ms).normalized()
    pivot = g @ rig.hip["R"]

    def obliq(r):
        gg = rot_about(pivot, axis, r) @ g
        hl, hr = gg @ rig.hip["L"], gg @ rig.hip["R"]
        return math.atan2(hr.z - hl.z, math.hypot(hl.x - hr.x, hl.y - hr.y)), gg

    target = r = drop_deg * D2R
    for _ in range(8):
        o, gp = obliq(r)
        if abs(o - target) < 1e-7:
            break
        r -= (o - target) / ((obliq(r + 1e-4)[0] - o) / 1e-4)
    o, gp = obliq(r)
    for b in ("root", "spine05", "pelvis.L", "pelvis.R"):
        G[b] = gp
    return G, gp, r


def setup(rig, ctx):
    cam = lying_room(ctx, rig)
    sched = Schedule(
        ctx.var.lead,
        [("lift", 0.9, "up"), ("hold", 0.6, "hold"), ("lower", 0.9, "down"), ("rest", 0.4, "rest")],
        ctx.nreps,
        tempo=ctx.var.tempo,
    )
    sup = Supine(rig)
    Rz90 = Quaternion(Zv, math.pi / 2)
    L = STRAIGHT * (rig.Lt + rig.Ls)

    def pose(t):
        k, phase, s = sched.at(t)
        drop = ctx.fault(k, "pelvic_drop") * s
        sag = ctx.fault(k, "leg_drop") * s
        short = ctx.fault(k, "short_lift")
        lift = s * ctx.amp(k) * (1.0 - short)
        G, gp, r = lifted_trunk(sup, lift, drop)
        # planted (right) leg, foot flat on the mat as in the bridge
        H_s = gp @ rig.hip["R"]
        A_s = Vector((ANKLE_X, -0.115, MAT_TOP + rig.ankle_h))
        K_s = rig.leg(G, "R", H_s, A_s, pole=Vector((0, -0.15, 1.0)), base=sup.Qlie, foot=Rz90)
        # straight (left) leg along the planted thigh's line, sagging `sag` degrees in its vertical plane
        H_w = gp @ rig.hip["L"]
        d = (K_s - H_s).normalized()
        up = (Zv - Zv.dot(d) * d).normalized()  # perpendicular to the thigh, upward, same vertical plane
        dw = math.cos(sag * D2R) * d - math.sin(sag * D2R) * up
        up_w = (Zv - Zv.dot(dw) * dw).normalized()
        A_w = H_w + L * dw
        # kneecap on the upper side of the raised leg; the foot stays rigid with the shank
        rig.leg(G, "L", H_w, A_w, pole=up_w, base=sup.Qlie)
        sup.arms(G)
        now = {"pelvic_drop": drop, "leg_drop": sag, "short_lift": short if s > 0 else 0.0}
        lab = labels(k, phase, s, ctx, now)
        lab["pelvis_roll_deg"] = math.degrees(r)
        return G, lab, {}

    return cam, sched, pose, lift_metrics, [], []


EXERCISE = Exercise(
    name="single_leg_lift",
    spec="single_leg_pelvic_lift",
    views=VIEWS,
    faults={
        "pelvic_drop": Fault(
            "deg", 12.0, "level_pelvis", "pelvic obliquity to the floor, the straight leg's hip low"
        ),
        "leg_drop": Fault(
            "deg", 20.0, "leg_in_line", "the straight leg sags below the line of the planted thigh"
        ),
        "short_lift": Fault(
            "fraction", 0.35, "full_extension", "the hips stop short by this fraction of the lift"
        ),
    },
    primary_fault="pelvic_drop",
    setup=setup,
    checks={
        "full_extension": TruthCheck(
            "stance_shoulder_hip_knee_deg",
            ("hold",),
            "mean",
            min=170.0,
            why="single_leg_pelvic_lift.toml: 164 degrees as MediaPipe reads it is about 170 true (as glute_bridge)",
        ),
        "level_pelvis": TruthCheck(
            "working_hip_drop_deg",
            ("hold",),
            "mean_abs",
            max=8.0,
            why="single_leg_pelvic_lift.toml: 0.03 of hip/shoulder offset ratio against the set median; "
            "glute_bridge's 0.025 is about 7 degrees (0.046 for 12), so 0.03 is about 8 degrees of drop",
        ),
        "leg_in_line": TruthCheck(
            "leg_line_deg",
            ("hold",),
            "mean",
            max=12.0,
            why="single_leg_pelvic_lift.toml: 12 degrees between the straight leg and the other thigh",
        ),
    },
    mirror_axis=1,
    unilateral=True,
    signed_metrics=("pelvic_obliquity_deg",),
    signal_truth={
        "hip_extension": ("stance_shoulder_hip_knee_deg", 1.0, False),
        "leg_line": ("leg_line_deg", 1.0, False),
    },
    default_fault_rep=3,
)
