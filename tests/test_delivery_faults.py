"""Each fault of issue 5 section 3, with the ledger checked after.

The send loop's own retries and waits (429, 5xx, no connection) run on a ManualClock with the
production RetryPolicy: the backoff is checked on the clock, and no test sleeps through it. Where
the loop's logic is what is tested, the memory sender plays the provider; what SendGrid's answers
mean (a 400 naming readers, 401/403, 413, a timeout, a dropped connection) is tested against the
SendGrid-compatible server, and the mapping of 429 and 5xx answers by `interpret` on its own.
"""

from __future__ import annotations

import socket
import time
from collections import Counter

import httpx
import pytest
from helpers import a_letter, add_edition, add_readers, address, edition_status, ledger, reader_of, scaled
from sendgrid_server import SendGridServer

from digest.delivery import RetryPolicy, send_edition
from digest.errors import RateLimited
from digest.mail import SenderRefused
from digest.mail.memory import MemorySender
from digest.mail.message import Recipient
from digest.mail.sendgrid import SendGridSender, interpret
from digest.settings import Settings
from digest.timeutil import ManualClock

QUICK = RetryPolicy(attempts=3, base=0.05, cap=0.2)
PRODUCTION = RetryPolicy()  # 1 s doubled up to 60 s, 5 tries: free on a ManualClock


@pytest.fixture
def server():
    with SendGridServer(api_key="k") as running:
        yield running


def send(engine, server_url, number=1, *, max_errors=100, timeout=None, **options):
    sender = SendGridSender("k", server_url, timeout=scaled(10.0) if timeout is None else timeout)
    try:
        return send_edition(
            engine,
            Settings(database_url=str(engine.url), max_errors=max_errors),
            number,
            sender=sender,
            letter=a_letter(number),
            retry=options.pop("retry", QUICK),
            **options,
        )
    finally:
        sender.close()


def send_to_memory(engine, sender: MemorySender, number=1, *, max_errors=100, **options):
    return send_edition(
        engine,
        Settings(database_url=str(engine.url), max_errors=max_errors),
        number,
        sender=sender,
        letter=a_letter(number),
        retry=options.pop("retry", PRODUCTION),
        clock=sender.clock,
        **options,
    )


def everyone_once(server, count):
    return server.counts() == Counter({address(i): 1 for i in range(1, count + 1)})


def test_429_waits_until_the_rate_limit_resets(engine):
    add_readers(engine, 200)
    add_edition(engine, 1)
    clock = ManualClock()
    sender = MemorySender(clock=clock)
    sender.rate_limit(times=1, reset_in=30.0)
    began = time.monotonic()
    summary = send_to_memory(engine, sender, batch_size=100)
    assert summary.status == "sent" and everyone_once(sender, 200)
    first, retry = sender.attempts[0], sender.attempts[1]
    assert retry - first >= 30.0 - 0.01 and sum(clock.slept) >= 30.0 - 0.01  # waited for the reset, on its clock
    assert time.monotonic() - began < 10  # and not in real time


def test_a_429_asking_for_too_long_a_wait_pauses_the_send(engine):
    add_readers(engine, 50)
    add_edition(engine, 1)
    sender = MemorySender(clock=ManualClock())
    sender.rate_limit(times=1, reset_in=PRODUCTION.max_rate_wait + 60)
    summary = send_to_memory(engine, sender)
    assert summary.status == "paused" and "rate limited" in summary.reason and sender.sent == []
    assert ledger(engine, 1) == {} and edition_status(engine, 1) == "paused"


def test_sendgrids_429_is_a_rate_limit_until_the_reset_it_names():
    answer = httpx.Response(429, headers={"X-RateLimit-Reset": "1900000000"}, json={"errors": [{"message": "slow"}]})
    with pytest.raises(RateLimited) as limited:
        interpret(answer, [Recipient("a@example.com")])
    assert limited.value.retry_at == 1900000000.0


@pytest.mark.parametrize("status", [500, 502, 503])
def test_sendgrids_5xx_leaves_every_reader_unsent_to_be_retried(status):
    result = interpret(httpx.Response(status), [Recipient("a@example.com"), Recipient("b@example.com")])
    assert (result.unsent, result.accepted, result.uncertain) == (["a@example.com", "b@example.com"], [], [])
    assert str(status) in result.error


def test_5xx_is_retried_with_backoff_and_then_succeeds(engine):
    add_readers(engine, 150)
    add_edition(engine, 1)
    clock = ManualClock()
    sender = MemorySender(clock=clock)
    sender.fail(times=2)
    summary = send_to_memory(engine, sender, batch_size=100)
    assert summary.status == "sent" and everyone_once(sender, 150)
    assert len(sender.attempts) == 2 + 2
    gaps = [b - a for a, b in zip(sender.attempts, sender.attempts[1:3])]
    assert PRODUCTION.base / 2 <= gaps[0] <= PRODUCTION.base + 0.11  # it waited before each retry, doubling
    assert PRODUCTION.base <= gaps[1] <= 2 * PRODUCTION.base + 0.11


