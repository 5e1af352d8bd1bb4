"""The ledger: one Delivery row per (edition, reader). It is how a send resumes without duplicates.

A row's state is a DeliveryState (digest.delivery.states names them and says what each means).
A `claimed` row whose sender is gone is what a crash leaves behind; the next
send turns it into `uncertain`.

Requests claimed ahead (claim_ahead, the send's hot path) are written once per reader: their rows
are written `sent` before the request leaves, and a DeliveryRequest row says the request is in
flight. That request row, not the readers' rows, is the claim: while it is in flight the rows are
provisional, and whatever ends the flight settles them in the same transaction as it ends it:
  - the provider took every reader: the request row gets its message id and finish time (one row
    written per request, where a `claimed` row per reader would be updated to `sent`);
  - anything else (a reader refused, an uncertain outcome, a retry, a release, readers who left
    just before it leaves): its rows become ordinary `claimed` rows first (`_settle`), and then are
    handled as any claim is;
  - its sender is gone: as with claimed rows, it becomes `uncertain` or is let go (lock.left_behind).
So `claimed_requests` names both kinds, and a crash leaves what it always left.

`request_id` names the request a row went out in, and begins with the id of the worker that
claimed it (see lock.py).
`variant_id` names the variant (the list of comparisons) the reader was due, so
a resumed send mails them that one, and stats can be split by variant.

Every function here takes a Connection inside a transaction and returns plain
values; the engine decides when to commit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel

from digest.content.models import Comparison
from digest.delivery.states import DeliveryState
from digest.editions.models import Edition, EditionItem, EditionVariant
from digest.editions.variants import ids_of
from digest.store import insert_into
from digest.timeutil import UTCDateTime, as_utc, utcnow
from subscribers import audience, engagement, status
from subscribers.audience import Reader

CLAIMED, UNCERTAIN, SKIPPED = DeliveryState.CLAIMED, DeliveryState.UNCERTAIN, DeliveryState.SKIPPED
SENT = DeliveryState.SENT
DELIVERY_STATES = tuple(DeliveryState)


class Delivery(SQLModel, table=True):
    __tablename__ = "delivery"
    # The unique index serves every lookup by edition (it leads with edition_id). The partial index holds
    # only the rows in flight (a request's worth per sender), so finding claims a dead sender left costs
    # nothing however large the edition: a weekly send looks for them at every wave.
    __table_args__ = (
        sa.UniqueConstraint("edition_id", "subscriber_id", name="uq_delivery_reader"),
        sa.Index(
            "ix_delivery_claimed",
            "edition_id",
            "request_id",
            sqlite_where=sa.text(f"state = '{CLAIMED}'"),
            postgresql_where=sa.text(f"state = '{CLAIMED}'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    # No foreign key to the edition or the variant: a claim names the edition being sent and a variant it
    # just wrote, and each key cost a claim row a check as dear as an index write (migration 0016_ledger).
    # None to the reader either: its check locked the reader's row, dearer than the rest of a claim row
    # together. The trigger delivery_of_erased_reader deletes an erased reader's rows (migration
    # 0017_sendspeed, which says why it cannot race a claim; see also `claim_ahead`).
    edition_id: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    subscriber_id: int = Field(sa_column=sa.Column(sa.Integer, nullable=False, index=True))
    state: str = Field(sa_column=sa.Column(sa.String(20), nullable=False))
    request_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), nullable=True))
    provider_message_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(200), nullable=True))
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    claimed_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime, nullable=True))
    # The variant the reader was due (None: skipped before one was chosen, or a row from before variants).
    variant_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True))


class DeliveryRequest(SQLModel, table=True):
    """A request claimed ahead: in flight while `finished_at` is NULL (see the module's docstring)."""

    __tablename__ = "delivery_request"

    edition_id: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True, autoincrement=False))
    request_id: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    # The readers whose rows it wrote, as a JSON list of ids (emptied when it finishes): how their rows
    # are found if it ends otherwise than the usual way, with no index on request_id to keep up.
    readers: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    claimed_at: datetime = Field(sa_column=sa.Column(UTCDateTime, nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime, nullable=True))
    message_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(200), nullable=True))


@dataclass(frozen=True)
class Read:
    """The next readers of a walk who have no row for this edition: not claimed yet (a send groups
    them by variant first, and claims each request's readers just before it leaves)."""

    rows: list  # (id, email, token, topics text) of active readers, as the driver returned them
    gone: list[int]  # readers in the same id range who left since the send began: to be written as skipped
    last_id: int  # the highest reader id looked at; the walk continues after it
    scanned: int  # readers looked at (0: nothing left in this walk); on PostgreSQL more than `rows` + `gone`
    # when some already had a row


@dataclass(frozen=True)
class Claim:
    """The readers one request carries."""

    request_id: str
    readers: tuple[tuple[int, str, str], ...]  # claimed: they go out in this request. Reader's fields,
    # as the driver returned them: a million Reader objects would cost a send half a second
    skipped: int  # no longer active: written as skipped, never mailed
    last_id: int = 0  # (claim_uncertain) the highest reader id looked at
    scanned: int = 0  # (claim_uncertain) how many rows the query returned (0: nothing left)
    variants: tuple[int | None, ...] = ()  # (claim_uncertain) each reader's variant, as the ledger says
    topics: tuple[str | None, ...] = ()  # (claim_uncertain) each reader's topics, for rows with no variant


def _tables():
    return Delivery.__table__, audience.readers


def in_ledger(edition_id: int, after_id: int | None = None, upto: int | None = None) -> sa.Exists:
    """True for a reader who has a row for this edition (a condition on the subscriber table).

    `after_id` and `upto` repeat a walk's id range inside the subquery: without them PostgreSQL's
    planner may anti-join a batch of readers against every row the edition has so far (a merge
    join sorting the whole edition for each batch: 34 ms a batch at 150,000 rows, 0.3 ms with)."""
    delivery, subscriber = _tables()
    where = [delivery.c.edition_id == edition_id, delivery.c.subscriber_id == subscriber.c.id]
    if after_id is not None:
        where.append(delivery.c.subscriber_id > after_id)
    if upto is not None:
        where.append(delivery.c.subscriber_id <= upto)
    return sa.exists().where(*where)


NO_LIMIT = 2**31 - 1  # an `upto` that bounds nothing: the largest id an INTEGER column holds


