"""Pillow squeeze, lying on the back with the knees bent, filmed from a raised side camera.

The person lies along the world X axis (head at -X, feet at +X, their left at +Y, as in the bridge),
knees bent, feet flat and hip-width apart, arms by the sides, a folded pillow between the knees.
Each rep is one hold: the knees squeeze the pillow (knee centres from about 21 cm apart to about
14.5 cm, the pillow giving), hold, then relax and part again for a rest.

Fault: `hip_lift`, the bottom comes off the mat by the given cm during the squeeze (the person
pushes through the feet): the spine rolls up from the shoulders as in a small bridge.

Camera: `raised_side`, 2 m to the person's left, 1.5 m high, looking down about 34 degrees at the
hips (the spec's placement; the bridge's calibration camera stands 1.75 m high and 1.85 m away).

This module also holds what the lying-on-the-back holds share (scene, knee placement, pelvis roll,
3D angles); ex_band_abduction_lying, ex_piriformis_stretch, ex_knee_to_chest, ex_hamstring_stretch
and ex_lying_glute_stretch import it.
"""

import math

import bpy
import numpy as np
import scene as S
from common import D2R, SIDES, Exercise, Fault, Schedule, TruthCheck, labels, rot_about
from ex_bridge import MAT_TOP, Supine
from human import two_bone_ik
from mathutils import Quaternion, Vector

Zv = Vector((0, 0, 1))
# camera per view: (location, aim, lens); the person lies along X, head at -X, their left at +Y
RAISED_SIDE = ((0.0, 2.05, 1.50), (-0.12, 0.0, 0.15), 34)
RAISED_FEET = ((1.85, 0.0, 1.55), (-0.10, 0.0, 0.15), 30)
ANKLE_X = 0.55  # feet flat, knees bent about 75-80 degrees


def supine_scene(ctx, camera, mat_rgb=(0.20, 0.45, 0.35), with_pillow=True):
    """Room, mat, head pillow and lights for a person lying on the back; returns the camera.

    The camera does not move for --side right (the person is mirrored across Y, so a camera at
    +Y then films their right: the working side of a one-sided exercise stays nearest)."""
    S.build_room(wall_y=-1.7, side_wall_x=-1.6, mat=((1.85, 0.62, 0.006), (-0.05, 0.0, 0.003), mat_rgb))
    if with_pillow:
        S.add_box(
            "pillow",
            (0.34, 0.30, 0.045),
            (-0.74, 0.0, MAT_TOP + 0.0225),
            S.material("towel", (0.9, 0.88, 0.84), 0.95),
        )
    S.add_lights(
        target=(0, 0, 0.2), key_dir=(0.8, 2.0, 2.6), power_scale=ctx.var.light, ambient=ctx.var.ambient
    )
    loc, aim, lens = camera
    return S.add_camera(
        Vector(loc) + Vector(ctx.var.cam_loc), Vector(aim) + Vector(ctx.var.cam_aim), lens=lens
    )


def angle3(a, b, c):
    """Angle at b (degrees) between b->a and b->c, 3D."""
    a, b, c = (np.asarray(x, dtype=float) for x in (a, b, c))
    u, w = a - b, c - b
    return math.degrees(math.acos(np.clip(np.dot(u, w) / np.linalg.norm(u) / np.linalg.norm(w), -1, 1)))


def sagittal_angle(a, b, c):
    """Angle at b (degrees) in the body's sagittal plane (world X-Z for a person lying along X):
    what a camera at the side sees, without the shoulders' and hips' different widths."""
    return angle3(*((p[0], 0.0, p[2]) for p in (a, b, c)))


def bisect(f, lo, hi, target, n=40):
    """x in [lo, hi] with f(x) = target, f monotonic."""
    flo = f(lo) - target
    for _ in range(n):
        mid = 0.5 * (lo + hi)
        fm = f(mid) - target
        if (fm < 0) == (flo < 0):
            lo, flo = mid, fm
        else:
            hi = mid
    return 0.5 * (lo + hi)


def knee_pole(rig, H, A, sg, half_gap):
    """Pole (0, sg*p, 1) that puts the knee of the leg H -> A at |y| = half_gap (bent knees up)."""

    def ky(p):
        return sg * two_bone_ik(H, A, rig.Lt, rig.Ls, Vector((0, sg * p, 1.0))).y

    p = bisect(ky, -3.0, 3.0, half_gap)
    return Vector((0, sg * p, 1.0))


