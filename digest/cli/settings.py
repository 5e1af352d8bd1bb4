"""`digest settings`: every setting, its value and where it came from; README's table with --markdown."""

from __future__ import annotations

import click

from digest.errors import ConfigError
from digest.settings import SETTINGS, markdown_table, report


@click.command("settings")
@click.option(
    "--markdown", is_flag=True, help="Print README.md's configuration table (every setting, its default and meaning)."
)
def settings_command(markdown: bool) -> None:
    """Print every setting: its variable, its value (secrets masked) and where it came from
    (the environment or the default). Every value is checked; each malformed one is listed
    with what is wrong, and the command then fails.

    --markdown prints the table README.md's "Configuration" holds between its
    `settings:` markers, generated from the same list.

    \b
    Example:
        DIGEST_BACKEND=sendgrid digest settings
        digest settings --markdown
    """
    if markdown:
        click.echo(markdown_table(), nl=False)
        return
    rows = report()
    width = max(len(s.variable) for s in SETTINGS)
    for row in rows:
        shown = f"Error: {row.error}" if row.error else row.shown
        click.echo(f"{row.setting.variable:<{width}}  {row.source:<11}  {shown}")
    wrong = [row for row in rows if row.error]
    if wrong:
        names = ", ".join(row.setting.variable for row in wrong)
        raise ConfigError(f"{len(wrong)} setting{'s' if len(wrong) != 1 else ''} malformed: {names}")
