"""The FastAPI app: web pages for therapists (cookie login), a JSON API for patients' devices (token).

Who may do what (``tests/server/test_authorization.py`` checks every route against every role):

- A therapist, logged in on the web, sees and changes only their own patients; another therapist's
  patient is "not found" (404), exactly as a patient that does not exist, so ids cannot be probed.
- A patient's paired device (``Authorization: Bearer sfd_...``) uploads and reads only that patient's
  sessions; any other patient's URL is 404 too. An expired or revoked token is 401.
- Nobody else gets anything but the login page, pairing and ``/healthz``.

Every form post carries a CSRF token; every read or change of a patient's data writes an audit
event. The app keeps no state between requests (logins and rate-limit counts are in the database),
so any number of workers can serve one database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from siform import __version__
from siform.prescription import PatientPrescription
from siform.report.text import fmt_limit, fmt_score, fmt_value
from siform.server import dashboard, media, prescribe, security, uploads
from siform.server.db import engine_for, session_factory
from siform.server.models import (
    AuditEvent,
    Device,
    Invite,
    Patient,
    PrescriptionRecord,
    PrescriptionVersion,
    SessionNote,
    SessionRecord,
    SessionVideo,
    Therapist,
    WebLogin,
    utcnow,
)
from siform.server.settings import Settings, load_settings
from siform.server.uploads import UploadRefusedError, check_upload
from siform.specs.model import ExerciseSpec

LOGIN_COOKIE = "siform_login"
"""The therapist's login (a random token; its sha256 is a ``web_logins`` row)."""
FORM_COOKIE = "siform_form"
"""Binds the login form's CSRF token before anyone is logged in."""
API = "/api/v1"
PAGE_HEADERS = {
    "Cache-Control": "no-store",  # health data: no copies in shared or browser caches
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "media-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}

NOTE_MAX_CHARS = 5000
"""A therapist's note on a session: a few paragraphs, not a file."""
SPEC_DOSE_NOTE = (
    "Without a prescription from you, the dose is each exercise spec's own (sets × reps or holds per "
    "session, as the session file records it); specs set no sessions per week, so adherence is the "
    "sessions recorded this week (Monday to Sunday, UTC) and the share of that dose they did."
)
PRESCRIBED_NOTE = (
    "With your prescription, its dose is per day: sets × reps (or holds) per set, on each side for a "
    "one-sided exercise prescribed for both sides. This week's target is that dose times the days so "
    "far (Monday to today, UTC); done counts the reps (or holds) of this week's sessions of that "
    "exercise (of the prescribed side only, when one side is prescribed)."
)

ERROR_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "not_json",
    422: "invalid",
    429: "rate_limited",
}


class NotLoggedInError(Exception):
    """A therapist page without a valid login: pages redirect to /login, posts get 401."""


def get_db(request: Request) -> Iterator[Session]:
    """One database session per request (the engine's pool is shared by the whole worker)."""
    with request.app.state.factory() as db:
        yield db


Db = Annotated[Session, Depends(get_db)]


def login_of(request: Request, db: Session) -> tuple[Therapist, str] | None:
    """The therapist whose unexpired login the request's cookie holds, with the cookie's token."""
    token = request.cookies.get(LOGIN_COOKIE)
    if not token:
        return None
    row = db.get(WebLogin, security.sha256_hex(token))
    if row is None or row.expires_at <= utcnow():
        return None
    therapist = db.get(Therapist, row.therapist_id)
    return (therapist, token) if therapist is not None else None


class Web:
    """A logged-in therapist and the CSRF token of their login (for the page's forms)."""

    def __init__(self, therapist: Therapist, token: str, secret: str) -> None:
        self.therapist = therapist
        self.token = token
        self._secret = secret
        self.csrf = security.csrf_token(secret, "web", token)

    def check_csrf(self, given: str | None) -> None:
        if not security.csrf_ok(self._secret, "web", self.token, given):
            raise HTTPException(
                403, "The form is out of date or did not come from this site; reload the page."
            )


def web(request: Request, db: Db) -> Web:
    found = login_of(request, db)
    if found is None:
        raise NotLoggedInError
    return Web(*found, request.app.state.settings.secret_key)


WebUser = Annotated[Web, Depends(web)]
Csrf = Annotated[str | None, Form()]


async def posted_form(request: Request) -> dict[str, str]:
    """A form whose field names depend on the specs (the prescription form), as a dict."""
    return prescribe.form_dict((await request.form()).multi_items())


PostedForm = Annotated[dict[str, str], Depends(posted_form)]