def read_fresh(
    connection: Connection,
    edition_id: int,
    *,
    after_id: int,
    limit: int,
    started_at: datetime,
    zone: audience.Zone = audience.EVERY_ZONE,
    upto: int = NO_LIMIT,
) -> Read:
    """The next active readers after `after_id` (up to `upto`, in `zone`) with no row for this edition,
    and the readers in the same id range who left since the send began.

    Status and topics are read here, so a reader who leaves or changes topics before their
    batch is read is sent accordingly. Two simple range scans rather than one OR: each walks an
    index in id order, so a batch costs the same at reader 1 and at reader 1,000,000.
    """
    if connection.dialect.name == "sqlite":
        return _read_fresh_sqlite(connection, edition_id, after_id, limit, started_at, zone, upto)
    # PostgreSQL: the next `limit` active readers first, then which of them have a row (one index probe
    # each), rather than one anti-join. The anti-join's plan rests on the ledger's statistics, and those
    # say an edition being sent has no rows until autovacuum looks again: planned as a nested loop over
    # the edition's rows materialized, one batch of a zone's wave took 138 s at 325,000 rows (1M-reader
    # waves, bench_variants.py); this way each batch costs the same whatever the statistics say.
    # Plain SQL on the driver's cursor, as on SQLite: the built statements and their result rows cost the
    # send process more CPU than the rows themselves (0.9 s of a 200,000-reader send's 5 s under cProfile).
    from psycopg.types.string import TextLoader  # here: a send on SQLite never loads psycopg (memory, start)

    cursor = connection.connection.driver_connection.cursor()
    cursor.adapters.register_loader("json", TextLoader)  # topics as their stored text, as on SQLite
    active_sql, left_sql = _pg_read(_zone_kind(zone))
    params = {"after": after_id, "upto": upto, "limit": limit, "edition": edition_id, "zone": zone}
    candidates = cursor.execute(active_sql, params).fetchall()
    upper = candidates[-1][0] if len(candidates) == limit else upto  # a short batch is the last: look to the end
    rows = candidates
    if candidates:
        first, last_read = candidates[0][0], candidates[-1][0]
        if last_read - first < 2 * len(candidates):  # ids close together (a walk of every zone): one range scan
            taken = {r[0] for r in cursor.execute(_PG_IN_LEDGER_RANGE, (edition_id, first, last_read))}
        else:
            taken = {r[0] for r in cursor.execute(_PG_IN_LEDGER, (edition_id, pg_array(r[0] for r in candidates)))}
        if taken:
            rows = [row for row in candidates if row[0] not in taken]
    started = as_utc(started_at).replace(tzinfo=None)  # naive UTC, as UTCDateTime stores it
    gone = [row[0] for row in cursor.execute(left_sql, {**params, "upto": upper, "started": started})]
    if not candidates and not gone:
        return Read([], [], after_id, 0)
    last = upper if len(candidates) == limit else max([row[0] for row in candidates] + gone)
    return Read(rows, gone, last, len(candidates) + len(gone))


_PG_IN_LEDGER = "SELECT subscriber_id FROM delivery WHERE edition_id = %s AND subscriber_id = ANY(%s::int[])"
_PG_IN_LEDGER_RANGE = "SELECT subscriber_id FROM delivery WHERE edition_id = %s AND subscriber_id BETWEEN %s AND %s"


def claim(
    connection: Connection,
    edition_id: int,
    rows: Sequence[tuple[int, str, str]],
    *,
    request_id: str,
    variant_id: int | None,
    now: datetime | None = None,
) -> Claim:
    """Claim read readers for one request: `claimed` rows with their variant, for those still active.

    One INSERT ... SELECT that re-reads each reader's status; the unique (edition, reader) index and
    ON CONFLICT DO NOTHING make a double claim impossible, even with several senders. A reader who
    left since they were read gets a `skipped` row instead; one another sender took is left alone.
    """
    now = now or utcnow()
    ids = [row[0] for row in rows]
    taken = _insert_claims(connection, edition_id, ids, CLAIMED, request_id, now, variant_id)
    if len(taken) == len(ids):
        return Claim(request_id, tuple(rows), 0)
    missing = [reader for reader in ids if reader not in taken]
    skipped = _insert_claims(connection, edition_id, missing, SKIPPED, request_id, now, None, only_stopped=True)
    return Claim(request_id, tuple(row for row in rows if row[0] in taken), len(skipped))


@dataclass(frozen=True)
class Ahead:
    """One request's worth of readers, to be claimed ahead with others (see `claim_ahead`)."""

    request_id: str
    variant_id: int | None
    rows: Sequence[tuple[int, str, str]]  # (id, email, token), in id order


def claim_ahead(
    connection: Connection, edition_id: int, requests: Sequence[Ahead], *, now: datetime | None = None
) -> list[Claim]:
    """Claim several requests at once, for a sender that then sends them one by one: each reader's row
    written `sent` (provisionally) with their variant, and each request in flight (a DeliveryRequest),
    for readers still active; one another sender took is left alone, one who left gets `skipped`.
    One INSERT writes all the readers' rows, in reader order, so that the indexes' pages are visited
    once, in order, wherever a variant's readers lie (and two senders on PostgreSQL take their
    unique-index entries in one order); each request's rows get consecutive row ids."""
    now = now or utcnow()
    if connection.dialect.name != "sqlite":
        claims = _claim_ahead_postgres(connection, edition_id, requests, now)
    else:
        claims = _claim_ahead_sqlite(connection, edition_id, requests, now)
    _in_flight(connection, edition_id, claims, now)
    return claims


def _in_flight(connection: Connection, edition_id: int, claims: Sequence[Claim], now: datetime) -> None:
    rows = [
        {"edition_id": edition_id, "request_id": c.request_id, "readers": json.dumps([r[0] for r in c.readers])}
        for c in claims
        if c.readers
    ]
    if rows:
        table = DeliveryRequest.__table__
        connection.execute(
            sa.insert(table).values(claimed_at=sa.bindparam("now", type_=UTCDateTime)),
            [{**row, "now": now} for row in rows],
        )


def _claim_ahead_sqlite(
    connection: Connection, edition_id: int, requests: Sequence[Ahead], now: datetime
) -> list[Claim]:
    cursor = connection.connection.cursor()
    row_id = cursor.execute("SELECT coalesce(max(id), 0) FROM delivery").fetchone()[0]
    values = []
    for request in requests:
        for row in request.rows:
            row_id += 1
            values.append((row[0], row_id, request.request_id, request.variant_id))
    values.sort()
    stamp = _sqlite_time(now)
    cursor.execute(_SQLITE_INSERT_AHEAD, (edition_id, stamp, stamp, json.dumps(values)))
    if cursor.rowcount == len(values):  # all ours (the usual case)
        return [Claim(r.request_id, tuple(r.rows), 0) for r in requests]
    claims = []
    for request in requests:  # a reader left since they were read: as `claim` does, request by request
        ids = [row[0] for row in request.rows]
        taken = {
            row[0] for row in cursor.execute(_SQLITE_TAKEN_AS, (edition_id, request.request_id, SENT, json.dumps(ids)))
        }
        missing = [reader for reader in ids if reader not in taken]
        skipped = _insert_claims(
            connection, edition_id, missing, SKIPPED, request.request_id, now, None, only_stopped=True
        )
        claims.append(Claim(request.request_id, tuple(row for row in request.rows if row[0] in taken), len(skipped)))
    return claims


