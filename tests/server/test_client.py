"""``siform pair`` and ``siform upload`` against a real ``siform serve`` (over HTTP, in processes)."""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from siform.server.client import upload_if_paired

from .conftest import CODE_RE, CSRF_RE, SECRET, SIFORM, clean_env, free_port, serving, variant


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("live_server")
    env = clean_env(SIFORM_DATABASE_URL=f"sqlite:///{folder}/db.sqlite3", SIFORM_SECRET_KEY=SECRET)
    with serving(env, folder / "server.log") as base:
        yield base


def invite(base: str) -> tuple[str, str]:
    """A new patient and its invite code, made through the therapist's pages."""
    with httpx.Client(base_url=base, follow_redirects=False) as web:
        token = CSRF_RE.search(web.get("/login").text).group(1)
        data = {"email": "t@clinic.example", "password": "therapist password", "csrf": token}
        assert web.post("/login", data=data).status_code == 303
        csrf = CSRF_RE.search(web.get("/patients").text).group(1)
        r = web.post("/patients", data={"label": "P", "csrf": csrf})
        code = CODE_RE.search(r.text).group(1)
        assert f"siform pair {base} {code}" in r.text  # the page tells the patient what to type
        return r.text.split('href="/patients/')[1][:32], code


def run(client_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SIFORM, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(SIFORM_CLIENT_DIR=str(client_dir)),
    )


def test_pair_upload_queue_and_resend(live_server: str, tmp_path: Path, session_doc: dict[str, Any]) -> None:
    client_dir = tmp_path / "client"
    patient_id, code = invite(live_server)
    r = run(client_dir, "pair", live_server, code.lower(), "--name", "kitchen laptop")
    assert r.returncode == 0, r.stderr
    saved = client_dir / "server.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600  # the token is a credential
    pairing = json.loads(saved.read_text())
    assert pairing["patient_id"] == patient_id and pairing["token"].startswith("sfd_")

    first, second = tmp_path / "first.json", tmp_path / "second.json"
    first.write_text(json.dumps(variant(session_doc, 20)))
    second.write_text(json.dumps(variant(session_doc, 21)))
    r = run(client_dir, "upload", str(first))
    assert r.returncode == 0 and "uploaded to your therapist" in r.stdout, r.stdout + r.stderr
    r = run(client_dir, "upload", str(first))
    assert r.returncode == 0 and "already on your therapist's server" in r.stdout

    # the server cannot be reached: the session waits in the queue
    saved.write_text(json.dumps({**pairing, "server": f"http://127.0.0.1:{free_port()}"}))
    r = run(client_dir, "upload", str(second))
    assert r.returncode == 0 and "queued" in r.stdout, r.stdout + r.stderr
    assert len(list((client_dir / "queue").glob("*.json"))) == 1
    saved.write_text(json.dumps(pairing))
    r = run(client_dir, "upload")
    assert r.returncode == 0 and "uploaded to your therapist" in r.stdout
    assert list((client_dir / "queue").glob("*.json")) == []
    api = httpx.get(
        f"{live_server}/api/v1/patients/{patient_id}/sessions",
        headers={"Authorization": f"Bearer {pairing['token']}"},
    ).json()
    assert sorted(s["recorded_utc"] for s in api["sessions"]) == sorted(
        [variant(session_doc, 20)["created_utc"], variant(session_doc, 21)["created_utc"]]
    )

    # a document the server refuses is said so and not queued (sending it again cannot help)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**session_doc, "schema_version": "0.1"}))
    r = run(client_dir, "upload", str(bad))
    assert r.returncode == 1 and "refused by the server" in r.stderr and "0.1" in r.stderr
    assert not (client_dir / "queue").exists() or list((client_dir / "queue").glob("*.json")) == []


def test_pair_refusals(live_server: str, tmp_path: Path) -> None:
    client_dir = tmp_path / "client"
    r = run(client_dir, "pair", "http://therapist.example.org", "AAAA-BBBB-CCCC")
    assert r.returncode == 1 and "not encrypted" in r.stderr and "Traceback" not in r.stderr
    r = run(client_dir, "pair", live_server, "AAAA-BBBB-CCCC")
    assert r.returncode == 1 and "Pairing failed" in r.stderr and "invite code" in r.stderr
    assert not (client_dir / "server.json").exists()
    r = run(client_dir, "upload", str(tmp_path / "x.json"))
    assert r.returncode == 1 and "not paired" in r.stderr


def test_upload_if_paired_is_silent_when_unpaired(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIFORM_CLIENT_DIR", str(tmp_path / "nowhere"))
    session = tmp_path / "session.json"
    session.write_text("{}")
    assert upload_if_paired(session) is None
