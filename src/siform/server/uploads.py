"""Checking an uploaded ``session.json`` before anything is stored.

Order matters for the answer a patient's machine gets: too large (413), not JSON (400), not an
object (422), a format version this server does not read (422, said so), then the full schema (422,
naming the first bad field). Only a document that passes all of them is stored.

The idempotency key: a retry of the same upload must never make a second row. It is the document's
own ``session_id`` (format 1.4 gives every session one; ``id`` is read as a fallback). A document
without one (an older format, while the schema still accepts it) is keyed by the sha256 of its
canonical JSON (sorted keys, no spaces), which a retry of the same file reproduces exactly. The same
id with other content is a conflict (409), never an overwrite.

Storing is the hot path of a clinic's server (every patient's machine uploads after every session,
and retries after every lost answer), so it is written for few statements per upload, in SQLAlchemy
Core rather than the ORM (no identity map, no unit of work; in-process, an upload of a 7 KiB
document without validation took 4.2 ms through the ORM and 1.6 ms with these statements): one
indexed SELECT to authorize (the device joined to its patient, by the token's sha256), then in one
transaction an UPDATE of the device's last use (which re-checks that the token is still valid, and
on SQLite takes the write lock first, so no read snapshot has to be upgraded), ``INSERT ... ON
CONFLICT DO NOTHING`` on the (patient, session key) unique constraint (the duplicate check: no
SELECT before it), and the audit event. Only a retry reads the stored row
(its content hash and id), to answer 200 with the same id or 409.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic_core import from_json
from sqlalchemy import and_, bindparam, insert, select, update

from siform.server.db import writers
from siform.server.models import AuditEvent, Device, Patient, SessionRecord, new_id, utcnow
from siform.server.security import sha256_hex

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

ID_FIELDS = ("session_id", "id")
"""Top-level fields that may carry the session's own id (first found wins)."""


class UploadRefusedError(Exception):
    """An upload that is not stored, with the HTTP status and a short machine-readable code."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


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


def check_upload(body: bytes, max_bytes: int) -> CheckedUpload:
    """The upload parsed and validated, or :class:`UploadRefusedError` saying why not."""
    if len(body) > max_bytes:
        raise UploadRefusedError(413, "too_large", f"The upload is larger than {max_bytes} bytes.")
    try:
        # pydantic-core's parser (Rust): about 4x json.loads on a session's per-frame series, the
        # same values (floats bit for bit), and stricter where strictness is right: NaN/Infinity,
        # invalid UTF-8, lone surrogates and nesting deeper than 200 are all refused.
        doc = from_json(body, allow_inf_nan=False)
    except ValueError as exc:
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
    from siform.session import InvalidSessionError, validate_session  # pydantic models, built on import

    try:
        validate_session(doc)
    except InvalidSessionError as exc:
        raise UploadRefusedError(
            422, "invalid_session", f"The session document is invalid at {exc.where}: {exc.message[:300]}"
        ) from exc
    try:
        canonical = canonical_json(doc)
    except ValueError as exc:  # a number too large for a float (1e400 reads as infinity)
        raise UploadRefusedError(400, "malformed_json", f"The upload is not valid JSON ({exc}).") from exc
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


# -- storing ----------------------------------------------------------------------------------------

UNAUTHORIZED_HINT = "pair this device again with a new invite code from your therapist."


@dataclass(frozen=True)
class Uploader:
    """The paired device an upload comes from, and whose patient (and therapist) it is for."""

    device_id: str
    patient_id: str
    therapist_id: str


def _unauthorized(why: str) -> UploadRefusedError:
    return UploadRefusedError(
        401,
        "unauthorized",
        f"The device token is {why}; {UNAUTHORIZED_HINT}",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def authorize(conn: Connection, authorization: str, patient_id: str, now: datetime | None = None) -> Uploader:
    """The device whose bearer token ``authorization`` holds, if valid and if it is ``patient_id``'s.

    401 (with ``WWW-Authenticate``) for a missing, unknown, expired or revoked token; 404 for
    another patient's id, the same answer as for an id that does not exist. One indexed read: the
    token's sha256 is unique, so no password hash is computed per request.
    """
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("missing or unknown")
    row = conn.execute(_statements(conn.dialect.name).find_device, {"token_hash": sha256_hex(token)}).first()
    if row is None:
        raise _unauthorized("missing or unknown")
    if row.revoked_at is not None or row.expires_at <= (now or utcnow()):
        raise _unauthorized("expired or revoked")
    if row.patient_id != patient_id:
        raise UploadRefusedError(404, "not_found", "No such patient.")
    return Uploader(device_id=row.id, patient_id=row.patient_id, therapist_id=row.therapist_id)


@dataclass(frozen=True)
class _Statements:
    find_device: Any
    touch_device: Any
    insert_session: Any
    insert_audit: Any
    find_session: Any


@functools.cache
def _statements(dialect: str) -> _Statements:
    """The upload path's statements, built once per process (building a statement costs about as
    much as running it on SQLite); values are bound parameters."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:  # pragma: no cover - the server supports these two
        raise ValueError(f"unsupported database {dialect}")
    return _Statements(
        find_device=select(
            Device.id, Device.patient_id, Device.revoked_at, Device.expires_at, Patient.therapist_id
        )
        .join(Patient, Patient.id == Device.patient_id)
        .where(Device.token_hash == bindparam("token_hash")),
        touch_device=update(Device)
        .where(
            and_(
                Device.id == bindparam("device_id"),
                Device.revoked_at.is_(None),
                Device.expires_at > bindparam("now"),
            )
        )
        .values(last_used_at=bindparam("now")),
        # the duplicate check is the (patient_id, session_key) unique constraint itself
        insert_session=dialect_insert(SessionRecord)
        .on_conflict_do_nothing(index_elements=["patient_id", "session_key"])
        .returning(SessionRecord.id),  # a row back only when inserted (rowcount differs by driver)
        insert_audit=insert(AuditEvent),
        find_session=select(SessionRecord.id, SessionRecord.content_sha256).where(
            SessionRecord.patient_id == bindparam("patient_id"),
            SessionRecord.session_key == bindparam("session_key"),
        ),
    )


