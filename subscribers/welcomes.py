"""The queue of welcome mails, kept in the reader table like confirmation mails: at least once.

A reader who confirms (with welcomes on) gets `welcome_due_at`; while it is set and they are
active, a welcome is owed. A sender claims a batch with one UPDATE naming it in `welcome_claim`
(so two processes never claim the same reader), and once the provider has answered, `settle`
records each outcome:

    sent       the mail left, or the reader's first edition carried the welcome: nothing is owed
    refused    it cannot be sent to this reader (the provider refused the address): nothing is owed
    released   it did not leave, or may not have, or waits for the edition that will carry it:
               back in the queue

A claim whose claimant is gone (killed between the claim and `settle`) is taken over by the next
sender told so (`gone`): at most a second copy for the batch in flight, never a lost welcome.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session

from subscribers import cadence as cadences
from subscribers import status
from subscribers.models import Subscriber


@dataclass(frozen=True)
class PendingWelcome:
    reader_id: int
    email: str
    token: str
    timezone: str | None
    topics: tuple[str, ...]
    changed_at: datetime  # when they last confirmed, came back or changed their preferences
    cadence: str = cadences.DEFAULT  # how often they get a letter (subscribers.cadence)
    cadence_since: date | None = None  # the day it counts from


def _owed():
    table = Subscriber.__table__
    return sa.and_(table.c.status == status.RECEIVES_EDITIONS, table.c.welcome_due_at.is_not(None))


def _waiting(gone: Collection[str] = ()):
    table = Subscriber.__table__
    free = table.c.welcome_claim.is_(None)
    if gone:
        free = sa.or_(free, table.c.welcome_claim.in_(sorted(gone)))
    return sa.and_(_owed(), free)


def claim(session: Session, limit: int, claimant: str, gone: Collection[str] = ()) -> list[PendingWelcome]:
    """Claim up to `limit` readers owed a welcome for `claimant`; commit before sending."""
    table = Subscriber.__table__
    candidates = sa.select(table.c.id).where(_waiting(gone)).order_by(table.c.id).limit(limit)
    rows = (
        session.connection()
        .execute(
            sa.update(table)
            .where(table.c.id.in_(candidates.scalar_subquery()), _waiting(gone))
            .values(welcome_claim=claimant)
            .returning(
                table.c.id,
                table.c.email,
                table.c.token,
                table.c.timezone,
                table.c.topics,
                table.c.updated_at,
                table.c.cadence,
                table.c.cadence_since,
            )
        )
        .all()
    )
    found = [
        PendingWelcome(row[0], row[1], row[2], row[3], tuple(row[4] or ()), row[5], row[6], row[7]) for row in rows
    ]
    return sorted(found, key=lambda p: p.reader_id)


def claimants(session: Session) -> set[str]:
    table = Subscriber.__table__
    query = sa.select(table.c.welcome_claim).where(_owed(), table.c.welcome_claim.is_not(None)).distinct()
    return set(session.connection().execute(query).scalars())


def settle(session: Session, claimant: str, *, done: Sequence[int] = (), released: Sequence[int] = ()) -> None:
    """`done`: sent, refused or carried by an edition (nothing owed any more); `released`: back in the queue."""
    table = Subscriber.__table__
    mine = table.c.welcome_claim == claimant
    if done:
        session.connection().execute(
            sa.update(table).where(table.c.id.in_(list(done)), mine).values(welcome_due_at=None, welcome_claim=None)
        )
    if released:
        session.connection().execute(
            sa.update(table).where(table.c.id.in_(list(released)), mine).values(welcome_claim=None)
        )


def owed_among(connection: Connection, reader_ids: Sequence[int]) -> set[int]:
    """Which of these readers are owed a welcome and not being sent one now (an edition may carry it)."""
    if not reader_ids:
        return set()
    table = Subscriber.__table__
    query = sa.select(table.c.id).where(table.c.id.in_(list(reader_ids)), _waiting())
    return set(connection.execute(query).scalars())


def carried(connection: Connection, reader_ids: Sequence[int]) -> None:
    """Their first edition carried the welcome: nothing more is owed (unless a sender holds it now)."""
    if reader_ids:
        table = Subscriber.__table__
        connection.execute(
            sa.update(table)
            .where(table.c.id.in_(list(reader_ids)), table.c.welcome_claim.is_(None))
            .values(welcome_due_at=None)
        )


def waiting(connection: Connection) -> int:
    """Readers owed a welcome (claimed ones included)."""
    return connection.execute(sa.select(sa.func.count()).select_from(Subscriber).where(_owed())).scalar_one()
