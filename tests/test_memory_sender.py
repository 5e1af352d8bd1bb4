"""The memory sender: behind the same seam as the others, chosen by name, told to fail on purpose,
so that the send loop's faults are tested with no server and no real waiting."""

from __future__ import annotations

from collections import Counter

import pytest
from helpers import a_letter, add_edition, add_readers, address, edition_status, ledger, ledger_rows

from digest.delivery import RetryPolicy, send_edition
from digest.errors import RateLimited, RequestRefused, SenderRefused
from digest.mail import make_sender, memory
from digest.mail.memory import MemorySender
from digest.mail.message import Recipient
from digest.settings import Settings
from digest.timeutil import ManualClock, as_utc

PEOPLE = [Recipient("a@example.com"), Recipient("b@example.com")]


def send(engine, sender, **options):
    return send_edition(
        engine,
        Settings(database_url=str(engine.url)),
        1,
        sender=sender,
        letter=a_letter(1),
        retry=RetryPolicy(),
        clock=sender.clock,
        **options,
    )


def test_it_keeps_each_request_and_says_every_reader_was_taken():
    sender = MemorySender()
    result = sender.send(a_letter(1), PEOPLE)
    assert result.accepted == ["a@example.com", "b@example.com"] and result.message_id
    assert sender.addresses() == ["a@example.com", "b@example.com"]
    assert sender.sent[0].letter == a_letter(1)


def test_faults_come_in_the_order_they_were_asked_for_then_it_sends_again():
    clock = ManualClock()
    sender = MemorySender(clock=clock)
    sender.fail(times=1, error="503")
    sender.drop(times=1, delivered=False)
    sender.rate_limit(times=1, reset_in=5.0)
    sender.refuse()
    sender.refuse_request("too big")
    assert sender.send(a_letter(1), PEOPLE).unsent == ["a@example.com", "b@example.com"]
    assert sender.send(a_letter(1), PEOPLE).uncertain == ["a@example.com", "b@example.com"]
    with pytest.raises(RateLimited) as limited:
        sender.send(a_letter(1), PEOPLE)
    assert limited.value.retry_at == clock.now().timestamp() + 5.0
    with pytest.raises(SenderRefused):
        sender.send(a_letter(1), PEOPLE)
    with pytest.raises(RequestRefused, match="too big"):
        sender.send(a_letter(1), PEOPLE)
    assert sender.sent == [] and len(sender.attempts) == 5
    assert sender.send(a_letter(1), PEOPLE).accepted == ["a@example.com", "b@example.com"]


def test_digest_backend_memory_keeps_letters_in_the_modules_outbox():
    memory.outbox.clear()
    sender = make_sender(Settings(database_url="sqlite://", backend="memory"))
    assert isinstance(sender, MemorySender)
    sender.send(a_letter(1), PEOPLE[:1])
    assert [sent.recipients[0].address for sent in memory.outbox] == ["a@example.com"]
    memory.outbox.clear()


def test_a_send_through_it_mails_each_reader_once(engine):
    add_readers(engine, 250)
    add_edition(engine, 1)
    sender = MemorySender(max_batch=100, clock=ManualClock())
    summary = send(engine, sender)
    assert (summary.status, summary.sent) == ("sent", 250)
    assert sender.counts() == Counter({address(i): 1 for i in range(1, 251)})
    assert [len(sent.recipients) for sent in sender.sent] == [100, 100, 50]


def test_rejected_readers_fail_and_the_rest_of_their_request_goes(engine):
    add_readers(engine, 30)
    add_edition(engine, 1)
    sender = MemorySender(clock=ManualClock())
    sender.reject({address(3), address(17)})
    summary = send(engine, sender)
    assert (summary.status, summary.sent, summary.failed) == ("sent", 28, 2)
    assert {r for r, s in ledger(engine, 1).items() if s == "failed"} == {3, 17}


def test_a_dropped_request_makes_its_readers_uncertain_and_they_are_not_mailed_twice(engine):
    add_readers(engine, 30)
    add_edition(engine, 1)
    sender = MemorySender(max_batch=10, clock=ManualClock())
    sender.drop(times=1)  # it arrived, the answer did not
    summary = send(engine, sender)
    assert (summary.sent, summary.uncertain) == (20, 10)
    again = send(engine, sender)
    assert (again.sent_now, again.uncertain) == (0, 10)
    assert max(sender.counts().values()) == 1


def test_refused_credentials_stop_the_send_and_nobody_is_claimed(engine):
    add_readers(engine, 20)
    add_edition(engine, 1)
    sender = MemorySender(clock=ManualClock())
    sender.refuse()
    with pytest.raises(SenderRefused):
        send(engine, sender)
    assert ledger(engine, 1) == {} and edition_status(engine, 1) == "paused"
    assert len(sender.attempts) == 1  # not retried


def test_the_ledger_is_stamped_by_the_runs_clock(engine):
    add_readers(engine, 5)
    add_edition(engine, 1)
    clock = ManualClock()
    clock.advance(3600)  # an hour ahead of the machine
    send(engine, MemorySender(clock=clock))
    rows = ledger_rows(engine, 1)
    assert len(rows) == 5
    assert {as_utc(row["claimed_at"]) for row in rows} == {as_utc(row["finished_at"]) for row in rows} == {clock.now()}
