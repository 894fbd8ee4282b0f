"""Pelvic tilt done as cat-cow on hands and knees, filmed from the side at hip height (both sides
alike; the camera is on the person's left).

The person kneels on all fours along the world X axis (head at -X, back up, their left at -Y), knees
under the hips with the shins and the tops of the feet on the mat, hands flat under the shoulders.
The clip starts in the cow (pelvis tipped forward, back sagging, head up). Each rep: the back rounds
up into the cat (tailbone tucked under, head dropped), holds a moment, and sinks back into the cow.
The pelvis tips about the hips and the spine bends in an arch between the hips and the shoulders;
the neck and head nod with it.

Fault: `short_cat`, the cat stops short: the head drops the given degrees less (ear below the
hip-shoulder line, as siform's head_drop reads it; a full cat here is about +60, the cow about -35).

Camera: `side`, 2.6 m to the person's left at 0.55 m (about hip height), level.
"""

import math

import numpy as np
import scene as S
from common import D2R, SIDES, Exercise, Fault, Schedule, TruthCheck, labels, rot_about
from ex_bridge import MAT_TOP
from ex_pillow_squeeze import bisect
from ex_thigh_stretch import arm_ik
from human import R4, T
from mathutils import Matrix, Quaternion, Vector

Yv = Vector((0, 1, 0))
# on all fours: rest +Z (head) -> world -X, rest +Y (back) -> world +Z, rest +X (left) -> world -Y
Q4 = Matrix(((0, 0, -1), (-1, 0, 0), (0, 1, 0))).to_quaternion()
SIDE_CAM = ((-0.30, -2.60, 0.55), (-0.30, 0.0, 0.42), 30)
SPINE = ("spine04", "spine03", "spine02", "spine01")
NECK = ("neck01", "neck02", "neck03", "head")
# deg at a full cat / a full cow: the pelvis tip, and the neck's nod (over neck01-03; the head bone
# nods a further quarter of it, which moves the face but not the ear's nodding axis)
TIP = {"cat": 24.0, "cow": 16.0}
NOD = {"cat": 95.0, "cow": 65.0}


def head_drop(hm, sm, ear):
    """Ear below the hip -> shoulder line, degrees in the side (X-Z) plane; + = below (cat)."""
    t = np.array([sm[0] - hm[0], sm[2] - hm[2]])
    e = np.array([ear[0] - sm[0], ear[2] - sm[2]])
    return math.degrees(math.atan2(t[0] * e[1] - t[1] * e[0], float(np.dot(t, e))))


def _hand_rotation(rig, sg):
    """World rotation of a hand lying flat on the floor, fingers towards the head (-X)."""
    f0 = (rig.wrist["L" if sg > 0 else "R"] - rig.elbow["L" if sg > 0 else "R"]).normalized()
    n0 = Vector((-sg, 0, 0))
    n0 = (n0 - n0.dot(f0) * f0).normalized()
    f1, n1 = Vector((-1, 0, 0)), Vector((0, 0, -1))
    B0 = Matrix((f0, n0, f0.cross(n0))).transposed()
    B1 = Matrix((f1, n1, f1.cross(n1))).transposed()
    return (B1 @ B0.transposed()).to_quaternion()


