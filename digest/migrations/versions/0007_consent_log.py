"""The consent log, and the confirmation-mail queue's claim and refusal.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriber") as table:
        table.add_column(sa.Column("confirmation_claim", sa.String(40), nullable=True))
        table.add_column(sa.Column("confirmation_error", sa.String(500), nullable=True))
    op.create_table(
        "consent_event",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscriber.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("ip", sa.String(64), nullable=True),
    )
    op.create_index("ix_consent_event_subscriber_id", "consent_event", ["subscriber_id"])
    # What the readers already stored said about how they joined, and left, is the log's first lines.
    op.execute(
        "INSERT INTO consent_event (subscriber_id, at, kind, status, source, ip) "
        "SELECT id, consent_at, 'opt-in', status, COALESCE(consent_source, 'unknown'), consent_ip "
        "FROM subscriber WHERE consent_at IS NOT NULL"
    )
    op.execute(
        "INSERT INTO consent_event (subscriber_id, at, kind, status, source, ip) "
        "SELECT id, confirmed_at, 'confirmation', status, 'confirmation link', confirmed_ip "
        "FROM subscriber WHERE confirmed_at IS NOT NULL"
    )
    op.execute(
        "INSERT INTO consent_event (subscriber_id, at, kind, status, source, ip) "
        "SELECT id, COALESCE(unsubscribed_at, updated_at), 'opt-out', status, 'recorded before the consent log', "
        "NULL FROM subscriber WHERE status IN ('unsubscribed', 'bounced', 'complained')"
    )


def downgrade() -> None:
    op.drop_table("consent_event")
    with op.batch_alter_table("subscriber") as table:
        table.drop_column("confirmation_error")
        table.drop_column("confirmation_claim")
