"""What is kept of a pruned edition: its figures per edition and per variant (`digest db prune`).

Revision ID: 0013_prune
Revises: 0012_desk
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_prune"
down_revision = "0012_desk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "edition_summary",
        sa.Column("edition_id", sa.Integer, sa.ForeignKey("edition.id"), primary_key=True),
        sa.Column("variant", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("figures", sa.JSON, nullable=False),
        sa.Column("pruned_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("edition_summary")
