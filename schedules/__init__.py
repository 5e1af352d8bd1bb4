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

Public names are the ones below; the modules behind them are private.
"""

from schedules.clock import SYSTEM, Clock, ShiftedClock, SystemClock
from schedules.errors import ScheduleError
from schedules.leases import LeaseInfo
from schedules.outcomes import SETTLED, RunOutcome
from schedules.runner import Outcome, RunContext, RunResult, Scheduler
from schedules.runs import RunRecord
from schedules.status import JobStatus, job_status
from schedules.waves import Wave, WaveSchedule
from schedules.weekly import WEEKDAYS, Decision, WeeklySchedule, decide

__all__ = [
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
    "SETTLED",
    "ShiftedClock",
    "SystemClock",
    "WEEKDAYS",
    "Wave",
    "WaveSchedule",
    "WeeklySchedule",
    "decide",
    "job_status",
]
