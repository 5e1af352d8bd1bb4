"""The send engine on a real store (SQLite and PostgreSQL) and a SendGrid-compatible server."""

from __future__ import annotations

import email
import email.policy
from collections import Counter

import pytest
from helpers import (
    a_letter,
    add_edition,
    add_readers,
    address,
    edition_status,
    ledger,
    ledger_rows,
    reader_of,
    set_status,
)
from sendgrid_server import SendGridServer

from digest.delivery import send_edition
from digest.errors import NotFound
from digest.mail.outbox import OutboxSender
from digest.mail.sendgrid import SendGridSender
from digest.settings import Settings


@pytest.fixture
def server():
    with SendGridServer(api_key="k") as running:
        yield running


@pytest.fixture
def sender(server):
    made = SendGridSender("k", server.url)
    yield made
    made.close()


def settings_for(engine, **values) -> Settings:
    return Settings(database_url=str(engine.url), base_url="https://v.example", **values)


def send(engine, number, sender, **options):
    return send_edition(engine, settings_for(engine), number, sender=sender, letter=a_letter(number), **options)


def test_every_active_reader_is_mailed_exactly_once(engine, server, sender):
    add_readers(engine, 2300)
    add_edition(engine, 1)
    summary = send(engine, 1, sender)
    assert (summary.status, summary.sent, summary.sent_now, summary.failed, summary.uncertain) == (
        "sent",
        2300,
        2300,
        0,
        0,
    )
    assert server.counts() == Counter({address(i): 1 for i in range(1, 2301)})
    assert set(ledger(engine, 1).values()) == {"sent"}
    rows = ledger_rows(engine, 1)
    messages = {a.message_id for a in server.accepted}
    assert {r["provider_message_id"] for r in rows} == messages
    assert all(r["finished_at"] >= r["claimed_at"] for r in rows)


def test_running_again_after_success_mails_nobody(engine, server, sender):
    add_readers(engine, 50)
    add_edition(engine, 1)
    send(engine, 1, sender)
    add_readers(engine, 5, first=51)  # joined after the edition went out: they wait for the next one
    again = send(engine, 1, sender)
    assert (again.status, again.sent, again.sent_now) == ("sent", 50, 0)
    assert len(server.recipients()) == 50


def test_only_active_readers_are_mailed(engine, server, sender):
    add_readers(engine, 10)
    add_readers(engine, 3, first=11, status="pending")
    add_readers(engine, 3, first=14, status="unsubscribed")
    add_readers(engine, 2, first=17, status="bounced")
    add_edition(engine, 1)
    send(engine, 1, sender)
    assert sorted(reader_of(a) for a in server.counts()) == list(range(1, 11))
    assert len(ledger(engine, 1)) == 10  # those who left before the send began get no row at all


def test_a_reader_who_leaves_during_the_send_is_skipped_from_the_next_batch_on(engine, server, sender):
    add_readers(engine, 300)
    add_edition(engine, 1)
    leavers = {150: "unsubscribed", 250: "complained", 260: "bounced"}

    def after_first_batch(progress):
        if progress.sent == 100:
            for reader, status in leavers.items():
                set_status(engine, [reader], status)

    summary = send(engine, 1, sender, batch_size=100, progress=after_first_batch)
    mailed = {reader_of(a) for a in server.counts()}
    assert mailed == set(range(1, 301)) - set(leavers)
    assert {r: s for r, s in ledger(engine, 1).items() if s != "sent"} == {r: "skipped" for r in leavers}
    assert (summary.sent, summary.skipped, summary.status) == (297, 3, "sent")


def test_the_edition_moves_from_draft_through_sending_to_sent(engine, server, sender):
    add_readers(engine, 20)
    add_edition(engine, 1)
    seen = []
    send(engine, 1, sender, batch_size=10, progress=lambda p: seen.append(edition_status(engine, 1)))
    assert seen == ["sending", "sending"]
    assert edition_status(engine, 1) == "sent"


def test_a_stop_request_ends_after_the_request_in_flight_with_the_ledger_exact(engine, server, sender):
    add_readers(engine, 500)
    add_edition(engine, 1)
    batches = []
    summary = send(engine, 1, sender, batch_size=100, progress=batches.append, should_stop=lambda: len(batches) >= 2)
    assert (summary.status, summary.sent, summary.pending) == ("stopped", 200, 300)
    assert edition_status(engine, 1) == "paused"
    assert Counter(ledger(engine, 1).values()) == {"sent": 200}  # nothing left claimed
    assert len(server.recipients()) == 200
    resumed = send(engine, 1, sender, batch_size=100)
    assert (resumed.status, resumed.sent, resumed.sent_now) == ("sent", 500, 300)
    assert server.counts() == Counter({address(i): 1 for i in range(1, 501)})


def test_a_dry_run_counts_and_sends_nothing(engine, server, sender):
    add_readers(engine, 30)
    add_edition(engine, 1)
    summary = send(engine, 1, sender, dry_run=True)
    assert (summary.status, summary.pending, summary.sent) == ("dry-run", 30, 0)
    assert server.requests == 0 and ledger(engine, 1) == {}
    assert edition_status(engine, 1) == "draft"


def test_an_unknown_edition_is_named(engine, sender):
    with pytest.raises(NotFound, match="no edition 9"):
        send(engine, 9, sender)


def test_the_outbox_gets_one_message_per_reader_as_smtp_would_carry_it(engine, tmp_path):
    add_readers(engine, 3)
    add_edition(engine, 2)
    summary = send(engine, 2, OutboxSender(tmp_path / "outbox"))
    assert summary.sent == 3
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 3
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    token = message["List-Unsubscribe"].strip().removeprefix("<https://v.example/unsubscribe/").rstrip(">")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"].endswith("<weekly-ai-tool-verdicts.example.com>")
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    assert f"/unsubscribe/{token}" in text and "%%reader_token%%" not in text
    rows = ledger_rows(engine, 2)
    assert all(r["provider_message_id"] for r in rows)
    assert len({r["provider_message_id"] for r in rows}) == 3  # each file has its own Message-ID
