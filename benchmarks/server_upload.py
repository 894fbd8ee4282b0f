"""Benchmark: concurrent uploads to a real ``siform serve``; throughput, latency, rows lost or doubled.

Starts ``siform serve`` (uvicorn, ``--workers`` processes) on a fresh database, creates a therapist
and a patient, pairs one device per client process, then each of ``--clients`` processes uploads
its share of ``--sessions`` distinct session documents, each sent ``--sends`` times (a retry after a
lost answer is the normal case for a patient's machine). It prints requests per second, new sessions
stored per second, latency percentiles, the answers' status codes, and then counts the rows in the
database: exactly ``--sessions`` wanted, none lost, none duplicated.

    python benchmarks/server_upload.py [--workers 2] [--clients 4] [--sessions 400] [--sends 2]
                                       [--database-url URL] [--doc session.json]

The default database is a SQLite file in a temporary folder; give ``--database-url
postgresql+psycopg://USER@HOST:PORT/DB`` (an empty database) for PostgreSQL. Without ``--doc`` the
document is the engine's real output on a synthetic glute bridge (as in tests/server).
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
SIFORM = [sys.executable, "-m", "siform"]
SECRET = "benchmark-secret-" + "b" * 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def synthetic_doc() -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "tests"))
    from siform.pipeline import analyze_track
    from siform.session import build_session
    from siform.specs.load import load_spec

    from factories import bridge_side_view

    spec = load_spec(ROOT / "exercise_specs" / "glute_bridge.toml")
    track, _ = bridge_side_view()
    return build_session(
        analyze_track(track, spec), spec, mode="review", model_path=None, source={"file": "bridge.mp4"}
    )


def distinct(doc: dict[str, Any], n: int) -> bytes:
    """The same set as another recording: another time (and session id, when the format has one)."""
    out = copy.deepcopy(doc)
    out["created_utc"] = (
        f"2026-{1 + n // 28 // 24 % 12:02d}-{1 + n // 24 % 28:02d}T{n % 24:02d}:00:{n // 8064 % 60:02d}+00:00"
    )
    if "session_id" in out:
        out["session_id"] = str(uuid.uuid4())
    return json.dumps(out).encode()


def client_run(job: tuple[str, str, str, list[bytes], int]) -> list[tuple[float, int, str]]:
    base, patient_id, token, bodies, sends = job
    url = f"{base}/api/v1/patients/{patient_id}/sessions"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    out = []
    with httpx.Client(timeout=120) as client:
        for body in bodies:
            for _ in range(sends):
                t0 = time.perf_counter()
                r = client.post(url, content=body, headers=headers)
                out.append((time.perf_counter() - t0, r.status_code, r.json().get("id", "")))
    return out


def login_and_invite(base: str, n: int) -> tuple[str, list[str]]:
    with httpx.Client(base_url=base, follow_redirects=False) as web:
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', web.get("/login").text).group(1)  # type: ignore[union-attr]
        r = web.post(
            "/login", data={"email": "bench@clinic.example", "password": "benchmark password", "csrf": token}
        )
        assert r.status_code == 303, r.text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', web.get("/patients").text).group(1)  # type: ignore[union-attr]
        r = web.post("/patients", data={"label": "Benchmark patient", "csrf": csrf})
        patient_id = r.text.split('href="/patients/')[1][:32]
        codes = [re.search(r'class="code">([A-Z0-9-]+)<', r.text).group(1)]  # type: ignore[union-attr]
        for _ in range(n - 1):
            r = web.post(f"/patients/{patient_id}/invites", data={"csrf": csrf})
            codes.append(re.search(r'class="code">([A-Z0-9-]+)<', r.text).group(1))  # type: ignore[union-attr]
    tokens = [
        httpx.post(f"{base}/api/v1/pair", json={"code": c, "device_name": f"bench{i}"}).json()["token"]
        for i, c in enumerate(codes)
    ]
    return patient_id, tokens


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--sessions", type=int, default=400)
    parser.add_argument("--sends", type=int, default=2, help="times each document is sent (retries)")
    parser.add_argument("--database-url")
    parser.add_argument("--doc", help="a session.json to upload (default: a synthetic glute bridge)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="siform-bench-"))
    url = args.database_url or f"sqlite:///{folder / 'server.sqlite3'}"
    env = {**os.environ, "SIFORM_DATABASE_URL": url, "SIFORM_SECRET_KEY": SECRET}
    doc = json.loads(Path(args.doc).read_text()) if args.doc else synthetic_doc()
    bodies = [distinct(doc, i) for i in range(args.sessions)]
    made = subprocess.run(
        [*SIFORM, "serve", "--create-therapist", "bench@clinic.example", "--password-stdin"],
        input="benchmark password\n",
        text=True,
        env=env,
        capture_output=True,
    )
    if made.returncode != 0:
        print(made.stderr, file=sys.stderr)
        return 1
    port = free_port()
    log = (folder / "server.log").open("w")
    server = subprocess.Popen(
        [*SIFORM, "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start; see " + str(folder / "server.log"))
            time.sleep(0.2)
        patient_id, tokens = login_and_invite(base, args.clients)
        jobs = [
            (base, patient_id, tokens[i], bodies[i :: args.clients], args.sends) for i in range(args.clients)
        ]
        t0 = time.perf_counter()
        with multiprocessing.get_context("spawn").Pool(args.clients) as pool:
            results = [r for part in pool.map(client_run, jobs) for r in part]
        elapsed = time.perf_counter() - t0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()

    from sqlalchemy import text

    from siform.server.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM sessions")).scalar_one()
        distinct_keys = conn.execute(text("SELECT count(DISTINCT session_key) FROM sessions")).scalar_one()
    engine.dispose()
    latencies = sorted(r[0] for r in results)
    statuses = Counter(r[1] for r in results)
    ids = {r[2] for r in results if r[1] in (200, 201)}

    def pct(p: float) -> float:
        return 1000 * latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]

    print(
        f"database: {url.split('@')[-1]}; {args.workers} uvicorn worker(s), {args.clients} client processes; "
        f"document {len(bodies[0]) / 1024:.0f} KiB"
    )
    print(
        f"requests: {len(results)} in {elapsed:.2f} s = {len(results) / elapsed:.0f} per second "
        f"({args.sessions / elapsed:.0f} new sessions stored per second)"
    )
    print(f"latency ms: p50 {pct(50):.0f}, p95 {pct(95):.0f}, max {1000 * latencies[-1]:.0f}")
    print(f"answers: {dict(sorted(statuses.items()))}; distinct ids answered {len(ids)}")
    ok = rows == distinct_keys == args.sessions == len(ids) and statuses.get(201) == args.sessions
    print(
        f"rows: {rows} stored, {distinct_keys} distinct, {args.sessions} sent: "
        f"{'none lost, none duplicated' if ok else 'MISMATCH'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
