"""The prune benchmark runs at its smoke size: editions filled, all but the newest pruned (no timing)."""

from __future__ import annotations

import os
import sys

import pytest
from conftest import ROOT
from helpers import run_process

# Slow (a benchmark): left out of the fast loop with -m "not slow".
pytestmark = pytest.mark.slow


def test_the_prune_benchmark_runs_at_its_smoke_size():
    done = run_process(
        [sys.executable, str(ROOT / "tests" / "bench" / "bench_prune.py")],
        env={**os.environ, "DIGEST_BENCH_SMOKE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "prune: 3 editions, 1,500 ledger rows" in done.stdout
