"""The migrations build exactly what the models describe, on both databases, in both directions."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from sqlalchemy.engine import URL

from cleanclaim.store.database import alembic_config, current_revision, downgrade, make_engine, migrate
from cleanclaim.store.models import Base

EXPECTED_TABLES = {table.name for table in Base.metadata.sorted_tables}


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def _head(engine: Engine) -> str:
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    assert head is not None
    return head


def test_upgrade_from_empty_down_to_base_and_up_again(empty_url: URL) -> None:
    engine = make_engine(empty_url)
    try:
        assert current_revision(engine) is None
        assert _tables(engine) == set()

        migrate(empty_url)
        assert current_revision(engine) == _head(engine)
        assert _tables(engine) == EXPECTED_TABLES

        migrate(empty_url)  # idempotent: already at head, nothing changes
        assert current_revision(engine) == _head(engine)

        downgrade(empty_url)
        assert current_revision(engine) is None
        assert _tables(engine) == set()

        migrate(empty_url)
        assert current_revision(engine) == _head(engine)
        assert _tables(engine) == EXPECTED_TABLES
    finally:
        engine.dispose()


def test_models_match_head(engine: Engine) -> None:
    """Autogenerate finds nothing to add: a model change without a migration fails here."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_the_comparison_would_see_a_missing_migration(engine: Engine) -> None:
    """The previous test can fail: a column the migrations never created is reported."""
    from sqlalchemy import Column, MetaData, String, Table

    extra = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(extra)
    Table("organisations", extra, Column("nickname", String(20)), extend_existing=True)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), extra)
    assert [(op[0], op[2], op[3].name) for op in diff if op[0] == "add_column"] == [
        ("add_column", "organisations", "nickname")
    ]
