"""The hand-written migrations build exactly the schema the SQLModel tables describe."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, UniqueConstraint, inspect

from storage import Store, alembic_config, head_revision
from storage.tables import metadata


def test_empty_database_has_no_revision(db_url: str) -> None:
    store = Store(db_url)
    try:
        assert store.current_revision() is None
    finally:
        store.close()


def test_upgrade_creates_every_table(store: Store) -> None:
    tables = set(inspect(store.engine).get_table_names())
    assert set(metadata.tables) <= tables
    assert tables - set(metadata.tables) == {"alembic_version"}


def test_current_revision_is_head(store: Store) -> None:
    assert store.current_revision() == head_revision() == "0011"


def test_upgrade_twice_is_harmless(store: Store) -> None:
    store.upgrade()
    assert store.current_revision() == head_revision()


def test_migrated_schema_matches_the_models(store: Store) -> None:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_constraint_and_index_names_match_the_models(store: Store) -> None:
    # compare_metadata ignores names and CHECK constraints; later migrations need both right.
    inspector = inspect(store.engine)
    for table in metadata.sorted_tables:
        indexes = {i["name"] for i in inspector.get_indexes(table.name)
                   if "duplicates_constraint" not in i}  # PostgreSQL's index behind a UNIQUE
        assert indexes == {index.name for index in table.indexes}
        uniques = {u["name"] for u in inspector.get_unique_constraints(table.name)}
        assert uniques == {c.name for c in table.constraints if isinstance(c, UniqueConstraint)}
        checks = {c["name"] for c in inspector.get_check_constraints(table.name)}
        assert checks == {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
        foreign_keys = {f["name"] for f in inspector.get_foreign_keys(table.name)}
        assert foreign_keys == {c.name for c in table.foreign_key_constraints}


def test_downgrade_to_base_removes_every_table(store: Store) -> None:
    config = alembic_config()
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(store.engine).get_table_names()) <= {"alembic_version"}
    assert store.current_revision() is None
