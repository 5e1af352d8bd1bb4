"""A reader's whole life: an index for the readers who joined or moved since a moment (late readers);
the welcome owed to a reader who confirmed, and the process sending it; a reader's last engagement
and when a re-permission mail asked them whether to keep sending.

Revision ID: 0010_readers
Revises: 0009_verdicts
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_readers"
down_revision = "0009_verdicts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_subscriber_status_updated_at", "subscriber", ["status", "updated_at"])
    with op.batch_alter_table("subscriber") as batch:
        batch.add_column(sa.Column("welcome_due_at", sa.DateTime, nullable=True))
        batch.add_column(sa.Column("welcome_claim", sa.String(40), nullable=True))
        batch.add_column(sa.Column("engaged_at", sa.DateTime, nullable=True))
        batch.add_column(sa.Column("sunset_asked_at", sa.DateTime, nullable=True))
    op.create_index(
        "ix_subscriber_welcome_due",
        "subscriber",
        ["id"],
        sqlite_where=sa.text("welcome_due_at IS NOT NULL"),
        postgresql_where=sa.text("welcome_due_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_subscriber_welcome_due", table_name="subscriber")
    with op.batch_alter_table("subscriber") as batch:
        batch.drop_column("sunset_asked_at")
        batch.drop_column("engaged_at")
        batch.drop_column("welcome_claim")
        batch.drop_column("welcome_due_at")
    op.drop_index("ix_subscriber_status_updated_at", table_name="subscriber")
