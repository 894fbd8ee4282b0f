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

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from siform.specs.model import Bound, Id, Side

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
