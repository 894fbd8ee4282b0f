"""Side plank on the forearm, filmed from the front (canonical working side: the person's left).

The person lies on their LEFT side along the world X axis (head at +X, feet at -X), facing the
camera at -Y, propped on the left forearm (elbow under the shoulder, forearm on the mat pointing
towards the camera), legs straight with the right foot stacked on the left. "Working" is the side
lain on, as in side_plank.toml: the supporting forearm and the lower hip. Each rep is one hold:
the hips rise off the mat until the left shoulder, hip and ankle are in one straight line, stay
there, come down and rest on the mat.

--side right mirrors the person across X (the head-to-feet axis): they then lie on their right
side, head at -X, still facing the camera, which mirrors with them (it is centred on the person).

Faults (the size ramps in with the rise, full through the hold): `hip_sag`, the working hip sinks
the given cm below its shoulder -> ankle line; `hip_pike`, it is pushed that many cm above it.
"""

import math

import numpy as np
import scene as S
from common import Exercise, Fault, Schedule, TruthCheck, labels
from human import R4, T, two_bone_ik
from mathutils import Quaternion, Vector

Yv = Vector((0, 1, 0))
MAT_TOP = 0.006
# lying on the left side: rest +X (person's left) -> world -Z, rest +Z (head) -> world +X
Q_SIDE = Quaternion(Yv, math.pi / 2)
CAMERA = ((-0.02, -2.75, 0.42), (-0.02, 0.0, 0.24), 36)


def _mesh_dims(rig):
    """Lateral half-widths (rest pose, from the skin mesh) used to rest the body on the mat."""
    mesh = next(o for o in rig.P.arm.children if o.type == "MESH")
    V = np.array([v.co[:] for v in mesh.data.vertices])

    def lateral(p, dz, dy=0.12):
        sel = (np.abs(V[:, 2] - p.z) < dz) & (np.abs(V[:, 1] - p.y) < dy) & (V[:, 0] > 0)
        return float(V[sel, 0].max() - p.x)

    return {
        "hip": lateral(rig.hip["L"], 0.05),
        "ankle": lateral(rig.ankle["L"], 0.02, 0.05),
        "elbow": 0.035,
    }


def _circle_top(c1, r1, c2, r2):
    """Upper intersection (larger z) of two circles in the XZ plane; c1, c2 are (x, z)."""
    dx, dz = c2[0] - c1[0], c2[1] - c1[1]
    d = math.hypot(dx, dz)
    d = min(max(d, abs(r1 - r2) + 1e-6), r1 + r2 - 1e-6)
    a = (r1 * r1 - r2 * r2 + d * d) / (2 * d)
    h = math.sqrt(max(r1 * r1 - a * a, 0.0))
    ux, uz = dx / d, dz / d
    px, pz = c1[0] + a * ux, c1[1] + a * uz
    p1, p2 = (px - h * uz, pz + h * ux), (px + h * uz, pz - h * ux)
    return p1 if p1[1] >= p2[1] else p2


def plank_metrics(J):
    """Working (left) side: shoulder-hip-ankle angle, hip offset below the shoulder-ankle line."""
    s, h, a = (np.array(J[b]) for b in ("upperarm01.L", "upperleg01.L", "foot.L"))
    hr = np.array(J["upperleg01.R"])
    v1, v2 = s - h, a - h
    line = math.degrees(math.acos(np.clip(np.dot(v1, v2) / np.linalg.norm(v1) / np.linalg.norm(v2), -1, 1)))
    # offset of the hip below the shoulder -> ankle line, in the vertical plane containing the line
    u = (a - s) / np.linalg.norm(a - s)
    w = (h - s) - np.dot(h - s, u) * u
    down = np.array([0.0, 0.0, -1.0]) - np.dot([0.0, 0.0, -1.0], u) * u
    sag = float(np.dot(w, down / np.linalg.norm(down)))
    d = h - hr
    on_side = math.degrees(math.atan2(-d[2], math.hypot(d[0], d[1])))
    return {
        "body_line_deg": line,
        "hip_sag_m": sag,
        "hip_sag_ratio": sag / float(np.linalg.norm(a - s)),
        "on_side_deg": on_side,
        "hip_height_m": float(h[2]),
    }


