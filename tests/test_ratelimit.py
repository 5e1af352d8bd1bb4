"""The web's rate limit counts as limits' own MemoryStorage does, without its timer threads."""

from __future__ import annotations

import threading
import time

import pytest
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from digest.web.ratelimit import SWEEP, Counters, RateLimit


@pytest.fixture
def clock(monkeypatch):
    """time.time() as a hand-moved clock, for limits and for us alike."""
    now = [1_700_000_000.05]
    monkeypatch.setattr(time, "time", lambda: now[0])
    return now


def _trace(limiter, item, clock, steps=80, step=0.1):
    seen = []
    for _ in range(steps):
        stats = limiter.get_window_stats(item, "signup", "1.2.3.4")
        seen.append((limiter.hit(item, "signup", "1.2.3.4"), limiter.test(item, "signup", "1.2.3.4"), stats))
        clock[0] += step
    return seen


@pytest.mark.parametrize("rate", ["5/2second", "3/second", "1/second"])
def test_the_counters_answer_as_limits_memory_storage_does(clock, rate):
    item, start = parse(rate), clock[0]
    theirs = _trace(SlidingWindowCounterRateLimiter(MemoryStorage()), item, clock)
    clock[0] = start
    ours = _trace(SlidingWindowCounterRateLimiter(Counters()), item, clock)
    assert ours == theirs
    assert any(not hit for hit, _, _ in ours) and any(hit for hit, _, _ in ours)


def test_counting_starts_no_thread_and_the_sweep_drops_expired_counters(clock):
    before = threading.active_count()
    limit = RateLimit("signup", "3/second")
    assert [limit.hit("1.2.3.4") for _ in range(4)] == [True, True, True, False]
    assert limit.exhausted("1.2.3.4") and not limit.exhausted("5.6.7.8")
    assert limit.retry_after("1.2.3.4") >= 1
    assert threading.active_count() == before
    clock[0] += SWEEP + 2.0  # both windows over, and a sweep due
    assert limit.hit("5.6.7.8")
    assert len(limit._limiter.storage._counts) == 1  # the new client's counter; 1.2.3.4's are gone
