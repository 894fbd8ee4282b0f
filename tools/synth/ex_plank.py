"""Front plank on the forearms, an off-target motion for testing `--exercise auto`
(truth `spec: null`).

The person lies face down along the world X axis (head at +X, feet at -X), propped on both
forearms (elbows under the shoulders, forearms on the mat pointing ahead), on their toes. Each rep
is one hold: the hips rise until shoulders, hips and ankles are in one line, stay there, and come
back down to the mat. Filmed from the side at a low height (the camera at -Y sees the person's
right side). No faults and no truth checks. The face-down trunk is shared with ex_birddog.py.
"""

import math

import numpy as np
import scene as S
from common import Exercise, Schedule, labels
from human import R4, T
from mathutils import Matrix, Quaternion, Vector

Yv = Vector((0, 1, 0))
MAT_TOP = 0.006
# face down: rest +Z (head) -> world +X, rest -Y (front of the body) -> world -Z, rest +X (the
# person's left) -> world +Y
Q_PRONE = Matrix(((0, 0, 1), (1, 0, 0), (0, 1, 0))).to_quaternion()
VIEWS = {"side": "low camera beside the person"}
CAMERA = ((-0.12, -2.75, 0.50), (-0.12, 0.0, 0.30), 32)


def front_depth(rig, p, dz=0.04):
    """How far the front of the body lies ahead of the rest-pose point p (m), from the skin mesh."""
    mesh = next(o for o in rig.P.arm.children if o.type == "MESH")
    V = np.array([v.co[:] for v in mesh.data.vertices])
    sel = (np.abs(V[:, 2] - p.z) < dz) & (np.abs(V[:, 0] - p.x) < 0.08)
    return float(p.y - V[sel, 1].min())


def prone_trunk(rig, H, elev):
    """Pelvis/trunk transform with the left hip at H and the hip -> shoulder line raised `elev`
    (radians) above the floor; returns (transform, rotation)."""
    v = Q_PRONE @ (rig.shoulder["L"] - rig.hip["L"])
    a0 = math.atan2(v.z, v.x)
    q = Quaternion(Yv, a0 - elev) @ Q_PRONE
    return T(H) @ R4(q) @ T(-rig.hip["L"]), q


def trunk_length(rig):
    v = Q_PRONE @ (rig.shoulder["L"] - rig.hip["L"])
    return math.hypot(v.x, v.z)


def mat_room(ctx, camera):
    S.build_room(wall_y=1.5)
    S.add_box(
        "mat", (2.1, 0.72, 0.006), (-0.05, -0.05, MAT_TOP / 2), S.material("yogamat", (0.25, 0.45, 0.40), 0.9)
    )
    S.add_lights(
        target=(0, 0, 0.3), key_dir=(-0.9, -2.2, 2.4), power_scale=ctx.var.light, ambient=ctx.var.ambient
    )
    loc, aim, lens = camera
    return S.add_camera(*ctx.camera(loc, aim), lens=lens)


def setup(rig, ctx):
    cam = mat_room(ctx, CAMERA)
    sched = Schedule(
        ctx.var.lead,
        [("rise", 0.9, "up"), ("hold", 2.6, "hold"), ("lower", 0.9, "down"), ("rest", 0.8, "rest")],
        ctx.nreps,
        tempo=ctx.var.tempo,
    )
    Lleg = 0.996 * (rig.Lt + rig.Ls)
    r_tr = trunk_length(rig)
    E_z = MAT_TOP + 0.045
    S_z = E_z + rig.Lu
    z_rest = MAT_TOP + front_depth(rig, rig.hip["L"])
    A_z = MAT_TOP + 0.115
    a_hold = math.asin((S_z - A_z) / (Lleg + r_tr))
    a_rest = math.asin(max(z_rest - A_z, 0.0) / Lleg)
    A_x = -Lleg * math.cos(a_hold)
    foot = Quaternion(Yv, 45 * math.pi / 180) @ Q_PRONE  # on the toes, soles facing the feet end

    def pose(t):
        k, phase, s = sched.at(t)
        a = a_rest + s * ctx.amp(k) * (a_hold - a_rest)
        A_L = Vector((A_x, rig.ankle["L"].x * 0.8, A_z))
        H = A_L + Lleg * Vector((math.cos(a), 0.0, math.sin(a)))
        H.y = rig.hip["L"].x
        dz = min(S_z - H.z, 0.999 * r_tr)
        elev = math.asin(dz / r_tr)
        g, q = prone_trunk(rig, H, elev)
        G = {"root": g}
        for s_ in ("L", "R"):
            A = Vector((A_x, rig.ankle[s_].x * 0.8, A_z))
            rig.leg(G, s_, g @ rig.hip[s_], A, pole=Vector((0, 0, -1)), base=q, foot=foot)
            sg = 1.0 if s_ == "L" else -1.0
            rig.arm(G, s_, g, Vector((0, 0, -1)), Vector((1.0, -sg * 0.25, 0.0)).normalized(), q)
        return G, labels(k, phase, s, ctx, {}), {}

    def metrics(J):
        return {"hip_height_m": float((J["upperleg01.L"][2] + J["upperleg01.R"][2]) / 2)}

    return cam, sched, pose, metrics, [], []


EXERCISE = Exercise(
    name="plank",
    spec=None,
    views=VIEWS,
    faults={},
    primary_fault=None,
    setup=setup,
    default_fault_rep=0,
    default_reps=2,
)
