"""`digest editions send`: deliver an edition, exactly once per reader, resumable."""

from __future__ import annotations

import json
import re
import signal
import sys
import threading

import click

from digest.cli.app import App, confirm, pass_app, yes_option
from digest.delivery import Progress, send_edition
from digest.delivery.plan import send_plan
from digest.delivery.send import refuse_if_nobody
from digest.delivery.states import HALTED
from digest.editions.service import edition_at_hand, get_edition
from digest.editions.status import EditionStatus
from digest.errors import EditionError
from digest.mail import make_sender
from digest.render import render_edition
from digest.render.clip import size_figures, size_report
from digest.send_days import first_wave
from digest.store import session_scope
from digest.words import counted

_WEEK = re.compile(r"^\d{4}-W(0[1-9]|[1-4]\d|5[0-3])$")


class StopOnInterrupt:
    """The first Ctrl-C asks the send to stop after the request in flight; a second one aborts at once."""

    def __init__(self, quiet: bool):
        self.requested = False
        self.quiet = quiet
        self._previous = None

    def __call__(self) -> bool:
        return self.requested

    def _handle(self, signum, frame) -> None:
        if self.requested:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        self.requested = True
        if not self.quiet:
            click.echo("\nStopping after the request in flight (Ctrl-C again to abort now)...", err=True)

    def __enter__(self) -> StopOnInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class ProgressBar:
    """readers done / total, rate and time left; only when stderr is a terminal."""

    def __init__(self):
        self.bar = None
        self.shown = 0

    def __call__(self, progress: Progress) -> None:
        if self.bar is None:
            self.bar = click.progressbar(
                length=max(progress.total or 0, progress.done, 1),
                label="Sending",
                show_eta=True,
                show_pos=True,
                file=sys.stderr,
                item_show_func=lambda p: p and f"{p.rate:,.0f} readers/s",
            )
            self.bar.__enter__()
        self.bar.update(progress.done - self.shown, progress)
        self.shown = progress.done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@click.command("send")
@click.option("--edition", "number", type=click.IntRange(min=1), help="The edition number to send.")
@click.option("--week", help="The ISO week of the edition to send, such as 2026-W47.")
@click.option(
    "--dry-run", is_flag=True, help="Render the edition, print its HTML size and count who would get it; send nothing."
)
@click.option(
    "--resend-uncertain", is_flag=True, help="Also send to readers whose earlier request's outcome is unknown."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 1000),
    default=None,
    help="Readers per request (default: the most the sender takes: 1000 for SendGrid and the outbox, 100 for SMTP).",
)
@yes_option
@click.option("--include-future", is_flag=True, help="Send even if a comparison in the edition is dated in the future.")
@pass_app
def send(
    app: App,
    number: int | None,
    week: str | None,
    dry_run: bool,
    resend_uncertain: bool,
    as_json: bool,
    batch_size: int | None,
    yes: bool,
    include_future: bool,
) -> None:
    """Send an edition now to every active reader who has not had it yet, each in their variant.

    Each reader gets the edition's comparisons in their topics (all of them for
    readers with none); readers whose topics match none get no mail and are
    counted as skipped. A manual send is immediate: it does not wait for the
    readers' local send time (the scheduler does). Without --edition or --week,
    sends the edition at hand: the earliest one not yet sent, or else the
    current week's (the one `preview` shows); its comparisons are frozen as it
    begins. It first checks the mail backend's settings, then names the
    edition, its week, its comparisons and how many readers it will reach and,
    in a terminal, asks before it starts; without a terminal (a script, cron,
    ssh) it sends only with --yes. A first send that would reach no reader
    (none confirmed yet, say) is refused and the edition stays a draft. A
    comparison dated in the future holds the send back until its date, unless
    --include-future.
    --dry-run lists the variants, their comparisons and reader counts. The ledger records
    each reader before and after every request, so running the command again,
    after a failure, a pause, Ctrl-C or a crash, mails only those not yet
    mailed. Readers whose request's outcome is unknown are reported as
    uncertain and are not mailed again unless you pass --resend-uncertain.
    Ctrl-C stops after the request in flight. Exits with status 1 when the
    send paused or stopped before every reader was handled.

    \b
    Example:
        digest editions send --week 2026-W47 --dry-run
        DIGEST_BACKEND=sendgrid SENDGRID_API_KEY=SG.xxx digest editions send --week 2026-W47 --yes
        digest editions send --edition 12 --resend-uncertain --json --yes
    """
    if number is not None and week is not None:
        raise click.UsageError("give --edition or --week, not both")
    if week is not None and not _WEEK.match(week.strip()):
        raise click.BadParameter(f"must be an ISO week such as 2026-W47, got {week!r}", param_hint="--week")
    if not dry_run:  # who the mail says it is from, and the backend's settings, before any plan is printed
        app.settings.refuse_placeholders("digest editions send")
        make_sender(app.settings).close()
    with session_scope(app.engine) as session:
        if number is None and week is None:
            edition = get_edition(session, **edition_at_hand(session, app.settings).which())
        else:
            edition = get_edition(session, number, week.strip() if week else None)
    if not dry_run and edition.status == EditionStatus.DRAFT and edition.frozen_at is None:
        refuse_if_nobody(app.engine, app.settings, edition)
    plan = send_plan(
        app.engine,
        app.settings,
        edition.number,
        resend_uncertain=resend_uncertain,
        include_future=include_future,
        first_wave=first_wave(app.engine, app.settings, edition.week),
    )
    if not as_json:
        click.echo(plan.as_text(app.settings.backend, dry_run))
    if plan.early is not None and not dry_run:
        raise EditionError(plan.early)
    if not dry_run and plan.readers:
        readers = counted(plan.readers, "reader")
        confirm(yes, f"Send edition {plan.number} to {readers}?", f"sending edition {plan.number} mails {readers}")
    bar = ProgressBar() if sys.stderr.isatty() and not as_json and not dry_run else None
    try:
        with StopOnInterrupt(quiet=as_json) as stop:
            summary = send_edition(
                app.engine,
                app.settings,
                edition.number,
                resend_uncertain=resend_uncertain,
                dry_run=dry_run,
                progress=bar,
                should_stop=stop,
                batch_size=batch_size,
                include_future=include_future,
                refuse_nobody=True,
            )
    finally:
        if bar is not None:
            bar.close()
    figures = summary.as_dict()
    if dry_run:  # what the HTML weighs, against Gmail's clipping point
        with session_scope(app.engine) as session:
            rendered = render_edition(session, get_edition(session, edition.number), app.settings)
        figures.update(size_figures(rendered.letter.html, click_tracking=app.settings.click_tracking))
    click.echo(json.dumps(figures, indent=2) if as_json else summary.as_text())
    if dry_run and not as_json:
        click.echo(size_report(rendered.view, rendered.letter.html, click_tracking=app.settings.click_tracking))
    if summary.status in HALTED:
        sys.exit(1)
