"""A comparison's own language, where its import gave one (issue 24).

Revision ID: 0015_lang
Revises: 0014_cadence
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_lang"
down_revision = "0014_cadence"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("comparison") as batch:
        batch.add_column(sa.Column("lang", sa.String(35), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("comparison") as batch:
        batch.drop_column("lang")
