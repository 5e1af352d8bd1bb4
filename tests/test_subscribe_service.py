"""The subscribers library against a real store (SQLite and PostgreSQL), and the confirmation sender."""

from __future__ import annotations

import email
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from digest.delivery.confirmations import send_pending
from digest.settings import Settings
from digest.store import session_scope
from digest.timeutil import utcnow
from subscribers import audience, confirmations, operators, rules, service, suppression
from subscribers.errors import AlreadyReader, StaleLink, Suppressed, UnknownReader
from subscribers.models import Subscriber, Suppression
from subscribers.validation import Preferences, SubscribeRequest


def consent(source="web form (POST /subscribe)", ip="203.0.113.7", at=None):
    return service.Consent(at=at or utcnow(), source=source, ip=ip)


def subscribe(engine, address, topics=(), at=None):
    with session_scope(engine) as session:
        return service.subscribe(session, SubscribeRequest(address, tuple(topics)), consent(at=at))


def reader(engine, address) -> Subscriber:
    with session_scope(engine) as session:
        return service.by_email(session, address)


def test_a_new_address_is_stored_pending_with_its_consent_record_and_queued_for_a_mail(engine):
    assert subscribe(engine, "ada@example.com", ["Video"]) is rules.OnSubscribe.CREATE
    stored = reader(engine, "ada@example.com")
    assert (stored.status, stored.topics, stored.confirmation_sent_at) == ("pending", ["Video"], None)
    assert stored.consent_ip == "203.0.113.7" and stored.consent_source == "web form (POST /subscribe)"
    assert stored.consent_at is not None and stored.confirmed_at is None
    assert len(stored.token) == 43


def test_subscribing_again_changes_nothing_for_an_active_reader(engine):
    subscribe(engine, "ada@example.com", ["Video"])
    with session_scope(engine) as session:
        service.confirm(session, reader(engine, "ada@example.com").token, "198.51.100.1", utcnow())
    before = reader(engine, "ada@example.com")
    assert subscribe(engine, "ada@example.com", []) is rules.OnSubscribe.NOTHING
    after = reader(engine, "ada@example.com")
    assert (after.status, after.topics, after.token, after.consent_at) == (
        "active",
        ["Video"],
        before.token,
        before.consent_at,
    )


def test_a_pending_reader_is_mailed_again_only_after_a_pause(engine):
    subscribe(engine, "ada@example.com")
    with session_scope(engine) as session:
        [claimed] = confirmations.claim(session, 10, "sender-1")
    assert subscribe(engine, "ada@example.com") is rules.OnSubscribe.NOTHING  # being mailed just now
    with session_scope(engine) as session:
        confirmations.settle(session, "sender-1", utcnow() - timedelta(minutes=1), sent=[claimed.reader_id])
    assert subscribe(engine, "ada@example.com") is rules.OnSubscribe.NOTHING
    assert reader(engine, "ada@example.com").confirmation_sent_at is not None
    with session_scope(engine) as session:
        session.exec(sa.update(Subscriber).values(confirmation_sent_at=utcnow() - rules.RESEND_AFTER))
    assert subscribe(engine, "ada@example.com") is rules.OnSubscribe.REQUEUE
    assert reader(engine, "ada@example.com").confirmation_sent_at is None


def test_a_batch_gives_each_request_the_outcome_it_would_have_had_alone_in_that_order(engine):
    subscribe(engine, "left@example.com")
    with session_scope(engine) as session:
        service.unsubscribe(session, service.by_email(session, "left@example.com").token, utcnow())
    subscribe(engine, "in@example.com")
    with session_scope(engine) as session:
        service.confirm(session, service.by_email(session, "in@example.com").token, None, utcnow())
    batch = [
        (SubscribeRequest("new@example.com", ("Video",)), consent(ip="203.0.113.1")),
        (SubscribeRequest("left@example.com"), consent()),
        (SubscribeRequest("new@example.com", ("Other",)), consent(ip="203.0.113.2")),  # again, same batch
        (SubscribeRequest("in@example.com"), consent()),
        (SubscribeRequest("other@example.com"), consent()),
    ]
    with session_scope(engine) as session:
        outcomes = service.subscribe_many(session, batch)
    assert outcomes == [
        rules.OnSubscribe.CREATE,
        rules.OnSubscribe.REOPEN,
        rules.OnSubscribe.NOTHING,
        rules.OnSubscribe.NOTHING,
        rules.OnSubscribe.CREATE,
    ]
    # The first request for an address made it; the second one in the batch found it pending.
    created = reader(engine, "new@example.com")
    assert (created.status, created.topics, created.consent_ip) == ("pending", ["Video"], "203.0.113.1")
    assert reader(engine, "left@example.com").status == "pending"
    assert reader(engine, "in@example.com").status == "active"
    with session_scope(engine) as session:
        emails = sorted(session.exec(sa.select(Subscriber.email)).scalars())
    assert emails == ["in@example.com", "left@example.com", "new@example.com", "other@example.com"]


