"""`digest subscribers ...` and `digest serve`, through click's CliRunner on the real store."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from digest.cli import main
from digest.content.models import Tool
from digest.store import open_store, session_scope
from subscribers import suppression
from subscribers.models import Subscriber, Suppression


def run(*args, input=None):
    return CliRunner().invoke(main, ["subscribers", *args], input=input, catch_exceptions=False)


def stored(env) -> list[Subscriber]:
    engine = open_store(env["DIGEST_DATABASE_URL"])
    try:
        with session_scope(engine) as session:
            return list(session.exec(sa.select(Subscriber).order_by(Subscriber.id)).scalars())
    finally:
        engine.dispose()


def add_topics(env, *categories):
    engine = open_store(env["DIGEST_DATABASE_URL"])
    with session_scope(engine) as session:
        for index, category in enumerate(categories):
            session.add(
                Tool(slug=f"t{index}", name=f"T{index}", category=category, tagline="", description="", pricing="")
            )
    engine.dispose()


def outbox(env) -> list[Path]:
    folder = Path(env["DIGEST_OUTBOX"])
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def test_add_creates_a_pending_reader_and_sends_the_confirmation_mail(cli_env):
    result = run("add", "Ada@Example.com")
    assert result.exit_code == 0, result.output
    assert "Added ada@example.com (pending)" in result.output and "Sent 1 confirmation mail" in result.output
    (reader,) = stored(cli_env)
    assert (reader.status, reader.consent_source, reader.confirmation_sent_at is not None) == (
        "pending",
        "digest subscribers add",
        True,
    )
    assert len(outbox(cli_env)) == 1


def test_add_confirmed_records_that_consent_was_given_elsewhere_and_sends_nothing(cli_env):
    add_topics(cli_env, "Video")
    result = run(
        "add",
        "bob@example.com",
        "--confirmed",
        "--topic",
        "Video",
        "--timezone",
        "Europe/Rome",
        "--source",
        "conference booth sign-up sheet",
    )
    assert result.exit_code == 0, result.output
    (reader,) = stored(cli_env)
    assert (reader.status, reader.topics, reader.timezone) == ("active", ["Video"], "Europe/Rome")
    assert reader.consent_source == "conference booth sign-up sheet (consent given elsewhere)"
    assert reader.confirmed_at is not None and outbox(cli_env) == []


def test_add_refuses_a_bad_address_an_unknown_topic_and_an_existing_reader_with_a_message(cli_env):
    assert run("add", "bob@example.com", "--confirmed").exit_code == 0
    for args, words in (
        (["not-an-address"], "email: 'not-an-address' is not a valid email address"),
        (["ann@example.com", "--topic", "Cooking"], "topics: 'Cooking' is not a topic"),
        (["BOB@example.com"], "bob@example.com is already a reader (status: active)"),
    ):
        result = run("add", *args)
        assert result.exit_code == 1 and f"Error: {words}" in result.output, result.output
        assert "Traceback" not in result.output
    assert [r.email for r in stored(cli_env)] == ["bob@example.com"]


def write(tmp_path: Path, text: str, name="readers.csv", encoding="utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_import_reports_every_bad_row_by_line_and_imports_nothing_unless_told(cli_env, tmp_path):
    add_topics(cli_env, "Video")
    path = write(
        tmp_path,
        "First name,Email,Topics\nAda,ada@example.com,Video\nBad,not-an-address,\n"
        "Eve,eve@example.com,Cooking\nBob,bob@example.com,\n",
    )
    refused = run("import", str(path))
    assert refused.exit_code == 1
    assert f"{path}:3: email: 'not-an-address' is not a valid email address" in refused.output
    assert f"{path}:4: topics: 'Cooking' is not a topic" in refused.output
    assert "2 bad rows; nothing was imported" in refused.output
    assert stored(cli_env) == []

    accepted = run("import", str(path), "--skip-invalid", "--no-mail")
    assert accepted.exit_code == 0
    assert f"{path}:3: skipped:" in accepted.output and "Ignored column: First name" in accepted.output
    assert "Imported 2 readers (pending)" in accepted.output and "2 bad rows skipped" in accepted.output
    readers = stored(cli_env)
    assert [(r.email, r.status, r.topics) for r in readers] == [
        ("ada@example.com", "pending", ["Video"]),
        ("bob@example.com", "pending", []),
    ]
    assert readers[0].consent_source == "import of readers.csv:2"


def test_import_sends_confirmation_mails_to_new_pending_readers_and_leaves_existing_ones_alone(cli_env, tmp_path):
    assert run("add", "ada@example.com", "--confirmed").exit_code == 0
    path = write(tmp_path, "ada@example.com\nbob@example.com\nBOB@example.com\n")
    result = run("import", str(path))
    assert result.exit_code == 0, result.output
    assert "Imported 1 reader (pending)" in result.output
    assert "1 already on the list, left as they were" in result.output and "1 repeated row skipped" in result.output
    assert "Sent 1 confirmation mail" in result.output
    assert [(r.email, r.status) for r in stored(cli_env)] == [
        ("ada@example.com", "active"),
        ("bob@example.com", "pending"),
    ]


def test_import_confirmed_marks_readers_active_with_consent_given_elsewhere(cli_env, tmp_path):
    path = write(tmp_path, "email\nada@example.com\n", name="mailchimp-export.csv")
    result = run("import", str(path), "--confirmed", "--source", "Mailchimp list, moved 2026-11")
    assert result.exit_code == 0
    (reader,) = stored(cli_env)
    assert reader.status == "active" and reader.confirmed_at is not None
    assert reader.consent_source == "import of Mailchimp list, moved 2026-11:2 (consent given elsewhere)"
    assert outbox(cli_env) == []


@pytest.mark.parametrize(
    "content, encoding, words",
    [
        ("name,phone\nAda,1\n", "utf-8", "line 1: there is no email column"),
        ("email\nadä@exämple.com\n", "latin-1", "is not UTF-8 text (byte 0xe4"),
        ("", "utf-8", "the file is empty"),
        ('email\n"ada@example.com\n', "utf-8", "readers.csv:2: email: contains a line break"),  # an open quote
    ],
)
def test_a_malformed_import_file_gets_one_clear_message(cli_env, tmp_path, content, encoding, words):
    result = run("import", str(write(tmp_path, content, encoding=encoding)))
    assert words in result.output and "Traceback" not in result.output


def test_export_gives_everything_stored_as_csv_or_json_and_the_csv_imports_again(cli_env, tmp_path):
    assert run("add", "ada@example.com", "--confirmed", "--source", "booth").exit_code == 0
    assert run("add", "bob@example.com", "--no-mail").exit_code == 0
    as_csv = run("export")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["email"] for r in rows] == ["ada@example.com", "bob@example.com"]
    columns = {c.name for c in Subscriber.__table__.columns} | {"consent_log"}
    assert set(rows[0]) == columns
    assert [line["kind"] for line in json.loads(rows[0]["consent_log"])] == ["opt-in"]
    assert rows[0]["consent_source"] == "booth (consent given elsewhere)" and rows[0]["confirmed_at"]
    records = json.loads(run("export", "--json").stdout)
    assert [set(r) for r in records] == [columns, columns]
    assert records[1]["status"] == "pending" and records[1]["token"] == stored(cli_env)[1].token

    exported = tmp_path / "export.csv"
    assert run("export", "--output", str(exported)).exit_code == 0
    assert run("delete", "bob@example.com", "--yes").exit_code == 0
    assert run("delete", "ada@example.com", "--yes").exit_code == 0
    again = run("import", str(exported), "--confirmed", "--allow-deleted")
    assert again.exit_code == 0 and "Imported 2 readers" in again.output
    assert [(r.email, r.status) for r in stored(cli_env)] == [
        ("ada@example.com", "active"),
        ("bob@example.com", "pending"),
    ]


def test_list_and_show_describe_readers(cli_env):
    assert run("add", "ada@example.com", "--confirmed").exit_code == 0
    assert run("add", "bob@example.com", "--no-mail").exit_code == 0
    listed = run("list", "--status", "pending")
    assert "bob@example.com" in listed.output and "ada@example.com" not in listed.output
    assert "1 reader (pending)." in listed.output
    shown = json.loads(run("show", "ADA@example.com", "--json").stdout)
    assert shown["email"] == "ada@example.com" and shown["deliveries"] == []
    assert (
        "consent_source:       digest subscribers add (consent given elsewhere)"
        in run("show", "ada@example.com").output
    )
    missing = run("show", "zed@example.com")
    assert missing.exit_code == 1 and "Error: no reader has the address zed@example.com" in missing.output


def test_delete_erases_the_reader_keeps_a_hash_and_refuses_to_bring_them_back_by_mistake(cli_env, tmp_path):
    assert run("add", "ada@example.com", "--confirmed").exit_code == 0
    refused = run("delete", "ada@example.com", input="y\n")  # no terminal: a piped "y" is no answer
    assert refused.exit_code == 1 and "only with --yes" in refused.output and len(stored(cli_env)) == 1
    erased = run("delete", "Ada@Example.com", "--yes")
    assert erased.exit_code == 0 and "Erased ada@example.com" in erased.output
    assert stored(cli_env) == []
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    with engine.connect() as connection:
        kept = connection.execute(sa.select(Suppression.email_hash, Suppression.reason)).all()
    engine.dispose()
    assert kept == [(suppression.email_hash("ada@example.com"), "deleted")]

    added = run("add", "ada@example.com", "--confirmed")
    assert added.exit_code == 1 and "was erased on request" in added.output
    imported = run("import", str(write(tmp_path, "ada@example.com\nbob@example.com\n")), "--confirmed")
    assert imported.exit_code == 1 and "readers.csv:1: email: ada@example.com was erased on request" in imported.output
    assert stored(cli_env) == []
    assert run("add", "ada@example.com", "--confirmed", "--allow-deleted").exit_code == 0


def test_every_subscribers_command_has_help_with_an_example():
    for command in ("add", "import", "export", "list", "show", "delete"):
        result = run(command, "--help")
        assert result.exit_code == 0 and "Example:" in result.output, command
    serve = CliRunner().invoke(main, ["serve", "--help"])
    assert "Example:" in serve.output and "--port" in serve.output and "127.0.0.1" in serve.output


def test_serve_refuses_a_port_out_of_range():
    result = CliRunner().invoke(main, ["serve", "--port", "70000"])
    assert result.exit_code == 2 and "70000 is not in the range 0<=x<=65535" in result.output


def test_a_large_csv_imports_every_row_in_bulk(sqlite_url, tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith(("DIGEST_", "SENDGRID_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DIGEST_DATABASE_URL", sqlite_url)
    path = tmp_path / "big.csv"
    path.write_text("email,timezone\n" + "".join(f"Reader{i}@Example{i % 89}.com,Europe/Paris\n" for i in range(5_000)))
    result = run("import", str(path), "--confirmed")  # its speed: tests/bench/bench_readers.py
    assert result.exit_code == 0 and "Imported 5,000 readers (active)" in result.output
    engine = open_store(sqlite_url)
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(Subscriber)).scalar() == 5_000
    engine.dispose()
