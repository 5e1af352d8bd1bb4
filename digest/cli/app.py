"""What every command shares: settings and the store, opened lazily, and error translation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from digest.errors import DigestError
from subscribers.errors import SubscribersError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from digest.settings import Settings


class App:
    """Per-invocation context. Opening the store also migrates it."""

    def __init__(self, settings: Settings | None = None):
        self._settings = settings
        self._engine: Engine | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            # Imported here, not at the top: `digest --version` and `--help` need no settings.
            from digest.settings import Settings

            self._settings = Settings.from_env()
        return self._settings

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            # Imported here, not at the top: SQLAlchemy and Alembic cost a command that needs no store.
            from digest.store import open_store

            self._engine = open_store(self.settings.database_url)
        return self._engine


class DigestGroup(click.Group):
    """Turns the application's and the subscribers library's errors into one `Error: ...` line, exit status 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (DigestError, SubscribersError) as exc:
            raise click.ClickException(str(exc)) from exc


pass_app = click.make_pass_decorator(App)
