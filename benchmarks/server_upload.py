"""Benchmark: concurrent uploads to a real ``siform serve``; throughput, latency, rows lost or doubled.

Starts ``siform serve --workers N`` (uvicorn processes) on a fresh database, creates a therapist
and a patient, pairs one device per client process, then ``--clients`` processes (each with
``--threads`` keep-alive connections) upload ``--sessions`` distinct session documents, each sent
``--sends`` times: the sends of one document come from different client processes, so retries
race each other as a patient's machine retrying after a lost answer would. It prints requests and
new sessions per second, latency percentiles, the answers, the CPU time the server and the clients
used per request, and then counts the rows: exactly ``--sessions`` sessions stored, one audit event
each, exactly one 201 per document and the same id in every answer for it (none lost, none
duplicated). Exit status 1 if any of that fails.

    python benchmarks/server_upload.py [--database sqlite|postgresql] [--workers 2 | --workers 1,2,4]
        [--clients 2] [--threads 4] [--sessions 400] [--sends 2] [--server-cpus 0] [--client-cpus 1]
        [--database-url URL] [--doc session.json]

``--database postgresql`` starts a throwaway PostgreSQL 15 cluster (``initdb`` in a temporary
folder, fsync on as in production; binaries from ``SIFORM_PG_BIN`` or
/usr/lib/postgresql/15/bin), one fresh database per ``--workers`` value, and removes it at the end.
``--database-url`` uses an existing empty database instead. ``--server-cpus``/``--client-cpus``
pin the server and the clients to CPUs (``taskset`` lists), so that a shared machine's other work
shows less in the figures. Without ``--doc`` the document is the engine's real output on a
synthetic glute bridge (as in tests/server).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import http.client
import json
import multiprocessing
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SIFORM = [sys.executable, "-m", "siform"]
SECRET = "benchmark-secret-" + "b" * 40
PASSWORD = "benchmark password"
PG_BIN = Path(os.environ.get("SIFORM_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def parse_cpus(text: str | None) -> set[int] | None:
    """``"0"``, ``"0,1"`` or ``"0-1"`` as a set of CPU numbers (None: not pinned)."""
    if not text:
        return None
    cpus: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


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


# -- the clients ----------------------------------------------------------------------------------------


@dataclass
class ClientJob:
    port: int
    path: str
    token: str
    sends: list[tuple[int, bytes]]  # (document number, body), in sending order
    threads: int
    cpus: set[int] | None


@dataclass
class Answer:
    doc: int
    latency_s: float
    status: int
    id: str


def client_run(job: ClientJob) -> tuple[list[Answer], float]:
    """Send the job's uploads over ``threads`` keep-alive connections; the answers and this process's
    CPU seconds. Plain ``http.client``: the clients share the machine with the server, so they should
    cost as little as possible (about 0.4 ms of CPU per request here, a tenth of the server's)."""
    if job.cpus:
        os.sched_setaffinity(0, job.cpus)
    headers = {"Authorization": f"Bearer {job.token}", "Content-Type": "application/json"}
    work = iter(job.sends)
    lock = threading.Lock()
    answers: list[Answer] = []

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", job.port, timeout=120)
        mine: list[Answer] = []
        while True:
            with lock:
                item = next(work, None)
            if item is None:
                break
            number, body = item
            t0 = time.perf_counter()
            conn.request("POST", job.path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            elapsed = time.perf_counter() - t0
            answer = json.loads(data) if data else {}
            mine.append(Answer(number, elapsed, r.status, str(answer.get("id", ""))))
        conn.close()
        with lock:
            answers.extend(mine)

    before = resource.getrusage(resource.RUSAGE_SELF)
    threads = [threading.Thread(target=worker) for _ in range(job.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return answers, cpu


# -- the server -------------------------------------------------------------------------------------------


def process_tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live descendants (uvicorn's workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return total


def login_and_invite(port: int, n: int) -> tuple[str, list[str]]:
    """A patient and ``n`` paired devices, made through the app's own pages and API."""
    import httpx

    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, follow_redirects=False) as web:
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', web.get("/login").text).group(1)  # type: ignore[union-attr]
        r = web.post("/login", data={"email": "bench@clinic.example", "password": PASSWORD, "csrf": token})
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


@contextlib.contextmanager
def serving(url: str, workers: int, folder: Path, cpus: set[int] | None) -> Iterator[tuple[int, int]]:
    """``siform serve`` on ``url`` (migrated, with a therapist), listening; yields (port, pid)."""
    env = {**os.environ, "SIFORM_DATABASE_URL": url, "SIFORM_SECRET_KEY": SECRET}
    made = subprocess.run(
        [*SIFORM, "serve", "--create-therapist", "bench@clinic.example", "--password-stdin"],
        input=PASSWORD + "\n",
        text=True,
        env=env,
        capture_output=True,
    )
    if made.returncode != 0:
        raise SystemExit(f"creating the therapist failed:\n{made.stderr}")
    port = free_port()
    log_path = folder / f"server-{workers}.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [*SIFORM, "serve", "--port", str(port), "--workers", str(workers), "--no-access-log"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                with contextlib.suppress(OSError, http.client.HTTPException):
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                    conn.request("GET", "/healthz")
                    if conn.getresponse().status == 200:
                        break
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the server did not start; see {log_path}")
                time.sleep(0.2)
            yield port, server.pid
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)


# -- PostgreSQL ---------------------------------------------------------------------------------------------


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextlib.contextmanager
def postgres_cluster(cpus: set[int] | None) -> Iterator[tuple[str, str, int]]:
    """A throwaway PostgreSQL 15 cluster (fsync on, as in production); yields (URL base, admin DSN,
    the postmaster's pid, whose process tree's CPU time is the database's)."""
    if not (PG_BIN / "initdb").exists():
        raise SystemExit(f"PostgreSQL binaries not found in {PG_BIN} (Debian: apt-get install postgresql-15)")
    folder = Path(tempfile.mkdtemp(prefix="siform-bench-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, user="postgres")  # PostgreSQL refuses to run as root
    data, port = folder / "data", free_port()
    pin = ["taskset", "-c", ",".join(map(str, sorted(cpus)))] if cpus else []
    try:
        subprocess.run(
            _as_postgres(
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
        )
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
        subprocess.run(
            pin
            + _as_postgres(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(folder / "log.txt"),
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
        )
        yield (
            f"postgresql+psycopg://postgres@127.0.0.1:{port}/",
            f"host=127.0.0.1 port={port} user=postgres dbname=postgres",
            int((data / "postmaster.pid").read_text().split()[0]),
        )
    finally:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]), capture_output=True
        )
        shutil.rmtree(folder, ignore_errors=True)


def new_pg_database(admin_dsn: str, base: str, name: str) -> str:
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return base + name


# -- one run ------------------------------------------------------------------------------------------


@dataclass
class Result:
    workers: int
    requests: int
    elapsed_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[int, int]
    server_cpu_ms: float  # per request
    db_cpu_ms: float | None  # per request: PostgreSQL's processes, when the benchmark started them
    client_cpu_ms: float  # per request
    rows: int
    distinct_keys: int
    audit_events: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def percentile(sorted_values: list[float], p: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))]


def verdict(
    answers: list[Answer],
    sessions: int,
    sends: int,
    rows: int,
    distinct_keys: int,
    audited: int,
    stored_ids: set[str],
) -> list[str]:
    """What is wrong (nothing: an empty list): every request answered, exactly one 201 per document
    and the same id in all its answers, and as many rows, distinct keys and upload audit events as
    documents, the rows being exactly the ids answered."""
    problems = []
    by_doc: dict[int, list[Answer]] = defaultdict(list)
    for a in answers:
        by_doc[a.doc].append(a)
    if len(answers) != sessions * sends:
        problems.append(f"{len(answers)} answers for {sessions * sends} requests")
    for n, got in sorted(by_doc.items()):
        created = [a for a in got if a.status == 201]
        if len(created) != 1 or any(a.status not in (200, 201) for a in got):
            problems.append(f"document {n}: answers {[a.status for a in got]}")
        if len({a.id for a in got}) != 1:
            problems.append(f"document {n}: different ids {sorted({a.id for a in got})}")
    answered_ids = {a.id for a in answers if a.status in (200, 201)}
    if not rows == distinct_keys == audited == sessions or answered_ids != stored_ids:
        problems.append(
            f"{rows} rows, {distinct_keys} distinct keys, {audited} upload audit events, "
            f"{len(answered_ids & stored_ids)} of {sessions} answered ids stored"
        )
    return problems


def run_once(
    url: str, workers: int, bodies: list[bytes], args: argparse.Namespace, folder: Path, db_pid: int | None
) -> Result:
    server_cpus, client_cpus = parse_cpus(args.server_cpus), parse_cpus(args.client_cpus)
    with serving(url, workers, folder, server_cpus) as (port, pid):
        patient_id, tokens = login_and_invite(port, args.clients)
        per_client: list[list[tuple[int, bytes]]] = [[] for _ in range(args.clients)]
        for n, body in enumerate(bodies):
            for k in range(args.sends):  # the retries of a document come from other clients
                per_client[(n + k) % args.clients].append((n, body))
        jobs = [
            ClientJob(
                port,
                f"/api/v1/patients/{patient_id}/sessions",
                tokens[i],
                per_client[i],
                args.threads,
                client_cpus,
            )
            for i in range(args.clients)
        ]
        with multiprocessing.get_context("spawn").Pool(args.clients) as pool:
            pool.map(time.sleep, [0] * args.clients)  # the clients started before the clock does
            cpu0 = process_tree_cpu_s(pid)
            db0 = process_tree_cpu_s(db_pid) if db_pid else 0.0
            t0 = time.perf_counter()
            parts = pool.map(client_run, jobs)
            elapsed = time.perf_counter() - t0
            server_cpu = process_tree_cpu_s(pid) - cpu0
            db_cpu = process_tree_cpu_s(db_pid) - db0 if db_pid else None
    answers = [a for part, _ in parts for a in part]
    client_cpu = sum(cpu for _, cpu in parts)

    from sqlalchemy import text

    from siform.server.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM sessions")).scalar_one()
        distinct_keys = conn.execute(
            text("SELECT count(*) FROM (SELECT DISTINCT patient_id, session_key FROM sessions) AS k")
        ).scalar_one()
        audited = conn.execute(
            text("SELECT count(*) FROM audit_events WHERE action = 'session.uploaded'")
        ).scalar_one()
        stored_ids = set(conn.execute(text("SELECT id FROM sessions")).scalars())
    engine.dispose()

    problems = verdict(answers, len(bodies), args.sends, rows, distinct_keys, audited, stored_ids)
    latencies = sorted(1000 * a.latency_s for a in answers)
    return Result(
        workers=workers,
        requests=len(answers),
        elapsed_s=elapsed,
        p50_ms=percentile(latencies, 50),
        p95_ms=percentile(latencies, 95),
        p99_ms=percentile(latencies, 99),
        max_ms=latencies[-1],
        statuses=dict(sorted(Counter(a.status for a in answers).items())),
        server_cpu_ms=1000 * server_cpu / max(1, len(answers)),
        db_cpu_ms=1000 * db_cpu / max(1, len(answers)) if db_cpu is not None else None,
        client_cpu_ms=1000 * client_cpu / max(1, len(answers)),
        rows=rows,
        distinct_keys=distinct_keys,
        audit_events=audited,
        problems=problems,
    )


def report(r: Result, sessions: int, elapsed_per_session: bool = True) -> None:
    print(
        f"  workers {r.workers}: {r.requests} requests in {r.elapsed_s:.2f} s = "
        f"{r.requests / r.elapsed_s:.0f} uploads/s ({sessions / r.elapsed_s:.0f} new sessions stored/s); "
        f"latency ms p50 {r.p50_ms:.1f}, p95 {r.p95_ms:.1f}, p99 {r.p99_ms:.1f}, max {r.max_ms:.0f}"
    )
    print(
        f"    answers {r.statuses}; CPU per request: server {r.server_cpu_ms:.2f} ms, "
        + (f"PostgreSQL {r.db_cpu_ms:.2f} ms, " if r.db_cpu_ms is not None else "")
        + f"clients {r.client_cpu_ms:.2f} ms"
    )
    verdict = "none lost, none duplicated" if r.ok else "MISMATCH: " + "; ".join(r.problems[:5])
    print(
        f"    rows: {r.rows} stored, {r.distinct_keys} distinct, {r.audit_events} audited, "
        f"{sessions} sent (each {r.requests // max(1, sessions)}x): {verdict}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--database-url", help="an existing empty database instead of a fresh one")
    parser.add_argument("--workers", default="2", help="uvicorn workers; a list (1,2,4) runs each in turn")
    parser.add_argument("--clients", type=int, default=2, help="client processes (one device token each)")
    parser.add_argument("--threads", type=int, default=4, help="keep-alive connections per client process")
    parser.add_argument("--sessions", type=int, default=400)
    parser.add_argument("--sends", type=int, default=2, help="times each document is sent (retries)")
    parser.add_argument("--server-cpus", help="pin the server (and PostgreSQL) to these CPUs, e.g. 0")
    parser.add_argument("--client-cpus", help="pin the client processes to these CPUs, e.g. 1")
    parser.add_argument("--doc", help="a session.json to upload (default: a synthetic glute bridge)")
    args = parser.parse_args(argv)
    worker_counts = [int(w) for w in str(args.workers).split(",")]
    if args.database_url and len(worker_counts) > 1:
        parser.error("--database-url is one database: give one --workers value")
    if args.sessions < 1 or args.sends < 1 or args.clients < 1 or args.threads < 1:
        parser.error("--sessions, --sends, --clients and --threads must be at least 1")

    doc = json.loads(Path(args.doc).read_text()) if args.doc else synthetic_doc()
    bodies = [distinct(doc, i) for i in range(args.sessions)]
    folder = Path(tempfile.mkdtemp(prefix="siform-bench-"))
    load = os.getloadavg()
    print(
        f"database: {args.database_url.split('@')[-1] if args.database_url else args.database}; "
        f"{args.clients} client processes x {args.threads} connections; {args.sessions} documents of "
        f"{len(bodies[0]) / 1024:.1f} KiB, each sent {args.sends}x; server CPUs {args.server_cpus or 'any'}, "
        f"client CPUs {args.client_cpus or 'any'}; {os.cpu_count()} CPUs, load average before "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    results = []
    with contextlib.ExitStack() as stack:
        pg = None
        if args.database == "postgresql" and not args.database_url:
            pg = stack.enter_context(postgres_cluster(parse_cpus(args.server_cpus)))
        for workers in worker_counts:
            if args.database_url:
                url = args.database_url
            elif pg is not None:
                url = new_pg_database(pg[1], pg[0], f"bench_{workers}_{os.getpid()}")
            else:
                url = f"sqlite:///{folder / f'server-{workers}.sqlite3'}"
            result = run_once(url, workers, bodies, args, folder, pg[2] if pg else None)
            report(result, args.sessions)
            results.append(result)
    load = os.getloadavg()
    print(f"load average after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    shutil.rmtree(folder, ignore_errors=True)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
