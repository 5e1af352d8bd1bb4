"""An APScheduler trigger that fires at the slots of a WeeklySchedule, read on a Clock.

APScheduler waits on the machine's clock; the slots are computed on the
schedule's clock and converted, so a shifted clock (tests) and the wall clock
(production) go through the same code.
"""

from __future__ import annotations

from datetime import datetime

from apscheduler.triggers.base import BaseTrigger

from schedules.clock import SYSTEM, Clock
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
