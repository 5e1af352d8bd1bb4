"""The ledger: one Delivery row per (edition, reader). It is how a send resumes without duplicates.

States: claimed (in a request about to go out), sent (provider accepted),
failed (provider refused this reader), uncertain (the request's outcome is
unknown: never re-sent silently), skipped (reader no longer active).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from digest.timeutil import UTCDateTime, utcnow

DELIVERY_STATES = ("claimed", "sent", "failed", "uncertain", "skipped")


class Delivery(SQLModel, table=True):
    __tablename__ = "delivery"
    __table_args__ = (sa.UniqueConstraint("edition_id", "subscriber_id", name="uq_delivery_reader"),)

    id: int | None = Field(default=None, primary_key=True)
    edition_id: int = Field(sa_column=sa.Column(sa.ForeignKey("edition.id"), nullable=False, index=True))
    subscriber_id: int = Field(sa_column=sa.Column(sa.ForeignKey("subscriber.id", ondelete="CASCADE"),
                                                   nullable=False, index=True))
    state: str = Field(sa_column=sa.Column(sa.String(20), nullable=False))
    request_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), nullable=True))
    provider_message_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(200), nullable=True))
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    claimed_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime, nullable=True))
