"""Time in one convention: aware UTC datetimes in Python, naive UTC in the database; and the clock
the send loop reads and sleeps on.

Clock: what the send loop asks for the time and for a wait (`now`, `monotonic`, `sleep`).
    REAL_CLOCK is the machine's (the default); ManualClock is a test double whose `sleep`
    only moves its hands, so a test of retries and backoff waits no real time and can read
    every wait it asked for in `slept`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

import sqlalchemy as sa


def utcnow() -> datetime:
    return datetime.now(UTC)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, aware UTC: what the ledger records."""

    def monotonic(self) -> float:
        """Seconds from some fixed point, never going back: what intervals are measured on."""

    def sleep(self, seconds: float) -> None:
        """Wait this long."""


class RealClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    monotonic = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)


REAL_CLOCK = RealClock()


class ManualClock:
    """A clock that moves only when told to, or when something sleeps on it (then at once).

    `slept` lists every wait asked for, in order. The wall time starts at `start` (default: the
    machine's time when the clock is made) and keeps step with `monotonic`."""

    def __init__(self, start: datetime | None = None):
        self._start = utcnow() if start is None else as_utc(start)
        self._elapsed = 0.0
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self._elapsed += max(0.0, seconds)


def as_utc(value: datetime) -> datetime:
    """A naive datetime is taken to be UTC already; an aware one is converted."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """Stores naive UTC (portable across SQLite and PostgreSQL), returns aware UTC."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else as_utc(value).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)
