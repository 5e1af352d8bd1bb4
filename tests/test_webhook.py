"""POST /webhooks/sendgrid over real HTTP: signed batches stored once; anything unproven refused, nothing kept."""

from __future__ import annotations

import logging
import time
from datetime import UTC

import pytest
import sqlalchemy as sa
from helpers import KeyPair, add_readers, body_of, sendgrid_event, serve_site

from digest.events.models import Event
from digest.events.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, TOLERANCE
from subscribers.models import Subscriber


@pytest.fixture
def keys():
    return KeyPair()


@pytest.fixture
def site(db_url, keys):
    with serve_site(db_url, webhook_public_key=keys.public_b64) as site:
        add_readers(site.engine, 3)
        yield site


def stored(site) -> list[dict]:
    table = Event.__table__
    with site.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(sa.select(table).order_by(table.c.id))]


def statuses(site) -> dict[int, str]:
    table = Subscriber.__table__
    with site.engine.connect() as connection:
        return dict(connection.execute(sa.select(table.c.id, table.c.status)).all())


def test_a_valid_batch_is_stored_once_even_when_posted_twice(site, keys):
    batch = [
        sendgrid_event("delivered", "reader1@example.com", edition=4, reader=1),
        sendgrid_event("open", "Reader2@Example.com", edition=4, reader=2, useragent="Mozilla/5.0"),
        sendgrid_event("click", "reader2@example.com", edition=4, reader=2, url="https://example.com/x"),
    ]

    first = site.post_events(keys, batch, timestamp=int(time.time()) - 30)
    assert first.status_code == 200, first.text
    assert first.json() == {"stored": 3, "duplicates": 0, "ignored": 0, "suppressed": 0}
    second = site.post_events(keys, batch)  # SendGrid's retry: signed again, with a later timestamp
    assert second.status_code == 200, second.text
    assert second.json() == {"stored": 0, "duplicates": 3, "ignored": 0, "suppressed": 0}

    rows = stored(site)
    assert [r["sg_event_id"] for r in rows] == [e["sg_event_id"] for e in batch]
    assert [(r["event"], r["email"], r["reader_id"], r["edition_number"]) for r in rows] == [
        ("delivered", "reader1@example.com", 1, 4),
        ("open", "reader2@example.com", 2, 4),
        ("click", "reader2@example.com", 2, 4),
    ]
    assert rows[2]["raw"]["url"] == "https://example.com/x"
    assert int(rows[0]["occurred_at"].timestamp()) == batch[0]["timestamp"]


def test_forged_altered_unsigned_or_stale_batches_are_rejected_and_change_nothing(site, keys):
    # Each would bounce reader 1 and complain for reader 2 if it were believed.
    batch = [
        sendgrid_event("bounce", "reader1@example.com", reader=1, type="bounce"),
        sendgrid_event("spamreport", "reader2@example.com", reader=2),
    ]
    body = body_of(batch)
    now = int(time.time())
    stale = now - int(TOLERANCE.total_seconds()) - 60
    altered = body.replace(b"reader1@", b"reader3@")
    good = keys.headers(body, now)
    cases = {
        "forged": (body, KeyPair().headers(body, now)),
        "altered": (altered, good),
        "unsigned": (body, {"Content-Type": "application/json"}),
        "no timestamp": (body, {"Content-Type": "application/json", SIGNATURE_HEADER: good[SIGNATURE_HEADER]}),
        "stale": (body, keys.headers(body, stale)),
        "from the future": (body, keys.headers(body, now + 3600)),
        "timestamp swapped": (body, {**keys.headers(body, stale), TIMESTAMP_HEADER: str(now)}),
        "signature not base64": (body, {**good, SIGNATURE_HEADER: "not*base64*at*all"}),
        "timestamp not a number": (body, {**good, TIMESTAMP_HEADER: "yesterday"}),
        "not UTF-8": (b"\xff" + body, keys.headers(b"\xff" + body, now)),
    }
    for name, (content, headers) in cases.items():
        answer = site.http.post("/webhooks/sendgrid", content=content, headers=headers)
        assert answer.status_code == 403, (name, answer.status_code, answer.text)
        message = answer.json()["errors"][0]["message"]
        assert "Nothing was stored" in message, (name, message)
    assert stored(site) == []
    assert statuses(site) == {1: "active", 2: "active", 3: "active"}


