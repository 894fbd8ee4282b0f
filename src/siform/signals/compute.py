"""A spec's named signals, bound to one session's sides and computed over landmark arrays.

Review computes every signal over the whole recording in one vectorised call per signal; live
coaching calls the same functions over a short trailing buffer. Either way the numbers come from
the same code, so a rep judged live and the same rep reviewed afterwards agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from siform.signals import registry
from siform.specs.model import ExerciseSpec, SignalSpec

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class BoundSignal:
    name: str
    spec: SignalSpec
    args: dict[str, Any]
    landmarks: tuple[str, ...]


def other_side(side: str) -> str:
    return "right" if side == "left" else "left"


def side_map(working: str | None, near: str | None) -> dict[str, str]:
    """Relative side names -> ``left``/``right`` for this session."""
    sides: dict[str, str] = {}
    if working:
        sides |= {"working": working, "stance": other_side(working)}
    if near:
        sides |= {"near": near, "far": other_side(near)}
    return sides


class SignalSet:
    """The spec's signals with sides resolved; ``compute(pts, t_ms)`` -> name -> ``(T,)``."""

    def __init__(self, spec: ExerciseSpec, sides: Mapping[str, str]) -> None:
        self.bound: dict[str, BoundSignal] = {}
        for name, sig in spec.signals.items():
            args = registry.resolve_args(sig.fn, sig.args, sides)
            unresolved = [v for k, v in args.items() if k in registry.REGISTRY[sig.fn].side_params
                          and v not in ("left", "right")]  # fmt: skip
            if unresolved:
                raise ValueError(f"signal '{name}' needs side '{unresolved[0]}', which is not known yet")
            landmarks = tuple(registry.required_landmarks(sig.fn, args))
            self.bound[name] = BoundSignal(name, sig, args, landmarks)

    def compute(
        self,
        pts: npt.NDArray[Any],
        t_ms: npt.NDArray[Any],
        names: list[str] | None = None,
        world: npt.NDArray[Any] | None = None,
        yardsticks: Mapping[str, float] | None = None,
    ) -> dict[str, FloatArray]:
        """``names`` (default: all) -> ``(T,)`` values over ``pts`` ``(T, 33, 2)`` image pixels, or
        for signals in world space over ``world`` ``(T, 33, 3)`` (all NaN when it is not given: the
        rig's 2D truth joints, say, have no 3D). ``yardsticks``: signal name -> the set-wide
        yardstick to use instead of the one over the frames given (``set`` signals, live)."""
        bound = self.bound if names is None else {n: self.bound[n] for n in names}
        out: dict[str, FloatArray] = {}
        for name, b in bound.items():
            if registry.REGISTRY[b.spec.fn].space == "world":
                if world is None:
                    out[name] = np.full(np.shape(pts)[:-2], np.nan)
                    continue
                source = world
            else:
                source = pts
            stick = (yardsticks or {}).get(name)
            out[name] = np.asarray(registry.compute(b.spec.fn, b.args, source, t_ms, stick), dtype=np.float64)
        return out

    def uses_world(self) -> bool:
        return any(registry.REGISTRY[b.spec.fn].space == "world" for b in self.bound.values())

    def landmarks(self, names: list[str] | None = None) -> list[str]:
        """Landmarks the given signals (default: all) read, in first-use order."""
        out: list[str] = []
        for name in names or list(self.bound):
            for lm in self.bound[name].landmarks:
                if lm not in out:
                    out.append(lm)
        return out
