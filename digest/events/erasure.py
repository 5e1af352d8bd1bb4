"""Forgetting a reader's events when the reader is erased.

Events stay (an edition's stats must not change when someone leaves), but
nothing in them names the reader any more: the address becomes its keyed hash
(`subscribers.operators.erased_label`, HMAC under DIGEST_SECRET_KEY, so one
reader still counts once and a guessed address cannot be checked against it),
the reader id is dropped, and the raw payload, which repeats the address and
holds IPs and user agents, is emptied. Call it in the same transaction that
erases the reader. Events that arrive after the erasure are stored the same way
(digest.events.ingest).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session

from digest.events.models import Event
from subscribers import operators


def forget_events(session: Session, email: str) -> int:
    """Anonymize every event about `email` (a normalized address); returns how many."""
    hashed = operators.erased_label(email)
    table = Event.__table__
    statement = (
        sa.update(table).where(table.c.email == email.strip().lower()).values(email=hashed, reader_id=None, raw={})
    )
    return session.execute(statement).rowcount
