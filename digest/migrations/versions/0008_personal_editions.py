"""Personal editions: variants per edition, the variant each reader was due, when an edition froze,
an index for walking one time zone's readers, and one over the ledger's rows in flight.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("edition") as batch:
        batch.add_column(sa.Column("frozen_at", sa.DateTime, nullable=True))
    # An edition that has begun to go out is frozen already.
    op.execute("UPDATE edition SET frozen_at = built_at WHERE status <> 'draft'")
    op.create_table(
        "edition_variant",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("edition_id", sa.Integer, sa.ForeignKey("edition.id", ondelete="CASCADE"), nullable=False),
        sa.Column("comparisons", sa.Text, nullable=False),
        sa.UniqueConstraint("edition_id", "comparisons", name="uq_edition_variant"),
    )
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("variant_id", sa.Integer, nullable=True))
        batch.create_foreign_key("fk_delivery_variant_id", "edition_variant", ["variant_id"], ["id"])
    op.create_index("ix_subscriber_status_timezone_id", "subscriber", ["status", "timezone", "id"])
    op.create_index(
        "ix_delivery_claimed",
        "delivery",
        ["edition_id", "request_id"],
        sqlite_where=sa.text("state = 'claimed'"),
        postgresql_where=sa.text("state = 'claimed'"),
    )


def downgrade() -> None:
    op.drop_index("ix_delivery_claimed", table_name="delivery")
    op.drop_index("ix_subscriber_status_timezone_id", table_name="subscriber")
    with op.batch_alter_table("delivery") as batch:
        batch.drop_constraint("fk_delivery_variant_id", type_="foreignkey")
        batch.drop_column("variant_id")
    op.drop_table("edition_variant")
    with op.batch_alter_table("edition") as batch:
        batch.drop_column("frozen_at")
