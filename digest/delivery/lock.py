"""Who may send, and which claims belong to a sender that is gone.

Every sending process is a worker with a random id; each request id it writes
into the ledger begins with that id and its sequence number. A claim whose
worker is no longer running is what a crash leaves behind (`left_behind` says
which of them may have gone out):
  - a request claimed on its own (a resend of uncertain readers) may have left:
    its readers become uncertain;
  - requests claimed ahead (ids ending in "-queued") go out one by one in sequence
    order, each one's outcome committed before the next leaves; so of a worker's
    requests claimed ahead and still claimed, only the lowest may have left, and
    only when the worker had no request of the first kind in flight. The others
    certainly did not, and are let go.

Whether a worker is gone is asked of its Presence (digest.delivery.presence, the one
liveness mechanism: the confirmation-mail queue uses it too); a worker's number is its
presence's. Beside it:
- PostgreSQL: several workers may send the same edition, sharing out the parts of a
  walk by session advisory locks taken on the presence's own connection (released with it).
- SQLite: one sender per database file. An exclusive flock on `<db>.send-lock`
  (released by the kernel when the process dies) keeps a second sender out
  with a clear message; every claim left behind is then from a dead worker.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from digest.delivery.presence import Presence
from digest.errors import SenderBusy

_PART_SPACE = 0x70617274  # "part": the namespace of parts of a walk that a worker is reading


QUEUED = "queued"  # the last part of the id of a request claimed ahead


def request_id(worker: int, sequence: int, *, queued: bool = False) -> str:
    # The random part keeps two runs whose random worker ids collide from sharing a request id.
    return f"{worker:08x}-{sequence:07d}-{secrets.token_hex(3)}" + (f"-{QUEUED}" if queued else "")


def worker_of(request: str) -> int | None:
    try:
        return int(request.split("-", 1)[0], 16)
    except (ValueError, AttributeError):
        return None


def _sequence_of(request: str) -> int:
    try:
        return int(request.split("-")[1])
    except (ValueError, IndexError):
        return 0


def left_behind(requests: Iterable[str]) -> tuple[set[str], set[str]]:
    """The claimed requests of workers that are gone -> (those that may have left: their readers become
    uncertain, those that certainly did not: let go). See the module's docstring."""
    by_worker: dict[int | None, list[str]] = {}
    for request in requests:
        by_worker.setdefault(worker_of(request), []).append(request)
    may_have_left: set[str] = set()
    did_not: set[str] = set()
    for own in by_worker.values():
        ahead = sorted((r for r in own if r.endswith(f"-{QUEUED}")), key=_sequence_of)
        alone = [r for r in own if not r.endswith(f"-{QUEUED}")]
        may_have_left.update(alone or ahead[:1])
        did_not.update(ahead if alone else ahead[1:])
    return may_have_left, did_not


class SendGuard:
    """Held for the whole of one send; `close()` lets go."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.shared = engine.dialect.name == "postgresql"  # can several workers send at once?
        self._lock_file: int | None = None
        self.presence: Presence | None = None
        if not self.shared:
            self._lock_sqlite(engine.url.database)  # first: a second sender is turned away before anything else
        try:
            self.presence = Presence(engine)
        except BaseException:
            self.close()
            raise
        self.worker = self.presence.number
        self._lock_connection: Connection | None = self.presence.connection  # PostgreSQL: where parts are locked

    def _lock_sqlite(self, database: str | None) -> None:
        if not database or database == ":memory:":
            return  # an in-memory store is private to this process
        path = Path(f"{database}.send-lock")
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(descriptor)
            raise SenderBusy(
                f"another `digest editions send` (pid {holder}) is sending from {database}; "
                "wait for it to finish (SQLite allows one sender at a time; "
                "PostgreSQL lets several share a send)"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, str(os.getpid()).encode(), 0)
        self._lock_file = descriptor

    def is_gone(self, worker: int | None) -> bool:
        """Is the worker that wrote a claim no longer running?"""
        return worker is None or self.presence.is_gone(worker)

    def take_part(self, part: int) -> bool:
        """Take one part of a walk (a range of readers) for this worker, if no other worker is reading it.
        Always true on SQLite, where there is one sender. Let go with `drop_part`."""
        if not self.shared:
            return True
        taken = self._lock_connection.execute(
            sa.text("SELECT pg_try_advisory_lock(:space, :part)"), {"space": _PART_SPACE, "part": part}
        ).scalar()
        self._lock_connection.commit()
        return bool(taken)

    def drop_part(self, part: int) -> None:
        if self.shared:
            self._lock_connection.execute(
                sa.text("SELECT pg_advisory_unlock(:space, :part)"), {"space": _PART_SPACE, "part": part}
            )
            self._lock_connection.commit()

    def close(self) -> None:
        if self.presence is not None:
            self.presence.close()  # ends the session: the part locks go with it
            self.presence = None
            self._lock_connection = None
        if self._lock_file is not None:
            os.close(self._lock_file)  # closing the descriptor drops the flock
            self._lock_file = None
