"""`digest demo`: the whole product on the embedded default, in one command."""

from __future__ import annotations

import click


@click.command()
def demo() -> None:
    """Run the demo. (in progress)"""
    raise click.ClickException("not written yet")
