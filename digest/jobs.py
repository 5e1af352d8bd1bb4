"""The weekly send on the scheduler: which week a slot sends, the job itself, and what operators see.

A slot (say Monday 08:00 in the newsletter's zone) sends the edition of the last
complete ISO week before it: the week the editors were preparing while it ran.
The job is idempotent end to end: the edition is unique per week (built once, or
found), and the ledger holds one row per reader, so a second run for the same
week, a restart or a second instance sends nothing twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from digest.delivery import send_edition
from digest.delivery.confirmations import send_pending
from digest.editions.service import build_edition, edition_items
from digest.mail import Sender
from digest.settings import Settings
from digest.store import session_scope
from digest.weeks import week_label
from schedules import SYSTEM, Clock, JobStatus, Outcome, RunContext, Scheduler, WeeklySchedule, job_status

log = logging.getLogger("digest.jobs")

WEEKLY_JOB = "weekly-edition"
CONFIRMATIONS_JOB = "confirmations"
CONFIRMATIONS_EVERY = timedelta(minutes=1)
DEFAULT_LEASE_TTL = timedelta(seconds=60)


def schedule_of(settings: Settings) -> WeeklySchedule:
    """DIGEST_SEND_DAY at DIGEST_SEND_TIME in DIGEST_TIMEZONE."""
    return WeeklySchedule.named(settings.send_day, settings.send_time, settings.timezone)


def catch_up_of(settings: Settings) -> timedelta:
    return timedelta(hours=settings.catch_up_hours)


def week_for_slot(slot: datetime, settings: Settings) -> str:
    """The ISO week a slot sends: the last complete one before the slot's own, on the local calendar."""
    local_day = slot.astimezone(settings.timezone).date()
    year, week, _ = (local_day - timedelta(days=7)).isocalendar()
    return week_label(year, week)


def run_week(engine: Engine, settings: Settings, slot: datetime, *, sender: Sender | None = None,
             should_stop=None) -> Outcome:
    """Build (or find) the slot's edition and send it to every active reader who has not had it."""

    week = week_for_slot(slot, settings)
    with session_scope(engine) as session:
        built = build_edition(session, settings, week, now=slot)
        if built.edition is None:
            return Outcome.skipped(built.reason)
        number, status = built.edition.number, built.edition.status
        empty = not edition_items(session, built.edition)
    if built.created:
        log.info("%s", built.reason)
    if empty and status != "sent":
        return Outcome.skipped(f"edition {number} for {week} has no comparisons left in it (all excluded)")
    summary = send_edition(engine, settings, number, sender=sender, should_stop=should_stop)
    counts = (f"edition {number} for {week}: {summary.sent_now} sent by this run; ledger {summary.sent} sent, "
              f"{summary.failed} failed, {summary.uncertain} uncertain, {summary.skipped} skipped")
    if summary.status == "sent":
        return Outcome.done(counts if summary.sent_now or status != "sent" else
                            f"edition {number} for {week} was already sent; nothing to do")
    if summary.status == "sending":
        return Outcome.done(f"{counts}; another sender is finishing the rest")
    if summary.status == "stopped":
        return Outcome.unfinished(f"{counts}; stopped before the end, {summary.pending} readers not yet mailed")
    return Outcome.paused(f"{counts}; paused: {summary.reason or 'see digest editions send'} "
                          f"(resume with: digest editions send --edition {number})")


def build_scheduler(engine: Engine, settings: Settings, *, clock: Clock = SYSTEM,
                    lease_ttl: timedelta = DEFAULT_LEASE_TTL, confirmations: bool = True,
                    sender_factory=None) -> Scheduler:
    """The application's scheduler: the weekly send and, every minute, queued confirmation mails."""
    scheduler = Scheduler(engine, clock=clock, lease_ttl=lease_ttl)

    def weekly(context: RunContext) -> Outcome:
        sender = sender_factory() if sender_factory else None
        try:
            return run_week(engine, settings, context.slot, sender=sender, should_stop=context.should_stop)
        finally:
            if sender is not None:
                sender.close()

    scheduler.weekly(WEEKLY_JOB, schedule_of(settings), weekly, catch_up=catch_up_of(settings))
    if confirmations:

        def confirm(_context: RunContext) -> str | None:
            sent = send_pending(engine, settings)
            return f"sent {sent} confirmation mail(s)" if sent else None

        scheduler.every(CONFIRMATIONS_JOB, CONFIRMATIONS_EVERY, confirm)
    return scheduler


# --- what operators see ---------------------------------------------------------------------


def weekly_status(engine: Engine, settings: Settings, now: datetime) -> JobStatus:
    return job_status(engine, WEEKLY_JOB, schedule_of(settings), now)
