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

from subscribers.models import Subscriber


@dataclass(frozen=True)
class PendingConfirmation:
    reader_id: int
    email: str
    token: str


def _waiting():
    return sa.and_(Subscriber.status == "pending", Subscriber.confirmation_sent_at.is_(None))


def claim(session: Session, now: datetime, limit: int) -> list[PendingConfirmation]:
    """Mark up to `limit` waiting readers as mailed now and return them. Commit before sending."""
    candidates = sa.select(Subscriber.id).where(_waiting()).order_by(Subscriber.id).limit(limit)
    claimed = session.exec(
        sa.update(Subscriber)
        .where(Subscriber.id.in_(candidates.scalar_subquery()), _waiting())
        .values(confirmation_sent_at=now)
        .returning(Subscriber.id, Subscriber.email, Subscriber.token)
        .execution_options(synchronize_session=False)
    ).all()
    return sorted((PendingConfirmation(*row) for row in claimed), key=lambda p: p.reader_id)


def release(session: Session, reader_ids: Sequence[int]) -> None:
    """Put readers whose mail did not leave back in the queue."""
    if reader_ids:
        session.exec(
            sa.update(Subscriber)
            .where(Subscriber.id.in_(list(reader_ids)), Subscriber.status == "pending")
            .values(confirmation_sent_at=None)
            .execution_options(synchronize_session=False)
        )


def waiting(session: Session) -> int:
    return session.exec(sa.select(sa.func.count()).select_from(Subscriber).where(_waiting())).one()[0]
