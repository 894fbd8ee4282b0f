"""A patient's prescription, as their therapist sets it on the server and ``siform sync`` brings it
to the patient's machine: which exercises, how many sets of how many reps (or holds of how long),
and tolerances that replace a spec's default limits for this patient.

This module is the one definition of that document on both sides: the server validates the
therapist's form into it and serves it as JSON; the client stores that JSON and reads it back with
:meth:`PatientPrescription.model_validate_json`. It imports neither OpenCV nor MediaPipe (the server
installs without them).

The wire format (``GET /api/v1/patients/{patient_id}/prescription``, stored by ``siform sync`` as
``prescription.json`` in the client folder)::

    {"kind": "siform.prescription", "format": 1, "patient_id": "...", "version": 3,
     "updated_utc": "2026-12-03T08:00:00+00:00", "updated_by": "Dr A. Example",
     "exercises": [{"exercise": "glute_bridge", "sets": 3, "reps": 12, "hold_s": null,
                    "rest_s": 60, "side": null, "limits": {"pelvic_drop": {"min": null, "max": 0.06}},
                    "note": "Slow on the way down."}]}

``version`` goes up by one with every change the therapist saves (0 and no exercises: nothing
prescribed yet), so the patient's machine can say whether what it holds is current.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from siform.errors import SiformError, os_reason
from siform.specs.model import Bound, ExerciseSpec, Id, Side

PRESCRIPTION_FORMAT = 1


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ExercisePrescription(_Model):
    """One exercise of the programme. ``None`` for a dose field means the spec's default."""

    exercise: Id
    sets: int | None = Field(default=None, ge=1, le=20)
    reps: int | None = Field(default=None, ge=1, le=100)
    """Reps per set; for a hold exercise, holds per set."""
    hold_s: float | None = Field(default=None, gt=0, le=600)
    rest_s: float | None = Field(default=None, ge=0, le=900)
    side: Side | None = None
    """For a one-sided exercise: only this side (both sides when None)."""
    limits: dict[Id, Bound] = Field(default_factory=dict)
    """Per check id, the limit that replaces the spec's for this patient."""
    note: Annotated[str, Field(max_length=1000)] = ""
    """A word from the therapist, shown to the patient before the exercise."""


class PatientPrescription(_Model):
    kind: Literal["siform.prescription"] = "siform.prescription"
    format: Literal[1] = PRESCRIPTION_FORMAT
    patient_id: Annotated[str, Field(min_length=1, max_length=128)]
    version: int = Field(default=0, ge=0)
    updated_utc: str | None = None
    updated_by: Annotated[str, Field(max_length=200)] | None = None
    exercises: list[ExercisePrescription] = Field(default_factory=list)

    def for_exercise(self, exercise_id: str) -> ExercisePrescription | None:
        return next((e for e in self.exercises if e.exercise == exercise_id), None)


# -- the patient's side: applying a prescription to an exercise spec ----------------------------------

PRESCRIPTION_FILE = "prescription.json"
"""Where ``siform sync`` keeps the patient's prescription, in the client folder beside server.json."""


class PrescriptionError(SiformError):
    """A prescription cannot be applied to the exercise as this siform knows it, or cannot be read."""


_SKIP_HINT = "Run it on the exercise's own dose and limits with --no-prescription, and tell your therapist."


def apply_prescription(
    spec: ExerciseSpec, ex: ExercisePrescription, updated_utc: str | None = None
) -> ExerciseSpec:
    """``spec`` with the therapist's dose (sets, reps or holds, hold time, rest) and check limits in
    place of its own; ``updated_utc`` is when the therapist saved it.

    Pure: the spec is rebuilt through :class:`ExerciseSpec`'s own validation, so an override that the
    spec could not hold (a hold shorter than the exercise counts, a limit on a check it does not
    make) is refused with a message, never turned into a spec that judges something else. The result
    records where its dose came from (``prescription.source``), and every session written from it
    carries the therapist's limits in its ``checks``, as they were used.
    """
    if ex.exercise != spec.id:
        raise PrescriptionError(f"A prescription for '{ex.exercise}' cannot be applied to {spec.id}.")
    known = [c.id for c in spec.checks]
    unknown = sorted(set(ex.limits) - set(known))
    if unknown:
        raise PrescriptionError(
            f"Your therapist's prescription sets a limit for {', '.join(repr(u) for u in unknown)}, which "
            f"{spec.name} does not check in this siform (its checks: {', '.join(known) or 'none'}).",
            _SKIP_HINT,
        )
    if ex.hold_s is not None and spec.kind != "hold":
        raise PrescriptionError(
            f"Your therapist's prescription gives {spec.name} a hold time, but it counts reps, not holds.",
            _SKIP_HINT,
        )
    if ex.hold_s is not None and spec.hold is not None and ex.hold_s < spec.hold.min_hold_s:
        raise PrescriptionError(
            f"Your therapist's prescription asks for holds of {ex.hold_s:g} s, but {spec.name} counts a "
            f"hold only from {spec.hold.min_hold_s:g} s.",
            _SKIP_HINT,
        )
    data = spec.model_dump()
    dose = data["prescription"]
    for key in ("sets", "reps", "hold_s", "rest_s"):
        value = getattr(ex, key)
        if value is not None:
            dose[key] = float(value) if key in ("hold_s", "rest_s") else value
    dose |= {"source": "therapist", "updated_utc": updated_utc}
    for check in data["checks"]:
        if check["id"] in ex.limits:
            check["limit"] = ex.limits[check["id"]].model_dump()
    try:
        return ExerciseSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PrescriptionError(
            f"Your therapist's prescription for {spec.name} does not fit the exercise "
            f"({where + ': ' if where else ''}{first['msg']}).",
            _SKIP_HINT,
        ) from None


