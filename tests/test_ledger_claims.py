"""The ledger's read and claim on their own, on SQLite (plain SQL on the driver's cursor) and PostgreSQL.

The send tests drive them through whole sends; these pin what one read returns, what one claim
writes, including the rare case of a row the insert does not take, and the walk of one time zone.
"""

from __future__ import annotations

from datetime import timedelta

from helpers import add_edition, add_readers, ledger, ledger_rows, set_preferences, set_status

from digest.delivery import ledger as ledger_module
from digest.timeutil import utcnow
from subscribers.audience import EVERY_ZONE


def read(engine, edition_id, *, after=0, limit=10, started_at=None, zone=EVERY_ZONE):
    with engine.begin() as connection:
        return ledger_module.read_fresh(
            connection,
            edition_id,
            after_id=after,
            limit=limit,
            zone=zone,
            started_at=started_at or utcnow() - timedelta(hours=1),
        )


def claim(engine, edition_id, rows, request_id="r-1", variant_id=None):
    with engine.begin() as connection:
        return ledger_module.claim(
            connection, edition_id, [row[:3] for row in rows], request_id=request_id, variant_id=variant_id
        )


def test_a_read_gives_the_next_active_readers_in_id_order_with_their_topics_and_writes_nothing(engine):
    add_readers(engine, 25)
    set_status(engine, [4], "pending")
    set_preferences(engine, [2], topics=["Voice"])
    edition = add_edition(engine, 1)
    first = read(engine, edition, limit=10)
    assert [r[0] for r in first.rows] == [1, 2, 3, 5, 6, 7, 8, 9, 10, 11]
    assert first.rows[0][1] == "reader1@example.com" and first.rows[0][2].startswith("t000000001")
    assert first.rows[1][3].replace(" ", "") == '["Voice"]' and first.rows[0][3] == "[]"  # the stored text
    assert (first.last_id, first.scanned, first.gone) == (11, 10, [])
    assert ledger(engine, 1) == {}

    rest = read(engine, edition, after=first.last_id, limit=10)
    assert [r[0] for r in rest.rows] == list(range(12, 22))
    last = read(engine, edition, after=rest.last_id, limit=10)
    assert [r[0] for r in last.rows] == [22, 23, 24, 25] and last.last_id == 25
    assert read(engine, edition, after=last.last_id).scanned == 0


def test_a_claim_writes_claimed_rows_with_the_variant_for_readers_still_active(engine):
    add_readers(engine, 6)
    edition = add_edition(engine, 1)
    rows = read(engine, edition).rows
    set_status(engine, [3], "unsubscribed")  # leaves between the read and the claim
    made = claim(engine, edition, rows)
    assert [r[0] for r in made.readers] == [1, 2, 4, 5, 6] and made.skipped == 1
    assert ledger(engine, 1) == {**{r: "claimed" for r in (1, 2, 4, 5, 6)}, 3: "skipped"}


def test_readers_who_left_since_the_send_began_are_read_as_gone(engine):
    add_readers(engine, 12)
    edition = add_edition(engine, 1)
    began = utcnow() - timedelta(minutes=5)
    set_status(engine, [3], "unsubscribed")  # updated now: after the send began
    set_status(engine, [11], "bounced")  # beyond this batch's last reader: left for the next read
    made = read(engine, edition, limit=5, started_at=began)
    assert [r[0] for r in made.rows] == [1, 2, 4, 5, 6]
    assert (made.gone, made.last_id, made.scanned) == ([3], 6, 6)
    after = read(engine, edition, after=made.last_id, limit=5, started_at=began)
    assert [r[0] for r in after.rows] == [7, 8, 9, 10, 12] and after.gone == [11]


def test_a_reader_already_in_the_ledger_is_never_read_or_claimed_twice(engine):
    add_readers(engine, 6)
    edition = add_edition(engine, 1)
    first = read(engine, edition, limit=3)
    claim(engine, edition, first.rows)
    again = read(engine, edition, after=0, limit=10)  # from the start: 1-3 are taken
    assert [r[0] for r in again.rows] == [4, 5, 6]
    twice = claim(engine, edition, first.rows, request_id="r-2")  # another sender that read them earlier
    assert twice.readers == () and twice.skipped == 0
    assert {r["request_id"] for r in ledger_rows(engine, 1)} == {"r-1"}


