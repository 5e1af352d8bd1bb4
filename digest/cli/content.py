"""`digest import` and `digest comparisons`: the comparison store from the command line."""

from __future__ import annotations

import click


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
def import_command(paths: tuple[str, ...]) -> None:
    """Import comparison page exports (.txt) and JSON files. (in progress)"""
    raise click.ClickException("not written yet")


@click.group()
def comparisons() -> None:
    """Read the comparison store. (in progress)"""
