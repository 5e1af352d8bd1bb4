"""Opening the database: one engine per process, schema brought to the latest revision.

`open_store` brings a store behind the code to the latest revision. It creates
a store only when asked (`create=True`: `digest db upgrade`, the demo, the
first import or `subscribers add`); everything else refuses a missing SQLite
file or a database that holds no digest store (StoreMissing), naming where it
looked, so a command run in the wrong folder never answers from a new, empty
store. A database at a revision newer than the code is refused too. SQLite is
tuned for one box (WAL, a busy timeout, foreign keys on); PostgreSQL URLs are
routed to psycopg 3.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlmodel import Session

from digest.errors import StoreDisconnected, StoreError, StoreFull, StoreGone, StoreMissing

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA_HEAD = "0017_sendspeed"  # the newest migration's revision: a new migration changes it
_PG_MIGRATION_LOCK = 0x64696765  # "dige": serializes migrations across processes


URL_EXAMPLES = (
    "such as sqlite:///digest.db (a file in this folder), sqlite:////var/lib/digest/digest.db "
    "(an absolute path: four slashes) or postgresql://digest:PASSWORD@127.0.0.1:5432/digest"
)


def normalize_url(url: str) -> str:
    """postgres:// and postgresql:// use psycopg 3; anything else is left alone. A URL digest could not
    open as meant (no file after sqlite://, no database after postgresql://) is refused with examples."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"DIGEST_DATABASE_URL is not a database URL: {url!r}; give one {URL_EXAMPLES}") from exc
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if not (parsed.drivername.startswith("sqlite") or parsed.drivername.startswith("postgresql")):
        raise StoreError(f"DIGEST_DATABASE_URL must be a sqlite:/// or postgresql:// URL, got {url!r}; {URL_EXAMPLES}")
    if parsed.drivername.startswith("sqlite") and (parsed.host or parsed.port):
        raise StoreError(
            f"DIGEST_DATABASE_URL {url!r} names no SQLite file (a file needs three slashes after sqlite:); "
            f"give one {URL_EXAMPLES}"
        )
    if parsed.drivername.startswith("postgresql") and not parsed.database:
        raise StoreError(
            f"DIGEST_DATABASE_URL {_hidden(parsed)!r} names no database after the host; give one {URL_EXAMPLES}"
        )
    return parsed.render_as_string(hide_password=False)


def _hidden(parsed) -> str:
    return parsed.render_as_string(hide_password=True)


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (absolute), or None for PostgreSQL and SQLite in memory."""
    parsed = make_url(normalize_url(url))
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    if parsed.database.startswith("file:"):
        return None
    return Path(parsed.database).resolve()


def describe(url: str) -> str:
    """Where a store is, for a person: the SQLite file's absolute path, or the URL without its password."""
    try:
        path = sqlite_file(url)
        return (
            f"{path} (SQLite)"
            if path is not None
            else _hidden(make_url(normalize_url(url)).set(drivername="postgresql"))
        )
    except StoreError:
        return "DIGEST_DATABASE_URL (malformed)"


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


def known_revisions() -> set[str]:
    """Every revision the migration scripts know, the oldest to the newest."""
    # Alembic loads here: only a database not at SCHEMA_HEAD needs it (see open_store).
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}


def refuse_newer(stored: set[str], url: str) -> None:
    """A database another, newer digest migrated: this code does not know its schema, so it must not touch it."""
    unknown = stored - known_revisions()
    if unknown:
        from digest import __version__  # the package's version, for the message

        raise StoreError(
            f"the database {describe(url)} is at revision {', '.join(sorted(unknown))}, newer than this digest "
            f"({__version__}, whose latest revision is {SCHEMA_HEAD}) knows: a newer digest upgraded it. "
            "Upgrade digest (pip install --upgrade digest) to use it, or set DIGEST_DATABASE_URL to the store you meant"
        )


class _MigrationFailed(Exception):
    """Inside `upgrade`: a migration script failed (its cause says how)."""


def _connection_trouble(exc: BaseException) -> bool:
    """A failure of the connection or of waiting for a lock, rather than of the migration's SQL."""
    if not isinstance(exc, OperationalError):
        return False
    said = str(exc).lower()
    return exc.connection_invalidated or any(
        words in said for words in ("database is locked", "lock timeout", "connection", "server closed", "terminat")
    )