# PostgreSQL, the usual case: every request claimed ahead by one COPY, its rows in reader order (so that
# the indexes' pages are visited in order, and two senders that read the same readers take their
# unique-index entries in one order and never wait on each other in a circle), then one count saying
# every reader is still active. COPY has no ON CONFLICT and reads no reader: a row another sender wrote
# first, or a reader who left or was erased since the read, sends the claim back (to its savepoint) to
# the INSERT below, which decides reader by reader. Claiming 200,000 readers in chunks of 4,000: 62,000
# rows/s by COPY, 41,000 by the INSERT (tests/bench/README.md, bench_send).
_PG_COPY_AHEAD = (
    "COPY delivery (edition_id, subscriber_id, state, request_id, claimed_at, finished_at, variant_id) FROM STDIN"
)
# The INSERT: the readers come as one array, each with the position of its request, joined to the readers
# still active. Arrays are passed as their text ('{1,2,3}'): psycopg dumps a list of 64,000 ints slowly.
_PG_INSERT_AHEAD = (
    "INSERT INTO delivery (edition_id, subscriber_id, state, request_id, claimed_at, finished_at, variant_id) "
    "SELECT %(edition)s, reader, %(state)s, (%(requests)s::text[])[part], %(now)s, %(now)s, "
    "(%(variants)s::int[])[part] FROM unnest(%(readers)s::int[], %(parts)s::int[]) AS ahead(reader, part)"
    f" JOIN subscriber ON subscriber.id = ahead.reader WHERE {audience.SQL_RECEIVES_EDITIONS} ORDER BY reader "
    "ON CONFLICT (edition_id, subscriber_id) DO NOTHING"
)
_PG_TAKEN = (
    "SELECT subscriber_id FROM delivery WHERE edition_id = %s AND request_id = %s AND state = %s "
    "AND subscriber_id = ANY(%s::int[])"
)
# Rows written for readers erased meanwhile (see `_without_erased`).
_PG_ERASED = (
    "DELETE FROM delivery WHERE edition_id = %s AND subscriber_id = ANY(%s::int[]) "
    "AND NOT EXISTS (SELECT 1 FROM subscriber WHERE subscriber.id = delivery.subscriber_id) RETURNING subscriber_id"
)


def pg_array(values: Iterable) -> str:
    """A PostgreSQL array literal of ints or of plain words (request ids), for a ::int[] or ::text[] cast."""
    return "{" + ",".join("NULL" if v is None else str(v) for v in values) + "}"


def _claim_ahead_postgres(
    connection: Connection, edition_id: int, requests: Sequence[Ahead], now: datetime
) -> list[Claim]:
    """The COPY, or the INSERT when the COPY cannot say (see `_PG_COPY_AHEAD`).

    No reader row is locked and there is no foreign key: an erasure (the trigger delivery_of_erased_reader,
    migration 0017_sendspeed) takes the ledger in SHARE mode before deleting the reader's rows, and this
    transaction holds ROW EXCLUSIVE on it from its first row written until it commits. Every reader
    written is then looked up again by a later statement, whose snapshot is newer than that lock: either
    this claim commits before the erasure's lock (whose DELETE then sees and deletes the rows), or the
    erasure committed before this claim's lock, and the look-up finds the reader gone."""
    import psycopg  # here: a send on SQLite never loads it

    cursor = connection.connection.driver_connection.cursor()
    stamp = _pg_time(now)
    rows = sorted(
        (row[0], request.request_id, "\\N" if request.variant_id is None else str(request.variant_id))
        for request in requests
        for row in request.rows
    )
    ids = [row[0] for row in rows]
    cursor.execute("SAVEPOINT claim_ahead")
    try:
        with cursor.copy(_PG_COPY_AHEAD) as copy:
            prefix, middle = f"{edition_id}\t", f"\t{SENT}\t"
            copy.write("".join(f"{prefix}{r}{middle}{q}\t{stamp}\t{stamp}\t{v}\n" for r, q, v in rows))
        kept = cursor.execute(_PG_STILL, (pg_array(ids),)).fetchone()[0] == len(ids)
    except psycopg.errors.IntegrityError:  # a reader's row is there already: another sender's
        kept = False
    if kept:  # all ours, all still active (the usual case)
        cursor.execute("RELEASE SAVEPOINT claim_ahead")
        return [Claim(r.request_id, tuple(r.rows), 0) for r in requests]
    cursor.execute("ROLLBACK TO SAVEPOINT claim_ahead")
    return _claim_ahead_inserting(connection, cursor, edition_id, requests, now)


def _pg_time(value: datetime) -> str:
    """A datetime as a timestamp column takes it (naive UTC, as UTCDateTime stores it)."""
    return as_utc(value).replace(tzinfo=None).isoformat(" ")


def _claim_ahead_inserting(
    connection: Connection, cursor, edition_id: int, requests: Sequence[Ahead], now: datetime
) -> list[Claim]:
    readers, parts = [], []
    for part, request in enumerate(requests, start=1):
        readers += [row[0] for row in request.rows]
        parts += [part] * len(request.rows)
    cursor.execute(
        _PG_INSERT_AHEAD,
        {
            "edition": edition_id,
            "state": SENT,
            "requests": pg_array(r.request_id for r in requests),
            "variants": pg_array(r.variant_id for r in requests),
            "now": as_utc(now).replace(tzinfo=None),  # naive UTC, as UTCDateTime stores it
            "readers": pg_array(readers),
            "parts": pg_array(parts),
        },
    )
    written = cursor.rowcount
    erased = _without_erased(cursor, edition_id, readers)
    if written == len(readers) and not erased:
        return [Claim(r.request_id, tuple(r.rows), 0) for r in requests]
    claims = []
    for request in requests:  # a reader left since they were read, or another sender took them
        ids = [row[0] for row in request.rows]
        taken = {row[0] for row in cursor.execute(_PG_TAKEN, (edition_id, request.request_id, SENT, pg_array(ids)))}
        missing = [reader for reader in ids if reader not in taken]
        skipped = _insert_claims(
            connection, edition_id, missing, SKIPPED, request.request_id, now, None, only_stopped=True
        )
        claims.append(Claim(request.request_id, tuple(row for row in request.rows if row[0] in taken), len(skipped)))
    return claims


def _without_erased(cursor, edition_id: int, reader_ids: Sequence[int]) -> set[int]:
    """PostgreSQL, after rows were written for `reader_ids` in this transaction: deletes those of readers
    erased meanwhile and returns who they were. A statement of its own, so that its snapshot is newer
    than this transaction's lock on the ledger (see `_claim_ahead_postgres`)."""
    if not reader_ids:
        return set()
    return {row[0] for row in cursor.execute(_PG_ERASED, (edition_id, pg_array(reader_ids)))}


_PG_STILL = "SELECT count(*) FROM subscriber WHERE id = ANY(%s::int[]) AND " + audience.SQL_RECEIVES_EDITIONS