def test_5xx_that_persists_pauses_the_send_and_a_later_run_resumes(engine):
    add_readers(engine, 250)
    add_edition(engine, 1)
    sender = MemorySender(clock=ManualClock())
    summary = send_to_memory(engine, sender, batch_size=100)  # first batch goes through
    sender.fail(times=PRODUCTION.attempts, error="SendGrid answered 500")
    add_edition(engine, 2)
    paused = send_to_memory(engine, sender, 2, batch_size=100)
    assert (paused.status, paused.sent, paused.pending) == ("paused", 0, 250)
    assert "500" in paused.reason and f"({PRODUCTION.attempts} tries)" in paused.reason
    assert "digest editions send" in paused.reason
    assert edition_status(engine, 2) == "paused"
    assert ledger(engine, 2) == {}  # the readers of the failed request were released, not left claimed
    resumed = send_to_memory(engine, sender, 2, batch_size=100)
    assert (summary.status, resumed.status, resumed.sent) == ("sent", "sent", 250)


def test_a_connection_refused_is_retried_then_pauses_without_losing_anyone(engine):
    add_readers(engine, 40)
    add_edition(engine, 1)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clock = ManualClock()
    sender = SendGridSender("k", f"http://127.0.0.1:{port}")
    try:
        summary = send_edition(
            engine,
            Settings(database_url=str(engine.url)),
            1,
            sender=sender,
            letter=a_letter(1),
            retry=PRODUCTION,
            clock=clock,
        )
    finally:
        sender.close()
    assert summary.status == "paused" and "could not reach SendGrid" in summary.reason
    assert sum(clock.slept) >= PRODUCTION.base / 2 * (PRODUCTION.attempts - 1)  # backed off between tries
    assert ledger(engine, 1) == {} and summary.pending == 40


def test_a_400_naming_bad_recipients_fails_those_and_sends_the_rest(engine, server):
    add_readers(engine, 120)
    add_edition(engine, 1)
    bad = {address(7), address(111)}
    server.reject(bad)
    summary = send(engine, server.url, batch_size=100)
    assert (summary.status, summary.sent, summary.failed) == ("sent", 118, 2)
    states = ledger(engine, 1)
    assert {r for r, s in states.items() if s == "failed"} == {7, 111}
    assert set(server.counts()) == {address(i) for i in range(1, 121)} - bad
    assert max(server.counts().values()) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_stop_the_send_with_a_clear_message(engine, server, status):
    add_readers(engine, 50)
    add_edition(engine, 1)
    server.fail(times=1, status=status)
    with pytest.raises(SenderRefused, match="SENDGRID_API_KEY"):
        send(engine, server.url)
    assert server.requests == 1  # not retried
    assert ledger(engine, 1) == {} and edition_status(engine, 1) == "paused"


def test_a_wrong_api_key_is_refused_by_the_server_and_stops_the_send(engine, server):
    add_readers(engine, 5)
    add_edition(engine, 1)
    sender = SendGridSender("not-the-key", server.url)
    with pytest.raises(SenderRefused, match="401"):
        send_edition(engine, Settings(database_url=str(engine.url)), 1, sender=sender, letter=a_letter(1))


def test_more_failures_than_max_errors_pause_the_send_and_it_resumes_later(engine, server):
    add_readers(engine, 300)
    add_edition(engine, 1)
    server.reject({address(i) for i in (5, 6, 7, 105)})
    paused = send(engine, server.url, batch_size=100, max_errors=3)
    assert paused.status == "paused" and "DIGEST_MAX_ERRORS=3" in paused.reason
    assert (paused.sent, paused.failed, paused.pending) == (196, 4, 100)  # stopped after the batch that tipped it
    resumed = send(engine, server.url, batch_size=100, max_errors=3)
    assert (resumed.status, resumed.sent, resumed.failed) == ("sent", 296, 4)
    assert max(server.counts().values()) == 1


def test_a_timeout_after_the_body_left_makes_the_readers_uncertain_not_resent(engine, server):
    add_readers(engine, 30)
    add_edition(engine, 1)
    server.hang(times=1, seconds=3)
    summary = send(engine, server.url, batch_size=10, timeout=0.5)
    assert (summary.status, summary.sent, summary.uncertain) == ("sent", 20, 10)
    assert {r for r, s in ledger(engine, 1).items() if s == "uncertain"} == set(range(1, 11))
    assert server.requests == 3  # the hung request was not retried
    again = send(engine, server.url, batch_size=10, timeout=0.5)
    assert (again.sent_now, again.uncertain) == (0, 10)  # a plain re-run leaves them alone
    resent = send(engine, server.url, batch_size=10, resend_uncertain=True)
    assert (resent.sent, resent.uncertain, resent.sent_now) == (30, 0, 10)


def test_a_dropped_connection_makes_the_readers_uncertain(engine, server):
    add_readers(engine, 30)
    add_edition(engine, 1)
    server.drop(times=1)
    summary = send(engine, server.url, batch_size=10)
    assert (summary.sent, summary.uncertain) == (20, 10)
    assert "uncertain" not in (summary.reason or "")
    assert max(server.counts().values()) == 1


def test_a_request_refused_as_a_whole_pauses_with_the_providers_words(engine, server):
    add_readers(engine, 30)
    add_edition(engine, 1)
    server.fail(times=1, status=413)
    summary = send(engine, server.url)
    assert summary.status == "paused" and "413" in summary.reason
    assert ledger(engine, 1) == {}


def test_resending_uncertain_readers_who_left_skips_them(engine, server):
    add_readers(engine, 20)
    add_edition(engine, 1)
    server.drop(times=1, record=False)
    send(engine, server.url, batch_size=10)
    from helpers import set_status

    set_status(engine, [3], "unsubscribed")
    resent = send(engine, server.url, batch_size=10, resend_uncertain=True)
    assert (resent.sent, resent.uncertain, resent.skipped) == (19, 0, 1)
    assert reader_of(address(3)) not in {reader_of(a) for a in server.counts()}
