"""What an operator sees when something is wrong: every DIGEST_* value is checked at start, and no
traceback ever reaches the terminal (issue 12, items 8 and 9). Real processes, real databases.

Each failure is one `Error:` line saying what to do, exit status 1.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
import uuid

import psycopg
import pytest
from click.testing import CliRunner
from helpers import digest_env, digest_serve, free_port, run_digest, scaled

from digest.cli import main
from digest.settings import VARIABLES
from digest.store import open_store

# One malformed value for every variable digest reads.
BAD = {
    "DIGEST_DATABASE_URL": ("mysql://db.internal/digest", "DIGEST_DATABASE_URL must be a sqlite:/// or postgresql://"),
    "DIGEST_TIMEZONE": ("Mars/Olympus_Mons", "DIGEST_TIMEZONE must be an IANA time zone"),
    "DIGEST_NEWSLETTER_NAME": (
        "Weekly\x1b]0;owned\x07",
        "DIGEST_NEWSLETTER_NAME contains the control character U+001B",
    ),
    "DIGEST_FROM": ("verdicts", "DIGEST_FROM must be an email address"),
    "DIGEST_REPLY_TO": ("editors@", "DIGEST_REPLY_TO must be an email address"),
    "DIGEST_BASE_URL": ("javascript:alert(1)", "DIGEST_BASE_URL must be an http:// or https:// URL"),
    "DIGEST_SITE_URL": ("verdicts.example.com", "DIGEST_SITE_URL must be an http:// or https:// URL"),
    "DIGEST_POSTAL_ADDRESS": ("1 Example St\r\nBcc: x", "DIGEST_POSTAL_ADDRESS contains the control character U+000D"),
    "DIGEST_SECRET_KEY": ("secret\x07", "DIGEST_SECRET_KEY contains the control character U+0007"),
    "DIGEST_SUBSCRIBE_RATE_LIMIT": ("0/minute", "DIGEST_SUBSCRIBE_RATE_LIMIT must allow at least one attempt"),
    "DIGEST_MIN_ITEMS": ("0", "DIGEST_MIN_ITEMS must be at least 1"),
    "DIGEST_BACKEND": ("pigeon", "DIGEST_BACKEND must be outbox, sendgrid, smtp or memory"),
    "DIGEST_OUTBOX": ("out\x1bbox", "DIGEST_OUTBOX contains the control character U+001B"),
    "SENDGRID_API_KEY": ("SG.key\r\nX-Injected: 1", "SENDGRID_API_KEY contains the control character U+000D"),
    "SENDGRID_API_URL": ("ftp://api.sendgrid.com", "SENDGRID_API_URL must be an http:// or https:// URL"),
    "DIGEST_SMTP_URL": ("mailto:someone", "DIGEST_SMTP_URL must look like smtp://"),
    "DIGEST_MAX_ERRORS": ("-1", "DIGEST_MAX_ERRORS must be at least 0"),
    "DIGEST_APPROVALS": ("many", "DIGEST_APPROVALS must be"),
    "DIGEST_SEND_DAY": ("someday", "DIGEST_SEND_DAY must be a weekday name"),
    "DIGEST_SEND_TIME": ("25:00", "DIGEST_SEND_TIME must be a time of day"),
    "DIGEST_CATCH_UP": ("nan", "DIGEST_CATCH_UP must be a duration from 0h to 168h"),
    "DIGEST_ADMIN_TOKEN": ("token\x1b[2J", "DIGEST_ADMIN_TOKEN contains the control character U+001B"),
    "SENDGRID_WEBHOOK_PUBLIC_KEY": ("not-a-key", "SENDGRID_WEBHOOK_PUBLIC_KEY is not a public key"),
    "DIGEST_MAX_COMPLAINT_RATE": ("nan", "DIGEST_MAX_COMPLAINT_RATE must be a finite number"),
    "DIGEST_MAX_BOUNCE_RATE": ("inf", "DIGEST_MAX_BOUNCE_RATE must be a finite number"),
    "DIGEST_FORWARDED_ALLOW_IPS": ("the load balancer", "DIGEST_FORWARDED_ALLOW_IPS must list IP addresses"),
    "DIGEST_LOCK_TIMEOUT": ("inf", "DIGEST_LOCK_TIMEOUT must be more than 0"),
    "DIGEST_CLICK_TRACKING": ("sometimes", "DIGEST_CLICK_TRACKING must be on or off"),
    "DIGEST_WELCOME": ("sometimes", "DIGEST_WELCOME must be on or off"),
    "DIGEST_CLICKS_ENGAGE": ("maybe", "DIGEST_CLICKS_ENGAGE must be on or off"),
    "DIGEST_SUNSET_AFTER": ("never", "DIGEST_SUNSET_AFTER must be off or a whole number of at least 1"),
    "DIGEST_RETAIN_DAYS": ("a year", "DIGEST_RETAIN_DAYS must be off or a whole number of at least 1"),
    "DIGEST_SUNSET_GRACE": ("0", "DIGEST_SUNSET_GRACE must be at least 1"),
    "DIGEST_LANGUAGE": ("english", "DIGEST_LANGUAGE must be a language tag such as en, fr or pt-BR"),
    "DIGEST_TEMPLATES": ("/nonexistent/brand", "DIGEST_TEMPLATES must name a folder of templates"),
}
NEEDS = {"DIGEST_SMTP_URL": {"DIGEST_BACKEND": "smtp"}}  # read only by the backend it belongs to


def one_error_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), output
    assert "Traceback" not in output
    return lines[0]


def test_every_variable_digest_reads_has_a_malformed_case_here():
    assert set(BAD) == set(VARIABLES)


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_malformed_value_stops_the_scheduler_at_start_with_one_line(cli_env, name):
    value, words = BAD[name]
    env = {**cli_env, "DIGEST_BASE_URL": "http://127.0.0.1:8000", **NEEDS.get(name, {}), name: value}
    result = CliRunner().invoke(main, ["scheduler", "run", "--lease-ttl", "2"], env=env)
    assert result.exit_code == 1
    assert words in one_error_line(result.output)


@pytest.mark.parametrize("command", [["serve", "--port", "1"], ["scheduler", "run"]])
def test_the_default_secret_key_is_refused_unless_the_base_url_is_this_machine(cli_env, command):
    result = CliRunner().invoke(main, command, env={**cli_env, "DIGEST_BASE_URL": "https://news.example.com"})
    assert result.exit_code == 1
    line = one_error_line(result.output)
    assert "DIGEST_SECRET_KEY is still the default" in line and "secrets.token_urlsafe" in line


def test_digest_serve_runs_with_the_default_secret_on_a_loopback_base_url(db_url, tmp_path):
    open_store(db_url).dispose()  # serve never creates a store
    port = free_port()
    env = digest_env(
        DIGEST_DATABASE_URL=db_url, DIGEST_OUTBOX=str(tmp_path / "outbox"), DIGEST_BASE_URL=f"http://localhost:{port}"
    )
    with digest_serve(env, tmp_path / "serve.log", port) as server:  # healthy, or the test fails
        assert server.poll() is None


# --- no tracebacks -----------------------------------------------------------------------------


def failed(args, env) -> str:
    """Run digest to the end; it must fail with exit status 1 and one `Error:` line on stderr."""
    result = run_digest(args, env)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    return one_error_line(result.stderr)


@pytest.mark.parametrize("command", [["db", "upgrade"], ["db", "current"], ["comparisons", "list"]])
def test_a_postgresql_database_that_does_not_exist_is_one_line(command, pg_server):
    missing = f"{pg_server.rsplit('/', 1)[0]}/digest_missing_{uuid.uuid4().hex[:8]}"
    line = failed(command, digest_env(DIGEST_DATABASE_URL=missing))
    assert "does not exist" in line and "createdb" in line


def test_a_sqlite_file_that_cannot_be_opened_is_one_line(tmp_path):
    line = failed(["db", "upgrade"], digest_env(DIGEST_DATABASE_URL=f"sqlite:///{tmp_path}/no/such/folder/digest.db"))
    assert "cannot open the SQLite file" in line and "folder exists" in line
    line = failed(["db", "current"], digest_env(DIGEST_DATABASE_URL=f"sqlite:///{tmp_path}/no/such/folder/digest.db"))
    assert f"there is no store at {tmp_path}/no/such/folder/digest.db" in line and "digest db upgrade" in line


@pytest.fixture
def dropping_server():
    """A TCP port that accepts connections and closes them at once: a database that went away."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            connection.recv(1024)
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(scaled(2))
    listener.close()


