"""Signal names used in exercise specs -> the geometry functions that compute them.

Specs name a function (``fn = "joint_angle_deg"``) and its arguments; this table says which
arguments each function takes, which of them are sides, and which landmarks it reads (for the
camera-setup gate). Sides in specs may be relative: ``working``/``stance`` (the leg that moves /
the one that carries the body, in unilateral exercises) and ``near``/``far`` (the side facing the
camera / the hidden one, in side views); the engine resolves them once per session.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from siform.landmarks import by_name
from siform.signals import geometry as g

FloatArray = npt.NDArray[np.float64]
RELATIVE_SIDES: Final = frozenset({"working", "stance", "near", "far"})
SIDES: Final = frozenset({"left", "right"}) | RELATIVE_SIDES


Reach = Literal["frame", "window", "set"]
"""How far in time a signal's value at a frame reaches (see :attr:`SignalFn.reach`)."""
WINDOW_ARGS: Final = ("window_ms", "lag_ms")
"""Arguments whose sum is a ``window`` signal's look-back in milliseconds."""


@dataclass(frozen=True, slots=True)
class Yardstick:
    """A set-wide yardstick: the median of ``series`` (one value per frame) over every frame of the
    set, passed to the signal function as ``param``. Review computes it inside the function over the
    whole recording; live coaching keeps a running median of the set so far and passes it in, so a
    frame costs the same at minute ten as at second one."""

    series: Callable[[FloatArray], FloatArray]
    param: str = "yardstick"


@dataclass(frozen=True, slots=True)
class SignalFn:
    fn: Callable[..., FloatArray]
    params: frozenset[str]
    side_params: frozenset[str]
    landmarks: tuple[str, ...]
    """Joints it reads, as ``{side}_joint`` templates or plain names."""
    needs_time: bool = False
    reach: Reach = "frame"
    """Which frames its value at a frame depends on, the one place live coaching learns what
    history to keep (:func:`lookback_ms`): ``frame`` that frame alone; ``window`` the trailing
    ``window_ms`` (+ ``lag_ms``) of its arguments, causal, so live and review agree exactly on the
    same points; ``set`` a :class:`Yardstick` over the whole set (all frames given in review, the
    running set so far live, reconciled with the whole set when it ends)."""
    yardstick: Yardstick | None = None
    """For ``reach = "set"``: what the set-wide quantity is and how the function takes it."""
    space: Literal["image", "world"] = "image"
    """``world``: it reads MediaPipe's metric 3D landmarks ``(T, 33, 3)``, not image pixels."""
    draw: tuple[tuple[str, str], ...] = ()
    """Segments the overlay draws when a check on it fails (default: from ``landmarks``)."""

    @property
    def uses_history(self) -> bool:
        """Its value at a frame depends on other frames: live coaching must keep some."""
        return self.reach != "frame"


_SHOULDER_OFFSET: Final = Yardstick(g.shoulder_offset_px)

