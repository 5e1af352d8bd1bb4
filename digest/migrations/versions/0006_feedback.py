"""Provider events and readers' votes.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sg_event_id", sa.String(100), nullable=False, unique=True),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("bounce_type", sa.String(40), nullable=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("reader_id", sa.Integer, nullable=True),
        sa.Column("edition_number", sa.Integer, nullable=True),
        sa.Column("occurred_at", sa.DateTime, nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("raw", sa.JSON, nullable=False),
    )
    op.create_index("ix_event_edition_event", "event", ["edition_number", "event"])
    op.create_index("ix_event_reader_id", "event", ["reader_id"])
    op.create_table(
        "vote",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscriber.id", ondelete="CASCADE"), nullable=False),
        sa.Column("comparison_id", sa.Integer, sa.ForeignKey("comparison.id", ondelete="CASCADE"), nullable=False),
        sa.Column("tool_id", sa.Integer, sa.ForeignKey("tool.id"), nullable=False),
        sa.Column("voted_at", sa.DateTime, nullable=False),
        sa.Column("changed_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("subscriber_id", "comparison_id", name="uq_vote_reader"),
    )
    op.create_index("ix_vote_comparison_tool", "vote", ["comparison_id", "tool_id"])


def downgrade() -> None:
    op.drop_table("vote")
    op.drop_table("event")
