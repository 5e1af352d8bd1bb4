"""A reader's whole life: an index for the readers who joined or moved since a moment (late readers).

Revision ID: 0009_readers
Revises: 0008
"""

from alembic import op

revision = "0009_readers"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_subscriber_status_updated_at", "subscriber", ["status", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_subscriber_status_updated_at", table_name="subscriber")
