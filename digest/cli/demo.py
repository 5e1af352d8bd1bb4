"""`digest demo`: the whole product on the embedded default, in one command."""

from __future__ import annotations

from pathlib import Path

import click

from digest.cli.app import App, pass_app
from digest.demo import run_demo


@click.command()
@click.option(
    "--dir",
    "folder",
    default="digest-demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The folder for the demo's SQLite store, outbox and preview (reset each run).",
)
@pass_app
def demo(app: App, folder: Path) -> None:
    """Run the whole product on the embedded default, in a folder of its own.

    Creates a fresh SQLite store in the folder, imports the demo comparisons that
    ship with digest as this week's, and lists them. DIGEST_DATABASE_URL and
    DIGEST_OUTBOX are ignored: the demo never touches your own store.

    \b
    Example:
        digest demo --dir /tmp/digest-demo
    """
    run_demo(folder, app.settings, click.echo)
