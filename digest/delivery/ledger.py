"""The ledger: one Delivery row per (edition, reader). It is how a send resumes without duplicates.

States:
    claimed    in a request about to go out (committed before the request leaves)
    sent       the provider accepted it
    failed     the provider refused this reader (a bad address); not retried
    uncertain  the request's outcome is unknown (a crash or a timeout after the body
               left): never re-sent silently, only by `digest editions send --resend-uncertain`
    skipped    the reader unsubscribed, bounced or complained after the send began

A `claimed` row whose sender is gone is what a crash leaves behind; the next
send turns it into `uncertain`. `request_id` names the request a row went out
in, and begins with the id of the worker that claimed it (see guard.py).

Every function here takes a Connection inside a transaction and returns plain
values; the engine decides when to commit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel

from digest.store import insert_into
from digest.timeutil import UTCDateTime, as_utc, utcnow
from subscribers import audience, status
from subscribers.audience import Reader

DELIVERY_STATES = ("claimed", "sent", "failed", "uncertain", "skipped")


class Delivery(SQLModel, table=True):
    __tablename__ = "delivery"
    # The unique index serves every lookup by edition (it leads with edition_id).
    __table_args__ = (sa.UniqueConstraint("edition_id", "subscriber_id", name="uq_delivery_reader"),)

    id: int | None = Field(default=None, primary_key=True)
    edition_id: int = Field(sa_column=sa.Column(sa.ForeignKey("edition.id"), nullable=False))
    subscriber_id: int = Field(sa_column=sa.Column(sa.ForeignKey("subscriber.id", ondelete="CASCADE"),
                                                   nullable=False, index=True))
    state: str = Field(sa_column=sa.Column(sa.String(20), nullable=False))
    request_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), nullable=True))
    provider_message_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(200), nullable=True))
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    claimed_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime, nullable=True))


@dataclass(frozen=True)
class Claim:
    """The readers one request carries, and where the keyset continues."""

    request_id: str
    readers: tuple[tuple[int, str, str], ...]  # claimed: they go out in this request. Reader's fields,
    # as the driver returned them: a million Reader objects would cost a send half a second
    skipped: int  # no longer active: written as skipped, never mailed
    last_id: int  # the highest reader id looked at; the next batch starts after it
    scanned: int  # how many rows the query returned (0: nothing left)


def _tables():
    return Delivery.__table__, audience.readers



def claim_fresh(connection: Connection, edition_id: int, *, after_id: int, limit: int, request_id: str,
                started_at: datetime, now: datetime | None = None) -> Claim:
    """Claim the next readers after `after_id` who have no row for this edition yet.

    Active readers become `claimed`; readers who stopped (unsubscribed, bounced,
    complained) since the send began become `skipped`. Status is read here, at
    claim time, so a reader who leaves mid-send is skipped from the next batch on.
    On PostgreSQL the rows are locked with SKIP LOCKED so workers take disjoint
    batches; the unique (edition, reader) index and ON CONFLICT DO NOTHING make
    a double claim impossible even so.
    """
    now = now or utcnow()
    if connection.dialect.name == "sqlite":
        return _claim_fresh_sqlite(connection, edition_id, after_id, limit, request_id, started_at, now)
    delivery, subscriber = _tables()
    already = sa.exists().where(delivery.c.edition_id == edition_id, delivery.c.subscriber_id == subscriber.c.id)
    # Two simple range scans rather than one OR: each walks an index in id order, so a batch
    # costs the same at reader 1 and at reader 1,000,000.
    active = audience.receiving(after_id, limit, unless=already)
    if connection.dialect.name == "postgresql":
        active = active.with_for_update(skip_locked=True, of=subscriber)
    rows = connection.execute(active).all()
    upper = rows[-1][0] if len(rows) == limit else None  # a short batch is the last: look to the end
    left = audience.stopped_since(started_at, after_id, upper, unless=already)
    gone = [row[0] for row in connection.execute(left)]
    if not rows and not gone:
        return Claim(request_id, (), 0, after_id, 0)
    taken = _insert_claims(connection, edition_id, [row[0] for row in rows], "claimed", request_id, now)
    if gone:
        taken |= _insert_claims(connection, edition_id, gone, "skipped", request_id, now)
    readers = tuple(Reader(*row) for row in rows if row[0] in taken)
    skipped = sum(1 for reader in gone if reader in taken)
    last = upper if upper is not None else max([row[0] for row in rows] + gone)
    return Claim(request_id, readers, skipped, last, len(rows) + len(gone))


def _insert_claims(connection: Connection, edition_id: int, reader_ids: list[int], state: str, request_id: str,
                   now: datetime) -> set[int]:
    """One INSERT ... SELECT for the whole batch, the ids passed as a single array (PostgreSQL) or
    JSON (SQLite) parameter: no per-row work in Python. RETURNING says which rows are ours."""
    if not reader_ids:
        return set()
    delivery, subscriber = _tables()
    if connection.dialect.name == "postgresql":
        wanted = subscriber.c.id == sa.func.any(sa.bindparam("ids", reader_ids, type_=ARRAY(sa.Integer)))
    else:
        ids = sa.select(sa.column("value")).select_from(sa.func.json_each(sa.bindparam("ids", json.dumps(reader_ids))))
        wanted = subscriber.c.id.in_(ids)
    if state != "skipped":
        wanted = sa.and_(wanted, audience.receives_editions())  # still active at this very moment
    rows = sa.select(sa.literal(edition_id), subscriber.c.id, sa.literal(state), sa.literal(request_id),
                     sa.literal(now, UTCDateTime), sa.literal(now if state == "skipped" else None, UTCDateTime)
                     ).where(wanted)
    statement = (insert_into(connection, delivery)
                 .from_select(["edition_id", "subscriber_id", "state", "request_id", "claimed_at", "finished_at"],
                              rows)
                 .on_conflict_do_nothing(index_elements=["edition_id", "subscriber_id"])
                 .returning(delivery.c.subscriber_id))
    return set(connection.execute(statement).scalars().all())


# SQLite (one sender per file, see guard.py): the same claim as plain SQL on the driver's cursor,
# a third of the cost of the statements above. The hot path of a send on one box.
_SQLITE_ACTIVE = (f"SELECT id, email, token FROM subscriber WHERE status = '{status.RECEIVES_EDITIONS}' "
                  "AND id > ? AND NOT EXISTS "
                  "(SELECT 1 FROM delivery WHERE edition_id = ? AND subscriber_id = subscriber.id) "
                  "ORDER BY id LIMIT ?")
_SQLITE_LEFT = (f"SELECT id FROM subscriber WHERE status IN {status.STOPPED!r} "
                "AND updated_at >= ? AND id > ? AND id <= ? AND NOT EXISTS "
                "(SELECT 1 FROM delivery WHERE edition_id = ? AND subscriber_id = subscriber.id)")
_SQLITE_INSERT = ("INSERT INTO delivery (edition_id, subscriber_id, state, request_id, claimed_at, finished_at) "
                  "SELECT ?, subscriber.id, ?, ?, ?, ? FROM json_each(?) JOIN subscriber ON subscriber.id = value "
                  f"WHERE ? OR subscriber.status = '{status.RECEIVES_EDITIONS}' ON CONFLICT (edition_id, subscriber_id) DO NOTHING")
_SQLITE_TAKEN = ("SELECT subscriber_id FROM delivery WHERE edition_id = ? AND subscriber_id BETWEEN ? AND ? "
                 "AND request_id = ?")
_SQLITE_NO_LIMIT = 2**62


def _sqlite_time(value: datetime) -> str:
    """A datetime as SQLAlchemy stores it in SQLite (naive UTC), for the driver-level statements."""
    return as_utc(value).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def _claim_fresh_sqlite(connection: Connection, edition_id: int, after_id: int, limit: int, request_id: str,
                        started_at: datetime, now: datetime) -> Claim:
    cursor = connection.connection.cursor()  # the driver's cursor, in this same transaction
    rows = cursor.execute(_SQLITE_ACTIVE, (after_id, edition_id, limit)).fetchall()
    upper = rows[-1][0] if len(rows) == limit else _SQLITE_NO_LIMIT  # a short batch is the last
    gone = [row[0] for row in cursor.execute(_SQLITE_LEFT, (_sqlite_time(started_at), after_id, upper, edition_id))]
    if not rows and not gone:
        return Claim(request_id, (), 0, after_id, 0)
    stamp = _sqlite_time(now)

    def insert(ids: list[int], as_state: str) -> set[int]:
        if not ids:
            return set()
        skipped = as_state == "skipped"
        cursor.execute(_SQLITE_INSERT, (edition_id, as_state, request_id, stamp, stamp if skipped else None,
                                        json.dumps(ids), skipped))
        if cursor.rowcount == len(ids):  # all ours (the usual case): no need to ask which
            return set(ids)
        # A reader left between the two statements (or a row was there already): ask which are ours.
        return {row[0] for row in cursor.execute(_SQLITE_TAKEN, (edition_id, min(ids), max(ids), request_id))} \
            & set(ids)

    taken = insert([row[0] for row in rows], "claimed")
    skipped = len(insert(gone, "skipped"))
    readers = tuple(rows) if len(taken) == len(rows) else tuple(row for row in rows if row[0] in taken)
    last = rows[-1][0] if upper != _SQLITE_NO_LIMIT else max([row[0] for row in rows] + gone)
    return Claim(request_id, readers, skipped, last, len(rows) + len(gone))


def claim_uncertain(connection: Connection, edition_id: int, *, after_id: int, limit: int, request_id: str,
                    now: datetime | None = None) -> Claim:
    """Claim the next uncertain readers again (`--resend-uncertain`); those no longer active are skipped."""
    delivery, subscriber = _tables()
    now = now or utcnow()
    query = (
        sa.select(delivery.c.id, subscriber.c.id, subscriber.c.email, subscriber.c.token, subscriber.c.status)
        .join(subscriber, subscriber.c.id == delivery.c.subscriber_id)
        .where(delivery.c.edition_id == edition_id, delivery.c.state == "uncertain",
               delivery.c.subscriber_id > after_id)
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
    update = (sa.update(delivery).where(delivery.c.id == sa.bindparam("row_id"), delivery.c.state == "uncertain")
              .values(state=sa.bindparam("new_state"), request_id=request_id, claimed_at=now,
                      finished_at=sa.bindparam("done"), error=None))
    connection.execute(update, [{"row_id": r[0], "new_state": "claimed", "done": None} for r in active]
                       + [{"row_id": r[0], "new_state": "skipped", "done": now} for r in stopped])
    readers = tuple(Reader(row[1], row[2], row[3]) for row in active)
    return Claim(request_id, readers, len(stopped), rows[-1][1], len(rows))


def _rows_of(delivery: sa.Table, edition_id: int, request_id: str, reader_ids: Sequence[int]):
    # The id range lets the (edition, reader) index find the rows; request_id picks this request's.
    return sa.and_(delivery.c.edition_id == edition_id,
                   delivery.c.subscriber_id.between(min(reader_ids), max(reader_ids)),
                   delivery.c.request_id == request_id, delivery.c.state == "claimed")


_MARK_ALL = sa.text(
    "UPDATE delivery SET state = :state, provider_message_id = :message_id, error = :error, finished_at = :now "
    "WHERE edition_id = :edition AND subscriber_id BETWEEN :low AND :high AND request_id = :request "
    "AND state = 'claimed'").bindparams(sa.bindparam("now", type_=UTCDateTime))


def mark_all(connection: Connection, edition_id: int, request_id: str, reader_ids: Sequence[int], state: str, *,
             message_id: str | None = None, error: str | None = None, now: datetime | None = None) -> int:
    """Every still-claimed row of one request to `state` in one statement (the hot path: plain SQL).
    The id range lets the (edition, reader) index find the rows; request_id picks this request's."""
    if not reader_ids:
        return 0
    return connection.execute(_MARK_ALL, {
        "state": state, "message_id": message_id, "error": error, "now": now or utcnow(), "edition": edition_id,
        "low": min(reader_ids), "high": max(reader_ids), "request": request_id}).rowcount


