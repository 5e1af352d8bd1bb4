"""`digest templates copy DIR`: the shipped templates, written out for a publisher to brand."""

from __future__ import annotations

from pathlib import Path

import click

from digest.render.templates import copy_templates


@click.group("templates")
def templates() -> None:
    """The email and page templates: start a folder of your own, which DIGEST_TEMPLATES then names.

    \b
    Example:
        digest templates copy brand/
        DIGEST_TEMPLATES=brand digest editions preview --serve
    """


@templates.command("copy")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), metavar="DIR")
@click.option("--force", is_flag=True, help="Overwrite templates already in DIR.")
def copy(folder: Path, force: bool) -> None:
    """Write the shipped templates into DIR, to change the masthead, colours and footer.

    Set DIGEST_TEMPLATES=DIR and digest reads a template from DIR when it is
    there (partials and stylesheets included) and the shipped one otherwise, so
    you may keep only the files you change. Files already in DIR are left alone
    unless --force.

    \b
    Example:
        digest templates copy brand/
        export DIGEST_TEMPLATES=$PWD/brand
    """
    written = copy_templates(folder, overwrite=force)
    click.echo(f"Copied {len(written)} templates into {folder}/ (email/, pages/, preview/).")
    click.echo(
        f"Edit them, then set DIGEST_TEMPLATES={folder.resolve()} and preview with: digest editions preview --serve"
    )
