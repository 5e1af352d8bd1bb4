"""Editions and their frozen items.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "edition",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("number", sa.Integer, nullable=False, unique=True),
        sa.Column("week", sa.String(10), nullable=False, unique=True),
        sa.Column("subject", sa.Text, nullable=True),
        sa.Column("intro", sa.Text, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("built_at", sa.DateTime, nullable=False),
        sa.Column("sent_at", sa.DateTime, nullable=True),
    )
    op.create_table(
        "edition_item",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("edition_id", sa.Integer, sa.ForeignKey("edition.id", ondelete="CASCADE"), nullable=False),
        sa.Column("comparison_id", sa.Integer, sa.ForeignKey("comparison.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("included", sa.Boolean, nullable=False),
        sa.UniqueConstraint("edition_id", "comparison_id", name="uq_edition_item"),
    )
    op.create_index("ix_edition_item_edition_id", "edition_item", ["edition_id"])
    op.create_index("ix_edition_item_comparison_id", "edition_item", ["comparison_id"])


def downgrade() -> None:
    op.drop_table("edition_item")
    op.drop_table("edition")
