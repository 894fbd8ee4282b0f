"""Room, lights, camera, render settings for the synthetic exercise clips (Blender 3.4)."""

import bpy
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector


def srgb(c):
    return tuple(x**2.2 for x in c) + (1.0,)


def material(name, rgb, rough=0.7, checker=None):
    m = bpy.data.materials.new(name)
    m.use_nodes = True
    nt = m.node_tree
    bsdf = nt.nodes["Principled BSDF"]
    bsdf.inputs["Roughness"].default_value = rough
    if checker:
        # subtle planks / tiles so the floor is not a flat colour
        tex = nt.nodes.new("ShaderNodeTexBrick")
        tex.inputs["Color1"].default_value = srgb(rgb)
        tex.inputs["Color2"].default_value = srgb(checker)
        tex.inputs["Mortar"].default_value = srgb(tuple(0.8 * c for c in checker))
        tex.inputs["Scale"].default_value = 1.0
        tex.inputs["Mortar Size"].default_value = 0.003
        tex.offset = 0.37
        tex.squash = 1.0
        tex.inputs["Brick Width"].default_value = 1.2
        tex.inputs["Row Height"].default_value = 0.18
        coord = nt.nodes.new("ShaderNodeNewGeometry")
        nt.links.new(coord.outputs["Position"], tex.inputs["Vector"])
        nt.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    else:
        bsdf.inputs["Base Color"].default_value = srgb(rgb)
    m.diffuse_color = srgb(rgb)
    return m


def add_box(name, size, loc, mat):
    bpy.ops.mesh.primitive_cube_add(size=1.0, location=loc)
    o = bpy.context.active_object
    o.name = name
    o.scale = size
    o.data.materials.append(mat)
    return o


def clear_scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)


def build_room(floor_z=0.0, wall_y=2.2, side_wall_x=None, mat=None):
    """Wooden floor, off-white back wall (plane y = wall_y, either sign), skirting, props."""
    add_box(
        "floor",
        (12, 12, 0.02),
        (0, 0, floor_z - 0.01),
        material("floor", (0.55, 0.40, 0.27), 0.5, checker=(0.48, 0.34, 0.22)),
    )
    sgn = 1 if wall_y > 0 else -1
    wallmat = material("wall", (0.86, 0.84, 0.78), 0.9)
    add_box("backwall", (12, 0.05, 5), (0, wall_y + sgn * 0.025, floor_z + 2.5), wallmat)
    add_box(
        "skirting",
        (12, 0.03, 0.08),
        (0, wall_y - sgn * 0.01, floor_z + 0.04),
        material("skirt", (0.95, 0.95, 0.93)),
    )
    if side_wall_x is not None:
        add_box(
            "sidewall",
            (0.05, 12, 5),
            (side_wall_x, 0, floor_z + 2.5),
            material("wall2", (0.80, 0.82, 0.80), 0.9),
        )
    # a couple of room props for context
    add_box(
        "cupboard",
        (0.8, 0.4, 0.9),
        (-2.0, wall_y - sgn * 0.2, floor_z + 0.45),
        material("wood2", (0.45, 0.32, 0.22), 0.6),
    )
    add_box(
        "picture",
        (0.6, 0.02, 0.4),
        (1.4, wall_y - sgn * 0.01, floor_z + 1.6),
        material("pic", (0.35, 0.5, 0.6), 0.4),
    )
    add_box(
        "plantpot",
        (0.25, 0.25, 0.35),
        (2.2, wall_y - sgn * 0.3, floor_z + 0.175),
        material("pot", (0.75, 0.45, 0.3), 0.6),
    )
    if mat is not None:
        size, loc, rgb = mat
        add_box("mat", size, loc, material("yogamat", rgb, 0.9))


def add_lights(target=(0, 0, 1.0), key_dir=(-1.5, -2.5, 3.0), power_scale=(1.0, 1.0, 1.0), ambient=0.6):
    """World ambient plus key, fill and top area lights aimed at `target`.
    power_scale multiplies the key, fill and top powers (the clip's seed varies them slightly)."""
    world = bpy.data.worlds.new("world")
    bpy.context.scene.world = world
    world.use_nodes = True
    bg = world.node_tree.nodes["Background"]
    bg.inputs["Color"].default_value = (0.30, 0.30, 0.32, 1)
    bg.inputs["Strength"].default_value = ambient
    t = Vector(target)
    for (nm, off, power, size), k in zip(
        (
            ("key", Vector(key_dir), 900, 2.0),
            ("fill", Vector((2.5, -2.0, 2.0)), 350, 3.0),
            ("top", Vector((0, 0.5, 3.2)), 250, 3.0),
        ),
        power_scale,
    ):
        ld = bpy.data.lights.new(nm, "AREA")
        ld.energy = power * k
        ld.size = size
        lo = bpy.data.objects.new(nm, ld)
        bpy.context.scene.collection.objects.link(lo)
        lo.location = t + off
        lo.rotation_euler = (t - lo.location).to_track_quat("-Z", "Y").to_euler()


def add_camera(loc, look_at, lens=28.0):
    cd = bpy.data.cameras.new("cam")
    cd.lens = lens
    cd.sensor_width = 36
    cam = bpy.data.objects.new("cam", cd)
    bpy.context.scene.collection.objects.link(cam)
    cam.location = Vector(loc)
    cam.rotation_euler = (Vector(look_at) - cam.location).to_track_quat("-Z", "Y").to_euler()
    bpy.context.scene.camera = cam
    return cam


def render_settings(w=640, h=480, engine="BLENDER_EEVEE", samples=16, fps=30):
    s = bpy.context.scene
    s.render.engine = engine
    s.render.resolution_x = w
    s.render.resolution_y = h
    s.render.resolution_percentage = 100
    s.render.fps = fps
    s.render.image_settings.file_format = "PNG"
    s.render.image_settings.color_mode = "RGB"
    s.view_settings.view_transform = "Filmic"
    s.view_settings.look = "Medium Contrast"
    if engine == "BLENDER_EEVEE":
        e = s.eevee
        e.taa_render_samples = samples
        e.use_gtao = True
        e.gtao_distance = 0.4
        e.use_soft_shadows = True
        e.shadow_cube_size = "1024"
        e.shadow_cascade_size = "1024"
    elif engine == "CYCLES":
        s.cycles.samples = samples
        s.cycles.device = "CPU"


def project(cam, co):
    s = bpy.context.scene
    p = world_to_camera_view(s, cam, Vector(co))
    return (p.x * s.render.resolution_x, (1.0 - p.y) * s.render.resolution_y, p.z)
