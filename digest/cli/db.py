"""`digest db`: the schema."""

from __future__ import annotations

import click

from digest.cli.app import App, pass_app
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
