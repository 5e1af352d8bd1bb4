"""`digest demo`: the whole product on the embedded default, in one command."""

from __future__ import annotations

from pathlib import Path

import click

from digest.cli.app import App, confirm, pass_app, yes_option
from digest.demo import not_the_demos, run_demo


@click.command()
@click.option(
    "--dir",
    "folder",
    default="digest-demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The folder for the demo's SQLite store, outbox and preview (reset each run).",
)
@yes_option
@pass_app
def demo(app: App, folder: Path, yes: bool) -> None:
    """Run the whole product on the embedded default, in a folder of its own.

    Creates a fresh SQLite store in the folder, imports the demo comparisons that
    ship with digest as this week's, and lists them. DIGEST_DATABASE_URL and
    DIGEST_OUTBOX are ignored: the demo never touches your own store. A folder
    holding a store or an outbox that no demo made is erased only after a yes
    in a terminal, or with --yes.

    \b
    Example:
        digest demo --dir /tmp/digest-demo
    """
    found = not_the_demos(folder)
    if found:
        confirm(
            yes,
            f"{folder} holds {', '.join(found)}, which no demo made. Erase them for the demo?",
            f"the demo would erase {', '.join(found)} in {folder}, which no demo made",
        )
    run_demo(folder, app.settings, click.echo)
