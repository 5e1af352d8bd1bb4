"""The ledger without a foreign key to the reader; a trigger deletes an erased reader's rows instead.

On PostgreSQL the key's check cost a claim row more than everything else together: it locks the
reader's row (FOR KEY SHARE), which writes that row's header and a WAL record per reader. Claiming
200,000 readers in chunks of 4,000 ran at 10,100 rows/s with it and 41,300 without (INSERT ...
unnest); by COPY, 12,600 against 62,300 (tests/bench/README.md, bench_send).

What the key did, the trigger `delivery_of_erased_reader` does: deleting a reader deletes their
ledger rows. It cannot race a claim into a row for a reader who is gone (PostgreSQL; SQLite has
one writer at a time): the trigger takes the ledger in SHARE mode before its DELETE, and a claim
holds ROW EXCLUSIVE on the ledger from its first write until it commits, then checks, in a later
statement (a snapshot taken after its lock), that every reader it wrote still exists. The two
locks conflict, so either the claim committed before the erasure's lock (the erasure's DELETE,
run after it, sees the claim's rows and deletes them) or the erasure committed before the claim's
lock (the claim's check sees the reader gone and the claim does not keep their row); see
digest.delivery.ledger.claim_ahead.

On SQLite the table is rebuilt without the key (digest.store runs migrations with foreign keys off
and checks them before committing).

Revision ID: 0017_sendspeed
Revises: 0016_ledger
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_sendspeed"
down_revision = "0016_ledger"
branch_labels = None
depends_on = None

TRIGGER = "delivery_of_erased_reader"

_PG_FUNCTION = f"""
CREATE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE delivery IN SHARE MODE;
    DELETE FROM delivery WHERE subscriber_id = OLD.id;
    RETURN OLD;
END $$
"""
_PG_TRIGGER = f"CREATE TRIGGER {TRIGGER} AFTER DELETE ON subscriber FOR EACH ROW EXECUTE FUNCTION {TRIGGER}()"
_SQLITE_TRIGGER = (
    f"CREATE TRIGGER {TRIGGER} AFTER DELETE ON subscriber BEGIN DELETE FROM delivery WHERE subscriber_id = OLD.id; END"
)


def _delivery(with_key: bool) -> sa.Table:
    """The delivery table before (`with_key`) or after this migration: SQLite's rebuild copies from it."""
    reader = [sa.ForeignKey("subscriber.id", ondelete="CASCADE")] if with_key else []
    return sa.Table(
        "delivery",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("edition_id", sa.Integer, nullable=False),
        sa.Column("subscriber_id", sa.Integer, *reader, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("provider_message_id", sa.String(200), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("claimed_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime, nullable=True),
        sa.Column("variant_id", sa.Integer, nullable=True),
        sa.UniqueConstraint("edition_id", "subscriber_id", name="uq_delivery_reader"),
        sa.Index("ix_delivery_subscriber_id", "subscriber_id"),
        sa.Index("ix_delivery_claimed", "edition_id", "request_id", sqlite_where=sa.text("state = 'claimed'")),
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("delivery", recreate="always", copy_from=_delivery(False)):
            pass
        op.execute(_SQLITE_TRIGGER)
        return
    op.drop_constraint("delivery_subscriber_id_fkey", "delivery", type_="foreignkey")
    op.execute(_PG_FUNCTION)
    op.execute(_PG_TRIGGER)


def downgrade() -> None:
    op.execute(
        f"DROP TRIGGER IF EXISTS {TRIGGER}" + ("" if op.get_bind().dialect.name == "sqlite" else " ON subscriber")
    )
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("delivery", recreate="always", copy_from=_delivery(True)):
            pass
        return
    op.execute(f"DROP FUNCTION IF EXISTS {TRIGGER}()")
    op.create_foreign_key(
        "delivery_subscriber_id_fkey", "delivery", "subscriber", ["subscriber_id"], ["id"], ondelete="CASCADE"
    )