def test_a_walk_over_readers_who_all_have_rows_reads_none_and_ends(engine):
    """A resumed send walking a part another sender finished: batch after batch of readers with rows
    (on PostgreSQL a batch looks at the next readers, then drops those with a row), and the walk ends."""
    add_readers(engine, 7)
    edition = add_edition(engine, 1)
    claim(engine, edition, read(engine, edition, limit=5).rows)  # readers 1-5 have rows
    after, seen, batches = 0, [], 0
    while (batch := read(engine, edition, after=after, limit=2)).scanned:
        seen += [r[0] for r in batch.rows]
        after, batches = batch.last_id, batches + 1
        assert batches < 10
    assert seen == [6, 7]


def test_a_row_the_insert_does_not_take_is_not_in_the_claim(engine):
    """As when a reader leaves between the claim's read and its write: the row is not written, so
    the reader must not go out in this request. A trigger that drops reader 3's row makes it happen."""
    add_readers(engine, 6)
    edition = add_edition(engine, 1)
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql(
                "CREATE TRIGGER drop_three BEFORE INSERT ON delivery "
                "WHEN NEW.subscriber_id = 3 BEGIN SELECT RAISE(IGNORE); END"
            )
        else:
            connection.exec_driver_sql(
                "CREATE FUNCTION drop_three() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN IF NEW.subscriber_id = 3 THEN RETURN NULL; END IF; RETURN NEW; END $$"
            )
            connection.exec_driver_sql(
                "CREATE TRIGGER drop_three BEFORE INSERT ON delivery FOR EACH ROW EXECUTE FUNCTION drop_three()"
            )
    made = claim(engine, edition, read(engine, edition).rows)
    assert [r[0] for r in made.readers] == [1, 2, 4, 5, 6]
    assert ledger(engine, 1) == {r: "claimed" for r in (1, 2, 4, 5, 6)}


def test_a_read_can_keep_to_one_time_zone_or_to_readers_who_gave_none(engine):
    add_readers(engine, 9)
    set_preferences(engine, [2, 5, 8], timezone="Asia/Tokyo")
    set_preferences(engine, [3, 6], timezone="Europe/Paris")
    edition = add_edition(engine, 1)
    assert [r[0] for r in read(engine, edition, zone="Asia/Tokyo").rows] == [2, 5, 8]
    assert [r[0] for r in read(engine, edition, zone="Europe/Paris", after=3).rows] == [6]
    assert [r[0] for r in read(engine, edition, zone=None).rows] == [1, 4, 7, 9]


def claim_ahead(engine, edition_id, requests):
    with engine.begin() as connection:
        return ledger_module.claim_ahead(
            connection,
            edition_id,
            [ledger_module.Ahead(request_id, None, [row[:3] for row in rows]) for request_id, rows in requests],
        )


def test_requests_claimed_ahead_each_get_their_readers_and_their_row_ids(engine):
    """Two variants whose readers interleave (1, 3, 5 and 2, 4, 6): one claim writes both requests. On
    SQLite each request's rows sit together (consecutive ids, the edition's rows read in table order);
    PostgreSQL writes them in reader order by one COPY (ids in reader order). The rows are written
    `sent` ahead, each request in flight."""
    add_readers(engine, 6)
    edition = add_edition(engine, 1)
    rows = read(engine, edition).rows
    made = claim_ahead(engine, edition, [("a-1-queued", rows[0::2]), ("a-2-queued", rows[1::2])])
    assert [[r[0] for r in c.readers] for c in made] == [[1, 3, 5], [2, 4, 6]]
    assert [c.request_id for c in made] == ["a-1-queued", "a-2-queued"] and {c.skipped for c in made} == {0}
    by_request: dict[str, list[int]] = {}
    for row in sorted(ledger_rows(engine, 1), key=lambda r: r["subscriber_id"]):
        assert row["state"] == "sent"
        by_request.setdefault(row["request_id"], []).append(row["id"])
    if engine.dialect.name == "sqlite":
        for ids in by_request.values():
            assert sorted(ids) == list(range(min(ids), min(ids) + len(ids)))  # consecutive
    else:
        in_reader_order = [r["id"] for r in sorted(ledger_rows(engine, 1), key=lambda r: r["subscriber_id"])]
        assert in_reader_order == sorted(in_reader_order)
    with engine.connect() as connection:
        assert ledger_module.claimed_requests(connection, edition) == {"a-1-queued", "a-2-queued"}
        counts = ledger_module.state_counts(connection, edition)  # in flight: claimed, whatever the rows say
        assert (counts["claimed"], counts["sent"]) == (6, 0)


