"""A process that holds claims, known to the others for as long as it runs: digest's one liveness mechanism.

Two kinds of claim name the process that made them: the confirmation-mail queue
(subscribers.confirmations) writes the id of the process that claimed a reader, and
every request id a sender writes into the ledger begins with its worker's number
(lock.SendGuard holds a Presence). If that process dies between the claim and the
record of what happened (kill -9, a power cut), another process must see that it is
gone: mails are sent again, ledger claims become uncertain. Whether an id's process
still runs is asked of something the operating system or the database releases when
the process dies, even by SIGKILL:

- PostgreSQL: the process holds a session advisory lock on its id on a
  connection of its own; the database drops it when the connection ends.
  "Can I take id W's lock?" answers "is W gone?".
- SQLite: the process holds an flock on `<database>.claims/<id>.lock`; the
  kernel drops it when the process dies. A lock file that can be locked, or
  that is missing, belongs to a process that is gone.
- An in-memory SQLite store belongs to this process alone: every other id is gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

_LOCK_SPACE = 0x6C697665  # "live": the advisory-lock namespace of processes that hold claims


class Presence:
    """This process's id (`id`, the hex spelling of `number`), held until `close()`."""

    def __init__(self, engine: Engine):
        self.number = secrets.randbelow(2**31 - 2) + 1
        self.id = f"{self.number:08x}"
        self._connection: Connection | None = None
        self._folder: Path | None = None
        self._descriptor: int | None = None
        if engine.dialect.name == "postgresql":
            self._connection = engine.connect()
            self._connection.detach()  # closing it must end the session (and the lock), not pool it
            self._connection.execute(
                sa.text("SELECT pg_advisory_lock(:space, :id)"), {"space": _LOCK_SPACE, "id": self.number}
            )
            self._connection.commit()
        elif engine.url.database and engine.url.database != ":memory:":
            self._folder = Path(f"{engine.url.database}.claims")
            self._folder.mkdir(exist_ok=True)
            self._descriptor = os.open(self._folder / f"{self.id}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._descriptor, fcntl.LOCK_EX)

    @property
    def connection(self) -> Connection | None:
        """PostgreSQL: the session that holds this presence. Other session locks taken on it (a sender's
        parts of a walk) are released with it, when the process ends. None on SQLite."""
        return self._connection

    def gone(self, others: set[str]) -> set[str]:
        """The ids among `others` whose process is no longer running."""
        return {other for other in others if other != self.id and self._is_gone(other)}

    def _is_gone(self, other: str) -> bool:
        try:
            number = int(other, 16)
        except ValueError:
            return True  # not an id any process of ours writes
        return self.is_gone(number)

    def is_gone(self, number: int) -> bool:
        """Is the process whose presence is `number` no longer running? (Never true of this one.)"""
        if number == self.number:
            return False
        if self._connection is not None:
            params = {"space": _LOCK_SPACE, "id": number}
            taken = self._connection.execute(sa.text("SELECT pg_try_advisory_lock(:space, :id)"), params).scalar()
            if taken:
                self._connection.execute(sa.text("SELECT pg_advisory_unlock(:space, :id)"), params)
            self._connection.commit()
            return bool(taken)
        if self._folder is None:
            return True  # an in-memory store: no other process shares it
        path = self._folder / f"{number:08x}.lock"
        try:
            descriptor = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return True
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its process holds it: alive
        finally:
            os.close(descriptor)
        with contextlib.suppress(OSError):
            path.unlink()  # its process is gone; nobody will ask again
        return True

    def close(self) -> None:
        if self._connection is not None:
            # Let go before the session ends: a backend drops its locks only once it has processed the
            # disconnect, which a busy server may do after another process has already asked.
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self._connection.execute(sa.text("SELECT pg_advisory_unlock_all()"))
                self._connection.commit()
            self._connection.close()  # ends the session: whatever lock is left goes with it
            self._connection = None
        if self._descriptor is not None:
            with contextlib.suppress(OSError):
                (self._folder / f"{self.id}.lock").unlink()
            os.close(self._descriptor)
            self._descriptor = None

    def __enter__(self) -> Presence:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
