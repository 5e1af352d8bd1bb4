"""The comparison store's tables: Tool, Comparison, Entry, Review.

A Tool is stored once by slug and shared by every comparison it appears in. An
Entry is a tool inside one comparison, with the figures that page showed. A
Review is one reviewer-lens quote about one tool in one comparison.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from digest.timeutil import UTCDateTime, utcnow

LENSES = ("builder", "competition", "thesis", "buyer")
VERDICTS = ("ship", "skip", "unknown")


class Tool(SQLModel, table=True):
    __tablename__ = "tool"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(sa_column=sa.Column(sa.String(200), nullable=False, unique=True))
    name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    category: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    tagline: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    description: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    pricing: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))


class Comparison(SQLModel, table=True):
    __tablename__ = "comparison"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(sa_column=sa.Column(sa.String(400), nullable=False, unique=True))
    title: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    summary: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    url: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    published_at: datetime = Field(sa_column=sa.Column(UTCDateTime, nullable=False, index=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    # The comparison's language (a BCP 47 tag, digest.language) where the import gave one; None: the
    # newsletter's (DIGEST_LANGUAGE). Mail and pages declare it where it differs.
    lang: str | None = Field(default=None, sa_column=sa.Column(sa.String(35), nullable=True))


class Entry(SQLModel, table=True):
    __tablename__ = "entry"
    __table_args__ = (
        sa.UniqueConstraint("comparison_id", "position", name="uq_entry_position"),
        sa.UniqueConstraint("comparison_id", "tool_id", name="uq_entry_tool"),
    )

    id: int | None = Field(default=None, primary_key=True)
    comparison_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("comparison.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    tool_id: int = Field(sa_column=sa.Column(sa.ForeignKey("tool.id"), nullable=False, index=True))
    position: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    panel_ship: float = Field(sa_column=sa.Column(sa.Float, nullable=False))
    community: float | None = Field(default=None, sa_column=sa.Column(sa.Float, nullable=True))
    entry_price: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))


class Review(SQLModel, table=True):
    __tablename__ = "review"
    __table_args__ = (sa.UniqueConstraint("comparison_id", "tool_id", "lens", name="uq_review_lens"),)

    id: int | None = Field(default=None, primary_key=True)
    comparison_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("comparison.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    tool_id: int = Field(sa_column=sa.Column(sa.ForeignKey("tool.id"), nullable=False))
    lens: str = Field(sa_column=sa.Column(sa.String(40), nullable=False))
    position: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    quote: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    verdict: str = Field(default="unknown", sa_column=sa.Column(sa.String(20), nullable=False))


class Vote(SQLModel, table=True):
    """A reader's pick in one comparison. One per reader per comparison; a new click moves it."""

    __tablename__ = "vote"
    __table_args__ = (
        sa.UniqueConstraint("subscriber_id", "comparison_id", name="uq_vote_reader"),
        sa.Index("ix_vote_comparison_tool", "comparison_id", "tool_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(sa_column=sa.Column(sa.ForeignKey("subscriber.id", ondelete="CASCADE"), nullable=False))
    comparison_id: int = Field(sa_column=sa.Column(sa.ForeignKey("comparison.id", ondelete="CASCADE"), nullable=False))
    tool_id: int = Field(sa_column=sa.Column(sa.ForeignKey("tool.id"), nullable=False))
    voted_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    changed_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))


class ComparisonVersion(SQLModel, table=True):
    """What one import said about a comparison: its history, one row per import that changed it.

    `snapshot` is the comparison as that import left it (digest.content.versions.snapshot: title,
    summary, url, date, both tools with their figures and reviews), as JSON. Version 1 is the first
    import; a re-import that changes anything adds the next one, so what was mailed stays on record.
    """

    __tablename__ = "comparison_version"
    __table_args__ = (sa.UniqueConstraint("comparison_id", "number", name="uq_comparison_version"),)

    id: int | None = Field(default=None, primary_key=True)
    comparison_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("comparison.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    number: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    snapshot: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