def nobody_left(connection: Connection, claim: Claim) -> bool:
    """PostgreSQL: whether every reader of a claim still receives editions (one count, not a thousand ids
    back). A single statement: the send asks it outside any transaction (one round trip)."""
    ids = [row[0] for row in claim.readers]
    return connection.connection.cursor().execute(_PG_STILL, (pg_array(ids),)).fetchone()[0] == len(ids)


def drop_leavers(connection: Connection, edition_id: int, claim: Claim, *, now: datetime | None = None) -> Claim:
    """A request claimed ahead, just before it leaves: readers who left (or were erased) since the claim
    are `skipped`, not mailed. Returns the claim without them."""
    ids = [row[0] for row in claim.readers]
    if not ids:
        return claim
    if connection.dialect.name == "sqlite":
        left = {row[0] for row in connection.connection.cursor().execute(_SQLITE_LEFT, (json.dumps(ids),))}
    else:
        if nobody_left(connection, claim):
            return claim  # the usual case
        subscriber = audience.readers
        still = set(
            connection.execute(
                sa.select(subscriber.c.id).where(
                    subscriber.c.id == sa.func.any(sa.bindparam("ids", ids, type_=ARRAY(sa.Integer))),
                    audience.receives_editions(),
                )
            ).scalars()
        )
        left = set(ids) - still
    if not left:
        return claim
    _settle(connection, edition_id, claim.request_id)
    delivery, _ = _tables()
    connection.execute(
        sa.update(delivery)
        .where(_rows_of(connection, delivery, edition_id, claim.request_id, sorted(left)))
        .values(state=SKIPPED, finished_at=now or utcnow())
    )
    return Claim(claim.request_id, tuple(row for row in claim.readers if row[0] not in left), claim.skipped + len(left))


def skip(
    connection: Connection,
    edition_id: int,
    reader_ids: Sequence[int],
    *,
    request_id: str,
    reason: str | None = None,
    now: datetime | None = None,
) -> int:
    """`skipped` rows for readers who get no mail of this edition (left since it began, or, with a
    `reason`, whose topics match none of its comparisons). Returns how many were written."""
    if not reader_ids:
        return 0
    return len(
        _insert_claims(
            connection, edition_id, list(reader_ids), SKIPPED, request_id, now or utcnow(), None, error=reason
        )
    )


def _insert_claims(
    connection: Connection,
    edition_id: int,
    reader_ids: list[int],
    state: str,
    request_id: str,
    now: datetime,
    variant_id: int | None,
    *,
    error: str | None = None,
    only_stopped: bool = False,
) -> set[int]:
    """One INSERT ... SELECT for the whole batch, the ids passed as a single array (PostgreSQL) or
    JSON (SQLite) parameter: no per-row work in Python. A claim is only written for a reader who
    receives editions at this very moment. Returns the readers whose rows this call wrote."""
    if not reader_ids:
        return set()
    if connection.dialect.name == "sqlite":
        return _insert_sqlite(
            connection, edition_id, reader_ids, state, request_id, now, variant_id, error, only_stopped
        )
    delivery, subscriber = _tables()
    wanted = subscriber.c.id == sa.func.any(sa.bindparam("ids", reader_ids, type_=ARRAY(sa.Integer)))
    if state == CLAIMED:
        wanted = sa.and_(wanted, audience.receives_editions())  # still active at this very moment
    elif only_stopped:
        wanted = sa.and_(wanted, ~audience.receives_editions())
    finished = now if state == SKIPPED else None
    rows = sa.select(
        sa.literal(edition_id),
        subscriber.c.id,
        sa.literal(state),
        sa.literal(request_id),
        sa.literal(now, UTCDateTime),
        sa.literal(finished, UTCDateTime),
        sa.literal(variant_id, sa.Integer),
        sa.literal(error, sa.Text),
    ).where(wanted)
    statement = (
        insert_into(connection, delivery)
        .from_select(
            ["edition_id", "subscriber_id", "state", "request_id", "claimed_at", "finished_at", "variant_id", "error"],
            rows,
        )
        .on_conflict_do_nothing(index_elements=["edition_id", "subscriber_id"])
        .returning(delivery.c.subscriber_id)
    )
    written = set(connection.execute(statement).scalars().all())
    return written - _without_erased(connection.connection.driver_connection.cursor(), edition_id, sorted(written))


# SQLite (one sender per file, see lock.py): the same statements as plain SQL on the driver's cursor,
# a third of the cost of the built ones. The hot path of a send on one box.
_SQLITE_UNLESS = "EXISTS (SELECT 1 FROM delivery WHERE edition_id = :edition AND subscriber_id = subscriber.id)"
_SQLITE_INSERT = (
    "INSERT INTO delivery (edition_id, subscriber_id, state, request_id, claimed_at, finished_at, "
    "variant_id, error) SELECT ?, subscriber.id, ?, ?, ?, ?, ?, ? FROM json_each(?) CROSS "
    "JOIN subscriber ON subscriber.id = value WHERE {condition} "
    "ON CONFLICT (edition_id, subscriber_id) DO NOTHING"
)
_SQLITE_INSERT_AHEAD = (
    "INSERT INTO delivery (id, edition_id, subscriber_id, state, request_id, claimed_at, finished_at, variant_id) "
    f"SELECT json_extract(value, '$[1]'), ?, subscriber.id, '{SENT}', json_extract(value, '$[2]'), ?, ?, "
    "json_extract(value, '$[3]') FROM json_each(?) "
    "CROSS JOIN subscriber ON subscriber.id = json_extract(value, '$[0]') "
    f"WHERE {audience.SQL_RECEIVES_EDITIONS} "
    "ON CONFLICT (edition_id, subscriber_id) DO NOTHING"
)
_SQLITE_LEFT = (
    "SELECT value FROM json_each(?) LEFT JOIN subscriber ON subscriber.id = value "
    f"WHERE subscriber.id IS NULL OR NOT {audience.SQL_RECEIVES_EDITIONS}"
)
_SQLITE_CONDITIONS = {  # which readers a row may be written for: by state, or (None) only readers who left
    CLAIMED: audience.SQL_RECEIVES_EDITIONS,
    SKIPPED: "1",
    None: f"NOT {audience.SQL_RECEIVES_EDITIONS}",
}
_SQLITE_TAKEN = (
    "SELECT subscriber_id FROM delivery WHERE edition_id = ? AND request_id = ? "
    "AND subscriber_id IN (SELECT value FROM json_each(?))"
)
_SQLITE_TAKEN_AS = (
    "SELECT subscriber_id FROM delivery WHERE edition_id = ? AND request_id = ? AND state = ? "
    "AND subscriber_id IN (SELECT value FROM json_each(?))"
)


def _sqlite_time(value: datetime) -> str:
    """A datetime as SQLAlchemy stores it in SQLite (naive UTC), for the driver-level statements."""
    return as_utc(value).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def _zone_kind(zone: audience.Zone) -> str:
    return "every" if zone is audience.EVERY_ZONE else "none" if zone is None else "named"


def _zone_of(zone_kind: str) -> audience.Zone:
    return {"every": audience.EVERY_ZONE, "none": None, "named": "named"}[zone_kind]


