"""What comes back stops mail: bounces, complaints and unsubscribes, during a send too; and the pause limits."""

from __future__ import annotations

from collections import Counter

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from helpers import (
    KeyPair,
    a_letter,
    add_edition,
    add_readers,
    address,
    comparison,
    edition_status,
    ledger,
    sendgrid_event,
    serve_site,
)
from sendgrid_server import SendGridServer

from digest.cli import main
from digest.delivery import send_edition
from digest.delivery.brake import MIN_SENT, SendHealth, judge
from digest.editions.service import build_edition
from digest.mail.outbox import OutboxSender
from digest.mail.sendgrid import SendGridSender
from digest.store import session_scope
from subscribers.models import Subscriber
from subscribers.status import after_provider_event as stop_status


@pytest.fixture
def keys():
    return KeyPair()


def statuses(engine) -> dict[int, str]:
    table = Subscriber.__table__
    with engine.connect() as connection:
        return dict(connection.execute(sa.select(table.c.id, table.c.status)).all())


@pytest.mark.parametrize(
    "event,bounce_type,raw,expected",
    [
        ("bounce", "bounce", {}, "bounced"),
        ("bounce", None, {}, "bounced"),
        ("bounce", "blocked", {}, None),  # a temporary refusal: worth trying again next week
        ("spamreport", None, {}, "complained"),
        ("unsubscribe", None, {}, "unsubscribed"),
        ("group_unsubscribe", None, {}, "unsubscribed"),
        ("dropped", None, {"reason": "Bounced Address"}, "bounced"),
        ("dropped", None, {"reason": "Spam Reporting Address"}, "complained"),
        ("dropped", None, {"reason": "Invalid SMTPAPI header"}, None),
        ("deferred", None, {}, None),
        ("delivered", None, {}, None),
        ("open", None, {}, None),
        ("group_resubscribe", None, {}, None),
    ],
)
def test_only_hard_bounces_complaints_and_unsubscribes_stop_mail(event, bounce_type, raw, expected):
    assert stop_status(event, bounce_type, raw) == expected