def lift_for(sup, rig, cm):
    """Supine.trunk lift fraction that raises the hips `cm` above lying flat."""
    if cm <= 0:
        return 0.0

    def hz(x):
        _, gp, _ = sup.trunk(x, 0.0)
        return 0.5 * ((gp @ rig.hip["L"]).z + (gp @ rig.hip["R"]).z)

    z0 = hz(0.0)
    return bisect(lambda x: hz(x) - z0, 0.0, 1.0, 0.01 * cm)


def roll_pelvis(rig, G, roll_deg, up_side="L"):
    """Roll the pelvis about its long axis through the hip that stays on the mat, so the hip of
    `up_side` rises off the mat by `roll_deg` of hip-line obliquity; the lumbar spine follows by
    half. Returns the pelvis transform."""
    gp = G["root"]
    if not roll_deg:
        return gp
    down = "R" if up_side == "L" else "L"
    pc = gp @ rig.P.head("spine05")
    axis = (gp @ rig.P.tail("spine05") - pc).normalized()
    piv = gp @ rig.hip[down]
    ang = roll_deg * D2R
    # pick the direction of rotation that lifts `up_side`
    if (rot_about(piv, axis, ang) @ gp @ rig.hip[up_side]).z < (gp @ rig.hip[up_side]).z:
        ang = -ang
    gp2 = rot_about(piv, axis, ang) @ gp
    for b in ("root", "spine05", "pelvis.L", "pelvis.R"):
        G[b] = gp2
    G["spine04"] = rot_about(piv, axis, 0.5 * ang) @ G["spine04"]
    return gp2


def lying_leg(rig, G, s_, H, base, lift_deg=0.0):
    """A leg lying straight along the mat (+X), or with its thigh `lift_deg` off the mat, the knee
    bending and the heel sliding on the mat towards the bottom. Returns the knee."""
    th = lift_deg * D2R
    K = H + rig.Lt * Vector((math.cos(th), 0, math.sin(th)))
    az = MAT_TOP + rig.ankle_h
    dz = min(K.z - az, 0.999 * rig.Ls)
    A = K + Vector((math.sqrt(rig.Ls**2 - dz**2), 0, -dz))
    return rig.leg(G, s_, H, A, pole=Vector((0, 0, 1)), base=base)


def raised_leg(rig, G, s_, sg, H, base, flex_deg, across_deg, knee_deg):
    """A leg lifted from the mat: the thigh `flex_deg` up from along the mat (+X; 90 = upright,
    more = towards the chest), swung `across_deg` towards the body's midline, the knee bent
    `knee_deg` (0 = straight) in the leg's own plane. Returns (knee, ankle)."""
    f, a, phi = flex_deg * D2R, across_deg * D2R, knee_deg * D2R
    e1, e2 = Vector((1, 0, 0)), Vector((0, -sg * math.sin(a), math.cos(a)))
    d = math.cos(f) * e1 + math.sin(f) * e2
    sh = math.cos(f - phi) * e1 + math.sin(f - phi) * e2
    K = H + rig.Lt * d
    A = K + 0.999 * rig.Ls * sh
    pole = (K - H) - (K - H).dot((A - H).normalized()) * (A - H).normalized()
    if pole.length < 1e-4:  # straight: the knee faces the leg's plane normal side, up
        pole = e2 if abs(f) < 1.2 else -e1
    K = rig.leg(G, s_, H, A, pole=pole, base=base)
    return K, A


def obliquity_deg(hl, hr):
    """Hip line against the floor, + = the person's left hip lower (as siform's pelvic_tilt)."""
    return math.degrees(math.atan2(hr[2] - hl[2], math.hypot(hl[0] - hr[0], hl[1] - hr[1])))


