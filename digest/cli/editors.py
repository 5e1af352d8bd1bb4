"""`digest editors add|list|remove|password`: the accounts that sign in to the desk (/desk)."""

from __future__ import annotations

import click

from digest.cli.app import App, pass_app, read_secret
from digest.editors.accounts import add_editor, list_editors, remove_editor, set_password
from digest.editors.audit import shell_actor
from digest.editors.roles import Role
from digest.store import session_scope

password_stdin = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input (its first line), for scripts; without it, it asks in a terminal.",
)


@click.group("editors")
def editors() -> None:
    """Manage the editors who sign in to the desk at /desk.

    An editor edits, previews, test-sends and approves editions; an owner also
    sends, pauses and resumes them and manages accounts. Every change is in the
    audit log (`digest editions show N --log` shows an edition's).

    \b
    Example:
        printf '%s\\n' "$PASSWORD" | digest editors add ada --role owner --password-stdin
        digest editors list
    """


@editors.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.EDITOR.value,
    show_default=True,
    help="editor: edits and approves; owner: also sends and manages accounts.",
)
@password_stdin
@pass_app
def add(app: App, name: str, role: str, password_stdin: bool) -> None:
    """Add an editor account (a password of at least 12 characters, stored as an argon2 hash).

    \b
    Example:
        printf '%s\\n' "$PASSWORD" | digest editors add grace --password-stdin
    """
    password = read_secret(password_stdin, "Password", "--password-stdin")
    with session_scope(app.store(create=True)) as session:
        account = add_editor(session, name, password, Role(role), shell_actor())
    click.echo(f"Added {account.role} {account.name}; they sign in at {app.settings.base_url}/desk/login.")


@editors.command("list")
@pass_app
def list_command(app: App) -> None:
    """List the editor accounts and their roles.

    \b
    Example:
        digest editors list
    """
    with session_scope(app.engine) as session:
        accounts = list_editors(session)
    if not accounts:
        click.echo("No editors yet (add one with: digest editors add NAME --role owner).")
    for account in accounts:
        click.echo(f"{account.name:<24} {account.role}")


@editors.command("remove")
@click.argument("name")
@pass_app
def remove(app: App, name: str) -> None:
    """Remove an editor account (their entries in the audit log stay; their approvals no longer count).

    \b
    Example:
        digest editors remove grace
    """
    with session_scope(app.engine) as session:
        remove_editor(session, name, shell_actor())
    click.echo(f"Removed {name}.")


@editors.command("password")
@click.argument("name")
@password_stdin
@pass_app
def password(app: App, name: str, password_stdin: bool) -> None:
    """Set an editor's password (it signs them out of the desk everywhere).

    \b
    Example:
        printf '%s\\n' "$PASSWORD" | digest editors password grace --password-stdin
    """
    new = read_secret(password_stdin, "Password", "--password-stdin")
    with session_scope(app.engine) as session:
        set_password(session, name, new, shell_actor())
    click.echo(f"Changed the password of {name}.")
