"""Where "now" comes from, behind a small seam.

The scheduler asks a Clock for the current time and converts between the
clock's time and the machine's, so the same code can run on the wall clock
(production) or on a shifted one: `ShiftedClock` starts at any moment you name
and then runs at the normal pace. Tests use it to put the scheduler a few
seconds before a daylight-saving change, or a day after a missed run, with the
real APScheduler doing the waiting.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


def system_now() -> datetime:
    return datetime.now(UTC)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time on this clock, aware UTC."""

    def to_machine(self, moment: datetime) -> datetime:
        """The machine time at which this clock will read `moment`."""

    def from_machine(self, moment: datetime) -> datetime:
        """What this clock reads when the machine reads `moment`."""


class SystemClock:
    """The machine's own clock."""

    def now(self) -> datetime:
        return system_now()

    def to_machine(self, moment: datetime) -> datetime:
        return moment

    def from_machine(self, moment: datetime) -> datetime:
        return moment


class ShiftedClock:
    """A clock that reads `start` now and then advances with the machine's clock."""

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("ShiftedClock needs an aware start time")
        self.offset: timedelta = start.astimezone(UTC) - system_now()

    def now(self) -> datetime:
        return system_now() + self.offset

    def to_machine(self, moment: datetime) -> datetime:
        return moment - self.offset

    def from_machine(self, moment: datetime) -> datetime:
        return moment + self.offset


SYSTEM = SystemClock()
