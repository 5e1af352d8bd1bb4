"""The `digest` command line: a thin skin over the library, one group per noun.

Each command parses its options, calls one library function and prints the
result. DigestError (and its subclasses) become a one-line message and exit
status 1; no stack trace reaches the user.

Commands are imported only when they run (or when --help lists them): a
command that does not serve pages loads neither FastAPI nor matplotlib, and
`digest --version` loads nothing at all.
"""

from __future__ import annotations

import functools
import importlib

import click

from digest import __version__
from digest.cli.app import App, DigestGroup
from digest.cli.terminal import guard_output

COMMANDS = {  # name -> "module:attribute", loaded on first use
    "comparisons": "digest.cli.comparisons:comparisons",
    "editions": "digest.cli.editions:editions",
    "editors": "digest.cli.editors:editors",
    "subscribers": "digest.cli.subscribers:subscribers_group",
    "scheduler": "digest.cli.scheduler:scheduler",
    "serve": "digest.cli.serve:serve",
    "db": "digest.cli.db:db",
    "stats": "digest.cli.stats:stats",
    "demo": "digest.cli.demo:demo",
    "templates": "digest.cli.templates:templates",
    "config": "digest.cli.config:config",
    "doctor": "digest.cli.doctor:doctor",
}
# The spellings of earlier versions: they keep working, hidden from --help, with a note naming the new one.
OLD_SPELLINGS = {
    "import": "comparisons import",
    "edition": "editions",
    "preview": "editions preview",
    "send": "editions send",
    "send-test": "editions send-test",
    "status": "scheduler status",
    "settings": "config show",
}


def _load(path: str) -> click.Command:
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _old_spelling(old: str, new: str, command: click.Command) -> click.Command:
    """A hidden copy of `command` under its old name that says, on stderr, what it is called now."""
    callback = command.callback

    @functools.wraps(callback)
    def noted(*args, **kwargs):
        click.echo(f"Note: `digest {old}` is now `digest {new}`; the old spelling still works.", err=True)
        return callback(*args, **kwargs)

    params = dict(
        name=old,
        params=command.params,
        help=command.help,
        short_help=command.short_help,
        epilog=command.epilog,
        context_settings=command.context_settings,
        hidden=True,
        callback=noted,
    )
    if isinstance(command, click.Group):
        return type(command)(commands=command.commands, **params)
    return type(command)(**params)


def _env_file_first(args: list[str]) -> list[str]:
    """`--env-file PATH` (or `--env-file=PATH`) moved to the front wherever it was given before a
    `--`, so that it works after the command too (`digest doctor --env-file /etc/digest/env`)."""
    rest, moved, i = [], [], 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        if arg == "--env-file" and i + 1 < len(args):
            moved, i = [arg, args[i + 1]], i + 2
            continue
        if arg.startswith("--env-file="):
            moved, i = [arg], i + 1
            continue
        rest.append(arg)
        i += 1
    return moved + rest


class LazyGroup(DigestGroup):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _env_file_first(args))

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as exc:
            # click suggests from the commands it holds; ours load on first use, so name them all.
            raise click.exceptions.NoSuchCommand(exc.command_name, possibilities=sorted(COMMANDS), ctx=ctx) from None

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            return _load(COMMANDS[name])
        if name in OLD_SPELLINGS:
            new = OLD_SPELLINGS[name]
            group, *rest = new.split()
            command = _load(COMMANDS[group])
            for part in rest:
                command = command.commands[part]
            return _old_spelling(name, new, command)
        return None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="digest")
@click.option(
    "--env-file",
    metavar="PATH",
    help="Read settings from this file too, in systemd's EnvironmentFile format (NAME=value lines, "
    "# comments, quotes), as the service does; a variable set in the environment wins over the "
    "file. It may come before or after the command. Default: the file DIGEST_ENV_FILE names, if set.",
)
@click.pass_context
def main(ctx: click.Context, env_file: str | None) -> None:
    """digest: the weekly newsletter engine for AI tool comparisons.

    Configuration comes from DIGEST_* environment variables, or an environment
    file (--env-file, before the command: the service's own file, so an ad-hoc
    command sees what the service sees). `digest config show` lists every
    setting, its value and where it came from; `digest doctor` checks a box
    before it goes live. The default store is ./digest.db and the default
    sender is ./outbox.

    \b
    Example:
        digest demo
        digest --env-file /etc/digest/env doctor
    """
    guard_output()  # from here on, nothing printed passes control characters to the terminal
    ctx.obj = App(env_file=env_file)
