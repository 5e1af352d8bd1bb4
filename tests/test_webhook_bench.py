"""The webhook benchmark runs at its smoke size and prints its figures (CI does not time it)."""

from __future__ import annotations

import os
import sys

import pytest
from conftest import ROOT
from helpers import run_process

# Slow (a benchmark, or trials of kill -9): left out of the fast loop with -m "not slow".
pytestmark = pytest.mark.slow


def test_the_webhook_benchmark_runs_and_prints_every_figure():
    env = {**os.environ, "DIGEST_BENCH_SMOKE": "1"}
    done = run_process(
        [sys.executable, str(ROOT / "tests" / "bench" / "bench_webhook.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "50 events per batch" in done.stdout
    for name in ("http", "in-process", "retry", "reference"):
        line = next((row for row in done.stdout.splitlines() if row.strip().startswith(name + " ")), None)
        assert line is not None and "best" in line and "ms" in line, done.stdout
    assert "overhead of the real path over the reference" in done.stdout
