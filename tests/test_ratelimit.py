"""The web's rate limit counts as limits' own MemoryStorage does (a moving window), without its
timer threads, and never lets more attempts than the limit into any span of the period."""

from __future__ import annotations

import threading
import time

import pytest
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

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
        hit = limiter.hit(item, "signup", "1.2.3.4")
        reset = stats.remaining < item.amount and stats.reset_time  # limits' reset when empty is its own
        seen.append((hit, limiter.test(item, "signup", "1.2.3.4"), stats.remaining, reset))
        clock[0] += step
    return seen


@pytest.mark.parametrize("rate", ["5/2second", "3/second", "1/second"])
def test_the_counters_answer_as_limits_memory_storage_does(clock, rate):
    item, start = parse(rate), clock[0]
    theirs = _trace(MovingWindowRateLimiter(MemoryStorage()), item, clock)
    clock[0] = start
    ours = _trace(MovingWindowRateLimiter(Counters()), item, clock)
    assert ours == theirs
    assert any(not step[0] for step in ours) and any(step[0] for step in ours)


def test_counting_starts_no_thread_and_the_sweep_drops_expired_counters(clock):
    before = threading.active_count()
    limit = RateLimit("signup", "3/second")
    assert [limit.hit("1.2.3.4") for _ in range(4)] == [True, True, True, False]
    assert limit.exhausted("1.2.3.4") and not limit.exhausted("5.6.7.8")
    assert limit.retry_after("1.2.3.4") >= 1
    assert threading.active_count() == before
    clock[0] += SWEEP + 2.0  # both windows over, and a sweep due
    assert limit.hit("5.6.7.8")
    assert list(limit._limiter.storage._attempts) == [limit.item.key_for("signup", "5.6.7.8")]  # 1.2.3.4's are gone


@pytest.mark.parametrize("offset", [0.001, 0.3, 0.5, 0.999])
def test_a_burst_across_the_turn_of_a_minute_gets_no_more_than_the_limit(clock, offset):
    """A sliding-window counter weighs the previous minute down as the new one begins, so two
    sign-ups just before the turn and a third just after passed "2/minute"."""
    limit = RateLimit("signup", "2/minute")
    clock[0] = 60 * 28_333_333 - offset  # just before a minute turns
    assert [limit.hit("1.2.3.4"), limit.hit("1.2.3.4")] == [True, True]
    clock[0] += 2 * offset
    assert not limit.hit("1.2.3.4") and limit.exhausted("1.2.3.4")
    assert 59 <= limit.retry_after("1.2.3.4") <= 60
    clock[0] += 60
    assert limit.hit("1.2.3.4")


def test_no_span_of_the_period_ever_holds_more_than_the_limit(clock, rng):
    limit, period, allowed, start = RateLimit("signup", "5/10second"), 10.0, [], clock[0]
    for _ in range(2_000):
        clock[0] += rng.expovariate(2.0)
        if limit.hit("1.2.3.4"):
            allowed.append(clock[0])
    assert len(allowed) > 0.8 * 5 * (clock[0] - start) / period  # it let through most of what it may
    assert all(later - earlier >= period for earlier, later in zip(allowed, allowed[5:]))