def mark_each(connection: Connection, edition_id: int, request_id: str,
              outcomes: Iterable[tuple[int, str, str | None, str | None]], now: datetime | None = None) -> None:
    """(reader id, state, message id, error) for readers whose outcomes differ within a request."""
    delivery, _ = _tables()
    values = [{"reader": r, "new_state": s, "mid": m, "why": e} for r, s, m, e in outcomes]
    if not values:
        return
    statement = (
        sa.update(delivery)
        .where(delivery.c.edition_id == edition_id, delivery.c.subscriber_id == sa.bindparam("reader"),
               delivery.c.request_id == request_id, delivery.c.state == "claimed")
        .values(state=sa.bindparam("new_state"), provider_message_id=sa.bindparam("mid"),
                error=sa.bindparam("why"), finished_at=now or utcnow())
    )
    connection.execute(statement, values)


def release(connection: Connection, edition_id: int, request_id: str, reader_ids: Sequence[int], *,
            were_uncertain: bool = False) -> int:
    """Undo claims that certainly did not go out, so a later send mails those readers.

    Fresh claims are deleted; claims taken by `--resend-uncertain` go back to uncertain.
    """
    if not reader_ids:
        return 0
    delivery, _ = _tables()
    where = _rows_of(delivery, edition_id, request_id, reader_ids)
    if were_uncertain:
        return connection.execute(sa.update(delivery).where(where).values(state="uncertain")).rowcount
    return connection.execute(sa.delete(delivery).where(where)).rowcount


