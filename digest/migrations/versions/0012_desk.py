"""The editor's desk: editor accounts and the audit log of who did what.

Revision ID: 0012_desk
Revises: 0011_erasure
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_desk"
down_revision = "0011_erasure"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "editor",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("edition", sa.Integer, nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_entry_edition_id", "audit_entry", ["edition", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_entry_edition_id", table_name="audit_entry")
    op.drop_table("audit_entry")
    op.drop_table("editor")
