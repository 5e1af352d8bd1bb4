"""Who receives an edition, and who stopped: the queries the send loop walks in keyset batches.

A walk is `status = 'active' AND id > :last ORDER BY id LIMIT :n`, served by the
(status, id) index, so batch 1,000 costs what batch 1 does, and a reader who
unsubscribes during a send drops out of every batch fetched after that. A walk
may keep to the readers of one time zone (`zone`: a stored zone name, or None
for readers who gave none), served by the (status, timezone, id) index: that is
how the weekly send goes out in waves. The caller may narrow a query with
`unless` (say, "already has this edition"), written against `readers.c.id`.

A reader's topics come back as the JSON text stored, so a caller can map the few
distinct texts of a million readers without decoding each one.

The send loop on SQLite runs plain SQL on the driver's cursor (a third of the cost
of built statements); `sqlite_receiving` and `sqlite_stopped_since` write it here,
so the status names stay in this library.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session

from subscribers import cadence, status
from subscribers.models import Subscriber

readers = Subscriber.__table__


class Reader(NamedTuple):
    """A reader as a send needs them. A tuple: a send makes a million."""

    id: int
    email: str
    token: str


class _Every:
    """No zone filter: every reader, whatever their zone."""

    def __repr__(self) -> str:
        return "EVERY_ZONE"


EVERY_ZONE = _Every()
Zone = str | None | _Every  # a stored zone name, None (readers who gave none), or EVERY_ZONE

# Conditions for plain SQL over the `subscriber` table.
SQL_RECEIVES_EDITIONS = f"subscriber.status = '{status.RECEIVES_EDITIONS}'"
SQL_STOPPED = f"subscriber.status IN ({', '.join(repr(name) for name in status.STOPPED)})"


def status_counts(connection: Connection) -> dict[str, int]:
    """How many readers have each status (every status named, 0 included)."""
    counts = dict.fromkeys(status.ALL, 0)
    counts.update(connection.execute(sa.select(readers.c.status, sa.func.count()).group_by(readers.c.status)).all())
    return counts


def receives_editions() -> sa.ColumnElement[bool]:
    """True for a reader who receives editions at this very moment."""
    return readers.c.status == status.RECEIVES_EDITIONS


def in_zone(zone: Zone) -> sa.ColumnElement[bool]:
    if zone is EVERY_ZONE:
        return sa.true()
    if zone is None:
        return readers.c.timezone.is_(None)
    return readers.c.timezone == zone


def topics_text() -> sa.ColumnElement[str]:
    """The topics column as its stored JSON text (PostgreSQL would otherwise decode it)."""
    return sa.cast(readers.c.topics, sa.Text)


def receiving(
    after_id: int,
    limit: int,
    unless: sa.ColumnElement[bool] | None = None,
    *,
    zone: Zone = EVERY_ZONE,
    upto: int | None = None,
    with_topics: bool = False,
) -> sa.Select:
    """(id, email, token[, topics text, cadence, cadence_since]) of the next readers who receive
    editions, in id order."""
    columns = [readers.c.id, readers.c.email, readers.c.token]
    if with_topics:
        columns += [topics_text(), readers.c.cadence, readers.c.cadence_since]
    query = sa.select(*columns).where(receives_editions(), in_zone(zone), readers.c.id > after_id)
    if upto is not None:
        query = query.where(readers.c.id <= upto)
    if unless is not None:
        query = query.where(~unless)
    return query.order_by(readers.c.id).limit(limit)


def stopped_since(
    started_at: datetime,
    after_id: int,
    upto: int | None = None,
    unless: sa.ColumnElement[bool] | None = None,
    *,
    zone: Zone = EVERY_ZONE,
) -> sa.Select:
    """Ids of readers who left (unsubscribed, bounced, complained) since `started_at`."""
    query = sa.select(readers.c.id).where(
        readers.c.status.in_(status.STOPPED), readers.c.updated_at >= started_at, readers.c.id > after_id, in_zone(zone)
    )
    if upto is not None:
        query = query.where(readers.c.id <= upto)
    if unless is not None:
        query = query.where(~unless)
    return query


def _sqlite_zone(zone: Zone) -> str:
    if zone is EVERY_ZONE:
        return ""
    return " AND timezone IS NULL" if zone is None else " AND timezone = :zone"


def sqlite_receiving(zone: Zone, unless: str) -> str:
    """`receiving(..., with_topics=True)` as plain SQL with named parameters :after, :upto, :limit and
    :zone; `unless` is a condition on `subscriber.id` (its own parameters are the caller's)."""
    return (
        "SELECT id, email, token, topics, cadence, cadence_since FROM subscriber "
        f"WHERE {SQL_RECEIVES_EDITIONS}{_sqlite_zone(zone)} "
        f"AND id > :after AND id <= :upto AND NOT {unless} ORDER BY id LIMIT :limit"
    )


def sqlite_stopped_since(zone: Zone, unless: str) -> str:
    """`stopped_since` as plain SQL: parameters :started, :after, :upto and :zone."""
    return (
        f"SELECT id FROM subscriber WHERE {SQL_STOPPED} AND updated_at >= :started{_sqlite_zone(zone)} "
        f"AND id > :after AND id <= :upto AND NOT {unless}"
    )


def next_batch(session: Session, after_id: int, limit: int) -> list[Reader]:
    """The next `limit` readers who receive editions after `after_id`."""
    return [Reader(*row) for row in session.exec(receiving(after_id, limit)).all()]


def zones_in_use(connection: Connection) -> list[str | None]:
    """The distinct stored zones of readers who receive editions (None: some gave none).

    A loose index scan in one recursive statement: one index seek per zone, not a pass over every reader."""
    rows = (
        connection.execute(
            sa.text(
                "WITH RECURSIVE zone(name) AS ("
                " SELECT min(timezone) FROM subscriber WHERE status = :receives"
                " UNION ALL"
                " SELECT (SELECT min(timezone) FROM subscriber WHERE status = :receives AND timezone > zone.name)"
                " FROM zone WHERE zone.name IS NOT NULL)"
                " SELECT name FROM zone WHERE name IS NOT NULL"
            ),
            {"receives": status.RECEIVES_EDITIONS},
        )
        .scalars()
        .all()
    )
    found: list[str | None] = list(rows)
    if (
        connection.execute(
            sa.select(readers.c.id).where(receives_editions(), readers.c.timezone.is_(None)).limit(1)
        ).first()
        is not None
    ):
        found.insert(0, None)
    return found


def id_range(connection: Connection, zone: Zone = EVERY_ZONE) -> tuple[int, int] | None:
    """(lowest, highest) id of the readers who receive editions (in `zone`), or None when there are none."""
    low, high = connection.execute(
        sa.select(sa.func.min(readers.c.id), sa.func.max(readers.c.id)).where(receives_editions(), in_zone(zone))
    ).one()
    return None if low is None else (low, high)


def topic_counts(
    unless: sa.ColumnElement[bool] | None = None, zone: Zone = EVERY_ZONE, *, weekly_only: bool = False
) -> sa.Select:
    """(topics text, readers) over the readers who receive editions: what variants are counted from
    (`weekly_only`: of the weekly readers; see `cadence_counts` for the others)."""
    text = topics_text()
    query = sa.select(text, sa.func.count()).where(receives_editions(), in_zone(zone))
    if weekly_only:
        query = query.where(readers.c.cadence == cadence.WEEKLY)
    if unless is not None:
        query = query.where(~unless)
    return query.group_by(text)


def cadence_counts(unless: sa.ColumnElement[bool] | None = None) -> sa.Select:
    """(topics text, cadence, cadence_since, readers) over the readers who receive editions and are not
    weekly: whether each group is due on a send day is subscribers.cadence's to say."""
    text = topics_text()
    query = sa.select(text, readers.c.cadence, readers.c.cadence_since, sa.func.count()).where(
        receives_editions(), readers.c.cadence != cadence.WEEKLY
    )
    if unless is not None:
        query = query.where(~unless)
    return query.group_by(text, readers.c.cadence, readers.c.cadence_since)


def zone_counts(unless: sa.ColumnElement[bool] | None = None) -> sa.Select:
    """(stored zone, readers) over the readers who receive editions."""
    query = sa.select(readers.c.timezone, sa.func.count()).where(receives_editions())
    if unless is not None:
        query = query.where(~unless)
    return query.group_by(readers.c.timezone)


def changed_between(after: datetime, upto: datetime, unless: sa.ColumnElement[bool] | None = None) -> sa.Select:
    """(id, stored zone, updated_at, cadence, cadence_since) of readers who receive editions and whose
    record changed (they confirmed, came back, or changed their zone, topics or cadence) in [after,
    upto]: served by the (status, updated_at) index, so a look every minute for readers who joined
    late costs what they cost."""
    query = sa.select(
        readers.c.id, readers.c.timezone, readers.c.updated_at, readers.c.cadence, readers.c.cadence_since
    ).where(receives_editions(), readers.c.updated_at >= after, readers.c.updated_at <= upto)
    if unless is not None:
        query = query.where(~unless)
    return query.order_by(readers.c.id)


def membership_dates() -> sa.Select:
    """(confirmed_at, left_at, lapsed) of every reader who ever confirmed; left_at is None while they
    stay; lapsed says they stopped for want of an answer to a re-permission mail (not a choice to leave)."""
    left_at = sa.case(
        (
            readers.c.status.in_((status.UNSUBSCRIBED, status.SUPPRESSED)),
            sa.func.coalesce(readers.c.unsubscribed_at, readers.c.updated_at),
        ),
        (readers.c.status.in_((status.BOUNCED, status.COMPLAINED, status.LAPSED)), readers.c.updated_at),
        else_=sa.null(),
    )
    return sa.select(
        readers.c.confirmed_at, sa.type_coerce(left_at, readers.c.updated_at.type), readers.c.status == status.LAPSED
    ).where(readers.c.confirmed_at.is_not(None))


def signup_dates() -> sa.Select:
    """(asked to join at, clicked the confirmation link at) of every reader.

    The second is None for a reader who has not clicked it: still pending, or
    added as confirmed by an operator (consent given elsewhere: confirmed at the
    very moment of the request). A reader who signed up again counts from the
    newer request.
    """
    asked = sa.func.coalesce(readers.c.consent_at, readers.c.created_at)
    clicked = sa.case((readers.c.confirmed_at > asked, readers.c.confirmed_at), else_=sa.null())
    return sa.select(
        sa.type_coerce(asked, readers.c.created_at.type), sa.type_coerce(clicked, readers.c.created_at.type)
    )
