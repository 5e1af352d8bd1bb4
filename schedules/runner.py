"""The scheduler: a job registry on APScheduler, with leases and the catch-up rule.

Register weekly jobs (a slot a week, recorded in the database, caught up once
after downtime within a window), wave jobs (a weekly local time kept in every
zone a callable names: each wave is a slot of its own) and interval jobs (small
chores every few seconds, one instance at a time), then `start()`, or
`run_once()` to do what is due now and return (cron, systemd timers, tests). Each process has its own
in-memory APScheduler job store (a job store must never be shared between
schedulers); what instances share is the database: leases decide who works,
run records remember what each slot came to.

APScheduler's misfire handling is switched off for our jobs (grace None,
coalesce on): a late wake-up still calls the job, and the job decides from the
run records and the catch-up window whether the slot is run, resumed, or
recorded as missed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine

from schedules import leases, runs
from schedules.clock import SYSTEM, Clock, system_now
from schedules.errors import ScheduleError
from schedules.outcomes import REPORTS, UNFINISHED, RunOutcome
from schedules.trigger import WavesTrigger, WeeklyTrigger
from schedules.waves import WaveSchedule
from schedules.weekly import Decision, WeeklySchedule, decide

log = logging.getLogger("schedules")


@dataclass(frozen=True)
class Outcome:
    """What a weekly job reports.

    done and skipped close the slot; paused closes it too, for a person to look at
    (it is not retried on its own); unfinished leaves it open, to be resumed by the
    next instance that looks (after a stop request or a lost lease).
    """

    status: str = RunOutcome.DONE  # one of outcomes.REPORTS
    detail: str = ""

    @classmethod
    def done(cls, detail: str = "") -> Outcome:
        return cls(RunOutcome.DONE, detail)

    @classmethod
    def skipped(cls, reason: str) -> Outcome:
        return cls(RunOutcome.SKIPPED, reason)

    @classmethod
    def paused(cls, detail: str) -> Outcome:
        return cls(RunOutcome.PAUSED, detail)

    @classmethod
    def missed(cls, detail: str) -> Outcome:
        """The slot was held open (unfinished) until it was older than the catch-up window: closed as a
        slot no instance ran in time is, and not run late."""
        return cls(RunOutcome.MISSED, detail)

    @classmethod
    def unfinished(cls, detail: str) -> Outcome:
        return cls(UNFINISHED, detail)


@dataclass(frozen=True)
class RunContext:
    """What a job function receives."""

    job: str
    slot: datetime  # aware UTC: the moment this run is for
    holder: str  # this instance's name
    resumed: bool  # a previous attempt started this slot and did not finish
    should_stop: Callable[[], bool]  # true once we are shutting down or lost the lease
    now: Callable[[], datetime]  # the scheduler's clock
    zones: tuple[str, ...] = ()  # the zones whose slot this is (a wave job; a weekly job's one zone)


@dataclass(frozen=True)
class RunResult:
    """What `run_slot` did: the decision, and the outcome recorded (if any)."""

    job: str
    slot: datetime
    decision: Decision
    outcome: str | None = None
    detail: str = ""


@dataclass
class WeeklyJob:
    name: str
    schedule: WeeklySchedule
    func: Callable[[RunContext], Outcome | None]
    catch_up: timedelta
    zones: Callable[[], Iterable[ZoneInfo]] | None = None  # a wave job: the zones in use, asked each time
    missed: Callable[[RunContext], str | None] | None = None  # told of a slot recorded missed; says what follows
    recheck: timedelta = timedelta(minutes=1)  # a wave job: how often the zones in use are asked again
    _zones_read: tuple[float, list[ZoneInfo]] | None = field(default=None, repr=False)

    @property
    def waves(self) -> WaveSchedule | None:
        return None if self.zones is None else WaveSchedule.of(self.schedule)

    def zones_now(self) -> list[ZoneInfo]:
        """A wave job's zones: those in use, and the schedule's own. Asked again at most once a second
        (deciding about a wave asks several times)."""
        now = time.monotonic()
        if self._zones_read is not None and now - self._zones_read[0] < 1.0:
            return self._zones_read[1]
        found = {self.schedule.zone.key: self.schedule.zone}
        for zone in self.zones() if self.zones else ():
            found.setdefault(zone.key, zone)
        self._zones_read = (now, list(found.values()))
        return self._zones_read[1]

    def due(self, now: datetime) -> list[datetime]:
        """The slots to look at now: the latest, or for a wave job each zone's latest wave, oldest first."""
        if self.zones is None:
            return [self.schedule.latest_at_or_before(now)]
        return [wave.slot for wave in self.waves.latest_waves(self.zones_now(), now)]

    def zones_of(self, slot: datetime) -> tuple[str, ...]:
        if self.zones is None:
            return (self.schedule.zone.key,)
        return self.waves.zones_at(self.zones_now(), slot)

    def next_slot(self, now: datetime) -> datetime:
        if self.zones is None:
            return self.schedule.next_after(now)
        return self.waves.next_wave(self.zones_now(), now).slot

    def label(self, slot: datetime) -> str:
        if self.zones is None:
            return _local(slot, self.schedule)
        zones = self.zones_of(slot)
        names = ", ".join(zones[:4]) + (f" and {len(zones) - 4} more" if len(zones) > 4 else "")
        return f"the wave of {slot.astimezone(UTC):%a %Y-%m-%d %H:%M} UTC ({names or 'no zone now'})"