def test_a_reader_who_left_or_was_taken_before_a_claim_ahead_is_not_in_its_request(engine):
    add_readers(engine, 6)
    edition = add_edition(engine, 1)
    rows = read(engine, edition).rows
    claim(engine, edition, rows[5:6], request_id="other-1")  # another sender took reader 6
    set_status(engine, [3], "unsubscribed")  # reader 3 left between the read and the claim
    made = claim_ahead(engine, edition, [("a-1-queued", rows[0::2]), ("a-2-queued", rows[1::2])])
    assert [[r[0] for r in c.readers] for c in made] == [[1, 5], [2, 4]]
    assert [c.skipped for c in made] == [1, 0]
    assert ledger(engine, 1) == {1: "sent", 2: "sent", 3: "skipped", 4: "sent", 5: "sent", 6: "claimed"}
    assert {r["subscriber_id"] for r in ledger_rows(engine, 1) if r["request_id"] == "other-1"} == {6}


def test_readers_who_leave_after_a_claim_ahead_are_dropped_before_it_leaves(engine):
    add_readers(engine, 5)
    edition = add_edition(engine, 1)
    [made] = claim_ahead(engine, edition, [("a-1-queued", read(engine, edition).rows)])
    set_status(engine, [2], "complained")
    with engine.begin() as connection:
        [reader_4] = [r for r in ledger_rows(engine, 1) if r["subscriber_id"] == 4]
        connection.exec_driver_sql("DELETE FROM subscriber WHERE id = 4")  # erased: the ledger row goes too
        left = ledger_module.drop_leavers(connection, edition, made)
    assert [r[0] for r in left.readers] == [1, 3, 5] and left.skipped == 2
    # Its rows were written `sent` ahead; a request that loses readers becomes an ordinary claim.
    assert ledger(engine, 1) == {1: "claimed", 2: "skipped", 3: "claimed", 5: "claimed"}
    assert reader_4["state"] == "sent"
    with engine.connect() as connection:
        assert ledger_module.claimed_requests(connection, edition) == {"a-1-queued"}


def test_moving_some_readers_of_a_request_moves_those_and_not_the_readers_between_them(engine):
    """A resend splits one claim by variant: readers 2 and 4 go in a request of their own, 3 stays."""
    add_readers(engine, 6)
    edition = add_edition(engine, 1)
    claim(engine, edition, read(engine, edition).rows)
    with engine.begin() as connection:
        assert ledger_module.move_to_request(connection, edition, "r-1", [2, 4], "r-2") == 2
        assert ledger_module.move_to_request(connection, edition, "r-1", [5, 6], "r-3") == 2  # an unbroken run
    requests = {r["subscriber_id"]: r["request_id"] for r in ledger_rows(engine, 1)}
    assert requests == {1: "r-1", 2: "r-2", 3: "r-1", 4: "r-2", 5: "r-3", 6: "r-3"}


def test_an_editions_counts_take_only_its_rows_when_another_editions_rows_lie_between_them(engine):
    add_readers(engine, 6)
    first, second = add_edition(engine, 1), add_edition(engine, 2)
    claim(engine, first, read(engine, first, limit=2).rows, request_id="a-1")  # readers 1-2, edition 1
    claim(engine, second, read(engine, second, limit=6).rows, request_id="b-1")  # readers 1-6, edition 2
    claim(engine, first, read(engine, first, after=2, limit=2).rows, request_id="a-2")  # 3-4, edition 1 again
    with engine.begin() as connection:
        ledger_module.mark_all(connection, first, "a-1", [1, 2], "sent")
        assert ledger_module.state_counts(connection, first) == {
            "claimed": 2,
            "sent": 2,
            "failed": 0,
            "uncertain": 0,
            "skipped": 0,
        }
        assert ledger_module.state_counts(connection, second)["claimed"] == 6
        assert sorted(ledger_module.variant_counts(connection, first), key=str) == [
            (None, "claimed", None, 2),
            (None, "sent", None, 2),
        ]
        assert ledger_module.state_counts(connection, 999) == dict.fromkeys(ledger_module.DELIVERY_STATES, 0)


