"""The desk's benchmark runs at its smoke size: every page answers over a ledger (no timing is asserted)."""

from __future__ import annotations

import os
import sys

import pytest
from conftest import ROOT
from helpers import run_process

# Slow (a benchmark): left out of the fast loop with -m "not slow".
pytestmark = pytest.mark.slow


def test_the_desk_benchmark_runs_at_its_smoke_size():
    done = run_process(
        [sys.executable, str(ROOT / "tests" / "bench" / "bench_desk.py")],
        env={**os.environ, "DIGEST_BENCH_SMOKE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "GET /desk/editions/1/send/live (its update): answered 3 times" in done.stdout
