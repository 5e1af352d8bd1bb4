"""A per-client rate limit for one action, kept in this process's memory (the `limits` library).

Several instances behind a proxy each keep their own count; the proxy should
limit too. The sliding-window counter costs the same whatever the limit.
"""

from __future__ import annotations

import math
import threading
import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter

SWEEP = 5.0  # seconds between sweeps of expired counters


class SweepingMemoryStorage(MemoryStorage):
    """limits' MemoryStorage, sweeping expired counters every SWEEP seconds.

    The stock storage starts a 10 ms timer thread whenever its previous one has
    ended, which under steady load is a new thread for nearly every request
    (about a millisecond each, more than the rest of the sign-up). Counters are
    also expired when read, so sweeping less often only delays freeing memory.
    """

    def _MemoryStorage__schedule_expiry(self) -> None:  # the name the base class calls
        if not self.timer.is_alive():
            self.timer = threading.Timer(SWEEP, self._MemoryStorage__expire_events)
            self.timer.daemon = True
            self.timer.start()


class RateLimit:
    def __init__(self, action: str, rate: str):
        self.action = action
        self.rate, self.item = rate, parse(rate)
        self._limiter = SlidingWindowCounterRateLimiter(SweepingMemoryStorage())

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
