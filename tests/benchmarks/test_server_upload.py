"""The upload benchmark, run small: a real ``siform serve`` with two workers, real client processes,
retries racing, and the benchmark's own row count (none lost, none duplicated) on SQLite and on a
PostgreSQL cluster it starts itself. The full run is by hand: ``python benchmarks/server_upload.py``
(docs/server-scaling.md has the figures)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, load_benchmark

bench = load_benchmark("server_upload")
PG_BIN = Path(os.environ.get("SIFORM_PG_BIN", "/usr/lib/postgresql/15/bin"))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "server_upload.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def check_output(
    out: subprocess.CompletedProcess[str], sessions: int, sends: int, workers: list[int]
) -> None:
    assert out.returncode == 0, out.stdout + out.stderr
    for w in workers:
        line = re.search(rf"workers {w}: (\d+) requests in [\d.]+ s = (\d+) uploads/s", out.stdout)
        assert line, out.stdout
        assert int(line.group(1)) == sessions * sends and int(line.group(2)) > 0
    assert re.search(r"latency ms p50 [\d.]+, p95 [\d.]+", out.stdout)
    assert re.search(
        r"CPU per request: server [\d.]+ ms, (PostgreSQL [\d.]+ ms, )?clients [\d.]+ ms", out.stdout
    )
    verdict = f"rows: {sessions} stored, {sessions} distinct, {sessions} audited, {sessions} sent"
    assert out.stdout.count(verdict) == len(workers), out.stdout
    assert out.stdout.count("none lost, none duplicated") == len(workers)
    assert f"answers {{200: {sessions * (sends - 1)}, 201: {sessions}}}" in out.stdout


def test_sqlite_two_workers_racing_retries() -> None:
    out = run("--sessions", "24", "--sends", "3", "--workers", "2", "--clients", "3", "--threads", "2")
    check_output(out, 24, 3, [2])


def test_postgresql_one_and_two_workers() -> None:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL binaries not found in {PG_BIN} (install Debian's postgresql-15)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: PostgreSQL cannot be started as another user")
    out = run("--database", "postgresql", "--sessions", "16", "--workers", "1,2", "--threads", "2")
    check_output(out, 16, 2, [1, 2])
    assert out.stdout.count("PostgreSQL") >= 2  # its processes' CPU time, per run


def test_the_verdict_catches_a_lost_and_a_doubled_row() -> None:
    """The benchmark's checks can fail: answers that disagree with the stored rows are reported."""
    answers = [
        bench.Answer(0, 0.01, 201, "a"),
        bench.Answer(0, 0.01, 201, "b"),
        bench.Answer(1, 0.01, 500, ""),
    ]
    problems = bench.verdict(
        answers, sessions=2, sends=2, rows=2, distinct_keys=2, audited=2, stored_ids={"a", "b"}
    )
    assert any("document 0" in p for p in problems)
    assert any("document 1" in p for p in problems)
    assert any("3 answers for 4 requests" in p for p in problems)
    good = [bench.Answer(0, 0.01, 201, "a"), bench.Answer(0, 0.02, 200, "a")]
    assert (
        bench.verdict(good, sessions=1, sends=2, rows=1, distinct_keys=1, audited=1, stored_ids={"a"}) == []
    )
    assert bench.verdict(good, sessions=1, sends=2, rows=2, distinct_keys=1, audited=1, stored_ids={"a"})


def test_cpu_lists() -> None:
    assert bench.parse_cpus("0") == {0}
    assert bench.parse_cpus("0-2,5") == {0, 1, 2, 5}
    assert bench.parse_cpus(None) is None
