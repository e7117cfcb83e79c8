"""The migrations build exactly what the models describe, on both databases, in both directions."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, insert, inspect, text
from sqlalchemy.engine import URL, make_url

from cleanclaim.store import models as m
from cleanclaim.store.database import alembic_config, current_revision, downgrade, make_engine, migrate
from cleanclaim.store.models import PCN_TRIGRAM_INDEX, Base, declared_in_models
from tests.store.conftest import POSTGRES_URL

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
        context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                               "include_object": declared_in_models})
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


def test_0005_points_each_existing_version_at_its_latest_scrub(empty_url: URL) -> None:
    """Versions scrubbed before the pointer existed get their highest run; a version never scrubbed gets none. On
    PostgreSQL the claim-number trigram index is made (pg_trgm is available on the test server); down again, the
    column and the index are gone."""
    migrate(empty_url, "0004")
    engine = make_engine(empty_url)
    now = datetime(2026, 4, 1, tzinfo=UTC)
    try:
        with engine.begin() as connection:
            def add(model: type[m.Base], **values: object) -> None:
                connection.execute(insert(model.__table__).values(**values))  # type: ignore[attr-defined]

            add(m.Organisation, id=1, name="Harbor PT", created_at=now)
            add(m.Patient, id=1, organisation_id=1, patient_ref="P1")
            add(m.Provider, id=1, organisation_id=1, npi="1234567893", discipline="PT")
            for number in (1, 2):
                add(m.EncounterRecord, id=number, organisation_id=1, encounter_ref=f"E{number}",
                    date_of_service=date(2026, 3, 2), patient_id=1, provider_id=1, data={}, created_at=now)
                add(m.Claim, id=number, organisation_id=1, encounter_id=number, created_at=now)
                add(m.ClaimVersion, id=number, organisation_id=1, claim_id=number, version=1, is_current=True,
                    frequency_code="1", patient_control_number=f"CLM-{number}", state="scrubbed",
                    total_charge=Decimal("90.00"), created_at=now, state_changed_at=now)
            for run, version in ((1, 1), (2, 1), (3, 1)):
                add(m.ScrubRun, id=run, organisation_id=1, claim_version_id=version, as_of=date(2026, 4, 1),
                    ran_at=now)
        migrate(empty_url)
        with engine.connect() as connection:
            pointers = dict(connection.execute(text("SELECT id, latest_scrub_run_id FROM claim_versions")).all())
        assert pointers == {1: 3, 2: None}
        indexes = {index["name"] for index in inspect(engine).get_indexes("claim_versions")}
        assert "ix_claim_versions_latest_scrub_run_id" in indexes
        assert (PCN_TRIGRAM_INDEX in indexes) == (engine.dialect.name == "postgresql")
        downgrade(empty_url, "0004")
        columns = {column["name"] for column in inspect(engine).get_columns("claim_versions")}
        assert "latest_scrub_run_id" not in columns
        assert PCN_TRIGRAM_INDEX not in {index["name"] for index in inspect(engine).get_indexes("claim_versions")}
    finally:
        engine.dispose()


def test_without_pg_trgm_the_migration_still_upgrades_and_says_why() -> None:
    """A server that refuses CREATE EXTENSION (here: a role without CREATE on its database, as on a managed
    server): head is still reached, without the trigram index, with a warning that names the fix; the search works."""
    server = make_url(POSTGRES_URL)
    name = f"cleanclaim_test_{uuid.uuid4().hex[:16]}"
    role = f"cleanclaim_role_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(host=server.host, port=server.port or 5432, user=server.username,
                            dbname=server.database, autocommit=True)
    try:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        admin.execute(f'CREATE DATABASE "{name}"')
        with psycopg.connect(host=server.host, port=server.port or 5432, user=server.username, dbname=name,
                             autocommit=True) as owner:
            owner.execute(f'GRANT CREATE, USAGE ON SCHEMA public TO "{role}"')
            assert owner.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'").fetchone() == (0,)
        url = server.set(database=name, username=role)
        with pytest.warns(UserWarning, match="pg_trgm extension could not be installed.*CREATE EXTENSION pg_trgm"):
            migrate(url)
        engine = make_engine(url)
        try:
            assert current_revision(engine) == _head(engine)
            assert PCN_TRIGRAM_INDEX not in {index["name"] for index in inspect(engine).get_indexes("claim_versions")}
            with engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                                       "include_object": declared_in_models})
                assert compare_metadata(context, Base.metadata) == []
        finally:
            engine.dispose()
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        admin.close()
