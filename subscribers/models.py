"""Readers, their consent log and the suppression list."""

from __future__ import annotations

from datetime import date, datetime, timezone

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from subscribers.cadence import DEFAULT as DEFAULT_CADENCE
from subscribers.status import PENDING


def _now() -> datetime:
    return datetime.now(timezone.utc)


class UTC(sa.types.TypeDecorator):
    """Naive UTC in the database, aware UTC in Python."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=timezone.utc)


class Subscriber(SQLModel, table=True):
    """A reader. `consent_*` record how they joined; `token` opens their per-reader links."""

    __tablename__ = "subscriber"
    # Serve the send loop's keyset walks: status = 'active' AND id > :last ORDER BY id LIMIT :n, over
    # every reader or over the readers of one time zone (a wave), and the list of zones in use.
    __table_args__ = (
        sa.Index("ix_subscriber_status_id", "status", "id"),
        sa.Index("ix_subscriber_status_timezone_id", "status", "timezone", "id"),
        # Readers who confirmed, came back or moved since a moment (the late readers of a send day).
        sa.Index("ix_subscriber_status_updated_at", "status", "updated_at"),
        # The few readers owed a welcome mail, found without a pass over everyone.
        sa.Index(
            "ix_subscriber_welcome_due",
            "id",
            sqlite_where=sa.text("welcome_due_at IS NOT NULL"),
            postgresql_where=sa.text("welcome_due_at IS NOT NULL"),
        ),
        {"sqlite_autoincrement": True},  # an erased reader's id is never handed to the next one
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_column=sa.Column(sa.String(320), nullable=False, unique=True))  # normalized
    status: str = Field(default=PENDING, sa_column=sa.Column(sa.String(20), nullable=False))
    topics: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    timezone: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), nullable=True))
    token: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))  # long, random
    created_at: datetime = Field(default_factory=_now, sa_column=sa.Column(UTC, nullable=False))
    updated_at: datetime = Field(default_factory=_now, sa_column=sa.Column(UTC, nullable=False))
    consent_at: datetime | None = Field(default=None, sa_column=sa.Column(UTC, nullable=True))
    consent_ip: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), nullable=True))
    consent_source: str | None = Field(default=None, sa_column=sa.Column(sa.String(200), nullable=True))
    confirmed_at: datetime | None = Field(default=None, sa_column=sa.Column(UTC, nullable=True))
    confirmed_ip: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), nullable=True))
    confirmation_sent_at: datetime | None = Field(default=None, sa_column=sa.Column(UTC, nullable=True))
    unsubscribed_at: datetime | None = Field(default=None, sa_column=sa.Column(UTC, nullable=True))
    # The process sending this reader's confirmation mail now (subscribers.confirmations), and why
    # the mail could not be sent to this reader, if it could not.
    confirmation_claim: str | None = Field(default=None, sa_column=sa.Column(sa.String(40), nullable=True))
    confirmation_error: str | None = Field(default=None, sa_column=sa.Column(sa.String(500), nullable=True))
    # A welcome owed since they confirmed (subscribers.welcomes), and the process sending it now.
    welcome_due_at: datetime | None = Field(default=None, sa_column=sa.Column(UTC, nullable=True))
    welcome_claim: str | None = Field(default=None, sa_column=sa.Column(sa.String(40), nullable=True))
    # The reader's last sign of life (a vote, saved preferences, a confirmation, "keep sending"; never
    # an open), and when the re-permission mail asked whether to keep sending (subscribers.engagement).
    engaged_at: datetime | None = Field(default=None, sa_column=sa.Column(UTC, nullable=True))
    sunset_asked_at: datetime | None = Field(default=None, sa_column=sa.Column(UTC, nullable=True))
    # How often they get a letter (subscribers.cadence), and the day it counts from: when they chose it,
    # joined or came back, on their own calendar (None: a row from before cadences, counted from created_at).
    cadence: str = Field(
        default=DEFAULT_CADENCE,
        sa_column=sa.Column(sa.String(12), nullable=False, server_default=DEFAULT_CADENCE),
    )
    cadence_since: date | None = Field(default=None, sa_column=sa.Column(sa.Date, nullable=True))


class Suppression(SQLModel, table=True):
    """What is kept of a deleted or suppressed address: a hash, never the address."""

    __tablename__ = "suppression"

    id: int | None = Field(default=None, primary_key=True)
    email_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    reason: str = Field(sa_column=sa.Column(sa.String(40), nullable=False))
    created_at: datetime = Field(default_factory=_now, sa_column=sa.Column(UTC, nullable=False))


class ConsentEvent(SQLModel, table=True):
    """One line of a reader's consent log: every opt-in, confirmation and opt-out, appended and
    never overwritten (subscribers.consent). The reader's own `consent_*` columns say how they
    joined last; this says everything, in order."""

    __tablename__ = "consent_event"

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("subscriber.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    at: datetime = Field(sa_column=sa.Column(UTC, nullable=False))
    kind: str = Field(sa_column=sa.Column(sa.String(20), nullable=False))  # opt-in, confirmation, opt-out
    status: str = Field(sa_column=sa.Column(sa.String(20), nullable=False))  # the reader's status after it
    source: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))  # how: which form, tool or event
    ip: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), nullable=True))  # from where
