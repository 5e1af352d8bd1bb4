"""APScheduler triggers that fire at the slots of a WeeklySchedule (or the waves of a WaveSchedule), read on a Clock.

APScheduler waits on the machine's clock; the slots are computed on the
schedule's clock and converted, so a shifted clock (tests) and the wall clock
(production) go through the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

from schedules.clock import SYSTEM, Clock
from schedules.waves import WaveSchedule
from schedules.weekly import WeeklySchedule


class WeeklyTrigger(BaseTrigger):
    def __init__(self, schedule: WeeklySchedule, clock: Clock = SYSTEM):
        self.schedule, self.clock = schedule, clock

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime:
        # Strictly after both the last fire and now: runs missed while the process
        # was suspended are not replayed here; the scheduler's catch-up rule owns them.
        base = self.clock.from_machine(now)
        if previous_fire_time is not None:
            base = max(base, self.clock.from_machine(previous_fire_time))
        return self.clock.to_machine(self.schedule.next_after(base))

    def __str__(self) -> str:
        return self.schedule.describe()

    def __repr__(self) -> str:
        return f"<WeeklyTrigger {self.schedule.describe()}>"


class WavesTrigger(BaseTrigger):
    """Fires at the next wave of a WaveSchedule among the zones `zones()` names, asked afresh each time,
    and at least every `recheck`, so a zone that comes into use is seen before its slot."""

    def __init__(
        self,
        schedule: WaveSchedule,
        zones: Callable[[], Iterable[ZoneInfo]],
        clock: Clock = SYSTEM,
        recheck: timedelta = timedelta(minutes=1),
    ):
        self.schedule, self.zones, self.clock, self.recheck = schedule, zones, clock, recheck

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime:
        base = self.clock.from_machine(now)
        if previous_fire_time is not None:
            base = max(base, self.clock.from_machine(previous_fire_time))
        try:
            wave = self.schedule.next_wave(self.zones(), base)
        except Exception:  # the zones could not be read now: look again at the next recheck
            wave = None
        due = base + self.recheck if wave is None else min(wave.slot, base + self.recheck)
        return self.clock.to_machine(due)

    def __str__(self) -> str:
        return self.schedule.describe()

    def __repr__(self) -> str:
        return f"<WavesTrigger {self.schedule.describe()}>"
