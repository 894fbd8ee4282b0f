"""Uploads: refused with the right status and nothing stored; accepted once, however often retried.

Runs on SQLite and on PostgreSQL (``backend``). "Nothing stored" is checked on every row of every
table, not on a count: a refused upload must not even touch the device's last-use time.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text, update

from siform.server import uploads
from siform.server.db import make_engine
from siform.server.models import Device, utcnow
from siform.server.settings import Settings, SettingsError
from siform.server.uploads import canonical_json, check_upload, supported_versions

from .conftest import Server, World, bearer, upload, variant

URL = "/api/v1/patients/{}/sessions"


def post(
    server: Server,
    world: World,
    body: bytes | Iterator[bytes],
    token: str | None = None,
    patient: str | None = None,
    content_type: str = "application/json",
    **client_kw: Any,
) -> Any:
    client = server.client(**client_kw)
    headers = {"Content-Type": content_type, **bearer(token or world.token_a)}
    return client.post(URL.format(patient or world.patient_a), content=body, headers=headers)


def refused(server: Server, world: World, status: int, error: str, body: Any, **kw: Any) -> dict[str, Any]:
    before = server.dump()
    r = post(server, world, body, **kw)
    assert r.status_code == status, r.text[:500]
    answer: dict[str, Any] = r.json()
    assert answer["error"] == error, answer
    assert server.dump() == before, "a refused upload changed the database"
    return answer


def test_malformed_json(world_server: tuple[Server, World]) -> None:
    server, world = world_server
    refused(server, world, 400, "malformed_json", b'{"schema_version": "1.3", ')
    refused(server, world, 400, "malformed_json", b"\xff\xfe not utf-8")
    refused(server, world, 400, "malformed_json", b"")
    refused(server, world, 400, "malformed_json", b'{"x": NaN}')  # Python's json would take it
    refused(server, world, 400, "malformed_json", b"[" * 100_000 + b"]" * 100_000)  # nesting bomb


def test_not_a_session_document(world_server: tuple[Server, World], session_doc: dict[str, Any]) -> None:
    server, world = world_server
    refused(server, world, 422, "not_a_session", b"[1, 2, 3]")
    refused(server, world, 422, "not_a_session", json.dumps("a string").encode())
    broken = copy.deepcopy(session_doc)
    del broken["reps"]
    answer = refused(server, world, 422, "invalid_session", json.dumps(broken).encode())
    assert "reps" in answer["message"]
    extra = {**copy.deepcopy(session_doc), "video_base64": "AAAA"}  # closed objects: no smuggled video
    refused(server, world, 422, "invalid_session", json.dumps(extra).encode())
    wrong_type = copy.deepcopy(session_doc)
    wrong_type["reps"][0]["score"] = "full marks"
    answer = refused(server, world, 422, "invalid_session", json.dumps(wrong_type).encode())
    assert "reps/0/score" in answer["message"]


@pytest.mark.parametrize("version", ["0.9", "9.9", None, 1.3, ""])
def test_wrong_schema_version(
    world_server: tuple[Server, World], session_doc: dict[str, Any], version: Any
) -> None:
    server, world = world_server
    doc = {**copy.deepcopy(session_doc), "schema_version": version}
    if version is None:
        del doc["schema_version"]
    answer = refused(server, world, 422, "unsupported_schema_version", json.dumps(doc).encode())
    assert all(v in answer["message"] for v in supported_versions())


def test_huge_payload(world_server: tuple[Server, World], session_doc: dict[str, Any]) -> None:
    """Over the limit: 413 from the declared length, and from the bytes when no length is declared
    (chunked); a valid document padded past the limit is refused the same way."""
    server, world = world_server
    limit = server.settings.max_upload_bytes
    huge = b'{"pad": "' + b"x" * (limit + 10) + b'"}'
    refused(server, world, 413, "too_large", huge)

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(huge), 65536):
            yield huge[i : i + 65536]

    refused(server, world, 413, "too_large", chunks())
    padded = copy.deepcopy(session_doc)
    padded["source"]["notes"] = ["x" * 1000] * 200  # source is open for extra keys; notes are strings
    body = json.dumps(padded).encode()
    assert len(body) > 150_000
    refused(server, world, 413, "too_large", body, max_upload_bytes=150_000)


def test_not_json_content_type(world_server: tuple[Server, World], session_doc: dict[str, Any]) -> None:
    """Raw video is never taken, whatever it is called."""
    server, world = world_server
    refused(server, world, 415, "not_json", b"\x00\x00\x00\x18ftypmp42", content_type="video/mp4")
    refused(server, world, 415, "not_json", json.dumps(session_doc).encode(), content_type="text/plain")
    refused(server, world, 415, "not_json", b"--x\r\n", content_type="multipart/form-data; boundary=x")


@pytest.mark.parametrize("who", ["none", "wrong", "expired", "revoked", "malformed_header"])
def test_bad_token(world_server: tuple[Server, World], session_doc: dict[str, Any], who: str) -> None:
    server, world = world_server
    before = server.dump()
    client = server.client()
    token = {
        "none": "",
        "wrong": "sfd_" + "A" * 43,
        "expired": world.token_expired,
        "revoked": world.token_revoked,
        "malformed_header": world.token_a,
    }[who]
    headers = {"Content-Type": "application/json"}
    if who == "malformed_header":
        headers["Authorization"] = f"Token {token}"  # not the Bearer scheme
    elif token:
        headers.update(bearer(token))
    r = client.post(
        URL.format(world.patient_a), content=json.dumps(variant(session_doc, 3)).encode(), headers=headers
    )
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert server.dump() == before


def test_another_patients_id(world_server: tuple[Server, World], session_doc: dict[str, Any]) -> None:
    """Patient B's device posting into patient A (or into an id that does not exist): 404, nothing
    stored, and the same answer for both so ids cannot be probed."""
    server, world = world_server
    body = json.dumps(variant(session_doc, 4)).encode()
    a = refused(server, world, 404, "not_found", body, token=world.token_b)
    missing = refused(server, world, 404, "not_found", body, token=world.token_b, patient="0" * 32)
    assert a == missing


def test_retries_never_duplicate(world_server: tuple[Server, World], session_doc: dict[str, Any]) -> None:
    server, world = world_server
    client = server.client()
    doc = variant(session_doc, 5)
    before = server.count("sessions")
    first = upload(client, world.token_a, world.patient_a, doc)
    assert first.status_code == 201 and first.json()["duplicate"] is False
    for _ in range(3):
        again = upload(client, world.token_a, world.patient_a, doc)
        assert again.status_code == 200, again.text
        assert again.json() == {"id": first.json()["id"], "duplicate": True}
    # the same document with its keys in another order and other spacing is the same document
    reordered = json.dumps(dict(reversed(list(doc.items()))), indent=3).encode()
    r = post(server, world, reordered)
    assert r.status_code == 200 and r.json()["id"] == first.json()["id"]
    assert server.count("sessions") == before + 1
    stored = client.get(f"{URL.format(world.patient_a)}/{first.json()['id']}", headers=bearer(world.token_a))
    assert stored.json() == doc
    with server.engine.connect() as conn:
        n = conn.execute(
            text("SELECT count(*) FROM audit_events WHERE action = 'session.uploaded'")
        ).scalar_one()
    assert n == 3  # the world's two, and this one once


def test_the_same_session_id_with_other_content_is_a_conflict(
    world_server: tuple[Server, World], session_doc: dict[str, Any]
) -> None:
    if "session_id" not in session_doc:
        pytest.skip("this session format has no session id yet: uploads are keyed by their content's sha256")
    server, world = world_server
    doc = variant(session_doc, 6)
    assert upload(server.client(), world.token_a, world.patient_a, doc).status_code == 201
    changed = {**doc, "created_utc": "2026-01-01T00:00:00+00:00"}
    before = server.dump()
    r = upload(server.client(), world.token_a, world.patient_a, changed)
    assert r.status_code == 409 and r.json()["error"] == "conflict"
    assert server.dump() == before


def test_idempotency_key(session_doc: dict[str, Any]) -> None:
    """The key is the document's own session id when it has one, else the sha256 of its canonical JSON."""
    body = json.dumps(session_doc).encode()
    checked = check_upload(body, 10**7)
    if "session_id" in session_doc:
        assert checked.session_key == session_doc["session_id"] and not checked.key_is_hash
    else:
        assert checked.session_key.startswith("sha256:") and checked.key_is_hash
    assert checked.content_sha256 == hashlib.sha256(canonical_json(session_doc).encode()).hexdigest()
    spaced = json.dumps(session_doc, indent=2, sort_keys=False).encode()
    assert check_upload(spaced, 10**7).session_key == checked.session_key