@lru_cache(maxsize=16)
def _sqlite_read(zone_kind: str) -> tuple[str, str]:
    zone = _zone_of(zone_kind)
    return audience.sqlite_receiving(zone, _SQLITE_UNLESS), audience.sqlite_stopped_since(zone, _SQLITE_UNLESS)


# PostgreSQL: the same reads with psycopg's parameters; the active readers' read has no "no row yet"
# condition (see read_fresh), and the leavers' repeats the walk's id range in its subquery (see in_ledger).
_PG_UNLESS = (
    "EXISTS (SELECT 1 FROM delivery WHERE edition_id = :edition AND subscriber_id = subscriber.id "
    "AND subscriber_id > :after AND subscriber_id <= :upto)"
)


@lru_cache(maxsize=16)
def _pg_read(zone_kind: str) -> tuple[str, str]:
    zone = _zone_of(zone_kind)
    return tuple(
        re.sub(r":(\w+)", r"%(\1)s", sql)
        for sql in (audience.sqlite_receiving(zone, "FALSE"), audience.sqlite_stopped_since(zone, _PG_UNLESS))
    )


def _read_fresh_sqlite(
    connection: Connection,
    edition_id: int,
    after_id: int,
    limit: int,
    started_at: datetime,
    zone: audience.Zone,
    upto: int,
) -> Read:
    cursor = connection.connection.cursor()  # the driver's cursor, in this same transaction
    kind = _zone_kind(zone)
    active_sql, left_sql = _sqlite_read(kind)
    params = {"after": after_id, "upto": upto, "limit": limit, "edition": edition_id, "zone": zone}
    if kind != "named":
        del params["zone"]
    rows = cursor.execute(active_sql, params).fetchall()
    upper = rows[-1][0] if len(rows) == limit else upto  # a short batch is the last
    del params["limit"]
    gone = [row[0] for row in cursor.execute(left_sql, {**params, "upto": upper, "started": _sqlite_time(started_at)})]
    if not rows and not gone:
        return Read([], [], after_id, 0)
    last = upper if len(rows) == limit else max([row[0] for row in rows] + gone)
    return Read(rows, gone, last, len(rows) + len(gone))


def _insert_sqlite(
    connection: Connection,
    edition_id: int,
    ids: list[int],
    state: str,
    request_id: str,
    now: datetime,
    variant_id: int | None,
    error: str | None,
    only_stopped: bool,
) -> set[int]:
    cursor = connection.connection.cursor()
    stamp = _sqlite_time(now)
    condition = _SQLITE_CONDITIONS[None if only_stopped else state]
    cursor.execute(
        _SQLITE_INSERT.format(condition=condition),
        (
            edition_id,
            state,
            request_id,
            stamp,
            stamp if state == SKIPPED else None,
            variant_id,
            error,
            json.dumps(ids),
        ),
    )
    if cursor.rowcount == len(ids):  # all ours (the usual case): no need to ask which
        return set(ids)
    # A reader left since they were read (or a row was there already): ask which rows are ours.
    return {row[0] for row in cursor.execute(_SQLITE_TAKEN, (edition_id, request_id, json.dumps(ids)))}


def claim_uncertain(
    connection: Connection, edition_id: int, *, after_id: int, limit: int, request_id: str, now: datetime | None = None
) -> Claim:
    """Claim the next uncertain readers again (`--resend-uncertain`); those no longer active are skipped.
    Each keeps the variant the ledger says they were due."""
    delivery, subscriber = _tables()
    now = now or utcnow()
    query = (
        sa.select(
            delivery.c.id,
            subscriber.c.id,
            subscriber.c.email,
            subscriber.c.token,
            subscriber.c.status,
            delivery.c.variant_id,
            audience.topics_text(),
        )
        .join(subscriber, subscriber.c.id == delivery.c.subscriber_id)
        .where(delivery.c.edition_id == edition_id, delivery.c.state == UNCERTAIN, delivery.c.subscriber_id > after_id)
        .order_by(delivery.c.subscriber_id)
        .limit(limit)
    )
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=delivery)
    rows = connection.execute(query).all()
    if not rows:
        return Claim(request_id, (), 0, after_id, 0)
    active = [row for row in rows if row[4] == status.RECEIVES_EDITIONS]
    stopped = [row for row in rows if row[4] != status.RECEIVES_EDITIONS]
    update = (
        sa.update(delivery)
        .where(delivery.c.id == sa.bindparam("row_id"), delivery.c.state == UNCERTAIN)
        .values(
            state=sa.bindparam("new_state"),
            request_id=request_id,
            claimed_at=now,
            finished_at=sa.bindparam("finished"),
            error=None,
        )
    )
    connection.execute(
        update,
        [{"row_id": r[0], "new_state": CLAIMED, "finished": None} for r in active]
        + [{"row_id": r[0], "new_state": SKIPPED, "finished": now} for r in stopped],
    )
    readers = tuple(Reader(row[1], row[2], row[3]) for row in active)
    return Claim(
        request_id,
        readers,
        len(stopped),
        rows[-1][1],
        len(rows),
        variants=tuple(row[5] for row in active),
        topics=tuple(row[6] for row in active),
    )


def _ids_condition(connection: Connection, delivery: sa.Table, reader_ids: Sequence[int]):
    """The rows of these readers. An unbroken run of ids is an id range, which the (edition, reader)
    index walks; any other set is looked up one by one (a range around readers with gaps would take
    in the readers between them, who may be in the same request)."""
    low, high = min(reader_ids), max(reader_ids)
    if high - low + 1 == len(set(reader_ids)):
        return delivery.c.subscriber_id.between(low, high)
    if connection.dialect.name == "postgresql":
        return delivery.c.subscriber_id == sa.func.any(sa.bindparam("ids", list(reader_ids), type_=ARRAY(sa.Integer)))
    ids = sa.select(sa.column("value")).select_from(
        sa.func.json_each(sa.bindparam("ids", json.dumps(list(reader_ids))))
    )
    return delivery.c.subscriber_id.in_(ids)


def _rows_of(
    connection: Connection,
    delivery: sa.Table,
    edition_id: int,
    request_id: str,
    reader_ids: Sequence[int],
    state: str = CLAIMED,
):
    # The ids let the (edition, reader) index find the rows; request_id picks this request's.
    return sa.and_(
        delivery.c.edition_id == edition_id,
        _ids_condition(connection, delivery, reader_ids),
        delivery.c.request_id == request_id,
        delivery.c.state == state,
    )


def _flights(connection: Connection, edition_id: int, request_ids: Iterable[str] | None = None) -> dict[str, list[int]]:
    """Requests claimed ahead and still in flight (of `request_ids`, or all the edition's) -> their readers."""
    table = DeliveryRequest.__table__
    query = sa.select(table.c.request_id, table.c.readers).where(
        table.c.edition_id == edition_id, table.c.finished_at.is_(None)
    )
    if request_ids is not None:
        ids = list(request_ids)
        if not ids:
            return {}
        query = query.where(table.c.request_id.in_(ids))
    return {request: json.loads(readers) for request, readers in connection.execute(query)}


