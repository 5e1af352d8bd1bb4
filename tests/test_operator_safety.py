"""The operator's first week, part A (issue 25, items 1, 3, 6, 7 and 8): nothing irreversible by
accident, the store named and never created by a command that only reads, every error one line
pointing the right way, no half-done writes, the backlog named.

Driven as a script runs digest (click's CliRunner or a process, no terminal) and, where a command
asks, through a pseudo-terminal; on SQLite and PostgreSQL wherever a store is involved.
"""

from __future__ import annotations

import json
import socket
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import (
    add_readers,
    built_edition,
    clean_env,
    comparison,
    digest_env,
    digest_process,
    edition_status,
    in_terminal,
    run_digest,
    set_status,
)

from digest.cli import main
from digest.content.models import Comparison
from digest.editions.models import Edition
from digest.settings import Settings
from digest.store import SCHEMA_HEAD, open_store, session_scope
from digest.timeutil import utcnow
from subscribers.models import Subscriber

ROOT = Path(__file__).resolve().parents[1]


def invoke(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def error_line(result) -> str:
    """The command failed with exit status 1 and its last line on stderr is one `Error:` line; nothing
    but a `Store:` line may come before it."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("Error: "), result.output
    assert all(line.startswith("Store: ") for line in lines[:-1]), result.output
    return lines[-1]


def where(url: str) -> str:
    """How digest names a store."""
    from digest.store import describe

    return describe(url)


def settings_for(env: dict) -> Settings:
    return Settings(database_url=env["DIGEST_DATABASE_URL"], outbox=Path(env["DIGEST_OUTBOX"]))


def outbox_files(env: dict) -> list[Path]:
    folder = Path(env["DIGEST_OUTBOX"])
    return sorted(folder.glob("*.eml")) if folder.exists() else []


# --- 1. nothing irreversible by accident ---------------------------------------------------------


def test_a_send_that_would_reach_no_reader_is_refused_and_the_edition_stays_a_draft(cli_env):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    number = built_edition(engine, settings_for(cli_env))
    [pending] = add_readers(engine, 1, status="pending")
    add_readers(engine, 2, first=10, status="unsubscribed")

    refused = invoke("editions", "send", "--edition", str(number), "--yes")
    line = error_line(refused)
    assert f"edition {number} would reach no reader" in line
    assert "1 reader pending confirmation" in line and "2 stopped" in line and "stays a draft" in line
    assert "It will reach" not in refused.stdout  # refused before any plan
    with engine.connect() as connection:
        edition = connection.execute(sa.select(Edition.__table__).where(Edition.__table__.c.number == number)).one()
    assert edition.status == "draft" and edition.frozen_at is None and edition.sent_at is None
    assert outbox_files(cli_env) == []

    set_status(engine, [pending], "active")  # the reader confirms: now it goes, and only now is it sealed
    sent = invoke("editions", "send", "--edition", str(number), "--yes")
    assert sent.exit_code == 0, sent.output
    assert edition_status(engine, number) == "sent" and len(outbox_files(cli_env)) == 1


def _a_world(env: dict) -> dict:
    """A draft edition (one comparison), one more comparison in no edition, three active readers."""
    engine = open_store(env["DIGEST_DATABASE_URL"])
    number = built_edition(engine, settings_for(env))
    with session_scope(engine) as session:
        comparison(session, "stray-vs-mistake", "2026-11-02 09:00")
    add_readers(engine, 3)
    return {"engine": engine, "number": number}


def _state(engine) -> tuple:
    """What the refused commands must leave alone: editions and their status, comparisons, readers."""
    with engine.connect() as connection:
        editions = connection.execute(sa.select(Edition.__table__.c.number, Edition.__table__.c.status)).all()
        slugs = connection.execute(sa.select(Comparison.__table__.c.slug).order_by("slug")).scalars().all()
        readers = connection.execute(sa.select(Subscriber.__table__.c.email).order_by("email")).scalars().all()
    return sorted(editions), slugs, readers


GUARDED = {  # command -> words its refusal (and its question) uses
    "editions send": (["editions", "send", "--edition", "1"], "sending edition 1 mails 3 readers"),
    "editions delete": (["editions", "delete", "1"], "deleting draft edition 1 cannot be undone"),
    "comparisons remove": (["comparisons", "remove", "stray-vs-mistake"], "removing the comparison stray-vs-mistake"),
    "subscribers delete": (["subscribers", "delete", "reader1@example.com"], "erasing reader1@example.com"),
    "resend to all pending": (
        ["subscribers", "resend-confirmation", "--all-pending"],
        "resending confirmation mails to every pending reader",
    ),
}


@pytest.mark.parametrize("name", sorted(GUARDED))
def test_without_a_terminal_what_mails_readers_or_destroys_data_needs_yes(cli_env, name):
    world = _a_world(cli_env)
    args, words = GUARDED[name]
    before = _state(world["engine"])
    line = error_line(invoke(*args))
    assert words in line and "without a terminal" in line and "--yes" in line
    assert _state(world["engine"]) == before and outbox_files(cli_env) == []
    done = invoke(*args, "--yes")
    assert done.exit_code == 0, done.output
    if name != "resend to all pending":  # nobody is pending: it mails nobody, changes nothing
        assert _state(world["engine"]) != before or outbox_files(cli_env)


@pytest.mark.parametrize("name", ["editions send", "editions delete", "comparisons remove", "subscribers delete"])
def test_in_a_terminal_they_ask_and_no_changes_nothing(cli_env, name):
    world = _a_world(cli_env)
    args, _ = GUARDED[name]
    env = clean_env(**cli_env)
    before = _state(world["engine"])
    status, output = in_terminal(args, env, answer="n")
    assert status == 1 and "[y/N]" in output and "Aborted" in output, output
    assert _state(world["engine"]) == before and outbox_files(cli_env) == []
    status, output = in_terminal(args, env, answer="y")
    assert status == 0, output
    assert _state(world["engine"]) != before or outbox_files(cli_env)


def test_one_helper_decides_for_every_command_that_asks():
    """No command asks (or looks for a terminal) on its own: digest.cli.app.confirm is the one rule."""
    for path in sorted((ROOT / "digest" / "cli").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        if path.name == "app.py":
            assert "click.confirm(" in text
            continue
        assert "click.confirm(" not in text and "stdin.isatty" not in text, path.name


# --- 3. the store is named, and never created by accident ---------------------------------------

READS = [
    ["editions", "list"],
    ["editions", "show", "1"],
    ["editions", "preview"],
    ["editions", "send", "--yes"],
    ["editions", "build"],
    ["subscribers", "list"],
    ["subscribers", "show", "ada@example.com"],
    ["comparisons", "list"],
    ["comparisons", "show", "a-vs-b"],
    ["stats"],
    ["scheduler", "status"],
    ["db", "current"],
    ["serve", "--port", "0"],
]


def _tables(url: str) -> list[str]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as connection:
            return sa.inspect(connection).get_table_names()
    finally:
        engine.dispose()


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_a_command_that_only_reads_never_creates_a_store(empty_db_url, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    env = {"DIGEST_DATABASE_URL": empty_db_url, "DIGEST_OUTBOX": str(tmp_path / "outbox")}
    line = error_line(invoke(*args, env=env))
    assert "digest db upgrade" in line and where(empty_db_url).split(" ")[0] in line
    if empty_db_url.startswith("sqlite"):
        assert not (tmp_path / "digest.db").exists()
    else:
        assert _tables(empty_db_url) == []


def test_the_default_store_is_named_by_its_path_when_it_is_missing(tmp_path):
    """`digest editions list` in the wrong folder, DIGEST_DATABASE_URL unset: one line, the path."""
    process = digest_process(["editions", "list"], digest_env(), cwd=tmp_path)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1 and out == ""
    assert err.strip() == (
        f"Error: there is no store at {tmp_path.resolve() / 'digest.db'} (DIGEST_DATABASE_URL); create it with: "
        "digest db upgrade, or set DIGEST_DATABASE_URL to the store you meant"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [
        ["db", "upgrade"],
        ["subscribers", "add", "ada@example.com", "--confirmed"],
        ["comparisons", "import", str(ROOT / "digest" / "demo_data")],
    ],
    ids=" ".join,
)
def test_db_upgrade_and_the_first_write_create_the_store_and_say_so_with_its_path(empty_db_url, tmp_path, args):
    env = {"DIGEST_DATABASE_URL": empty_db_url, "DIGEST_OUTBOX": str(tmp_path / "outbox")}
    created = invoke(*args, env=env)
    assert created.exit_code == 0, created.output
    said = f"Created a new store: {where(empty_db_url)}"
    assert [line for line in created.output.splitlines() if line.startswith("Created a new store")] == [
        line for line in created.output.splitlines() if line.startswith(said)
    ]
    assert said in created.output
    if empty_db_url.startswith("sqlite"):
        assert (tmp_path / "digest.db").exists()
    again = invoke(*args, env=env)
    assert "Created a new store" not in again.output


def test_a_bad_import_file_creates_no_store(empty_sqlite_url, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    line = error_line(invoke("comparisons", "import", str(bad), env={"DIGEST_DATABASE_URL": empty_sqlite_url}))
    assert "bad.json" in line and not (tmp_path / "digest.db").exists()


def test_commands_about_editions_and_readers_name_the_store_they_use(cli_env):
    add_readers(open_store(cli_env["DIGEST_DATABASE_URL"]), 1)
    named = f"Store: {where(cli_env['DIGEST_DATABASE_URL'])}"
    for args in (["editions", "list"], ["subscribers", "list"], ["editions", "list", "--json"]):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
        assert result.stderr.splitlines()[0] == named, args
        assert "Store:" not in result.stdout
    assert json.loads(invoke("subscribers", "list", "--json").stdout)[0]["email"] == "reader1@example.com"


# --- 6. every error one line, exit 1, pointing the right way ----------------------------------


def test_a_database_newer_than_the_code_says_upgrade_digest(db_url):
    engine = open_store(db_url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    env = {"DIGEST_DATABASE_URL": db_url}
    for args in (["editions", "list"], ["db", "upgrade"]):
        line = error_line(invoke(*args, env=env))
        assert "revision 9999, newer than this digest" in line and f"latest revision is {SCHEMA_HEAD}" in line
        assert "Upgrade digest" in line and "bug" not in line
    with engine.connect() as connection:  # nothing touched
        assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "9999"


def test_a_migration_that_fails_says_so_and_is_rolled_back(empty_db_url):
    engine = sa.create_engine(empty_db_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as connection:  # in the way of the first migration
        connection.execute(sa.text("CREATE TABLE tool (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    line = error_line(invoke("db", "upgrade", env={"DIGEST_DATABASE_URL": empty_db_url}))
    assert "migrating the database" in line and "failed" in line and "tool" in line
    assert "rolled back" in line and "digest db upgrade" in line and "check that it is running" not in line
    assert _tables(empty_db_url) == ["tool"]


def test_a_wrong_role_or_password_says_check_the_user_and_password(pg_url):
    base, _, name = pg_url.rpartition("/")
    wrong = base.replace("postgres@", "nobody_here:secret@") + "/" + name
    line = error_line(invoke("editions", "list", env={"DIGEST_DATABASE_URL": wrong}))
    assert "refused to log in as nobody_here" in line and "check the user name and password" in line
    assert "secret" not in line and "check that it is running" not in line


@pytest.mark.parametrize("url", ["sqlite://digest.db", "sqlite:digest.db", "postgresql://127.0.0.1:5432"])
def test_a_malformed_database_url_gets_an_example(tmp_path, url):
    line = error_line(invoke("editions", "list", env={"DIGEST_DATABASE_URL": url}))
    assert "sqlite:///digest.db" in line and "postgresql://" in line and "refused a statement" not in line


def test_a_port_in_use_is_one_error_line_and_exit_status_1(sqlite_url, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_digest(
            ["serve", "--port", str(port)], digest_env(DIGEST_DATABASE_URL=sqlite_url, DIGEST_OUTBOX=str(tmp_path))
        )
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: cannot listen on 127.0.0.1:{port}"), result.stderr
    assert "--port" in lines[0]


def test_a_closed_pipe_ends_quietly(sqlite_url, tmp_path):
    add_readers(open_store(sqlite_url), 50)
    process = digest_process(["subscribers", "export"], digest_env(DIGEST_DATABASE_URL=sqlite_url))
    process.stdout.close()  # the reader went away before the first line: `| head -0`
    err = process.stderr.read()
    process.wait(timeout=120)
    assert "Error" not in err and "Traceback" not in err and "Exception ignored" not in err, err
    assert process.returncode in (0, 1)


def test_a_mistyped_command_gets_a_suggestion():
    result = invoke("edtions", "list")
    assert result.exit_code == 2 and "Did you mean" in result.output and "'editions'" in result.output


def test_every_list_command_has_json(cli_env):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    add_readers(engine, 1)
    built_edition(engine, settings_for(cli_env))
    editions = json.loads(invoke("editions", "list", "--json").stdout)
    assert editions[0]["number"] == 1 and editions[0]["status"] == "draft" and editions[0]["readers"]["sent"] == 0
    assert json.loads(invoke("subscribers", "list", "--json").stdout)[0]["status"] == "active"
    assert json.loads(invoke("comparisons", "list", "--json").stdout)[0]["slug"] == "alpha-vs-beta-2026-w47"
    for group in ("editions", "subscribers", "comparisons"):
        assert "--json" in invoke(group, "list", "--help").output


def test_plurals_agree_with_one(cli_env):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    add_readers(engine, 1)
    number = built_edition(engine, settings_for(cli_env))
    plan = invoke("editions", "send", "--edition", str(number), "--dry-run")
    assert "would reach 1 reader through" in plan.stdout and "1 readers" not in plan.stdout
    refused = invoke("editions", "send", "--edition", str(number))
    assert "mails 1 reader;" in refused.output
    imported = invoke("comparisons", "import", str(ROOT / "digest" / "demo_data" / "murmurcast-vs-tidewell.txt"))
    assert "Imported 1 comparison: 1 new" in imported.output and "(s)" not in imported.output


# --- 7. no half-done writes ------------------------------------------------------------------


@pytest.mark.parametrize("command", ["add", "import"])
def test_a_sign_up_with_a_backend_that_cannot_send_writes_nothing(cli_env, tmp_path, command):
    env = {**cli_env, "DIGEST_BACKEND": "sendgrid"}
    if command == "add":
        args = ["subscribers", "add", "ada@example.com"]
    else:
        (tmp_path / "readers.csv").write_text("email\nada@example.com\n")
        args = ["subscribers", "import", str(tmp_path / "readers.csv")]
    line = error_line(invoke(*args, env=env))
    assert "SENDGRID_API_KEY" in line
    assert _state(open_store(cli_env["DIGEST_DATABASE_URL"]))[2] == []
    again = invoke(*args)  # the outbox can send: the second try is not "already a reader"
    assert again.exit_code == 0, again.output
    assert ("Added ada@example.com (pending)" if command == "add" else "Imported 1 reader (pending)") in again.output


def test_send_checks_the_backend_before_printing_its_plan(cli_env):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    add_readers(engine, 2)
    number = built_edition(engine, settings_for(cli_env))
    result = invoke("editions", "send", "--yes", env={**cli_env, "DIGEST_BACKEND": "sendgrid"})
    assert "SENDGRID_API_KEY" in error_line(result)
    assert result.stdout == "" and edition_status(engine, number) == "draft"


def _sent_at(engine, email: str, when) -> None:
    table = Subscriber.__table__
    with engine.begin() as connection:
        connection.execute(sa.update(table).where(table.c.email == email).values(confirmation_sent_at=when))


def test_resend_confirmation_to_one_address_at_most_every_ten_minutes(cli_env):
    assert invoke("subscribers", "add", "ada@example.com").exit_code == 0
    assert len(outbox_files(cli_env)) == 1
    too_soon = error_line(invoke("subscribers", "resend-confirmation", "Ada@Example.com"))
    assert "at most every 10 minutes" in too_soon and len(outbox_files(cli_env)) == 1
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    _sent_at(engine, "ada@example.com", utcnow() - timedelta(minutes=11))
    again = invoke("subscribers", "resend-confirmation", "ada@example.com")
    assert again.exit_code == 0, again.output
    assert "Queued the confirmation mail again; sent 1 confirmation mail (outbox)." in again.stdout
    assert len(outbox_files(cli_env)) == 2
    assert "no reader has the address" in error_line(invoke("subscribers", "resend-confirmation", "bob@example.com"))
    assert invoke("subscribers", "add", "cy@example.com", "--confirmed").exit_code == 0
    assert "cy@example.com is active" in error_line(invoke("subscribers", "resend-confirmation", "cy@example.com"))
    neither = invoke("subscribers", "resend-confirmation")
    assert neither.exit_code == 2 and "give one ADDRESS, or --all-pending" in neither.output


def test_resend_confirmations_to_every_pending_reader_older_than_a_day(cli_env):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    add_readers(engine, ["old@example.com", "recent@example.com", "refused@example.com"], status="pending")
    _sent_at(engine, "old@example.com", utcnow() - timedelta(days=2))
    _sent_at(engine, "recent@example.com", utcnow() - timedelta(hours=1))
    _sent_at(engine, "refused@example.com", utcnow() - timedelta(days=3))
    table = Subscriber.__table__
    with engine.begin() as connection:
        connection.execute(
            sa.update(table).where(table.c.email == "refused@example.com").values(confirmation_error="550 no such user")
        )
    done = invoke("subscribers", "resend-confirmation", "--all-pending", "--older-than", "1d", "--yes")
    assert done.exit_code == 0, done.output
    assert "Queued 1 confirmation mail again; sent 1 (outbox)" in done.stdout
    assert "1 reader whose mail the provider refused left out" in done.stdout
    [mail] = outbox_files(cli_env)
    assert "old@example.com" in mail.read_text()
    bad = invoke("subscribers", "resend-confirmation", "--all-pending", "--older-than", "soon", "--yes")
    assert bad.exit_code == 2 and "1d, 12h or 90m" in bad.output


# --- 8. the backlog is named ------------------------------------------------------------------


def test_build_names_comparisons_dated_before_the_last_editions_week_and_how_to_send_them(cli_env):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    settings = settings_for(cli_env)
    first = built_edition(engine, settings, "2026-W44")
    second = built_edition(engine, settings, "2026-W45")
    with engine.begin() as connection:
        connection.execute(sa.update(Edition.__table__).values(status="sent", sent_at=utcnow()))
    with session_scope(engine) as session:
        comparison(session, "late-vs-import", "2026-10-28 09:00")  # W44, imported after W45 went out
        comparison(session, "before-vs-everything", "2026-10-01 09:00")  # before the first edition: history
        comparison(session, "this-vs-week", "2026-11-18 09:00")  # W47
    assert (first, second) == (1, 2)

    built = invoke("editions", "build", "--week", "2026-W47")
    assert built.exit_code == 0, built.output
    assert "Edition 3 for 2026-W47 built with 1 comparison." in built.stdout
    note = next(line for line in built.stdout.splitlines() if line.startswith("Left out:"))
    assert "1 comparison dated before" in note and "late-vs-import (2026-10-28)" in note
    assert "before-vs-everything" not in note
    assert note.endswith("To send it in this edition: digest editions edit 3 --include late-vs-import")

    added = invoke("editions", "edit", "3", "--include", "late-vs-import")
    assert added.exit_code == 0, added.output
    assert "Edition 3 updated; it shows 2 comparisons." in added.stdout
    shown = json.loads(invoke("editions", "show", "3", "--json").stdout)
    assert [c["slug"] for c in shown["comparisons"]] == ["this-vs-week", "late-vs-import"]
    assert "Left out:" not in invoke("editions", "build", "--week", "2026-W47").stdout
    taken = error_line(invoke("editions", "edit", "3", "--include", "alpha-vs-beta-2026-w44"))
    assert "is in edition 1 already" in taken


def test_the_demo_erases_no_store_it_did_not_make(sqlite_url, tmp_path):
    real = Path(sqlite_url.removeprefix("sqlite:///"))
    before = real.read_bytes()
    line = error_line(invoke("demo", "--dir", str(real.parent)))
    assert "the demo would erase digest.db" in line and "--yes" in line
    assert real.read_bytes() == before
    demo = tmp_path / "demo"
    first = invoke("demo", "--dir", str(demo))
    assert first.exit_code == 0, first.output
    assert f"Created a new store: {demo / 'digest.db'} (SQLite) (the demo's own)." in first.output
    assert invoke("demo", "--dir", str(demo)).exit_code == 0  # its own folder: reset without a question


def test_the_schedulers_send_is_unaffected_by_the_refusal_of_a_send_to_nobody(cli_env):
    """The weekly job calls send_edition without refuse_nobody: an edition nobody is due is sealed as before."""
    from digest.delivery import send_edition

    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    number = built_edition(engine, settings_for(cli_env))
    add_readers(engine, 1, status="pending")
    summary = send_edition(engine, settings_for(cli_env), number)
    assert summary.sent == 0 and edition_status(engine, number) == "sent"
