"""The subscribe load benchmark runs end to end at smoke size (CI times nothing; it checks the run)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from helpers import run_process

# Slow (a benchmark, or trials of kill -9): left out of the fast loop with -m "not slow".
pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parent / "bench" / "bench_subscribe.py"


def test_the_subscribe_benchmark_runs_and_prints_its_figures_and_finds_every_accepted_subscription():
    env = {**os.environ, "DIGEST_BENCH_SMOKE": "1"}
    result = run_process([sys.executable, str(BENCH)], env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for name in ("subscribe", "+outbox", "reference"):
        assert any(line.startswith(name) and "req/s" not in line for line in out.splitlines()), out
    assert "req/s" in out and "p50 ms" in out and "p99 ms" in out
    assert out.count("accepted subscriptions in the database") == 2 and "MISSING" not in out
    assert "handed to the SendGrid sink" in out and "subscribe vs reference" in out
