"""Checking an uploaded ``session.json`` before anything is stored.

Order matters for the answer a patient's machine gets: too large (413), not JSON (400), not an
object (422), a format version this server does not read (422, said so), then the full schema (422,
naming the first bad field). Only a document that passes all of them is stored.

The idempotency key: a retry of the same upload must never make a second row. The document's own
session id is the key once the format has one (H4 is adding it in format 1.4: ``session_id`` at the
top level is read here if present, and ``id`` as a fallback); until then the key is the sha256 of the
document's canonical JSON (sorted keys, no spaces), which a retry of the same file reproduces exactly.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any

ID_FIELDS = ("session_id", "id")
"""Top-level fields that may carry the session's own id (first found wins)."""


class UploadRefusedError(Exception):
    """An upload that is not stored, with the HTTP status and a short machine-readable code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CheckedUpload:
    doc: dict[str, Any]
    canonical: str
    content_sha256: str
    session_key: str
    key_is_hash: bool


def canonical_json(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@functools.cache
def session_validator() -> Any:
    """``siform.session.validate_session``'s check, built once per process.

    ``validate_session`` (``jsonschema.validate``) first validates the schema itself against the
    JSON Schema meta-schema, on every call: 420 ms of a 435 ms upload here (measured on a 7 KiB
    session, benchmarks/server_upload.py). The schema is the installed package's file and does not
    change while the server runs, so it is checked once here and the same validator class (Draft
    2020-12, no format checks, as there) validates each upload: the same verdicts (tests/server/
    test_uploads.py compares them), 13 ms instead of 420.
    """
    import jsonschema

    from siform.session import schema

    document_schema = schema()
    jsonschema.Draft202012Validator.check_schema(document_schema)
    return jsonschema.Draft202012Validator(document_schema)


def first_error(doc: Any) -> Any:
    """The error ``validate_session`` would raise for ``doc`` (jsonschema's best match), or None."""
    from jsonschema.exceptions import best_match

    return best_match(session_validator().iter_errors(doc))


@functools.cache
def supported_versions() -> list[str]:
    """The ``schema_version`` values the installed schema accepts (``const`` or ``enum``)."""
    from siform.session import schema

    prop = schema()["properties"]["schema_version"]
    if "const" in prop:
        return [str(prop["const"])]
    return [str(v) for v in prop.get("enum", [])]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def check_upload(body: bytes, max_bytes: int) -> CheckedUpload:
    """The upload parsed and validated, or :class:`UploadRefusedError` saying why not."""
    if len(body) > max_bytes:
        raise UploadRefusedError(413, "too_large", f"The upload is larger than {max_bytes} bytes.")
    try:
        doc = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UploadRefusedError(400, "malformed_json", f"The upload is not valid JSON ({exc}).") from exc
    if not isinstance(doc, dict):
        raise UploadRefusedError(
            422, "not_a_session", "The upload is not a session document (not an object)."
        )
    version = doc.get("schema_version")
    versions = supported_versions()  # a cached list: never changed
    if version not in versions:
        raise UploadRefusedError(
            422,
            "unsupported_schema_version",
            f"The session's format version {version!r} is not one this server reads ({', '.join(versions)}); "
            "update siform on the server or on the patient's machine.",
        )
    error = first_error(doc)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise UploadRefusedError(
            422, "invalid_session", f"The session document is invalid at {where}: {error.message[:300]}"
        )
    canonical = canonical_json(doc)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    own_id = next((doc[f] for f in ID_FIELDS if isinstance(doc.get(f), str) and doc[f].strip()), None)
    if own_id is not None and len(own_id) > 128:
        raise UploadRefusedError(422, "invalid_session", "The session id is longer than 128 characters.")
    return CheckedUpload(
        doc=doc,
        canonical=canonical,
        content_sha256=digest,
        session_key=own_id if own_id is not None else f"sha256:{digest}",
        key_is_hash=own_id is None,
    )
