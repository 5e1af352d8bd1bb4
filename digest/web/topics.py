"""The topics a reader may choose: the distinct categories of the tools in the store, cached briefly."""

from __future__ import annotations

import threading
import time

from sqlalchemy.engine import Engine

from digest.content.catalog import topics_in_store


class KnownTopics:
    def __init__(self, engine: Engine, ttl: float = 10.0):
        self.engine, self.ttl = engine, ttl
        self._lock = threading.Lock()
        self._value: frozenset[str] = frozenset()
        self._read_at = float("-inf")

    def refresh(self) -> frozenset[str]:
        with self.engine.connect() as connection:
            value = topics_in_store(connection)
        with self._lock:
            self._value, self._read_at = value, time.monotonic()
        return self._value

    def get(self) -> frozenset[str]:
        if time.monotonic() - self._read_at > self.ttl:
            return self.refresh()
        return self._value
