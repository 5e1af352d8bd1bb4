"""The queue of confirmation mails, kept in the reader table itself. At least once, never lost.

A pending reader with `confirmation_sent_at` NULL is waiting for a mail. A sender
(a process, named by a `claimant` id that the caller keeps alive while it runs)
claims a batch with one UPDATE that writes its id into `confirmation_claim`, so
two processes running at once never claim the same reader (PostgreSQL
re-checks the condition on each row it locks; SQLite has one writer). Once the
provider has answered, `settle` records each reader's outcome:

    sent       the mail left: `confirmation_sent_at` is set, the reader counts as mailed
    refused    this reader's mail cannot be sent (an address the provider refuses, a
               message that cannot be built): `confirmation_error` says why; not retried
    released   it did not leave, or may not have: back in the queue, sent again

A reader counts as mailed only once the mail has left. A claim whose claimant
is gone (the process was killed between the claim and `settle`) is taken over
by the next sender that is told so (`gone`): its mail goes out again, so a
crash costs at most a duplicate of the batch that was in flight, never a lost
mail.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from subscribers import rules, status
from subscribers.errors import NotResent, UnknownReader
from subscribers.models import Subscriber
from subscribers.validation import normalize_email

MAX_ERROR = 500  # characters of a refusal kept with the reader


@dataclass(frozen=True)
class PendingConfirmation:
    reader_id: int
    email: str
    token: str


def _unsent():
    table = Subscriber.__table__
    return sa.and_(
        table.c.status == status.PENDING, table.c.confirmation_sent_at.is_(None), table.c.confirmation_error.is_(None)
    )


def _waiting(gone: Collection[str] = ()):
    table = Subscriber.__table__
    free = table.c.confirmation_claim.is_(None)
    if gone:
        free = sa.or_(free, table.c.confirmation_claim.in_(sorted(gone)))
    return sa.and_(_unsent(), free)


def claim(session: Session, limit: int, claimant: str, gone: Collection[str] = ()) -> list[PendingConfirmation]:
    """Claim up to `limit` waiting readers for `claimant` and return them. Commit before sending.

    Readers claimed by a claimant in `gone` (a process that died holding them) count as waiting."""
    table = Subscriber.__table__
    candidates = sa.select(table.c.id).where(_waiting(gone)).order_by(table.c.id).limit(limit)
    # A Core statement on the session's connection: the ORM's bulk-update machinery would only add
    # cost here (nothing in the session needs synchronizing), and the web app claims often.
    claimed = (
        session.connection()
        .execute(
            sa.update(table)
            .where(table.c.id.in_(candidates.scalar_subquery()), _waiting(gone))
            .values(confirmation_claim=claimant)
            .returning(table.c.id, table.c.email, table.c.token)
        )
        .all()
    )
    return sorted((PendingConfirmation(*row) for row in claimed), key=lambda p: p.reader_id)


def claimants(session: Session) -> set[str]:
    """Who holds claims on unsent mails now: senders at work, or processes that died holding them."""
    table = Subscriber.__table__
    query = sa.select(table.c.confirmation_claim).where(_unsent(), table.c.confirmation_claim.is_not(None)).distinct()
    return set(session.connection().execute(query).scalars())


def settle(
    session: Session,
    claimant: str,
    now: datetime,
    *,
    sent: Sequence[int] = (),
    refused: Mapping[int, str] | None = None,
    released: Sequence[int] = (),
) -> None:
    """Record what happened to readers `claimant` claimed (see the module's docstring)."""
    table = Subscriber.__table__
    connection = session.connection()
    mine = table.c.confirmation_claim == claimant
    if sent:
        connection.execute(
            sa.update(table)
            .where(table.c.id.in_(list(sent)), mine)
            .values(confirmation_sent_at=now, confirmation_claim=None)
        )
    if refused:
        connection.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("reader"), mine)
            .values(confirmation_error=sa.bindparam("why"), confirmation_claim=None),
            [{"reader": reader, "why": why[:MAX_ERROR]} for reader, why in refused.items()],
        )
    if released:
        release(session, released, claimant)


