"""Fixtures that run every store test on both databases the workspace supports: a SQLite file and PostgreSQL.

PostgreSQL is the server at 127.0.0.1:5432 (trust auth) that `.ci/run` checks; each test session creates its own
databases on it (random names) and drops them after, so parallel runs never share state. Nothing is mocked.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from cleanclaim.store import models as m
from cleanclaim.store.database import make_engine, migrate, session_factory

POSTGRES_URL = os.environ.get("CLEANCLAIM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")


def _admin_connection() -> psycopg.Connection[Any]:
    url = make_url(POSTGRES_URL)
    try:
        return psycopg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            dbname=url.database,
            autocommit=True,
            connect_timeout=5,
        )
    except psycopg.OperationalError as error:
        pytest.fail(
            f"PostgreSQL is not reachable at {url.host}:{url.port} (set CLEANCLAIM_TEST_POSTGRES_URL): {error}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[Callable[[], URL]]:
    """Makes fresh, empty PostgreSQL databases for this test session; drops all of them at the end.

    Each has ``synchronous_commit`` off: a commit returns before its WAL reaches the disk (12-18 ms per commit on this
    machine with it on, 2-3 ms off), and the web and store tests commit thousands of times. Only durability after a
    server crash differs; what a transaction sees, locks and refuses is the same, and no test crashes the server."""
    created: list[str] = []

    def create() -> URL:
        name = f"cleanclaim_test_{uuid.uuid4().hex[:16]}"
        with _admin_connection() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
            connection.execute(f'ALTER DATABASE "{name}" SET synchronous_commit TO off')
        created.append(name)
        return make_url(POSTGRES_URL).set(database=name)

    yield create
    if created:
        with _admin_connection() as connection:
            for name in created:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path, postgres_databases: Callable[[], URL]) -> URL:
    """A new, empty database of each backend, for tests that migrate it themselves."""
    if request.param == "sqlite":
        return make_url(f"sqlite:///{tmp_path / 'store.db'}")
    return postgres_databases()


@pytest.fixture(scope="session", params=BACKENDS)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, postgres_databases: Callable[[], URL]
) -> Iterator[Engine]:
    """One migrated database per backend for the session; tests stay apart by creating their own organisations."""
    if request.param == "sqlite":
        url = make_url(f"sqlite:///{tmp_path_factory.mktemp('store') / 'store.db'}")
    else:
        url = postgres_databases()
    migrate(url)
    built = make_engine(url)
    yield built
    built.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as opened:
        yield opened
        opened.rollback()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Graph:
    """An organisation with one of everything a claim needs, made through the ORM as the web layer will."""

    def __init__(self, session: Session, pcn: str = "CLM-0001") -> None:
        self.organisation = m.Organisation(name=unique("Harbor PT"))
        session.add(self.organisation)
        session.flush()
        oid = self.organisation.id
        self.user = m.User(
            organisation_id=oid, email=f"{unique('biller')}@example.test", password_hash="x", role="biller"
        )
        self.patient = m.Patient(organisation_id=oid, patient_ref="P1", birth_date=date(1950, 1, 1), sex="F")
        self.provider = m.Provider(organisation_id=oid, npi="1234567893", discipline="PT")
        self.payer = m.Payer(organisation_id=oid, profile_id="medicare", name="Medicare", payer_id="12345")
        session.add_all([self.user, self.patient, self.provider, self.payer])
        session.flush()
        self.encounter = m.EncounterRecord(
            organisation_id=oid,
            encounter_ref="E1",
            date_of_service=date(2026, 3, 2),
            patient_id=self.patient.id,
            provider_id=self.provider.id,
            payer_id=self.payer.id,
            data={"id": "E1", "date": "2026-03-02"},
        )
        session.add(self.encounter)
        session.flush()
        self.claim = m.Claim(organisation_id=oid, encounter_id=self.encounter.id)
        session.add(self.claim)
        session.flush()
        self.version = version(session, self.claim, pcn)

    @property
    def id(self) -> int:
        return self.organisation.id


def version(
    session: Session, claim: m.Claim, pcn: str, number: int = 1, frequency: str = "1", *, current: bool = True
) -> m.ClaimVersion:
    row = m.ClaimVersion(
        organisation_id=claim.organisation_id,
        claim_id=claim.id,
        version=number,
        is_current=current,
        frequency_code=frequency,
        patient_control_number=pcn,
        state="draft",
        total_charge=Decimal("90.00"),
    )
    session.add(row)
    session.flush()
    return row
