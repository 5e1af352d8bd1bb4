"""A per-client rate limit for one action, kept in this process's memory (the `limits` library).

Several instances behind a proxy each keep their own count; the proxy should
limit too. The moving window is exact and keeps at most `limit` times per client.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

from limits import parse
from limits.storage import MovingWindowSupport, Storage
from limits.strategies import MovingWindowRateLimiter

SWEEP = 5.0  # seconds between sweeps of expired counters


class Counters(Storage, MovingWindowSupport):
    """Each client's recent attempts in this process's memory, for limits' moving-window strategy,
    through the storage interface limits documents for custom backends (`Storage`,
    `MovingWindowSupport`).

    A moving window is exact: no span of the period ever holds more attempts than the limit.
    (The sliding-window counter used before approximates, and let a third sign-up of
    "2/minute" through when the minute turned between the second and the third.) Only the
    newest `limit` attempts of a client are kept, and each is dropped once when it ages out, so
    a request costs the same whatever the limit.

    limits' own MemoryStorage starts a 10 ms timer thread to expire entries whenever its previous
    one has ended, which under steady load is a new thread for nearly every request (about a
    millisecond each, more than the rest of the sign-up). Here the request that finds a sweep
    due (every SWEEP seconds) drops the clients with nothing recent: no thread at all.
    """

    STORAGE_SCHEME = None  # built directly, not named by a storage URI

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._attempts: dict[str, tuple[deque[float], float]] = {}  # key -> (times, newest first; expiry)
        self._sweep_at = time.time() + SWEEP

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError

    def _sweep(self, now: float) -> None:
        if now >= self._sweep_at:
            self._attempts = {
                key: (times, expiry)
                for key, (times, expiry) in self._attempts.items()
                if times and times[0] > now - expiry
            }
            self._sweep_at = now + SWEEP

    def _recent(self, key: str, expiry: float, now: float) -> deque[float]:
        """The client's attempts within the last `expiry` seconds, newest first (older ones are dropped)."""
        times = self._attempts.get(key, (deque(), expiry))[0]
        while times and times[-1] < now - expiry:
            times.pop()
        return times

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        with self._lock:
            now = time.time()
            self._sweep(now)
            if len(self._recent(key, expiry, now)) + amount > limit:
                return False
            times = self._attempts.setdefault(key, (deque(maxlen=limit), expiry))[0]
            times.extendleft([now] * amount)  # the oldest fall off the end
            return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        with self._lock:
            now = time.time()
            times = self._recent(key, expiry, now)
            return (times[-1], len(times)) if times else (now, 0)

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        raise NotImplementedError("only the moving window is kept here")

    def get(self, key: str) -> int:
        with self._lock:
            expiry = self._attempts.get(key, (deque(), 0.0))[1]
            return len(self._recent(key, expiry, time.time()))

    def get_expiry(self, key: str) -> float:
        with self._lock:
            times, expiry = self._attempts.get(key, (deque(), 0.0))
            return times[0] + expiry if times else time.time()

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        with self._lock:
            dropped = len(self._attempts)
            self._attempts.clear()
            return dropped

    def clear(self, key: str) -> None:
        with self._lock:
            self._attempts.pop(key, None)


class RateLimit:
    def __init__(self, action: str, rate: str):
        self.action = action
        self.rate, self.item = rate, parse(rate)
        self._limiter = MovingWindowRateLimiter(Counters())

    def hit(self, client: str) -> bool:
        """Count one attempt; False when the client is over the limit."""
        return self._limiter.hit(self.item, self.action, client)

    def exhausted(self, client: str) -> bool:
        """Whether the client has used up its attempts (counts nothing)."""
        return not self._limiter.test(self.item, self.action, client)

    def retry_after(self, client: str) -> int:
        """Seconds until the client may try again."""
        reset = self._limiter.get_window_stats(self.item, self.action, client).reset_time
        return max(1, math.ceil(reset - time.time()))