REGISTRY: Final[dict[str, SignalFn]] = {
    "joint_angle_deg": SignalFn(
        g.joint_angle_deg, frozenset({"side", "joint"}), frozenset({"side"}), ("{side}_{joint}",)
    ),
    "leg_alignment_deg": SignalFn(
        g.leg_alignment_deg,
        frozenset({"working_side"}),
        frozenset({"working_side"}),
        ("left_hip", "right_hip", "left_knee", "right_knee", "{working_side}_ankle"),
    ),
    "pelvic_obliquity_deg": SignalFn(
        g.pelvic_obliquity_deg, frozenset(), frozenset(), ("left_hip", "right_hip")
    ),
    "hip_drop_ratio": SignalFn(
        g.hip_drop_ratio, frozenset(), frozenset(), ("left_hip", "right_hip", "left_knee", "right_knee")
    ),
    "midline_hip_angle_deg": SignalFn(
        g.midline_hip_angle_deg,
        frozenset(),
        frozenset(),
        ("left_shoulder", "right_shoulder", "left_hip", "right_hip", "left_knee", "right_knee"),
        space="world",
        draw=(
            ("left_shoulder", "left_hip"),
            ("left_hip", "left_knee"),
            ("right_shoulder", "right_hip"),
            ("right_hip", "right_knee"),
        ),
    ),
    "hip_to_shoulder_offset_ratio": SignalFn(
        g.hip_to_shoulder_offset_ratio,
        frozenset(),
        frozenset(),
        ("left_hip", "right_hip", "left_shoulder", "right_shoulder"),
        reach="set",
        yardstick=_SHOULDER_OFFSET,
    ),
    "side_hip_drop_ratio": SignalFn(
        g.side_hip_drop_ratio,
        frozenset({"side"}),
        frozenset({"side"}),
        ("left_hip", "right_hip", "left_shoulder", "right_shoulder"),
        reach="set",
        yardstick=_SHOULDER_OFFSET,
    ),
    "knee_separation_ratio": SignalFn(
        g.knee_separation_ratio,
        frozenset({"by"}),
        frozenset(),
        ("left_knee", "right_knee", "left_ankle", "right_ankle"),
    ),
    "trunk_lean_deg": SignalFn(
        g.trunk_lean_deg,
        frozenset(),
        frozenset(),
        ("left_shoulder", "right_shoulder", "left_hip", "right_hip"),
    ),
    "bridge_height_ratio": SignalFn(
        g.bridge_height_ratio,
        frozenset({"side"}),
        frozenset({"side"}),
        ("{side}_shoulder", "{side}_hip", "{side}_knee"),
    ),
    "ankle_travel_ratio": SignalFn(
        g.ankle_travel_ratio,
        frozenset({"working_side"}),
        frozenset({"working_side"}),
        ("left_ankle", "right_ankle", "left_hip", "right_hip"),
    ),
    "stillness_ratio": SignalFn(
        g.stillness_ratio,
        frozenset({"window_ms", "landmarks"}),
        frozenset(),
        (),
        needs_time=True,
        reach="window",
    ),
    # Exercise signals A (single-leg lift, ball squat, band adduction, side plank, pelvic list).
    "planted_hip_angle_deg": SignalFn(
        g.planted_hip_angle_deg,
        frozenset({"side"}),
        frozenset({"side"}),
        ("{side}_shoulder", "{side}_hip", "{side}_knee", "{side}_ankle"),
    ),
    "thigh_drop_ratio": SignalFn(
        g.thigh_drop_ratio,
        frozenset(),
        frozenset(),
        ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"),
    ),
    "hip_lowering_ratio": SignalFn(
        g.hip_lowering_ratio,
        frozenset({"window_ms"}),
        frozenset(),
        ("left_hip", "right_hip", "left_ankle", "right_ankle"),
        needs_time=True,
        reach="window",
    ),
    "hip_lowering_speed": SignalFn(
        g.hip_lowering_speed,
        frozenset({"window_ms", "lag_ms"}),
        frozenset(),
        ("left_hip", "right_hip", "left_ankle", "right_ankle"),
        needs_time=True,
        reach="window",
    ),
    "hip_lift_ratio": SignalFn(
        g.hip_lift_ratio,
        frozenset({"side", "window_ms"}),
        frozenset({"side"}),
        ("{side}_shoulder", "{side}_hip", "{side}_ankle"),
        needs_time=True,
        reach="window",
    ),
    "hip_rise_ratio": SignalFn(
        g.hip_rise_ratio,
        frozenset({"side", "window_ms"}),
        frozenset({"side"}),
        ("{side}_hip", "{side}_ankle", "{side}_shoulder"),
        needs_time=True,
        reach="window",
    ),
    "hip_floor_lift_ratio": SignalFn(
        g.hip_floor_lift_ratio,
        frozenset({"side", "window_ms"}),
        frozenset({"side"}),
        ("{side}_hip", "{side}_elbow", "{side}_ankle", "{side}_shoulder"),
        needs_time=True,
        reach="window",
    ),
    "toe_out_ratio": SignalFn(
        g.toe_out_ratio,
        frozenset(),
        frozenset(),
        ("left_heel", "right_heel", "left_foot_index", "right_foot_index", "left_hip", "right_hip"),
    ),
    "toe_out_deg": SignalFn(
        g.toe_out_deg,
        frozenset(),
        frozenset(),
        ("left_heel", "right_heel", "left_foot_index", "right_foot_index", "left_hip", "right_hip"),
        draw=(("left_heel", "left_foot_index"), ("right_heel", "right_foot_index")),
    ),
    "ankle_out_ratio": SignalFn(
        g.ankle_out_ratio,
        frozenset({"side"}),
        frozenset({"side"}),
        ("{side}_ankle", "left_hip", "right_hip"),
    ),
    "body_line_deg": SignalFn(
        g.body_line_deg,
        frozenset({"side"}),
        frozenset({"side"}),
        ("{side}_shoulder", "{side}_hip", "{side}_ankle"),
    ),
    "hip_sag_ratio": SignalFn(
        g.hip_sag_ratio,
        frozenset({"side"}),
        frozenset({"side"}),
        ("{side}_shoulder", "{side}_hip", "{side}_ankle"),
    ),
    "pelvic_drop_deg": SignalFn(
        g.pelvic_drop_deg, frozenset({"side"}), frozenset({"side"}), ("left_hip", "right_hip")
    ),
    "leg_hike_ratio": SignalFn(
        g.leg_hike_ratio,
        frozenset({"side"}),
        frozenset({"side"}),
        ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"),
    ),
    "knee_drop_deg": SignalFn(
        g.knee_drop_deg,
        frozenset({"side", "window_ms"}),
        frozenset({"side"}),
        ("left_knee", "right_knee", "left_hip", "right_hip"),
        needs_time=True,
        reach="window",
    ),
    # Exercise signals B: clamshell, lying holds, stretches, cat-cow.
    "knee_lift_deg": SignalFn(
        g.knee_lift_deg,
        frozenset({"side"}),
        frozenset({"side"}),
        ("{side}_hip", "{side}_knee", "{side}_ankle"),
    ),
    "hip_separation_ratio": SignalFn(
        g.hip_separation_ratio,
        frozenset(),
        frozenset(),
        ("left_hip", "right_hip", "left_shoulder", "right_shoulder"),
    ),
    "knee_gap_ratio": SignalFn(
        g.knee_gap_ratio, frozenset(), frozenset(), ("left_knee", "right_knee", "left_hip", "right_hip")
    ),
    "knee_offset_ratio": SignalFn(
        g.knee_offset_ratio, frozenset(), frozenset(), ("left_knee", "right_knee", "left_hip", "right_hip")
    ),
    "ankle_to_knee_ratio": SignalFn(
        g.ankle_to_knee_ratio,
        frozenset({"working_side"}),
        frozenset({"working_side"}),
        ("{working_side}_ankle", "left_knee", "right_knee", "left_hip", "right_hip"),
    ),
    "knee_cross_ratio": SignalFn(
        g.knee_cross_ratio,
        frozenset({"working_side"}),
        frozenset({"working_side"}),
        ("{working_side}_knee", "left_hip", "right_hip"),
    ),
    "head_drop_deg": SignalFn(
        g.head_drop_deg,
        frozenset({"side"}),
        frozenset({"side"}),
        ("{side}_hip", "{side}_shoulder", "{side}_ear"),
    ),
}