def _end_flights(connection: Connection, edition_id: int, request_ids: Iterable[str]) -> None:
    table = DeliveryRequest.__table__
    ids = list(request_ids)
    if ids:
        connection.execute(sa.delete(table).where(table.c.edition_id == edition_id, table.c.request_id.in_(ids)))


def _provisional(connection: Connection, delivery: sa.Table, edition_id: int, request_id: str, readers: list[int]):
    """The rows a request in flight wrote `sent` ahead of its outcome."""
    return _rows_of(connection, delivery, edition_id, request_id, readers, state=SENT)


def _settle(connection: Connection, edition_id: int, request_id: str) -> None:
    """A request claimed ahead that does not end the usual way: its rows become ordinary `claimed` rows
    (and it stops being a request in flight), for the caller to handle as any claim. Nothing for a request
    that is not in flight."""
    readers = _flights(connection, edition_id, [request_id]).get(request_id)
    if readers is None:
        return
    delivery, _ = _tables()
    if readers:
        connection.execute(
            sa.update(delivery)
            .where(_provisional(connection, delivery, edition_id, request_id, readers))
            .values(state=CLAIMED, finished_at=None)
        )
    _end_flights(connection, edition_id, [request_id])


_MARK_ALL = sa.text(
    "UPDATE delivery SET state = :state, provider_message_id = :message_id, error = :error, finished_at = :now "
    f"WHERE edition_id = :edition AND request_id = :request AND state = '{CLAIMED}'"
).bindparams(sa.bindparam("now", type_=UTCDateTime))


def mark_all(
    connection: Connection,
    edition_id: int,
    request_id: str,
    reader_ids: Sequence[int],
    state: str,
    *,
    message_id: str | None = None,
    error: str | None = None,
    now: datetime | None = None,
) -> int:
    """Every still-claimed row of one request (`reader_ids`: the readers it went to) to `state`, in one
    statement: the hot path, plain SQL. The partial index of claimed rows finds them however far apart
    the request's readers are (`state = 'claimed'` is written out so that the planner sees it).

    A request claimed ahead whose readers were all taken (`sent`, to every reader it wrote) only
    lands: its request row gets the message id and the time, its readers' rows stay as written."""
    if not reader_ids:
        return 0
    if state == SENT and land(connection, edition_id, request_id, reader_ids, message_id=message_id, now=now):
        return len(reader_ids)
    _settle(connection, edition_id, request_id)
    return connection.execute(
        _MARK_ALL,
        {
            "state": state,
            "message_id": message_id,
            "error": error,
            "now": now or utcnow(),
            "edition": edition_id,
            "request": request_id,
        },
    ).rowcount


# Built once, not per request (a cadence send lands thousands of small requests): plain SQL, as _MARK_ALL.
_LAND = sa.text(
    "UPDATE delivery_request SET finished_at = :now, message_id = :message_id, readers = '[]' "
    "WHERE edition_id = :edition AND request_id = :request AND finished_at IS NULL AND readers = :readers"
).bindparams(sa.bindparam("now", type_=UTCDateTime))


def land(
    connection: Connection,
    edition_id: int,
    request_id: str,
    reader_ids: Sequence[int],
    *,
    message_id: str | None = None,
    now: datetime | None = None,
) -> bool:
    """A request claimed ahead that the provider took whole, to every reader it wrote: its request row
    gets the message id and the time (its readers' rows stay as written). False, and nothing written,
    for any other request (then `mark_all`). One statement: the send runs it outside any transaction on
    PostgreSQL (one round trip, committed when it returns)."""
    values = {"edition": edition_id, "request": request_id, "readers": json.dumps(list(reader_ids))}
    return bool(connection.execute(_LAND, {**values, "message_id": message_id, "now": now or utcnow()}).rowcount)


def move_to_request(
    connection: Connection, edition_id: int, request_id: str, reader_ids: Sequence[int], new_request_id: str
) -> int:
    """Give some claimed rows of a request a request of their own (a resend splits a claim by variant)."""
    if not reader_ids:
        return 0
    _settle(connection, edition_id, request_id)
    delivery, _ = _tables()
    return connection.execute(
        sa.update(delivery)
        .where(_rows_of(connection, delivery, edition_id, request_id, reader_ids))
        .values(request_id=new_request_id)
    ).rowcount


def mark_each(
    connection: Connection,
    edition_id: int,
    request_id: str,
    outcomes: Iterable[tuple[int, str, str | None, str | None]],
    now: datetime | None = None,
) -> None:
    """(reader id, state, message id, error) for readers whose outcomes differ within a request."""
    delivery, _ = _tables()
    values = [{"reader": r, "new_state": s, "mid": m, "why": e} for r, s, m, e in outcomes]
    if not values:
        return
    _settle(connection, edition_id, request_id)
    statement = (
        sa.update(delivery)
        .where(
            delivery.c.edition_id == edition_id,
            delivery.c.subscriber_id == sa.bindparam("reader"),
            delivery.c.request_id == request_id,
            delivery.c.state == CLAIMED,
        )
        .values(
            state=sa.bindparam("new_state"),
            provider_message_id=sa.bindparam("mid"),
            error=sa.bindparam("why"),
            finished_at=now or utcnow(),
        )
    )
    connection.execute(statement, values)


def release(
    connection: Connection, edition_id: int, request_id: str, reader_ids: Sequence[int], *, were_uncertain: bool = False
) -> int:
    """Undo claims that certainly did not go out, so a later send mails those readers.

    Fresh claims are deleted; claims taken by `--resend-uncertain` go back to uncertain.
    """
    if not reader_ids:
        return 0
    _settle(connection, edition_id, request_id)
    delivery, _ = _tables()
    where = _rows_of(connection, delivery, edition_id, request_id, reader_ids)
    if were_uncertain:
        return connection.execute(sa.update(delivery).where(where).values(state=UNCERTAIN)).rowcount
    return connection.execute(sa.delete(delivery).where(where)).rowcount


_CLAIMED = sa.literal_column(f"'{CLAIMED}'")  # written out, so the planner sees the partial index's condition


def let_go(connection: Connection, edition_id: int, request_ids: Iterable[str]) -> int:
    """Delete the claimed rows of requests that certainly did not leave (claimed ahead, never live)."""
    ids = list(request_ids)
    if not ids:
        return 0
    delivery, _ = _tables()
    gone = 0
    flights = _flights(connection, edition_id, ids)
    for request, readers in flights.items():
        if readers:
            where = _provisional(connection, delivery, edition_id, request, readers)
            gone += connection.execute(sa.delete(delivery).where(where)).rowcount
    _end_flights(connection, edition_id, flights)
    return (
        gone
        + connection.execute(
            sa.delete(delivery).where(
                delivery.c.edition_id == edition_id, delivery.c.state == _CLAIMED, delivery.c.request_id.in_(ids)
            )
        ).rowcount
    )