def test_a_request_claimed_ahead_that_all_readers_took_lands_with_one_row_and_its_message_id(engine):
    """The hot path: its readers' rows stay as the claim wrote them, the request row gets the message id,
    and the request is no longer in flight. Each reader's row reads as carrying that message id."""
    add_readers(engine, 4)
    edition = add_edition(engine, 1)
    rows = read(engine, edition).rows
    first, second = claim_ahead(engine, edition, [("a-1-queued", rows[:2]), ("a-2-queued", rows[2:])])
    with engine.begin() as connection:
        assert ledger_module.mark_all(connection, edition, "a-1-queued", [1, 2], "sent", message_id="m-1") == 2
        assert ledger_module.claimed_requests(connection, edition) == {"a-2-queued"}
    with engine.begin() as connection:  # one reader refused: the request becomes a claim, then as any claim
        ledger_module.mark_each(
            connection, edition, "a-2-queued", [(3, "sent", "m-2", None), (4, "failed", None, "bad")]
        )
        assert ledger_module.claimed_requests(connection, edition) == set()
    by_reader = {r["subscriber_id"]: (r["state"], r["provider_message_id"]) for r in ledger_rows(engine, 1)}
    assert by_reader == {1: ("sent", "m-1"), 2: ("sent", "m-1"), 3: ("sent", "m-2"), 4: ("failed", None)}


def test_requests_claimed_ahead_whose_sender_died_become_uncertain_or_are_let_go(engine):
    """What a crash leaves: the lowest request in flight may have left (uncertain), the next did not
    (its rows deleted, so the next send mails those readers); a request that landed stays sent."""
    add_readers(engine, 6)
    edition = add_edition(engine, 1)
    rows = read(engine, edition).rows
    claim_ahead(engine, edition, [("a-1-queued", rows[:2]), ("a-2-queued", rows[2:4]), ("a-3-queued", rows[4:])])
    with engine.begin() as connection:
        ledger_module.mark_all(connection, edition, "a-1-queued", [1, 2], "sent", message_id="m-1")
        assert ledger_module.claims_to_uncertain(connection, edition, ["a-2-queued"], "gone") == 2
        assert ledger_module.let_go(connection, edition, ["a-3-queued"]) == 2
        assert ledger_module.claimed_requests(connection, edition) == set()
    assert ledger(engine, 1) == {1: "sent", 2: "sent", 3: "uncertain", 4: "uncertain"}
    assert [r[0] for r in read(engine, edition).rows] == [5, 6]


# -- erasure against a claim (PostgreSQL: the ledger has no foreign key to the reader) ----------------


def _in_a_thread(work):
    """Start `work` in a thread; returns the thread and a list that gets its result (or its error)."""
    import threading

    out: list = []

    def run():
        try:
            out.append(work())
        except Exception as exc:  # pragma: no cover - the assertions say what went wrong
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def _erase(engine, reader_id):
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DELETE FROM subscriber WHERE id = {reader_id}")


def test_an_erasure_during_a_claim_waits_for_it_then_deletes_the_readers_row(pg_url):
    """The claim commits first: the erasure (its trigger's lock on the ledger) waits for the claim, then
    deletes the row the claim wrote. No row is left for a reader who is gone."""
    from digest.store import open_store

    engine = open_store(pg_url)
    add_readers(engine, 3)
    edition = add_edition(engine, 1)
    rows = [row[:3] for row in read(engine, edition).rows]
    with engine.connect() as connection:
        transaction = connection.begin()
        ledger_module.claim_ahead(connection, edition, [ledger_module.Ahead("a-1-queued", None, rows)])
        erasure, out = _in_a_thread(lambda: _erase(engine, 2))
        erasure.join(1.0)
        assert erasure.is_alive()  # waiting for the claim
        transaction.commit()
    erasure.join(10)
    assert out == [None]
    assert sorted(r["subscriber_id"] for r in ledger_rows(engine, 1)) == [1, 3]
    engine.dispose()


def test_a_claim_during_an_erasure_waits_for_it_and_writes_no_row_for_the_erased_reader(pg_url):
    """The erasure commits first: the claim waits for it (the COPY's lock on the ledger), then finds the
    reader gone and leaves them out; the other readers are claimed."""
    from digest.store import open_store

    engine = open_store(pg_url)
    add_readers(engine, 3)
    edition = add_edition(engine, 1)
    rows = [row[:3] for row in read(engine, edition).rows]
    with engine.connect() as connection:
        transaction = connection.begin()
        connection.exec_driver_sql("DELETE FROM subscriber WHERE id = 2")  # the trigger takes the ledger

        def claim_now():
            with engine.begin() as other:
                return ledger_module.claim_ahead(other, edition, [ledger_module.Ahead("a-1-queued", None, rows)])

        claiming, out = _in_a_thread(claim_now)
        claiming.join(1.0)
        assert claiming.is_alive()  # waiting for the erasure
        transaction.commit()
    claiming.join(10)
    [[made]] = out
    assert [r[0] for r in made.readers] == [1, 3]
    assert sorted(r["subscriber_id"] for r in ledger_rows(engine, 1)) == [1, 3]
    engine.dispose()
