"""The therapist's prescription form: what it shows of each spec, how a post becomes a
:class:`~siform.prescription.PatientPrescription`, and how two versions differ, in words.

Pure functions over the bundled specs and the posted fields, so the form's rules are tested
without a server. The rules a therapist meets:

- A blank dose field (sets, reps or holds per set, hold time, rest) means the spec's own value;
  the form shows it beside the input. Numbers must lie in the model's ranges (read from
  :class:`~siform.prescription.ExercisePrescription`'s fields, not repeated here).
- A check's tolerance is given per end: a blank minimum or maximum keeps the spec's end, so typing
  only a new maximum does not silently drop the spec's minimum. The stored override is the whole
  interval (the patient's machine replaces the spec's limit with it); a check whose interval equals
  the spec's is not stored at all.
- Unknown exercise or check ids, a hold time on a rep exercise, a side on a two-sided exercise, a
  minimum above the maximum: refused with a message naming the exercise and the field; nothing of
  the post is saved.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from siform.errors import SiformError
from siform.prescription import ExercisePrescription, PatientPrescription
from siform.specs.model import Bound, CheckSpec, ExerciseSpec

DOSE_FIELDS = ("sets", "reps", "hold_s", "rest_s")
INT_FIELDS = {"sets", "reps"}
SIDES = ("left", "right")


def _model_range(name: str) -> dict[str, float]:
    """The bounds pydantic enforces on a field of :class:`ExercisePrescription` (ge, gt, le, lt)."""
    out: dict[str, float] = {}
    for m in ExercisePrescription.model_fields[name].metadata:
        for key in ("ge", "gt", "le", "lt"):
            value = getattr(m, key, None)
            if value is not None:
                out[key] = float(value)
    return out


RANGES = {name: _model_range(name) for name in DOSE_FIELDS}


def _note_max() -> int:
    for m in ExercisePrescription.model_fields["note"].metadata:
        if getattr(m, "max_length", None) is not None:
            return int(m.max_length)
    return 1000


NOTE_MAX = _note_max()
"""Characters of a note for the patient (the model's limit)."""


def num(v: float | None) -> str:
    """A number as the spec or the therapist wrote it (``0.007``, ``164.5``, ``30``)."""
    return "" if v is None else f"{v:g}"


def unit_of(spec: ExerciseSpec, check: CheckSpec) -> str:
    """The unit of a check's value: seconds for a timed phase, else its signal's unit."""
    return "s" if check.reduce == "duration_s" else spec.signals[check.signal].unit


UNIT_WORDS = {"deg": "degrees", "ratio": "ratio", "s": "seconds", "px": "pixels"}


def with_unit(v: float | None, unit: str) -> str:
    if v is None:
        return ""
    return {"deg": f"{v:g}°", "s": f"{v:g} s"}.get(unit, f"{v:g}")


def limit_text(bound: Bound, unit: str, check: CheckSpec) -> str:
    """A limit as a therapist reads it: "at least 164.5°", "-0.025 to 0.025 from the set's median"."""
    lo, hi = with_unit(bound.min, unit), with_unit(bound.max, unit)
    if bound.min is not None and bound.max is not None:
        text = f"±{hi}" if math.isclose(-bound.min, bound.max) and bound.max > 0 else f"{lo} to {hi}"
    elif bound.min is not None:
        text = f"at least {lo}"
    else:
        text = f"at most {hi}" + (" either way" if check.reduce == "max_abs" else "")
    if check.baseline == "set_median":
        text += " from the set's median"
    return text


# -- what the form shows -----------------------------------------------------------------------------


@dataclass
class CheckRow:
    id: str
    name: str
    unit: str
    unit_words: str
    measured_as: str
    spec_limit: str
    spec_min: str
    spec_max: str
    min: str = ""
    max: str = ""


@dataclass
class ExerciseRow:
    """One exercise of the form: the spec's defaults beside the values to show in the inputs."""

    id: str
    name: str
    kind: str
    one_sided: bool
    spec_sets: int
    spec_reps: str
    spec_hold_s: str
    spec_rest_s: str
    checks: list[CheckRow]
    on: bool = False
    """Ticked in the form (as posted, or as currently prescribed)."""
    saved: bool = False
    """In the current (saved) prescription."""
    values: dict[str, str] = field(default_factory=dict)
    """Input values by field (``sets``, ``reps``, ``hold_s``, ``rest_s``, ``side``, ``note``)."""
    errors: list[str] = field(default_factory=list)


def form_rows(
    specs: Mapping[str, ExerciseSpec],
    current: PatientPrescription | None = None,
    posted: Mapping[str, str] | None = None,
) -> list[ExerciseRow]:
    """Every spec, by name, filled from the post being re-shown (after a refusal) or the current
    prescription (a limit override shows only the ends that differ from the spec's)."""
    rows = []
    for spec in sorted(specs.values(), key=lambda s: s.name.lower()):
        p = spec.prescription
        checks = []
        ep = current.for_exercise(spec.id) if current is not None and posted is None else None
        for c in spec.checks:
            unit = unit_of(spec, c)
            row = CheckRow(
                id=c.id,
                name=c.name,
                unit=unit,
                unit_words=UNIT_WORDS.get(unit, unit),
                measured_as=spec.signals[c.signal].label or c.signal,
                spec_limit=limit_text(c.limit, unit, c),
                spec_min=num(c.limit.min),
                spec_max=num(c.limit.max),
            )
            if posted is not None:
                row.min = posted.get(f"ex.{spec.id}.limit.{c.id}.min", "")
                row.max = posted.get(f"ex.{spec.id}.limit.{c.id}.max", "")
            elif ep is not None and c.id in ep.limits:
                given = ep.limits[c.id]
                row.min = num(given.min) if given.min != c.limit.min else ""
                row.max = num(given.max) if given.max != c.limit.max else ""
            checks.append(row)
        row_ = ExerciseRow(
            id=spec.id,
            name=spec.name,
            kind=spec.kind,
            one_sided=spec.laterality == "unilateral",
            spec_sets=p.sets,
            spec_reps=num(p.reps if p.reps is not None else (1 if spec.kind == "hold" else None)),
            spec_hold_s=num(p.hold_s),
            spec_rest_s=num(p.rest_s),
            checks=checks,
            saved=current is not None and current.for_exercise(spec.id) is not None,
        )
        if posted is not None:
            row_.on = bool(posted.get(f"ex.{spec.id}.on"))
            row_.values = {k: posted.get(f"ex.{spec.id}.{k}", "") for k in (*DOSE_FIELDS, "side", "note")}
        elif ep is not None:
            row_.on = True
            row_.values = {
                "sets": num(ep.sets),
                "reps": num(ep.reps),
                "hold_s": num(ep.hold_s),
                "rest_s": num(ep.rest_s),
                "side": ep.side or "",
                "note": ep.note,
            }
        rows.append(row_)
    return rows


# -- the post -> a prescription ---------------------------------------------------------------------------


class FormRefusedError(Exception):
    """The post was refused; ``messages`` say why, each naming the exercise and the field."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


FIELD_WORDS = {
    "sets": "sets",
    "reps": "reps (or holds) per set",
    "hold_s": "hold time (s)",
    "rest_s": "rest between sets (s)",
}


def _range_words(r: Mapping[str, float]) -> str:
    lo = f"at least {r['ge']:g}" if "ge" in r else f"more than {r['gt']:g}" if "gt" in r else ""
    hi = f"at most {r['le']:g}" if "le" in r else f"less than {r['lt']:g}" if "lt" in r else ""
    return " and ".join(x for x in (lo, hi) if x)


def _in_range(v: float, r: Mapping[str, float]) -> bool:
    return (
        ("ge" not in r or v >= r["ge"])
        and ("gt" not in r or v > r["gt"])
        and ("le" not in r or v <= r["le"])
        and ("lt" not in r or v < r["lt"])
    )


def _number(text: str, whole: bool) -> float | int | None:
    """A typed number (a decimal comma is read as a point); None for blank. ValueError if not one."""
    text = text.strip().replace(",", ".")
    if not text:
        return None
    v = float(text)
    if not math.isfinite(v):
        raise ValueError(text)
    if whole:
        if v != int(v):
            raise ValueError(text)
        return int(v)
    return v


def parse_form(
    form: Mapping[str, str],
    specs: Mapping[str, ExerciseSpec],
    patient_id: str,
    version: int,
    updated_utc: str,
    updated_by: str,
) -> PatientPrescription:
    """The prescription a posted form describes, or :class:`FormRefusedError` with every problem found.

    Fields are ``ex.<exercise>.on`` (prescribed), ``ex.<exercise>.<sets|reps|hold_s|rest_s|side|
    note>`` and ``ex.<exercise>.limit.<check>.<min|max>``; any other ``ex.`` field is refused."""
    errors: list[str] = []
    wanted: dict[str, dict[str, str]] = {}
    for key, value in form.items():
        if not key.startswith("ex."):
            continue
        parts = key.split(".")
        ex_id = parts[1] if len(parts) > 1 else ""
        spec = specs.get(ex_id)
        if spec is None:
            errors.append(f"Unknown exercise '{ex_id[:60]}': it is not one of the server's exercise specs.")
            continue
        rest = parts[2:]
        if len(rest) == 3 and rest[0] == "limit" and rest[2] in ("min", "max"):
            if rest[1] not in {c.id for c in spec.checks}:
                errors.append(f"{spec.name}: unknown check '{rest[1][:60]}'.")
                continue
        elif len(rest) != 1 or rest[0] not in (*DOSE_FIELDS, "side", "note", "on"):
            errors.append(f"{spec.name}: unknown field '{'.'.join(rest)[:60]}'.")
            continue
        wanted.setdefault(ex_id, {})[".".join(rest)] = value
    exercises = []
    for spec in sorted(specs.values(), key=lambda s: s.name.lower()):
        fields = wanted.get(spec.id, {})
        if not fields.get("on"):
            continue
        ex_errors: list[str] = []
        item: dict[str, Any] = {"exercise": spec.id}
        for name in DOSE_FIELDS:
            text = fields.get(name, "")
            try:
                v = _number(text, name in INT_FIELDS)
            except ValueError:
                kind = "a whole number" if name in INT_FIELDS else "a number"
                ex_errors.append(
                    f"{spec.name}: {FIELD_WORDS[name]} must be {kind}, not '{text.strip()[:20]}'."
                )
                continue
            if v is None:
                continue
            if name == "hold_s" and spec.kind != "hold":
                ex_errors.append(f"{spec.name}: a rep exercise has no hold time.")
                continue
            if not _in_range(v, RANGES[name]):
                ex_errors.append(
                    f"{spec.name}: {FIELD_WORDS[name]} must be {_range_words(RANGES[name])} (not {v:g})."
                )
                continue
            item[name] = v
        side = fields.get("side", "").strip()
        if side:
            if spec.laterality != "unilateral":
                ex_errors.append(f"{spec.name}: both sides work at once, so no side can be chosen.")
            elif side not in SIDES:
                ex_errors.append(f"{spec.name}: side must be left, right or both.")
            else:
                item["side"] = side
        note = fields.get("note", "").strip().replace("\r\n", "\n")
        if len(note) > NOTE_MAX:
            ex_errors.append(
                f"{spec.name}: the note holds at most {NOTE_MAX} characters (it has {len(note)})."
            )
        item["note"] = note
        limits: dict[str, Bound] = {}
        for c in spec.checks:
            given: dict[str, float | None] = {}
            for end in ("min", "max"):
                text = fields.get(f"limit.{c.id}.{end}", "")
                try:
                    given[end] = _number(text, whole=False)
                except ValueError:
                    ex_errors.append(
                        f"{spec.name}, {c.name}: the {end}imum must be a number, not '{text.strip()[:20]}'."
                    )
            if len(given) < 2 or (given["min"] is None and given["max"] is None):
                continue
            lo = given["min"] if given["min"] is not None else c.limit.min
            hi = given["max"] if given["max"] is not None else c.limit.max
            unit = unit_of(spec, c)
            if lo is not None and hi is not None and lo > hi:
                ex_errors.append(
                    f"{spec.name}, {c.name}: the minimum ({with_unit(lo, unit)}) is above the maximum "
                    f"({with_unit(hi, unit)})."
                )
                continue
            if (lo, hi) != (c.limit.min, c.limit.max):
                limits[c.id] = Bound(min=lo, max=hi)
        item["limits"] = limits
        hold = item.get("hold_s")
        if spec.hold is not None and hold is not None and hold < spec.hold.min_hold_s:
            ex_errors.append(
                f"{spec.name}: holds shorter than {spec.hold.min_hold_s:g} s are not counted by this "
                f"exercise (not {hold:g} s)."
            )
        if not ex_errors:
            try:
                ep = ExercisePrescription.model_validate(item)
            except ValidationError as exc:  # the model's own rules, should the checks above miss one
                for err in exc.errors(include_url=False):
                    where = ".".join(str(x) for x in err["loc"])
                    ex_errors.append(f"{spec.name}: {where}: {err['msg']}.")
            else:
                problem = _not_applicable(spec, ep)
                if problem:
                    ex_errors.append(f"{spec.name}: {problem}")
                else:
                    exercises.append(ep)
        errors += ex_errors
    if errors:
        raise FormRefusedError(errors)
    return PatientPrescription(
        patient_id=patient_id,
        version=version,
        updated_utc=updated_utc,
        updated_by=updated_by[:200],
        exercises=exercises,
    )


def _not_applicable(spec: ExerciseSpec, ep: ExercisePrescription) -> str | None:
    """Why the patient's machine would refuse ``ep`` for ``spec`` (it applies a prescription through
    the spec's own validation), asked of the client's own function so both sides agree."""
    import siform.prescription as rx

    apply = getattr(rx, "apply_prescription", None)
    if apply is None:
        return None
    try:
        apply(spec, ep)
    except SiformError as exc:  # worded for the patient; its hint (a command) is not for the therapist
        return exc.message
    return None


# -- doses and words -----------------------------------------------------------------------------------


def per_set(ep: ExercisePrescription, spec: ExerciseSpec) -> int:
    """Reps (or holds) per set: the therapist's, else the spec's (a hold spec without reps: one)."""
    if ep.reps is not None:
        return ep.reps
    return spec.prescription.reps if spec.prescription.reps is not None else 1


def sides(ep: ExercisePrescription, spec: ExerciseSpec) -> int:
    """How many sides the dose is done on: two for a one-sided exercise prescribed for both."""
    return 2 if spec.laterality == "unilateral" and ep.side is None else 1


def daily_dose(ep: ExercisePrescription, spec: ExerciseSpec) -> int:
    """Reps (or holds) a day: sets x per set, on each side it is prescribed for."""
    sets = ep.sets if ep.sets is not None else spec.prescription.sets
    return sets * per_set(ep, spec) * sides(ep, spec)


def dose_text(ep: ExercisePrescription, spec: ExerciseSpec) -> str:
    """ "2 × 10 reps a day", "1 × 3 holds of 30 s a day, each side", "…, left side only"."""
    sets = ep.sets if ep.sets is not None else spec.prescription.sets
    if spec.kind == "hold":
        hold = ep.hold_s if ep.hold_s is not None else spec.prescription.hold_s
        what = f"{sets} × {per_set(ep, spec)} holds" + (f" of {hold:g} s" if hold is not None else "")
    else:
        what = f"{sets} × {per_set(ep, spec)} reps"
    rest = ep.rest_s if ep.rest_s is not None else spec.prescription.rest_s
    text = f"{what} a day, rest {rest:g} s"
    if spec.laterality == "unilateral":
        text += f", {ep.side} side only" if ep.side else ", each side"
    return text


def limits_text(ep: ExercisePrescription, spec: ExerciseSpec) -> list[str]:
    out = []
    for c in spec.checks:
        if c.id in ep.limits:
            unit = unit_of(spec, c)
            out.append(
                f"{c.name}: {limit_text(ep.limits[c.id], unit, c)} (spec: {limit_text(c.limit, unit, c)})"
            )
    return out


def summary(p: PatientPrescription, specs: Mapping[str, ExerciseSpec]) -> list[dict[str, Any]]:
    """Per exercise: its name, dose in words, tolerance overrides and note (for pages)."""
    out = []
    for ep in p.exercises:
        spec = specs.get(ep.exercise)
        if spec is None:  # a spec removed from the server since: say so rather than guess
            out.append(
                {
                    "name": ep.exercise,
                    "dose": "(exercise no longer on this server)",
                    "limits": [],
                    "note": ep.note,
                }
            )
            continue
        out.append(
            {"name": spec.name, "dose": dose_text(ep, spec), "limits": limits_text(ep, spec), "note": ep.note}
        )
    return out


def changes(
    old: PatientPrescription | None, new: PatientPrescription, specs: Mapping[str, ExerciseSpec]
) -> list[str]:
    """What ``new`` changes against ``old``, one phrase per change (for the audit log and history)."""

    def name(ex_id: str) -> str:
        return specs[ex_id].name if ex_id in specs else ex_id

    before = {e.exercise: e for e in old.exercises} if old is not None else {}
    after = {e.exercise: e for e in new.exercises}
    out = []
    for ex_id, b in after.items():
        a = before.get(ex_id)
        if a is None:
            out.append(f"{name(ex_id)} added")
            continue
        parts = []
        for f in (*DOSE_FIELDS, "side"):
            x, y = getattr(a, f), getattr(b, f)
            if x != y:
                parts.append(f"{f} {_show(x)}→{_show(y)}")
        for check in sorted(a.limits.keys() | b.limits.keys()):
            x, y = a.limits.get(check), b.limits.get(check)
            if x != y:
                parts.append(f"limit {check} {_bound(x)}→{_bound(y)}")
        if a.note != b.note:
            parts.append("note changed")
        if parts:
            out.append(f"{name(ex_id)}: " + ", ".join(parts))
    out += [f"{name(ex_id)} removed" for ex_id in before if ex_id not in after]
    return out or ["no change"]


def _show(v: Any) -> str:
    if v is None:
        return "spec"
    return f"{v:g}" if isinstance(v, int | float) else str(v)


def _bound(b: Bound | None) -> str:
    if b is None:
        return "spec"
    return f"[{num(b.min) or '-'}, {num(b.max) or '-'}]"


def form_dict(items: Sequence[tuple[str, Any]]) -> dict[str, str]:
    """A posted form as a dict of strings (a repeated field keeps its last value)."""
    return {k: v for k, v in items if isinstance(v, str)}
