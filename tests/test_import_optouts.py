"""Opt-outs survive every path: imports honour status columns, and the consent log keeps everything
(issue 12, item 5). Through the real CLI on SQLite and PostgreSQL.

Exports as other tools write them: digest's own (`status`), listmonk's (`status` enabled, disabled,
blocklisted) and Mailchimp's unsubscribed and cleaned exports (no status column; an UNSUB_TIME or a
CLEAN_TIME says which).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from digest.cli import main
from digest.store import open_store, session_scope
from digest.timeutil import utcnow
from subscribers import consent, service
from subscribers.models import ConsentEvent, Subscriber
from subscribers.validation import SubscribeRequest

MAILCHIMP_COLUMNS = (
    '"Email Address","First Name","Last Name",MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,'
    "CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION"
)


def run(*args):
    return CliRunner().invoke(main, ["subscribers", *args], catch_exceptions=False)


@pytest.fixture
def store(cli_env):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    yield engine
    engine.dispose()


def statuses(engine) -> dict[str, str]:
    table = Subscriber.__table__
    with engine.connect() as connection:
        return dict(connection.execute(sa.select(table.c.email, table.c.status)).all())


def log_of(engine, email: str) -> list[dict]:
    table = Subscriber.__table__
    with engine.connect() as connection:
        reader = connection.execute(sa.select(table.c.id).where(table.c.email == email)).scalar_one()
        return consent.history(connection, reader)


def empty(engine) -> None:
    with engine.begin() as connection:
        connection.execute(sa.delete(ConsentEvent.__table__))
        connection.execute(sa.delete(Subscriber.__table__))


def write(tmp_path: Path, text: str, name: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("confirmed", [False, True])
def test_digests_own_export_imports_back_with_every_opt_out_kept(cli_env, store, tmp_path, confirmed):
    for email, extra in (
        ("in@example.com", ["--confirmed"]),
        ("waiting@example.com", ["--no-mail"]),
        ("left@example.com", ["--confirmed"]),
        ("bounced@example.com", ["--confirmed"]),
        ("complained@example.com", ["--confirmed"]),
    ):
        assert run("add", email, *extra).exit_code == 0
    table = Subscriber.__table__
    with store.begin() as connection:
        for email, stop in (
            ("left@example.com", "unsubscribed"),
            ("bounced@example.com", "bounced"),
            ("complained@example.com", "complained"),
        ):
            connection.execute(sa.update(table).where(table.c.email == email).values(status=stop))
    export = tmp_path / "readers.csv"
    assert run("export", "--output", str(export)).exit_code == 0
    empty(store)
    result = run("import", str(export), "--no-mail", *(["--confirmed"] if confirmed else []))
    assert result.exit_code == 0, result.output
    assert "Imported 5 readers from readers.csv, digest's own export" in result.output, result.output
    assert statuses(store) == {  # each as exported, --confirmed or not: never a pending one made active
        "in@example.com": "active",
        "waiting@example.com": "pending",
        "left@example.com": "unsubscribed",
        "bounced@example.com": "bounced",
        "complained@example.com": "complained",
    }
    line = log_of(store, "bounced@example.com")  # the log as exported (the bounce was written by hand above)
    assert [(e["kind"], e["status"]) for e in line] == [("opt-in", "active")]
    assert line[0]["source"] == "digest subscribers add (consent given elsewhere)"


def test_listmonk_blocklisted_and_disabled_subscribers_never_become_active(cli_env, store, tmp_path):
    path = write(
        tmp_path,
        "uuid,email,name,attributes,status,created_at,updated_at\n"
        '1f0e,ok@example.com,Ok,"{""city"": ""Paris""}",enabled,2024-01-01,2024-01-01\n'
        "2a1b,blocked@example.com,Blocked,{},blocklisted,2024-01-01,2024-02-01\n"
        "3c2d,off@example.com,Off,{},disabled,2024-01-01,2024-02-01\n",
        "listmonk.csv",
    )
    result = run("import", str(path), "--confirmed")
    assert result.exit_code == 0, result.output
    assert "Imported 1 reader (active)" in result.output and "2 opted out" in result.output
    assert statuses(store) == {
        "ok@example.com": "active",
        "blocked@example.com": "unsubscribed",
        "off@example.com": "unsubscribed",
    }


def test_mailchimps_unsubscribed_and_cleaned_exports_stop_readers_already_here(cli_env, store, tmp_path):
    for email in ("ada@example.com", "bob@example.com", "cy@example.com"):
        assert run("add", email, "--confirmed").exit_code == 0
    unsubscribed = write(
        tmp_path,
        f"{MAILCHIMP_COLUMNS},UNSUB_TIME,UNSUB_CAMPAIGN_TITLE,UNSUB_CAMPAIGN_ID,"
        "UNSUB_REASON,UNSUB_REASON_OTHER,LEID,EUID,NOTES\n"
        'ADA@example.com,Ada,L,2,"2023-01-01 10:00:00",,,,,,,,,,,'
        '"2024-03-01 09:00:00","March news",abc,"No longer interested",,1,e1,\n'
        'new@example.com,New,N,2,,,,,,,,,,,,"2024-03-02 09:00:00",,,,,2,e2,\n',
        "unsubscribed_members_export_1a2b.csv",
    )
    cleaned = write(
        tmp_path,
        f"{MAILCHIMP_COLUMNS},CLEAN_TIME,CLEAN_CAMPAIGN_TITLE,CLEAN_CAMPAIGN_ID,LEID,EUID,NOTES\n"
        'bob@example.com,Bob,B,1,,,,,,,,,,,,"2024-04-01 08:00:00",April,def,3,e3,\n',
        "cleaned_members_export_1a2b.csv",
    )
    for path, count in ((unsubscribed, 2), (cleaned, 1)):
        for extra in ([], ["--confirmed"]):  # twice: an import that says so again changes nothing
            result = run("import", str(path), "--no-mail", *extra)
            assert result.exit_code == 0, result.output
            assert f"{count} opted out" in result.output and "Imported 0 readers" in result.output
    assert statuses(store) == {
        "ada@example.com": "unsubscribed",
        "bob@example.com": "bounced",
        "cy@example.com": "active",
        "new@example.com": "unsubscribed",
    }
    assert [(e["kind"], e["status"]) for e in log_of(store, "ada@example.com")] == [
        ("opt-in", "active"),
        ("opt-out", "unsubscribed"),
    ]  # once: the second import found it stopped


def test_an_opt_out_wins_over_another_row_for_the_same_address_and_an_unknown_status_is_a_bad_row(
    cli_env, store, tmp_path
):
    path = write(
        tmp_path,
        "email,status\nada@example.com,subscribed\nADA@example.com,unsubscribed\nbob@example.com,vip\n",
        "mixed.csv",
    )
    refused = run("import", str(path), "--confirmed")
    assert refused.exit_code == 1 and f"{path}:4: status: 'vip' is not a status this import knows" in refused.output
    assert statuses(store) == {}
    result = run("import", str(path), "--confirmed", "--skip-invalid")
    assert result.exit_code == 0 and "1 opted out" in result.output and "1 repeated row skipped" in result.output
    assert statuses(store) == {"ada@example.com": "unsubscribed"}


def test_an_opt_out_row_is_kept_even_when_its_other_columns_are_wrong(cli_env, store, tmp_path):
    path = write(
        tmp_path, "email,topics,timezone,status\nada@example.com,No Such Topic,Mars/Base,unsubscribed\n", "odd.csv"
    )
    result = run("import", str(path))
    assert result.exit_code == 0, result.output
    assert statuses(store) == {"ada@example.com": "unsubscribed"}


def test_the_consent_log_keeps_every_opt_in_and_opt_out_of_a_reader_who_comes_back(engine):
    def subscribe(ip):
        with session_scope(engine) as session:
            service.subscribe(
                session,
                SubscribeRequest("ada@example.com"),
                service.Consent(at=utcnow(), source="web form (POST /subscribe) on /", ip=ip),
            )

    subscribe("203.0.113.1")
    with session_scope(engine) as session:
        token = service.by_email(session, "ada@example.com").token
        service.confirm(session, token, "203.0.113.2", utcnow())
    with session_scope(engine) as session:
        service.unsubscribe(session, token, utcnow(), source="one-click unsubscribe", ip="198.51.100.9")
    first = log_of(engine, "ada@example.com")
    subscribe("203.0.113.3")  # back again: a fresh opt-in, nothing before it changed
    with session_scope(engine) as session:
        service.confirm(session, token, "203.0.113.4", utcnow())
    lines = log_of(engine, "ada@example.com")
    assert lines[:3] == first
    assert [(e["kind"], e["status"], e["ip"]) for e in lines] == [
        ("opt-in", "pending", "203.0.113.1"),
        ("confirmation", "active", "203.0.113.2"),
        ("opt-out", "unsubscribed", "198.51.100.9"),
        ("opt-in", "pending", "203.0.113.3"),
        ("confirmation", "active", "203.0.113.4"),
    ]
    assert lines[2]["source"] == "one-click unsubscribe"


def test_show_prints_the_consent_log(cli_env, store):
    assert run("add", "ada@example.com", "--confirmed", "--source", "booth").exit_code == 0
    shown = json.loads(run("show", "ada@example.com", "--json").stdout)
    assert [(e["kind"], e["status"], e["source"]) for e in shown["consent_log"]] == [
        ("opt-in", "active", "booth (consent given elsewhere)")
    ]
    assert "consent log:" in run("show", "ada@example.com").output
