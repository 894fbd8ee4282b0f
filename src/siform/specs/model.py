"""The exercise spec: everything siform knows about one exercise, as validated, frozen models.

Therapists edit these files, so the models are strict: a misspelt key is an error (``extra =
"forbid"``), every closed choice is a ``Literal``, a number must be written as a number (``8``,
not ``"8"``: strict mode, so a quoted limit is not quietly read), NaN and infinity are refused
(a ``nan`` limit would pass or fail every rep without saying so), and cross-references (a check
naming a signal, a view) are checked on load. ``exercise_specs/_example.toml`` documents every key.
"""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

Side = Literal["left", "right"]
Laterality = Literal["bilateral", "unilateral"]
Posture = Literal["standing", "lying", "side_lying", "all_fours"]
Facing = Literal["side", "front"]
Elevation = Literal["low", "raised", "any"]
Space = Literal["image", "world"]
Kind = Literal["reps", "hold"]
Direction = Literal["up", "down"]
When = Literal["rep", "ascent", "top", "descent", "peak", "hold"]
Reduce = Literal["max", "min", "mean", "max_abs", "range", "at_peak", "duration_s"]
Severity = Literal["major", "minor"]
Baseline = Literal["absolute", "set_median"]

Id = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=48)]
Text = Annotated[str, Field(min_length=1, max_length=2000)]
ArgValue = str | float | int | bool | list[str]


MAX_CUTOFF_HZ = 12.0
"""Highest review low-pass cutoff a spec may ask for. Movement in these exercises lies below about
3 Hz; above 12 Hz the filter would remove nothing of it and would reach the Nyquist frequency of a
25 fps video (12.5 Hz), where a Butterworth filter cannot be designed at all."""