def dose_words(spec: ExerciseSpec, side: str | None = None) -> str:
    """The spec's dose as a patient reads it: ``3 sets x 12 reps, 60 s rest between sets``; a
    one-sided exercise's reps are on each side, or on ``side`` only."""
    rx = spec.prescription
    sets = f"{rx.sets} set{'s' if rx.sets != 1 else ''}"
    if spec.kind == "hold":
        n = rx.reps or 1
        what = f"{n} hold{'s' if n != 1 else ''} of {rx.hold_s:g} s"
    else:
        what = f"{rx.reps} rep{'s' if rx.reps != 1 else ''}"
    each = ""
    if spec.laterality == "unilateral":
        each = f" on the {side} side only" if side else " on each side"
    rest = f", {rx.rest_s:g} s rest between sets" if rx.sets > 1 and rx.rest_s else ""
    return f"{sets} x {what}{each}{rest}"


def when_words(updated_utc: str | None) -> str:
    """``3 Dec 2026 08:00 UTC`` from the server's ISO time (the text as given if it is not one)."""
    if not updated_utc:
        return "an unknown date"
    try:
        t = datetime.fromisoformat(updated_utc).astimezone(UTC)
    except ValueError:
        return updated_utc
    return f"{t.day} {t:%b %Y %H:%M} UTC"


# -- the stored prescription, as siform live and siform analyze use it ------------------------------------


def stored_path() -> Path:
    from siform.server.client import client_dir

    return client_dir() / PRESCRIPTION_FILE


def load_stored(path: Path | None = None) -> PatientPrescription | None:
    """The prescription ``siform sync`` stored (None when there is none); unreadable is an error."""
    path = path or stored_path()
    try:
        return PatientPrescription.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError) as exc:
        reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else os_reason(exc)
        raise PrescriptionError(
            f"The stored prescription {path} cannot be read ({reason}).",
            "Fetch it again with: siform sync",
        ) from None


def save_stored(prescription: PatientPrescription, path: Path | None = None) -> Path:
    """Write ``prescription.json`` atomically, readable by the user only (it is health data)."""
    path = path or stored_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(prescription.model_dump_json(indent=1))
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    return path


@dataclass(frozen=True)
class Applied:
    """What ``siform live``/``analyze`` run with: the spec (the therapist's dose and limits, or its
    own), the prescribed side of a one-sided exercise, and the lines to show the patient first."""

    spec: ExerciseSpec
    side: Side | None = None
    lines: tuple[str, ...] = ()
    prescribed: bool = False


def prescribed_spec(spec: ExerciseSpec, use: bool = True) -> Applied:
    """``spec`` with the stored prescription of this device's patient applied, when the device is
    paired and ``siform sync`` stored one that includes the exercise; else ``spec`` as it is, with a
    line saying why when the patient would expect otherwise. A prescription that cannot be applied
    raises :class:`PrescriptionError` (running the spec's defaults silently would judge the patient
    against limits the therapist replaced)."""
    if not use:
        return Applied(spec)
    from siform.server.client import load_pairing

    try:
        pairing = load_pairing()
        stored = load_stored() if pairing is not None else None
    except SiformError as exc:
        return Applied(spec, lines=(f"Your therapist's prescription is not used: {exc}",))
    if pairing is None:
        return Applied(spec)
    if stored is None or stored.patient_id != pairing.patient_id:
        return Applied(spec, lines=("Fetch your therapist's prescription with: siform sync",))
    ex = stored.for_exercise(spec.id)
    if ex is None:
        if not stored.exercises:
            return Applied(spec)
        return Applied(spec, lines=(
            f"Your therapist's prescription (of {when_words(stored.updated_utc)}) does not include "
            f"{spec.name}: using the exercise's own dose and limits.",
        ))  # fmt: skip
    applied = apply_prescription(spec, ex, stored.updated_utc)
    side = ex.side if spec.laterality == "unilateral" else None
    names = [c.name for c in spec.checks if c.id in ex.limits]
    own = f"; your own limits for: {', '.join(names)}" if names else ""
    when = when_words(stored.updated_utc)
    lines = [f"Your therapist's prescription of {when}: {dose_words(applied, side)}{own}."]
    if ex.note:
        lines.append(f'Your therapist says: "{ex.note}"')
    return Applied(applied, side, tuple(lines), prescribed=True)
