"""Provider events: what SendGrid reports back about each message.

An Event keeps SendGrid's own id (`sg_event_id`, unique: SendGrid delivers at
least once, so the same event may arrive twice) and the custom args every
message carries (`edition`, `reader_id`, see digest.delivery.readers), so stats
and suppression need no join on the address. Neither is a foreign key: an event
about a reader erased since, or an edition numbered by another install, is
still a fact worth counting.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from digest.timeutil import UTCDateTime, utcnow


class Event(SQLModel, table=True):
    __tablename__ = "event"
    # Stats group by (edition, event); the guard counts one edition's bounces and complaints.
    __table_args__ = (sa.Index("ix_event_edition_event", "edition_number", "event"),)

    id: int | None = Field(default=None, primary_key=True)
    sg_event_id: str = Field(sa_column=sa.Column(sa.String(100), nullable=False, unique=True))
    event: str = Field(sa_column=sa.Column(sa.String(40), nullable=False))  # delivered, open, bounce...
    bounce_type: str | None = Field(default=None, sa_column=sa.Column(sa.String(40), nullable=True))
    email: str = Field(sa_column=sa.Column(sa.String(320), nullable=False))
    reader_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True, index=True))
    edition_number: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True))
    occurred_at: datetime = Field(sa_column=sa.Column(UTCDateTime, nullable=False))
    received_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    raw: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
