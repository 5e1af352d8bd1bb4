"""The `digest` command line: a thin skin over the library.

Each command parses its options, calls one library function and prints the
result. DigestError (and its subclasses) become a one-line message and exit
status 1; no stack trace reaches the user.
"""

from __future__ import annotations

import click

from digest import __version__
from digest.cli.app import App, DigestGroup
from digest.cli.content import comparisons, import_command
from digest.cli.db import db
from digest.cli.demo import demo
from digest.cli.stats import stats
from digest.cli.send import send
from digest.cli.editions import edition, preview_command, send_test_command
from digest.cli.scheduler import editions, scheduler, status_command
from digest.cli.readers import subscribers_group
from digest.cli.serve import serve


@click.group(cls=DigestGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="digest")
@click.pass_context
def main(ctx: click.Context) -> None:
    """digest: the weekly newsletter engine for AI tool comparisons.

    Configuration comes from DIGEST_* environment variables (see README.md);
    the default store is ./digest.db and the default sender is ./outbox.

    \b
    Example:
        digest demo
    """
    ctx.obj = App()


main.add_command(db)
main.add_command(import_command)
main.add_command(comparisons)
main.add_command(demo)
main.add_command(stats)
main.add_command(edition)
main.add_command(preview_command)
main.add_command(send_test_command)
main.add_command(scheduler)
main.add_command(status_command)
main.add_command(editions)
main.add_command(send)
main.add_command(subscribers_group)
main.add_command(serve)
