"""Earlier sessions of the same person and exercise, for the report's trend.

A trend is only worth reading when it compares like with like: one person's sessions of one
exercise. The output folders next to a new session may hold anyone's sessions (a therapist
analyses several patients into one folder), so a session joins the trend only when it names the
same patient (``siform analyze --patient``) and the same exercise; without a patient there is no
trend at all. Every candidate is a file someone else may have written or damaged: it is read
defensively and checked against the session schema, and one that does not pass is left out with a
single warning line naming it, never a traceback.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from siform.results import SESSION_SCHEMA_VERSION

log = logging.getLogger(__name__)

Doc = dict[str, Any]

SESSION_FILE = "session.json"

FIRST_WITH_PATIENT = (1, 3)
"""The oldest format a trend can use (it has ``patient``); the schema of this siform also accepts it
(1.4 only added fields)."""


def patient_key(name: object) -> str | None:
    """How two patient fields are compared: case and spacing do not make a different person."""
    if not isinstance(name, str):
        return None
    key = " ".join(name.split()).casefold()
    return key or None


def same_patient(a: object, b: object) -> bool:
    """True when both name a patient and it is the same one (no patient never matches)."""
    ka = patient_key(a)
    return ka is not None and ka == patient_key(b)


def _version(text: object) -> tuple[int, int] | None:
    if not isinstance(text, str):
        return None
    major, _, minor = text.partition(".")
    return (int(major), int(minor)) if major.isdigit() and minor.isdigit() else None


def _created(doc: Doc) -> datetime | None:
    try:
        when = datetime.fromisoformat(doc["created_utc"])
    except (KeyError, TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else None


def read_session(path: Path) -> Doc | None:
    """The session document in ``path`` if it is one this siform can read, else None.

    Unreadable files, bad JSON, documents that are not objects, fail the schema or carry a time
    that is not an ISO 8601 UTC time are malformed: one warning line names the file and why.
    Sessions written by an older siform before 1.3 (no ``patient``, so they cannot be matched to
    anyone) are left out quietly, 1.3 ones are read; a newer format is left out with a warning, as its
    fields cannot be checked here.
    """
    from siform.session import InvalidSessionError, validate_session

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("%s: cannot be read (%s); left out of the trend.", path, exc.__class__.__name__)
        return None
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting too deep to parse
        log.warning("%s: is not valid JSON (%s); left out of the trend.", path, str(exc)[:160])
        return None
    if not isinstance(doc, dict):
        log.warning("%s: is not a session document (not a JSON object); left out of the trend.", path)
        return None
    theirs, ours = _version(doc.get("schema_version")), _version(SESSION_SCHEMA_VERSION)
    readable = theirs is not None and ours is not None and FIRST_WITH_PATIENT <= theirs <= ours
    if doc.get("kind") == "siform.session" and theirs is not None and ours is not None and not readable:
        if theirs < ours:
            log.debug("%s: session format %s predates patients; left out of the trend.", path, theirs)
        else:
            log.warning(
                "%s: written by a newer siform (session format %s, this one reads %s); "
                "left out of the trend.",
                path,
                doc.get("schema_version"),
                SESSION_SCHEMA_VERSION,
            )
        return None
    try:
        validate_session(doc)
    except InvalidSessionError as exc:
        where, why = exc.where, exc.message.splitlines()[0][:160]
        log.warning("%s: is not a valid session (%s: %s); left out of the trend.", path, where, why)
        return None
    if _created(doc) is None:
        log.warning("%s: created_utc is not an ISO 8601 time with a zone; left out of the trend.", path)
        return None
    return doc


def earlier_sessions(
    folder: Path,
    *,
    patient: str | None,
    exercise: str,
    exclude: Path | None = None,
    before: datetime | None = None,
) -> list[Doc]:
    """Valid sessions in ``folder/*/session.json`` of ``patient`` doing ``exercise``.

    ``exclude`` is the session about to be (re)written, which is never its own history; ``before``
    (default: now) drops sessions stamped later, so a re-analysis of an old recording does not
    show later sessions as its past. Without a patient nothing is read: there is no trend.
    """
    if patient_key(patient) is None or not folder.is_dir():
        return []
    limit = before or datetime.now().astimezone()
    skip = exclude.resolve() if exclude is not None else None
    found = []
    for path in sorted(folder.glob(f"*/{SESSION_FILE}")):
        if skip is not None and path.resolve() == skip:
            continue
        doc = read_session(path)
        if doc is None or not same_patient(doc.get("patient"), patient):
            continue
        if doc["exercise"]["id"] != exercise:
            continue
        created = _created(doc)
        if created is not None and created < limit:
            found.append(doc)
    return found
