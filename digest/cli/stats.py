"""`digest stats`: how each edition did, and how the readership grows."""

from __future__ import annotations

import json

import click

from digest.cli.app import App, pass_app
from digest.stats.chart import WIDTH, ChartError, chart_format, write_chart
from digest.stats.figures import (
    COUNTS,
    NOT_REPORTED,
    OPENS_CAVEAT,
    RATE_OF,
    Report,
    load_report,
    percent,
    variant_figures,
)
from digest.store import session_scope
from digest.timeutil import utcnow
from subscribers.status import LAPSED


def _check_plot(_ctx, _param, value: str | None) -> str | None:
    if value is not None:
        try:
            chart_format(value)
        except ChartError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


def _cell(edition, name: str) -> str:
    value = getattr(edition, name)
    if value is None:
        return "not reported"
    rate = edition.rates.get(RATE_OF.get(name, ""))
    return f"{value} ({percent(rate)})" if name in RATE_OF else str(value)


def _print(report: Report) -> None:
    if not report.editions:
        click.echo("No editions have gone out yet.")
    else:
        widths = [7, 9] + [max(len(name), 12) for name in COUNTS]
        head = ["edition", "week", *COUNTS]
        click.echo("  ".join(f"{h:>{w}}" for h, w in zip(head, widths)))
        for e in report.editions:
            cells = [str(e.number), e.week] + [_cell(e, name) for name in COUNTS]
            click.echo("  ".join(f"{c:>{w}}" for c, w in zip(cells, widths)))
        click.echo(
            "Rates: delivered, votes, bounces, complaints and unsubscribes of sent; opens and clicks of delivered."
        )
        click.echo(OPENS_CAVEAT)
        if not all(e.reported for e in report.editions):
            click.echo(
                f"not reported: {NOT_REPORTED} (the outbox and SMTP hear nothing back after handing mail "
                "over; SendGrid reports deliveries, opens, clicks, bounces and complaints)."
            )
    click.echo("")
    if not report.growth:
        click.echo("No readers yet.")
        return
    click.echo(
        f"{'week':>9}  {'signed up':>9}  {'clicked':>7}  {'joined':>6}  {'left':>5}  {LAPSED:>6}  {'net':>5}  "
        f"{'readers':>7}"
    )
    for g in report.growth[-12:]:
        click.echo(
            f"{g.week:>9}  {g.signed_up:>9}  {g.clicked:>7}  {g.joined:>6}  {g.left:>5}  {g.lapsed:>6}  {g.net:>+5}  "
            f"{g.total:>7}"
        )
    click.echo(
        "clicked: confirmation links clicked; joined: readers confirmed (by the link, or added as confirmed); "
        f"{LAPSED}: stopped after an unanswered re-permission mail (apart from those who left)."
    )
    if len(report.growth) > 12:
        click.echo(f"(the last 12 of {len(report.growth)} weeks; --json has them all)")


@click.command("stats")
@click.option("--edition", "number", type=click.IntRange(min=1), metavar="N", help="Only edition N.")
@click.option(
    "--json", "as_json", is_flag=True, help="The figures as JSON (rates as fractions, null when their base is zero)."
)
@click.option(
    "--plot",
    callback=_check_plot,
    metavar="FILE.png|svg",
    help="Also draw a chart per metric over editions, and active readers per week, into FILE.",
)
@click.option(
    "--width",
    type=click.IntRange(300, 4000),
    default=WIDTH,
    show_default=True,
    metavar="PX",
    help="The chart's width in pixels; under 700 its panels stack in one column, for a phone.",
)
@click.option(
    "--by-variant",
    is_flag=True,
    help="With --edition: its figures split by variant (the comparisons each group of readers got).",
)
@pass_app
def stats(app: App, number: int | None, as_json: bool, plot: str | None, width: int, by_variant: bool) -> None:
    """Show each edition's figures and subscriber growth per week.

    Per edition: sent, delivered, unique opens, unique clicks, votes, bounces,
    complaints and unsubscribes, each counted in readers, with their rates.
    Sent comes from the ledger; votes and unsubscribes from digest itself (and
    SendGrid's events); delivered, opens, clicks, bounces and complaints only
    from SendGrid's events (the webhook at POST /webhooks/sendgrid), so they
    fill in as events arrive and read "not reported" for an edition the outbox
    or SMTP sent. Opens are unreliable (Apple Mail opens every mail); clicks
    and votes are the engagement figures. Per week: sign-ups, confirmation
    clicks, readers joined and left, and active readers.

    \b
    Example:
        digest stats
        digest stats --edition 3 --json
        digest stats --plot stats.png
        digest stats --plot phone.png --width 375
        digest stats --edition 3 --by-variant
    """
    app.name_store = True  # figures of editions and readers: say whose
    if by_variant:
        if number is None:
            raise click.UsageError("--by-variant needs --edition N")
        with session_scope(app.engine) as session:
            lines = variant_figures(session, number)
        if as_json:
            click.echo(json.dumps([line.as_dict() for line in lines], indent=2))
        else:
            _print_variants(lines)
        return
    with session_scope(app.engine) as session:
        report = load_report(session, app.settings.timezone, number, until=utcnow())
    if plot:
        write_chart(report, plot, title=f"{app.settings.newsletter_name}: edition stats", width=width)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print(report)
    if plot:
        click.echo(f"Chart written to {plot}", err=as_json)


def _print_variants(lines) -> None:
    if not lines:
        click.echo("No variant of this edition has gone out yet.")
        return
    for line in lines:
        e = line.figures
        figures = ", ".join(
            f"{getattr(e, name)} {name}" + (f" ({percent(e.rates[RATE_OF[name]])})" if name in RATE_OF else "")
            for name in COUNTS
        )
        click.echo(f"variant {line.variant} ({', '.join(line.comparisons)}): {figures}")
