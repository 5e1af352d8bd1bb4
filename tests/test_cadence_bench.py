"""The cadence benchmark runs at its smoke size and prints its figures (no timing is asserted)."""

from __future__ import annotations

import os
import re
import sys

import pytest
from conftest import ROOT
from helpers import run_process

# Slow (a benchmark): left out of the fast loop with -m "not slow".
pytestmark = pytest.mark.slow


def test_the_cadence_benchmark_sends_every_wave_and_prints_rates_rss_and_the_rendering_cost():
    env = {**os.environ, "DIGEST_BENCH_SMOKE": "1"}
    done = run_process(
        [sys.executable, str(ROOT / "tests" / "bench" / "bench_cadence.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "6,000 readers, 3 cadences x 64 topic sets x 40 time zones, per-reader windows" in done.stdout
    figures = re.findall(r"([\d,]+) readers/s +wall +([\d.]+) s +peak RSS +([\d.]+) MB", done.stdout)
    assert len(figures) == 2, done.stdout  # the single-variant waves, the cadences' waves
    assert all(float(rate.replace(",", "")) > 0 and float(wall) > 0 and float(rss) > 0 for rate, wall, rss in figures)
    cadenced = re.search(r"cadences, \d+ variants in \d+ waves: .*?([\d,]+) mailed, ([\d,]+) not due", done.stdout)
    mailed, not_due = (int(n.replace(",", "")) for n in cadenced.groups())
    assert mailed + not_due == 6000 and 0 < not_due < mailed  # fortnightly readers of the other parity wait
    contents = re.search(r"rendering cost: (\d+) distinct contents \((\d+) gathering several editions\)", done.stdout)
    assert int(contents.group(2)) > 64 and int(contents.group(1)) > int(contents.group(2))
    assert re.search(r"x [\d.]+ ms = \d+ ms", done.stdout) and re.search(r"cadences / single: [\d.]+x", done.stdout)