def validate_signal_args(fn: str, args: Mapping[str, Any], laterality: str) -> str | None:
    """A sentence describing what is wrong with a spec's signal definition, or None."""
    entry = REGISTRY.get(fn)
    if entry is None:
        return f"fn: unknown signal function '{fn}' (known: {', '.join(sorted(REGISTRY))})"
    for key in args:
        if key not in entry.params:
            allowed = ", ".join(sorted(entry.params)) or "none"
            return f"args.{key}: '{fn}' takes no argument '{key}' (allowed: {allowed})"
    for key in entry.params - {"by"}:
        if key not in args:
            return f"args.{key}: '{fn}' needs this argument"
    for key in entry.side_params:
        side = args[key]
        if side not in SIDES:
            return f"args.{key}: '{side}' is not a side (use one of {', '.join(sorted(SIDES))})"
        if side in ("working", "stance") and laterality != "unilateral":
            return f"args.{key}: '{side}' only makes sense for a unilateral exercise"
    if fn == "joint_angle_deg" and args.get("joint") not in g.JOINT_CHAINS:
        return f"args.joint: must be one of {', '.join(g.JOINT_CHAINS)}"
    if fn == "knee_separation_ratio" and args.get("by", "ankle") not in ("ankle", "hip"):
        return "args.by: must be 'ankle' or 'hip'"
    if fn == "stillness_ratio":
        names = args.get("landmarks")
        if not isinstance(names, list) or not names:
            return "args.landmarks: give a list of landmark names"
        for name in names:
            try:
                by_name(name)
            except KeyError as exc:
                return f"args.landmarks: {exc.args[0]}"
    return None


