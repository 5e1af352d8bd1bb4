"""The desk's benchmark runs at its smoke size, on SQLite and on a PostgreSQL database it creates and drops:
every page answers over a ledger (no timing is asserted)."""

from __future__ import annotations

import os
import sys

import psycopg
import pytest
from conftest import ROOT
from helpers import run_process

# Slow (a benchmark): left out of the fast loop with -m "not slow".
pytestmark = pytest.mark.slow


def _run(**env) -> str:
    done = run_process(
        [sys.executable, str(ROOT / "tests" / "bench" / "bench_desk.py")],
        env={**os.environ, "DIGEST_BENCH_SMOKE": "1", **env},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_desk_benchmark_runs_at_its_smoke_size():
    said = _run()
    assert "store (SQLite): 2,000 readers" in said
    assert "GET /desk/editions/1/send/live (its update): answered 3 times" in said


def test_the_desk_benchmark_runs_on_postgresql_in_a_database_of_its_own(pg_server):
    def benches() -> set[str]:
        with psycopg.connect(pg_server, autocommit=True) as admin:
            rows = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE 'digest_bench_desk_%'")
            return {name for (name,) in rows}

    before = benches()
    said = _run(DIGEST_BENCH_DB="postgresql", DIGEST_BENCH_PG_URL=pg_server)
    assert "store (PostgreSQL): 2,000 readers" in said
    assert "GET /desk/editions/1/send/live (its update): answered 3 times" in said
    assert benches() == before  # its database is dropped
