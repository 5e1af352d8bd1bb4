"""What every command shares: settings and the store, opened lazily, error translation, and the one
rule for asking before anything irreversible (`confirm`)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from digest.errors import DigestError
from subscribers.errors import SubscribersError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from digest.settings import Environment, Settings


class App:
    """Per-invocation context. Opening the store also migrates it. `env_file` is the root group's
    --env-file (None: DIGEST_ENV_FILE, if set, names one).

    `engine` opens a store that exists, and refuses to create one (a command that reads, or changes
    what is there); `store(create=True)` may create it (`subscribers add`, an import), and says so
    with the path on stderr. The commands about editions and readers (`name_store`, set by their
    groups) name the store they opened in one line on stderr, so stdout stays what it was."""

    def __init__(self, settings: Settings | None = None, env_file: str | None = None):
        self._settings = settings
        if settings is not None:
            from subscribers import operators  # only when settings are handed over (tests, tools)

            operators.use_erasure_key(settings.secret_key)
        self._engine: Engine | None = None
        self.env_file = env_file
        self._environment: Environment | None = None
        self.name_store = False

    @property
    def environment(self) -> Environment:
        """The variables settings are read from: the environment over the env file, if any."""
        if self._environment is None:
            from digest.settings import load_environment  # start-up time: see `settings`

            self._environment = load_environment(self.env_file)
            for name in self._environment.overridden:
                click.echo(
                    f"Note: {name} is set in the environment, which wins over its line in {self._environment.file}.",
                    err=True,
                )
        return self._environment

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            # Imported here, not at the top: `digest --version` and `--help` need no settings.
            from digest.settings import Settings
            from subscribers import operators  # with the settings: SQLAlchemy, which --help does not need

            self._settings = Settings.from_env(self.environment)
            operators.use_erasure_key(self._settings.secret_key)  # what an erasure keeps is keyed with it
        return self._settings

    @property
    def engine(self) -> Engine:
        return self.store(create=False)

    def store(self, *, create: bool = False) -> Engine:
        """The store, opened on first use; `create` lets this command create it (and say so)."""
        if self._engine is None:
            # Imported here, not at the top: SQLAlchemy and Alembic cost a command that needs no store.
            from digest.store import describe, open_store, store_exists

            url = self.settings.database_url
            new = create and not store_exists(url, self.settings.lock_timeout)
            self._engine = open_store(url, self.settings.lock_timeout, create=create)
            if new:
                click.echo(f"Created a new store: {describe(url)}.", err=True)
            elif self.name_store:
                click.echo(f"Store: {describe(url)}", err=True)
        return self._engine


class DigestGroup(click.Group):
    """Turns the application's and the subscribers library's errors into one `Error: ...` line with exit
    status 1, and anything else a command did not expect (a database gone, a lock held too long) into one
    too: no traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (DigestError, SubscribersError) as exc:
            raise click.ClickException(str(exc)) from exc
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            raise  # a reader of our output went away (`| head`): click's main ends quietly
        except Exception as exc:  # the last place before a traceback reaches the operator
            # Loaded only on failure: it imports SQLAlchemy, which `digest --help` does without.
            from digest.cli.failures import one_line, operator_message

            app = ctx.find_object(App)
            url = app._settings.database_url if app is not None and app._settings is not None else None
            raise click.ClickException(one_line(operator_message(exc, url))) from exc


pass_app = click.make_pass_decorator(App)


def names_store(ctx: click.Context) -> None:
    """For a group's callback: its commands name the store they open (one line on stderr)."""
    app = ctx.find_object(App)
    if app is not None:
        app.name_store = True


yes_option = click.option(
    "--yes", "-y", is_flag=True, help="Go ahead without asking (needed without a terminal; in one it asks)."
)


def confirm(yes: bool, question: str, refused: str) -> None:
    """The one rule for a command that mails readers or destroys data: with --yes it goes ahead; in a
    terminal it asks `question` (no is the default, and aborts); without one (a script, cron, ssh, CI)
    it refuses with one `Error:` line: `refused` says what it would have done, and --yes is named."""
    if yes:
        return
    if sys.stdin is not None and sys.stdin.isatty():
        click.confirm(question, abort=True, err=True)  # on stderr: stdout may be a file (--json > out)
        return
    raise click.ClickException(f"{refused}; without a terminal to ask in, digest does that only with --yes")


def read_secret(from_stdin: bool, prompt: str, flag: str) -> str:
    """A password: the first line of standard input when `from_stdin` (the `flag` a script passes), else
    asked twice in a terminal, unechoed; without a terminal, a usage error naming `flag`."""
    if from_stdin:
        line = sys.stdin.readline()
        secret = line[:-1] if line.endswith("\n") else line
        if not secret.removesuffix("\r"):
            raise click.UsageError(f"{flag} read nothing from standard input")
        return secret.removesuffix("\r")
    if sys.stdin is None or not sys.stdin.isatty():
        raise click.UsageError(f"there is no terminal to ask in; pass it with {flag}")
    return click.prompt(prompt, hide_input=True, confirmation_prompt=True, err=True)


def check_for_serving(app: App, command: str) -> None:
    """What a long-running command checks before it starts, so that a mistake is one `Error:` line
    now rather than a failure in a background thread later: on a public base URL the secrets and
    the identity (Settings.refuse_placeholders), the mail backend's settings, and SendGrid's
    webhook key if one is set."""
    # Imported here: these load the mail senders and the webhook's crypto, which only servers need.
    from digest.events.signature import verifier_for
    from digest.mail import make_sender

    app.settings.refuse_placeholders(command)
    make_sender(app.settings).close()  # reads the backend's settings; connects to nothing
    if app.settings.webhook_public_key:
        verifier_for(app.settings.webhook_public_key)
