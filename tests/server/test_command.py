"""``siform serve``, its settings and migrations, a real multi-worker server, and import weight."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from siform.server.db import current_revision, downgrade_to_empty, head_revision, make_engine, upgrade
from siform.server.models import Base
from siform.server.settings import SettingsError, load_settings

from .conftest import (
    CODE_RE,
    CSRF_RE,
    SECRET,
    SIFORM,
    Server,
    clean_env,
    free_port,
    serving,
    variant,
)

# -- settings -----------------------------------------------------------------------------------------


def test_no_secret_no_start() -> None:
    with pytest.raises(SettingsError, match="No secret key"):
        load_settings({})
    with pytest.raises(SettingsError, match="too short"):
        load_settings({"SIFORM_SECRET_KEY": "short"})
    dev = load_settings({}, dev=True)
    assert len(dev.secret_key) >= 32 and dev.database_url.startswith("sqlite:///")
    assert load_settings({}, dev=True).secret_key != dev.secret_key  # random per run, never a constant


def test_settings_file_then_environment_then_options(tmp_path: Path) -> None:
    path = tmp_path / "server.toml"
    path.write_text(
        f'database_url = "sqlite:///{tmp_path}/a.sqlite3"\nsecret_key = "{SECRET}"\ntoken_days = 30\n'
    )
    env = {"SIFORM_SERVER_SETTINGS": str(path)}
    s = load_settings(env)
    assert (s.secret_key, s.token_days, s.database_url) == (SECRET, 30, f"sqlite:///{tmp_path}/a.sqlite3")
    s = load_settings({**env, "SIFORM_TOKEN_DAYS": "7", "SIFORM_DEV": "yes"}, database_url="sqlite:///b")
    assert (s.token_days, s.dev, s.database_url) == (7, True, "sqlite:///b")
    path.write_text('secret = "x"\n')
    with pytest.raises(SettingsError, match="unknown key 'secret'"):
        load_settings(env)
    path.write_text(f'secret_key = "{SECRET}"\ntoken_days = "soon"\n')
    with pytest.raises(SettingsError, match="token_days must be a int"):
        load_settings(env)
    with pytest.raises(SettingsError, match="cookie_secure"):
        load_settings({"SIFORM_SECRET_KEY": SECRET, "SIFORM_COOKIE_SECURE": "sometimes"})


# -- migrations (both backends) ---------------------------------------------------------------------------


def test_migrations_build_the_models_schema_and_undo_it(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        assert diff == [], diff  # the migration and the models describe the same tables
        upgrade(engine)  # a second start changes nothing
        assert current_revision(engine) == head_revision()
        downgrade_to_empty(engine)
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(engine)
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


# -- import weight -------------------------------------------------------------------------------------------


IMPORT_PROBE = """
import sys
from fastapi.testclient import TestClient
import siform.server.command
from siform.server.app import create_app
from siform.server.db import make_engine, upgrade
from siform.server.settings import Settings
settings = Settings(database_url=sys.argv[1], secret_key="x" * 40)
engine = make_engine(settings.database_url)
upgrade(engine)
client = TestClient(create_app(settings, engine))
assert client.get("/healthz").status_code == 200 and client.get("/login").status_code == 200
if len(sys.argv) > 2:
    from siform.server.uploads import check_upload
    check_upload(open(sys.argv[2], "rb").read(), 10**7)
    import json
    import numpy as np
    from siform.report.html import render_report
    from siform.server import dashboard
    doc = json.load(open(sys.argv[2]))
    trend = dashboard.trends([doc])[0]
    assert "<svg" in dashboard.trend_svg(trend.metrics[0], trend.weeks)
    assert "<table" in render_report(doc, np.zeros(0, dtype=np.int64), {}, {}, [])