def claimed_requests(connection: Connection, edition_id: int) -> set[str]:
    """Requests with rows still claimed, or claimed ahead and not landed: in flight now, or left by a
    sender that died."""
    delivery, _ = _tables()
    query = (
        sa.select(delivery.c.request_id)
        .where(delivery.c.edition_id == edition_id, delivery.c.state == _CLAIMED)
        .distinct()
    )
    return {row[0] for row in connection.execute(query)} | set(_flights(connection, edition_id))


def claims_to_uncertain(
    connection: Connection, edition_id: int, request_ids: Iterable[str], reason: str, now: datetime | None = None
) -> int:
    """Claims whose sender is gone: the outcome is unknown, so they become uncertain."""
    ids = list(request_ids)
    if not ids:
        return 0
    for request in _flights(connection, edition_id, ids):
        _settle(connection, edition_id, request)
    delivery, _ = _tables()
    statement = (
        sa.update(delivery)
        .where(delivery.c.edition_id == edition_id, delivery.c.state == _CLAIMED, delivery.c.request_id.in_(ids))
        .values(state=UNCERTAIN, error=reason, finished_at=now or utcnow())
    )
    return connection.execute(statement).rowcount


def started_at(connection: Connection, edition_id: int) -> datetime | None:
    """When this edition's send began: its first claim."""
    delivery, _ = _tables()
    return connection.execute(
        sa.select(sa.func.min(delivery.c.claimed_at)).where(delivery.c.edition_id == edition_id)
    ).scalar()


def edition_rows(connection: Connection, edition_id: int) -> sa.ColumnElement[bool] | None:
    """The condition that picks an edition's rows for a pass over all of them (None: it has none).

    On SQLite the rows are read in table order over the span of the edition's row ids, not in reader
    order through the (edition, reader) index: an edition's rows are written together, but a request's
    readers lie all over the index (claim_ahead), so the index's order would read a table page per row.
    (`edition_id + 0` keeps the planner off that index.)"""
    delivery, _ = _tables()
    where = delivery.c.edition_id == edition_id
    if connection.dialect.name != "sqlite":
        return where
    low, high = connection.execute(sa.select(sa.func.min(delivery.c.id), sa.func.max(delivery.c.id)).where(where)).one()
    if low is None:
        return None
    return sa.and_(delivery.c.id.between(low, high), (delivery.c.edition_id + 0) == edition_id)


def in_flight(connection: Connection, edition_id: int) -> int:
    """Readers of requests claimed ahead and in flight: their rows say `sent` and nothing went yet."""
    return sum(len(readers) for readers in _flights(connection, edition_id).values())


def state_counts(connection: Connection, edition_id: int) -> dict[str, int]:
    """The edition's rows per state; the rows of requests in flight count as claimed, as they are."""
    delivery, _ = _tables()
    counts = dict.fromkeys(DELIVERY_STATES, 0)
    where = edition_rows(connection, edition_id)
    if where is not None:
        query = sa.select(delivery.c.state, sa.func.count()).where(where).group_by(delivery.c.state)
        counts.update({state: n for state, n in connection.execute(query)})
        flying = in_flight(connection, edition_id)
        counts[SENT] -= flying
        counts[CLAIMED] += flying
    return counts


def pending_count(connection: Connection, edition_id: int, zones: Sequence[audience.Zone] | None = None) -> int:
    """Active readers (in `zones`, default every zone) with no row for this edition yet: who a send would mail."""
    _, subscriber = _tables()
    total = 0
    for zone in (audience.EVERY_ZONE,) if zones is None else zones:
        total += connection.execute(
            sa.select(sa.func.count())
            .select_from(subscriber)
            .where(audience.receives_editions(), audience.in_zone(zone), ~in_ledger(edition_id))
        ).scalar()
    return total


def variant_counts(connection: Connection, edition_id: int) -> list[tuple[int | None, str, str | None, int]]:
    """(variant id, state, error of a skipped row, readers) over the edition's rows: one pass that says
    both how many readers each variant reached and why readers were skipped."""
    delivery, _ = _tables()
    where = edition_rows(connection, edition_id)
    if where is None:
        return []
    error = sa.case((delivery.c.state == SKIPPED, delivery.c.error), else_=sa.null())
    query = (
        sa.select(delivery.c.variant_id, delivery.c.state, error, sa.func.count())
        .where(where)
        .group_by(delivery.c.variant_id, delivery.c.state, error)
    )
    return [tuple(row) for row in connection.execute(query)]


def has_edition_of_week(connection: Connection, reader_id: int, week: str) -> bool:
    """Whether the ledger has a row for this reader and the edition of `week` (they were handled)."""
    delivery, _ = _tables()
    edition = Edition.__table__
    return (
        connection.execute(
            sa.select(delivery.c.id)
            .join(edition, edition.c.id == delivery.c.edition_id)
            .where(delivery.c.subscriber_id == reader_id, edition.c.week == week)
            .limit(1)
        ).first()
        is not None
    )


def states_among(connection: Connection, edition_id: int, reader_ids: Sequence[int]) -> dict[int, str]:
    """reader id -> the state of their row for this edition, for those of `reader_ids` who have one."""
    if not reader_ids:
        return {}
    delivery, _ = _tables()
    query = sa.select(delivery.c.subscriber_id, delivery.c.state).where(
        delivery.c.edition_id == edition_id, delivery.c.subscriber_id.in_(list(reader_ids))
    )
    return {reader: state for reader, state in connection.execute(query)}


def silent_readers(connection: Connection, editions: int, limit: int) -> list[Reader]:
    """Up to `limit` active readers not yet asked whether to keep sending, who were mailed at least
    `editions` editions since their last sign of life (subscribers.engagement): one grouped pass over
    the ledger's sent rows, once per run of the sunset job."""
    delivery, subscriber = _tables()
    since = engagement.last_sign_of_life()
    mailed = (
        sa.select(delivery.c.subscriber_id)
        .join(subscriber, subscriber.c.id == delivery.c.subscriber_id)
        .where(engagement.not_asked(), delivery.c.state == DeliveryState.SENT, delivery.c.claimed_at > since)
        .group_by(delivery.c.subscriber_id)
        .having(sa.func.count() >= editions)
        .subquery()
    )
    query = (
        sa.select(subscriber.c.id, subscriber.c.email, subscriber.c.token)
        .where(subscriber.c.id.in_(sa.select(mailed.c.subscriber_id)))
        .order_by(subscriber.c.id)
        .limit(limit)
    )
    return [Reader(*row) for row in connection.execute(query)]