def resolve_args(fn: str, args: Mapping[str, Any], sides: Mapping[str, str]) -> dict[str, Any]:
    """Turn relative sides into ``left``/``right`` and landmark names into indices."""
    entry = REGISTRY[fn]
    out = dict(args)
    for key in entry.side_params:
        out[key] = sides.get(out[key], out[key])
    if "landmarks" in out:
        out["landmarks"] = [int(by_name(n)) for n in out["landmarks"]]
    return out


def required_landmarks(fn: str, resolved_args: Mapping[str, Any]) -> list[str]:
    entry = REGISTRY[fn]
    names = [
        t.format(**{k: v for k, v in resolved_args.items() if isinstance(v, str)}) for t in entry.landmarks
    ]
    return names


def read_landmarks(fn: str, resolved_args: Mapping[str, Any]) -> list[int]:
    """Indices of every landmark ``fn`` reads with these arguments: its ``landmarks`` (what the gate
    needs visible) and the rest of what it touches (a joint angle's two end points, the torso a
    stillness is scaled by). Live coaching filters only these when it re-measures a finished rep."""
    names = required_landmarks(fn, resolved_args)
    if fn == "joint_angle_deg":
        names += [f"{resolved_args['side']}_{j}" for j in g.JOINT_CHAINS[resolved_args["joint"]]]
    if fn == "stillness_ratio":
        names += [f"{s}_{j}" for s in ("left", "right") for j in ("shoulder", "hip")]
    out = {int(by_name(n)) for n in names}
    out |= {int(i) for i in resolved_args.get("landmarks", [])}
    return sorted(out)


def lookback_ms(fn: str, resolved_args: Mapping[str, Any]) -> float:
    """How much history before a frame its value depends on: 0 for a ``frame`` signal, the sum of
    its :data:`WINDOW_ARGS` for a ``window`` one, infinity for a ``set`` one."""
    entry = REGISTRY[fn]
    if entry.reach == "frame":
        return 0.0
    if entry.reach == "set":
        return float("inf")
    return float(sum(float(resolved_args.get(k, 0.0)) for k in WINDOW_ARGS))


def compute(
    fn: str,
    resolved_args: Mapping[str, Any],
    pts: npt.NDArray[Any],
    t_ms: npt.NDArray[Any],
    yardstick: float | None = None,
) -> FloatArray:
    """``fn`` over ``pts``; ``yardstick`` (``set`` signals only) replaces the median the function
    would take over the frames given."""
    entry = REGISTRY[fn]
    kwargs = dict(resolved_args)
    if yardstick is not None:
        if entry.yardstick is None:
            raise ValueError(f"'{fn}' takes no yardstick: its reach is '{entry.reach}'")
        kwargs[entry.yardstick.param] = yardstick
    if entry.needs_time:
        return entry.fn(pts, t_ms, **kwargs)
    return entry.fn(pts, **kwargs)
