"""The queue of confirmation mails, kept in the reader table itself.

A pending reader with `confirmation_sent_at` NULL is waiting for a mail. A sender
claims a batch with one UPDATE ... WHERE confirmation_sent_at IS NULL, so two
processes running at once never claim the same reader (PostgreSQL re-checks the
condition on each row it locks; SQLite has one writer). If the mail cannot be
handed over, `release` puts the readers back in the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

import sqlalchemy as sa
from sqlmodel import Session

from subscribers import status
from subscribers.models import Subscriber


@dataclass(frozen=True)
class PendingConfirmation:
    reader_id: int
    email: str
    token: str


def _waiting():
    table = Subscriber.__table__
    return sa.and_(table.c.status == status.PENDING, table.c.confirmation_sent_at.is_(None))


def claim(session: Session, now: datetime, limit: int) -> list[PendingConfirmation]:
    """Mark up to `limit` waiting readers as mailed now and return them. Commit before sending."""
    table = Subscriber.__table__
    candidates = sa.select(table.c.id).where(_waiting()).order_by(table.c.id).limit(limit)
    # A Core statement on the session's connection: the ORM's bulk-update machinery would only add
    # cost here (nothing in the session needs synchronizing), and the web app claims often.
    claimed = session.connection().execute(
        sa.update(table)
        .where(table.c.id.in_(candidates.scalar_subquery()), _waiting())
        .values(confirmation_sent_at=now)
        .returning(table.c.id, table.c.email, table.c.token)
    ).all()
    return sorted((PendingConfirmation(*row) for row in claimed), key=lambda p: p.reader_id)


def release(session: Session, reader_ids: Sequence[int]) -> None:
    """Put readers whose mail did not leave back in the queue."""
    if reader_ids:
        session.exec(
            sa.update(Subscriber)
            .where(Subscriber.id.in_(list(reader_ids)), Subscriber.status == status.PENDING)
            .values(confirmation_sent_at=None)
            .execution_options(synchronize_session=False)
        )


def waiting(session: Session) -> int:
    return session.exec(sa.select(sa.func.count()).select_from(Subscriber).where(_waiting())).one()[0]
