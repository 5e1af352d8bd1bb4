"""Weekly slots and the catch-up rule, as pure functions of their arguments.

A slot is the moment one weekly run is due: the configured weekday and local
time in the configured zone, as an aware UTC datetime. The local time is kept
across daylight-saving changes (08:00 stays 08:00, so the UTC moment moves).
A local time that does not exist that day (the spring-forward gap) falls one
gap later, as the clock reads after the jump; a local time that happens twice
(fall back) runs at its first occurrence. Either way, exactly one slot a week.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from schedules.errors import ScheduleError
from schedules.outcomes import OUTCOMES, SETTLED, RunOutcome

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ScheduleError(f"a moment must carry its time zone, got the naive {moment.isoformat()}")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class WeeklySchedule:
    """Once a week on `weekday` (0 = Monday) at the local time `at` in `zone`."""

    weekday: int
    at: time
    zone: ZoneInfo

    def __post_init__(self):
        if not 0 <= self.weekday <= 6:
            raise ScheduleError(f"a weekday is 0 (Monday) to 6 (Sunday), got {self.weekday}")
        if self.at.tzinfo is not None:
            raise ScheduleError("the weekly time is a local wall-clock time; give it without a zone")

    @classmethod
    def named(cls, day: str, at: time, zone: ZoneInfo) -> WeeklySchedule:
        """From a weekday name such as 'monday' (any case)."""
        name = day.strip().lower()
        if name not in WEEKDAYS:
            raise ScheduleError(f"the send day must be a weekday name such as monday, got {day!r}")
        return cls(WEEKDAYS.index(name), at, zone)

    @property
    def day_name(self) -> str:
        return WEEKDAYS[self.weekday]

    def slot_on(self, day: date) -> datetime:
        """The slot on the local date `day` (which must be the schedule's weekday), in UTC."""
        if day.weekday() != self.weekday:
            raise ScheduleError(f"{day.isoformat()} is a {WEEKDAYS[day.weekday()]}, not a {self.day_name}")
        # fold=0: in a gap this uses the offset before the jump (so it lands after it);
        # in an overlap it picks the first of the two moments.
        return datetime.combine(day, self.at, tzinfo=self.zone).astimezone(UTC)

    def _candidates(self, moment: datetime, days: range):
        local_day = _aware(moment).astimezone(self.zone).date()
        for delta in days:
            day = local_day + timedelta(days=delta)
            if day.weekday() == self.weekday:
                yield self.slot_on(day)

    def next_after(self, moment: datetime) -> datetime:
        """The first slot strictly after `moment`."""
        moment = _aware(moment)
        return next(slot for slot in self._candidates(moment, range(-1, 9)) if slot > moment)

    def latest_at_or_before(self, moment: datetime) -> datetime:
        """The most recent slot at or before `moment`."""
        moment = _aware(moment)
        return next(slot for slot in self._candidates(moment, range(1, -9, -1)) if slot <= moment)

    def upcoming(self, moment: datetime, count: int) -> list[datetime]:
        """The next `count` slots strictly after `moment`."""
        if count < 1:
            raise ScheduleError(f"the number of run times must be at least 1, got {count}")
        slots, current = [], _aware(moment)
        for _ in range(count):
            current = self.next_after(current)
            slots.append(current)
        return slots

    def describe(self) -> str:
        return f"every {self.day_name} at {self.at.strftime('%H:%M')} ({self.zone.key})"


class Decision(StrEnum):
    """What to do about one slot, given what the database remembers of it (`decide`), and the three
    answers only the runner gives (`RunResult.decision`)."""

    RUN = "run"  # due, never started, still within the catch-up window
    RESUME = "resume"  # started by an instance that is gone: finish it (the job is idempotent)
    SETTLED = "settled"  # done, skipped, paused or recorded as missed: nothing to do
    TOO_LATE = "too_late"  # never started and older than the catch-up window: log, record, skip
    NOT_YET = "not_yet"  # the slot is in the future
    BUSY = "busy"  # the runner: another instance holds the lease
    LOST = "lost"  # the runner: the lease was taken over from us mid-run
    ERROR = "error"  # the runner: the database could not be read or written


def decide(slot: datetime, now: datetime, outcome: str | None, catch_up: timedelta) -> Decision:
    """The catch-up rule.

    `outcome` is the slot's recorded outcome (None when there is no record). A run
    that was started and never finished is resumed whatever its age, because some
    readers may already have it and the rest are owed it; a run that failed is
    retried only within the window, like one that never started.
    """
    slot, now = _aware(slot), _aware(now)
    if outcome is not None and outcome not in OUTCOMES:
        raise ScheduleError(f"unknown run outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")
    if outcome in SETTLED:
        return Decision.SETTLED
    if slot > now:
        return Decision.NOT_YET
    if outcome == RunOutcome.RUNNING:
        return Decision.RESUME
    if now - slot > catch_up:
        return Decision.TOO_LATE
    return Decision.RUN