print([m for m in ("cv2", "mediapipe") if m in sys.modules])
"""


def test_the_server_app_imports_neither_opencv_nor_mediapipe(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, f"sqlite:///{tmp_path}/db.sqlite3"],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_checking_and_drawing_an_upload_imports_neither(tmp_path: Path, session_doc: dict[str, Any]) -> None:
    doc = tmp_path / "session.json"
    doc.write_text(json.dumps(session_doc))
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, f"sqlite:///{tmp_path}/db.sqlite3", str(doc)],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# -- the command line ------------------------------------------------------------------------------


def test_serve_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    env = clean_env(SIFORM_DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3")
    r = subprocess.run(
        [*SIFORM, "serve", "--port", str(free_port())], capture_output=True, text=True, env=env, timeout=120
    )
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("siform: No secret key") and "--dev" in lines[0]
    assert "Traceback" not in r.stderr


def test_create_therapist_from_the_command_line(tmp_path: Path) -> None:
    env = clean_env(SIFORM_DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3")
    cmd = [
        *SIFORM,
        "serve",
        "--create-therapist",
        "Dr.Who@Clinic.Example",
        "--name",
        "Dr Who",
        "--password-stdin",
    ]
    r = subprocess.run(
        cmd, input="a long enough password\n", capture_output=True, text=True, env=env, timeout=120
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Created the therapist account dr.who@clinic.example."
    again = subprocess.run(
        cmd, input="a long enough password\n", capture_output=True, text=True, env=env, timeout=120
    )
    assert again.returncode == 1 and "exists already" in again.stderr
    short = subprocess.run(
        [*SIFORM, "serve", "--create-therapist", "x@clinic.example", "--password-stdin"],
        input="short\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert short.returncode == 1 and "at least 10 characters" in short.stderr


def test_two_workers_serve_one_database(
    database_url: str, tmp_path: Path, session_doc: dict[str, Any]
) -> None:
    """The real command with two uvicorn workers: a therapist logs in, invites, a device pairs and
    uploads 20 sessions, each sent twice at once from 8 threads (retries racing across workers):
    every answer 201 or 200, 20 rows, none lost or doubled. On SQLite and PostgreSQL."""
    env = clean_env(SIFORM_DATABASE_URL=database_url, SIFORM_SECRET_KEY=SECRET)
    with serving(env, tmp_path / "server.log", "--workers", "2") as base:
        with httpx.Client(base_url=base, follow_redirects=False) as web:
            token = CSRF_RE.search(web.get("/login").text).group(1)
            r = web.post(
                "/login", data={"email": "t@clinic.example", "password": "therapist password", "csrf": token}
            )
            assert r.status_code == 303
            csrf = CSRF_RE.search(web.get("/patients").text).group(1)
            r = web.post("/patients", data={"label": "P", "csrf": csrf})
            code = CODE_RE.search(r.text).group(1)
        paired = httpx.post(base + "/api/v1/pair", json={"code": code, "device_name": "d"}).json()
        url = f"{base}/api/v1/patients/{paired['patient_id']}/sessions"
        headers = {"Authorization": f"Bearer {paired['token']}", "Content-Type": "application/json"}
        bodies = [json.dumps(variant(session_doc, 100 + i)).encode() for i in range(20)] * 2
        statuses: list[int] = []
        ids: list[str] = []
        lock = threading.Lock()

        def send(part: list[bytes]) -> None:
            with httpx.Client(timeout=60) as client:
                for body in part:
                    r = client.post(url, content=body, headers=headers)
                    with lock:
                        statuses.append(r.status_code)
                        ids.append(r.json().get("id"))

        threads = [threading.Thread(target=send, args=(bodies[i::8],)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(set(statuses)) == [200, 201] and statuses.count(201) == 20, statuses
        assert len(set(ids)) == 20
        listed = httpx.get(url, headers=headers).json()["sessions"]
        assert len(listed) == 20
    text = (tmp_path / "server.log").read_text()
    assert len(set(re.findall(r"Started server process \[(\d+)\]", text))) == 2, text[-2000:]
    server = Server(database_url, make_engine(database_url), None)  # type: ignore[arg-type]
    try:
        assert server.count("sessions") == 20
    finally:
        server.engine.dispose()
