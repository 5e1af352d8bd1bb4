"""`digest scheduler run|next|status`: the operator's view of the weekly send."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from datetime import datetime, timedelta, timezone

import click

from digest.cli.app import App, check_for_serving, pass_app
from digest.jobs import build_scheduler, schedule_of, week_for_slot, weekly_status
from schedules import ScheduleError
from schedules.clock import system_now


def _when(moment: datetime, settings) -> str:
    """'Mon 2026-03-30 08:00 CEST (06:00 UTC)': local first, the UTC moment beside it."""
    local = moment.astimezone(settings.timezone)
    utc = moment.astimezone(timezone.utc)
    if local.tzname() == "UTC":
        return f"{utc:%a %Y-%m-%d %H:%M} UTC"
    same_day = local.date() == utc.date()
    return f"{local:%a %Y-%m-%d %H:%M %Z} ({utc:%H:%M} UTC)" if same_day else \
        f"{local:%a %Y-%m-%d %H:%M %Z} ({utc:%Y-%m-%d %H:%M} UTC)"


def _hours(hours: float) -> str:
    return f"{hours:g} h"


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
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
@click.option("--lease-ttl", type=click.IntRange(2, 3600), default=60, show_default=True, metavar="SECONDS",
              help="How long a dead instance keeps the weekly send before another takes over.")
@pass_app
def scheduler_run(app: App, lease_ttl: int) -> None:
    """Run the scheduler in the foreground until SIGTERM or Ctrl-C.

    It sends the week's edition at DIGEST_SEND_DAY DIGEST_SEND_TIME in
    DIGEST_TIMEZONE, and every minute sends queued confirmation mails. A run
    missed while it was down goes out once when it starts, if no later than
    DIGEST_CATCH_UP; an older one is logged and skipped. Several instances may
    run against one PostgreSQL database: a lease in the database decides which
    one sends, and another finishes the send if that one dies. A stop request
    lets the running batch finish; the next start resumes the send.

    \b
    Example:
        DIGEST_SEND_DAY=monday DIGEST_SEND_TIME=08:00 DIGEST_TIMEZONE=Europe/Paris digest scheduler run
    """
    check_for_serving(app, "digest scheduler run")
    settings, engine = app.settings, app.engine
    configure_logging()
    try:
        runner = build_scheduler(engine, settings, lease_ttl=timedelta(seconds=lease_ttl))
    except ScheduleError as exc:
        raise click.ClickException(str(exc)) from exc
    stop = threading.Event()

    def request_stop(signum, _frame):
        logging.getLogger("digest.scheduler").info("received %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    click.echo(f"Scheduler {runner.holder}: weekly send {schedule_of(settings).describe()}; "
               f"stop with Ctrl-C or SIGTERM.", err=True)
    runner.run_until(stop)


@scheduler.command("next")
@click.option("-n", "--count", type=click.IntRange(1, 520), default=5, show_default=True,
              help="How many run times to show.")
@pass_app
def scheduler_next(app: App, count: int) -> None:
    """Print the next run times of the weekly send, in local time and UTC.

    Daylight-saving changes are taken into account: the local time stays the
    same, the UTC time moves. Each line names the week whose edition goes out.

    \b
    Example:
        DIGEST_TIMEZONE=Europe/Paris digest scheduler next -n 3
    """
    settings = app.settings
    schedule = schedule_of(settings)
    click.echo(f"Weekly send {schedule.describe()}:")
    for slot in schedule.upcoming(system_now(), count):
        local = slot.astimezone(settings.timezone)
        click.echo(f"  {local:%a %Y-%m-%d %H:%M %Z}   {slot:%Y-%m-%d %H:%M} UTC   "
                   f"edition of {week_for_slot(slot, settings)}")


@scheduler.command("status")
@pass_app
def scheduler_status(app: App) -> None:
    """Show the weekly send's next run, its last run and how that went.

    \b
    Example:
        digest scheduler status
    """
    settings, engine = app.settings, app.engine
    now = system_now()
    status = weekly_status(engine, settings, now)
    click.echo(f"Weekly send:  {status.schedule.describe()}; a missed run goes out "
               f"if no more than {_hours(settings.catch_up_hours)} late")
    click.echo(f"Next run:     {_when(status.next_slot, settings)}, "
               f"edition of {week_for_slot(status.next_slot, settings)}")
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
            click.echo(f"              {verb} {when:%Y-%m-%d %H:%M:%S} UTC by {last.holder or 'unknown'}"
                       f" (attempt {max(last.attempts, 1)})")
    if status.lease_is_live(now):
        click.echo(f"Running now:  on {status.lease.holder} (lease until {status.lease.expires_at:%H:%M:%S} UTC)")
