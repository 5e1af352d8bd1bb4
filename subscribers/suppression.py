"""The suppression list: what is kept of an address after its reader is erased.

Only a SHA-256 hash of the normalized address is stored, enough to recognise
the address if someone imports or adds it again, and nothing to mail it with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from subscribers.models import Suppression

DELETED = "deleted"  # erased on request; a fresh double opt-in may lift it


def email_hash(email: str) -> str:
    """The hash of an already normalized address."""
    return hashlib.sha256(email.encode("utf-8")).hexdigest()


def find(session: Session, email: str) -> Suppression | None:
    return session.exec(select(Suppression).where(Suppression.email_hash == email_hash(email))).first()


def suppressed_hashes(session: Session, hashes: Iterable[str]) -> set[str]:
    hashes = list(hashes)
    if not hashes:
        return set()
    rows = session.exec(sa.select(Suppression.email_hash).where(Suppression.email_hash.in_(hashes)))
    return {row[0] for row in rows}


def suppress(session: Session, email: str, reason: str, now: datetime) -> None:
    if find(session, email) is None:
        session.add(Suppression(email_hash=email_hash(email), reason=reason, created_at=now))


def lift(session: Session, email: str) -> None:
    session.exec(sa.delete(Suppression).where(Suppression.email_hash == email_hash(email)))
