"""The reader and start-up benchmarks run at their smoke size and print their figures (no timing is asserted)."""

from __future__ import annotations

import os
import re
import sys

import pytest
from conftest import ROOT
from helpers import run_process

# Slow (a benchmark, or trials of kill -9): left out of the fast loop with -m "not slow".
pytestmark = pytest.mark.slow


def _run(script: str) -> str:
    env = {**os.environ, "DIGEST_BENCH_SMOKE": "1"}
    done = run_process(
        [sys.executable, str(ROOT / "tests" / "bench" / script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_readers_benchmark_prints_both_costs_beside_their_references():
    out = _run("bench_readers.py")
    assert re.search(r"CSV import of 2,000 rows: +[\d.]+ s .* reference bare executemany +[\d.]+ s", out), out
    assert re.search(r"unsubscribe links, 20,000: +[\d.]+ s .* reference f-string +[\d.]+ s", out), out


def test_the_startup_benchmark_measures_both_commands_beside_bare_click():
    out = _run("bench_startup.py")
    for label in ('python -c "import click"', "digest --version", r"digest comparisons list \(empty\)"):
        assert re.search(label + r" +median +[\d.]+ ms", out), out
    assert "heavy modules imported by comparisons list: none" in out
