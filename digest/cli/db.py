"""`digest db`: the schema."""

from __future__ import annotations

import click

from digest.cli.app import App, confirm, pass_app, yes_option
from digest.store import current_revisions, describe, head_revisions, make_engine, missing_store, store_exists, upgrade


@click.group()
def db() -> None:
    """Database schema commands.

    `digest db upgrade` creates the store where DIGEST_DATABASE_URL points
    (./digest.db by default) and brings it to the latest revision, say after
    installing a newer digest (back it up first). Other commands bring an
    existing store up to date on their own, but only an import, `subscribers
    add` and the demo create one.

    \b
    Example:
        DIGEST_DATABASE_URL=postgresql://postgres@127.0.0.1/digest digest db upgrade
    """


@db.command("upgrade")
@pass_app
def db_upgrade(app: App) -> None:
    """Apply every migration that the database has not had yet.

    \b
    Example:
        digest db upgrade
    """
    url = app.settings.database_url
    new = not store_exists(url, app.settings.lock_timeout)
    engine = make_engine(url, app.settings.lock_timeout)
    before = current_revisions(engine)
    upgrade(engine)
    after = current_revisions(engine)
    where = describe(url)
    if new:
        click.echo(f"Created a new store: {where}, at revision {', '.join(sorted(after))}.")
    elif before == after:
        click.echo(f"{where} is already at the latest revision ({', '.join(sorted(after))}).")
    else:
        click.echo(f"Upgraded {where} from {', '.join(sorted(before))} to {', '.join(sorted(after))}.")


@db.command("current")
@pass_app
def db_current(app: App) -> None:
    """Print the database's revision and the latest one this version knows.

    \b
    Example:
        digest db current
    """
    url = app.settings.database_url
    if not store_exists(url, app.settings.lock_timeout):
        raise missing_store(url)
    engine = make_engine(url, app.settings.lock_timeout)
    current, heads = current_revisions(engine), head_revisions()
    click.echo(f"store:    {describe(url)}")
    click.echo(f"database: {', '.join(sorted(current)) or 'empty'}")
    click.echo(f"latest:   {', '.join(sorted(heads))}")


@db.command("prune")
@click.option(
    "--before",
    "before_text",
    required=True,
    metavar="DATE",
    help="Prune editions whose send finished before this date (2026-01-01, midnight in DIGEST_TIMEZONE).",
)
@yes_option
@pass_app
def db_prune(app: App, before_text: str, yes: bool) -> None:
    """Drop old editions' ledger rows and raw events, keeping their figures.

    For every edition whose send finished before DATE, its figures (what
    `digest stats`, `stats --by-variant`, `editions show` and the desk print,
    per edition and per variant) are kept in the store, then its per-reader
    ledger rows and SendGrid events are deleted, one edition per transaction;
    a rerun prunes only what is left. The consent log, readers and votes are
    kept. A pruned edition's readers may no longer vote on its comparisons,
    and `editions show --readers` lists none of them. An edition still sending
    or paused is never pruned, nor the newest sent edition. Prints what it
    would drop, then asks (--yes goes ahead without asking).

    \b
    Example:
        digest db prune --before 2026-01-01 --yes
    """
    from digest.stats import prune  # the stats package loads only for this command (start-up time)

    try:
        before = prune.parse_before(before_text, app.settings.timezone)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    engine = app.engine
    refused = prune.refusal(engine, before)
    if refused:
        raise click.ClickException(refused)
    due = prune.prunable(engine, before)
    if not due:
        click.echo(
            f"Nothing to prune: no edition sent before {before_text} is left with its ledger rows "
            "(the newest sent edition is always kept whole)."
        )
        return
    rows, events = sum(p.ledger_rows for p in due), sum(p.events for p in due)
    click.echo(f"{_editions(len(due))} sent before {before_text} ({', '.join(str(p.number) for p in due)}):")
    click.echo(f"  ledger rows {rows:>12,}\n  events      {events:>12,}")
    confirm(
        yes,
        "Keep their figures and delete these rows?",
        f"would delete {rows:,} ledger rows and {events:,} events of {_editions(len(due))}",
    )
    done = prune.prune(engine, before)
    click.echo(
        f"Pruned {_editions(len(done))}: {sum(p.ledger_rows for p in done):,} ledger rows and "
        f"{sum(p.events for p in done):,} events deleted, their figures kept."
    )


def _editions(n: int) -> str:
    return f"{n} edition" if n == 1 else f"{n} editions"
