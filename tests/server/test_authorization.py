"""The authorization matrix: every route of the app, with every role, on SQLite and PostgreSQL.

The target is always patient A (therapist A's patient): for therapist B and patient B it is someone
else's patient. Each case runs on a fresh copy of the world and checks the status, that a refused
request stored nothing (every row of every table is unchanged), and that no response to a role not
entitled to patient A carries A's name, ids or session. A test also checks that the matrix names
every route the app has, so a new route without a row here fails.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from siform.server.app import create_app
from siform.server.settings import Settings

from .conftest import LABEL_A, PASSWORD_A, ROOT, Server, World, as_role, bearer, csrf_of, variant

VIDEO = ROOT / "sample_videos" / "bridge_high_short.mp4"
"""A real clip: the video patient A shared with their session (the video routes' rows)."""

ROLES = ["anonymous", "therapist_a", "therapist_b", "patient_a", "patient_b", "expired", "revoked"]


def web_page(owner_ok: int, other: int = 404) -> dict[str, int]:
    """A therapist page of patient A: its owner gets ``owner_ok``, therapist B ``other``, anyone
    without a login is sent to the login page (303)."""
    return {"anonymous": 303, "therapist_a": owner_ok, "therapist_b": other, **{r: 303 for r in ROLES[3:]}}


def web_post(owner_ok: int, other: int = 404) -> dict[str, int]:
    """A therapist form post on patient A: without a login it is 401 (nothing is done)."""
    return {"anonymous": 401, "therapist_a": owner_ok, "therapist_b": other, **{r: 401 for r in ROLES[3:]}}


def device_api(ok: int) -> dict[str, int]:
    """Patient A's API: only A's valid device; B's device gets 404 (no such patient for it)."""
    return {
        "anonymous": 401,
        "therapist_a": 401,
        "therapist_b": 401,
        "patient_a": ok,
        "patient_b": 404,
        "expired": 401,
        "revoked": 401,
    }


# (method, route as the app declares it) -> expected status per role
MATRIX: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/healthz"): dict.fromkeys(ROLES, 200),
    ("GET", "/"): dict.fromkeys(ROLES, 303),
    ("GET", "/login"): {**dict.fromkeys(ROLES, 200), "therapist_a": 303, "therapist_b": 303},
    ("POST", "/login"): dict.fromkeys(ROLES, 303),  # public: anyone with the right password
    ("POST", "/logout"): web_post(303, 303),
    ("GET", "/patients"): web_page(200, 200),
    ("POST", "/patients"): web_post(201, 201),
    ("GET", "/audit"): web_page(200, 200),
    ("GET", "/patients/{patient_id}"): web_page(200),
    ("POST", "/patients/{patient_id}/invites"): web_post(201),
    ("POST", "/patients/{patient_id}/devices/{device_id}/revoke"): web_post(303),
    ("GET", "/patients/{patient_id}/sessions/{session_id}"): web_page(200),
    ("GET", "/patients/{patient_id}/sessions/{session_id}/report"): web_page(200),
    ("POST", "/patients/{patient_id}/sessions/{session_id}/notes"): web_post(303),
    ("GET", "/patients/{patient_id}/sessions/{session_id}/video"): web_page(200),
    ("GET", "/patients/{patient_id}/audit"): web_page(200),
    ("GET", "/patients/{patient_id}/export"): web_page(200),
    ("POST", "/patients/{patient_id}/delete"): web_post(303),
    ("GET", "/patients/{patient_id}/prescription"): web_page(200),
    ("POST", "/patients/{patient_id}/prescription"): web_post(303),
    ("POST", "/api/v1/pair"): dict.fromkeys(ROLES, 201),  # public: the invite code is the credential
    ("POST", "/api/v1/patients/{patient_id}/sessions"): device_api(201),
    ("GET", "/api/v1/patients/{patient_id}/sessions"): device_api(200),
    ("GET", "/api/v1/patients/{patient_id}/sessions/{session_id}"): device_api(200),
    ("PUT", "/api/v1/patients/{patient_id}/sessions/{session_id}/video"): device_api(201),
    ("GET", "/api/v1/patients/{patient_id}/sessions/{session_id}/video"): device_api(200),
    ("GET", "/api/v1/patients/{patient_id}/export"): device_api(200),
    ("GET", "/api/v1/patients/{patient_id}/prescription"): device_api(200),
}
ENTITLED_TO_A = {"therapist_a", "patient_a"}
"""Who may ever see patient A's data (pair and login answers carry nothing of A's either)."""


def test_the_matrix_names_every_route() -> None:
    app = create_app(Settings(database_url="sqlite://", secret_key="x" * 40))
    routes = {(m, r.path) for r in app.routes if hasattr(r, "methods") for m in r.methods if m != "HEAD"}
    assert routes == set(MATRIX), (
        f"routes without a row: {routes - set(MATRIX)}; stale rows: {set(MATRIX) - routes}"
    )