def setup(rig, ctx):
    S.build_room(wall_y=1.6, mat=((1.7, 0.65, 0.006), (-0.15, 0.0, 0.003), (0.25, 0.45, 0.50)))
    S.add_lights(
        target=(0, 0, 0.4),
        key_dir=ctx.lights((-1.2, -2.4, 2.6)),
        power_scale=ctx.var.light,
        ambient=ctx.var.ambient,
    )
    loc, aim, lens = SIDE_CAM
    cam = S.add_camera(*ctx.camera(loc, aim), lens=lens)
    sched = Schedule(
        ctx.var.lead,
        [("to_cat", 1.5, "up"), ("cat", 0.5, "hold"), ("to_cow", 1.5, "down"), ("cow", 0.5, "rest")],
        ctx.nreps,
        tempo=ctx.var.tempo,
    )
    P = rig.P
    hc_rest = (rig.hip["L"] + rig.hip["R"]) / 2
    knee_r = 0.05
    Hc = Vector((0.0, 0.0, MAT_TOP + knee_r + rig.Lt))
    wrist_z = MAT_TOP + 0.035
    reach = 0.97 * (rig.Lu + rig.Lf)

    def chain(c, pitch):
        """Bone transforms for cat level c (-1 cow .. +1 cat) and trunk pitch; returns G."""
        q = Quaternion(Yv, pitch) @ Q4
        g = T(Hc) @ R4(q) @ T(-hc_rest)
        key = "cat" if c > 0 else "cow"
        tip, nod = c * TIP[key] * D2R, c * NOD[key] * D2R
        # the pelvis tips about the hips: cat tucks (the lumbar end rises), cow tips forward
        g = rot_about(Hc, Yv, tip) @ g
        G = {b: g for b in ("root", "spine05", "pelvis.L", "pelvis.R")}
        for b in SPINE:  # the arch turns back down by twice the tip over the spine
            g = rot_about(g @ P.head(b), Yv, -2.0 * tip / len(SPINE)) @ g
            G[b] = g
        for b in NECK:
            share = 0.25 if b == "head" else 1.0 / 3.0
            g = rot_about(g @ P.head(b), Yv, -share * nod) @ g
            G[b] = g
        return G

    def shoulder_z(pitch):
        G = chain(0.0, pitch)
        return 0.5 * sum((G["spine01"] @ rig.shoulder[s_]).z for s_ in SIDES)

    pitch0 = bisect(shoulder_z, -0.4, 0.4, wrist_z + reach)
    G0 = chain(0.0, pitch0)
    hands = {s_: G0["spine01"] @ rig.shoulder[s_] for s_ in SIDES}
    for s_ in SIDES:
        hands[s_] = Vector((hands[s_].x, hands[s_].y, wrist_z))
    hand_q = {s_: _hand_rotation(rig, sg) for s_, sg in SIDES.items()}
    foot_q = Quaternion(Vector((0, 0, 1)), -math.pi / 2) @ Quaternion(Vector((1, 0, 0)), math.pi)

    def drop_of(c):
        G = chain(c, pitch0)
        hm = G["root"] @ hc_rest
        sm = sum((G["spine01"] @ rig.shoulder[s_] for s_ in SIDES), Vector()) / 2
        return head_drop(hm, sm, G["head"] @ P.head("head"))

    full_cat = drop_of(1.0)
    tops = {}
    for k in range(ctx.nreps):
        short = ctx.fault(k, "short_cat")
        tops[k] = bisect(drop_of, -1.0, 1.0, full_cat - short) if short else 1.0
    print("pelvic_tilt head drop: cow", drop_of(-1.0), "neutral", drop_of(0.0), "cat", full_cat)

    def pose(t):
        k, phase, s = sched.at(t)
        top = tops.get(k, 1.0) * (ctx.amp(k) if k >= 0 and k not in ctx.faults else 1.0)
        c = -1.0 + (top + 1.0) * s
        G = chain(c, pitch0)
        gp = G["root"]
        for s_ in SIDES:
            H = gp @ rig.hip[s_]
            A = Vector((H.x + rig.Ls, H.y, MAT_TOP + 0.045))
            K = Vector((H.x, H.y, MAT_TOP + knee_r))
            rig.leg(G, s_, H, A, pole=K - H, foot=foot_q)
            W = hands[s_]
            arm_ik(rig, G, s_, G["spine01"], W, Vector((1.0, 0.0, 0.0)), Q4)
            G["wrist." + s_] = T(W) @ R4(hand_q[s_]) @ T(-rig.wrist[s_])
        short = ctx.fault(k, "short_cat") * s
        return G, labels(k, phase, s, ctx, {"short_cat": short}), {}

    def metrics(J):
        hm = (np.array(J["upperleg01.L"]) + np.array(J["upperleg01.R"])) / 2
        sm = (np.array(J["upperarm01.L"]) + np.array(J["upperarm01.R"])) / 2
        return {
            "head_drop_deg": head_drop(hm, sm, J["head"]),
            "hip_height_m": float(hm[2]),
            "shoulder_height_m": float(sm[2]),
        }

    return cam, sched, pose, metrics, [], []


EXERCISE = Exercise(
    name="pelvic_tilt",
    spec="pelvic_tilt",
    views={"side": "2.6 m to the person's left at 0.55 m (about hip height), level"},
    faults={
        "short_cat": Fault("deg", 20.0, "full_range", "the cat stops short: the head drops this much less"),
    },
    primary_fault="short_cat",
    setup=setup,
    checks={
        "full_range": TruthCheck(
            "head_drop_deg",
            ("to_cat", "cat", "to_cow"),
            "max",
            min=45.0,
            why="pelvic_tilt.toml: a range of 60 from the cow threshold (-15) is a cat of +45, three quarters "
            "of a full one; the head bone's head stands in for the ear",
        ),
    },
    mirror_axis=1,
    signal_truth={"head_drop": ("head_drop_deg", 1.0, False)},
    default_fault_rep=2,
    default_reps=3,
)
