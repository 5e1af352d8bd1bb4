"""What an operator wants to know about a weekly job: the next slot, the last one and how it went."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from schedules import leases, runs
from schedules.weekly import WeeklySchedule


@dataclass(frozen=True)
class JobStatus:
    name: str
    schedule: WeeklySchedule
    next_slot: datetime
    last: runs.RunRecord | None
    lease: leases.LeaseInfo | None  # None, or the current (maybe expired) holder

    def lease_is_live(self, now: datetime) -> bool:
        return self.lease is not None and self.lease.expires_at > now


def job_status(engine: Engine, name: str, schedule: WeeklySchedule, now: datetime) -> JobStatus:
    return JobStatus(name, schedule, schedule.next_after(now), runs.latest(engine, name), leases.current(engine, name))
