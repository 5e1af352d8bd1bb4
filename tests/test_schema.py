"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from digest.store import SCHEMA_HEAD, current_revisions, head_revisions, open_store, stored_revisions, upgrade
from digest.tables import metadata


def test_migrations_match_the_models(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_a_fresh_database_is_migrated_on_first_use(empty_db_url):
    engine = open_store(empty_db_url)
    assert stored_revisions(engine) == {SCHEMA_HEAD}
    assert current_revisions(engine) == head_revisions()
    upgrade(engine)  # a second upgrade is a no-op, not an error
    assert current_revisions(engine) == head_revisions()
    engine.dispose()


def test_the_schema_head_constant_is_the_newest_migration(empty_db_url):
    assert head_revisions() == {SCHEMA_HEAD}
    engine = open_store(empty_db_url)
    assert stored_revisions(engine) == current_revisions(engine) == {SCHEMA_HEAD}
    engine.dispose()
