"""Checking an uploaded ``session.json`` before anything is stored.

Order matters for the answer a patient's machine gets: too large (413), not JSON (400), not an
object (422), a format version this server does not read (422, said so), then the full schema (422,
naming the first bad field). Only a document that passes all of them is stored.

The idempotency key: a retry of the same upload must never make a second row. It is the document's
own ``session_id`` (format 1.4 gives every session one; ``id`` is read as a fallback). A document
without one (an older format, while the schema still accepts it) is keyed by the sha256 of its
canonical JSON (sorted keys, no spaces), which a retry of the same file reproduces exactly. The same
id with other content is a conflict (409), never an overwrite.
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
    import jsonschema

    from siform.session import validate_session  # one validator per process, built on first use

    try:
        validate_session(doc)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise UploadRefusedError(
            422, "invalid_session", f"The session document is invalid at {where}: {exc.message[:300]}"
        ) from exc
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
