"""Engagement: what a reader does that says they still want the newsletter, and the goodbye when
nothing does.

Engagement is what a person does: a vote, a saved preferences page, a confirmation, the "keep
sending" button (each a POST), and, where the provider reports them and the application lets them
count, clicks in an edition (`clicked`; which clicks is the application's rule, as they may come
from link scanners). Never an open (Apple Mail opens every message itself) and never a GET of our
own pages (mail scanners follow links). `engaged` records it, and answers a re-permission question.

With DIGEST_SUNSET_AFTER set, the application finds readers who were mailed that many editions
since their last sign of life (`last_sign_of_life`: engagement, else confirmation, else joining;
readers who joined fewer editions ago have no such count), mails them one re-permission mail and
records it (`asked`); `lapse_unanswered` stops those who did not answer within the grace days:
status `lapsed`, a consent-log line, no more mail until they subscribe again.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session

from subscribers import consent, status
from subscribers.models import Subscriber
from subscribers.service import by_token

readers = Subscriber.__table__
LAPSE_SOURCE = "no answer to the re-permission mail"


def last_sign_of_life() -> sa.ColumnElement:
    """When the reader last showed they want the newsletter (a column expression)."""
    return sa.func.coalesce(readers.c.engaged_at, readers.c.confirmed_at, readers.c.created_at)


def not_asked() -> sa.ColumnElement[bool]:
    """Active readers who have not been asked whether to keep sending (or answered since)."""
    return sa.and_(readers.c.status == status.RECEIVES_EDITIONS, readers.c.sunset_asked_at.is_(None))


def engaged(session: Session, token: str, now: datetime) -> Subscriber:
    """Record a sign of life from the reader whose token this is (and the answer to a re-permission
    mail, if one asked). Raises UnknownReader for a token nobody has."""
    reader = by_token(session, token)
    reader.engaged_at = now
    reader.sunset_asked_at = None
    session.flush()
    return reader


def clicked(connection: Connection, reader_ids: Collection[int], at: datetime) -> None:
    """Provider clicks as signs of life (digest.events.clicks decides which count): the readers'
    `engaged_at` moves forward to `at`, the latest click of the batch that counted (never back), and a
    re-permission question is answered, as a vote answers it. One UPDATE of one shape, whatever the
    number of readers (its statement compiled once)."""
    if not reader_ids:
        return
    engaged = readers.c.engaged_at
    connection.execute(
        sa.update(readers)
        .where(readers.c.id.in_(sorted(reader_ids)), sa.or_(engaged.is_(None), engaged < at))
        .values(engaged_at=at, sunset_asked_at=None)
    )


def asked(connection: Connection, reader_ids: Sequence[int], now: datetime) -> None:
    """A re-permission mail left for these readers: their grace days start now."""
    if reader_ids:
        connection.execute(
            sa.update(readers).where(readers.c.id.in_(list(reader_ids)), not_asked()).values(sunset_asked_at=now)
        )


def lapse_unanswered(session: Session, asked_before: datetime, now: datetime) -> int:
    """Readers asked before `asked_before` who did not answer become lapsed, each with a consent-log
    line. Returns how many."""
    connection = session.connection()
    due = sa.and_(
        readers.c.status == status.RECEIVES_EDITIONS,
        readers.c.sunset_asked_at.is_not(None),
        readers.c.sunset_asked_at <= asked_before,
    )
    ids = list(connection.execute(sa.select(readers.c.id).where(due).order_by(readers.c.id)).scalars())
    if not ids:
        return 0
    connection.execute(
        sa.update(readers).where(readers.c.id.in_(ids), due).values(status=status.LAPSED, updated_at=now)
    )
    consent.append(connection, [consent.entry(i, now, consent.OPT_OUT, status.LAPSED, LAPSE_SOURCE) for i in ids])
    return len(ids)
