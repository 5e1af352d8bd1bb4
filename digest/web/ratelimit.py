"""A per-client rate limit for one action, kept in this process's memory (the `limits` library).

Several instances behind a proxy each keep their own count; the proxy should
limit too. The sliding-window counter costs the same whatever the limit.
"""

from __future__ import annotations

import math
import threading
import time

from limits import parse
from limits.storage import SlidingWindowCounterSupport, Storage
from limits.strategies import SlidingWindowCounterRateLimiter

SWEEP = 5.0  # seconds between sweeps of expired counters


class Counters(Storage, SlidingWindowCounterSupport):
    """Counters in this process's memory for limits' sliding-window strategy, through the storage
    interface limits documents for custom backends (`Storage`, `SlidingWindowCounterSupport`).

    limits' own MemoryStorage starts a 10 ms timer thread to expire counters whenever its previous
    one has ended, which under steady load is a new thread for nearly every request (about a
    millisecond each, more than the rest of the sign-up). Here a counter past its expiry reads as
    zero, and the request that finds a sweep due (every SWEEP seconds) drops the expired ones:
    no thread at all. The arithmetic is MemoryStorage's: each window's counter lives two windows.
    """

    STORAGE_SCHEME = None  # built directly, not named by a storage URI

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float]] = {}  # key -> (count, expires at)
        self._sweep_at = time.time() + SWEEP

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError

    def _count(self, key: str, now: float) -> int:
        count, expires_at = self._counts.get(key, (0, now))
        return count if expires_at > now else 0

    def _sweep(self, now: float) -> None:
        if now >= self._sweep_at:
            self._counts = {key: value for key, value in self._counts.items() if value[1] > now}
            self._sweep_at = now + SWEEP

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        with self._lock:
            now = time.time()
            self._sweep(now)
            count = self._count(key, now)
            expires_at = self._counts[key][1] if count else now + expiry
            self._counts[key] = (count + amount, expires_at)
            return count + amount

    def get(self, key: str) -> int:
        with self._lock:
            return self._count(key, time.time())

    def get_expiry(self, key: str) -> float:
        now = time.time()
        with self._lock:
            return self._counts[key][1] if self._count(key, now) else now

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        with self._lock:
            dropped = len(self._counts)
            self._counts.clear()
            return dropped

    def clear(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)

    @staticmethod
    def _keys(key: str, expiry: float, now: float) -> tuple[str, str]:
        """The previous and the current window's counters (as limits' timestamped keys)."""
        return f"{key}/{int((now - expiry) / expiry)}", f"{key}/{int(now / expiry)}"

    def _window(self, key: str, expiry: float, now: float) -> tuple[int, float, int, float]:
        previous_key, current_key = self._keys(key, expiry, now)
        previous, current = self._count(previous_key, now), self._count(current_key, now)
        previous_ttl = (1 - (((now - expiry) / expiry) % 1)) * expiry if previous else 0.0
        current_ttl = (1 - ((now / expiry) % 1)) * expiry + expiry
        return previous, previous_ttl, current, current_ttl

    def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        with self._lock:
            return self._window(key, expiry, time.time())

    def acquire_sliding_window_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        with self._lock:
            now = time.time()
            self._sweep(now)
            previous, previous_ttl, current, _ = self._window(key, expiry, now)
            if math.floor(previous * previous_ttl / expiry + current) + amount > limit:
                return False
            current_key = self._keys(key, expiry, now)[1]
            expires_at = self._counts[current_key][1] if current else now + 2 * expiry
            self._counts[current_key] = (current + amount, expires_at)
            return True

    def clear_sliding_window(self, key: str, expiry: int) -> None:
        with self._lock:
            for window in self._keys(key, expiry, time.time()):
                self._counts.pop(window, None)


class RateLimit:
    def __init__(self, action: str, rate: str):
        self.action = action
        self.rate, self.item = rate, parse(rate)
        self._limiter = SlidingWindowCounterRateLimiter(Counters())

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
