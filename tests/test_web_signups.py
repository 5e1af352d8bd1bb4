"""Group commit of sign-ups (digest.web.signups) on a real store, SQLite and PostgreSQL.

The book's transactions are the WriteGate's own; where a test needs sign-ups to
queue up behind a batch, the first transaction waits for a signal before it
begins, as a slow disk would make it.
"""

from __future__ import annotations

import asyncio
import threading
from contextlib import contextmanager

import sqlalchemy as sa
from helpers import scaled, wait_for

from digest.store import session_scope
from digest.timeutil import utcnow
from digest.web.signups import SignupBook
from digest.web.writes import WriteGate
from subscribers import rules, service
from subscribers.models import Subscriber
from subscribers.validation import SubscribeRequest

CREATE, REOPEN = rules.OnSubscribe.CREATE, rules.OnSubscribe.REOPEN


class HeldFirst:
    """The WriteGate's transactions, counted; the first one waits until `release` is set."""

    def __init__(self, engine):
        self.gate = WriteGate(engine)
        self.release = threading.Event()
        self.opened = 0

    @contextmanager
    def __call__(self):
        self.opened += 1
        if self.opened == 1:
            assert self.release.wait(scaled(10)), "the test never released the first transaction"
        with self.gate.session() as session:
            yield session


def run_loop(coroutine):
    """asyncio.run on a thread of its own: in the whole suite, the session's Playwright browser
    (its sync API) keeps an event loop running on the main thread, where asyncio.run refuses."""
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # handed to the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def consent(ip="203.0.113.7"):
    return service.Consent(at=utcnow(), source="JSON API (POST /subscribe)", ip=ip)


def signup(address: str):
    return SubscribeRequest(address), consent()


def stored(engine) -> dict[str, Subscriber]:
    with session_scope(engine) as session:
        return {r.email: r for r in session.exec(sa.select(Subscriber)).scalars()}


