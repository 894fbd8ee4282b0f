"""``session.json``: one recorded (or live) set, as review, live coaching and the therapist server
all store and exchange it.

The document is versioned (``schema_version``) and described by the JSON Schema in
``siform/schemas/session.schema.json``; :func:`validate_session` checks a document against it. Every
number a therapist sees is here with its unit, its limit and where it came from (software and model
versions, the source file's sha256), so a report can always be traced back.
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

from siform import __version__
from siform.model_store import is_pinned, sha256_of
from siform.pipeline import SessionResult
from siform.results import SESSION_SCHEMA_VERSION, to_jsonable
from siform.specs.model import ExerciseSpec


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def software_block(model_path: Path | None) -> dict[str, Any]:
    return {
        "siform": __version__,
        "mediapipe": _package_version("mediapipe"),
        "python": platform.python_version(),
        "model": _model_block(model_path) if model_path is not None else None,
    }


def _model_block(model_path: Path) -> dict[str, Any]:
    """The model file and its sha256; ``pinned`` says whether it is one the manifest vouches for
    (false for a .task file of the user's own, passed with --model)."""
    digest = sha256_of(model_path)
    return {"file": model_path.name, "sha256": digest, "pinned": is_pinned(digest)}


def check_definitions(spec: ExerciseSpec) -> list[dict[str, Any]]:
    return [
        {
            "id": c.id,
            "name": c.name,
            "signal": c.signal,
            "signal_label": spec.signals[c.signal].label,
            "unit": spec.signals[c.signal].unit,
            "when": c.when,
            "reduce": c.reduce,
            "limit_min": c.limit.min,
            "limit_max": c.limit.max,
            "baseline": c.baseline,
            "severity": c.severity,
            "cue": c.cue,
            "views": spec.check_views(c),
        }
        for c in spec.checks
    ]


def counting_definition(spec: ExerciseSpec) -> dict[str, Any]:
    """How reps or holds were found, so a reader can redraw the thresholds behind every count."""

    def signal(name: str) -> dict[str, Any]:
        sig = spec.signals[name]
        return {"signal": name, "unit": sig.unit, "label": sig.label}

    if spec.hold is not None:
        return {
            "kind": "hold",
            "conditions": [{**signal(c.signal), "min": c.min, "max": c.max} for c in spec.hold.conditions],
            "grace_s": spec.hold.grace_s,
            "min_hold_s": spec.hold.min_hold_s,
        }
    assert spec.rep is not None
    r = spec.rep
    return {
        "kind": "reps",
        **signal(r.signal),
        "direction": r.direction,
        "rest": r.rest,
        "top": r.top,
        "partial": r.partial,
        "min_rep_s": r.min_rep_s,
        "max_rep_s": r.max_rep_s,
    }


def build_session(
    result: SessionResult,
    spec: ExerciseSpec,
    *,
    mode: Literal["review", "live"],
    source: dict[str, Any],
    model_path: Path | None,
    unusable: list[dict[str, Any]] | None = None,
    recognition: dict[str, Any] | None = None,
    patient: str | None = None,
) -> dict[str, Any]:
    """The session document for one analysed set.

    ``source`` describes the input (``file``, ``sha256``, ``width``, ``height``, ``fps``...);
    ``unusable`` lists stretches of it that could not be analysed, with the reason;
    ``recognition`` (see :meth:`siform.recognize.Recognition.to_session`) is given when the
    exercise was recognised from the video instead of named; ``patient`` (an id or name, surrounding
    spaces dropped) says whose set it is, so a trend compares only that person's sessions.
    """
    duration_s = float(result.t_ms[-1] - result.t_ms[0]) / 1000.0 if len(result.t_ms) > 1 else 0.0
    doc: dict[str, Any] = {
        "schema_version": SESSION_SCHEMA_VERSION,
        "kind": "siform.session",
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": mode,
        "software": software_block(model_path),
        "source": {
            **source,
            "frames": result.frames,
            "frames_with_pose": result.frames_with_pose,
            "duration_s": round(duration_s, 3),
            "unusable": unusable or [],
            "notes": list(result.notes),
        },
        "exercise": {
            "id": spec.id,
            "name": spec.name,
            "kind": spec.kind,
            "laterality": spec.laterality,
        },
        "side": result.side,
        "patient": (patient or "").strip() or None,
        "view": {"id": result.view, "measured": result.setup.facing_measured},
        "prescription": spec.prescription.model_dump(),
        "setup": to_jsonable(result.setup),
        "counting": counting_definition(spec),
        "checks": check_definitions(spec),
        "unscored_checks": to_jsonable(result.unscored),
        "reps": to_jsonable(result.reps),
        "holds": to_jsonable(result.holds),
        "summary": to_jsonable(result.summary),
    }
    if recognition is not None:
        doc["recognition"] = recognition
    return doc


def schema() -> dict[str, Any]:
    text = resources.files("siform").joinpath("schemas/session.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def validate_session(doc: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` if ``doc`` is not a valid session document."""
    import jsonschema

    jsonschema.validate(doc, schema(), cls=jsonschema.Draft202012Validator)


def write_session(doc: dict[str, Any], path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