def test_events_posted_to_the_webhook_set_each_readers_status(db_url, keys):
    with serve_site(db_url, webhook_public_key=keys.public_b64) as site:
        add_readers(site.engine, 7)
        add_readers(site.engine, 1, first=8, status="unsubscribed")
        answer = site.post_events(
            keys,
            [
                sendgrid_event("bounce", "reader1@example.com", reader=1, type="bounce", reason="550 no such user"),
                sendgrid_event("bounce", "reader2@example.com", reader=2, type="blocked", reason="421 try later"),
                sendgrid_event("spamreport", "reader3@example.com", reader=3),
                sendgrid_event("unsubscribe", "reader4@example.com", reader=4),
                sendgrid_event("group_unsubscribe", "READER5@example.com", reader=5, asm_group_id=1),
                sendgrid_event("delivered", "reader6@example.com", reader=6),
                sendgrid_event("spamreport", "reader8@example.com", reader=8),  # already left: keeps that reason
                sendgrid_event("bounce", "nobody@example.com", type="bounce"),  # not a reader: nothing to change
            ],
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["suppressed"] == 4
        assert statuses(site.engine) == {
            1: "bounced",
            2: "active",
            3: "complained",
            4: "unsubscribed",
            5: "unsubscribed",
            6: "active",
            7: "active",
            8: "unsubscribed",
        }


def test_a_bounce_posted_during_a_send_stops_mail_to_that_reader_from_the_next_batch(db_url, keys):
    with serve_site(db_url, webhook_public_key=keys.public_b64) as site, SendGridServer(api_key="k") as provider:
        add_readers(site.engine, 6)
        add_edition(site.engine, 1)
        posted = []

        def after_each_batch(progress):
            if not posted:  # after the first batch (readers 1 and 2), SendGrid reports on readers 4 and 6
                posted.append(
                    site.post_events(
                        keys,
                        [
                            sendgrid_event("bounce", "reader4@example.com", reader=4, edition=None, type="bounce"),
                            sendgrid_event("spamreport", "reader6@example.com", reader=6, edition=None),
                        ],
                    )
                )

        sender = SendGridSender("k", provider.url)
        try:
            summary = send_edition(
                site.engine,
                site.settings,
                1,
                sender=sender,
                letter=a_letter(1),
                batch_size=2,
                progress=after_each_batch,
            )
        finally:
            sender.close()
        assert posted[0].json()["suppressed"] == 2
        assert provider.counts() == Counter({address(i): 1 for i in (1, 2, 3, 5)})
        assert ledger(site.engine, 1) == {1: "sent", 2: "sent", 3: "sent", 4: "skipped", 5: "sent", 6: "skipped"}
        assert (summary.status, summary.sent, summary.skipped) == ("sent", 4, 2)


def test_the_guard_judges_only_once_enough_mail_went_out():
    assert judge(SendHealth(sent=MIN_SENT - 1, complaints=5, bounces=50), 0.003, 0.05) is None
    assert judge(SendHealth(sent=1000, complaints=3, bounces=50), 0.003, 0.05) is None  # exactly at the limits
    complaint = judge(SendHealth(sent=1000, complaints=4, bounces=0), 0.003, 0.05)
    assert complaint.startswith(
        "the complaint rate is 0.4% (4 of 1000 readers reported it as spam), above DIGEST_MAX_COMPLAINT_RATE 0.3%"
    )
    bounce = judge(SendHealth(sent=1000, complaints=0, bounces=51), 0.003, 0.05)
    assert bounce.startswith("the bounce rate is 5.1% (51 of 1000 readers), above DIGEST_MAX_BOUNCE_RATE 5%")


def test_the_pause_threshold_stops_a_send_and_digest_send_resumes_it(db_url, cli_env, keys, tmp_path):
    with serve_site(db_url, webhook_public_key=keys.public_b64) as site:
        engine, settings = site.engine, site.settings
        with session_scope(engine) as session:
            comparison(session, "alpha-vs-beta", "2026-11-18 09:00")
            number = build_edition(session, settings, "2026-W47").edition.number
        add_readers(engine, 300)
        posted = []

        def after_each_batch(progress):
            if progress.sent == 100 and not posted:  # one complaint in 100: 1%, over Gmail's 0.3%
                posted.append(
                    site.post_events(
                        keys, [sendgrid_event("spamreport", "reader7@example.com", reader=7, edition=number)]
                    )
                )

        sender = OutboxSender(tmp_path / "outbox")
        first = send_edition(engine, settings, number, sender=sender, batch_size=50, progress=after_each_batch)
        assert posted[0].json()["stored"] == 1
        assert first.status == "paused"
        assert (
            "Paused: the complaint rate is 1% (1 of 100 readers reported it as spam), above "
            "DIGEST_MAX_COMPLAINT_RATE 0.3%" in first.reason
        )
        assert edition_status(engine, number) == "paused"
        # The rate is checked just before each request leaves: batch 3 never did.
        assert Counter(ledger(engine, number).values()) == Counter({"sent": 100})

        resumed = CliRunner().invoke(
            main, ["editions", "send", "--yes", "--edition", str(number), "--batch-size", "50"]
        )
        assert resumed.exit_code == 0, resumed.output
        assert edition_status(engine, number) == "sent"
        assert Counter(ledger(engine, number).values()) == Counter({"sent": 300})  # reader 7 had it already
        assert statuses(engine)[7] == "complained"
        assert len(list((tmp_path / "outbox").rglob("*.eml"))) == 300


def test_an_erased_readers_events_no_longer_name_them_but_still_count(db_url):
    import json

    from digest.events.erasure import forget_events
    from digest.events.ingest import ingest
    from digest.events.models import Event
    from digest.events.parse import parse_batch
    from digest.store import open_store
    from digest.timeutil import utcnow

    engine = open_store(db_url)
    now = utcnow()
    events = [
        sendgrid_event("open", "ada@example.com", reader=1, ip="192.0.2.1"),
        sendgrid_event("click", "ada@example.com", reader=1, url="https://x.example"),
        sendgrid_event("open", "bob@example.com", reader=2),
    ]
    with engine.begin() as connection:
        ingest(connection, parse_batch(json.dumps(events), now).rows, now)
    with session_scope(engine) as session:
        assert forget_events(session, "ada@example.com") == 2
    table = Event.__table__
    with engine.connect() as connection:
        rows = connection.execute(sa.select(table.c.email, table.c.reader_id, table.c.raw).order_by(table.c.id)).all()
    engine.dispose()
    assert rows[0].email == rows[1].email != rows[2].email == "bob@example.com"
    assert rows[0].email.startswith("hmac-sha256:") and "ada" not in rows[0].email
    assert (rows[0].reader_id, rows[0].raw, rows[1].raw) == (None, {}, {})


def test_the_rate_guard_counts_the_ledger_only_when_the_rate_could_be_over(engine):
    import json

    from digest.delivery.brake import RateGuard
    from digest.delivery.ledger import Delivery
    from digest.events.ingest import ingest
    from digest.events.parse import parse_batch
    from digest.timeutil import utcnow

    add_readers(engine, 400)
    edition_id = add_edition(engine, 1, status="sending")
    now = utcnow()

    def sent(first: int, last: int) -> None:
        with engine.begin() as connection:
            connection.execute(
                Delivery.__table__.insert(),
                [
                    {"edition_id": edition_id, "subscriber_id": i, "state": "sent", "claimed_at": now}
                    for i in range(first, last + 1)
                ],
            )

    def complaint(reader: int) -> None:
        event = sendgrid_event("spamreport", f"reader{reader}@example.com", edition=1)
        with engine.begin() as connection:
            ingest(connection, parse_batch(json.dumps([event]), now).rows, now)

    guard = RateGuard(max_complaint_rate=0.003, max_bounce_rate=0.05, min_sent=100)

    def check():
        with engine.begin() as connection:
            return guard(connection, edition_id)

    assert check() is None and guard.sent_counts == 1  # the baseline
    sent(1, 200)
    assert check() is None and guard.sent_counts == 2  # under 100 known: counted
    sent(201, 400)
    assert check() is None and guard.sent_counts == 2  # no complaint: the last count settles it
    complaint(1)
    assert check() is None and guard.sent_counts == 3  # 1 of 200 known would be over: counted, 1 of 400 is not
    complaint(2)
    reason = check()
    assert guard.sent_counts == 4
    assert reason.startswith("the complaint rate is 0.5% (2 of 400 readers reported it as spam)")