def test_concurrent_retries_store_one_row(
    world_server: tuple[Server, World], session_doc: dict[str, Any]
) -> None:
    """Eight simultaneous uploads of one session (a client retrying after timeouts): one 201, the
    rest 200 with the same id, one row (the unique key settles the race on both databases)."""
    server, world = world_server
    doc = variant(session_doc, 8)
    body = json.dumps(doc).encode()
    results: list[Any] = []
    gate = threading.Barrier(8)

    def send() -> None:
        gate.wait()
        results.append(post(server, world, body))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] * 7 + [201], [r.text for r in results]
    assert len({r.json()["id"] for r in results}) == 1
    with server.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT count(*) FROM sessions WHERE content_sha256 = :h"),
            {"h": check_upload(body, 10**7).content_sha256},
        ).scalar_one()
    assert rows == 1


def test_numbers_and_strings_json_cannot_carry(
    world_server: tuple[Server, World], session_doc: dict[str, Any]
) -> None:
    """A number beyond a float (it would read as infinity) and a lone surrogate (no UTF-8 for it) in
    an otherwise valid session are not JSON it can be stored as: refused, nothing stored (never a
    server error)."""
    server, world = world_server
    doc = variant(session_doc, 11)
    doc["reps"][0]["score"] = 55.123456789
    doc["source"]["gain"] = 23456.5  # source is open for extra keys
    doc["source"]["file"] = "SURROGATE"
    body = json.dumps(doc).encode()
    assert all(body.count(s) == 1 for s in (b"55.123456789", b"23456.5", b"SURROGATE"))
    answer = refused(server, world, 422, "invalid_session", body.replace(b"55.123456789", b"1e400"))
    assert "reps/0/score" in answer["message"]
    refused(server, world, 400, "malformed_json", body.replace(b"23456.5", b"-1e999"))
    refused(server, world, 400, "malformed_json", body.replace(b"SURROGATE", b"\\ud800"))