def _request(
    client: Any,
    headers: dict[str, str],
    csrf: str | None,
    method: str,
    route: str,
    world: World,
    doc: dict[str, Any],
) -> Any:
    path = route.format(patient_id=world.patient_a, session_id=world.session_a, device_id=world.device_a)
    form: dict[str, str] = {"csrf": csrf} if csrf else {}
    if route == "/login":
        if method == "GET":
            return client.get(path, headers=headers)
        token = csrf_of(client.get("/login").text) if "siform_login" not in client.cookies else None
        if token is None:  # a logged-in therapist is sent on; log in from a fresh form anyway
            client.cookies.clear()
            token = csrf_of(client.get("/login").text)
        return client.post(
            path, headers=headers, data={"email": "a@clinic.example", "password": PASSWORD_A, "csrf": token}
        )
    if route == "/api/v1/pair":
        return client.post(path, headers=headers, json={"code": world.invite_a, "device_name": "tablet"})
    if method == "PUT" and route.endswith("/video"):
        return client.put(path, headers={**headers, "Content-Type": "video/mp4"}, content=VIDEO.read_bytes())
    if route == "/api/v1/patients/{patient_id}/sessions" and method == "POST":
        body = json.dumps(variant(doc, 7)).encode()
        return client.post(path, headers={**headers, "Content-Type": "application/json"}, content=body)
    if route == "/patients":
        form["label"] = "New patient"
    if route.endswith("/delete"):
        form["confirm"] = "delete"
    if route.endswith("/notes"):
        form["text"] = "Hips level on every rep."
    if route.endswith("/prescription"):
        form |= {"base_version": "0", "ex.glute_bridge.on": "1", "ex.glute_bridge.sets": "3"}
    if method == "GET":
        return client.get(path, headers=headers)
    return client.post(path, headers=headers, data=form)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "route"), list(MATRIX), ids=[f"{m} {r}" for m, r in MATRIX])
def test_matrix(
    world_server: tuple[Server, World],
    session_doc: dict[str, Any],
    method: str,
    route: str,
    role: str,
    tmp_path: Path,
) -> None:
    server, world = world_server
    expected = MATRIX[(method, route)][role]
    media = tmp_path / "media"
    if route.endswith("/video"):  # the videos go to the test's own media folder
        server.settings = replace(server.settings, media_dir=str(media))
        if method == "GET" and not route.startswith("/api/"):  # patient A shared a video of the session
            r = server.client().put(
                f"/api/v1/patients/{world.patient_a}/sessions/{world.session_a}/video",
                headers={**bearer(world.token_a), "Content-Type": "video/mp4"},
                content=VIDEO.read_bytes(),
            )
            assert r.status_code == 201, r.text
    stored = sorted(p for p in media.rglob("*") if p.is_file()) if media.exists() else []
    before = server.dump()
    client, headers, csrf = as_role(server, world, role)
    r = _request(client, headers, csrf, method, route, world, session_doc)
    assert r.status_code == expected, f"{method} {route} as {role}: {r.status_code} {r.text[:300]}"
    refused = r.status_code >= 400 or (method == "GET" and r.status_code == 303)
    if refused:
        assert server.dump() == before, f"{method} {route} as {role} was refused but changed the database"
        now = sorted(p for p in media.rglob("*") if p.is_file()) if media.exists() else []
        assert now == stored, f"{method} {route} as {role} was refused but changed the media folder"
    if method == "GET" and route.endswith("/video") and r.status_code == 200 and role == "therapist_a":
        assert r.content == VIDEO.read_bytes()
    if role not in ENTITLED_TO_A and route != "/api/v1/pair":  # pairing with A's code joins A's devices
        for secret in [
            LABEL_A,
            world.patient_a,
            world.session_a,
            world.token_a,
            *_session_marks(session_doc),
        ]:
            assert secret not in r.text, f"{method} {route} as {role} shows {secret!r}"


def _session_marks(doc: dict[str, Any]) -> list[str]:
    """Strings that appear in A's stored session and nowhere else (its recording time)."""
    return [doc["created_utc"]]


def test_denied_is_not_found_exactly_like_a_missing_patient(world_server: tuple[Server, World]) -> None:
    """Therapist B cannot tell A's patient from an id that does not exist (no probing of ids)."""
    server, world = world_server
    client, _headers, _csrf = as_role(server, world, "therapist_b")
    theirs = client.get(f"/patients/{world.patient_a}")
    missing = client.get(f"/patients/{'0' * 32}")
    assert theirs.status_code == missing.status_code == 404
    assert re.sub(r"\s+", " ", theirs.text) == re.sub(r"\s+", " ", missing.text)


def test_logout_ends_the_login_for_every_copy_of_the_cookie(world_server: tuple[Server, World]) -> None:
    """Logging out ends the login for every copy of the cookie (it is a database row, not a signature)."""
    server, world = world_server
    client, _headers, csrf = as_role(server, world, "therapist_a")
    assert client.get("/patients").status_code == 200
    assert client.post("/logout", data={"csrf": csrf}).status_code == 303
    stolen, _h, _c = as_role(server, world, "therapist_a")  # the same cookie value, kept elsewhere
    assert stolen.get("/patients").status_code == 303