def test_confirming_activates_records_when_and_from_where_and_is_idempotent(engine):
    subscribe(engine, "ada@example.com")
    token = reader(engine, "ada@example.com").token
    with session_scope(engine) as session:
        _, activated = service.confirm(session, token, "198.51.100.1", utcnow())
    with session_scope(engine) as session:
        _, again = service.confirm(session, token, "198.51.100.2", utcnow())
    stored = reader(engine, "ada@example.com")
    assert (activated, again, stored.status, stored.confirmed_ip) == (True, False, "active", "198.51.100.1")
    assert stored.confirmed_at is not None


def test_an_unsubscribed_reader_cannot_be_reactivated_by_an_old_confirmation_link(engine):
    subscribe(engine, "ada@example.com")
    token = reader(engine, "ada@example.com").token
    with session_scope(engine) as session:
        service.unsubscribe(session, token, utcnow())
    with pytest.raises(StaleLink), session_scope(engine) as session:
        service.confirm(session, token, None, utcnow())
    assert reader(engine, "ada@example.com").status == "unsubscribed"


def test_unsubscribing_is_immediate_and_repeatable_and_subscribing_again_needs_a_new_confirmation(engine):
    subscribe(engine, "ada@example.com")
    token = reader(engine, "ada@example.com").token
    with session_scope(engine) as session:
        service.confirm(session, token, None, utcnow())
    for _ in range(2):
        with session_scope(engine) as session:
            service.unsubscribe(session, token, utcnow())
    assert reader(engine, "ada@example.com").status == "unsubscribed"
    assert subscribe(engine, "ada@example.com") is rules.OnSubscribe.REOPEN
    back = reader(engine, "ada@example.com")
    assert (back.status, back.confirmed_at, back.confirmation_sent_at) == ("pending", None, None)


def test_an_unknown_or_malformed_token_finds_no_reader(engine):
    for token in ("x" * 43, "short", "", "'; DROP TABLE subscriber; --"):
        with pytest.raises(UnknownReader), session_scope(engine) as session:
            service.unsubscribe(session, token, utcnow())


def test_preferences_replace_topics_and_time_zone(engine):
    subscribe(engine, "ada@example.com", ["Video"])
    token = reader(engine, "ada@example.com").token
    with session_scope(engine) as session:
        service.change_preferences(session, token, Preferences(("Developer Tools",), "Asia/Tokyo"), utcnow())
    stored = reader(engine, "ada@example.com")
    assert (stored.topics, stored.timezone) == (["Developer Tools"], "Asia/Tokyo")


def test_the_send_walk_sees_only_active_readers_in_keyset_batches(engine):
    for index in range(7):
        subscribe(engine, f"r{index}@example.com")
    with session_scope(engine) as session:
        for index in (0, 2, 3, 5, 6):
            service.confirm(session, service.by_email(session, f"r{index}@example.com").token, None, utcnow())
        service.unsubscribe(session, service.by_email(session, "r3@example.com").token, utcnow())
    seen, last = [], 0
    with session_scope(engine) as session:
        while batch := audience.next_batch(session, last, 2):
            seen += [r.email for r in batch]
            last = batch[-1].id
    assert seen == ["r0@example.com", "r2@example.com", "r5@example.com", "r6@example.com"]


