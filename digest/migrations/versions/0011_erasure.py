"""Reader ids are never handed out twice: the subscriber table AUTOINCREMENT on SQLite.

Without it SQLite gives a new row the highest id in use plus one, so the id of the reader
erased last came back for the next one, and an event SendGrid sent about the erased reader
(custom arg reader_id) could count toward the new one. PostgreSQL's sequences never hand an id
out twice: nothing to do there. The table is rebuilt (digest.store runs migrations with foreign
keys off, as SQLite's procedure asks, and checks them before committing).

Revision ID: 0011_erasure
Revises: 0010_readers
"""

from alembic import op

revision = "0011_erasure"
down_revision = "0010_readers"
branch_labels = None
depends_on = None


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("subscriber", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}):
        pass


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