def _templates() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("siform.server", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["when"] = _when
    # Numbers as report.html words them (a ratio to 3 decimals, a change against the person's own
    # median signed, 99.6 never full marks), so the therapist reads one figure in both places.
    env.filters["score"] = fmt_score
    env.filters["check_value"] = _check_value
    env.filters["check_limit"] = lambda c: fmt_limit(c, c.get("baseline") is not None)
    return env


def _when(t: datetime | str | None) -> str:
    """A time as every page writes it, in UTC to the minute; a document's ISO 8601 text (a session's
    ``recorded_utc``, any offset) the same way, or as it is when it is not a time."""
    if t is None:
        return "never"
    if isinstance(t, str):
        try:
            parsed = datetime.fromisoformat(t)
        except ValueError:
            return t
        t = parsed.astimezone(UTC) if parsed.tzinfo is not None else parsed
    return t.strftime("%Y-%m-%d %H:%M UTC")


def _check_value(c: dict[str, Any]) -> str:
    if c.get("baseline") is not None:
        return f"{fmt_value(c.get('value'), c['unit'], signed=True)} from the patient's median"
    return fmt_value(c.get("value"), c["unit"])


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """The app over ``settings`` (default: from the environment); the database must be migrated
    (``siform serve`` does it before starting workers; tests call ``db.upgrade``)."""
    settings = settings or load_settings()
    engine = engine or engine_for(settings)
    factory = session_factory(engine)
    templates = _templates()
    app = FastAPI(
        title="siform therapist server", version=__version__, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.factory = factory

    # -- plumbing ---------------------------------------------------------------------------------

    def address(request: Request) -> str:
        return request.client.host if request.client else ""

    def secure(request: Request) -> bool:
        return settings.cookie_secure == "always" or request.url.scheme == "https"

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = templates.get_template(name).render(request=request, **context)
        return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)

    def audit(
        db: Session, request: Request, kind: str, actor: str, patient: Patient, action: str, detail: str = ""
    ) -> None:
        db.add(
            AuditEvent(
                actor_kind=kind,
                actor_id=actor,
                therapist_id=patient.therapist_id,
                patient_id=patient.id,
                action=action,
                detail=detail[:500],
                address=address(request)[:64],
            )
        )

    spec_cache: dict[str, dict[str, ExerciseSpec]] = {}

    def specs() -> dict[str, ExerciseSpec]:
        """The exercise specs this server prescribes from, read once per worker (they change with a
        new siform, not while it runs)."""
        if "all" not in spec_cache:
            from siform.specs.load import load_all

            spec_cache["all"] = load_all()
        return spec_cache["all"]

    def prescription_of(
        db: Session, patient_id: str
    ) -> tuple[PrescriptionRecord | None, PatientPrescription | None]:
        row = db.get(PrescriptionRecord, patient_id)
        return row, (PatientPrescription.model_validate_json(row.document) if row is not None else None)

    @app.exception_handler(NotLoggedInError)
    def _not_logged_in(request: Request, _exc: NotLoggedInError) -> Response:
        if request.method == "GET":
            return RedirectResponse("/login", status_code=303)
        return JSONResponse({"error": "not_logged_in", "message": "Log in first."}, status_code=401)

    @app.exception_handler(StarletteHTTPException)
    def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """The API answers JSON; a page answers a page (with the logged-in header when there is one)."""
        headers = dict(exc.headers or {})
        message = str(exc.detail)
        if request.url.path.startswith(API + "/"):
            return JSONResponse(
                {"error": ERROR_CODES.get(exc.status_code, "error"), "message": message},
                status_code=exc.status_code,
                headers=headers,
            )
        titles = {404: "Not found", 403: "Not allowed", 422: "Not accepted", 405: "Not allowed"}
        response = page(
            request,
            "error.html",
            exc.status_code,
            user=None,
            code=exc.status_code,
            title=titles.get(exc.status_code, "Error"),
            message=message,
        )
        response.headers.update(headers)
        return response

    @app.exception_handler(media.MediaRefusedError)
    def _media_refused(_request: Request, exc: media.MediaRefusedError) -> Response:
        return JSONResponse({"error": exc.code, "message": exc.message}, status_code=exc.status)

    @app.exception_handler(UploadRefusedError)
    def _refused(_request: Request, exc: UploadRefusedError) -> Response:
        return JSONResponse(
            {"error": exc.code, "message": exc.message}, status_code=exc.status, headers=exc.headers
        )

    # -- therapist login ----------------------------------------------------------------------------

    def own_patient(db: Session, user: Web, patient_id: str) -> Patient:
        patient = db.get(Patient, patient_id)
        if patient is None or patient.therapist_id != user.therapist.id:
            raise HTTPException(404, "No such patient.")
        return patient

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"ok": True, "siform": __version__}

    @app.get("/")
    def root(request: Request, db: Db) -> Response:
        return RedirectResponse("/patients" if login_of(request, db) else "/login", status_code=303)

    def login_page(
        request: Request, status: int = 200, error: str | None = None, email: str = ""
    ) -> HTMLResponse:
        form_token = request.cookies.get(FORM_COOKIE) or security.new_login_token()
        response = page(
            request,
            "login.html",
            status,
            error=error,
            email=email,
            csrf=security.csrf_token(settings.secret_key, "login", form_token),
        )
        response.set_cookie(
            FORM_COOKIE,
            form_token,
            max_age=3600,
            httponly=True,
            samesite="strict",
            secure=secure(request),
            path="/login",
        )
        return response

    @app.get("/login")
    def login_form(request: Request, db: Db) -> Response:
        if login_of(request, db):
            return RedirectResponse("/patients", status_code=303)
        return login_page(request)

    @app.post("/login")
    def login(
        request: Request,
        db: Db,
        email: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        csrf: Csrf = None,
    ) -> Response:
        if not security.csrf_ok(settings.secret_key, "login", request.cookies.get(FORM_COOKIE), csrf):
            return login_page(request, 403, "The login form was out of date; please try again.", email)
        email = email.strip().lower()
        account_key, address_key = f"login:account:{email}", f"login:address:{address(request)}"
        window, limit = settings.login_window_s, settings.login_max_failures
        if (
            security.failures_since(db, account_key, window) >= limit
            or security.failures_since(db, address_key, window) >= 4 * limit
        ):
            response = login_page(
                request, 429, f"Too many failed logins; try again in {window // 60} minutes.", email
            )
            response.headers["Retry-After"] = str(window)
            return response
        therapist = db.scalar(select(Therapist).where(Therapist.email == email))
        if not security.verify_password(therapist.password_hash if therapist else None, password):
            security.record_failure(db, [account_key, address_key], window)
            db.commit()
            return login_page(request, 401, "E-mail address or password is wrong.", email)
        assert therapist is not None
        security.clear_failures(db, account_key, window)
        token = security.new_login_token()
        db.add(
            WebLogin(
                token_hash=security.sha256_hex(token),
                therapist_id=therapist.id,
                expires_at=utcnow() + timedelta(hours=settings.session_hours),
            )
        )
        db.commit()
        response = RedirectResponse("/patients", status_code=303)
        response.set_cookie(
            LOGIN_COOKIE,
            token,
            max_age=settings.session_hours * 3600,
            httponly=True,
            samesite="lax",
            secure=secure(request),
            path="/",
        )
        response.delete_cookie(FORM_COOKIE, path="/login")
        return response

    @app.post("/logout")
    def logout(request: Request, db: Db, user: WebUser, csrf: Csrf = None) -> Response:
        user.check_csrf(csrf)
        db.execute(delete(WebLogin).where(WebLogin.token_hash == security.sha256_hex(user.token)))
        db.commit()
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(LOGIN_COOKIE, path="/")
        return response

    # -- therapist pages ----------------------------------------------------------------------------

    @app.get("/patients")
    def patients(request: Request, db: Db, user: WebUser) -> Response:
        rows = db.execute(
            select(Patient, func.count(SessionRecord.id), func.max(SessionRecord.uploaded_at))
            .outerjoin(SessionRecord, SessionRecord.patient_id == Patient.id)
            .where(Patient.therapist_id == user.therapist.id)
            .group_by(Patient.id)
            .order_by(Patient.label)
        ).all()
        now = utcnow()
        since = (dashboard.week_start(now) - timedelta(days=1)).isoformat()  # a margin for zones
        recent: dict[str, list[dict[str, Any]]] = {}
        for pid, document in db.execute(
            select(SessionRecord.patient_id, SessionRecord.document)
            .join(Patient, Patient.id == SessionRecord.patient_id)
            .where(Patient.therapist_id == user.therapist.id, SessionRecord.recorded_utc >= since)
        ):
            recent.setdefault(pid, []).append(json.loads(document))
        latest: dict[str, list[tuple[str, str, float | None]]] = {}
        for pid, name, recorded, score in db.execute(
            select(
                SessionRecord.patient_id,
                SessionRecord.exercise_name,
                SessionRecord.recorded_utc,
                SessionRecord.mean_score,
            )
            .join(Patient, Patient.id == SessionRecord.patient_id)
            .where(Patient.therapist_id == user.therapist.id)
            .order_by(SessionRecord.recorded_utc.desc())
        ):
            if len(latest.setdefault(pid, [])) < 3:
                latest[pid].append((name, recorded[:10], score))
        prescriptions = {
            pid: PatientPrescription.model_validate_json(document)
            for pid, document in db.execute(
                select(PrescriptionRecord.patient_id, PrescriptionRecord.document)
                .join(Patient, Patient.id == PrescriptionRecord.patient_id)
                .where(Patient.therapist_id == user.therapist.id)
            )
        }
        return page(
            request,
            "patients.html",
            user=user,
            rows=rows,
            adherence={
                pid: dashboard.adherence(recent.get(pid, []), now, prescriptions.get(pid), specs())
                for pid in recent.keys() | prescriptions.keys()
            },
            prescriptions=prescriptions,
            latest=latest,
            week=dashboard.week_start(now),
            spec_dose_note=SPEC_DOSE_NOTE,
            prescribed_note=PRESCRIBED_NOTE,
        )

    def new_invite(db: Session, patient: Patient) -> str:
        code = security.new_invite_code()
        db.add(
            Invite(
                patient_id=patient.id,
                code_hash=security.sha256_hex(code),
                expires_at=utcnow() + timedelta(hours=settings.invite_hours),
            )
        )
        return code

    def invite_page(request: Request, user: Web, patient: Patient, code: str) -> HTMLResponse:
        base = str(request.base_url).rstrip("/")
        return page(
            request,
            "invite.html",
            201,
            user=user,
            patient=patient,
            code=code,
            server=base,
            hours=settings.invite_hours,
        )

    @app.post("/patients")
    def add_patient(
        request: Request, db: Db, user: WebUser, label: Annotated[str, Form()] = "", csrf: Csrf = None
    ) -> Response:
        user.check_csrf(csrf)
        label = " ".join(label.split())[:200]
        if not label:
            raise HTTPException(422, "Give the patient a name, initials or chart number.")
        patient = Patient(therapist_id=user.therapist.id, label=label)
        db.add(patient)
        db.flush()
        code = new_invite(db, patient)
        audit(db, request, "therapist", user.therapist.id, patient, "patient.created")
        audit(db, request, "therapist", user.therapist.id, patient, "invite.created")
        db.commit()
        return invite_page(request, user, patient, code)

    @app.get("/patients/{patient_id}")
    def patient_page(request: Request, db: Db, user: WebUser, patient_id: str) -> Response:
        patient = own_patient(db, user, patient_id)
        sessions = db.scalars(
            select(SessionRecord)
            .where(SessionRecord.patient_id == patient.id)
            .order_by(SessionRecord.recorded_utc.desc())
        ).all()
        devices = db.scalars(
            select(Device).where(Device.patient_id == patient.id).order_by(Device.created_at)
        ).all()
        audit(db, request, "therapist", user.therapist.id, patient, "patient.viewed")
        db.commit()
        docs = [json.loads(s.document) for s in sessions]
        trends = [
            (trend, [(m, dashboard.trend_svg(m, trend.weeks)) for m in trend.metrics])
            for trend in dashboard.trends(docs)
        ]
        now = utcnow()
        _row, prescription = prescription_of(db, patient.id)
        prescribed = prescription is not None and bool(prescription.exercises)
        return page(
            request,
            "patient.html",
            user=user,
            patient=patient,
            sessions=sessions,
            devices=devices,
            now=now,
            trends=trends,
            adherence=dashboard.adherence(docs, now, prescription, specs()),
            week=dashboard.week_start(now),
            prescription=prescription,
            prescription_summary=prescribe.summary(prescription, specs()) if prescription else [],
            prescription_note=PRESCRIBED_NOTE if prescribed else SPEC_DOSE_NOTE,
            week_label=dashboard.week_label,
        )

    @app.post("/patients/{patient_id}/invites")
    def add_invite(request: Request, db: Db, user: WebUser, patient_id: str, csrf: Csrf = None) -> Response:
        user.check_csrf(csrf)
        patient = own_patient(db, user, patient_id)
        code = new_invite(db, patient)
        audit(db, request, "therapist", user.therapist.id, patient, "invite.created")
        db.commit()
        return invite_page(request, user, patient, code)

    @app.post("/patients/{patient_id}/devices/{device_id}/revoke")
    def revoke_device(
        request: Request, db: Db, user: WebUser, patient_id: str, device_id: str, csrf: Csrf = None
    ) -> Response:
        user.check_csrf(csrf)
        patient = own_patient(db, user, patient_id)
        device = db.get(Device, device_id)
        if device is None or device.patient_id != patient.id:
            raise HTTPException(404, "No such device.")
        if device.revoked_at is None:
            device.revoked_at = utcnow()
            audit(db, request, "therapist", user.therapist.id, patient, "device.revoked", device.name)
        db.commit()
        return RedirectResponse(f"/patients/{patient.id}", status_code=303)

    def own_session(
        db: Session, user: Web, patient_id: str, session_id: str
    ) -> tuple[Patient, SessionRecord]:
        patient = own_patient(db, user, patient_id)
        record = db.get(SessionRecord, session_id)
        if record is None or record.patient_id != patient.id:
            raise HTTPException(404, "No such session.")
        return patient, record

    @app.get("/patients/{patient_id}/sessions/{session_id}")
    def session_page(request: Request, db: Db, user: WebUser, patient_id: str, session_id: str) -> Response:
        patient, record = own_session(db, user, patient_id, session_id)
        notes = db.execute(
            select(SessionNote, Therapist.name)
            .join(Therapist, Therapist.id == SessionNote.therapist_id)
            .where(SessionNote.session_id == record.id)
            .order_by(SessionNote.created_at, SessionNote.id)
        ).all()
        video = db.scalar(select(SessionVideo).where(SessionVideo.session_id == record.id))
        audit(db, request, "therapist", user.therapist.id, patient, "session.viewed", record.id)
        db.commit()
        doc = json.loads(record.document)
        # The shared video is the very file the review analysed (its sha256 is the document's
        # source.sha256): then the checks' worst moments are times in it, and the page links them.
        source = doc.get("source") if isinstance(doc.get("source"), dict) else {}
        return page(
            request,
            "session.html",
            user=user,
            patient=patient,
            record=record,
            video=video,
            video_is_source=video is not None and source.get("sha256") == video.sha256,
            doc=doc,
            notes=notes,
            note_max=NOTE_MAX_CHARS,
        )

    @app.get("/patients/{patient_id}/sessions/{session_id}/report")
    def session_report(request: Request, db: Db, user: WebUser, patient_id: str, session_id: str) -> Response:
        """The session's ``report.html``, rendered by :mod:`siform.report.html` from the stored
        document alone: ``render_report`` draws the charts from the document's per-frame ``series``
        block (session format 1.5; an older upload has none, and its report no charts section); no
        thumbnails (uploads never carry images); earlier sessions of the patient make its trend."""
        patient, record = own_session(db, user, patient_id, session_id)
        import numpy as np

        from siform.report.html import render_report

        doc = json.loads(record.document)
        others = db.scalars(
            select(SessionRecord.document).where(
                SessionRecord.patient_id == patient.id,
                SessionRecord.exercise_id == record.exercise_id,
                SessionRecord.id != record.id,
            )
        ).all()
        history = [json.loads(d) for d in others]
        # the report's trend keeps sessions of the same patient field: the server already knows
        # they are one patient's, so give them the stored session's value
        for h in history:
            h["patient"] = doc.get("patient")
        try:
            html = render_report(doc, np.zeros(0, dtype=np.int64), {}, {}, history)
        except (KeyError, TypeError, ValueError) as exc:
            raise HTTPException(
                422, f"This session's document cannot be drawn as a report ({type(exc).__name__})."
            ) from exc
        audit(db, request, "therapist", user.therapist.id, patient, "report.viewed", record.id)
        db.commit()
        return HTMLResponse(html, headers=PAGE_HEADERS)

    @app.get("/patients/{patient_id}/sessions/{session_id}/video")
    def session_video(request: Request, db: Db, user: WebUser, patient_id: str, session_id: str) -> Response:
        """The video the patient shared with this session, with HTTP ranges (Starlette's
        ``FileResponse``), so the page's player can seek. A player asks for many ranges while it
        plays; ``video.viewed`` is audited once per view: a request without a range or from byte 0."""
        patient, record = own_session(db, user, patient_id, session_id)
        video = db.scalar(select(SessionVideo).where(SessionVideo.session_id == record.id))
        if video is None:
            raise HTTPException(404, "The patient did not share a video of this session.")
        path = media.video_path(settings.media_dir, patient.id, video.file_name)
        if not path.is_file():
            raise HTTPException(404, "The video of this session is missing from the server's media folder.")
        wanted = request.headers.get("range", "").replace(" ", "")
        if not wanted or wanted.startswith("bytes=0-"):
            audit(db, request, "therapist", user.therapist.id, patient, "video.viewed", record.id)
            db.commit()
        return FileResponse(
            path,
            media_type=video.media_type,
            filename=f"siform-session-{record.id}{path.suffix}",
            content_disposition_type="inline",
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )

    @app.post("/patients/{patient_id}/sessions/{session_id}/notes")
    def add_note(
        request: Request,
        db: Db,
        user: WebUser,
        patient_id: str,
        session_id: str,
        csrf: Csrf = None,
        text: Annotated[str, Form()] = "",
    ) -> Response:
        user.check_csrf(csrf)
        patient, record = own_session(db, user, patient_id, session_id)
        text = text.strip()
        if not text:
            raise HTTPException(422, "The note is empty.")
        if len(text) > NOTE_MAX_CHARS:
            raise HTTPException(422, f"A note holds at most {NOTE_MAX_CHARS} characters.")
        note = SessionNote(
            session_id=record.id, patient_id=patient.id, therapist_id=user.therapist.id, text=text
        )
        db.add(note)
        db.flush()
        audit(db, request, "therapist", user.therapist.id, patient, "note.added", f"{record.id} {note.id}")
        db.commit()
        return RedirectResponse(f"/patients/{patient.id}/sessions/{record.id}#notes", status_code=303)

    # -- prescriptions -------------------------------------------------------------------------------

    def prescription_page(
        request: Request,
        db: Session,
        user: Web,
        patient: Patient,
        status: int = 200,
        posted: dict[str, str] | None = None,
        errors: list[str] | None = None,
        base_version: int | None = None,
        saved: int | None = None,
    ) -> HTMLResponse:
        row, current = prescription_of(db, patient.id)
        versions = db.execute(
            select(PrescriptionVersion, Therapist.name)
            .join(Therapist, Therapist.id == PrescriptionVersion.therapist_id)
            .where(PrescriptionVersion.patient_id == patient.id)
            .order_by(PrescriptionVersion.version.desc())
        ).all()
        history = [
            (v, name, prescribe.summary(PatientPrescription.model_validate_json(v.document), specs()))
            for v, name in versions
        ]
        version = row.version if row is not None else 0
        return page(
            request,
            "prescription.html",
            status,
            user=user,
            patient=patient,
            row=row,
            current=current,
            exercises=prescribe.form_rows(specs(), current, posted),
            errors=errors or [],
            base_version=version if base_version is None else base_version,
            saved=saved if saved is not None and saved == version else None,
            history=history,
            ranges=prescribe.RANGES,
            note_max=prescribe.NOTE_MAX,
            prescribed_note=PRESCRIBED_NOTE,
        )

    @app.get("/patients/{patient_id}/prescription")
    def prescription_form(
        request: Request, db: Db, user: WebUser, patient_id: str, saved: int | None = None
    ) -> Response:
        patient = own_patient(db, user, patient_id)
        audit(db, request, "therapist", user.therapist.id, patient, "prescription.viewed")
        db.commit()
        return prescription_page(request, db, user, patient, saved=saved)

    @app.post("/patients/{patient_id}/prescription")
    def save_prescription(
        request: Request, db: Db, user: WebUser, patient_id: str, form: PostedForm
    ) -> Response:
        """Validate the form into a :class:`PatientPrescription` and store it as the next version
        (refused with the reasons on the page, nothing stored, when anything is wrong)."""
        user.check_csrf(form.get("csrf"))
        patient = own_patient(db, user, patient_id)
        row, old = prescription_of(db, patient.id)
        version = row.version if row is not None else 0
        try:
            base = int(form.get("base_version", ""))
        except ValueError:
            base = -1
        now = utcnow()
        try:
            new = prescribe.parse_form(
                form,
                specs(),
                patient.id,
                version + 1,
                now.isoformat(timespec="seconds"),
                user.therapist.name,
            )
        except prescribe.FormRefusedError as exc:
            return prescription_page(request, db, user, patient, 422, form, exc.messages, base)
        if base != version:
            stale = [
                f"The prescription was changed since this page was opened (it is now version {version}). "
                "Nothing was saved: compare your entries below with the current version under "
                "History, then save again."
            ]
            return prescription_page(request, db, user, patient, 409, form, stale, version)
        what = "; ".join(prescribe.changes(old, new, specs()))
        document = new.model_dump_json()
        db.add(
            PrescriptionVersion(
                patient_id=patient.id,
                version=new.version,
                document=document,
                therapist_id=user.therapist.id,
                created_at=now,
                changes=what[:2000],
            )
        )
        if row is None:
            db.add(
                PrescriptionRecord(
                    patient_id=patient.id,
                    version=new.version,
                    document=document,
                    therapist_id=user.therapist.id,
                    updated_at=now,
                )
            )
        else:
            row.version, row.document, row.therapist_id, row.updated_at = (
                new.version,
                document,
                user.therapist.id,
                now,
            )
        audit(
            db,
            request,
            "therapist",
            user.therapist.id,
            patient,
            "prescription.changed",
            f"v{new.version}: {what}",
        )
        try:
            db.commit()
        except IntegrityError:  # another save of the same version won the race a moment ago
            db.rollback()
            raced = [
                "Someone saved this prescription at the same moment; nothing of yours was saved. Save again."
            ]
            return prescription_page(request, db, user, patient, 409, form, raced, None)
        return RedirectResponse(f"/patients/{patient.id}/prescription?saved={new.version}", status_code=303)

    @app.get("/patients/{patient_id}/audit")
    def audit_page(request: Request, db: Db, user: WebUser, patient_id: str) -> Response:
        patient = own_patient(db, user, patient_id)
        events = db.scalars(
            select(AuditEvent)
            .where(AuditEvent.patient_id == patient.id)
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(1000)
        ).all()
        audit(db, request, "therapist", user.therapist.id, patient, "audit.viewed")
        db.commit()
        return page(request, "audit.html", user=user, patient=patient, events=events)

    @app.get("/audit")
    def audit_all(request: Request, db: Db, user: WebUser) -> Response:
        """Every event of this therapist's patients, deleted ones included (their pages are gone)."""
        events = db.scalars(
            select(AuditEvent)
            .where(AuditEvent.therapist_id == user.therapist.id)
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(1000)
        ).all()
        return page(request, "audit.html", user=user, patient=None, events=events)

    def export_doc(db: Session, patient: Patient) -> dict[str, Any]:
        sessions = db.scalars(
            select(SessionRecord)
            .where(SessionRecord.patient_id == patient.id)
            .order_by(SessionRecord.recorded_utc)
        ).all()
        devices = db.scalars(select(Device).where(Device.patient_id == patient.id)).all()
        notes = db.scalars(
            select(SessionNote).where(SessionNote.patient_id == patient.id).order_by(SessionNote.created_at)
        ).all()
        events = db.scalars(
            select(AuditEvent).where(AuditEvent.patient_id == patient.id).order_by(AuditEvent.id)
        ).all()
        videos = db.scalars(
            select(SessionVideo)
            .where(SessionVideo.patient_id == patient.id)
            .order_by(SessionVideo.uploaded_at)
        ).all()
        _row, prescription = prescription_of(db, patient.id)
        versions = db.scalars(
            select(PrescriptionVersion)
            .where(PrescriptionVersion.patient_id == patient.id)
            .order_by(PrescriptionVersion.version)
        ).all()

        def iso(t: Any) -> str | None:
            return t.isoformat(timespec="seconds") if t is not None else None

        return {
            "kind": "siform.patient_export",
            "exported_utc": iso(utcnow()),
            "patient": {"id": patient.id, "label": patient.label, "created_utc": iso(patient.created_at)},
            "devices": [
                {
                    "id": d.id,
                    "name": d.name,
                    "paired_utc": iso(d.created_at),
                    "expires_utc": iso(d.expires_at),
                    "revoked_utc": iso(d.revoked_at),
                    "last_used_utc": iso(d.last_used_at),
                }
                for d in devices
            ],
            "sessions": [
                {
                    "id": s.id,
                    "uploaded_utc": iso(s.uploaded_at),
                    "session_key": s.session_key,
                    "document": json.loads(s.document),
                }
                for s in sessions
            ],
            "notes": [
                {
                    "id": n.id,
                    "session_id": n.session_id,
                    "therapist_id": n.therapist_id,
                    "created_utc": iso(n.created_at),
                    "text": n.text,
                }
                for n in notes
            ],
            "videos": [  # what is stored, not the bytes (the therapist's session page plays them)
                {
                    "session_id": v.session_id,
                    "file_name": v.file_name,
                    "media_type": v.media_type,
                    "size_bytes": v.size_bytes,
                    "sha256": v.sha256,
                    "uploaded_utc": iso(v.uploaded_at),
                }
                for v in videos
            ],
            "prescription": prescription.model_dump(mode="json") if prescription is not None else None,
            "prescription_history": [
                {
                    "version": v.version,
                    "saved_utc": iso(v.created_at),
                    "therapist_id": v.therapist_id,
                    "changes": v.changes,
                    "prescription": json.loads(v.document),
                }
                for v in versions
            ],
            "audit": [
                {
                    "at_utc": iso(e.at),
                    "actor": e.actor_kind,
                    "actor_id": e.actor_id,
                    "action": e.action,
                    "detail": e.detail,
                }
                for e in events
            ],
        }

    def export_response(doc: dict[str, Any], patient: Patient) -> Response:
        body = json.dumps(doc, indent=1, ensure_ascii=False)
        return Response(
            body,
            media_type="application/json",
            headers={
                **PAGE_HEADERS,
                "Content-Disposition": f'attachment; filename="siform-patient-{patient.id}.json"',
            },
        )

    @app.get("/patients/{patient_id}/export")
    def export_patient(request: Request, db: Db, user: WebUser, patient_id: str) -> Response:
        patient = own_patient(db, user, patient_id)
        audit(db, request, "therapist", user.therapist.id, patient, "patient.exported")
        db.commit()
        return export_response(export_doc(db, patient), patient)

    @app.post("/patients/{patient_id}/delete")
    def delete_patient(
        request: Request,
        db: Db,
        user: WebUser,
        patient_id: str,
        csrf: Csrf = None,
        confirm: Annotated[str, Form()] = "",
    ) -> Response:
        user.check_csrf(csrf)
        patient = own_patient(db, user, patient_id)
        if confirm.strip() != "delete":
            raise HTTPException(422, "Type 'delete' to confirm that all of this patient's data goes.")
        n = db.scalar(
            select(func.count()).select_from(SessionRecord).where(SessionRecord.patient_id == patient.id)
        )
        videos = db.scalar(
            select(func.count()).select_from(SessionVideo).where(SessionVideo.patient_id == patient.id)
        )
        for table in (
            SessionNote,
            SessionVideo,
            SessionRecord,
            Device,
            Invite,
            PrescriptionVersion,
            PrescriptionRecord,
        ):
            db.execute(delete(table).where(table.patient_id == patient.id))
        audit(
            db,
            request,
            "therapist",
            user.therapist.id,
            patient,
            "patient.deleted",
            f"{n} session(s), {videos} video(s), devices, invites and prescriptions deleted",
        )
        db.execute(delete(Patient).where(Patient.id == patient.id))
        db.commit()
        media.delete_patient_media(settings.media_dir, patient.id)  # the rows are gone: now the files
        return RedirectResponse("/patients", status_code=303)

    # -- device API -----------------------------------------------------------------------------------

    def device_of(request: Request, db: Session) -> Device:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        device = None
        if scheme.lower() == "bearer" and token.strip():
            device = db.scalar(select(Device).where(Device.token_hash == security.sha256_hex(token.strip())))
        now = utcnow()
        if device is None or device.revoked_at is not None or device.expires_at <= now:
            why = "expired or revoked" if device is not None else "missing or unknown"
            raise HTTPException(
                401,
                f"The device token is {why}; pair this device again with a new invite "
                "code from your therapist.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        device.last_used_at = now
        return device

    def device_patient(request: Request, db: Session, patient_id: str) -> tuple[Device, Patient]:
        device = device_of(request, db)
        if device.patient_id != patient_id:
            raise HTTPException(404, "No such patient.")
        patient = db.get(Patient, patient_id)
        assert patient is not None  # a device row is deleted with its patient
        return device, patient

    @app.post(f"{API}/pair")
    def pair(request: Request, db: Db, body: dict[str, Any]) -> Response:
        """Trade an invite code for a device token (shown once; the server keeps only its hash)."""
        key = f"pair:address:{address(request)}"
        window, limit = settings.login_window_s, 4 * settings.login_max_failures
        if security.failures_since(db, key, window) >= limit:
            return JSONResponse(
                {"error": "rate_limited", "message": "Too many wrong invite codes; try later."},
                status_code=429,
                headers={"Retry-After": str(window)},
            )
        code, name = body.get("code"), body.get("device_name") or "device"
        if not isinstance(code, str) or not isinstance(name, str):
            raise HTTPException(422, 'Send {"code": "XXXX-XXXX-XXXX", "device_name": "..."}.')
        invite = db.scalar(
            select(Invite).where(
                Invite.code_hash == security.sha256_hex(security.normalize_invite_code(code))
            )
        )
        now = utcnow()
        if invite is None or invite.used_at is not None or invite.expires_at <= now:
            security.record_failure(db, [key], window)
            db.commit()
            return JSONResponse(
                {
                    "error": "invalid_code",
                    "message": "This invite code is unknown, used or "
                    "expired; ask your therapist for a new one.",
                },
                status_code=403,
            )
        invite.used_at = now
        token = security.new_device_token()
        device = Device(
            patient_id=invite.patient_id,
            name=" ".join(name.split())[:200] or "device",
            token_hash=security.sha256_hex(token),
            expires_at=now + timedelta(days=settings.token_days),
        )
        db.add(device)
        patient = db.get(Patient, invite.patient_id)
        assert patient is not None
        db.flush()
        audit(db, request, "patient", device.id, patient, "device.paired", device.name)
        db.commit()
        return JSONResponse(
            {
                "token": token,
                "patient_id": patient.id,
                "device_id": device.id,
                "expires_utc": device.expires_at.isoformat(timespec="seconds"),
            },
            status_code=201,
        )

    @app.post(f"{API}/patients/{{patient_id}}/sessions")
    async def upload(request: Request, patient_id: str) -> Response:
        """Store one ``session.json`` (idempotent: a retry answers 200 with the stored id).

        The hot path of the server: two hops to the thread pool (authorize; check and store), Core
        statements in ``uploads`` rather than the ORM (see its docstring)."""

        def authorize() -> uploads.Uploader:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                return uploads.authorize(conn, request.headers.get("authorization", ""), patient_id)

        uploader = await run_in_threadpool(authorize)  # 401/404 before a byte of the body is read
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise UploadRefusedError(
                415, "not_json", "Send the session document as application/json; a shared video goes to "
                "/api/v1/patients/{id}/sessions/{session_id}/video."
            )
        limit = settings.max_upload_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise UploadRefusedError(413, "too_large", f"The upload is larger than {limit} bytes.")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise UploadRefusedError(413, "too_large", f"The upload is larger than {limit} bytes.")

        def check_and_store() -> tuple[int, dict[str, Any]]:
            return uploads.store(engine, uploader, check_upload(bytes(body), limit), address(request))

        status, answer = await run_in_threadpool(check_and_store)
        return JSONResponse(answer, status_code=status)

    @app.get(f"{API}/patients/{{patient_id}}/sessions")
    def list_sessions(request: Request, db: Db, patient_id: str) -> dict[str, Any]:
        _device, patient = device_patient(request, db, patient_id)
        rows = db.scalars(
            select(SessionRecord)
            .where(SessionRecord.patient_id == patient.id)
            .order_by(SessionRecord.recorded_utc)
        ).all()
        db.commit()
        return {
            "sessions": [
                {
                    "id": r.id,
                    "session_key": r.session_key,
                    "exercise": r.exercise_id,
                    "recorded_utc": r.recorded_utc,
                }
                for r in rows
            ]
        }

    @app.get(f"{API}/patients/{{patient_id}}/sessions/{{session_id}}")
    def get_session(request: Request, db: Db, patient_id: str, session_id: str) -> Response:
        device, patient = device_patient(request, db, patient_id)
        record = db.get(SessionRecord, session_id)
        if record is None or record.patient_id != patient.id:
            raise HTTPException(404, "No such session.")
        audit(db, request, "patient", device.id, patient, "session.viewed", record.id)
        db.commit()
        return Response(record.document, media_type="application/json", headers={"Cache-Control": "no-store"})

    @app.get(f"{API}/patients/{{patient_id}}/sessions/{{session_id}}/video")
    def video_status(request: Request, db: Db, patient_id: str, session_id: str) -> dict[str, Any]:
        """What the server holds of this session's video (its size and sha256, or null) and the
        largest it takes: the patient's siform asks before sending hundreds of megabytes, so a retry
        of a stored video sends nothing and a video too large is said, not queued for ever. Not
        audited: it shows the device nothing but what it sent."""
        _device, patient = device_patient(request, db, patient_id)
        record = db.get(SessionRecord, session_id)
        if record is None or record.patient_id != patient.id:
            raise HTTPException(404, "No such session: upload its session.json first.")
        row = db.scalar(select(SessionVideo).where(SessionVideo.session_id == record.id))
        db.commit()  # the device's last use
        stored = None
        if row is not None:
            stored = {"size_bytes": row.size_bytes, "sha256": row.sha256, "media_type": row.media_type}
        return {"video": stored, "max_video_bytes": settings.max_video_bytes}

    @app.put(f"{API}/patients/{{patient_id}}/sessions/{{session_id}}/video")
    async def put_video(request: Request, patient_id: str, session_id: str) -> Response:
        """Store the video of an uploaded session, sent only because the patient opted in
        (``--share-video``). ``session_id`` is the id the session's upload answered. The body is
        streamed to disk (``media.Incoming``), never held in memory; larger than ``max_video_bytes``
        is 413, not an MP4/MOV/WebM 415, and nothing is kept. Idempotent: the same bytes again
        answer 200 with the stored video, other bytes 409 (the stored one stays)."""

        def authorize() -> tuple[str, str]:
            with factory() as db:
                device, patient = device_patient(request, db, patient_id)
                record = db.get(SessionRecord, session_id)
                if record is None or record.patient_id != patient.id:
                    raise HTTPException(404, "No such session: upload its session.json first.")
                return device.id, record.id  # not committed: a refused video changes nothing

        device_id, record_id = await run_in_threadpool(authorize)  # before a byte of the body is read
        limit = settings.max_video_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise media.MediaRefusedError(413, "too_large", f"The video is larger than {limit} bytes.")
        incoming = await run_in_threadpool(media.Incoming.start, settings.media_dir, limit)
        try:
            async for chunk in request.stream():
                await run_in_threadpool(incoming.write, chunk)
            digest = await run_in_threadpool(incoming.finish)
        except BaseException:
            incoming.discard()
            raise

        def answer(row: SessionVideo, duplicate: bool) -> dict[str, Any]:
            return {
                "id": row.id,
                "session_id": row.session_id,
                "size_bytes": row.size_bytes,
                "sha256": row.sha256,
                "media_type": row.media_type,
                "duplicate": duplicate,
            }

        def stored(db: Session) -> tuple[int, dict[str, Any]] | None:
            row = db.scalar(select(SessionVideo).where(SessionVideo.session_id == record_id))
            if row is None:
                return None
            if row.sha256 != digest:
                raise media.MediaRefusedError(
                    409,
                    "conflict",
                    "This session has another video already; the server keeps the first one sent.",
                )
            return 200, answer(row, True)

        def store() -> tuple[int, dict[str, Any]]:
            with factory() as db:
                device = db.get(Device, device_id)
                if device is not None:
                    device.last_used_at = utcnow()
                found = stored(db)
                if found is not None:
                    db.commit()
                    return found
                patient = db.get(Patient, patient_id)
                if patient is None:  # deleted while the video came in
                    raise HTTPException(404, "No such patient.")
                name = incoming.keep(settings.media_dir, patient_id)
                row = SessionVideo(
                    session_id=record_id,
                    patient_id=patient_id,
                    file_name=name,
                    media_type=incoming.media_type,
                    size_bytes=incoming.size,
                    sha256=digest,
                    device_id=device_id,
                )
                db.add(row)
                detail = f"{record_id} {incoming.size} bytes {incoming.media_type}"
                audit(db, request, "patient", device_id, patient, "video.uploaded", detail)
                try:
                    db.commit()
                except IntegrityError:  # the same session's video stored a moment ago, or the session gone
                    db.rollback()
                    media.video_path(settings.media_dir, patient_id, name).unlink(missing_ok=True)
                    found = stored(db)
                    if found is None:
                        raise HTTPException(404, "No such session.") from None
                    return found
                return 201, answer(row, False)

        try:
            status, body = await run_in_threadpool(store)
        finally:
            incoming.discard()  # a no-op once kept
        return JSONResponse(body, status_code=status)

    @app.get(f"{API}/patients/{{patient_id}}/prescription")
    def device_prescription(request: Request, db: Db, patient_id: str) -> Response:
        """The patient's current prescription (``siform sync``): the stored
        :class:`PatientPrescription` JSON, or version 0 without exercises when none is set."""
        device, patient = device_patient(request, db, patient_id)
        row = db.get(PrescriptionRecord, patient.id)
        body = (
            row.document if row is not None else PatientPrescription(patient_id=patient.id).model_dump_json()
        )
        version = row.version if row is not None else 0
        audit(db, request, "patient", device.id, patient, "prescription.viewed", f"v{version}")
        db.commit()
        return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})

    @app.get(f"{API}/patients/{{patient_id}}/export")
    def export_own(request: Request, db: Db, patient_id: str) -> Response:
        device, patient = device_patient(request, db, patient_id)
        audit(db, request, "patient", device.id, patient, "patient.exported")
        db.commit()
        return export_response(export_doc(db, patient), patient)

    return app


def app_from_env() -> FastAPI:
    """uvicorn's factory (``siform serve`` passes settings to its workers through the environment)."""
    return create_app()
