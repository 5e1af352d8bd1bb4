"""Each fault of issue 5 section 3, against the SendGrid-compatible server, with the ledger checked after."""

from __future__ import annotations

import socket
import time
from collections import Counter

import pytest
from helpers import a_letter, add_edition, add_readers, address, edition_status, ledger, reader_of, scaled
from sendgrid_server import SendGridServer

from digest.delivery import RetryPolicy, send_edition
from digest.mail import SenderRefused
from digest.mail.sendgrid import SendGridSender
from digest.settings import Settings

QUICK = RetryPolicy(attempts=3, base=0.05, cap=0.2)


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


def everyone_once(server, count):
    return server.counts() == Counter({address(i): 1 for i in range(1, count + 1)})


def test_429_waits_until_the_rate_limit_resets(engine, server):
    add_readers(engine, 200)
    add_edition(engine, 1)
    server.rate_limit(times=1, reset_in=1.0)
    summary = send(engine, server.url, batch_size=100)
    assert summary.status == "sent" and everyone_once(server, 200)
    first, retry = server.arrivals[0], server.arrivals[1]
    reset = int(first + 1.0 + 0.999)  # what the server put in X-RateLimit-Reset
    assert retry >= reset - 0.01
    assert [status for status, _ in server.refused] == [429]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retried_with_backoff_and_then_succeeds(engine, server, status):
    add_readers(engine, 150)
    add_edition(engine, 1)
    server.fail(times=2, status=status)
    summary = send(engine, server.url, batch_size=100)
    assert summary.status == "sent" and everyone_once(server, 150)
    assert server.requests == 2 + 2
    gaps = [b - a for a, b in zip(server.arrivals, server.arrivals[1:3])]
    assert all(gap >= QUICK.base / 2 for gap in gaps)  # it waited before each retry


def test_5xx_that_persists_pauses_the_send_and_a_later_run_resumes(engine, server):
    add_readers(engine, 250)
    add_edition(engine, 1)
    summary = send(engine, server.url, batch_size=100)  # first batch goes through
    server.fail(times=QUICK.attempts, status=500)
    add_edition(engine, 2)
    paused = send(engine, server.url, 2, batch_size=100)
    assert (paused.status, paused.sent, paused.pending) == ("paused", 0, 250)
    assert "500" in paused.reason and "digest editions send" in paused.reason
    assert edition_status(engine, 2) == "paused"
    assert ledger(engine, 2) == {}  # the readers of the failed request were released, not left claimed
    resumed = send(engine, server.url, 2, batch_size=100)
    assert (summary.status, resumed.status, resumed.sent) == ("sent", "sent", 250)


def test_a_connection_refused_is_retried_then_pauses_without_losing_anyone(engine):
    add_readers(engine, 40)
    add_edition(engine, 1)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    began = time.monotonic()
    summary = send(engine, f"http://127.0.0.1:{port}")
    assert summary.status == "paused" and "could not reach SendGrid" in summary.reason
    assert time.monotonic() - began >= QUICK.base / 2  # backed off between tries
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
