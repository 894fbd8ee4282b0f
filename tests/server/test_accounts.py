"""Therapist logins, cookies, CSRF, rate limits, invites and device tokens (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, text, update

from siform.server.command import create_therapist
from siform.server.models import Attempt, Invite, Therapist, utcnow

from .conftest import PASSWORD_A, Server, World, as_role, bearer, csrf_of, login, pair


def form_login(client: Any, email: str, password: str) -> Any:
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"email": email, "password": password, "csrf": token})


def cookie_header(response: Any, name: str) -> str:
    found = [h for h in response.headers.get_list("set-cookie") if h.startswith(name + "=")]
    assert found, (response.status_code, response.text[-600:])
    return found[0].lower()


def test_login_cookie_is_httponly_samesite_and_secure_over_https(world_server: tuple[Server, World]) -> None:
    server, _world = world_server
    plain = form_login(server.client(), "a@clinic.example", PASSWORD_A)
    header = cookie_header(plain, "siform_login")
    assert "httponly" in header and "samesite=lax" in header and "path=/" in header
    assert "secure" not in header  # plain http in a test: a Secure cookie would never come back
    https = form_login(server.client(https=True), "a@clinic.example", PASSWORD_A)
    assert "secure" in cookie_header(https, "siform_login")
    # behind a proxy that terminates TLS without saying so, "always" still marks the cookies Secure
    always = server.client(cookie_secure="always").get("/login")
    assert "secure" in cookie_header(always, "siform_form")
    form = server.client(https=True).get("/login")
    form_cookie = cookie_header(form, "siform_form")
    assert "secure" in form_cookie and "samesite=strict" in form_cookie and "httponly" in form_cookie
    for name, value in {"Cache-Control": "no-store", "X-Frame-Options": "DENY"}.items():
        assert form.headers[name] == value
    assert "frame-ancestors 'none'" in form.headers["Content-Security-Policy"]


def test_wrong_password_and_unknown_account_answer_alike(world_server: tuple[Server, World]) -> None:
    server, _world = world_server
    wrong = form_login(server.client(), "a@clinic.example", "not the password")
    unknown = form_login(server.client(), "nobody@clinic.example", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "siform_login" not in wrong.headers.get("set-cookie", "")
    assert "wrong" in wrong.text and "wrong" in unknown.text


def test_csrf_is_required_on_every_form(world_server: tuple[Server, World]) -> None:
    server, world = world_server
    before = server.dump()
    # the login form: no token, a made-up token, a token of another form cookie
    client = server.client()
    client.get("/login")
    for token in (None, "0" * 64, csrf_of(server.client().get("/login").text)):
        data = {"email": "a@clinic.example", "password": PASSWORD_A, **({"csrf": token} if token else {})}
        assert client.post("/login", data=data).status_code == 403
    # a logged-in therapist's forms: no token, and therapist B's token with A's cookie
    a, _h, csrf_a = as_role(server, world, "therapist_a")
    for data in ({}, {"csrf": world.csrf_b}, {"csrf": csrf_a[:-1] + ("0" if csrf_a[-1] != "0" else "1")}):
        assert a.post("/patients", data={"label": "X", **data}).status_code == 403
        assert a.post(f"/patients/{world.patient_a}/invites", data=data).status_code == 403
        assert (
            a.post(f"/patients/{world.patient_a}/delete", data={"confirm": "delete", **data}).status_code
            == 403
        )
        assert a.post("/logout", data=data).status_code == 403
    assert server.dump() == before


def test_login_rate_limit_holds_across_workers_and_expires(world_server: tuple[Server, World]) -> None:
    """Five failures lock the account for the window, even for the right password and on another
    app instance over the same database (another worker); the lock ends with the window."""
    server, _world = world_server
    limit = server.settings.login_max_failures
    for _ in range(limit):
        assert form_login(server.client(), "a@clinic.example", "guess").status_code == 401
    locked = form_login(server.client(), "a@clinic.example", PASSWORD_A)
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) == server.settings.login_window_s
    other_worker = server.client()  # a new app: nothing is kept in a process
    assert form_login(other_worker, "a@clinic.example", PASSWORD_A).status_code == 429
    assert form_login(server.client(), "b@clinic.example", "therapist-b-password").status_code == 303
    with server.engine.begin() as conn:  # the window passes
        conn.execute(
            update(Attempt).values(at=utcnow() - timedelta(seconds=server.settings.login_window_s + 1))
        )
    assert form_login(server.client(), "a@clinic.example", PASSWORD_A).status_code == 303
    assert server.count("attempts") == 0  # old failures are forgotten; a success clears the account's


def test_login_rate_limit_per_address(world_server: tuple[Server, World]) -> None:
    """Guessing across many accounts from one address is limited too (4x the per-account limit)."""
    server, _world = world_server
    client_kw = {"login_max_failures": 2}
    for i in range(8):
        r = form_login(server.client(**client_kw), f"user{i}@clinic.example", "guess")
        assert r.status_code == 401
    assert form_login(server.client(**client_kw), "a@clinic.example", PASSWORD_A).status_code == 429


def test_expired_login_is_logged_out(world_server: tuple[Server, World]) -> None:
    server, world = world_server
    with server.engine.begin() as conn:
        conn.execute(text("UPDATE web_logins SET expires_at = :t"), {"t": utcnow() - timedelta(seconds=1)})
    client, _h, _c = as_role(server, world, "therapist_a")
    r = client.get("/patients")
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_secrets_are_stored_only_as_hashes(world_server: tuple[Server, World]) -> None:
    server, world = world_server
    dump = repr(server.dump())
    for secret in (PASSWORD_A, world.token_a, world.token_b, world.invite_a, *world.login_a.values()):
        assert secret not in dump
    with server.engine.connect() as conn:
        hashes = conn.execute(select(Therapist.password_hash)).scalars().all()
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)


def test_invite_codes_work_once_and_expire(world_server: tuple[Server, World]) -> None:
    server, world = world_server
    client = server.client()
    paired = pair(client, world.invite_a.lower().replace("-", " "), "phone")  # typed loosely
    assert paired["patient_id"] == world.patient_a
    r = client.get(f"/api/v1/patients/{world.patient_a}/sessions", headers=bearer(paired["token"]))
    assert r.status_code == 200 and len(r.json()["sessions"]) == 1
    again = client.post("/api/v1/pair", json={"code": world.invite_a, "device_name": "x"})
    assert again.status_code == 403 and again.json()["error"] == "invalid_code"
    a, _h, csrf = as_role(server, world, "therapist_a")
    import re

    code = re.search(
        r'class="code">([A-Z0-9-]+)<',
        a.post(f"/patients/{world.patient_a}/invites", data={"csrf": csrf}).text,
    ).group(1)
    with server.engine.begin() as conn:
        conn.execute(update(Invite).where(Invite.used_at.is_(None)).values(expires_at=utcnow()))
    assert client.post("/api/v1/pair", json={"code": code, "device_name": "x"}).status_code == 403


def test_pairing_guesses_are_rate_limited(world_server: tuple[Server, World]) -> None:
    server, world = world_server
    client = server.client()
    limit = 4 * server.settings.login_max_failures
    for _ in range(limit):
        assert client.post("/api/v1/pair", json={"code": "AAAA-BBBB-CCCC"}).status_code == 403
    r = client.post("/api/v1/pair", json={"code": world.invite_a, "device_name": "x"})
    assert r.status_code == 429  # even the right code, until the window passes
    assert client.post("/api/v1/pair", json={"code": 5}).status_code in (422, 429)


def test_revoking_a_device_ends_its_token(world_server: tuple[Server, World]) -> None:
    server, world = world_server
    api = server.client()
    url = f"/api/v1/patients/{world.patient_a}/sessions"
    assert api.get(url, headers=bearer(world.token_a)).status_code == 200
    a, _h, csrf = as_role(server, world, "therapist_a")
    r = a.post(f"/patients/{world.patient_a}/devices/{world.device_a}/revoke", data={"csrf": csrf})
    assert r.status_code == 303
    assert api.get(url, headers=bearer(world.token_a)).status_code == 401


def test_create_therapist_refuses_bad_input(server: Server) -> None:
    import pytest

    from siform.server.command import ServerError

    create_therapist(server.engine, "Someone@Clinic.Example", None, "long enough password")
    with server.engine.connect() as conn:
        row = conn.execute(select(Therapist.email, Therapist.name)).one()
    assert tuple(row) == ("someone@clinic.example", "someone")
    for email, password in [
        ("someone@clinic.example", "another password"),
        ("not-an-email", "long enough password"),
        ("x@clinic.example", "short"),
        ("x@clinic.example", " padded password "),
    ]:
        with pytest.raises(ServerError):
            create_therapist(server.engine, email, None, password)
    assert server.count("therapists") == 1
    client = server.client()
    assert login(client, "someone@clinic.example", "long enough password")
