"""`digest config show`: every setting, its value and where it came from; README's table with --markdown."""

from __future__ import annotations

import click

from digest.cli.app import App, pass_app
from digest.errors import ConfigError
from digest.settings import SETTINGS, markdown_table, report
from digest.words import counted


@click.group("config")
def config() -> None:
    """See the settings digest runs with.

    \b
    Example:
        digest --env-file /etc/digest/env config show
    """


@config.command("show")
@click.option(
    "--markdown", is_flag=True, help="Print README.md's configuration table (every setting, its default and meaning)."
)
@pass_app
def show(app: App, markdown: bool) -> None:
    """Print every setting: its variable, where its value came from and the value (secrets masked).

    A value comes from the environment, from the env file (--env-file before
    the command, or the file DIGEST_ENV_FILE names; its path and line are
    shown), or is the default. A variable set in the environment wins over the
    env file's line. Every value is checked; each malformed one is listed with
    what is wrong, and the command then fails. `digest settings` is the old
    spelling of this command.

    --markdown prints the table README.md's "Configuration" holds between its
    `settings:` markers, generated from the same list.

    \b
    Example:
        digest --env-file /etc/digest/env config show
        DIGEST_BACKEND=sendgrid digest config show
        digest config show --markdown
    """
    if markdown:
        click.echo(markdown_table(), nl=False)
        return
    environment = app.environment
    click.echo(f"Env file: {environment.file if environment.file is not None else 'none'}")
    rows = report(environment)
    width = max(len(s.variable) for s in SETTINGS)
    source_width = max(len(row.source) for row in rows)
    for row in rows:
        shown = f"Error: {row.error}" if row.error else row.shown
        click.echo(f"{row.setting.variable:<{width}}  {row.source:<{source_width}}  {shown}")
    wrong = [row for row in rows if row.error]
    if wrong:
        names = ", ".join(row.setting.variable for row in wrong)
        raise ConfigError(f"{counted(len(wrong), 'setting')} malformed: {names}")
