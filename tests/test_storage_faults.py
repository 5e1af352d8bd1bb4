"""A full disk and a lost database connection say which they are (issue 24, item 9).

SQLite on a tmpfs that fills up ("database or disk is full"), an outbox or export on a full disk
(ENOSPC), and a PostgreSQL connection whose server process is terminated under it: each is named as
such, by its own type in digest.errors (StoreFull, DiskFull, StoreDisconnected), in the command
line's one `Error:` line and the web's 503, never as a connection that "failed" or a bug.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import add_readers, serve_site, tmpfs

from digest.cli import main
from digest.cli.failures import operator_message
from digest.errors import StoreDisconnected, StoreFull
from digest.store import make_engine, sqlite_file, store_error


def fill(folder) -> None:
    """Write a file into `folder` until its disk is full."""
    subprocess.run(["dd", "if=/dev/zero", f"of={folder / 'filler'}", "bs=4k"], capture_output=True, check=False)


def test_sqlite_on_a_full_disk_is_named_a_full_disk_on_the_command_line(sqlite_url, tmp_path, monkeypatch):
    with tmpfs(tmp_path / "disk", "size=2m") as disk:
        shutil.copyfile(sqlite_file(sqlite_url), disk / "digest.db")
        url = f"sqlite:///{disk / 'digest.db'}"
        monkeypatch.setenv("DIGEST_DATABASE_URL", url)
        listing = tmp_path / "readers.csv"
        listing.write_text("email\n" + "".join(f"reader{i:06d}@example.com\n" for i in range(40_000)))
        result = CliRunner().invoke(main, ["subscribers", "import", str(listing), "--confirmed"])
        assert result.exit_code == 1, result.output
        assert "Error: the disk holding the database" in result.output, result.output
        assert "is full (database or disk is full)" in result.output and "free some space" in result.output
        assert "Traceback" not in result.output and "connection" not in result.output


def test_a_sign_up_on_a_full_disk_is_a_503_that_says_the_disk_is_full(sqlite_url, tmp_path):
    with tmpfs(tmp_path / "disk", "size=4m") as disk:
        shutil.copyfile(sqlite_file(sqlite_url), disk / "digest.db")
        with serve_site(f"sqlite:///{disk / 'digest.db'}", subscribe_rate_limit="1000/minute") as site:
            assert site.http.post("/subscribe", json={"email": "first@example.com"}).status_code == 202
            fill(disk)
            refused = [site.http.post("/subscribe", json={"email": f"r{i}@example.com"}) for i in range(50)]
            full = [answer for answer in refused if answer.status_code != 202]
            assert full, "every sign-up was taken on a full disk"
            assert {answer.status_code for answer in full} == {503}
            assert "The server's disk is full, so nothing could be saved" in full[0].json()["errors"][0]["message"]
            (disk / "filler").unlink()
            assert site.http.post("/subscribe", json={"email": "after@example.com"}).status_code == 202


def test_an_export_to_a_full_disk_is_named_a_full_disk(cli_env, tmp_path):
    from digest.store import open_store

    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    add_readers(engine, 2000)
    engine.dispose()
    with tmpfs(tmp_path / "disk", "size=64k") as disk:
        result = CliRunner().invoke(main, ["subscribers", "export", "--output", str(disk / "readers.csv")])
    assert result.exit_code == 1, result.output
    assert "the disk is full (No space left on device); free some space there" in result.output, result.output


def test_a_postgresql_connection_lost_mid_way_is_named_so(pg_url):
    engine = make_engine(pg_url)
    other = make_engine(pg_url)
    try:
        with engine.connect() as connection:
            pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar()
            with other.connect() as killer:
                killer.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            with pytest.raises(sa.exc.SQLAlchemyError) as lost:
                connection.execute(sa.text("SELECT 1"))
            connection.invalidate()  # it is gone: no rollback on it
        typed = store_error(lost.value, pg_url)
        assert isinstance(typed, StoreDisconnected), typed
        assert "was lost mid-way" in str(typed) and "run the command again once the server is back" in str(typed)
        assert operator_message(lost.value, pg_url) == str(typed)  # the command line's words
    finally:
        engine.dispose()
        other.dispose()


def test_the_web_answers_a_lost_connection_with_no_500_and_reconnects(pg_url):
    """The server's pooled connections terminated between requests: the pool's pre-ping reconnects."""
    with serve_site(pg_url) as site:
        assert site.http.post("/subscribe", json={"email": "first@example.com"}).status_code == 202
        killer = make_engine(pg_url)
        try:
            with killer.connect() as connection:  # every other connection to this database: the server's
                connection.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
        finally:
            killer.dispose()
        answers = [site.http.get("/healthz") for _ in range(3)]
        assert all(answer.status_code in (200, 503) for answer in answers)  # never a 500
        assert site.http.post("/subscribe", json={"email": "second@example.com"}).status_code == 202  # reconnected


def test_store_errors_from_sqlite_full_are_typed(tmp_path):
    with tmpfs(tmp_path / "disk", "size=256k") as disk:
        engine = make_engine(f"sqlite:///{disk / 'x.db'}")
        try:
            with pytest.raises(sa.exc.SQLAlchemyError) as full, engine.begin() as connection:
                connection.exec_driver_sql("CREATE TABLE t (v BLOB)")
                for _ in range(200):
                    connection.exec_driver_sql("INSERT INTO t VALUES (zeroblob(4096))")
            assert isinstance(store_error(full.value, str(engine.url)), StoreFull)
        finally:
            engine.dispose()