@dataclass
class IntervalJob:
    name: str
    every: timedelta
    func: Callable[[RunContext], object]


@dataclass
class _Registry:
    jobs: dict[str, WeeklyJob | IntervalJob] = field(default_factory=dict)

    def add(self, job: WeeklyJob | IntervalJob) -> None:
        if not job.name or len(job.name) > 80 or ":" in job.name:
            raise ScheduleError(f"a job name is 1-80 characters without ':', got {job.name!r}")
        if job.name in self.jobs:
            raise ScheduleError(f"a job named {job.name!r} is already registered")
        self.jobs[job.name] = job

    def weekly(self, name: str) -> WeeklyJob:
        job = self.jobs.get(name)
        if not isinstance(job, WeeklyJob):
            raise ScheduleError(f"no weekly job named {name!r}")
        return job


class Scheduler:
    """One instance's scheduler. Thread-safe to start and stop from another thread."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock = SYSTEM,
        holder: str | None = None,
        lease_ttl: timedelta = timedelta(seconds=60),
        retry_failed_after: timedelta = timedelta(minutes=10),
        retry_error_after: timedelta = timedelta(minutes=1),
    ):
        if lease_ttl.total_seconds() < 1:
            raise ScheduleError(f"the lease time to live must be at least 1 second, got {lease_ttl}")
        self.engine, self.clock = engine, clock
        self.holder = holder or leases.new_holder_name()
        self.lease_ttl, self.retry_failed_after = lease_ttl, retry_failed_after
        self.retry_error_after = retry_error_after
        self._registry = _Registry()
        self._stopping = threading.Event()
        self._once = False  # run_once(): nothing is scheduled for later
        # The trigger, the catch-up and a retry may overlap in this process, where the lease (ours
        # already) cannot tell them apart.
        self._slot_locks: dict[str, threading.Lock] = {}
        # The start-up catch-up runs in a thread of its own, not as a one-off APScheduler job: APScheduler
        # 3 marks itself stopped before taking its job-store lock, so a one-off job that comes due as it
        # shuts down makes its loop raise JobLookupError while removing it.
        self._catch_ups: list[threading.Thread] = []
        self._aps = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=4)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    # registry ---------------------------------------------------------------------------------
    def weekly(
        self, name: str, schedule: WeeklySchedule, func: Callable[[RunContext], Outcome | None], *, catch_up: timedelta
    ) -> None:
        """Run `func` once per slot of `schedule`; catch a missed slot up within `catch_up`."""
        if catch_up < timedelta(0):
            raise ScheduleError(f"the catch-up window cannot be negative, got {catch_up}")
        self._registry.add(WeeklyJob(name, schedule, func, catch_up))
        self._slot_locks[name] = threading.Lock()

    def waves(
        self,
        name: str,
        schedule: WeeklySchedule,
        zones: Callable[[], Iterable[ZoneInfo]],
        func: Callable[[RunContext], Outcome | None],
        *,
        catch_up: timedelta,
        recheck: timedelta = timedelta(minutes=1),
        missed: Callable[[RunContext], str | None] | None = None,
    ) -> None:
        """Run `func` once per wave: `schedule`'s weekday and local time in each zone `zones()` names
        (asked again at every wave and every `recheck`), and in `schedule`'s own zone. Zones whose
        slot is the same moment share a wave; each wave is recorded and caught up like a weekly slot.
        `missed`, if given, is called (under the lease) for a wave found older than the catch-up window
        before it ran, before it is recorded missed; the words it returns join the record's detail."""
        if catch_up < timedelta(0):
            raise ScheduleError(f"the catch-up window cannot be negative, got {catch_up}")
        if recheck.total_seconds() < 1:
            raise ScheduleError(f"the zones are asked again at most once a second, got every {recheck}")
        self._registry.add(WeeklyJob(name, schedule, func, catch_up, zones=zones, recheck=recheck, missed=missed))
        self._slot_locks[name] = threading.Lock()

    def every(self, name: str, every: timedelta, func: Callable[[RunContext], object]) -> None:
        """Run `func` every `every`, on one instance at a time (others skip that beat)."""
        if every.total_seconds() < 1:
            raise ScheduleError(f"an interval job runs at most once a second, got every {every}")
        self._registry.add(IntervalJob(name, every, func))

    # lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Start in a background thread: weekly triggers, a catch-up check per weekly job, the chores."""
        now = system_now()
        for job in self._registry.jobs.values():
            if isinstance(job, WeeklyJob):
                trigger = (
                    WeeklyTrigger(job.schedule, self.clock)
                    if job.zones is None
                    else WavesTrigger(job.waves, job.zones_now, self.clock, job.recheck)
                )
                self._aps.add_job(self._fire, trigger, args=[job.name], id=job.name, name=job.name)
            else:
                self._aps.add_job(
                    self._chore,
                    IntervalTrigger(seconds=job.every.total_seconds()),
                    args=[job.name],
                    id=job.name,
                    name=job.name,
                    next_run_time=now,
                )
        self._aps.start()
        for job in self._registry.jobs.values():
            if isinstance(job, WeeklyJob):
                catch_up = threading.Thread(
                    target=self._catch_up_now, args=[job.name], name=f"{job.name} catch-up", daemon=True
                )
                catch_up.start()
                self._catch_ups.append(catch_up)
                log.info("%s: %s; next run %s", job.name, self.describe(job.name), job.label(self.next_slot(job.name)))

    def stop(self, wait: bool = True) -> None:
        """Ask running jobs to stop at their next safe point, then shut down."""
        self._stopping.set()
        if self._aps.running:
            self._aps.shutdown(wait=wait)
        if wait:
            for catch_up in self._catch_ups:
                catch_up.join()
        self._catch_ups = [thread for thread in self._catch_ups if thread.is_alive()]

    def run_until(self, stop: threading.Event) -> None:
        """Run in the foreground until `stop` is set (by a signal handler, say)."""
        self.start()
        try:
            while not stop.wait(0.5):  # a short wait, so signal handlers get to run promptly
                pass
        finally:
            log.info("stopping: waiting for running jobs to reach a safe point")
            self.stop(wait=True)
            log.info("stopped")

    @property
    def running(self) -> bool:
        return self._aps.running

    def next_fire(self, name: str) -> datetime | None:
        """When APScheduler will next fire a job, read on the scheduler's clock (None if not started)."""
        job = self._aps.get_job(name)
        if job is None or job.next_run_time is None:
            return None
        return self.clock.from_machine(job.next_run_time).astimezone(UTC)

    def next_slot(self, name: str) -> datetime:
        """The next slot (or wave) of a weekly job, on the scheduler's clock."""
        return self._registry.weekly(name).next_slot(self.clock.now())

    def describe(self, name: str) -> str:
        job = self._registry.weekly(name)
        if job.zones is None:
            return job.schedule.describe()
        return f"{job.waves.describe()} in each zone in use (and {job.schedule.zone.key})"

    def run_once(self) -> list[RunResult]:
        """Do what is due now, here, and return: every weekly slot or wave due (or to catch up), and
        one beat of every chore. Leases and run records work as in `start()`: another instance running
        a job now makes it `busy` here. Nothing is scheduled for later."""
        self._once = True
        results = []
        for job in list(self._registry.jobs.values()):
            if isinstance(job, WeeklyJob):
                results += self._fire(job.name)
            else:
                self._chore(job.name)
        return results

    # the work ---------------------------------------------------------------------------------
    def _fire(self, name: str) -> list[RunResult]:
        """The trigger and the start-up catch-up both look at the latest slot that is due (for a wave
        job, each zone's latest wave, oldest first, so the first wave of a send day runs first)."""
        job = self._registry.weekly(name)
        try:
            due = job.due(self.clock.now())
        except Exception as exc:  # the zones could not be read (the database is down, say): look again soon
            log.exception(
                "%s: could not tell which waves are due (%s); will look again in %s",
                name,
                exc,
                _span(self.retry_error_after),
            )
            if not self._once and not self._stopping.is_set():
                self._aps.add_job(
                    self._fire,
                    "date",
                    run_date=system_now() + self.retry_error_after,
                    args=[name],
                    id=f"{name}:look-again",
                    name=f"{name} look again",
                    replace_existing=True,
                )
            return [RunResult(name, self.clock.now(), Decision.ERROR)]
        return [self._attempt(name, slot) for slot in due]

    def _catch_up_now(self, name: str) -> None:
        """At start: whatever is due (or missed, within the catch-up window), as the trigger would."""
        try:
            self._fire(name)
        except Exception:  # a thread of our own: say so in the log, as APScheduler would
            log.exception("%s: the start-up catch-up failed", name)

    def _retry(self, name: str, slot: datetime) -> None:
        self._attempt(name, slot)

    def _attempt(self, name: str, slot: datetime) -> RunResult:
        try:
            result = self.run_slot(name, slot)
        except Exception as exc:  # the database is down, say: look again soon rather than lose the week
            log.exception(
                "%s: could not check or record the run for %s (%s); will try again in %s",
                name,
                _local(slot, self._registry.weekly(name).schedule),
                exc,
                _span(self.retry_error_after),
            )
            result = RunResult(name, slot, Decision.ERROR)
        self._handle(result)
        return result

    def _handle(self, result: RunResult) -> None:
        """Schedule what a result calls for: another look when the lease frees, a retry after a failure."""
        if self._stopping.is_set() or self._once:
            return
        job = self._registry.weekly(result.job)
        at = None
        if result.decision == Decision.BUSY:
            try:
                lease = leases.current(self.engine, result.job)
            except Exception:  # look again after a full lease time
                lease = None
            at = (lease.expires_at if lease else system_now() + self.lease_ttl) + timedelta(seconds=1)
        elif (
            result.outcome == RunOutcome.FAILED
            and result.slot + job.catch_up > self.clock.now() + self.retry_failed_after
        ):
            at = system_now() + self.retry_failed_after
        elif result.outcome == RunOutcome.RUNNING or result.decision in (Decision.ERROR, Decision.LOST):
            at = system_now() + (self.retry_error_after if result.decision == Decision.ERROR else self.lease_ttl)
        if at is not None:
            # One retry job per slot: the waves of a send day may each need one.
            self._aps.add_job(
                self._retry,
                "date",
                run_date=max(at, system_now()),
                args=[result.job, result.slot],
                id=f"{result.job}:retry:{result.slot.isoformat()}",
                name=f"{result.job} retry",
                replace_existing=True,
            )

    def run_slot(self, name: str, slot: datetime) -> RunResult:
        """Decide about one slot and, if it is ours to run, run it under the lease. Logs the result."""
        job = self._registry.weekly(name)
        with self._slot_locks[name]:
            return self._run_slot(job, slot)

    def _run_slot(self, job: WeeklyJob, slot: datetime) -> RunResult:
        name = job.name
        label = job.label(slot)
        record = runs.find(self.engine, name, slot)
        decision = decide(slot, self.clock.now(), record.outcome if record else None, job.catch_up)
        if decision in (Decision.SETTLED, Decision.NOT_YET):
            log.debug("%s for %s: %s", name, label, decision.value)
            return RunResult(name, slot, decision, record.outcome if record else None)
        lease = leases.hold(self.engine, name, self.holder, self.lease_ttl)
        if lease is None:
            other = leases.current(self.engine, name)
            log.info(
                "%s for %s: another instance (%s) is running it; will look again when its lease ends",
                name,
                label,
                other.holder if other else "unknown",
            )
            return RunResult(name, slot, Decision.BUSY)
        with lease:
            # Read again under the lease: the holder before us may have just finished.
            record = runs.find(self.engine, name, slot)
            decision = decide(slot, self.clock.now(), record.outcome if record else None, job.catch_up)
            if decision in (Decision.SETTLED, Decision.NOT_YET):
                return RunResult(name, slot, decision, record.outcome if record else None)
            if decision is Decision.TOO_LATE:
                late = self.clock.now() - slot
                detail = (
                    f"missed by {_span(late)}, more than the catch-up window of {_span(job.catch_up)}; not sent late"
                )
                follows = self._missed(job, slot, label, lease)
                detail += f"; {follows}" if follows else ""
                runs.write(self.engine, name, slot, RunOutcome.MISSED, detail=detail, holder=self.holder)
                log.warning("%s for %s: %s", name, label, detail)
                return RunResult(name, slot, decision, RunOutcome.MISSED, detail)
            return self._run(job, slot, label, resumed=decision is Decision.RESUME, lease=lease)

    def _run(self, job: WeeklyJob, slot: datetime, label: str, *, resumed: bool, lease: leases.HeldLease) -> RunResult:
        verb = "resuming" if resumed else RunOutcome.RUNNING
        decision = Decision.RESUME if resumed else Decision.RUN
        log.info("%s for %s: %s", job.name, label, verb)
        runs.write(
            self.engine,
            job.name,
            slot,
            RunOutcome.RUNNING,
            holder=self.holder,
            starting=True,
            detail="resumed" if resumed else None,
        )
        context = self._context(job, slot, resumed=resumed, lease=lease)
        try:
            outcome = job.func(context) or Outcome.done()
        except Exception as exc:  # a job's failure is recorded and logged, never kills the scheduler
            detail = f"{type(exc).__name__}: {exc}"
            log.exception("%s for %s: failed: %s", job.name, label, detail)
            if lease.lost:
                return self._lost(job, slot, label)
            runs.write(self.engine, job.name, slot, RunOutcome.FAILED, detail=detail, holder=self.holder)
            return RunResult(job.name, slot, decision, RunOutcome.FAILED, detail)
        if lease.lost:
            return self._lost(job, slot, label)
        if outcome.status not in REPORTS:
            raise ScheduleError(f"job {job.name!r} returned the unknown status {outcome.status!r}")
        if outcome.status == UNFINISHED:
            runs.write(self.engine, job.name, slot, RunOutcome.RUNNING, detail=outcome.detail, holder=self.holder)
            log.warning(
                "%s for %s: stopped before the end (%s); the next instance to look resumes it",
                job.name,
                label,
                outcome.detail,
            )
            return RunResult(job.name, slot, decision, RunOutcome.RUNNING, outcome.detail)
        runs.write(self.engine, job.name, slot, outcome.status, detail=outcome.detail, holder=self.holder)
        level = logging.WARNING if outcome.status in (RunOutcome.PAUSED, RunOutcome.MISSED) else logging.INFO
        log.log(
            level, "%s for %s: %s%s", job.name, label, outcome.status, f": {outcome.detail}" if outcome.detail else ""
        )
        return RunResult(job.name, slot, decision, outcome.status, outcome.detail)

    def _missed(self, job: WeeklyJob, slot: datetime, label: str, lease: leases.HeldLease) -> str | None:
        """The job's `missed` callback, if any: what follows from the miss, in its words."""
        if job.missed is None:
            return None
        try:
            return job.missed(self._context(job, slot, resumed=False, lease=lease))
        except Exception:  # the miss is recorded all the same
            log.exception("%s for %s: telling the job of the missed slot failed", job.name, label)
            return None

    def _context(self, job: WeeklyJob, slot: datetime, *, resumed: bool, lease: leases.HeldLease) -> RunContext:
        return RunContext(
            job.name,
            slot,
            self.holder,
            resumed,
            should_stop=lambda: self._stopping.is_set() or lease.lost,
            now=self.clock.now,
            zones=job.zones_of(slot),
        )

    def _lost(self, job: WeeklyJob, slot: datetime, label: str) -> RunResult:
        # Another instance holds the lease now and owns the record: writing ours could
        # overwrite its outcome. Leave it, and look again later.
        log.warning(
            "%s for %s: lost the lease while running (paused too long?); the instance that took it over "
            "finishes the run",
            job.name,
            label,
        )
        return RunResult(job.name, slot, Decision.LOST)

    def _chore(self, name: str) -> None:
        job = self._registry.jobs[name]
        lease = leases.hold(self.engine, name, self.holder, self.lease_ttl)
        if lease is None:
            return  # another instance is doing this beat
        with lease:
            context = RunContext(
                name,
                self.clock.now(),
                self.holder,
                False,
                should_stop=lambda: self._stopping.is_set() or lease.lost,
                now=self.clock.now,
            )
            try:
                result = job.func(context)
            except Exception:  # look again after a full lease time
                log.exception("%s: failed", name)
                return
        if result:
            log.info("%s: %s", name, result)


def _local(moment: datetime, schedule: WeeklySchedule) -> str:
    local = moment.astimezone(schedule.zone)
    if local.utcoffset() == timedelta(0) and local.tzname() == "UTC":
        return f"{local:%a %Y-%m-%d %H:%M} UTC"
    return f"{local:%a %Y-%m-%d %H:%M %Z} ({moment.astimezone(UTC):%H:%M} UTC)"


def _span(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"
