"""The library's two tables: leases (who may run a job now) and run records (what each slot came to)."""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class UTC(sa.types.TypeDecorator):
    """Naive UTC in the database (portable across SQLite and PostgreSQL), aware UTC in Python."""

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


class Lease(SQLModel, table=True):
    """One row per job name: the instance that may run it, until `expires_at` unless renewed."""

    __tablename__ = "schedule_lease"

    name: str = Field(sa_column=sa.Column(sa.String(100), primary_key=True))
    holder: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    acquired_at: datetime = Field(sa_column=sa.Column(UTC, nullable=False))
    expires_at: datetime = Field(sa_column=sa.Column(UTC, nullable=False))


class JobRun(SQLModel, table=True):
    """What became of one slot of one job: running, done, skipped, missed or failed."""

    __tablename__ = "schedule_run"
    __table_args__ = (sa.UniqueConstraint("job", "slot", name="uq_schedule_run_slot"),)

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    slot: datetime = Field(sa_column=sa.Column(UTC, nullable=False))
    outcome: str = Field(sa_column=sa.Column(sa.String(20), nullable=False))
    detail: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    holder: str | None = Field(default=None, sa_column=sa.Column(sa.String(200), nullable=True))
    attempts: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=sa.Column(UTC, nullable=True))
    finished_at: datetime | None = Field(default=None, sa_column=sa.Column(UTC, nullable=True))
