"""The server's tables (SQLAlchemy 2). Alembic's migrations in ``migrations/`` create them.

Ids are random (``uuid4().hex``), not counters, so a URL tells nobody how many patients a clinic
has. Secrets are stored only as hashes: passwords with argon2, device tokens, invite codes and login
cookies with sha256 (they are long random strings, so a fast hash is enough). Audit events keep the
patient's id without a foreign key, so the record of a deletion outlives the deleted data.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC time on every backend (SQLite keeps no zone, so it is put back on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None


class Base(DeclarativeBase):
    pass


class Therapist(Base):
    __tablename__ = "therapists"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    """Lower case; the login name."""
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    patients: Mapped[list[Patient]] = relationship(back_populates="therapist")


class WebLogin(Base):
    """A therapist's login: the cookie holds a random token, this row its sha256. Logging out
    deletes the row, so a copied cookie stops working too (a signed cookie could not be revoked)."""

    __tablename__ = "web_logins"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    therapist_id: Mapped[str] = mapped_column(ForeignKey("therapists.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    therapist_id: Mapped[str] = mapped_column(ForeignKey("therapists.id"), index=True)
    label: Mapped[str] = mapped_column(String(200))
    """What the therapist calls the patient (a name, initials or a chart number)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    therapist: Mapped[Therapist] = relationship(back_populates="patients")
    sessions: Mapped[list[SessionRecord]] = relationship(
        back_populates="patient", cascade="all, delete-orphan", passive_deletes=True
    )
    devices: Mapped[list[Device]] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    invites: Mapped[list[Invite]] = relationship(cascade="all, delete-orphan", passive_deletes=True)


class Invite(Base):
    """A one-time code a therapist gives a patient to pair a device; stored as its sha256."""

    __tablename__ = "invites"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Device(Base):
    """A patient's paired machine: its token (sha256 only) lets the CLI upload for that patient."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SessionRecord(Base):
    """One uploaded ``session.json``, stored as sent (canonical JSON text), once per session key."""

    __tablename__ = "sessions"
    __table_args__ = (UniqueConstraint("patient_id", "session_key", name="uq_sessions_patient_key"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    session_key: Mapped[str] = mapped_column(String(128))
    """The document's own session id, or the sha256 of its canonical JSON (see ``uploads``)."""
    content_sha256: Mapped[str] = mapped_column(String(64))
    schema_version: Mapped[str] = mapped_column(String(16))
    exercise_id: Mapped[str] = mapped_column(String(100))
    exercise_name: Mapped[str] = mapped_column(String(200))
    recorded_utc: Mapped[str] = mapped_column(String(40))
    """``created_utc`` of the document, as written by the patient's machine."""
    done: Mapped[int | None] = mapped_column(Integer, nullable=True)
    prescribed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mean_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    """The summary's figures, copied out so lists need not parse every document."""
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    device_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    document: Mapped[str] = mapped_column(Text)

    patient: Mapped[Patient] = relationship(back_populates="sessions")


class SessionNote(Base):
    """A therapist's note on one uploaded session (deleted with the session and the patient)."""

    __tablename__ = "session_notes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    therapist_id: Mapped[str] = mapped_column(ForeignKey("therapists.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SessionVideo(Base):
    """The video of one session, uploaded because the patient opted in (``--share-video``). The file
    is ``<media_dir>/<patient_id>/<file_name>`` (``siform.server.media``); one per session."""

    __tablename__ = "session_videos"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), unique=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    file_name: Mapped[str] = mapped_column(String(64))
    """A random name chosen by the server, never the client's."""
    media_type: Mapped[str] = mapped_column(String(40))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PrescriptionRecord(Base):
    """A patient's current prescription: the ``siform.prescription.PatientPrescription`` JSON their
    therapist saved last (``version`` goes up by one per save; no row: nothing prescribed)."""

    __tablename__ = "prescriptions"

    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[str] = mapped_column(Text)
    therapist_id: Mapped[str] = mapped_column(ForeignKey("therapists.id"))
    """Who saved this version."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PrescriptionVersion(Base):
    """Every saved version of a patient's prescription, kept so a therapist can say what the patient
    had to do in a given week (a few hundred bytes a save). The unique key makes two saves racing
    from one version fail instead of both becoming version N+1."""

    __tablename__ = "prescription_versions"
    __table_args__ = (UniqueConstraint("patient_id", "version", name="uq_prescription_versions_patient"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[str] = mapped_column(Text)
    therapist_id: Mapped[str] = mapped_column(ForeignKey("therapists.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    changes: Mapped[str] = mapped_column(String(2000), default="")
    """What this save changed against the version before it, in words (for the history list)."""


class AuditEvent(Base):
    """Who viewed or changed which patient's data, and when. Never deleted with the patient."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_patient_at", "patient_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_kind: Mapped[str] = mapped_column(String(16))
    """``therapist`` or ``patient`` (a paired device)."""
    actor_id: Mapped[str] = mapped_column(String(32))
    therapist_id: Mapped[str] = mapped_column(String(32), index=True)
    """The patient's therapist: the one who may read this event."""
    patient_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(String(500), default="")
    address: Mapped[str] = mapped_column(String(64), default="")


class Attempt(Base):
    """A failed login or pairing attempt, counted by key (account or address) for rate limiting.
    In the database, not in memory, so the limit holds across workers and restarts."""

    __tablename__ = "attempts"
    __table_args__ = (Index("ix_attempts_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(300))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