def test_the_send_walk_query_uses_the_status_id_index(engine):
    query = (
        sa.select(Subscriber.id)
        .where(Subscriber.status == "active", Subscriber.id > 5)
        .order_by(Subscriber.id)
        .limit(100)
    )
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
            plan = " ".join(str(row) for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
            assert "ix_subscriber_status_id" in plan and "TEMP B-TREE" not in plan
        else:
            indexes = {ix["name"]: ix["column_names"] for ix in sa.inspect(connection).get_indexes("subscriber")}
            assert indexes["ix_subscriber_status_id"] == ["status", "id"]


def test_add_refuses_an_existing_address_and_an_erased_one_unless_told(engine):
    now = utcnow()
    with session_scope(engine) as session:
        operators.add_reader(session, SubscribeRequest("ada@example.com"), confirmed=True, consent=consent("cli"))
    with pytest.raises(AlreadyReader), session_scope(engine) as session:
        operators.add_reader(session, SubscribeRequest("ada@example.com"), confirmed=True, consent=consent("cli"))
    with session_scope(engine) as session:
        operators.delete_reader(session, "ADA@example.com", now)
    with pytest.raises(Suppressed, match="erased on request"), session_scope(engine) as session:
        operators.add_reader(session, SubscribeRequest("ada@example.com"), confirmed=True, consent=consent("cli"))
    with session_scope(engine) as session:
        operators.add_reader(
            session, SubscribeRequest("ada@example.com"), confirmed=True, consent=consent("cli"), allow_deleted=True
        )
        assert suppression.find(session, "ada@example.com") is None


def test_delete_erases_the_reader_and_keeps_only_a_hash_of_the_address(engine):
    subscribe(engine, "ada@example.com")
    with session_scope(engine) as session:
        operators.delete_reader(session, "ada@example.com", utcnow())
    with engine.connect() as connection:
        dump = " ".join(
            str(row)
            for table in ("subscriber", "suppression")
            for row in connection.execute(sa.text(f"SELECT * FROM {table}"))
        )
        assert connection.execute(sa.select(sa.func.count()).select_from(Subscriber)).scalar() == 0
        hashes = connection.execute(sa.select(Suppression.email_hash, Suppression.reason)).all()
    assert "ada" not in dump
    assert hashes == [(suppression.email_hash("ada@example.com"), "deleted")]


def test_an_erased_reader_who_signs_up_again_on_the_form_is_unsuppressed_only_on_confirming(engine):
    subscribe(engine, "ada@example.com")
    with session_scope(engine) as session:
        operators.delete_reader(session, "ada@example.com", utcnow())
    assert subscribe(engine, "ada@example.com") is rules.OnSubscribe.CREATE
    with session_scope(engine) as session:
        assert suppression.find(session, "ada@example.com") is not None
        service.confirm(session, service.by_email(session, "ada@example.com").token, None, utcnow())
    with session_scope(engine) as session:
        assert suppression.find(session, "ada@example.com") is None


def outbox_settings(tmp_path: Path, engine, **changes) -> Settings:
    values = {
        "database_url": str(engine.url),
        "outbox": tmp_path / "outbox",
        "base_url": "https://news.example",
        "secret_key": "test-secret",
        **changes,
    }
    return Settings(**values)


def mails(folder: Path) -> list[email.message.EmailMessage]:
    return (
        [
            email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            for path in sorted(folder.glob("*.eml"))
        ]
        if folder.exists()
        else []
    )


def test_send_pending_mails_each_waiting_reader_once_with_a_working_confirmation_link(engine, tmp_path):
    settings = outbox_settings(tmp_path, engine)
    for address in ("ada@example.com", "bob@example.com"):
        subscribe(engine, address)
    assert send_pending(engine, settings) == 2
    assert send_pending(engine, settings) == 0  # idempotent
    sent = mails(settings.outbox)
    assert sorted(m["To"] for m in sent) == ["ada@example.com", "bob@example.com"]
    text = sent[0].get_body(("plain",)).get_content()
    html = sent[0].get_body(("html",)).get_content()
    link = next(word for word in text.split() if word.startswith("https://news.example/confirm/"))
    assert link in html and "%%" not in text + html
    assert sent[0]["Subject"] == f"Confirm your subscription to {settings.newsletter_name}"
    from subscribers.tokens import ConfirmationTokens

    token = ConfirmationTokens("test-secret").read(link.rsplit("/", 1)[1])
    assert token == reader(engine, sent[0]["To"]).token
    with session_scope(engine) as session:
        assert confirmations.waiting(session) == 0


def test_two_processes_sending_at_once_mail_each_reader_exactly_once(engine, tmp_path):
    settings = outbox_settings(tmp_path, engine)
    for index in range(40):
        subscribe(engine, f"r{index}@example.com")
    counts: list[int] = []
    threads = [threading.Thread(target=lambda: counts.append(send_pending(engine, settings))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 40
    assert sorted(m["To"] for m in mails(settings.outbox)) == sorted(f"r{i}@example.com" for i in range(40))


def test_a_mail_that_could_not_leave_stays_queued_for_the_next_run(engine, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the outbox folder should be")
    subscribe(engine, "ada@example.com")
    # A sender may report the failure (the addresses come back "unsent") or raise; either way
    # nothing left, and the reader must still be waiting for their mail.
    try:
        sent = send_pending(engine, outbox_settings(tmp_path, engine, outbox=blocked))
    except OSError:
        sent = 0
    assert sent == 0
    assert reader(engine, "ada@example.com").confirmation_sent_at is None
    assert send_pending(engine, outbox_settings(tmp_path, engine)) == 1
