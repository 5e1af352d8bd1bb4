"""The Edition tables: one newsletter week (frozen when its send begins), its items, and its variants."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from digest.editions.status import EditionStatus
from digest.timeutil import UTCDateTime, utcnow


class Edition(SQLModel, table=True):
    __tablename__ = "edition"

    id: int | None = Field(default=None, primary_key=True)
    number: int = Field(sa_column=sa.Column(sa.Integer, nullable=False, unique=True))
    week: str = Field(sa_column=sa.Column(sa.String(10), nullable=False, unique=True))  # ISO week, 2026-W47
    subject: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))  # editor's override
    intro: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    status: str = Field(default=EditionStatus.DRAFT, sa_column=sa.Column(sa.String(20), nullable=False))
    built_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime, nullable=True))
    # When its send began (the first wave, or a manual send): its comparisons are fixed from then on.
    frozen_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime, nullable=True))


class EditionItem(SQLModel, table=True):
    """A comparison frozen into an edition. Excluded items stay, so the comparison is not picked again."""

    __tablename__ = "edition_item"
    __table_args__ = (sa.UniqueConstraint("edition_id", "comparison_id", name="uq_edition_item"),)

    id: int | None = Field(default=None, primary_key=True)
    edition_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("edition.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    comparison_id: int = Field(sa_column=sa.Column(sa.ForeignKey("comparison.id"), nullable=False, index=True))
    position: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    included: bool = Field(default=True, sa_column=sa.Column(sa.Boolean, nullable=False))


class EditionVariant(SQLModel, table=True):
    """One list of comparisons an edition goes out with: readers whose topics select the same list share it.

    `comparisons` names them by id, in the edition's order ("12,15,19"): the variant's identity,
    which the ledger's rows point at, so a resumed send mails a reader the variant they were due.
    """

    __tablename__ = "edition_variant"
    __table_args__ = (sa.UniqueConstraint("edition_id", "comparisons", name="uq_edition_variant"),)

    id: int | None = Field(default=None, primary_key=True)
    edition_id: int = Field(sa_column=sa.Column(sa.ForeignKey("edition.id", ondelete="CASCADE"), nullable=False))
    comparisons: str = Field(sa_column=sa.Column(sa.Text, nullable=False))


# What a FrozenComparison row is to its edition.
SHOWN = "shown"  # one of its own comparisons, as mailed
RESULTS = "results"  # a comparison of the edition before, with the readers' votes when this one froze
CHANGED = "changed"  # a comparison an earlier edition mailed, changed since in a way that matters
ROLES = (SHOWN, RESULTS, CHANGED)


class FrozenComparison(SQLModel, table=True):
    """A comparison as its edition mailed it, written when the edition froze: the mail, the web version
    and the archive of a sent edition read it, so votes and re-imports after the send never change
    what the edition shows. `facts` is digest.content.votes.as_shown's dict (the snapshot with the
    community figure of that moment and the readers' votes), as JSON; `role` says which part of the
    edition it is (SHOWN, RESULTS for "How readers voted", CHANGED for "Changed since you read it")."""

    __tablename__ = "frozen_comparison"
    __table_args__ = (sa.UniqueConstraint("edition_id", "comparison_id", "role", name="uq_frozen_comparison"),)

    id: int | None = Field(default=None, primary_key=True)
    edition_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("edition.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    comparison_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("comparison.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    role: str = Field(default=SHOWN, sa_column=sa.Column(sa.String(20), nullable=False))
    facts: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