Weight = Annotated[float, Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class ViewSpec(_Model):
    """A camera placement the exercise can be judged from; the first listed is the recommended one."""

    id: Id
    facing: Facing
    """Which way the camera looks at the person: from their ``side`` or from the ``front``."""
    elevation: Elevation = "any"
    """``raised``: camera above the person looking down (about 40 degrees), needed to see a
    lying person's pelvis tilt; ``low``: about the person's own height; ``any``: either."""
    how: Text
    """Placement instructions shown to the patient."""


class SignalSpec(_Model):
    """A named per-frame quantity computed by a function of ``siform.signals.registry``."""

    fn: Id
    args: dict[str, ArgValue] = Field(default_factory=dict)
    """Keyword arguments; ``side`` may be ``left``, ``right``, ``working`` or ``stance``."""
    unit: Literal["deg", "ratio", "px", "s"] = "ratio"
    label: Text | None = None
    """What a therapist reads on a plot axis."""


class Prescription(_Model):
    """Default dose, as a therapist writes it: sets x reps, or sets x holds of ``hold_s`` seconds."""

    sets: int = Field(ge=1, le=20)
    reps: int | None = Field(default=None, ge=1, le=100)
    """Reps per set; for a hold exercise, holds per set (1 if not given)."""
    hold_s: float | None = Field(default=None, gt=0, le=600)
    rest_s: float = Field(default=60, ge=0, le=900)
    source: Literal["spec", "therapist"] = "spec"
    """Where this dose and the checks' limits came from: the spec file, or the patient's therapist
    (``siform sync``; :func:`siform.prescription.apply_prescription`). Specs never set it."""
    updated_utc: str | None = None
    """For ``therapist``: when the therapist saved the prescription (ISO 8601, UTC)."""


class RepSpec(_Model):
    """How the driving signal defines one repetition (a hysteresis state machine).

    For ``direction = "up"`` a rep leaves the rest band (``signal < rest``), reaches the top band
    (``signal > top``) and comes back below ``rest``. The gap between ``rest`` and ``top`` is the
    hysteresis; ``partial`` (between them) marks an attempt that never reached the top.
    """

    signal: Id
    direction: Direction
    rest: float
    top: float
    partial: float | None = None
    min_rep_s: float = Field(default=0.8, gt=0)
    max_rep_s: float = Field(default=20.0, gt=0)
    min_top_s: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        lo, hi = (self.rest, self.top) if self.direction == "up" else (self.top, self.rest)
        if not lo < hi:
            side = "below" if self.direction == "up" else "above"
            raise ValueError(f"for direction '{self.direction}', rest must be {side} top")
        if self.partial is not None and not lo < self.partial < hi:
            raise ValueError("partial must lie between rest and top")
        if self.max_rep_s <= self.min_rep_s:
            raise ValueError("max_rep_s must be greater than min_rep_s")
        return self


class Bound(_Model):
    """A closed interval with either end optional; at least one end is required."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one_end(self) -> Self:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        return self

    def contains(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


class HoldCondition(Bound):
    signal: Id


class HoldSpec(_Model):
    """A timed hold: the clock runs only while every condition holds."""

    conditions: list[HoldCondition] = Field(min_length=1)
    grace_s: float = Field(default=0.5, ge=0, le=5)
    """Breaks shorter than this (a wobble, a missed frame) do not stop the clock."""
    min_hold_s: float = Field(default=3.0, gt=0)
    """Shorter holds are not counted (the person was passing through the posture)."""


class CheckSpec(_Model):
    """One form check, evaluated once per rep (or per hold)."""

    id: Id
    name: Text
    signal: Id
    when: When
    reduce: Reduce
    limit: Bound
    baseline: Baseline = "absolute"
    """``set_median``: the limit applies to the value minus the median of the set's reps, for
    quantities whose absolute size the camera cannot measure but whose change it can."""
    severity: Severity = "major"
    weight: Weight = 1.0
    cue: Text
    """Short instruction shown when the check fails, in the patient's words."""
    views: list[Id] | None = None
    """Views this check is valid from; default all of the exercise's views."""
    not_judged_when_failed: list[Id] = Field(default_factory=list)
    """Other checks of the exercise whose failure on a rep leaves this one unjudged on that rep:
    the landmarks cannot tell the two faults apart (a dropping straight leg moves MediaPipe's hip)."""


class GateSpec(_Model):
    """What must be in view before anything is scored."""

    landmarks: list[Id] = Field(min_length=1)
    min_visibility: float = Field(default=0.5, ge=0, le=1)


class FilterSpec(_Model):
    min_visibility: float = Field(default=0.3, ge=0, le=1)
    max_gap_ms: float = Field(default=300, ge=0)
    """Gaps up to this long are bridged; a longer gap inside a rep voids it."""
    cutoff_hz: float = Field(default=4.0, gt=0, le=MAX_CUTOFF_HZ)
    """Zero-phase low-pass for review (human movement in these exercises is below ~3 Hz); at most
    :data:`MAX_CUTOFF_HZ`."""
    one_euro_min_cutoff: float = Field(default=1.0, gt=0)
    one_euro_beta: float = Field(default=0.05, ge=0)


class RedFlag(_Model):
    """A warning sign that means "no exercise today": asked as a yes/no question before the first set
    of a live session. A yes stops the session with advice to contact the therapist, or, for an
    ``urgent`` one (a possible emergency), to seek urgent care now."""

    id: Id
    ask: Text
    """The question, in plain words a patient answers with yes or no."""
    urgent: bool = False


GENERAL_RED_FLAGS: tuple[RedFlag, ...] = (
    RedFlag(
        id="bladder_bowel",
        ask="Have you had new trouble controlling your bladder or bowels (leaking, or not being able to go)?",
        urgent=True,
    ),
    RedFlag(
        id="saddle_numbness",
        ask="Is there new numbness or loss of feeling between your legs, around your genitals, "
        "buttocks or inner thighs (where you would sit on a saddle)?",
        urgent=True,
    ),
    RedFlag(
        id="leg_numbness",
        ask="Do you have numbness, pins and needles or tingling running down either leg?",
    ),
    RedFlag(
        id="leg_weakness",
        ask="Has a leg or foot become weaker than before, or does a foot catch or drag as you walk?",
    ),
    RedFlag(
        id="pain_worsening",
        ask="Has your pain been getting worse while you do this exercise, or from one session to the next?",
    ),
)
"""Asked before every live session, after the exercise's own: the warning signs of back and pelvic
pain that call for a therapist (numbness or weakness in a leg, pain that keeps worsening) or for
urgent care (loss of bladder or bowel control, saddle numbness), whatever the exercise."""


class ExerciseSpec(_Model):
    id: Id
    name: Text
    instructions: Text
    kind: Kind
    laterality: Laterality
    posture: Posture | None = None
    """How the body lies while exercising: ``standing``, ``lying`` (on the back), ``side_lying``
    (on one side, facing the camera) or ``all_fours``. Used to recognise the exercise in a video
    (``siform analyze --exercise auto``); every bundled spec gives it."""
    equipment: list[Text] = Field(default_factory=list)
    views: list[ViewSpec] = Field(min_length=1)
    prescription: Prescription
    signals: dict[Id, SignalSpec] = Field(min_length=1)
    rep: RepSpec | None = None
    hold: HoldSpec | None = None
    checks: list[CheckSpec] = Field(default_factory=list)
    gate: GateSpec
    filter: FilterSpec = Field(default_factory=FilterSpec)
    weights: dict[Severity, Weight] = Field(default_factory=lambda: {"major": 2.0, "minor": 1.0})
    """Score weight per severity, multiplied by each check's own weight."""
    red_flags: list[RedFlag] = Field(default_factory=list)
    """Warning signs this exercise in particular can provoke (a stretch that pulls on the sciatic
    nerve...), asked before :data:`GENERAL_RED_FLAGS`; an entry with a general one's id rewords it."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        # Messages start with the key path: a model-level error has no location of its own.
        if self.kind == "reps" and self.rep is None:
            raise ValueError("rep: kind 'reps' needs a [rep] table")
        if self.kind == "hold" and self.hold is None:
            raise ValueError("hold: kind 'hold' needs a [hold] table")
        if self.kind == "reps" and self.prescription.reps is None:
            raise ValueError("prescription.reps: required for a rep exercise")
        if self.kind == "hold" and self.prescription.hold_s is None:
            raise ValueError("prescription.hold_s: required for a hold")
        known = set(self.signals)
        refs = [("rep.signal", self.rep.signal)] if self.rep else []
        if self.hold:
            refs += [(f"hold.conditions[{i}].signal", c.signal) for i, c in enumerate(self.hold.conditions)]
        refs += [(f"checks[{i}].signal", c.signal) for i, c in enumerate(self.checks)]
        for where, name in refs:
            if name not in known:
                raise ValueError(f"{where}: unknown signal '{name}' (defined: {', '.join(sorted(known))})")
        view_ids = {v.id for v in self.views}
        ids: set[str] = set()
        for i, check in enumerate(self.checks):
            if check.id in ids:
                raise ValueError(f"checks[{i}].id: '{check.id}' is used twice")
            ids.add(check.id)
            for v in check.views or []:
                if v not in view_ids:
                    raise ValueError(f"checks[{i}].views: unknown view '{v}'")
            for other in check.not_judged_when_failed:
                if other not in {c.id for c in self.checks} or other == check.id:
                    raise ValueError(f"checks[{i}].not_judged_when_failed: '{other}' is not another check")
            if self.kind == "hold" and check.when != "hold":
                raise ValueError(f"checks[{i}].when: a hold exercise's checks use when = 'hold'")
            if self.kind == "reps" and check.when == "hold":
                raise ValueError(f"checks[{i}].when: 'hold' is only for hold exercises")
        flag_ids: set[str] = set()
        for i, flag in enumerate(self.red_flags):
            if flag.id in flag_ids:
                raise ValueError(f"red_flags[{i}].id: '{flag.id}' is used twice")
            flag_ids.add(flag.id)
        try:
            self.checks_in_dependency_order()
        except CycleError as exc:
            cycle = exc.args[1]
            i = next(k for k, c in enumerate(self.checks) if c.id == cycle[0])
            raise ValueError(
                f"checks[{i}].not_judged_when_failed: '{cycle[0]}' ends up waiting on itself"
            ) from None
        return self

    def checks_in_dependency_order(self) -> list[CheckSpec]:
        """Checks with every check they wait on (``not_judged_when_failed``) before them."""
        by_id = {c.id: c for c in self.checks}
        graph = {c.id: c.not_judged_when_failed for c in self.checks}
        return [by_id[i] for i in TopologicalSorter(graph).static_order()]

    def checkin_red_flags(self) -> list[RedFlag]:
        """Every red flag a check-in asks: the exercise's own, then the general ones it does not reword."""
        own = {f.id for f in self.red_flags}
        return [*self.red_flags, *(f for f in GENERAL_RED_FLAGS if f.id not in own)]

    def view(self, view_id: str) -> ViewSpec:
        for v in self.views:
            if v.id == view_id:
                return v
        raise KeyError(view_id)

    def check_views(self, check: CheckSpec) -> list[str]:
        return check.views if check.views is not None else [v.id for v in self.views]
