"""Who receives an edition: active readers, walked in keyset batches.

The walk uses `status = 'active' AND id > :last ORDER BY id LIMIT :n`, served by
the (status, id) index, so batch 1,000 costs what batch 1 does, and a reader who
unsubscribes during a send drops out of every batch fetched after that.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session

from subscribers.models import Subscriber
from subscribers.rules import RECEIVES_EDITIONS


@dataclass(frozen=True)
class Reader:
    id: int
    email: str
    token: str
    topics: tuple[str, ...]  # empty: every topic


def next_batch(session: Session, after_id: int, limit: int) -> list[Reader]:
    rows = session.exec(
        sa.select(Subscriber.id, Subscriber.email, Subscriber.token, Subscriber.topics)
        .where(Subscriber.status == RECEIVES_EDITIONS, Subscriber.id > after_id)
        .order_by(Subscriber.id)
        .limit(limit)
    ).all()
    return [Reader(row[0], row[1], row[2], tuple(row[3] or ())) for row in rows]