def supine_metrics(J, hip_z0):
    """What the lying exercises share: hip lift, hip-line obliquity, knee gap, the hip and knee
    angles of both legs (3D, shoulder-hip-knee and hip-knee-ankle)."""
    hl, hr = np.array(J["upperleg01.L"]), np.array(J["upperleg01.R"])
    kl, kr = np.array(J["lowerleg01.L"]), np.array(J["lowerleg01.R"])
    m = {
        "hip_lift_m": float(0.5 * (hl[2] + hr[2]) - hip_z0),
        "pelvic_obliquity_deg": obliquity_deg(hl, hr),
        "knee_gap_ratio": float(np.linalg.norm(kl - kr) / np.linalg.norm(hl - hr)),
    }
    for s_, name in (("L", "left"), ("R", "right")):
        m[f"{name}_hip_angle_deg"] = angle3(
            J["upperarm01." + s_], J["upperleg01." + s_], J["lowerleg01." + s_]
        )
        m[f"{name}_knee_angle_deg"] = angle3(J["upperleg01." + s_], J["lowerleg01." + s_], J["foot." + s_])
    return m


def setup(rig, ctx):
    cam = supine_scene(ctx, RAISED_SIDE, mat_rgb=(0.55, 0.30, 0.35))
    sched = Schedule(
        ctx.var.lead,
        [("squeeze", 0.7, "up"), ("hold", 3.0, "hold"), ("relax", 0.7, "down"), ("rest", 0.8, "rest")],
        ctx.nreps,
        tempo=ctx.var.tempo,
    )
    sup = Supine(rig)
    lifts = {k: lift_for(sup, rig, ctx.fault(k, "hip_lift")) for k in range(ctx.nreps)}
    G0, gp0, _ = sup.trunk(0.0, 0.0)
    hip_z0 = 0.5 * ((gp0 @ rig.hip["L"]).z + (gp0 @ rig.hip["R"]).z)
    relaxed, squeezed = 0.105, 0.0725  # half the knee-centre gap, m
    knee_w = 0.105  # knee width across, so the pillow fills the gap between the knees
    pm = S.material("squeeze_pillow", (0.85, 0.80, 0.55), 0.9)
    bpy.ops.mesh.primitive_cube_add(size=1.0)
    pil = bpy.context.active_object
    pil.name = "squeeze_pillow"
    pil.data.materials.append(pm)
    bev = pil.modifiers.new("bevel", "BEVEL")
    bev.width, bev.segments = 0.02, 3

    def pose(t):
        k, phase, s = sched.at(t)
        lift_cm = ctx.fault(k, "hip_lift") * s
        G, gp, _ = sup.trunk(lifts.get(k, 0.0) * s, 0.0)
        half = relaxed + (squeezed - relaxed) * s * ctx.amp(k)
        knees = {}
        for s_, sg in SIDES.items():
            H = gp @ rig.hip[s_]
            A = Vector((ANKLE_X, sg * 0.115, MAT_TOP + rig.ankle_h))
            pole = knee_pole(rig, H, A, sg, half)
            knees[s_] = rig.leg(G, s_, H, A, pole=pole, base=sup.Qlie, foot=Quaternion(Zv, math.pi / 2))
        sup.arms(G)
        kl, kr = knees["L"], knees["R"]
        mid = (kl + kr) / 2 + Vector((-0.03, 0, -0.03))
        gap = max((kl - kr).length - knee_w, 0.03)
        objs = {"squeeze_pillow": {"location": tuple(mid), "scale": (0.24, gap, 0.12)}}
        return G, labels(k, phase, s, ctx, {"hip_lift": lift_cm}), objs

    def metrics(J):
        return supine_metrics(J, hip_z0)

    return cam, sched, pose, metrics, [pil], []


EXERCISE = Exercise(
    name="pillow_squeeze",
    spec="pillow_squeeze",
    views={"raised_side": "2 m to the person's left, 1.5 m high, looking down about 34 degrees"},
    faults={
        "hip_lift": Fault(
            "cm", 6.0, "hips_down", "the bottom lifts off the mat by this much while squeezing"
        ),
    },
    primary_fault="hip_lift",
    setup=setup,
    checks={
        "hips_down": TruthCheck(
            "hip_lift_m",
            ("hold",),
            "mean",
            max=0.04,
            why="pillow_squeeze.toml: 8 degrees more hip angle than the person's usual squeeze is a lift of "
            "about 4 cm; clean squeezes here keep the bottom on the mat (0 cm)",
        ),
    },
    mirror_axis=1,
    signal_truth={
        "knee_gap": ("knee_gap_ratio", 1.0, False),
        "hip_angle": ("left_hip_angle_deg", 1.0, False),
        "knee_angle": ("left_knee_angle_deg", 1.0, False),
    },
    default_fault_rep=2,
    default_reps=3,
)