def setup(rig, ctx):
    S.build_room(wall_y=1.5)
    mat = S.add_box(
        "mat", (2.0, 0.72, 0.006), (-0.05, -0.08, MAT_TOP / 2), S.material("yogamat", (0.32, 0.22, 0.55), 0.9)
    )
    S.add_lights(
        target=(0, 0, 0.25),
        key_dir=ctx.lights((-0.9, -2.2, 2.4)),
        power_scale=ctx.var.light,
        ambient=ctx.var.ambient,
    )
    loc, aim, lens = CAMERA
    cam = S.add_camera(*ctx.camera(loc, aim), lens=lens)
    sched = Schedule(
        ctx.var.lead,
        [("rise", 0.9, "up"), ("hold", 4.5, "hold"), ("lower", 0.9, "down"), ("rest", 1.0, "rest")],
        ctx.nreps,
        tempo=ctx.var.tempo,
    )
    dims = _mesh_dims(rig)
    Lleg = 0.996 * (rig.Lt + rig.Ls)
    # shoulder relative to hip (left side) in the rest frame, and its angle below the trunk axis
    v = rig.shoulder["L"] - rig.hip["L"]
    r_tr = math.hypot(v.x, v.z)
    delta = math.atan2(v.x, v.z)
    A_L = Vector((-0.80, rig.ankle["L"].y, MAT_TOP + dims["ankle"]))
    E_z = MAT_TOP + dims["elbow"]

    def hip_at(a):
        return A_L + Lleg * Vector((math.cos(a), 0.0, math.sin(a)))

    # the hold: shoulder, hip and ankle in one line, upper arm vertical over the elbow
    a_hold = math.asin((E_z + rig.Lu - A_L.z) / (Lleg + r_tr))
    S_hold = hip_at(a_hold) + r_tr * Vector((math.cos(a_hold), 0, math.sin(a_hold)))
    E = Vector((S_hold.x, rig.shoulder["L"].y - rig.hip["L"].y + A_L.y, E_z))
    a_rest = math.asin((MAT_TOP + dims["hip"] - A_L.z) / Lleg)

    def trunk(a):
        """Pelvis/trunk transform for leg angle a: the shoulder on its circle round the elbow."""
        H = hip_at(a)
        sx, sz = _circle_top((H.x, H.z), r_tr, (E.x, E.z), rig.Lu)
        elev = math.atan2(sz - H.z, sx - H.x)
        q = Quaternion(Yv, -(elev + delta)) @ Q_SIDE
        g = T(H) @ R4(q) @ T(-rig.hip["L"])
        return g, q, H

    def offset(a):
        g, _, H = trunk(a)
        J = {b: tuple(g @ rig.P.head(b)) for b in ("upperarm01.L", "upperleg01.L", "upperleg01.R")}
        return plank_metrics({**J, "foot.L": tuple(A_L)})["hip_sag_m"]

    def leg_angle_for(off_m):
        """Leg angle that puts the hip off_m below (negative: above) the shoulder-ankle line."""
        a = a_hold
        for _ in range(8):
            f = offset(a) - off_m
            if abs(f) < 1e-6:
                break
            a -= f / ((offset(a + 1e-4) - offset(a)) / 1e-4)
        return a

    shift = {}
    for k in range(ctx.nreps):
        off = 0.01 * (ctx.fault(k, "hip_sag") - ctx.fault(k, "hip_pike"))
        shift[k] = leg_angle_for(off) - a_hold if off else 0.0
    print("side_plank dims", dims, "a_hold", math.degrees(a_hold), "a_rest", math.degrees(a_rest))

    def pose(t):
        k, phase, s = sched.at(t)
        sag = ctx.fault(k, "hip_sag") * s
        pike = ctx.fault(k, "hip_pike") * s
        a_top = a_hold - 0.5 * (1.0 - ctx.amp(k)) * (a_hold - a_rest)  # this rep's lift
        a = a_rest + s * (a_top - a_rest) + s * shift.get(k, 0.0)
        g, q, H = trunk(a)
        G = {"root": g}
        # legs: the left ankle stays on the mat, the right foot rests on the left one
        rig.leg(G, "L", H, A_L, pole=Vector((0, -1, 0)), base=q)
        H_R = g @ rig.hip["R"]
        top = A_L + Vector((0.0, 0.0, 2 * dims["ankle"] + 0.01))
        A_R = top if (top - H_R).length < Lleg else H_R + Lleg * (top - H_R).normalized()
        rig.leg(G, "R", H_R, A_R, pole=Vector((0, -1, 0)), base=q)
        # supporting arm: upper arm to the elbow on the mat, forearm towards the camera and the head
        S_L = g @ rig.shoulder["L"]
        rig.arm(G, "L", g, (E - S_L).normalized(), Vector((0.45, -0.89, -0.04)).normalized(), q)
        # top arm: hand on the hip (wrist over the iliac crest), elbow pointing up and back
        S_R = g @ rig.shoulder["R"]
        W_R = g @ (rig.hip["R"] + Vector((-0.11, -0.01, 0.11)))
        E_R = two_bone_ik(S_R, W_R, rig.Lu, rig.Lf, q @ Vector((-1.0, 0.5, 0.0)))
        rig.arm(G, "R", g, (E_R - S_R).normalized(), (W_R - E_R).normalized(), q)
        lab = labels(k, phase, s, ctx, {"hip_sag": sag, "hip_pike": pike})
        return G, lab, {}

    return cam, sched, pose, plank_metrics, [], [mat]


EXERCISE = Exercise(
    name="side_plank",
    spec="side_plank",
    views={"front": "low camera in front of the person, who faces it lying on their side"},
    faults={
        "hip_sag": Fault("cm", 8.0, "no_sag", "working hip below its shoulder-ankle line"),
        "hip_pike": Fault("cm", 10.0, "straight_line", "working hip above its shoulder-ankle line"),
    },
    primary_fault="hip_sag",
    setup=setup,
    checks={
        "straight_line": TruthCheck(
            "body_line_deg",
            ("hold",),
            "mean",
            min=168.0,
            why="side_plank.toml: 168 degrees, 12 off straight, a hip about 7 cm off the line",
        ),
        "no_sag": TruthCheck(
            "hip_sag_ratio",
            ("hold",),
            "mean",
            max=0.04,
            why="side_plank.toml: 0.04 shoulder-ankle lengths, about 5.5 cm of sag on this body",
        ),
    },
    mirror_axis=0,
    unilateral=True,
    signal_truth={
        "body_line": ("body_line_deg", 1.0, False),
        "hip_sag": ("hip_sag_ratio", 1.0, False),
        "on_side": ("on_side_deg", 1.0, False),
    },
    default_fault_rep=2,
    default_reps=2,
)
