"""The verdict loop: each comparison's versions (what each import said), and each edition's comparisons
as mailed (frozen with the edition).

Revision ID: 0009_verdicts
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_verdicts"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "comparison_version",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("comparison_id", sa.Integer, sa.ForeignKey("comparison.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        sa.Column("snapshot", sa.Text, nullable=False),
        sa.UniqueConstraint("comparison_id", "number", name="uq_comparison_version"),
    )
    op.create_index("ix_comparison_version_comparison_id", "comparison_version", ["comparison_id"])
    op.create_table(
        "frozen_comparison",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("edition_id", sa.Integer, sa.ForeignKey("edition.id", ondelete="CASCADE"), nullable=False),
        sa.Column("comparison_id", sa.Integer, sa.ForeignKey("comparison.id", ondelete="CASCADE"), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("facts", sa.Text, nullable=False),
        sa.UniqueConstraint("edition_id", "comparison_id", "role", name="uq_frozen_comparison"),
    )
    op.create_index("ix_frozen_comparison_edition_id", "frozen_comparison", ["edition_id"])
    op.create_index("ix_frozen_comparison_comparison_id", "frozen_comparison", ["comparison_id"])


def downgrade() -> None:
    op.drop_table("frozen_comparison")
    op.drop_table("comparison_version")
