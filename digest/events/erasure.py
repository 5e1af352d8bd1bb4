"""Forgetting a reader's events when the reader is erased.

Events stay (an edition's stats must not change when someone leaves), but
nothing in them names the reader any more: the address becomes its SHA-256 hash
(what the suppression list keeps, so one reader still counts once), and the raw
payload, which repeats the address and holds IPs and user agents, is emptied.
Call it in the same transaction that erases the reader.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlmodel import Session

from digest.events.models import Event


def forget_events(session: Session, email: str) -> int:
    """Anonymize every event about `email` (a normalized address); returns how many."""
    hashed = "sha256:" + hashlib.sha256(email.encode("utf-8")).hexdigest()
    table = Event.__table__
    statement = (
        sa.update(table).where(table.c.email == email.strip().lower()).values(email=hashed, reader_id=None, raw={})
    )
    return session.execute(statement).rowcount
