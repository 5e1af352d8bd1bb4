"""The ledger's claims ahead: one row written per reader, a request row for the flight; and no
foreign-key check for the edition or the variant.

A request claimed ahead writes its readers' rows `sent` before it leaves and a `delivery_request`
row saying it is in flight; when the provider takes it, that one row lands (its message id and
time), where each reader's `claimed` row was updated to `sent` (see digest.delivery.ledger).

A claim row cost about 21 µs on PostgreSQL, and over half of that was its three foreign-key
checks (EXPLAIN ANALYZE of one claim of 4,000 readers: 14 ms for the edition, 20 ms for the reader,
17 ms for the variant, of 92 ms). Two of them check what the claim statement itself decides:
every row of a claim names the one edition the send is for and a variant the send just wrote for
that edition, and neither is ever deleted once a reader has a row (only a draft edition is
deleted, and a draft has no ledger rows; variants are never deleted). So they go. The reader's
key stays: erasing a reader deletes their rows (ON DELETE CASCADE), and the check locks the
reader's row against an erasure racing the claim.

On SQLite the table is rebuilt without them (digest.store runs migrations with foreign keys off
and checks them before committing).

Revision ID: 0016_ledger
Revises: 0015_lang
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_ledger"
down_revision = "0015_lang"
branch_labels = None
depends_on = None


def _delivery(with_keys: bool) -> sa.Table:
    """The delivery table before (`with_keys`) or after this migration: SQLite's rebuild copies from it."""
    return sa.Table(
        "delivery",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("edition_id", sa.Integer, *([sa.ForeignKey("edition.id")] if with_keys else []), nullable=False),
        sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscriber.id", ondelete="CASCADE"), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("provider_message_id", sa.String(200), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("claimed_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime, nullable=True),
        sa.Column(
            "variant_id",
            sa.Integer,
            *([sa.ForeignKey("edition_variant.id", name="fk_delivery_variant_id")] if with_keys else []),
            nullable=True,
        ),
        sa.UniqueConstraint("edition_id", "subscriber_id", name="uq_delivery_reader"),
        sa.Index("ix_delivery_subscriber_id", "subscriber_id"),
        sa.Index("ix_delivery_claimed", "edition_id", "request_id", sqlite_where=sa.text("state = 'claimed'")),
    )


def _change(with_keys: bool) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # The rebuilt table is the copy's shape: the one given, with or without the two keys.
        with op.batch_alter_table("delivery", recreate="always", copy_from=_delivery(with_keys)):
            pass
        return
    if with_keys:
        op.create_foreign_key("delivery_edition_id_fkey", "delivery", "edition", ["edition_id"], ["id"])
        op.create_foreign_key("fk_delivery_variant_id", "delivery", "edition_variant", ["variant_id"], ["id"])
    else:
        op.drop_constraint("delivery_edition_id_fkey", "delivery", type_="foreignkey")
        op.drop_constraint("fk_delivery_variant_id", "delivery", type_="foreignkey")


def upgrade() -> None:
    _change(False)
    op.create_table(
        "delivery_request",
        sa.Column("edition_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("readers", sa.Text, nullable=False),
        sa.Column("claimed_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime, nullable=True),
        sa.Column("message_id", sa.String(200), nullable=True),
    )


def downgrade() -> None:
    # The message ids of requests that landed go back to their readers' rows, as before.
    op.execute(
        "UPDATE delivery SET provider_message_id = (SELECT message_id FROM delivery_request AS r "
        "WHERE r.edition_id = delivery.edition_id AND r.request_id = delivery.request_id) "
        "WHERE provider_message_id IS NULL AND EXISTS (SELECT 1 FROM delivery_request AS r "
        "WHERE r.edition_id = delivery.edition_id AND r.request_id = delivery.request_id)"
    )
    op.drop_table("delivery_request")
    _change(True)
