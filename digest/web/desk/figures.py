"""Figures that cost a pass over the readers or the ledger, kept fresh without making every page pay.

Counting a million ledger rows per variant and zone, or a million readers per topic set, takes seconds
on SQLite. A figure that was cheap to compute last time (under CHEAP seconds: any store of modest
size, and every test's) is computed afresh on every request. One that was not is answered from its
last result, and recomputed in a background thread once that result is older than twice its own cost
(at least MIN_AGE), so a recount keeps a core busy half the time at most: the page answers at once,
with figures a few seconds old. One recount runs at a time, whatever the figure (a stale figure whose
turn has not come is answered as it is, and recounted at a later request): several costly figures
recounting together took both cores of a small machine, and every answer, the live view's update
included, waited for a core. Each page says when its figures were counted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from digest.timeutil import utcnow

log = logging.getLogger(__name__)

CHEAP = 0.1  # seconds: a figure computed faster than this is always computed afresh
MIN_AGE = 2.0  # seconds: the least age at which a costly figure is recomputed
KEPT = 64  # figures kept at most (the oldest goes first)


@dataclass
class _Entry:
    value: Any
    at: datetime  # when it was counted
    took: float  # seconds its computation took
    stamped: float  # time.monotonic() when it was counted
    refreshing: bool = False


class Figures:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Hashable, _Entry] = {}
        self._recounting = threading.Lock()  # held by the one background recount running

    def get(self, key: Hashable, compute: Callable[[], Any]) -> tuple[Any, datetime]:
        """(the figure, when it was counted). `compute` must open its own connection: it may run in a thread."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.took >= CHEAP:
                stale = time.monotonic() - entry.stamped > max(MIN_AGE, 2 * entry.took)
                if stale and not entry.refreshing and self._recounting.acquire(blocking=False):
                    entry.refreshing = True
                    threading.Thread(target=self._refresh, args=(key, compute), daemon=True).start()
                return entry.value, entry.at
        return self._compute(key, compute)

    def settle(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the background recount running, if any, to end; whether it did
        (before the store it counts goes away: a benchmark's database dropped, a test's file removed)."""
        if not self._recounting.acquire(timeout=timeout):
            return False
        self._recounting.release()
        return True

    def _compute(self, key: Hashable, compute: Callable[[], Any]) -> tuple[Any, datetime]:
        at, began = utcnow(), time.monotonic()
        value = compute()
        took = time.monotonic() - began
        with self._lock:
            self._entries.pop(key, None)
            while len(self._entries) >= KEPT:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = _Entry(value, at, took, time.monotonic())
        return value, at

    def _refresh(self, key: Hashable, compute: Callable[[], Any]) -> None:
        try:
            self._compute(key, compute)
        except Exception:  # the last figure stays; the next request tries again
            log.exception("recounting the desk's figure %r failed", key)
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    entry.refreshing = False
        finally:
            self._recounting.release()
