"""Who receives an edition, and who stopped: the queries the send loop walks in keyset batches.

A walk is `status = 'active' AND id > :last ORDER BY id LIMIT :n`, served by the
(status, id) index, so batch 1,000 costs what batch 1 does, and a reader who
unsubscribes during a send drops out of every batch fetched after that. The
caller may narrow a query with `unless` (say, "already has this edition"),
written against `readers.c.id`.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlmodel import Session

from subscribers import status
from subscribers.models import Subscriber

readers = Subscriber.__table__


class Reader(NamedTuple):
    """A reader as a send needs them. A tuple: a send makes a million."""

    id: int
    email: str
    token: str


def receives_editions() -> sa.ColumnElement[bool]:
    """True for a reader who receives editions at this very moment."""
    return readers.c.status == status.RECEIVES_EDITIONS


def receiving(after_id: int, limit: int, unless: sa.ColumnElement[bool] | None = None) -> sa.Select:
    """(id, email, token) of the next readers who receive editions, in id order."""
    query = sa.select(readers.c.id, readers.c.email, readers.c.token).where(receives_editions(),
                                                                          readers.c.id > after_id)
    if unless is not None:
        query = query.where(~unless)
    return query.order_by(readers.c.id).limit(limit)


def stopped_since(started_at: datetime, after_id: int, upto: int | None = None,
                  unless: sa.ColumnElement[bool] | None = None) -> sa.Select:
    """Ids of readers who left (unsubscribed, bounced, complained) since `started_at`."""
    query = sa.select(readers.c.id).where(readers.c.status.in_(status.STOPPED), readers.c.updated_at >= started_at,
                                          readers.c.id > after_id)
    if upto is not None:
        query = query.where(readers.c.id <= upto)
    if unless is not None:
        query = query.where(~unless)
    return query


def next_batch(session: Session, after_id: int, limit: int) -> list[Reader]:
    """The next `limit` readers who receive editions after `after_id`."""
    return [Reader(*row) for row in session.exec(receiving(after_id, limit)).all()]


def membership_dates() -> sa.Select:
    """(confirmed_at, left_at) of every reader who ever confirmed; left_at is None while they stay."""
    left_at = sa.case((readers.c.status.in_((status.UNSUBSCRIBED, status.SUPPRESSED)),
                       sa.func.coalesce(readers.c.unsubscribed_at, readers.c.updated_at)),
                      (readers.c.status.in_((status.BOUNCED, status.COMPLAINED)), readers.c.updated_at),
                      else_=sa.null())
    return (sa.select(readers.c.confirmed_at, sa.type_coerce(left_at, readers.c.updated_at.type))
            .where(readers.c.confirmed_at.is_not(None)))


def signup_dates() -> sa.Select:
    """(asked to join at, clicked the confirmation link at) of every reader.

    The second is None for a reader who has not clicked it: still pending, or
    added as confirmed by an operator (consent given elsewhere: confirmed at the
    very moment of the request). A reader who signed up again counts from the
    newer request.
    """
    asked = sa.func.coalesce(readers.c.consent_at, readers.c.created_at)
    clicked = sa.case((readers.c.confirmed_at > asked, readers.c.confirmed_at), else_=sa.null())
    return sa.select(sa.type_coerce(asked, readers.c.created_at.type),
                     sa.type_coerce(clicked, readers.c.created_at.type))
