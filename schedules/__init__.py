"""schedules: a self-contained library for timed jobs.

APScheduler wiring, a job registry and database leases. It knows nothing about
newsletters and imports neither `digest` nor `subscribers`: callers hand it an
SQLAlchemy engine, plain values and the functions to run.

    schedule = WeeklySchedule.named("monday", time(8), ZoneInfo("Europe/Paris"))
    scheduler = Scheduler(engine)
    scheduler.weekly("weekly-edition", schedule, send_the_week, catch_up=timedelta(hours=24))
    scheduler.waves("weekly-edition", schedule, zones_in_use, send_a_wave, catch_up=...)  # or: in each zone
    scheduler.every("confirmations", timedelta(minutes=1), send_confirmations)
    scheduler.run_until(stop_event)

Public names are the ones below; the modules behind them are private (digest's layering test
fails when digest imports one of them). The scheduler itself (`Scheduler`, `Outcome`, `RunContext`,
`RunResult`) loads APScheduler, so it is imported on first use: a caller that only needs the
calendar (`WeeklySchedule`, `WaveSchedule`), the run records or the leases does not load it.
"""

from typing import TYPE_CHECKING

from schedules.clock import SYSTEM, Clock, ShiftedClock, SystemClock
from schedules.errors import ScheduleError
from schedules.leases import LeaseInfo
from schedules.leases import current as current_lease
from schedules.outcomes import SETTLED, RunOutcome
from schedules.runs import RunRecord
from schedules.runs import find as find_run
from schedules.runs import latest as latest_run
from schedules.status import JobStatus, job_status
from schedules.waves import Wave, WaveSchedule
from schedules.weekly import WEEKDAYS, Decision, WeeklySchedule, decide

if TYPE_CHECKING:
    from schedules.runner import Outcome, RunContext, RunResult, Scheduler

_RUNNER = ("Outcome", "RunContext", "RunResult", "Scheduler")


def __getattr__(name: str):
    if name in _RUNNER:
        # APScheduler loads with the runner: only a caller that schedules pays for it.
        from schedules import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'schedules' has no attribute {name!r}")


__all__ = [
    "SETTLED",
    "SYSTEM",
    "Clock",
    "Decision",
    "JobStatus",
    "LeaseInfo",
    "Outcome",
    "RunContext",
    "RunOutcome",
    "RunRecord",
    "RunResult",
    "ScheduleError",
    "Scheduler",
    "ShiftedClock",
    "SystemClock",
    "WEEKDAYS",
    "Wave",
    "WaveSchedule",
    "WeeklySchedule",
    "current_lease",
    "decide",
    "find_run",
    "job_status",
    "latest_run",
]
