"""Erasing a reader erases what the provider told us about them too, and what comes after (issue 24, item 8).

Events SendGrid sends about an erased address (it reports for days after a send) are stored as the
erasure left the older ones: the address as a keyed hash, no reader id, no raw payload. The hash is
HMAC-SHA256 under DIGEST_SECRET_KEY, so a list of guessed addresses cannot be checked against the
suppression list or the events; an entry written before (a plain SHA-256) is still recognised. Reader
ids are never handed out twice, on SQLite too (AUTOINCREMENT, migration 0011_erasure, which rebuilds
the table without losing a row that refers to it).
"""

from __future__ import annotations

import hashlib
import hmac
import json

import sqlalchemy as sa
from click.testing import CliRunner
from helpers import sendgrid_event
from sqlmodel import Session, select

from digest.cli import main
from digest.events.ingest import ingest
from digest.events.models import Event
from digest.events.parse import parse_batch
from digest.store import open_store, session_scope, upgrade
from digest.timeutil import utcnow
from subscribers import operators
from subscribers.models import Subscriber, Suppression

SECRET = "an-erasure-key-of-at-least-thirty-two-chars"


def test_deleting_a_reader_anonymizes_their_provider_events(cli_env):
    runner = CliRunner()
    assert runner.invoke(main, ["subscribers", "add", "ada@example.com", "--confirmed"]).exit_code == 0
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    with Session(engine) as session:
        session.add(
            Event(
                sg_event_id="e1",
                event="open",
                email="ada@example.com",
                reader_id=1,
                edition_number=1,
                occurred_at=utcnow(),
                raw={"email": "ada@example.com"},
            )
        )
        session.add(
            Event(
                sg_event_id="e2",
                event="open",
                email="bob@example.com",
                reader_id=2,
                edition_number=1,
                occurred_at=utcnow(),
                raw={"email": "bob@example.com"},
            )
        )
        session.commit()
    result = runner.invoke(main, ["subscribers", "delete", "ada@example.com", "--yes"])
    assert result.exit_code == 0, result.output
    with Session(engine) as session:
        events = {e.sg_event_id: e for e in session.exec(select(Event)).all()}
    engine.dispose()
    assert "ada@example.com" not in repr((events["e1"].email, events["e1"].raw))
    assert events["e1"].email.startswith("hmac-sha256:") and events["e1"].reader_id is None
    assert events["e2"].email == "bob@example.com"  # nobody else's events are touched


