"""The editors' tables: accounts (`editor`) and the append-only audit log (`audit_entry`)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from digest.timeutil import UTCDateTime, utcnow


class Editor(SQLModel, table=True):
    __tablename__ = "editor"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    role: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    password_hash: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class AuditEntry(SQLModel, table=True):
    """Who did what, when: appended by every desk and CLI action on editions and accounts, never changed.

    `actor` is an editor's name, or `shell:USER` for a command run without --as. `edition` is the
    edition's number when the action was about one."""

    __tablename__ = "audit_entry"
    __table_args__ = (sa.Index("ix_audit_entry_edition_id", "edition", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    actor: str = Field(sa_column=sa.Column(sa.String(80), nullable=False))
    action: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    edition: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True))
    detail: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))