def claimed_requests(connection: Connection, edition_id: int) -> set[str]:
    """Requests with rows still claimed: in flight now, or left by a sender that died."""
    delivery, _ = _tables()
    query = sa.select(delivery.c.request_id).where(delivery.c.edition_id == edition_id,
                                                   delivery.c.state == "claimed").distinct()
    return {row[0] for row in connection.execute(query)}


def claims_to_uncertain(connection: Connection, edition_id: int, request_ids: Iterable[str],
                        reason: str, now: datetime | None = None) -> int:
    """Claims whose sender is gone: the outcome is unknown, so they become uncertain."""
    ids = list(request_ids)
    if not ids:
        return 0
    delivery, _ = _tables()
    statement = (sa.update(delivery)
                 .where(delivery.c.edition_id == edition_id, delivery.c.state == "claimed",
                        delivery.c.request_id.in_(ids))
                 .values(state="uncertain", error=reason, finished_at=now or utcnow()))
    return connection.execute(statement).rowcount


def started_at(connection: Connection, edition_id: int) -> datetime | None:
    """When this edition's send began: its first claim."""
    delivery, _ = _tables()
    return connection.execute(sa.select(sa.func.min(delivery.c.claimed_at))
                              .where(delivery.c.edition_id == edition_id)).scalar()


def state_counts(connection: Connection, edition_id: int) -> dict[str, int]:
    delivery, _ = _tables()
    query = (sa.select(delivery.c.state, sa.func.count()).where(delivery.c.edition_id == edition_id)
             .group_by(delivery.c.state))
    counts = dict.fromkeys(DELIVERY_STATES, 0)
    counts.update({state: n for state, n in connection.execute(query)})
    return counts


def pending_count(connection: Connection, edition_id: int) -> int:
    """Active readers with no row for this edition yet: who a send would mail."""
    delivery, subscriber = _tables()
    already = sa.exists().where(delivery.c.edition_id == edition_id, delivery.c.subscriber_id == subscriber.c.id)
    return connection.execute(sa.select(sa.func.count()).select_from(subscriber)
                              .where(audience.receives_editions(), ~already)).scalar()
