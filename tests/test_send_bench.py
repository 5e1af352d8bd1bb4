"""The send benchmark runs at its smoke size and prints its figures and its ceiling (no timing is asserted)."""

from __future__ import annotations

import os
import re
import sys

import pytest
from conftest import ROOT
from helpers import run_process

# Slow (a benchmark, or trials of kill -9): left out of the fast loop with -m "not slow".
pytestmark = pytest.mark.slow


def test_the_send_benchmark_runs_and_prints_rates_wall_time_rss_and_its_ceiling():
    env = {**os.environ, "DIGEST_BENCH_SMOKE": "1"}
    done = run_process(
        [sys.executable, str(ROOT / "tests" / "bench" / "bench_send.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "5,000 active readers" in done.stdout
    figures = re.findall(r"([\d,]+) readers/s +wall +([\d.]+) s +peak RSS +([\d.]+) MB", done.stdout)
    assert len(figures) == 3, done.stdout  # the ceiling (json.dumps), bare posting of templated bytes, the send
    assert all(float(rate.replace(",", "")) > 0 and float(wall) > 0 and float(rss) > 0 for rate, wall, rss in figures)
    assert re.search(r"send / ceiling: \d+%", done.stdout)
    assert re.search(r"send / templated posting: \d+%", done.stdout)
