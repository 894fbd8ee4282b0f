"""Band abduction lying on the back, knees bent, filmed from a raised camera beyond the feet.

The person lies as in the pillow squeeze (along X, head at -X, their left at +Y), knees bent, feet
flat and hip-width apart, arms by the sides, a band round the thighs above the knees. Each rep is
one hold: the knees push apart against the band (knee centres from about 21 cm apart, as far as the
hips, to about 44 cm), hold, come back together and rest. The feet stay on the mat.

Fault: `pelvis_tip`, the pelvis rolls about its long axis so the person's left hip comes off the
mat by the given degrees of hip-line obliquity (the right hip stays down), ramping in with the push.

Camera: `raised_feet`, 1.6 m beyond the hips and 1.6 m high, looking down about 40 degrees along
the body (the spec's placement; no calibration clip used it).

--side right mirrors the person across the Y axis: their right hip then lifts.
"""

import math

import bpy
import scene as S
from common import SIDES, Exercise, Fault, Schedule, TruthCheck, labels
from ex_bridge import MAT_TOP, Supine
from ex_pillow_squeeze import ANKLE_X, knee_pole, roll_pelvis, supine_metrics, supine_scene
from mathutils import Quaternion, Vector

Zv = Vector((0, 0, 1))
RAISED_FEET = ((1.60, 0.0, 1.60), (-0.12, 0.0, 0.15), 30)


def setup(rig, ctx):
    cam = supine_scene(ctx, RAISED_FEET, mat_rgb=(0.22, 0.35, 0.60))
    sched = Schedule(
        ctx.var.lead,
        [("push", 0.8, "up"), ("hold", 4.0, "hold"), ("return", 0.8, "down"), ("rest", 1.0, "rest")],
        ctx.nreps,
        tempo=ctx.var.tempo,
    )
    sup = Supine(rig)
    _, gp0, _ = sup.trunk(0.0, 0.0)
    hip_z0 = 0.5 * ((gp0 @ rig.hip["L"]).z + (gp0 @ rig.hip["R"]).z)
    relaxed, apart = 0.105, 0.22  # half the knee-centre gap, m
    # the band: a flat ring round both thighs just above the knees
    bpy.ops.mesh.primitive_torus_add(major_radius=0.5, minor_radius=0.02, major_segments=32, minor_segments=6)
    band = bpy.context.active_object
    band.name = "band"
    band.data.materials.append(S.material("bandmat", (0.85, 0.20, 0.25), 0.6))

    def pose(t):
        k, phase, s = sched.at(t)
        tip = ctx.fault(k, "pelvis_tip") * s
        G, gp, _ = sup.trunk(0.0, 0.0)
        gp = roll_pelvis(rig, G, tip, up_side="L")
        half = relaxed + (apart - relaxed) * s * ctx.amp(k)
        knees, hips = {}, {}
        for s_, sg in SIDES.items():
            H = hips[s_] = gp @ rig.hip[s_]
            A = Vector((ANKLE_X, sg * 0.115, MAT_TOP + rig.ankle_h))
            pole = knee_pole(rig, H, A, sg, half)
            knees[s_] = rig.leg(G, s_, H, A, pole=pole, base=sup.Qlie, foot=Quaternion(Zv, math.pi / 2))
        sup.arms(G)
        # band: an oval round both thighs, 80 % of the way from hip to knee (torus radius 0.5 scaled)
        pl = hips["L"].lerp(knees["L"], 0.8)
        pr = hips["R"].lerp(knees["R"], 0.8)
        d = pl - pr
        thigh = ((knees["L"] - hips["L"]).normalized() + (knees["R"] - hips["R"]).normalized()).normalized()
        q = Zv.rotation_difference(thigh)
        objs = {"band": {"location": tuple((pl + pr) / 2), "rotation_quaternion": tuple(q),
                         "scale": ((d.length / 2 + 0.07) / 0.5, 0.075 / 0.5, 1.0)}}  # fmt: skip
        # the torus's X axis must lie along the knee line: rotate about the thigh direction
        xa = q @ Vector((1, 0, 0))
        twist = xa.rotation_difference(d.normalized())
        objs["band"]["rotation_quaternion"] = tuple(twist @ q)
        return G, labels(k, phase, s, ctx, {"pelvis_tip": tip}), objs

    def metrics(J):
        return supine_metrics(J, hip_z0)

    return cam, sched, pose, metrics, [band], []


EXERCISE = Exercise(
    name="band_abduction_lying",
    spec="band_abduction_lying",
    views={"raised_feet": "1.6 m beyond the hips, 1.6 m high, looking down about 40 degrees along the body"},
    faults={
        "pelvis_tip": Fault(
            "deg", 10.0, "pelvis_level", "the left hip lifts off the mat (hip-line obliquity)"
        ),
    },
    primary_fault="pelvis_tip",
    setup=setup,
    checks={
        "pelvis_level": TruthCheck(
            "pelvic_obliquity_deg",
            ("hold",),
            "mean_abs",
            max=7.0,
            why="band_abduction_lying.toml: 5 degrees of hip-line tilt from a camera tilted 45 degrees is about "
            "7 degrees of true tip (a hip about 3 cm off the mat)",
        ),
    },
    mirror_axis=1,
    signed_metrics=("pelvic_obliquity_deg",),
    signal_truth={
        "knee_gap": ("knee_gap_ratio", 1.0, False),
        "pelvic_tilt": ("pelvic_obliquity_deg", 1.0, True),
    },
    default_fault_rep=2,
    default_reps=2,
)
