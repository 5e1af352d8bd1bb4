"""The render benchmark runs at its smoke size and prints its figures (no timing is asserted)."""

from __future__ import annotations

import os
import re
import sys

import pytest
from conftest import ROOT
from helpers import run_process

# Slow (a benchmark, or trials of kill -9): left out of the fast loop with -m "not slow".
pytestmark = pytest.mark.slow


def test_the_render_benchmark_runs_and_prints_ms_per_edition_and_its_reference():
    env = {**os.environ, "DIGEST_BENCH_SMOKE": "1"}
    done = run_process(
        [sys.executable, str(ROOT / "tests" / "bench" / "bench_render.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    rows = re.findall(
        r"(\d+) comparisons: build +([\d.]+) / +[\d.]+ ms +reference mjml2html alone +([\d.]+)", done.stdout
    )
    assert [int(n) for n, _, _ in rows] == [2, 5], done.stdout
    assert all(float(build) > 0 and float(reference) > 0 for _, build, reference in rows)