def test_a_token_revoked_during_the_upload_stores_nothing(
    world_server: tuple[Server, World], session_doc: dict[str, Any]
) -> None:
    """The store re-checks the token in its own transaction (the UPDATE of the device's last use):
    a device revoked between the authorization and the store gets 401, and nothing is stored."""
    server, world = world_server
    with server.engine.connect() as conn:
        uploader = uploads.authorize(conn, f"Bearer {world.token_a}", world.patient_a)
    assert (uploader.device_id, uploader.patient_id) == (world.device_a, world.patient_a)
    checked = check_upload(json.dumps(variant(session_doc, 9)).encode(), 10**7)
    with server.engine.begin() as conn:
        conn.execute(update(Device).where(Device.id == world.device_a).values(revoked_at=utcnow()))
    before = server.dump()
    with pytest.raises(uploads.UploadRefusedError) as refusal:
        uploads.store(server.engine, uploader, checked, "127.0.0.1")
    assert refusal.value.status == 401 and refusal.value.headers
    assert server.dump() == before


def test_store_answers_once_then_the_same_id(
    world_server: tuple[Server, World], session_doc: dict[str, Any]
) -> None:
    """The store itself (no HTTP): 201 with a new id, then 200 with that id; one row, one audit event
    naming the device, the patient and the therapist; the device's last use is the upload's time."""
    server, world = world_server
    with server.engine.connect() as conn:
        uploader = uploads.authorize(conn, f"Bearer {world.token_a}", world.patient_a)
    checked = check_upload(json.dumps(variant(session_doc, 10)).encode(), 10**7)
    first = uploads.store(server.engine, uploader, checked, "10.1.2.3")
    again = uploads.store(server.engine, uploader, checked, "10.1.2.3")
    assert first[0] == 201 and again == (200, {"id": first[1]["id"], "duplicate": True})
    with server.engine.connect() as conn:
        row = conn.execute(
            text("SELECT patient_id, device_id, document FROM sessions WHERE id = :i"), {"i": first[1]["id"]}
        ).one()
        events = conn.execute(
            text(
                "SELECT actor_kind, actor_id, patient_id, therapist_id, address FROM audit_events "
                "WHERE action = 'session.uploaded' AND address = '10.1.2.3'"
            )
        ).all()
        last_used = conn.execute(
            text("SELECT last_used_at FROM devices WHERE id = :d"), {"d": world.device_a}
        ).scalar_one()
    assert row.patient_id == world.patient_a and row.device_id == world.device_a
    assert row.document == checked.canonical
    assert [tuple(e) for e in events] == [
        ("patient", world.device_a, world.patient_a, uploader.therapist_id, "10.1.2.3")
    ]
    assert last_used is not None