def test_each_refusal_says_what_was_wrong(site, keys):
    body = body_of([sendgrid_event("open", "reader1@example.com")])
    unsigned = site.http.post("/webhooks/sendgrid", content=body, headers={"Content-Type": "application/json"})
    assert "missing X-Twilio-Email-Event-Webhook-Signature" in unsigned.json()["errors"][0]["message"]
    stale = site.post_events(keys, body, timestamp=int(time.time()) - 3600)
    assert "replayed or delayed" in stale.json()["errors"][0]["message"]
    forged = site.post_events(KeyPair(), body)
    assert "does not match the body and timestamp" in forged.json()["errors"][0]["message"]


MALFORMED = {
    "cut short": (b'[{"event": "open",', "the body is not JSON: Expecting"),
    "empty": (b"", "the body is not JSON: Expecting value at line 1 column 1"),
    "an object": (b'{"event": "open", "email": "a@example.com"}', "expected a JSON array of events, got a JSON dict"),
    "a string": (b'"open"', "expected a JSON array of events, got a JSON str"),
    "nested too deep": (b"[" * 5000 + b"]" * 5000, "the body is JSON nested too deeply"),
}


def test_a_malformed_body_is_a_clear_400_and_stores_nothing(site, keys):
    for name, (body, expected) in MALFORMED.items():
        answer = site.post_events(keys, body)
        assert answer.status_code == 400, (name, answer.text)
        assert expected in answer.json()["errors"][0]["message"], name
    assert stored(site) == []


def test_unknown_event_types_and_unusable_events_are_ignored_with_a_log_line(site, keys, caplog):
    good = sendgrid_event("open", "reader1@example.com", reader=1)
    batch = [
        good,
        sendgrid_event("brand_new_kind", "reader2@example.com"),
        {"event": "open", "email": "reader3@example.com", "timestamp": 1},
        "not an event",
        {**sendgrid_event("open", "reader3@example.com"), "timestamp": "yesterday"},
    ]
    with caplog.at_level(logging.WARNING, logger="digest.web.webhook"):
        answer = site.post_events(keys, batch)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"stored": 1, "duplicates": 0, "ignored": 4, "suppressed": 0}
    assert [r["sg_event_id"] for r in stored(site)] == [good["sg_event_id"]]
    logged = [r.getMessage() for r in caplog.records if r.name == "digest.web.webhook"]
    assert any("event 1: unknown event type 'brand_new_kind'" in line for line in logged), logged
    assert any("event 2: sg_event_id must be" in line for line in logged), logged
    assert any("event 3: expected an object, got str" in line for line in logged), logged
    assert any("event 4: timestamp must be Unix seconds" in line for line in logged), logged


def test_the_same_event_twice_in_one_batch_is_stored_once(site, keys):
    event = sendgrid_event("delivered", "reader1@example.com")
    answer = site.post_events(keys, [event, dict(event)])
    assert answer.json()["stored"] == 1
    assert len(stored(site)) == 1


def test_without_a_public_key_the_webhook_answers_503_and_stores_nothing(sqlite_url, keys):
    with serve_site(sqlite_url) as site:
        answer = site.post_events(keys, [sendgrid_event("open", "reader1@example.com")])
        assert answer.status_code == 503
        assert "SENDGRID_WEBHOOK_PUBLIC_KEY" in answer.json()["errors"][0]["message"]
        assert stored(site) == []


def test_a_public_key_in_pem_form_works_too(sqlite_url, keys):
    pem = "-----BEGIN PUBLIC KEY-----\n" + keys.public_b64 + "\n-----END PUBLIC KEY-----\n"
    with serve_site(sqlite_url, webhook_public_key=pem) as site:
        assert site.post_events(keys, [sendgrid_event("open", "reader1@example.com")]).json()["stored"] == 1


