"""``siform sync`` and the prescription on the patient's side, against a real ``siform serve``.

The therapist sets the prescription through the server's own form; the patient's machine pairs,
syncs, and runs ``siform live`` / ``siform analyze`` on a sample clip with the real pose model, in
processes, as a patient's terminal does. The server's answers that a real server does not give (a
newer prescription format, a body that is not JSON) come from a small HTTP server of the test's own.
"""

from __future__ import annotations

import http.server
import json
import re
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from siform.prescription import PatientPrescription

from .conftest import (
    ROOT,
    SECRET,
    TherapistWeb,
    clean_env,
    free_port,
    live_interrupted_at_first_rep,
    run_siform,
    serving,
    variant,
)

CLIP = ROOT / "sample_videos" / "bridge_high_right.mp4"  # 5 bridges in 13.3 s at 15 fps
CHECKIN = ["--pain", "2", "--red-flags", "none"]


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("sync_server")
    env = clean_env(SIFORM_DATABASE_URL=f"sqlite:///{folder}/db.sqlite3", SIFORM_SECRET_KEY=SECRET)
    with serving(env, folder / "server.log") as base:
        yield base


@pytest.fixture(scope="module")
def therapist(live_server: str) -> Iterator[TherapistWeb]:
    t = TherapistWeb(live_server)
    yield t
    t.web.close()


def paired_device(base: str, therapist: TherapistWeb, client_dir: Path) -> tuple[str, dict[str, Any]]:
    assert therapist.base == base
    return therapist.paired(client_dir)