def editions_of_reader(connection: Connection, reader_id: int) -> list[dict]:
    """The editions a reader's ledger names, oldest first: number, week, state, when, and the slugs of
    the comparisons of the variant they were due (None: no variant, a row from before variants or
    skipped before one was chosen), and why a row was skipped (`digest subscribers show`)."""
    delivery, _ = _tables()
    edition, variant = Edition.__table__, EditionVariant.__table__
    query = (
        sa.select(
            edition.c.id,
            edition.c.number,
            edition.c.week,
            delivery.c.state,
            sa.func.coalesce(delivery.c.finished_at, delivery.c.claimed_at),
            variant.c.comparisons,
            delivery.c.error,
        )
        .join(edition, edition.c.id == delivery.c.edition_id)
        .outerjoin(variant, variant.c.id == delivery.c.variant_id)
        .where(delivery.c.subscriber_id == reader_id)
        .order_by(edition.c.number)
    )
    rows = connection.execute(query).all()
    wanted = {i for row in rows if row[5] for i in ids_of(row[5])}
    slugs = {}
    if wanted:
        table = Comparison.__table__
        query = sa.select(table.c.id, table.c.slug).where(table.c.id.in_(sorted(wanted)))
        slugs = dict(connection.execute(query).all())
    return [
        {
            "edition": number,
            "week": week,
            "state": state,
            "at": as_utc(at) if at is not None else None,
            "variant": None if key is None else [slugs.get(i, f"#{i}") for i in ids_of(key)],
            "error": error,
        }
        for _edition_id, number, week, state, at, key, error in rows
    ]


def provider_message_id() -> sa.ColumnElement:
    """A ledger row's provider message id: its own, or that of the request claimed ahead it landed with."""
    delivery, request = Delivery.__table__, DeliveryRequest.__table__
    landed = (
        sa.select(request.c.message_id)
        .where(request.c.edition_id == delivery.c.edition_id, request.c.request_id == delivery.c.request_id)
        .scalar_subquery()
    )
    return sa.func.coalesce(delivery.c.provider_message_id, landed).label("provider_message_id")


def rows_of(where) -> sa.Select:
    """Ledger rows as column -> value, the provider message id as `provider_message_id` says."""
    delivery, _ = _tables()
    columns = [provider_message_id() if c.name == "provider_message_id" else c for c in delivery.columns]
    return sa.select(*columns).where(where)


def rows_of_reader(connection: Connection, reader_id: int) -> list[dict]:
    """Every ledger row of one reader, oldest first, as column -> value (`digest subscribers show`)."""
    delivery, _ = _tables()
    query = rows_of(delivery.c.subscriber_id == reader_id).order_by(delivery.c.id)
    return [dict(row) for row in connection.execute(query).mappings()]


# States in which a reader may have the edition in their inbox: what they may vote on.
MAILED = (DeliveryState.SENT, DeliveryState.UNCERTAIN)


def mailed_comparisons(connection, reader_id: int, comparison_ids: Iterable[int] | None = None) -> set[int]:
    """The comparisons (of `comparison_ids`, or any) in editions mailed to the reader, in the variant they
    were due (a row without a variant had the whole edition): what they have seen, so may vote on."""
    delivery, item, variant = Delivery.__table__, EditionItem.__table__, EditionVariant.__table__
    query = (
        sa.select(item.c.comparison_id, variant.c.comparisons)
        .select_from(delivery)
        .join(item, sa.and_(item.c.edition_id == delivery.c.edition_id, item.c.included == sa.true()))
        .outerjoin(variant, variant.c.id == delivery.c.variant_id)
        .where(delivery.c.subscriber_id == reader_id, delivery.c.state.in_([s.value for s in MAILED]))
    )
    if comparison_ids is not None:
        query = query.where(item.c.comparison_id.in_(list(comparison_ids)))
    return {c for c, key in connection.execute(query).all() if key is None or c in ids_of(key)}


def was_mailed(session, reader_id: int, comparison_id: int) -> bool:
    """Whether the reader was mailed the comparison (mailed_comparisons), through a Session."""
    return bool(mailed_comparisons(session.connection(), reader_id, [comparison_id]))


def receivers(connection, comparison_ids: Iterable[int]) -> dict[int, frozenset[int]]:
    """reader id -> which of `comparison_ids` editions mailed them (in the variant they were due): the
    reader history an edition's "How readers voted" and "Changed since you read it" depend on. One
    entry per reader who got any of them, the sets shared; the ledger is read once, one row per reader
    and edition carrying them (not per comparison)."""
    wanted = sorted(set(comparison_ids))
    if not wanted:
        return {}
    delivery, item, variant = Delivery.__table__, EditionItem.__table__, EditionVariant.__table__
    carried: dict[int, set[int]] = {}
    for edition_id, comparison_id in connection.execute(
        sa.select(item.c.edition_id, item.c.comparison_id).where(
            item.c.comparison_id.in_(wanted), item.c.included == sa.true()
        )
    ):
        carried.setdefault(edition_id, set()).add(comparison_id)
    if not carried:
        return {}
    keys = dict(
        connection.execute(
            sa.select(variant.c.id, variant.c.comparisons).where(variant.c.edition_id.in_(list(carried)))
        ).all()
    )
    shared: dict[tuple, frozenset[int]] = {}

    def got(edition_id: int, variant_id: int | None) -> frozenset[int]:
        found = shared.get((edition_id, variant_id))
        if found is None:
            ids = carried[edition_id] if variant_id is None else carried[edition_id] & set(ids_of(keys[variant_id]))
            found = shared[(edition_id, variant_id)] = frozenset(ids)
        return found

    unions: dict[tuple[frozenset[int], frozenset[int]], frozenset[int]] = {}
    found: dict[int, frozenset[int]] = {}
    rows = connection.execute(
        sa.select(delivery.c.subscriber_id, delivery.c.edition_id, delivery.c.variant_id).where(
            delivery.c.edition_id.in_(list(carried)), delivery.c.state.in_([s.value for s in MAILED])
        )
    )
    for reader, edition_id, variant_id in rows:
        ids = got(edition_id, variant_id)
        if not ids:
            continue
        before = found.get(reader)
        if before is None:
            found[reader] = ids
        elif not ids <= before:
            pair = (before, ids)
            if pair not in unions:
                unions[pair] = before | ids
            found[reader] = unions[pair]
    return found


def mailed_at(connection: Connection, pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], datetime]:
    """(edition number, reader id) -> when the edition left for that reader (its `sent` row's finish), for
    the pairs that have one: whether a provider's click came soon enough to be a link scanner's
    (digest.events.clicks). One query, through the unique index (edition, reader)."""
    wanted = set(pairs)
    if not wanted:
        return {}
    delivery, edition = Delivery.__table__, Edition.__table__
    rows = connection.execute(
        sa.select(edition.c.number, delivery.c.subscriber_id, delivery.c.finished_at)
        .join(edition, edition.c.id == delivery.c.edition_id)
        .where(
            edition.c.number.in_(sorted({number for number, _ in wanted})),
            delivery.c.subscriber_id.in_(sorted({reader for _, reader in wanted})),
            delivery.c.state == DeliveryState.SENT,
            delivery.c.finished_at.is_not(None),
        )
    )
    return {(number, reader): as_utc(at) for number, reader, at in rows if (number, reader) in wanted}