def run(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_events_arriving_after_an_erasure_are_stored_without_personal_data(cli_env, monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET_KEY", SECRET)
    run("subscribers", "add", "ada@example.com", "--confirmed")
    run("subscribers", "add", "bob@example.com", "--confirmed")
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    with session_scope(engine) as session:
        ada = operators.find_reader(session, "ada@example.com").id
    run("subscribers", "delete", "ada@example.com", "--yes")
    run("subscribers", "add", "cy@example.com", "--confirmed")  # the next reader: a new id, never ada's
    now = utcnow()
    late = [
        sendgrid_event("open", "ada@example.com", reader=ada, ip="203.0.113.9"),
        sendgrid_event("spamreport", "ada@example.com", reader=ada),
        sendgrid_event("open", "bob@example.com"),
    ]
    with engine.begin() as connection:
        ingested = ingest(connection, parse_batch(json.dumps(late), now).rows, now)
    assert ingested.stored == 3 and ingested.suppressed == 0  # nobody's mail stopped: ada is not a reader
    with Session(engine) as session:
        events = session.exec(select(Event).order_by(Event.id)).all()
        readers = {r.email: r.id for r in session.exec(select(Subscriber)).all()}
        kept = session.exec(select(Suppression.email_hash)).all()
    engine.dispose()
    label = "hmac-sha256:" + hmac.new(SECRET.encode(), b"ada@example.com", hashlib.sha256).hexdigest()
    assert [(e.email, e.reader_id, e.raw) for e in events[:2]] == [(label, None, {}), (label, None, {})]
    assert "ada@example.com" not in repr([(e.email, e.raw) for e in events]) and "203.0.113.9" not in repr(events)
    assert events[2].email == "bob@example.com" and events[2].raw  # others' events as they came
    assert readers["cy@example.com"] > ada  # reader ids are never handed out twice
    # The suppression list's hash is keyed: a guessed address's plain SHA-256 finds nothing.
    assert kept == [label.removeprefix("hmac-sha256:")]
    assert hashlib.sha256(b"ada@example.com").hexdigest() not in kept


def test_an_erasure_recorded_before_the_key_still_refuses_the_address(cli_env):
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    with engine.begin() as connection:  # as digest stored an erasure before its hash was keyed
        connection.execute(
            sa.insert(Suppression.__table__).values(
                email_hash=hashlib.sha256(b"ada@example.com").hexdigest(), reason="deleted", created_at=utcnow()
            )
        )
    engine.dispose()
    refused = CliRunner().invoke(main, ["subscribers", "add", "ada@example.com", "--confirmed"])
    assert refused.exit_code == 1 and "ada@example.com was erased on request" in refused.output
    run("subscribers", "add", "ada@example.com", "--confirmed", "--allow-deleted")
    engine = open_store(cli_env["DIGEST_DATABASE_URL"])
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(Suppression.__table__)).scalar() == 0
    engine.dispose()


def test_the_sqlite_rebuild_for_autoincrement_keeps_every_row_that_refers_to_a_reader(tmp_path):
    """A store at 0008 with readers, their consent logs and ledger rows, upgraded to 0011_erasure."""
    from alembic import command

    from digest.store import _alembic_config, make_engine

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0008")
        connection.exec_driver_sql(
            "INSERT INTO subscriber (id, email, status, topics, token, created_at, updated_at) VALUES "
            "(1, 'ada@example.com', 'active', '[]', 'tok-ada', '2026-01-01', '2026-01-01'), "
            "(2, 'bob@example.com', 'active', '[]', 'tok-bob', '2026-01-01', '2026-01-01')"
        )
        connection.exec_driver_sql(
            "INSERT INTO consent_event (subscriber_id, at, kind, status, source) VALUES "
            "(1, '2026-01-01', 'opt-in', 'active', 'x'), (2, '2026-01-01', 'opt-in', 'active', 'x')"
        )
        connection.exec_driver_sql(
            "INSERT INTO edition (id, number, week, status, built_at) VALUES (1, 1, '2026-W01', 'sent', '2026-01-05')"
        )
        connection.exec_driver_sql(
            "INSERT INTO delivery (edition_id, subscriber_id, state, claimed_at) VALUES "
            "(1, 1, 'sent', '2026-01-05'), (1, 2, 'sent', '2026-01-05')"
        )
    upgrade(engine)
    with engine.connect() as connection:
        count = lambda table: connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar()  # noqa: E731
        assert (count("subscriber"), count("consent_event"), count("delivery")) == (2, 2, 2)
        schema = connection.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'subscriber'").scalar()
        indexes = {row[1] for row in connection.exec_driver_sql("PRAGMA index_list(subscriber)")}
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # on again after the migration
    assert "AUTOINCREMENT" in schema
    assert {"ix_subscriber_status_id", "ix_subscriber_status_timezone_id"} <= indexes
    with engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM subscriber WHERE id = 2")
        connection.exec_driver_sql(
            "INSERT INTO subscriber (email, status, topics, token, created_at, updated_at) "
            "VALUES ('cy@example.com', 'active', '[]', 'tok-cy', '2026-01-02', '2026-01-02')"
        )
        assert connection.exec_driver_sql("SELECT id FROM subscriber WHERE email = 'cy@example.com'").scalar() == 3
        assert connection.exec_driver_sql("SELECT count(*) FROM delivery").scalar() == 1  # bob's went with bob
    engine.dispose()
