"""Claims left behind by a sender that died: reported as uncertain, never re-sent silently."""

from __future__ import annotations

from collections import Counter

import pytest
from helpers import a_letter, add_edition, add_readers, address, ledger
from sendgrid_server import SendGridServer

from digest.delivery import send_edition
from digest.delivery.ledger import claim, read_fresh
from digest.delivery.lock import SendGuard, left_behind, request_id
from digest.editions.models import Edition
from digest.errors import SenderBusy
from digest.mail.sendgrid import SendGridSender
from digest.settings import Settings
from digest.timeutil import utcnow


@pytest.fixture
def server():
    with SendGridServer(api_key="k") as running:
        yield running


def send(engine, server, **options):
    sender = SendGridSender("k", server.url)
    try:
        return send_edition(
            engine, Settings(database_url=str(engine.url)), 1, sender=sender, letter=a_letter(1), **options
        )
    finally:
        sender.close()


def claim_as(engine, worker: int, count: int, *, after: int = 0, queued: bool = False, sequence: int = 1) -> None:
    """What a sender that claimed a batch and then died leaves in the ledger (`queued`: claimed ahead,
    never gone live)."""
    with engine.begin() as connection:
        edition_id = connection.execute(Edition.__table__.select()).first().id
        rows = read_fresh(connection, edition_id, after_id=after, limit=count, started_at=utcnow()).rows
        claim(
            connection,
            edition_id,
            [row[:3] for row in rows],
            request_id=request_id(worker, sequence, queued=queued),
            variant_id=None,
        )


def test_claims_of_a_dead_sender_become_uncertain_and_are_not_resent(engine, server):
    add_readers(engine, 50)
    add_edition(engine, 1)
    claim_as(engine, worker=12345, count=10)  # no process holds worker 12345's lock: it is gone
    summary = send(engine, server, batch_size=20)
    assert (summary.status, summary.sent, summary.uncertain) == ("sent", 40, 10)
    assert {r for r, s in ledger(engine, 1).items() if s == "uncertain"} == set(range(1, 11))
    assert set(server.counts()) == {address(i) for i in range(11, 51)}
    resent = send(engine, server, resend_uncertain=True)
    assert (resent.sent, resent.uncertain) == (50, 0)
    assert server.counts() == Counter({address(i): 1 for i in range(1, 51)})


def test_claims_made_ahead_that_never_went_live_are_let_go_and_mailed_by_the_next_run(engine, server):
    add_readers(engine, 40)
    add_edition(engine, 1)
    claim_as(engine, worker=12345, count=10)  # the request in flight when it died
    claim_as(engine, worker=12345, count=10, after=10, queued=True, sequence=2)  # claimed ahead, never left
    summary = send(engine, server, batch_size=20)
    assert (summary.status, summary.sent, summary.uncertain) == ("sent", 30, 10)
    assert {r for r, s in ledger(engine, 1).items() if s == "uncertain"} == set(range(1, 11))
    assert server.counts() == Counter({address(i): 1 for i in range(11, 41)})


def test_a_live_workers_claims_are_left_to_it(pg_url, server):
    from digest.store import open_store

    engine = open_store(pg_url)
    add_readers(engine, 30)
    add_edition(engine, 1)
    alive = SendGuard(engine)  # another worker, still running, with a request in flight
    try:
        claim_as(engine, worker=alive.worker, count=10)
        summary = send(engine, server)
        assert summary.status == "sending"  # it is not done until the other worker is
        assert Counter(ledger(engine, 1).values()) == {"sent": 20, "claimed": 10}
        assert set(server.counts()) == {address(i) for i in range(11, 31)}
    finally:
        alive.close()
    after = send(engine, server)  # now that worker is gone: its claims are uncertain
    assert (after.status, after.uncertain) == ("sent", 10)
    engine.dispose()


def test_a_second_sender_on_sqlite_is_refused_with_a_clear_message(sqlite_url, server):
    from digest.store import open_store

    engine = open_store(sqlite_url)
    add_readers(engine, 5)
    add_edition(engine, 1)
    first = SendGuard(engine)
    try:
        with pytest.raises(SenderBusy, match="another `digest editions send`.*one sender at a time"):
            send(engine, server)
    finally:
        first.close()
    assert send(engine, server).sent == 5  # once the first is gone, sending works
    engine.dispose()


def test_of_requests_claimed_ahead_only_the_lowest_may_have_left_the_others_are_let_go(engine, server):
    """Requests claimed ahead go out one by one, each outcome committed before the next leaves: of those
    a dead worker left claimed, only the first may have gone out."""
    add_readers(engine, 40)
    add_edition(engine, 1)
    claim_as(engine, worker=12345, count=10, after=10, queued=True, sequence=3)
    claim_as(engine, worker=12345, count=10, queued=True, sequence=2)  # the lowest: in flight when it died
    summary = send(engine, server, batch_size=20)
    assert (summary.status, summary.sent, summary.uncertain) == ("sent", 30, 10)
    assert {r for r, s in ledger(engine, 1).items() if s == "uncertain"} == set(range(1, 11))
    assert server.counts() == Counter({address(i): 1 for i in range(11, 41)})


def test_which_claims_of_a_gone_worker_may_have_left():
    requests = [
        "0000000a-0000009-queued",
        "0000000a-0000010-queued",
        "0000000b-0000004-3f2a1c",
        "0000000b-0000005-queued",
        "0000000c-0000001-ab12cd",
        "0000000c-0000002-ef34ab",
    ]
    may_have_left, did_not = left_behind(requests)
    # a: claimed ahead only, the lowest may have left; b: a request on its own was in flight, so none of
    # its requests claimed ahead had; c: requests on their own (a resend's parts) all may have.
    assert may_have_left == {
        "0000000a-0000009-queued",
        "0000000b-0000004-3f2a1c",
        "0000000c-0000001-ab12cd",
        "0000000c-0000002-ef34ab",
    }
    assert did_not == {"0000000a-0000010-queued", "0000000b-0000005-queued"}


def test_a_sender_is_known_alive_by_the_one_liveness_mechanism_until_it_lets_go(db_url):
    """SendGuard's worker is a Presence: what the confirmation-mail queue asks is what a sender asks."""
    from digest.delivery.presence import Presence
    from digest.store import open_store

    engine = open_store(db_url)
    sender = SendGuard(engine)
    other = Presence(engine)
    try:
        assert sender.worker == sender.presence.number
        assert not other.is_gone(sender.worker)
        assert other.gone({f"{sender.worker:08x}"}) == set()
        assert not sender.is_gone(sender.worker) and sender.is_gone(other.number + 1) and sender.is_gone(None)
        sender.close()
        assert other.is_gone(sender.worker)
    finally:
        sender.close()
        other.close()
        engine.dispose()
