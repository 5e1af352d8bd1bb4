"""The ledger's claim on its own, on SQLite (plain SQL on the driver's cursor) and PostgreSQL (SKIP LOCKED).

The send tests drive claims through whole sends; these pin what one claim returns
and writes, including the rare case of a row the insert does not take.
"""

from __future__ import annotations

from datetime import timedelta

from helpers import add_edition, add_readers, ledger, set_status
from digest.delivery import ledger as ledger_module
from digest.timeutil import utcnow


def claim(engine, edition_id, *, after=0, limit=10, request_id="r-1", started_at=None):
    with engine.begin() as connection:
        return ledger_module.claim_fresh(connection, edition_id, after_id=after, limit=limit, request_id=request_id,
                                         started_at=started_at or utcnow() - timedelta(hours=1))


def test_a_claim_takes_the_next_active_readers_in_id_order_and_writes_their_rows(engine):
    add_readers(engine, 25)
    set_status(engine, [4], "pending")
    edition = add_edition(engine, 1)
    first = claim(engine, edition, limit=10)
    assert [r[0] for r in first.readers] == [1, 2, 3, 5, 6, 7, 8, 9, 10, 11]
    assert first.readers[0][1] == "reader1@example.com" and first.readers[0][2].startswith("t000000001")
    assert (first.last_id, first.scanned, first.skipped) == (11, 10, 0)
    assert ledger(engine, 1) == {r: "claimed" for r in (1, 2, 3, 5, 6, 7, 8, 9, 10, 11)}

    rest = claim(engine, edition, after=first.last_id, limit=10, request_id="r-2")
    assert [r[0] for r in rest.readers] == list(range(12, 22))
    last = claim(engine, edition, after=rest.last_id, limit=10, request_id="r-3")
    assert [r[0] for r in last.readers] == [22, 23, 24, 25] and last.last_id == 25
    assert claim(engine, edition, after=last.last_id, request_id="r-4").scanned == 0


def test_readers_who_left_since_the_send_began_are_written_as_skipped_not_claimed(engine):
    add_readers(engine, 12)
    edition = add_edition(engine, 1)
    began = utcnow() - timedelta(minutes=5)
    set_status(engine, [3], "unsubscribed")  # updated now: after the send began
    set_status(engine, [11], "bounced")  # beyond this batch's last reader: left for the next claim
    made = claim(engine, edition, limit=5, started_at=began)
    assert [r[0] for r in made.readers] == [1, 2, 4, 5, 6]
    assert (made.skipped, made.last_id, made.scanned) == (1, 6, 6)
    assert ledger(engine, 1) == {**{r: "claimed" for r in (1, 2, 4, 5, 6)}, 3: "skipped"}
    after = claim(engine, edition, after=made.last_id, limit=5, request_id="r-2", started_at=began)
    assert [r[0] for r in after.readers] == [7, 8, 9, 10, 12] and after.skipped == 1


def test_a_reader_already_in_the_ledger_is_never_claimed_twice(engine):
    add_readers(engine, 6)
    edition = add_edition(engine, 1)
    claim(engine, edition, limit=3)
    again = claim(engine, edition, after=0, limit=10, request_id="r-2")  # from the start: 1-3 are taken
    assert [r[0] for r in again.readers] == [4, 5, 6]


def test_a_row_the_insert_does_not_take_is_not_in_the_claim(engine):
    """As when a reader leaves between the claim's read and its write: the row is not written, so
    the reader must not go out in this request. A trigger that drops reader 3's row makes it happen."""
    add_readers(engine, 6)
    edition = add_edition(engine, 1)
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("CREATE TRIGGER drop_three BEFORE INSERT ON delivery "
                                       "WHEN NEW.subscriber_id = 3 BEGIN SELECT RAISE(IGNORE); END")
        else:
            connection.exec_driver_sql("CREATE FUNCTION drop_three() RETURNS trigger LANGUAGE plpgsql AS $$ "
                                       "BEGIN IF NEW.subscriber_id = 3 THEN RETURN NULL; END IF; RETURN NEW; END $$")
            connection.exec_driver_sql("CREATE TRIGGER drop_three BEFORE INSERT ON delivery "
                                       "FOR EACH ROW EXECUTE FUNCTION drop_three()")
    made = claim(engine, edition, limit=10)
    assert [r[0] for r in made.readers] == [1, 2, 4, 5, 6]
    assert ledger(engine, 1) == {r: "claimed" for r in (1, 2, 4, 5, 6)}
