"""Fixtures for the therapist server: a real database on both backends, real session documents.

Every API test runs twice: on a SQLite file and on a real PostgreSQL 15 that this test run starts
itself (``initdb`` into a temporary folder, ``pg_ctl start`` on a free port; as the ``postgres``
system user when the tests run as root, because PostgreSQL refuses to run as root). Where it cannot
be started the PostgreSQL half is skipped with the reason (``pytest -ra`` lists it).

A world (two therapists, a patient each, paired devices, one uploaded session each) is built once
per backend through the app's own pages and API, then cloned for each test that changes it: a file
copy for SQLite, ``CREATE DATABASE ... TEMPLATE`` for PostgreSQL.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text, update

from siform.server.app import create_app
from siform.server.command import create_therapist
from siform.server.db import make_engine, upgrade
from siform.server.models import Base, Device, utcnow
from siform.server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path(os.environ.get("SIFORM_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
SECRET = "test-secret-" + "s" * 40
PASSWORD_A = "therapist-a-password"
PASSWORD_B = "therapist-b-password"
LABEL_A = "Alice Patient-of-A"
LABEL_B = "Bob Patient-of-B"
_counter = itertools.count()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- PostgreSQL, started by the test run --------------------------------------------------------------


@dataclass
class Postgres:
    base_url: str  # postgresql+psycopg://postgres@127.0.0.1:PORT/
    admin_dsn: str

    def create_database(self, template: str | None = None) -> str:
        """A new empty database (or a copy of ``template``); returns its SQLAlchemy URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(_counter)}"
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.base_url + name

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _as_postgres_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL binaries not found in {PG_BIN} (install Debian's postgresql-15)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: PostgreSQL cannot be started as another user")
    folder = Path(tempfile.mkdtemp(prefix="siform-pg-"))
    if os.geteuid() == 0:
        try:
            shutil.chown(folder, user="postgres")
        except (LookupError, OSError) as exc:
            shutil.rmtree(folder, ignore_errors=True)
            pytest.skip(f"running as root and no usable 'postgres' system user ({exc})")
    data, port = folder / "data", free_port()
    log = folder / "log.txt"
    try:
        subprocess.run(
            _as_postgres_user(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(data),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        subprocess.run(
            _as_postgres_user(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(log),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=90,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"PostgreSQL could not be started: {exc} {detail.decode(errors='replace')[-300:]}")
    try:
        yield Postgres(
            base_url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/",
            admin_dsn=f"host=127.0.0.1 port={port} user=postgres dbname=postgres",
        )
    finally:
        subprocess.run(
            _as_postgres_user([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(folder, ignore_errors=True)


# -- databases ------------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database of the test's backend."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'server.sqlite3'}"
        return
    pg: Postgres = request.getfixturevalue("postgres")
    url = pg.create_database()
    yield url
    pg.drop_database(url)


def settings_for(url: str, **changes: Any) -> Settings:
    return Settings(database_url=url, secret_key=SECRET, **changes).checked()


@dataclass
class Server:
    """An app over one database, with what a test needs to drive it."""

    url: str
    engine: Engine
    settings: Settings

    def app(self, **changes: Any) -> Any:
        return create_app(settings_for(self.url, **changes) if changes else self.settings, self.engine)

    def client(self, https: bool = False, **changes: Any) -> TestClient:
        base = "https://testserver" if https else "http://testserver"
        return TestClient(self.app(**changes), base_url=base, follow_redirects=False)

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table, sorted: two dumps are equal only if nothing was stored."""
        out = {}
        with self.engine.connect() as conn:
            for name, table in sorted(Base.metadata.tables.items()):
                rows = conn.execute(select(table)).all()
                out[name] = sorted(tuple(str(v) for v in row) for row in rows)
        return out

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


@pytest.fixture
def server(database_url: str) -> Iterator[Server]:
    """An empty, migrated database of each backend and the settings of the tests."""
    engine = make_engine(database_url)
    upgrade(engine)
    yield Server(database_url, engine, settings_for(database_url))
    engine.dispose()


# -- driving the app like a therapist and a patient's device ---------------------------------------------

CSRF_RE = re.compile(r'name="csrf" value="([0-9a-f]+)"')
CODE_RE = re.compile(r'class="code">([A-Z0-9-]+)<')


def csrf_of(html: str) -> str:
    found = CSRF_RE.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def login(client: TestClient, email: str, password: str) -> str:
    """Log in through the form; returns the CSRF token of the new login's pages."""
    form = client.get("/login")
    assert form.status_code == 200, form.text
    r = client.post("/login", data={"email": email, "password": password, "csrf": csrf_of(form.text)})
    assert r.status_code == 303, r.text
    page = client.get("/patients")
    assert page.status_code == 200
    return csrf_of(page.text)


def add_patient(client: TestClient, csrf: str, label: str) -> tuple[str, str]:
    """Create a patient through the page; returns (patient id, invite code)."""
    r = client.post("/patients", data={"label": label, "csrf": csrf})
    assert r.status_code == 201, r.text
    patient_id = re.search(r'href="/patients/([0-9a-f]{32})"', r.text)
    code = CODE_RE.search(r.text)
    assert patient_id and code
    return patient_id.group(1), code.group(1)


def new_invite(client: TestClient, csrf: str, patient_id: str) -> str:
    r = client.post(f"/patients/{patient_id}/invites", data={"csrf": csrf})
    assert r.status_code == 201, r.text
    code = CODE_RE.search(r.text)
    assert code
    return code.group(1)


def pair(client: TestClient, code: str, name: str = "laptop") -> dict[str, Any]:
    r = client.post("/api/v1/pair", json={"code": code, "device_name": name})
    assert r.status_code == 201, r.text
    return dict(r.json())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def upload(client: TestClient, token: str, patient_id: str, doc: Any) -> Any:
    import json

    return client.post(
        f"/api/v1/patients/{patient_id}/sessions",
        content=json.dumps(doc).encode(),
        headers={**bearer(token), "Content-Type": "application/json"},
    )


# -- real session documents --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def session_doc() -> dict[str, Any]:
    """A real ``session.json``: the engine run on a synthetic glute bridge (three reps, one fault)."""
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    from siform.pipeline import analyze_track
    from siform.session import build_session, validate_session
    from siform.specs.load import load_spec

    from factories import bridge_side_view

    spec = load_spec(ROOT / "exercise_specs" / "glute_bridge.toml")
    track, _ = bridge_side_view()
    doc = build_session(
        analyze_track(track, spec),
        spec,
        mode="review",
        model_path=None,
        source={"file": "bridge.mp4"},
        patient="p1",
    )
    validate_session(doc)
    return doc


def variant(doc: dict[str, Any], n: int) -> dict[str, Any]:
    """Another valid session: the same set recorded at another time (a different document)."""
    out = copy.deepcopy(doc)
    out["created_utc"] = f"2026-11-{1 + n % 28:02d}T{10 + n // 28 % 10:02d}:00:00+00:00"
    if "session_id" in out:  # format 1.4: every session has its own id
        out["session_id"] = str(uuid.uuid4())
    return out


# -- the world: two therapists, a patient each, devices, sessions --------------------------------------------


@dataclass
class World:
    """Ids and secrets of everything in the template database, for every role of the matrix."""

    patient_a: str = ""
    patient_b: str = ""
    session_a: str = ""
    session_b: str = ""
    device_a: str = ""
    token_a: str = ""
    token_b: str = ""
    token_expired: str = ""
    token_revoked: str = ""
    invite_a: str = ""
    login_a: dict[str, str] = field(default_factory=dict)  # cookies
    login_b: dict[str, str] = field(default_factory=dict)
    csrf_a: str = ""
    csrf_b: str = ""


def build_world(server: Server, doc: dict[str, Any]) -> World:
    w = World()
    create_therapist(server.engine, "a@clinic.example", "Dr A", PASSWORD_A)
    create_therapist(server.engine, "b@clinic.example", "Dr B", PASSWORD_B)
    ca, cb, device = server.client(), server.client(), server.client()
    w.csrf_a = login(ca, "a@clinic.example", PASSWORD_A)
    w.csrf_b = login(cb, "b@clinic.example", PASSWORD_B)
    w.login_a, w.login_b = dict(ca.cookies), dict(cb.cookies)
    w.patient_a, code_a = add_patient(ca, w.csrf_a, LABEL_A)
    w.patient_b, code_b = add_patient(cb, w.csrf_b, LABEL_B)
    paired = pair(device, code_a)
    w.token_a, w.device_a = paired["token"], paired["device_id"]
    w.token_b = pair(device, code_b)["token"]
    expired = pair(device, new_invite(ca, w.csrf_a, w.patient_a), "old laptop")
    w.token_expired = expired["token"]
    revoked = pair(device, new_invite(ca, w.csrf_a, w.patient_a), "lost phone")
    w.token_revoked = revoked["token"]
    r = ca.post(f"/patients/{w.patient_a}/devices/{revoked['device_id']}/revoke", data={"csrf": w.csrf_a})
    assert r.status_code == 303
    with server.engine.begin() as conn:
        conn.execute(
            update(Device)
            .where(Device.id == expired["device_id"])
            .values(expires_at=utcnow() - timedelta(days=1))
        )
    w.invite_a = new_invite(ca, w.csrf_a, w.patient_a)
    r = upload(device, w.token_a, w.patient_a, doc)
    assert r.status_code == 201, r.text
    w.session_a = r.json()["id"]
    r = upload(device, w.token_b, w.patient_b, variant(doc, 1))
    assert r.status_code == 201, r.text
    w.session_b = r.json()["id"]
    return w


@dataclass
class Template:
    backend: str
    url: str
    world: World
    postgres: Postgres | None
    folder: Path | None


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory, session_doc: dict[str, Any]) -> dict[str, Any]:
    return {}


def world_template(
    backend: str,
    cache: dict[str, Any],
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    doc: dict[str, Any],
) -> Template:
    if backend in cache:
        return cache[backend]  # type: ignore[no-any-return]
    if backend == "sqlite":
        folder = tmp_path_factory.mktemp("world")
        url, pg = f"sqlite:///{folder / 'world.sqlite3'}", None
    else:
        pg = request.getfixturevalue("postgres")
        url, folder = pg.create_database(), None
    engine = make_engine(url)
    upgrade(engine)
    world = build_world(Server(url, engine, settings_for(url)), doc)
    engine.dispose()  # a template database must have no connections; a SQLite file is checkpointed
    cache[backend] = Template(backend, url, world, pg, folder)
    return cache[backend]  # type: ignore[no-any-return]


@contextlib.contextmanager
def clone(template: Template, tmp_path: Path) -> Iterator[Server]:
    """A copy of the world's database, for one test to change."""
    if template.backend == "sqlite":
        assert template.folder is not None
        source = template.folder / "world.sqlite3"
        target = tmp_path / f"clone{next(_counter)}.sqlite3"
        shutil.copyfile(source, target)
        url = f"sqlite:///{target}"
    else:
        assert template.postgres is not None
        url = template.postgres.create_database(template=template.url.rsplit("/", 1)[1])
    engine = make_engine(url)
    try:
        yield Server(url, engine, settings_for(url))
    finally:
        engine.dispose()
        if template.postgres is not None:
            template.postgres.drop_database(url)


@pytest.fixture
def world_server(
    backend: str,
    templates: dict[str, Any],
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    session_doc: dict[str, Any],
) -> Iterator[tuple[Server, World]]:
    """A fresh copy of the world on each backend, and the ids and secrets in it."""
    template = world_template(backend, templates, request, tmp_path_factory, session_doc)
    with clone(template, tmp_path) as server:
        yield server, template.world


def as_role(server: Server, world: World, role: str) -> tuple[TestClient, dict[str, str], str | None]:
    """A client with the role's credentials: (client, headers, csrf token of its login or None)."""
    client = server.client()
    headers: dict[str, str] = {}
    csrf = None
    if role == "therapist_a":
        client.cookies.update(world.login_a)
        csrf = world.csrf_a
    elif role == "therapist_b":
        client.cookies.update(world.login_b)
        csrf = world.csrf_b
    elif role != "anonymous":
        token = {
            "patient_a": world.token_a,
            "patient_b": world.token_b,
            "expired": world.token_expired,
            "revoked": world.token_revoked,
        }[role]
        headers = bearer(token)
    return client, headers, csrf


def wait_for(url: str, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout} s")
        time.sleep(0.2)


# -- the real `siform serve`, in a process of its own -------------------------------------------------

SIFORM = [sys.executable, "-m", "siform"]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without its SIFORM_ settings (but offline, and the test run's own
    empty client folder: never the machine's pairing), plus ``extra``."""
    kept = ("SIFORM_OFFLINE", "SIFORM_CLIENT_DIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIFORM_") or k in kept}
    return {**env, **extra}


def run_siform(client_dir: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``siform ARGS`` on a patient's machine whose client folder is ``client_dir``."""
    return subprocess.run(
        [*SIFORM, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
        env=clean_env(SIFORM_CLIENT_DIR=str(client_dir)),
    )  # fmt: skip


BASE_RE = re.compile(r'name="base_version" value="(\d+)"')


class TherapistWeb:
    """The therapist's browser on a real ``siform serve`` (the therapist :func:`serving` made):
    logged in through the form, every post with its CSRF token."""

    def __init__(self, base: str) -> None:
        import httpx

        self.base = base
        self.web = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
        token = CSRF_RE.search(self.web.get("/login").text).group(1)  # type: ignore[union-attr]
        data = {"email": "t@clinic.example", "password": "therapist password", "csrf": token}
        assert self.web.post("/login", data=data).status_code == 303
        self.csrf = CSRF_RE.search(self.web.get("/patients").text).group(1)  # type: ignore[union-attr]

    def new_patient(self) -> tuple[str, str]:
        """A new patient's id and invite code."""
        r = self.web.post("/patients", data={"label": "P", "csrf": self.csrf})
        assert r.status_code == 201, r.text
        return r.text.split('href="/patients/')[1][:32], CODE_RE.search(r.text).group(1)  # type: ignore[union-attr]

    def paired(self, client_dir: Path) -> tuple[str, dict[str, Any]]:
        """A new patient, paired with ``siform pair`` in ``client_dir``: its id and the stored pairing."""
        patient_id, code = self.new_patient()
        r = run_siform(client_dir, "pair", self.base, code)
        assert r.returncode == 0, r.stderr
        return patient_id, json.loads((client_dir / "server.json").read_text())

    def prescribe(self, patient_id: str, fields: dict[str, str]) -> None:
        """Save the prescription form with ``fields`` (``ex.<exercise>.<field>``)."""
        form = self.web.get(f"/patients/{patient_id}/prescription")
        assert form.status_code == 200, form.text
        base = BASE_RE.search(form.text).group(1)  # type: ignore[union-attr]
        r = self.web.post(
            f"/patients/{patient_id}/prescription", data={"csrf": self.csrf, "base_version": base, **fields}
        )
        assert r.status_code == 303, r.text

    def revoke(self, patient_id: str, device_id: str) -> None:
        r = self.web.post(f"/patients/{patient_id}/devices/{device_id}/revoke", data={"csrf": self.csrf})
        assert r.status_code == 303, r.text

    def export(self, patient_id: str) -> dict[str, Any]:
        r = self.web.get(f"/patients/{patient_id}/export")
        assert r.status_code == 200
        return dict(r.json())


def live_interrupted_at_first_rep(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """``siform live ARGS`` stopped with Ctrl-C (SIGINT) as soon as it prints its first rep, as a
    patient would stop it; the exit code, the rest of its output, and its errors."""
    proc = subprocess.Popen(
        [*SIFORM, "live", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env
    )
    try:
        assert proc.stdout is not None
        while True:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            if line.startswith("Set 1: Rep "):
                break
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, rest, err


@contextlib.contextmanager
def serving(env: dict[str, str], log_path: Path, *serve_args: str) -> Iterator[str]:
    """``siform serve`` with a therapist ``t@clinic.example`` (password "therapist password") made
    by the real command first; yields the base URL once /healthz answers, stops the server after."""
    made = subprocess.run(
        [*SIFORM, "serve", "--create-therapist", "t@clinic.example", "--password-stdin"],
        input="therapist password\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    port = free_port()
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [*SIFORM, "serve", "--port", str(port), *serve_args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(base + "/healthz", timeout=120)
            yield base
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