def release(session: Session, reader_ids: Sequence[int], claimant: str) -> None:
    """Put readers whose mail did not leave (or may not have) back in the queue."""
    if reader_ids:
        table = Subscriber.__table__
        session.connection().execute(
            sa.update(table)
            .where(table.c.id.in_(list(reader_ids)), table.c.confirmation_claim == claimant)
            .values(confirmation_claim=None)
        )


def waiting(session: Session) -> int:
    """Readers whose confirmation mail has not left yet (claimed ones included)."""
    return session.exec(sa.select(sa.func.count()).select_from(Subscriber).where(_unsent())).one()[0]


@dataclass(frozen=True)
class Backlog:
    """What an operator checks about the queue (`digest doctor`)."""

    stuck: int  # readers whose mail has not left although they signed up before the moment asked about
    refused: int  # pending readers whose mail cannot be sent (`confirmation_error`)


def backlog(session: Session, before: datetime) -> Backlog:
    """How many readers wait for their confirmation mail since before `before`, and how many
    pending readers' mail was refused for good."""
    table = Subscriber.__table__
    count = sa.select(sa.func.count()).select_from(table)
    stuck = session.connection().execute(count.where(_unsent(), table.c.created_at < before)).scalar_one()
    refused = (
        session.connection()
        .execute(count.where(table.c.status == status.PENDING, table.c.confirmation_error.is_not(None)))
        .scalar_one()
    )
    return Backlog(stuck, refused)


# --- asking again: an operator resends (at most every rules.RESEND_AFTER, like the form) -----------


def resend(session: Session, email: str, now: datetime) -> bool:
    """Queue the confirmation mail of the pending reader at `email` again. Returns False when it is
    queued already (none has left yet: the next sender sends it). A mail the provider refused is
    tried again (the operator asked). Raises UnknownReader, or NotResent when the reader is not
    pending or their last mail left less than RESEND_AFTER ago."""
    table = Subscriber.__table__
    address = normalize_email(email)
    row = (
        session.connection()
        .execute(
            sa.select(table.c.id, table.c.status, table.c.confirmation_sent_at, table.c.confirmation_error).where(
                table.c.email == address
            )
        )
        .first()
    )
    if row is None:
        raise UnknownReader(f"no reader has the address {address}")
    if row.status != status.PENDING:
        raise NotResent(f"{address} is {row.status}, not {status.PENDING}: there is nothing to confirm")
    if row.confirmation_sent_at is None and row.confirmation_error is None:
        return False
    due = rules.resend_due(row.confirmation_sent_at, now)
    if row.confirmation_error is None and due > now:
        minutes = max(1, round((due - now).total_seconds() / 60))
        every = f"{rules.RESEND_AFTER.total_seconds() / 60:g} minutes"
        raise NotResent(
            f"a confirmation mail left for {address} at {row.confirmation_sent_at:%H:%M} UTC; one goes at most "
            f"every {every}: try again in {minutes} minute{'s' if minutes != 1 else ''}"
        )
    session.connection().execute(
        sa.update(table)
        .where(table.c.id == row.id, table.c.status == status.PENDING)
        .values(confirmation_sent_at=None, confirmation_claim=None, confirmation_error=None)
    )
    return True


def resend_all(session: Session, older_than: timedelta, now: datetime) -> tuple[int, int]:
    """Queue again the confirmation mail of every pending reader whose last one left more than
    `older_than` ago (never less than RESEND_AFTER). Readers whose mail the provider refused are left
    as they are (`resend` one by one tries them again). Returns (queued, refused ones left out)."""
    table = Subscriber.__table__
    before = now - max(older_than, rules.RESEND_AFTER)
    due = sa.and_(
        table.c.status == status.PENDING,
        table.c.confirmation_sent_at.is_not(None),
        table.c.confirmation_sent_at <= before,
        table.c.confirmation_claim.is_(None),
    )
    connection = session.connection()
    refused = connection.execute(
        sa.select(sa.func.count()).select_from(table).where(due, table.c.confirmation_error.is_not(None))
    ).scalar()
    queued = connection.execute(
        sa.update(table).where(due, table.c.confirmation_error.is_(None)).values(confirmation_sent_at=None)
    ).rowcount
    return queued, refused
