"""Database leases: at most one instance runs a job at a time, and a dead one lets go by itself.

A lease is one row per job name. Taking it is a single conditional UPDATE (the
row is free, expired, or already ours) followed, when there is no row yet, by an
INSERT that does nothing on conflict. Both are atomic on SQLite (one writer at a
time) and on PostgreSQL (the UPDATE re-checks its WHERE on the locked row), so
two instances racing for the same lease never both win. A holder renews while it
works; one that dies stops renewing and the lease expires after its time to live.

Lease time is the machines' wall clock (not a test's shifted clock): it measures
whether a process is alive. Keep the clocks of several machines in sync (NTP);
the time to live should be much larger than any skew.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from schedules.clock import system_now
from schedules.models import Lease

log = logging.getLogger("schedules.leases")
_lease = Lease.__table__


def new_holder_name() -> str:
    """Who we are, readable in `status`: host, process id and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class LeaseInfo:
    name: str
    holder: str
    acquired_at: datetime
    expires_at: datetime


def _insert_if_absent(engine: Engine, values: dict):
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    statement = insert(_lease).values(**values).on_conflict_do_nothing(index_elements=["name"])
    # RETURNING says whether a row went in (rowcount is not reliable for this across drivers).
    return statement.returning(_lease.c.name)


def acquire(engine: Engine, name: str, holder: str, ttl: timedelta, now: datetime | None = None) -> bool:
    """Take (or extend) the lease `name` for `holder` if it is free, expired or already ours."""
    now = now or system_now()
    values = {"holder": holder, "acquired_at": now, "expires_at": now + ttl}
    with engine.begin() as connection:
        taken = connection.execute(
            sa.update(_lease)
            .where(_lease.c.name == name, sa.or_(_lease.c.expires_at <= now, _lease.c.holder == holder))
            .values(**values)
        )
        if taken.rowcount == 1:
            return True
        created = connection.execute(_insert_if_absent(engine, {"name": name, **values}))
        return created.first() is not None


def renew(engine: Engine, name: str, holder: str, ttl: timedelta, now: datetime | None = None) -> bool:
    """Push the expiry forward; False when someone else holds the lease now."""
    now = now or system_now()
    with engine.begin() as connection:
        result = connection.execute(
            sa.update(_lease).where(_lease.c.name == name, _lease.c.holder == holder).values(expires_at=now + ttl)
        )
        return result.rowcount == 1


def release(engine: Engine, name: str, holder: str) -> None:
    """Let go at once, so the next instance need not wait for the expiry. A no-op if not ours."""
    with engine.begin() as connection:
        connection.execute(sa.delete(_lease).where(_lease.c.name == name, _lease.c.holder == holder))


def current(engine: Engine, name: str) -> LeaseInfo | None:
    """The lease row as it stands (expired or not), or None."""
    with engine.connect() as connection:
        row = connection.execute(sa.select(_lease).where(_lease.c.name == name)).first()
    return None if row is None else LeaseInfo(row.name, row.holder, row.acquired_at, row.expires_at)


class HeldLease:
    """A lease we hold, renewed in a background thread until `close()`.

    If a renewal finds the lease taken by someone else (we were paused past the
    expiry), `lost` becomes true: the work should stop at its next safe point.
    A renewal that fails on a database error is retried at the next beat; the
    lease counts as lost once its expiry has passed without a renewal.
    """

    def __init__(
        self,
        engine: Engine,
        name: str,
        holder: str,
        ttl: timedelta,
        expires_at: datetime,
        clock: Callable[[], datetime] = system_now,
    ):
        self.engine, self.name, self.holder, self.ttl, self._clock = engine, name, holder, ttl, clock
        self.expires_at = expires_at
        self._lost = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{name}", daemon=True)
        self._thread.start()

    @property
    def lost(self) -> bool:
        return self._lost.is_set() or self._clock() >= self.expires_at

    def _beat(self) -> None:
        interval = self.ttl.total_seconds() / 3
        while not self._closed.wait(interval):
            now = self._clock()
            try:
                if renew(self.engine, self.name, self.holder, self.ttl, now):
                    self.expires_at = now + self.ttl
                else:
                    log.warning("lease %r was taken over by another instance; stopping", self.name)
                    self._lost.set()
                    return
            except sa.exc.SQLAlchemyError as exc:
                log.warning("could not renew lease %r (will retry): %s", self.name, exc)

    def close(self) -> None:
        self._closed.set()
        self._thread.join()
        if not self._lost.is_set():
            try:
                release(self.engine, self.name, self.holder)
            except sa.exc.SQLAlchemyError as exc:  # it will expire on its own
                log.warning("could not release lease %r: %s", self.name, exc)

    def __enter__(self) -> HeldLease:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def hold(engine: Engine, name: str, holder: str, ttl: timedelta) -> HeldLease | None:
    """Acquire and keep renewing; None when another live instance holds it."""
    now = system_now()
    if not acquire(engine, name, holder, ttl, now):
        return None
    return HeldLease(engine, name, holder, ttl, now + ttl)