@pytest.mark.parametrize("command", [["db", "upgrade"], ["db", "current"], ["subscribers", "list"]])
def test_a_dropped_connection_is_one_line(dropping_server, command):
    url = f"postgresql://postgres@127.0.0.1:{dropping_server}/digest"
    line = failed(command, digest_env(DIGEST_DATABASE_URL=url))
    assert "failed or was dropped" in line and "run the command again" in line


def test_a_postgresql_lock_held_past_the_timeout_is_one_line(pg_url):
    from digest.store import _PG_MIGRATION_LOCK

    holder = psycopg.connect(pg_url, autocommit=True)
    try:
        holder.execute("SELECT pg_advisory_lock(%s)", (_PG_MIGRATION_LOCK,))  # another `db upgrade` running
        line = failed(["db", "upgrade"], digest_env(DIGEST_DATABASE_URL=pg_url, DIGEST_LOCK_TIMEOUT="1"))
    finally:
        holder.close()
    assert "is busy" in line and "DIGEST_LOCK_TIMEOUT" in line


def test_a_sqlite_lock_held_past_the_timeout_is_one_line(tmp_path):
    path = tmp_path / "digest.db"
    run_digest(["db", "upgrade"], digest_env(DIGEST_DATABASE_URL=f"sqlite:///{path}"))
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # another process writing, and not letting go
        line = failed(["db", "upgrade"], digest_env(DIGEST_DATABASE_URL=f"sqlite:///{path}", DIGEST_LOCK_TIMEOUT="1"))
    finally:
        holder.close()
    assert "is busy" in line and "DIGEST_LOCK_TIMEOUT" in line


def test_deeply_nested_json_is_one_line(db_url, tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    line = failed(["comparisons", "import", str(path)], digest_env(DIGEST_DATABASE_URL=db_url))
    assert line == f"Error: {path}: the JSON is nested too deeply to be comparisons"
