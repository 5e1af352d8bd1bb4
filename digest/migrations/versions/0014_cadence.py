"""A reader's cadence (weekly, fortnightly, monthly) and the day it counts from.

Revision ID: 0014_cadence
Revises: 0013_prune
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_cadence"
down_revision = "0013_prune"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriber") as batch:
        batch.add_column(sa.Column("cadence", sa.String(12), nullable=False, server_default="weekly"))
        batch.add_column(sa.Column("cadence_since", sa.Date, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriber") as batch:
        batch.drop_column("cadence_since")
        batch.drop_column("cadence")