def test_an_oversized_body_is_refused_with_413(sqlite_url, keys):
    with serve_site(sqlite_url, webhook_public_key=keys.public_b64) as site:
        body = b"[" + b" " * (9 * 1024 * 1024) + b"]"
        answer = site.post_events(keys, body)
        assert answer.status_code == 413
        assert stored(site) == []


def test_a_batch_of_a_thousand_events_is_stored_in_one_request(site, keys):
    batch = [
        sendgrid_event(("delivered", "open", "click")[i % 3], f"reader{1 + i % 3}@example.com", reader=1 + i % 3)
        for i in range(1000)
    ]
    answer = site.post_events(keys, batch)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"stored": 1000, "duplicates": 0, "ignored": 0, "suppressed": 0}
    assert len(stored(site)) == 1000


def test_one_event_with_a_nul_or_a_nan_is_logged_and_the_rest_of_the_signed_batch_is_stored(site, keys, caplog):
    """On PostgreSQL either used to fail the whole batch with a 500 (issue 12, item 10)."""
    good = [
        sendgrid_event("open", "reader1@example.com"),
        sendgrid_event("bounce", "reader2@example.com"),
        sendgrid_event("click", "reader3@example.com", url="https://example.com/x"),
    ]
    with_nul = sendgrid_event("open", "reader3@example.com", useragent="Mozilla\u0000/5.0")
    with_nan = sendgrid_event("open", "reader3@example.com", ip=float("nan"))
    nul_address = sendgrid_event("spamreport", "reader1\u0000@example.com")
    body = body_of([good[0], with_nul, good[1], with_nan, nul_address, good[2]])
    assert b"NaN" in body and b"\\u0000" in body  # as a sender may write them: valid to Python's JSON reader
    with caplog.at_level(logging.WARNING, logger="digest.web.webhook"):
        answer = site.post_events(keys, body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"stored": 3, "duplicates": 0, "ignored": 3, "suppressed": 1}
    assert [r["sg_event_id"] for r in stored(site)] == [e["sg_event_id"] for e in good]
    assert "event 1: it cannot be stored: a NUL character in 'useragent'" in caplog.text
    assert "event 3: it cannot be stored: a number that is not finite (nan) in 'ip'" in caplog.text
    assert "event 4: it cannot be stored: a NUL character in 'email'" in caplog.text
    assert statuses(site)[2] == "bounced" and statuses(site)[1] == "active"  # the NUL complaint changed nothing
    from subscribers.consent import history

    with site.engine.connect() as connection:
        assert [(e["kind"], e["status"], e["source"]) for e in history(connection, 2)][-1:] == [
            ("opt-out", "bounced", "SendGrid event webhook: bounced")
        ]


def test_the_store_keeps_what_postgresql_takes_when_one_row_is_refused(engine):
    """Behind the parser's checks: should the database still refuse an event, the others are kept."""
    from datetime import datetime

    from digest.events.ingest import ingest

    now = datetime.now(UTC)
    rows = [
        {
            "sg_event_id": sg_id,
            "event": "open",
            "bounce_type": None,
            "email": email,
            "reader_id": None,
            "edition_number": None,
            "occurred_at": now,
            "received_at": now,
            "raw": {},
        }
        for sg_id, email in (("a", "one@example.com"), ("b", "two\x00@example.com"), ("c", "three@example.com"))
    ]
    with engine.begin() as connection:
        result = ingest(connection, rows, now)
    with engine.connect() as connection:
        kept = sorted(connection.execute(sa.select(Event.__table__.c.sg_event_id)).scalars())
    if engine.dialect.name == "postgresql":
        assert (result.stored, list(result.refused), kept) == (2, ["b"], ["a", "c"])
        assert "NUL" in result.refused["b"]
    else:  # SQLite stores any text
        assert (result.stored, result.refused, kept) == (3, {}, ["a", "b", "c"])
