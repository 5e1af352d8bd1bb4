"""One gate in front of the store's writers, sized to what the database can use.

SQLite has one writer at a time. Left to itself, a second writing thread sleeps
in SQLite's busy handler (1, 2, 5, 10... ms steps) and polls; sixteen of them
also open connections beyond the pool, each with its PRAGMAs. Queuing writers
on a Python lock instead hands the database to the next one the moment it is
free, which keeps latency flat under load. PostgreSQL takes as many writers as
the connection pool holds.

Before each write the gate checks that a SQLite store's file is still the one
the server opened (digest.store.StoreFile): deleted under a running server,
SQLite would write into the unlinked file and a sign-up answered 202 would be
lost; the write is refused with StoreGone instead (503), as is /healthz.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.store import StoreFile, session_scope


class WriteGate:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.store_file = StoreFile(engine)
        if engine.dialect.name == "sqlite":
            self._gate = threading.Lock()
        else:
            size = getattr(engine.pool, "size", lambda: 5)()
            self._gate = threading.BoundedSemaphore(max(1, size))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction (committed on success) taken once the gate lets this writer in; StoreGone when
        the SQLite file was deleted under the server."""
        with self._gate:
            self.store_file.check()
            with session_scope(self.engine) as session:
                yield session
