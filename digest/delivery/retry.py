"""How long to wait before trying a request again. Pure: the engine does the sleeping."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # tries of one request that fails with 5xx or no connection, before pausing
    base: float = 1.0  # seconds before the first retry; doubled each time
    cap: float = 60.0  # the longest backoff
    max_rate_wait: float = 600.0  # a 429 asking for a longer wait pauses the send instead
    rate_waits: int = 20  # 429s in a row on one request before pausing

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Exponential backoff with jitter: uniform in [c/2, c] where c = min(cap, base * 2**(attempt-1))."""
        ceiling = min(self.cap, self.base * (2 ** max(0, attempt - 1)))
        return (rng or random).uniform(ceiling / 2, ceiling)
