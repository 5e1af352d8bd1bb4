"""The suppression list: what is kept of an address after its reader is erased.

Only a keyed hash of the normalized address is stored (HMAC-SHA256 under the
key the application hands over with `use_key`: digest's DIGEST_SECRET_KEY), enough
to recognise the address if someone imports or adds it again, nothing to mail it
with, and nothing a list of guessed addresses can be checked against without the
key. Entries written before the key (a plain SHA-256) are still recognised.
Changing the key forgets which addresses were erased.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session, select

from subscribers.models import Suppression

DELETED = "deleted"  # erased on request; a fresh double opt-in may lift it
CHUNK = 400  # addresses per look-up (two hashes each); below SQLite's bound-parameter limits
_UNKEYED = b"subscribers: no key handed over"  # tools and tests that hand over none
_key: bytes = _UNKEYED


def use_key(key: str) -> None:
    """The key every hash is made with from now on, in this process (the application's secret)."""
    global _key
    _key = key.encode("utf-8")


def email_hash(email: str) -> str:
    """The keyed hash of an already normalized address: what an erasure stores."""
    return hmac.new(_key, email.encode("utf-8"), hashlib.sha256).hexdigest()


def _hashes(email: str) -> tuple[str, str]:
    """The keyed hash, and the plain SHA-256 stored before the hash was keyed."""
    return email_hash(email), hashlib.sha256(email.encode("utf-8")).hexdigest()


def find(session: Session, email: str) -> Suppression | None:
    return session.exec(select(Suppression).where(Suppression.email_hash.in_(_hashes(email)))).first()


def erased_among(connection: Connection | Session, emails: Iterable[str]) -> set[str]:
    """Those of these (normalized) addresses whose reader was erased or suppressed for good."""
    emails = list(emails)
    found: set[str] = set()
    table = Suppression.__table__
    for start in range(0, len(emails), CHUNK):
        of = {digest: email for email in emails[start : start + CHUNK] for digest in _hashes(email)}
        rows = connection.execute(sa.select(table.c.email_hash).where(table.c.email_hash.in_(list(of))))
        found |= {of[row[0]] for row in rows}
    return found


def lift_all(connection: Connection | Session, emails: Iterable[str]) -> None:
    """Lift these addresses' entries (a reader who asked to come back)."""
    emails = list(emails)
    table = Suppression.__table__
    for start in range(0, len(emails), CHUNK):
        hashes = [digest for email in emails[start : start + CHUNK] for digest in _hashes(email)]
        connection.execute(sa.delete(table).where(table.c.email_hash.in_(hashes)))


def suppress(session: Session, email: str, reason: str, now: datetime) -> None:
    if find(session, email) is None:
        session.add(Suppression(email_hash=email_hash(email), reason=reason, created_at=now))


def lift(session: Session, email: str) -> None:
    lift_all(session, [email])
