"""The variants benchmark runs at its smoke size and prints its figures (no timing is asserted)."""

from __future__ import annotations

import os
import re
import sys

import pytest
from conftest import ROOT
from helpers import run_process

# Slow (a benchmark, or trials of kill -9): left out of the fast loop with -m "not slow".
pytestmark = pytest.mark.slow


def test_the_variants_benchmark_runs_every_wave_and_prints_rates_rss_and_the_render_cost():
    env = {**os.environ, "DIGEST_BENCH_SMOKE": "1"}
    done = run_process(
        [sys.executable, str(ROOT / "tests" / "bench" / "bench_variants.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "5,000 readers, 64 topic sets, 40 time zones" in done.stdout
    figures = re.findall(r"([\d,]+) readers/s +wall +([\d.]+) s +peak RSS +([\d.]+) MB", done.stdout)
    assert len(figures) == 3, done.stdout  # single variant in waves, personal in waves, one plain send
    assert all(float(rate.replace(",", "")) > 0 and float(wall) > 0 and float(rss) > 0 for rate, wall, rss in figures)
    variants, waves = map(int, re.search(r"personal, (\d+) variants in (\d+) waves", done.stdout).groups())
    assert variants > 40 and waves > 20  # many variants, many waves: the case the benchmark is about
    assert re.search(r"render cost: \d+ variants x [\d.]+ ms = \d+ ms", done.stdout)
    assert re.search(r"personal / single: [\d.]+x", done.stdout) and re.search(
        r"personal / one send: [\d.]+x", done.stdout
    )