@contextmanager
def _foreign_keys_off(connection: sa.engine.Connection) -> Iterator[None]:
    """SQLite's procedure for rebuilding a table (sqlite.org/lang_altertable.html, "Making Other Kinds Of
    Table Schema Changes"): foreign keys off outside the transaction, checked before it commits, on
    again after. With them on, dropping the old copy of a table would cascade its deletes to every
    table referring to it (its readers' ledger rows and consent logs, say)."""
    if connection.dialect.name != "sqlite":
        yield
        return
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()  # PRAGMA foreign_keys is a no-op inside a transaction
    try:
        yield
    finally:
        connection.rollback()  # whatever the migration left open; its own transaction is over by now
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


def _check_foreign_keys(connection: sa.engine.Connection) -> None:
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise StoreError(
                f"a migration left {len(broken)} rows whose foreign key points nowhere (first: {broken[0]})"
            )


def upgrade(engine: Engine) -> None:
    """Apply every migration not yet applied. Safe to call from several processes at once.

    A database newer than the code is refused (StoreError, nothing touched); a migration that fails
    is rolled back with the transaction it ran in, and the StoreError says which revision the
    database is still at."""
    url = engine.url.render_as_string(hide_password=False)
    try:
        with engine.connect() as connection, _foreign_keys_off(connection), connection.begin():
            if engine.dialect.name == "postgresql":
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            else:
                # Take SQLite's write lock before reading the revision, so two processes
                # migrating a fresh file queue up instead of both creating tables.
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            refuse_newer(
                set(connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
                if sa.inspect(connection).has_table("alembic_version")
                else set(),
                url,
            )
            from alembic import command  # start-up time: see head_revisions

            try:
                command.upgrade(_alembic_config(connection), "heads")
                _check_foreign_keys(connection)
            except Exception as exc:
                if _connection_trouble(exc):
                    raise  # said by database_problem: a connection that went away, a lock held too long
                raise _MigrationFailed() from exc  # said below, once the transaction is rolled back
    except _MigrationFailed as failed:  # a migration's own failure: SQL refused, a constraint, a bug in a script
        exc = failed.__cause__
        lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        said = lines[0].strip() if lines else type(exc).__name__
        try:
            at = ", ".join(sorted(stored_revisions(engine))) or "no revision (empty)"
        except Exception:  # the database went away as well: say what we know
            at = "an unknown revision"
        raise StoreError(
            f"migrating the database {describe(url)} to revision {SCHEMA_HEAD} failed ({type(exc).__name__}: {said}); "
            f"it was rolled back and the database is at {at}. Fix the cause, then run: digest db upgrade"
        ) from exc


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
        parsed = make_url(normalize_url(url))
        where, login = parsed.render_as_string(hide_password=True), parsed.username
    except StoreError:
        where, login = "in DIGEST_DATABASE_URL", None
    lowered = said.lower()
    if (
        "password authentication failed" in lowered
        or "no password supplied" in lowered
        or ("role" in lowered and "does not exist" in lowered)
    ):
        return (
            f"the database server of {where} refused to log in as {login or 'the user in DIGEST_DATABASE_URL'} "
            f"({said}); check the user name and password in DIGEST_DATABASE_URL "
            "(postgresql://USER:PASSWORD@HOST:5432/DATABASE)"
        )
    if "pg_hba.conf" in lowered:
        return (
            f"the database server of {where} does not accept this connection ({said}); allow it in the server's "
            "pg_hba.conf, or check the user, host and database in DIGEST_DATABASE_URL"
        )
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
    if _disk_full(exc, lowered):
        return (
            f"the disk holding the database {where} is full ({said}); nothing of this command's write was "
            "kept: free some space there, then run the command again"
        )
    if _connection_lost(exc, lowered):
        return (
            f"the connection to the database {where} was lost mid-way ({said}): the server restarted or "
            "stopped, or the network dropped; its transaction was rolled back, so run the command again "
            "once the server is back"
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


_DISK_FULL = ("database or disk is full", "no space left on device", "could not extend file", "disk full")
_LOST = (
    "server closed the connection unexpectedly",
    "terminating connection",
    "connection already closed",
    "the connection is closed",
    "consuming input failed",
    "ssl connection has been closed unexpectedly",
    "connection is lost",
)


def _sqlstate(exc: sa.exc.SQLAlchemyError) -> str:
    return str(getattr(getattr(exc, "orig", None), "sqlstate", None) or "")


def _disk_full(exc: sa.exc.SQLAlchemyError, lowered: str) -> bool:
    return _sqlstate(exc) == "53100" or any(words in lowered for words in _DISK_FULL)


def _connection_lost(exc: sa.exc.SQLAlchemyError, lowered: str) -> bool:
    """A connection that was open and went away, as opposed to one that could not be made."""
    if "connection to server at" in lowered or "connection failed" in lowered:
        return False  # dropped while connecting: it never was open
    if _sqlstate(exc) in ("57P01", "57P02", "08006", "08003"):  # admin shutdown, crash shutdown, failure, gone
        return True
    return bool(getattr(exc, "connection_invalidated", False)) or any(words in lowered for words in _LOST)


def store_error(exc: sa.exc.SQLAlchemyError, url: str) -> StoreError:
    """The typed error for a database failure digest did not raise itself, with `database_problem`'s words:
    StoreFull for a full disk, StoreDisconnected for a connection lost mid-way, else StoreError."""
    message = database_problem(exc, url)
    lowered = str(getattr(exc, "orig", None) or exc).lower()
    if _disk_full(exc, lowered):
        return StoreFull(message)
    if _connection_lost(exc, lowered):
        return StoreDisconnected(message)
    return StoreError(message)


def missing_store(url: str) -> StoreMissing:
    path = sqlite_file(url)
    what = f"there is no store at {path}" if path is not None else f"the database {describe(url)} holds no digest store"
    return StoreMissing(
        f"{what} (DIGEST_DATABASE_URL); create it with: digest db upgrade, "
        "or set DIGEST_DATABASE_URL to the store you meant"
    )


def open_store(url: str, lock_timeout: float = 30.0, *, create: bool = True) -> Engine:
    """An engine for `url` with the schema at the latest revision.

    With `create=False` a store that does not exist yet (a missing SQLite file, a database with no
    digest schema) is refused with StoreMissing, and nothing is created; an existing one behind the
    code is still brought up to date. A database already at SCHEMA_HEAD is opened without loading
    Alembic (a quarter of a second of every command's start); tests/test_schema.py checks that
    SCHEMA_HEAD is what the migration scripts say.
    """
    path = sqlite_file(url)
    if not create and path is not None and not path.exists():
        raise missing_store(url)  # before connecting: SQLite would create the file
    engine = make_engine(url, lock_timeout)
    try:
        stored = stored_revisions(engine)
        if stored != {SCHEMA_HEAD}:
            if not stored and not create:
                engine.dispose()
                raise missing_store(url)
            upgrade(engine)
    except OperationalError as exc:
        raise StoreError(database_problem(exc, url)) from exc
    return engine


def store_exists(url: str, lock_timeout: float = 30.0) -> bool:
    """Whether `url` holds a digest store already (created by nothing: a missing SQLite file stays missing)."""
    path = sqlite_file(url)
    if path is not None and not path.exists():
        return False
    engine = make_engine(url, lock_timeout)
    try:
        return bool(stored_revisions(engine))
    except OperationalError as exc:
        raise StoreError(database_problem(exc, url)) from exc
    finally:
        engine.dispose()


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


class StoreFile:
    """A SQLite store's file as a long-running process (`digest serve`) opened it. Deleted under the
    process, SQLite goes on reading and writing the unlinked file through the connections it holds
    (every write then lost) and makes a new empty file for the next connection; `check()` says so
    (StoreGone) when the path no longer names the file first opened. PostgreSQL: never raises."""

    def __init__(self, engine: Engine):
        self.path = sqlite_file(engine.url.render_as_string(hide_password=False))
        self.identity = _file_identity(self.path) if self.path is not None else None

    def check(self) -> None:
        if self.path is None or _file_identity(self.path) == self.identity:
            return
        raise StoreGone(
            f"the SQLite store {self.path} was deleted or replaced while this process ran; restore it "
            "from a backup and restart the process"
        )


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
