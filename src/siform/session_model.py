"""``session.json`` as pydantic models: the one definition of the session document.

:mod:`siform.session` builds documents with these models and validates documents against them;
``schemas/session.schema.json`` is generated from them (``python -m siform.session_model --write``
rewrites it, ``--check`` says whether the committed file is current), so the schema, the builders
and the validator cannot drift apart. Field order is the order a document is written in.

Strictness is the schema's: objects are closed (``extra = "forbid"``) except ``source``, closed
choices are ``Literal``, ranges are bounds, a number must be a JSON number (strict mode: ``"8"`` is
not 8, ``true`` is not 1) and NaN or infinity are refused. A field that may be absent (rather than
null) defaults to pydantic's ``MISSING`` and is then left out when the document is written. Which
fields each format version and mode must or must not carry (a 1.3 document has none of the fields
1.4 added, a live document its sets...) is :data:`ADDED_IN`, :data:`LIVE_ONLY` and
:data:`REQUIRED`, enforced by :class:`SessionDoc` and written into the schema's ``allOf``.

Imports neither OpenCV nor MediaPipe: the therapist server validates uploads with it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    MISSING,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from siform.results import SESSION_SCHEMA_VERSION
from siform.specs.model import Baseline, Direction, Id, Kind, Laterality, Prescription, Severity, Side

VERSIONS = ("1.3", "1.4", "1.5")
"""Format versions this siform reads; it writes :data:`siform.results.SESSION_SCHEMA_VERSION`."""

SCHEMA_FILE = "schemas/session.schema.json"
"""The generated JSON Schema, inside the ``siform`` package."""

SessionId = Annotated[str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Count = Annotated[int, Field(ge=0)]
Seconds = Annotated[float, Field(ge=0)]
Score = Annotated[float, Field(ge=0, le=100)]
Probability = Annotated[float, Field(ge=0, le=1)]
Outcome = Literal["complete", "partial", "voided", "too_fast", "too_slow", "not_finished"]


class _Doc(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, allow_inf_nan=False, use_attribute_docstrings=True, frozen=True
    )


# -- rep by rep --------------------------------------------------------------------------------------


class CheckResultDoc(_Doc):
    """One check on one rep or hold (:class:`siform.results.CheckResult`)."""

    id: str
    name: str
    scored: bool
    passed: bool | None
    value: float | None
    raw_value: float | None
    limit_min: float | None
    limit_max: float | None
    baseline: float | None
    unit: str
    severity: Severity
    worst_index: int | None
    worst_t_ms: int | None
    cue: str | None
    reason: str | None
    provisional: bool | MISSING = MISSING
    """The live verdict, given before enough reps existed to judge against the person's own reps;
    reconciled when the set ends."""


class RepDoc(_Doc):
    """Every movement the rep counter saw, counted or not (:class:`siform.results.Rep`)."""

    number: Count
    side: Side | None
    outcome: Outcome
    start_ms: int
    end_ms: int
    peak_ms: int
    start_index: int
    end_index: int
    peak_index: int
    peak_value: float | None
    top_start_index: int | None
    top_end_index: int | None
    checks: list[CheckResultDoc]
    score: Score | None
    duration_s: Seconds
    """end_ms - start_ms in seconds: what the spec's min_rep_s and max_rep_s were held against; for
    not_finished, the time it had run when the recording ended."""
    set: Annotated[int, Field(ge=1)] | MISSING = MISSING
    """The set this rep or hold belongs to, 1-based (live documents only; see sets)."""
    provisional: bool | MISSING = MISSING
    """Judged live against the reps known so far, never reconciled with the whole set (a set cut off
    by a crash or quit, recovered from the live journal). Only in live documents, only when true."""


class HoldDoc(_Doc):
    """One hold (:class:`siform.results.Hold`)."""

    number: Annotated[int, Field(ge=1)]
    side: Side | None
    start_ms: int
    end_ms: int
    held_s: Seconds
    target_s: float
    breaks: Count
    start_index: int
    end_index: int
    checks: list[CheckResultDoc]
    score: Score | None
    set: Annotated[int, Field(ge=1)] | MISSING = MISSING
    """The set this rep or hold belongs to, 1-based (live documents only; see sets)."""
    provisional: bool | MISSING = MISSING
    """Judged live against the reps known so far, never reconciled with the whole set (a set cut off
    by a crash or quit, recovered from the live journal). Only in live documents, only when true."""


class SummaryDoc(_Doc):
    """A set (review; live: a set, or the whole session) in numbers (:class:`siform.results.SetSummary`)."""

    side: Side | None
    done: Count
    prescribed: int | None
    attempts_not_counted: Count
    mean_score: Score | None
    failures: dict[str, int]
    most_frequent_fault: str | None
    not_finished: Count
    """Attempts still under way when the recording ended (outcome not_finished); included in
    attempts_not_counted."""
    holds_short: Count
    """Holds among done that ended before the prescribed hold_s."""


class SetupDoc(_Doc):
    """The camera-setup verdict (:class:`siform.results.SetupVerdict`)."""

    ok: bool
    view: str | None
    facing_measured: str | None
    hints: list[str]
    visibility: dict[str, float | None]


class UnscoredDoc(_Doc):
    """A check that could not be judged in the whole session (:class:`siform.results.Unscored`)."""

    check_id: str
    reason: str


class SetDoc(_Doc):
    """Live: one set on one side."""

    set: Annotated[int, Field(ge=1)]
    side: Side | None
    view: str | None
    start_ms: int | None
    end_ms: int | None
    frames: Count | None
    """Frames of the set; null when not known (a provisional set recovered from the journal)."""
    frames_with_pose: Count | None
    provisional: bool
    summary: SummaryDoc | None


# -- what was analysed and how ------------------------------------------------------------------------


class ModelDoc(_Doc):
    file: str
    sha256: Sha256
    pinned: bool
    """The model file is one the manifest vouches for (false for a .task file of the user's own)."""


class SoftwareDoc(_Doc):
    siform: str
    mediapipe: str | None
    python: str
    model: ModelDoc | None


class UnusableDoc(_Doc):
    start_s: float
    end_s: float
    reason: str


class SourceDoc(_Doc):
    """The input and which parts of it could be used. The one open object: a caller may add keys
    describing its input."""

    model_config = ConfigDict(extra="allow")

    file: str | MISSING = MISSING
    sha256: Sha256 | MISSING = MISSING
    pace: str | MISSING = MISSING
    """Live from a video file: ``realtime`` or ``fast`` (``siform live --pace``)."""
    camera: int | MISSING = MISSING
    """Live from a camera: its index."""
    width: int | MISSING = MISSING
    height: int | MISSING = MISSING
    fps: float | MISSING = MISSING
    sample_aspect: Annotated[float, Field(gt=0)] | MISSING = MISSING
    """The file's pixel width over height (1 for square pixels); width and height are the display
    size the frames were analysed and drawn at."""
    variable_frame_rate: bool | MISSING = MISSING
    """The frames are not on a steady clock: the review filtered on their real times and the
    annotated video keeps them."""
    frames: Count
    frames_with_pose: Count
    duration_s: Seconds
    unusable: list[UnusableDoc]
    notes: list[str] | MISSING = MISSING
    """What the analysis did differently from the spec because of this recording (e.g. a frame rate
    too low to smooth at the spec's cutoff), one plain sentence each."""


class ExerciseDoc(_Doc):
    id: str
    name: str
    kind: Kind
    laterality: Laterality


class ViewDoc(_Doc):
    id: str | None
    measured: str | None


class AskedDoc(_Doc):
    id: str
    question: str
    urgent: bool


class CheckinDoc(_Doc):
    """Live: the pain check-in before the first set."""

    pain: Annotated[int, Field(ge=0, le=10)] | None
    asked: list[AskedDoc]
    reported: list[str]
    via: Literal["terminal", "arguments"]
    answered_utc: str
    stop_reason: str | None
    urgent: bool


class SignalRef(_Doc):
    signal: str
    unit: str
    label: str | None


class RepsCounting(_Doc):
    """How reps were found: the driving signal's thresholds."""

    kind: Literal["reps"]
    signal: str
    unit: str
    label: str | None
    direction: Direction
    rest: float
    top: float
    partial: float | None
    min_rep_s: float
    max_rep_s: float


class HoldConditionDoc(SignalRef):
    min: float | None
    max: float | None


class HoldCounting(_Doc):
    """How holds were found: the conditions that run the hold clock."""

    kind: Literal["hold"]
    conditions: Annotated[list[HoldConditionDoc], Field(min_length=1)]
    grace_s: float
    min_hold_s: float


class CheckDefinitionDoc(_Doc):
    id: str
    name: str
    signal: str
    signal_label: str | MISSING | None = MISSING
    unit: str
    when: str
    reduce: str
    limit_min: float | None
    limit_max: float | None
    baseline: Baseline
    severity: Severity
    cue: str
    views: list[str]


class RunnerUpDoc(_Doc):
    exercise: str
    probability: Probability


class RecognitionDoc(_Doc):
    """Present when the exercise was recognised from the video (--exercise auto) rather than named:
    the chosen spec, how probable it was, the runner-up, and the threshold below which siform
    refuses to guess."""

    exercise: str
    probability: Probability
    runner_up: RunnerUpDoc | None
    min_probability: Probability


class SeriesDoc(_Doc):
    """Per-frame values of the signals the report's charts draw (the counting signals and every
    scored check's signal), so a reader without the video draws the same charts (since 1.5)."""

    t_ms: list[int]
    """Frame times in ms; in a live session, one time between two sets carries every signal null,
    so a chart breaks its line over the rest."""
    signals: dict[Id, list[float | None]]
    """Signal name -> one value per time, in the signal's unit (null: not measured at that frame)."""

    @model_validator(mode="after")
    def _aligned(self) -> SeriesDoc:
        for name, values in self.signals.items():
            if len(values) != len(self.t_ms):
                raise PydanticCustomError(
                    "series_length",
                    "{where}: {n} values for {m} times",
                    {"where": f"signals/{name}", "n": len(values), "m": len(self.t_ms)},
                )
        return self


# -- the document --------------------------------------------------------------------------------------

ADDED_IN: dict[str, tuple[str, ...]] = {
    "1.4": ("session_id", "recorded_utc", "interrupted", "recorded", "checkin", "sets"),
    "1.5": ("series",),
}
"""Top-level fields by the format version that added them: an older document never has them."""
LIVE_ONLY = ("interrupted", "recorded", "checkin", "sets")
"""Top-level fields a review document never has."""
REQUIRED: tuple[tuple[tuple[str, ...], str | None, tuple[str, ...]], ...] = (
    (("1.4", "1.5"), None, ("session_id",)),
    (("1.4", "1.5"), "live", ("recorded_utc", "interrupted", "recorded", "checkin", "sets")),
)
"""(versions, mode or None for any, fields): optional fields these documents must carry."""


def _newer(version: str) -> list[str]:
    return [v for v in ADDED_IN if tuple(map(int, v.split("."))) > tuple(map(int, version.split(".")))]


def presence_problem(present: Iterable[str], version: str, mode: str) -> tuple[str, str] | None:
    """The first field ``(name, why)`` a document of this version and mode must have and lacks, or
    has and must not; None when the top-level fields present are right."""
    have = set(present)
    for newer in _newer(version):
        for name in ADDED_IN[newer]:
            if name in have:
                return name, f"not allowed in a {version} document (added in {newer})"
    if mode == "review":
        for name in LIVE_ONLY:
            if name in have:
                return name, "not allowed in a review document (live only)"
    for versions, for_mode, fields in REQUIRED:
        if version in versions and for_mode in (None, mode):
            for name in fields:
                if name not in have:
                    what = f"{version} {for_mode} document" if for_mode else f"{version} document"
                    return name, f"required in a {what}"
    return None


class SessionDoc(_Doc):
    """One set of one exercise analysed by siform (review), or one live coaching session of one
    exercise with every set and side (live). Times are milliseconds from the start of the source;
    indices are frame numbers; values carry the unit of their check."""

    schema_version: Literal["1.3", "1.4", "1.5"]
    """1.5; 1.3 and 1.4 documents (none of the fields added since) are valid too."""
    kind: Literal["siform.session"]
    created_utc: str
    session_id: SessionId | MISSING = MISSING
    """A uuid naming this session: uploads are idempotent on it (since 1.4)."""
    recorded_utc: str | MISSING = MISSING
    """When the recording (live: the session) started, ISO 8601 with a zone; absent when unknown."""
    mode: Literal["review", "live"]
    interrupted: bool | MISSING = MISSING
    """Live: the run did not end normally (killed, crashed, power lost); this document was recovered
    from its journal and holds every rep or hold completed before."""
    recorded: bool | MISSING = MISSING
    """Live: the raw camera video was kept (siform live --record)."""
    software: SoftwareDoc
    source: SourceDoc
    exercise: ExerciseDoc
    side: Side | None
    patient: Annotated[str, Field(min_length=1)] | None
    """Who did the set: an id or name given to siform analyze --patient (the report's trend compares
    only sessions of the same patient); null when none was given."""
    view: ViewDoc
    prescription: Prescription
    """The dose prescribed (the exercise spec's, or as the session was run with)."""
    setup: SetupDoc
    checkin: CheckinDoc | MISSING | None = MISSING
    """Live: the pain check-in before the first set; null if none was asked."""
    counting: Annotated[RepsCounting | HoldCounting, Field(discriminator="kind")]
    """How reps or holds were found: the driving signal's thresholds (reps) or the conditions that
    run the hold clock (holds)."""
    checks: list[CheckDefinitionDoc]
    unscored_checks: list[UnscoredDoc]
    reps: list[RepDoc]
    holds: list[HoldDoc]
    sets: list[SetDoc] | MISSING = MISSING
    """Live: one entry per set (and side), in order."""
    summary: SummaryDoc | None
    """Review: the set in numbers. Live: the whole session (every set and side); prescribed stays per
    set. Null when the camera view did not allow analysis."""
    recognition: RecognitionDoc | MISSING = MISSING
    series: SeriesDoc | MISSING = MISSING

    @model_validator(mode="after")
    def _fields_of_version_and_mode(self) -> SessionDoc:
        present = (name for name in self.model_fields_set if getattr(self, name) is not MISSING)
        problem = presence_problem(present, self.schema_version, self.mode)
        if problem is not None:
            where, why = problem
            raise PydanticCustomError("session_fields", "{where}: {why}", {"where": where, "why": why})
        return self

    def to_json(self) -> dict[str, Any]:
        """The document as ``json.dump`` writes it (absent fields left out)."""
        data: dict[str, Any] = self.model_dump(mode="json")
        return data


# -- the generated schema -----------------------------------------------------------------------------


def _rules() -> list[dict[str, Any]]:
    """The version and mode rules of :func:`presence_problem` as JSON Schema ``allOf`` entries."""
    rules: list[dict[str, Any]] = []
    for versions, mode, fields in REQUIRED:
        cond: dict[str, Any] = {"schema_version": {"enum": list(versions)}}
        if mode is not None:
            cond["mode"] = {"const": mode}
        rules.append({"if": {"properties": cond}, "then": {"required": list(fields)}})
    for version in VERSIONS:
        later = [name for newer in _newer(version) for name in ADDED_IN[newer]]
        if later:
            rules.append(
                {
                    "description": f"A {version} document has none of the fields added after {version}.",
                    "if": {"properties": {"schema_version": {"const": version}}},
                    "then": {"not": {"anyOf": [{"required": [n]} for n in later]}},
                }
            )
    rules.append(
        {
            "description": "The live-only fields never appear in a review document.",
            "if": {"properties": {"mode": {"const": "review"}}},
            "then": {"not": {"anyOf": [{"required": [n]} for n in LIVE_ONLY]}},
        }
    )
    return rules


def _drop_titles(node: Any) -> Any:
    """Pydantic titles every field with its name respelt; the names say it already."""
    if isinstance(node, dict):
        return {k: _drop_titles(v) for k, v in node.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(node, list):
        return [_drop_titles(v) for v in node]
    return node


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of :class:`SessionDoc`, as ``session.schema.json`` holds it."""
    body = _drop_titles(SessionDoc.model_json_schema())
    head = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"siform.session/{SESSION_SCHEMA_VERSION}",
        "title": "siform session",
        "$comment": "Generated from siform.session_model by `python -m siform.session_model --write`; "
        "do not edit by hand.",
    }
    return {**head, **body, "allOf": _rules()}


def schema_text() -> str:
    return json.dumps(json_schema(), indent=1, ensure_ascii=False) + "\n"


def schema_path() -> Path:
    """The schema file in the source tree (this module's package folder)."""
    return Path(str(resources.files("siform").joinpath(SCHEMA_FILE)))


# -- validation errors --------------------------------------------------------------------------------


class InvalidSessionError(ValueError):
    """A document that is not a valid session: ``path`` leads to the first bad field (keys and list
    indices from the top; empty for the document itself), ``message`` says what is wrong in a
    short sentence."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{self.where}: {message}")

    @property
    def where(self) -> str:
        """``path`` as ``reps/0/score``; ``(top level)`` for the document itself."""
        return "/".join(str(p) for p in self.path) or "(top level)"


def _doc_path(doc: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """``loc`` of a pydantic error without the union members it names (``counting/reps/rest`` is
    ``counting/rest`` in the document): keep each step that indexes the document, and a last step
    naming a missing key."""
    path: list[str | int] = []
    node = doc
    for i, step in enumerate(loc):
        keyed = isinstance(node, Mapping) and step in node
        if keyed or (isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)):
            node = node[step]
        elif i < len(loc) - 1:
            continue  # a union member's name, not a key
        path.append(step)
    return tuple(path)


def invalid(doc: Any, error: ValidationError) -> InvalidSessionError:
    """The first of pydantic's errors as an :class:`InvalidSessionError`."""
    first = error.errors(include_url=False, include_input=False)[0]
    ctx = first.get("ctx") or {}
    if first["type"] in ("session_fields", "series_length"):
        where = str(ctx["where"]).split("/")
        path: tuple[str | int, ...] = (*_doc_path(doc, first["loc"]), *where)
        return InvalidSessionError(path, str(ctx.get("why") or first["msg"].split(": ", 1)[-1]))
    message = first["msg"]
    if first["type"] == "missing":
        message = "a required field is missing"
    elif first["type"] == "extra_forbidden":
        message = "no such field here (objects are closed)"
    return InvalidSessionError(_doc_path(doc, first["loc"]), message)


def validate(doc: Any) -> SessionDoc:
    """``doc`` (parsed JSON) as a :class:`SessionDoc`, or :class:`InvalidSessionError`."""
    try:
        return SessionDoc.model_validate(doc)
    except ValidationError as exc:
        raise invalid(doc, exc) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m siform.session_model",
        description="Print, write or check the session JSON Schema generated from the models.",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help=f"rewrite src/siform/{SCHEMA_FILE}")
    group.add_argument(
        "--check", action="store_true", help="exit 1 if that file is not what the models generate"
    )
    args = parser.parse_args(argv)
    text = schema_text()
    path = schema_path()
    if args.write:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
        return 0
    if args.check:
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        if current != text:
            print(f"{path} is out of date: run python -m siform.session_model --write", file=sys.stderr)
            return 1
        print(f"{path} is current")
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
