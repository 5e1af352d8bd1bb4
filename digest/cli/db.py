"""`digest db`: the schema."""

from __future__ import annotations

import click

from digest.cli.app import App, pass_app
from digest.store import current_revisions, head_revisions, make_engine, upgrade


@click.group()
def db() -> None:
    """Database schema commands.

    Every command migrates the store on its own; these are for operators who
    want to do it explicitly (say, before starting several instances).

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
    engine = make_engine(app.settings.database_url, app.settings.lock_timeout)
    before = current_revisions(engine)
    upgrade(engine)
    after = current_revisions(engine)
    if before == after:
        click.echo(f"Already at the latest revision ({', '.join(sorted(after))}).")
    else:
        click.echo(f"Upgraded from {', '.join(sorted(before)) or 'an empty database'} to {', '.join(sorted(after))}.")


@db.command("current")
@pass_app
def db_current(app: App) -> None:
    """Print the database's revision and the latest one this version knows.

    \b
    Example:
        digest db current
    """
    engine = make_engine(app.settings.database_url, app.settings.lock_timeout)
    current, heads = current_revisions(engine), head_revisions()
    click.echo(f"database: {', '.join(sorted(current)) or 'empty'}")
    click.echo(f"latest:   {', '.join(sorted(heads))}")