def store(engine: Engine, uploader: Uploader, up: CheckedUpload, address: str) -> tuple[int, dict[str, Any]]:
    """Store ``up`` once for ``uploader``'s patient: (201, new id) the first time, (200, the same id)
    for a retry of the same document; 409 for another document under the same session id, 401 when
    the token was revoked (or the patient deleted) since :func:`authorize`. A refused upload leaves
    no trace, not even the device's last use."""
    now = utcnow()
    summary = up.doc.get("summary") or {}
    record_id = new_id()
    sql = _statements(engine.dialect.name)
    with writers(engine), engine.connect() as conn, conn.begin() as tx:
        touched = conn.execute(sql.touch_device, {"device_id": uploader.device_id, "now": now})
        if touched.rowcount != 1:
            tx.rollback()
            raise _unauthorized("expired or revoked")
        inserted = conn.execute(
            sql.insert_session,
            {
                "id": record_id,
                "patient_id": uploader.patient_id,
                "session_key": up.session_key,
                "content_sha256": up.content_sha256,
                "schema_version": up.doc["schema_version"],
                "exercise_id": up.doc["exercise"]["id"][:100],
                "exercise_name": up.doc["exercise"]["name"][:200],
                # when the set was done: a live session's start, else when it was analysed
                "recorded_utc": (up.doc.get("recorded_utc") or up.doc["created_utc"])[:40],
                "done": summary.get("done"),
                "prescribed": summary.get("prescribed"),
                "mean_score": summary.get("mean_score"),
                "uploaded_at": now,
                "device_id": uploader.device_id,
                "document": up.canonical,
            },
        )
        if inserted.first() is not None:
            conn.execute(
                sql.insert_audit,
                {
                    "at": now,
                    "actor_kind": "patient",
                    "actor_id": uploader.device_id,
                    "therapist_id": uploader.therapist_id,
                    "patient_id": uploader.patient_id,
                    "action": "session.uploaded",
                    "detail": up.doc["exercise"]["id"][:100],
                    "address": address[:64],
                },
            )
            return 201, {"id": record_id, "duplicate": False}
        # Stored before (a retry), or by a concurrent retry that committed first: PostgreSQL's
        # ON CONFLICT waited for it, SQLite's write lock serialised it.
        existing = conn.execute(
            sql.find_session, {"patient_id": uploader.patient_id, "session_key": up.session_key}
        ).one()
        if existing.content_sha256 != up.content_sha256:
            tx.rollback()
            raise UploadRefusedError(
                409, "conflict", "A different document with this session id is already stored."
            )
        return 200, {"id": existing.id, "duplicate": True}
