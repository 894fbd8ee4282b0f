"""What every exercise module of the renderer shares (runs inside Blender 3.4).

The clip's context (`Ctx`: view, reps, seeded variation, side, the faults of each rep), the rep
schedule, the rig wrapper with leg/arm helpers, and the small declarations an exercise module makes
about its faults and about how its truth checks are judged. Exercise modules (`ex_*.py`) import
from here; make_clip.py wires them.

Conventions: Blender world, Z up, metres. Every exercise is posed for its canonical side, the
person's left (the working leg of a unilateral exercise, the side that drops in a bilateral one).
`--side right` mirrors the person and their props across the body's mid-plane and moves the camera
to the mirrored place, so the same code renders the other side.
"""

import math
from dataclasses import dataclass, field

import numpy as np
from human import R4, T, swing, two_bone_ik
from mathutils import Quaternion, Vector

D2R = math.pi / 180
X, Y, Z = Vector((1, 0, 0)), Vector((0, 1, 0)), Vector((0, 0, 1))
# MediaPipe landmark index -> rig bone whose head is the joint centre
MP_JOINTS = {
    11: "upperarm01.L",
    12: "upperarm01.R",
    13: "lowerarm01.L",
    14: "lowerarm01.R",
    15: "wrist.L",
    16: "wrist.R",
    23: "upperleg01.L",
    24: "upperleg01.R",
    25: "lowerleg01.L",
    26: "lowerleg01.R",
    27: "foot.L",
    28: "foot.R",
}
METRIC_BONES = ("toe2-1.L", "toe2-1.R", "head")
"""Bones whose heads the exercise metrics may read besides MP_JOINTS (the toe line of each foot;
the head bone's head, at the top of the neck near the ear's nodding axis, for the cat-cow's head
drop); they are not projected into the truth's joints."""
SIDES = {"L": 1.0, "R": -1.0}


@dataclass
class Fault:
    """A form fault an exercise can render. `magnitude` is in `unit` at the fault's full size (it
    ramps in with the movement). `check` is the spec check meant to catch it."""

    unit: str
    default: float
    check: str
    description: str


@dataclass
class TruthCheck:
    """How the truth judges one spec check on the rig's own geometry: `metric` (a key of the
    exercise's metrics) reduced over the frames of `phases` of a rep with `reduce` (mean, max,
    min, max_abs, mean_abs, range, duration_s), failing outside [min, max]. The limits are the clinical size the
    spec's limit stands for (for example 7 degrees of pelvic drop for a 0.025 image ratio), in the
    metric's own unit, so a rep's expected verdict follows from what the body really did."""

    metric: str
    phases: tuple
    reduce: str = "mean"
    min: float = None
    max: float = None
    why: str = ""


@dataclass
class Exercise:
    """What an exercise module declares. `views`: view name -> short description; the first is the
    default. `mirror_axis`: 0 or 1, the world axis across which --side right mirrors the person
    (the axis running through their left and right). `signed_metrics`: metrics whose sign follows
    the person's left/right and flips for a mirrored clip. `signal_truth`: spec signal -> (metric,
    sign) for signals that measure the same quantity as a truth metric (sign +1 or -1 for the
    canonical left side; it flips with the side when the signal is in the person's left/right
    terms, `side_signed`)."""

    name: str
    spec: str
    views: dict
    faults: dict
    primary_fault: str
    setup: object
    checks: dict = field(default_factory=dict)
    mirror_axis: int = 0
    unilateral: bool = False
    signed_metrics: tuple = ()
    signal_truth: dict = field(default_factory=dict)
    default_fault_rep: int = 3
    default_reps: int = 5


def rot_about(p, axis, ang):
    p = Vector(p)
    return T(p) @ R4(Quaternion(Vector(axis), ang)) @ T(-p)


def ease(u):
    u = min(max(u, 0.0), 1.0)
    return 0.5 - 0.5 * math.cos(math.pi * u)


class Variation:
    """All seeded randomness of a clip. jitter=0 gives the nominal motion, camera and lights."""

    def __init__(self, seed, nreps, jitter=1.0):
        rng = np.random.default_rng(seed)
        j = float(jitter)
        self.seed, self.jitter = seed, j
        self.lead = 0.5 + j * float(rng.uniform(0.0, 0.3))  # s of rest before rep 1
        self.tempo = (1.0 + j * rng.uniform(-0.08, 0.08, nreps)).tolist()  # per-rep duration scale
        self.amp = (1.0 + j * rng.uniform(-0.07, 0.03, nreps)).tolist()  # per-rep range of motion
        self.cam_loc = (j * rng.uniform(-0.03, 0.03, 3)).tolist()  # m
        self.cam_aim = (j * rng.uniform(-0.02, 0.02, 3)).tolist()  # m
        self.light = (1.0 + j * rng.uniform(-0.12, 0.12, 3)).tolist()  # key, fill, top power
        self.ambient = 0.6 * (1.0 + j * float(rng.uniform(-0.1, 0.1)))

    def as_dict(self):
        return {k: v for k, v in vars(self).items()}