def test_sqlite_settings(tmp_path: Any) -> None:
    """SQLite: write-ahead log, synchronous NORMAL by default (FULL when asked), the pool sizes
    given; anything but the two sync words is refused before it reaches a PRAGMA."""
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    for mode, expected in (("normal", 1), ("full", 2)):
        engine = make_engine(url, sqlite_synchronous=mode, pool_size=3, max_overflow=1)
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA synchronous")).scalar_one() == expected
            assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert engine.pool.size() == 3  # type: ignore[attr-defined]
        engine.dispose()
    with pytest.raises(SettingsError):
        make_engine(url, sqlite_synchronous="off; DROP TABLE x")
    with pytest.raises(SettingsError):
        Settings(database_url=url, secret_key="k" * 40, sqlite_synchronous="off").checked()


def test_sqlite_writers_queue_across_processes_and_checkpoint_in_the_background(tmp_path: Any) -> None:
    """The upload path's writer lock excludes a writer in another process (uvicorn's workers), and
    every CHECKPOINT_EVERY_WRITES writes the log is copied into the database file by a background
    checkpoint, not by SQLite inside a commit (its own threshold is far above that)."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    from siform.server import db as server_db

    path = tmp_path / "db.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x BLOB)"))
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from siform.server.db import make_engine, writers\n"
         "with writers(make_engine(sys.argv[1])):\n"
         "    print('held', flush=True); time.sleep(1.0)\n",
         f"sqlite:///{path}"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    t0 = time.monotonic()
    with server_db.writers(engine):
        waited = time.monotonic() - t0
    assert holder.wait(timeout=30) == 0
    assert 0.5 < waited < 10, waited
    assert Path(f"{path}-writers").exists()

    def write_one() -> None:
        with server_db.writers(engine), engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": b"\x01" * 20_000})

    for _ in range(server_db.CHECKPOINT_EVERY_WRITES - 2):  # the first counted already
        write_one()
    before = path.stat().st_size
    assert before < 100_000, "SQLite checkpointed by itself"
    write_one()
    deadline = time.monotonic() + 20
    while path.stat().st_size == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.stat().st_size > 1_000_000  # about 99 rows of 20 kB copied into the file
    engine.dispose()


def test_a_session_is_dated_by_its_recording_when_it_says_so(
    world_server: tuple[Server, World], session_doc: dict[str, Any]
) -> None:
    """A live session's ``recorded_utc`` (when the set was done) dates it on the server, not the time
    the document was written; a review without one is dated by its analysis."""
    server, world = world_server
    client = server.client()
    live = {**variant(session_doc, 41), "recorded_utc": "2026-11-02T09:30:00+00:00"}
    review = variant(session_doc, 42)
    review.pop("recorded_utc", None)
    for doc in (live, review):
        assert upload(client, world.token_a, world.patient_a, doc).status_code == 201
    listed = client.get(URL.format(world.patient_a), headers=bearer(world.token_a)).json()["sessions"]
    when = {s["session_key"]: s["recorded_utc"] for s in listed}
    assert when[live["session_id"]] == "2026-11-02T09:30:00+00:00" != live["created_utc"]
    assert when[review["session_id"]] == review["created_utc"]
