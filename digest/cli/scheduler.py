"""`digest scheduler run|next|status`: the operator's view of the weekly send."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta

import click

from digest.cli.app import App, check_for_serving, pass_app
from digest.jobs import WavesStatus, build_scheduler, waves_status
from digest.send_days import describe_schedule, schedule_of, week_for_day, week_for_slot
from digest.words import counted
from schedules import SYSTEM, Decision, RunOutcome, ScheduleError, decide


def _when(moment: datetime, settings) -> str:
    """'Mon 2026-03-30 08:00 CEST (06:00 UTC)': local first, the UTC moment beside it."""
    local = moment.astimezone(settings.timezone)
    utc = moment.astimezone(UTC)
    if local.tzname() == "UTC":
        return f"{utc:%a %Y-%m-%d %H:%M} UTC"
    same_day = local.date() == utc.date()
    return (
        f"{local:%a %Y-%m-%d %H:%M %Z} ({utc:%H:%M} UTC)"
        if same_day
        else f"{local:%a %Y-%m-%d %H:%M %Z} ({utc:%Y-%m-%d %H:%M} UTC)"
    )


def _hours(hours: float) -> str:
    return f"{hours:g} h"


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # our own lines say more


@click.group("scheduler")
def scheduler() -> None:
    """Run the weekly send on a timer, or see when it will run.

    \b
    Example:
        digest scheduler next -n 3
        digest scheduler run
    """


@scheduler.command("run")
@click.option(
    "--lease-ttl",
    type=click.IntRange(2, 3600),
    default=60,
    show_default=True,
    metavar="SECONDS",
    help="How long a dead instance keeps the weekly send before another takes over.",
)
@click.option(
    "--once",
    is_flag=True,
    help="Do what is due now (waves, confirmation mails), then exit: for cron or a systemd timer.",
)
@pass_app
def scheduler_run(app: App, lease_ttl: int, once: bool) -> None:
    """Run the scheduler in the foreground until SIGTERM or Ctrl-C (or, with --once, do what is due and exit).

    Each reader gets the week's edition at DIGEST_SEND_DAY DIGEST_SEND_TIME
    in their own time zone (DIGEST_TIMEZONE for readers who gave none): the
    scheduler sends it in waves, one as each zone's time arrives. Every minute
    it sends queued confirmation mails. A wave missed while it was down goes out
    once when it starts, if no later than DIGEST_CATCH_UP; an older one is
    logged and recorded missed, and its edition is left for the editor: never
    marked sent, and not begun by a later wave (`digest scheduler status` says
    which, `digest editions send` mails the rest). Several instances may run against one PostgreSQL
    database: a lease in the database decides which one sends, and another
    finishes the send if that one dies. A stop request lets the running batch
    finish; the next start resumes the send.

    \b
    Example:
        DIGEST_SEND_DAY=monday DIGEST_SEND_TIME=08:00 DIGEST_TIMEZONE=Europe/Paris digest scheduler run
        digest scheduler run --once       # from cron, every few minutes
    """
    check_for_serving(app, "digest scheduler run")
    settings, engine = app.settings, app.engine
    configure_logging()
    try:
        runner = build_scheduler(engine, settings, lease_ttl=timedelta(seconds=lease_ttl))
    except ScheduleError as exc:
        raise click.ClickException(str(exc)) from exc
    if once:
        results = runner.run_once()
        ran = [r for r in results if r.outcome is not None and r.decision in (Decision.RUN, Decision.RESUME)]
        busy = [r for r in results if r.decision in (Decision.BUSY, Decision.LOST, Decision.ERROR)]
        click.echo(
            f"Scheduler {runner.holder}: {counted(len(ran), 'wave')} run"
            + (f", {len(busy)} left to another instance or for later" if busy else "")
            + "; confirmation mails sent if any were queued.",
            err=True,
        )
        if any(r.decision == Decision.ERROR for r in results):
            sys.exit(1)
        return
    stop = threading.Event()

    def request_stop(signum, _frame):
        logging.getLogger("digest.scheduler").info("received %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    click.echo(
        f"Scheduler {runner.holder}: weekly send {describe_schedule(settings)}; stop with Ctrl-C or SIGTERM.", err=True
    )
    runner.run_until(stop)


@scheduler.command("next")
@click.option(
    "-n", "--count", type=click.IntRange(1, 520), default=5, show_default=True, help="How many run times to show."
)
@pass_app
def scheduler_next(app: App, count: int) -> None:
    """Print the next send days of the weekly send, in DIGEST_TIMEZONE and UTC.

    Daylight-saving changes are taken into account: the local time stays the
    same, the UTC time moves. Each line names the week whose edition goes out.
    Readers with a time zone of their own get it at the same local time there
    (`digest scheduler status` lists the waves).

    \b
    Example:
        DIGEST_TIMEZONE=Europe/Paris digest scheduler next -n 3
    """
    settings = app.settings
    schedule = schedule_of(settings)
    click.echo(f"Weekly send {schedule.describe()}:")
    for slot in schedule.upcoming(SYSTEM.now(), count):
        local = slot.astimezone(settings.timezone)
        click.echo(
            f"  {local:%a %Y-%m-%d %H:%M %Z}   {slot:%Y-%m-%d %H:%M} UTC   edition of {week_for_slot(slot, settings)}"
        )


@scheduler.command("status")
@pass_app
def scheduler_status(app: App) -> None:
    """Show the current send day's waves (which zones are done, which wait, and when), and the last run.

    \b
    Example:
        digest scheduler status
    """
    app.name_store = True  # the send day's editions and readers: say whose
    settings, engine = app.settings, app.engine
    now = SYSTEM.now()
    status = waves_status(engine, settings, now)
    click.echo(
        f"Weekly send:  {status.describe}; a missed wave goes out "
        f"if no more than {_hours(settings.catch_up_hours)} late"
    )
    _print_waves(status, settings, now)
    last = status.last
    if last is None:
        click.echo("Last run:     none yet")
    else:
        click.echo(f"Last run:     {_when(last.slot, settings)}: {last.outcome}")
        if last.detail:
            click.echo(f"              {last.detail}")
        when = last.finished_at or last.started_at
        if when is not None:
            verb = "finished" if last.finished_at else "started"
            click.echo(
                f"              {verb} {when:%Y-%m-%d %H:%M:%S} UTC by {last.holder or 'unknown'}"
                f" (attempt {max(last.attempts, 1)})"
            )
    if status.lease_is_live(now):
        click.echo(f"Running now:  on {status.lease.holder} (lease until {status.lease.expires_at:%H:%M:%S} UTC)")


def _print_waves(status: WavesStatus, settings, now: datetime) -> None:
    edition = (
        f"edition {status.edition.number}, {status.edition.status}" if status.edition is not None else "not built yet"
    )
    done = sum(
        1 for w in status.waves if w.record is not None and w.record.outcome in (RunOutcome.DONE, RunOutcome.SKIPPED)
    )
    waiting = sum(1 for w in status.waves if w.record is None and w.slot > now)
    catch_up = timedelta(hours=settings.catch_up_hours)
    missed = sum(
        1
        for w in status.waves
        if (w.record is not None and w.record.outcome == RunOutcome.MISSED)
        or (w.record is None and decide(w.slot, now, None, catch_up) == Decision.TOO_LATE)
    )
    click.echo(
        f"Send day:     {status.day:%A %Y-%m-%d}, the edition of {status.week} ({edition}): "
        f"{counted(len(status.waves), 'wave')}, {done} done, {waiting} waiting"
        + (f", {missed} missed" if missed else "")
    )
    if status.waiting_for:
        click.echo(f"Approval:     {status.waiting_for}")
    for wave in status.waves:
        zones = ", ".join(wave.zones)
        if settings.timezone.key in wave.zones:
            zones += " (and readers with no zone)"
        if wave.record is not None:
            state = wave.record.outcome + (f": {wave.record.detail}" if wave.record.detail else "")
        elif wave.slot > now:
            state = f"waiting, in {_span(wave.slot - now)}"
        elif decide(wave.slot, now, None, catch_up) == Decision.TOO_LATE:
            state = (
                f"missed: {_span(now - wave.slot)} ago, more than DIGEST_CATCH_UP "
                f"({_hours(settings.catch_up_hours)}); not sent late, left for the editor"
            )
        else:
            state = "due now"
        plural = "reader" if wave.readers == 1 else "readers"
        click.echo(f"  {wave.slot:%a %Y-%m-%d %H:%M} UTC  {zones:<44} {wave.readers:>9,} {plural:<8} {state}")
    click.echo(
        f"Next send day: {status.next_day:%A %Y-%m-%d}, the edition of {week_for_day(status.next_day)}; "
        f"first wave {_when(status.next_first, settings)}"
    )


def _span(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{delta.total_seconds() / 60:.0f} min" if hours < 1 else f"{hours:.1f} h"