class Ctx:
    """The clip being made: view, number of reps, seeded variation, side, and the faults of each
    rep ({0-based rep: {fault kind: full magnitude}})."""

    def __init__(self, view, nreps, var, faults, side="left", mirror_axis=0):
        self.view, self.nreps, self.var, self.faults = view, nreps, var, faults
        self.side, self.mirror_axis = side, mirror_axis

    def fault(self, k, kind):
        """Full magnitude of `kind` in rep k (0 when that rep does not carry it)."""
        return float(self.faults.get(k, {}).get(kind, 0.0)) if k >= 0 else 0.0

    def amp(self, k):
        return self.var.amp[k] if k >= 0 else 1.0

    def mirror(self, v):
        v = Vector(v)
        if self.side == "right":
            v[self.mirror_axis] = -v[self.mirror_axis]
        return v

    def camera(self, loc, aim):
        """Jittered camera location and aim point, mirrored for the right side."""
        loc = Vector(loc) + Vector(self.var.cam_loc)
        aim = Vector(aim) + Vector(self.var.cam_aim)
        return self.mirror(loc), self.mirror(aim)

    def lights(self, key_dir):
        return tuple(self.mirror(key_dir))


class Schedule:
    """lead rest, then n reps of phases [(name, dur, kind)] with kind in up/hold/down/rest.
    tempo[k] scales every phase of rep k; scale[k][name] scales one phase of rep k (a tempo fault).
    """

    def __init__(self, lead, phases, nreps, tail=0.4, tempo=None, scale=None):
        self.lead, self.phases, self.nreps, self.tail = lead, phases, nreps, tail
        self.tempo = list(tempo) if tempo is not None else [1.0] * nreps
        self.scale = scale or {}
        self.durs = [
            [d * self.tempo[k] * self.scale.get(k, {}).get(name, 1.0) for name, d, _ in phases]
            for k in range(nreps)
        ]
        self.starts = [lead]
        for k in range(nreps):
            self.starts.append(self.starts[-1] + sum(self.durs[k]))
        self.duration = self.starts[-1] + tail

    def at(self, t):
        if t < self.lead or t >= self.starts[-1]:
            return -1, "rest", 0.0
        k = max(i for i in range(self.nreps) if self.starts[i] <= t)
        u = t - self.starts[k]
        for (name, _, kind), d in zip(self.phases, self.durs[k]):
            if u < d:
                f = u / d
                s = {"up": ease(f), "hold": 1.0, "down": 1.0 - ease(f), "rest": 0.0}[kind]
                return k, name, s
            u -= d
        return k, "rest", 0.0


class Rig:
    def __init__(self, poser, info):
        self.P = poser
        h = poser.head
        self.hip = {s: h("upperleg01." + s) for s in SIDES}
        self.knee = {s: h("lowerleg01." + s) for s in SIDES}
        self.ankle = {s: h("foot." + s) for s in SIDES}
        self.shoulder = {s: h("upperarm01." + s) for s in SIDES}
        self.elbow = {s: h("lowerarm01." + s) for s in SIDES}
        self.wrist = {s: h("wrist." + s) for s in SIDES}
        self.Lt = (self.knee["L"] - self.hip["L"]).length
        self.Ls = (self.ankle["L"] - self.knee["L"]).length
        self.Lu = (self.elbow["L"] - self.shoulder["L"]).length
        self.Lf = (self.wrist["L"] - self.elbow["L"]).length
        self.sole_z = info["sole_z"]
        self.back_y = info["back_y"]
        self.ankle_h = self.ankle["L"].z - self.sole_z

    def leg(self, G, s, H, A, pole, base=Quaternion(), foot=None):
        """Set thigh/shank transforms for hip H -> ankle A (world). foot: rotation for the foot
        (placed at A); None = foot rigid with the shank."""
        K = two_bone_ik(H, A, self.Lt, self.Ls, pole)
        rth = swing(self.knee[s] - self.hip[s], K - H, base)
        gth = T(H) @ R4(rth) @ T(-self.hip[s])
        A2 = K + (A - K).normalized() * self.Ls
        rsh = swing(self.ankle[s] - self.knee[s], A2 - K, rth)
        gsh = T(K) @ R4(rsh) @ T(-self.knee[s])
        for b in ("upperleg01.", "upperleg02."):
            G[b + s] = gth
        for b in ("lowerleg01.", "lowerleg02."):
            G[b + s] = gsh
        if foot is not None:
            G["foot." + s] = T(A2) @ R4(foot) @ T(-self.ankle[s])
        return K

    def arm(self, G, s, Gparent, d_upper, d_fore, base):
        """Aim upper arm along d_upper and forearm along d_fore (world directions)."""
        S_ = Gparent @ self.shoulder[s]
        rua = swing(self.elbow[s] - self.shoulder[s], d_upper, base)
        gua = T(S_) @ R4(rua) @ T(-self.shoulder[s])
        E = gua @ self.elbow[s]
        rfa = swing(self.wrist[s] - self.elbow[s], d_fore, rua)
        gfa = T(E) @ R4(rfa) @ T(-self.elbow[s])
        G["upperarm01." + s] = gua
        G["upperarm02." + s] = gua
        G["lowerarm01." + s] = gfa
        G["lowerarm02." + s] = gfa
        return E, gfa @ self.wrist[s]


def labels(k, phase, s, ctx, now):
    """Per-frame truth labels: `now` maps fault kind -> its size in this frame."""
    active = {kind: round(float(v), 4) for kind, v in now.items() if v}
    first = next(iter(active), None)
    return {
        "rep": k,
        "phase": phase,
        "progress": s,
        "fault": first,
        "fault_magnitude_deg": float(active[first]) if first else 0.0,
        "faults": active,
    }
