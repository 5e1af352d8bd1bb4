"""The comparison store: tool, comparison, entry, review.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tool",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("slug", sa.String(200), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("category", sa.String(200), nullable=False),
        sa.Column("tagline", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("pricing", sa.String(200), nullable=False),
    )
    op.create_table(
        "comparison",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("slug", sa.String(400), nullable=False, unique=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("published_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_comparison_published_at", "comparison", ["published_at"])
    op.create_table(
        "entry",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("comparison_id", sa.Integer, sa.ForeignKey("comparison.id", ondelete="CASCADE"), nullable=False),
        sa.Column("tool_id", sa.Integer, sa.ForeignKey("tool.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("panel_ship", sa.Float, nullable=False),
        sa.Column("community", sa.Float, nullable=True),
        sa.Column("entry_price", sa.String(200), nullable=False),
        sa.UniqueConstraint("comparison_id", "position", name="uq_entry_position"),
        sa.UniqueConstraint("comparison_id", "tool_id", name="uq_entry_tool"),
    )
    op.create_index("ix_entry_comparison_id", "entry", ["comparison_id"])
    op.create_index("ix_entry_tool_id", "entry", ["tool_id"])
    op.create_table(
        "review",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("comparison_id", sa.Integer, sa.ForeignKey("comparison.id", ondelete="CASCADE"), nullable=False),
        sa.Column("tool_id", sa.Integer, sa.ForeignKey("tool.id"), nullable=False),
        sa.Column("lens", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("quote", sa.Text, nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.UniqueConstraint("comparison_id", "tool_id", "lens", name="uq_review_lens"),
    )
    op.create_index("ix_review_comparison_id", "review", ["comparison_id"])


def downgrade() -> None:
    op.drop_table("review")
    op.drop_table("entry")
    op.drop_table("comparison")
    op.drop_table("tool")