def served(base: str, pairing: dict[str, Any]) -> dict[str, Any]:
    """The prescription as the device API answers it."""
    r = httpx.get(
        f"{base}/api/v1/patients/{pairing['patient_id']}/prescription",
        headers={"Authorization": f"Bearer {pairing['token']}"},
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


BRIDGE = {"ex.glute_bridge.on": "1", "ex.glute_bridge.sets": "1", "ex.glute_bridge.reps": "3",
          "ex.glute_bridge.note": "Slow on the way down."}  # fmt: skip


def test_sync_stores_says_and_keeps_the_prescription(
    live_server: str, therapist: TherapistWeb, tmp_path: Path, session_doc: dict[str, Any]
) -> None:
    client_dir = tmp_path / "client"
    r = run_siform(client_dir, "sync")
    assert r.returncode == 1 and "not paired" in r.stderr and "siform pair" in r.stderr
    patient_id, pairing = paired_device(live_server, therapist, client_dir)
    stored = client_dir / "prescription.json"

    r = run_siform(client_dir, "sync")  # nothing prescribed yet: version 0, said so
    assert r.returncode == 0, r.stderr
    assert "has not set a prescription yet" in r.stdout
    assert PatientPrescription.model_validate_json(stored.read_bytes()).version == 0

    therapist.prescribe(patient_id, {**BRIDGE, "ex.clamshell.on": "1", "ex.clamshell.reps": "8",
                                     "ex.clamshell.side": "right"})  # fmt: skip
    r = run_siform(client_dir, "sync")
    assert r.returncode == 0, r.stderr
    assert PatientPrescription.model_validate_json(stored.read_bytes()) == PatientPrescription.model_validate(
        served(live_server, pairing)
    )
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600  # health data: the user's only
    out = r.stdout
    assert "Glute bridge: 1 set x 3 reps.   siform live glute_bridge" in out, out
    assert '"Slow on the way down."' in out
    assert re.search(r"Clamshell: \d+ sets? x 8 reps on the right side only", out), out
    assert "Updated: your previous prescription was version 0." in out
    r = run_siform(client_dir, "sync")
    assert r.returncode == 0 and "Unchanged since your last sync." in r.stdout

    # the server is away: one line, the stored prescription kept and its age said; a session made
    # meanwhile waits in the queue, and the next sync sends it
    kept = stored.read_bytes()
    away = {**pairing, "server": f"http://127.0.0.1:{free_port()}"}
    (client_dir / "server.json").write_text(json.dumps(away))
    r = run_siform(client_dir, "sync")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "Cannot reach your therapist's server" in r.stderr
    assert re.search(r"keeping the one synced \d+ min ago \(version 1, set by your therapist on ", r.stderr)
    assert stored.read_bytes() == kept
    session = tmp_path / "session.json"
    session.write_text(json.dumps(variant(session_doc, 40)))
    r = run_siform(client_dir, "upload", str(session))
    assert r.returncode == 0 and "queued" in r.stdout
    (client_dir / "server.json").write_text(json.dumps(pairing))
    r = run_siform(client_dir, "sync")
    assert r.returncode == 0 and "1 queued session(s) sent to your therapist." in r.stdout, r.stdout
    assert list((client_dir / "queue").glob("*.json")) == []


def test_sync_with_a_revoked_token_keeps_the_prescription(
    live_server: str, therapist: TherapistWeb, tmp_path: Path
) -> None:
    client_dir = tmp_path / "client"
    patient_id, pairing = paired_device(live_server, therapist, client_dir)
    therapist.prescribe(patient_id, BRIDGE)
    assert run_siform(client_dir, "sync").returncode == 0
    kept = (client_dir / "prescription.json").read_bytes()
    therapist.revoke(patient_id, pairing["device_id"])
    r = run_siform(client_dir, "sync")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "no longer accepts this device" in r.stderr and "siform pair SERVER CODE" in r.stderr
    assert "keeping the one synced" in r.stderr
    assert (client_dir / "prescription.json").read_bytes() == kept


class _Answer(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def odd_server() -> Iterator[tuple[str, type[_Answer]]]:
    handler = type("Answer", (_Answer,), {})
    httpd = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


def test_a_malformed_answer_keeps_the_stored_prescription(
    live_server: str, therapist: TherapistWeb, tmp_path: Path, odd_server: tuple[str, type[_Answer]]
) -> None:
    client_dir = tmp_path / "client"
    patient_id, pairing = paired_device(live_server, therapist, client_dir)
    therapist.prescribe(patient_id, BRIDGE)
    assert run_siform(client_dir, "sync").returncode == 0
    kept = (client_dir / "prescription.json").read_bytes()
    odd, handler = odd_server
    (client_dir / "server.json").write_text(json.dumps({**pairing, "server": odd}))
    newer = {**json.loads(kept), "format": 2}
    other = {**json.loads(kept), "patient_id": "0" * 32}
    answers = [(json.dumps(newer).encode(), "format"), (b"<html>gateway</html>", "not a JSON document"),
               (json.dumps(other).encode(), "another patient")]  # fmt: skip
    for body, why in answers:
        handler.body = body
        r = run_siform(client_dir, "sync")
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert "sent a prescription this siform cannot read" in r.stderr and why in r.stderr, r.stderr
        assert "keeping the one synced" in r.stderr
        assert (client_dir / "prescription.json").read_bytes() == kept


def limits_of(doc: dict[str, Any], check_id: str) -> tuple[float | None, float | None]:
    """A check's limits as the session document records them (what the reps were judged against)."""
    check = next(c for c in doc["checks"] if c["id"] == check_id)
    return check["limit_min"], check["limit_max"]


def test_live_and_analyze_use_the_synced_prescription_and_upload(
    live_server: str, therapist: TherapistWeb, tmp_path: Path
) -> None:
    """The therapist asks for one set of 3 bridges and a wider pelvis tolerance: live stops after 3
    reps of the 5-rep clip, writes the therapist's dose and limit, and the session is on the server
    without an upload command; analyze judges with the same limit."""
    from siform.specs.load import find_spec

    spec = find_spec("glute_bridge")
    level = next(c for c in spec.checks if c.id == "level_pelvis")
    assert level.limit.max is not None
    wider = round(level.limit.max * 2, 4)
    client_dir = tmp_path / "client"
    patient_id, pairing = paired_device(live_server, therapist, client_dir)
    therapist.prescribe(patient_id, {**BRIDGE, "ex.glute_bridge.limit.level_pelvis.max": str(wider)})
    assert run_siform(client_dir, "sync").returncode == 0
    prescribed = PatientPrescription.model_validate_json((client_dir / "prescription.json").read_bytes())
    limit = prescribed.exercises[0].limits["level_pelvis"]
    assert limit.max == wider

    out = tmp_path / "live"
    r = run_siform(client_dir, "live", "glute_bridge", "--source", str(CLIP), "--pace", "fast", "--no-window",
            "--mute", "--out", str(out), *CHECKIN)  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("Your therapist's prescription of ") and "1 set x 3 reps" in lines[0]
    assert "your own limits for: Pelvis stays level" in lines[0]
    assert lines[1] == 'Your therapist says: "Slow on the way down."'
    doc = json.loads((out / "session.json").read_text())
    assert (doc["prescription"]["sets"], doc["prescription"]["reps"]) == (1, 3)
    assert doc["prescription"]["source"] == "therapist"
    assert doc["prescription"]["updated_utc"] == prescribed.updated_utc
    assert limits_of(doc, "level_pelvis") == (limit.min, limit.max)
    assert len([rep for rep in doc["reps"] if rep["number"]]) == 3  # the set ended at the therapist's 3
    assert f"{out / 'session.json'}: uploaded to your therapist" in r.stdout
    api = httpx.get(f"{live_server}/api/v1/patients/{patient_id}/sessions",
                    headers={"Authorization": f"Bearer {pairing['token']}"}).json()  # fmt: skip
    on_server = {s["session_key"]: s for s in api["sessions"]}
    assert doc["session_id"] in on_server
    # no --patient: the session names the paired patient; the server dates it by the live start
    assert doc["patient"] == patient_id
    assert on_server[doc["session_id"]]["recorded_utc"] == doc["recorded_utc"]

    review = tmp_path / "review"
    r = run_siform(client_dir, "analyze", str(CLIP), "-e", "glute_bridge", "--no-video", "-o", str(review))
    assert r.returncode == 0, r.stderr
    reviewed = json.loads((review / "session.json").read_text())
    assert limits_of(reviewed, "level_pelvis") == (limit.min, limit.max)
    assert reviewed["patient"] == patient_id
    assert "uploaded to your therapist" in r.stdout
    r = run_siform(client_dir, "analyze", str(CLIP), "-e", "glute_bridge", "--no-video",
                   "-o", str(tmp_path / "own"), "--no-prescription", "--no-upload")  # fmt: skip
    assert r.returncode == 0, r.stderr
    own = json.loads((tmp_path / "own" / "session.json").read_text())
    assert limits_of(own, "level_pelvis") == (level.limit.min, level.limit.max)
    assert own["prescription"] == {**spec.prescription.model_dump(), "source": "spec", "updated_utc": None}
    assert "therapist" not in r.stdout  # neither the prescription line nor an upload line


def test_analyze_offline_queues_its_session_and_sync_sends_it(
    live_server: str, therapist: TherapistWeb, tmp_path: Path
) -> None:
    client_dir = tmp_path / "client"
    patient_id, pairing = paired_device(live_server, therapist, client_dir)
    away = {**pairing, "server": f"http://127.0.0.1:{free_port()}"}
    (client_dir / "server.json").write_text(json.dumps(away))
    out = tmp_path / "review"
    r = run_siform(client_dir, "analyze", str(CLIP), "-e", "glute_bridge", "--no-video", "-o", str(out))
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    queued = f"{out / 'session.json'}: queued: will be sent by the next siform upload or siform sync"
    assert queued in r.stdout, r.stdout
    assert "siform sync" in r.stdout.splitlines()[0]  # paired, never synced: how to get the prescription
    (client_dir / "server.json").write_text(json.dumps(pairing))
    r = run_siform(client_dir, "sync")
    assert r.returncode == 0 and "1 queued session(s) sent to your therapist." in r.stdout, r.stdout
    api = httpx.get(f"{live_server}/api/v1/patients/{patient_id}/sessions",
                    headers={"Authorization": f"Bearer {pairing['token']}"}).json()  # fmt: skip
    doc = json.loads((out / "session.json").read_text())
    assert [s["session_key"] for s in api["sessions"]] == [doc["session_id"]]


def test_ctrl_c_queues_the_live_session_without_waiting_for_the_network(
    live_server: str, therapist: TherapistWeb, tmp_path: Path
) -> None:
    """Ctrl-C ends a headless session: the patient asked to stop now, so the written session is
    queued, not sent, and the next sync sends it."""
    client_dir = tmp_path / "client"
    patient_id, pairing = paired_device(live_server, therapist, client_dir)
    out = tmp_path / "live"
    code, rest, err = live_interrupted_at_first_rep(
        ["glute_bridge", "--source", str(CLIP), "--pace", "realtime", "--no-window", "--mute",
         "--out", str(out), "--no-prescription", *CHECKIN],
        clean_env(SIFORM_CLIENT_DIR=str(client_dir)),
    )  # fmt: skip
    assert code == 130 and err.strip().splitlines() == ["siform: interrupted."], err
    assert f"{out / 'session.json'}: queued: will be sent by the next siform upload or siform sync" in rest
    queued = list((client_dir / "queue").glob("*.json"))
    assert [q.read_bytes() for q in queued] == [(out / "session.json").read_bytes()]
    r = run_siform(client_dir, "sync")
    assert r.returncode == 0 and "1 queued session(s) sent to your therapist." in r.stdout, r.stdout
    api = httpx.get(f"{live_server}/api/v1/patients/{patient_id}/sessions",
                    headers={"Authorization": f"Bearer {pairing['token']}"}).json()  # fmt: skip
    doc = json.loads((out / "session.json").read_text())
    assert [s["session_key"] for s in api["sessions"]] == [doc["session_id"]]