def refuse_in_the_database(engine, *, insert: str, update: str) -> None:
    """A trigger that makes the database itself refuse to insert one address and to update another."""
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            for event, address in (("INSERT", insert), ("UPDATE", update)):
                connection.exec_driver_sql(
                    f"CREATE TRIGGER refuse_{event.lower()} BEFORE {event} ON subscriber "
                    f"WHEN NEW.email = '{address}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )
        else:
            connection.exec_driver_sql(
                "CREATE FUNCTION refuse_reader() RETURNS trigger AS $$ BEGIN "
                f"IF (TG_OP = 'INSERT' AND NEW.email = '{insert}') OR (TG_OP = 'UPDATE' AND NEW.email = '{update}') "
                "THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON subscriber "
                "FOR EACH ROW EXECUTE FUNCTION refuse_reader()"
            )


def test_sign_ups_arriving_while_a_batch_is_written_are_committed_together_in_the_next_one(engine):
    held = HeldFirst(engine)
    book = SignupBook(held)

    async def main():
        first = asyncio.ensure_future(book.file(*signup("first@example.com")))
        while held.opened == 0:  # the writer has taken the first sign-up and waits to begin
            await asyncio.sleep(0.01)
        rest = [asyncio.ensure_future(book.file(*signup(f"r{i}@example.com"))) for i in range(20)]
        await asyncio.sleep(0.1)
        assert not any(f.done() for f in [first, *rest])  # nobody is answered before their commit
        held.release.set()
        return await asyncio.gather(first, *rest)

    assert run_loop(main()) == [CREATE] * 21
    assert held.opened == 2  # one transaction for the first, one for the twenty behind it
    assert set(stored(engine)) == {"first@example.com", *(f"r{i}@example.com" for i in range(20))}


def test_a_request_is_answered_only_once_its_sign_up_is_committed(engine):
    book = SignupBook(WriteGate(engine).session)

    async def main():
        outcomes = []
        for address in ("ada@example.com", "bob@example.com"):
            outcomes.append(await book.file(*signup(address)))
            # Another connection sees the row the moment the request is answered.
            with engine.connect() as other:
                assert (
                    other.execute(sa.select(Subscriber.status).where(Subscriber.email == address)).scalar() == "pending"
                )
        return outcomes

    assert run_loop(main()) == [CREATE, CREATE]


def test_a_failure_in_one_request_of_a_batch_loses_nothing_of_the_others_and_leaves_nothing_half_written(engine):
    for address in ("stuck@example.com", "back@example.com"):  # readers who left earlier
        with session_scope(engine) as session:
            service.subscribe(session, SubscribeRequest(address), consent())
            service.unsubscribe(session, service.by_email(session, address).token, utcnow())
    refuse_in_the_database(engine, insert="refused@example.com", update="stuck@example.com")
    held = HeldFirst(engine)
    book = SignupBook(held)
    addresses = ["ok1@example.com", "refused@example.com", "ok2@example.com", "stuck@example.com", "back@example.com"]

    async def main():
        opener = asyncio.ensure_future(book.file(*signup("opener@example.com")))
        while held.opened == 0:
            await asyncio.sleep(0.01)
        batch = [asyncio.ensure_future(book.file(*signup(address))) for address in addresses]
        await asyncio.sleep(0.05)
        held.release.set()
        await opener
        return await asyncio.gather(*batch, return_exceptions=True)

    ok1, refused, ok2, stuck, back = run_loop(main())
    assert held.opened == 1 + 1 + 5  # the opener; the batch of five, refused whole; each of the five alone
    assert (ok1, ok2, back) == (CREATE, CREATE, REOPEN)
    assert isinstance(refused, sa.exc.DBAPIError) and "refused by the test" in str(refused)
    assert isinstance(stuck, sa.exc.DBAPIError) and "refused by the test" in str(stuck)
    readers = stored(engine)
    assert set(readers) == {
        "opener@example.com",
        "ok1@example.com",
        "ok2@example.com",
        "stuck@example.com",
        "back@example.com",
    }  # the refused address is not there at all
    for address in ("ok1@example.com", "ok2@example.com", "back@example.com"):
        reader = readers[address]  # whole rows: pending, queued for a mail, with their consent record
        assert (reader.status, reader.confirmation_sent_at, reader.consent_ip) == ("pending", None, "203.0.113.7")
        assert len(reader.token) == 43
    assert readers["stuck@example.com"].status == "unsubscribed"  # its refused change left no trace


def test_a_batch_the_database_refuses_whole_is_retried_one_sign_up_at_a_time(engine):
    refuse_in_the_database(engine, insert="refused@example.com", update="nobody@example.com")
    book = SignupBook(WriteGate(engine).session)
    outcomes = book.write([signup("a@example.com"), signup("refused@example.com"), signup("b@example.com")])
    assert outcomes[0] is CREATE and outcomes[2] is CREATE
    assert isinstance(outcomes[1], sa.exc.DBAPIError)
    assert set(stored(engine)) == {"a@example.com", "b@example.com"}


def test_a_request_that_goes_away_does_not_undo_its_sign_up_or_stop_the_writer(engine):
    held = HeldFirst(engine)
    book = SignupBook(held)

    async def main():
        leaving = asyncio.ensure_future(book.file(*signup("gone@example.com")))
        while held.opened == 0:
            await asyncio.sleep(0.01)
        leaving.cancel()  # the client hung up while its sign-up was being written
        held.release.set()
        return await book.file(*signup("next@example.com"))

    assert run_loop(main()) is CREATE
    assert set(stored(engine)) == {"gone@example.com", "next@example.com"}


def test_the_writer_thread_retires_when_idle_and_comes_back_on_demand(engine):
    book = SignupBook(WriteGate(engine).session, idle=0.1)
    assert run_loop(book.file(*signup("ada@example.com"))) is CREATE
    wait_for(lambda: book._thread is None, 5, "the writer thread to retire")
    assert run_loop(book.file(*signup("bob@example.com"))) is CREATE
    assert set(stored(engine)) == {"ada@example.com", "bob@example.com"}


def test_requests_from_several_event_loops_are_each_answered_on_their_own(engine):
    book = SignupBook(WriteGate(engine).session)
    results: dict[int, object] = {}

    def serve(index: int) -> None:  # e.g. test clients, each with its own loop, sharing one app
        results[index] = run_loop(book.file(*signup(f"loop{index}@example.com")))

    threads = [threading.Thread(target=serve, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(scaled(10))
    assert results == {0: CREATE, 1: CREATE, 2: CREATE}
