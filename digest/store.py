"""Opening the database: one engine per process, schema brought to the latest revision.

Every command calls `open_store`, so a fresh database needs no separate set-up
step. SQLite is tuned for one box (WAL, a busy timeout, foreign keys on);
PostgreSQL URLs are routed to psycopg 3.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlmodel import Session

from digest.errors import StoreError

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA_HEAD = "0008"  # the newest migration's revision: a new migration changes it
_PG_MIGRATION_LOCK = 0x64696765  # "dige": serializes migrations across processes


def normalize_url(url: str) -> str:
    """postgres:// and postgresql:// use psycopg 3; anything else is left alone."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"DIGEST_DATABASE_URL is not a database URL: {url!r}") from exc
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if not (parsed.drivername.startswith("sqlite") or parsed.drivername.startswith("postgresql")):
        raise StoreError(f"DIGEST_DATABASE_URL must be a sqlite:/// or postgresql:// URL, got {url!r}")
    return parsed.render_as_string(hide_password=False)


def insert_into(bind: sa.engine.Connection | Session, table: sa.Table):
    """An INSERT in the bind's own dialect, so ON CONFLICT and RETURNING are at hand."""
    dialect = bind.get_bind().dialect if isinstance(bind, Session) else bind.dialect
    return (postgresql if dialect.name == "postgresql" else sqlite).insert(table)


def make_engine(url: str, lock_timeout: float = 30.0) -> Engine:
    """An engine for `url`. A statement waiting for a lock longer than `lock_timeout` seconds
    (SQLite's busy timeout, PostgreSQL's lock_timeout) fails instead of waiting for ever."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": lock_timeout, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(lock_timeout * 1000)}")
            if ":memory:" not in url:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        connect_args={"connect_timeout": 10, "options": f"-c lock_timeout={int(lock_timeout * 1000)}"},
    )


def _alembic_config(connection):
    from alembic.config import Config  # Alembic loads only when a migration runs: every command pays start-up time

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revisions() -> set[str]:
    """The newest revisions, as Alembic reads them from the migration scripts."""
    # Alembic loads here, not at import: most commands never need it (see open_store).
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return set(ScriptDirectory.from_config(config).get_heads())


def current_revisions(engine: Engine) -> set[str]:
    from alembic.migration import MigrationContext  # start-up time: see head_revisions

    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def upgrade(engine: Engine) -> None:
    """Apply every migration not yet applied. Safe to call from several processes at once."""

    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        else:
            # Take SQLite's write lock before reading the revision, so two processes
            # migrating a fresh file queue up instead of both creating tables.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        from alembic import command  # start-up time: see head_revisions

        command.upgrade(_alembic_config(connection), "heads")


def stored_revisions(engine: Engine) -> set[str]:
    """The revisions the database says it is at (none for a fresh one), read without Alembic."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("alembic_version"):
            return set()
        return set(connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())


def database_problem(exc: sa.exc.SQLAlchemyError, url: str) -> str:
    """One line for an operator: what went wrong with the database at `url`, and what to do."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    said = lines[0].strip() if lines else type(orig).__name__
    try:
        where = make_url(normalize_url(url)).render_as_string(hide_password=True)
    except StoreError:
        where = "in DIGEST_DATABASE_URL"
    lowered = said.lower()
    if "does not exist" in lowered and "database" in lowered:
        return (
            f"the database {where} does not exist ({said}); create it (for PostgreSQL: createdb) "
            "or set DIGEST_DATABASE_URL to one that does"
        )
    if "lock timeout" in lowered or "database is locked" in lowered:
        return (
            f"the database {where} is busy: another process held a lock longer than DIGEST_LOCK_TIMEOUT "
            f"allows ({said}); run the command again once it is done"
        )
    if "unable to open database file" in lowered:
        return (
            f"cannot open the SQLite file {where} ({said}); check that its folder exists and that digest "
            "may write there"
        )
    if isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)):
        return (
            f"the connection to the database {where} failed or was dropped ({said}); check that it is "
            "running and reachable, then run the command again"
        )
    return f"the database {where} refused a statement ({said})"


def open_store(url: str, lock_timeout: float = 30.0) -> Engine:
    """An engine for `url` with the schema at the latest revision.

    A database already at SCHEMA_HEAD is opened without loading Alembic (a
    quarter of a second of every command's start); tests/test_schema.py checks
    that SCHEMA_HEAD is what the migration scripts say.
    """
    engine = make_engine(url, lock_timeout)
    try:
        if stored_revisions(engine) != {SCHEMA_HEAD}:
            upgrade(engine)
    except OperationalError as exc:
        raise StoreError(database_problem(exc, url)) from exc
    return engine


def take_write_lock(session: Session) -> None:
    """On SQLite, take the database's write lock now (waiting for it as for any lock), before a
    transaction reads what it then writes. A SAVEPOINT opens a deferred transaction whose first read
    fixes its view of the file; if another process commits before its first write, that write fails
    at once with "database is locked" (WAL mode cannot move it to a newer view). No-op elsewhere, or
    once a transaction is open."""
    connection = session.connection()
    if connection.dialect.name == "sqlite" and not connection.connection.driver_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed if the block succeeds, rolled back otherwise."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
