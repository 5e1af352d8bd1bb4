"""PLACEHOLDER for 0007 (the consent log, on the issue-12 branch): drop this file when merging.

Revision ID: 0007
Revises: 0006
"""

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
