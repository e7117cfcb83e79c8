"""Issue 12's workspace target: scrub 10,000 stored claims as one batch, end to end (load from the database, check,
store the scrub runs, findings, states and audit events), on SQLite and on PostgreSQL; claims/s printed.

The claims are `synthetic.generate` 3-line claims (seed 2026, about 30% with one planted fault), imported through
`store.claims.import_encounters` (not timed). The timed call is `store.claims.scrub_claims` over all of them plus
the commit. To show where the time goes, the same batch's phases are then timed one by one: loading the versions
and lines, building the rule tables from the rows (`tables_from_stored`), the engine's rules on them (`check_tables`),
and (by
difference) storing.

    .venv/bin/python bench/workspace_scrub.py [--claims 10000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).parent))

import synthetic

from cleanclaim.model import Encounter
from cleanclaim.payers import profile_for
from cleanclaim.rules.tables import tables_from_stored
from cleanclaim.scrub import check_tables
from cleanclaim.store import models as m
from cleanclaim.store.claims import (
    Actor,
    _keys,
    _load_current,
    _load_lines,
    import_encounters,
    scrub_claims,
)
from cleanclaim.store.database import make_engine, migrate, session_factory
from cleanclaim.store.tenant import Tenant

AS_OF = dt.date(2026, 9, 30)


def _measure(url: str, encounters: list[Encounter], label: str) -> None:
    migrate(url)
    engine = make_engine(url)
    factory = session_factory(engine)
    with factory() as session:
        organisation = m.Organisation(name=f"bench-{uuid.uuid4().hex[:8]}")
        session.add(organisation)
        session.flush()
        user = m.User(organisation_id=organisation.id, email=f"{uuid.uuid4().hex[:8]}@bench.test",
                      password_hash="x", role="biller")
        session.add(user)
        session.commit()
        actor, organisation_id = Actor.of(user), organisation.id
        started = time.perf_counter()
        imported = import_encounters(Tenant(session, organisation_id), actor, encounters)
        session.commit()
        print(f"{label}: imported {len(imported):,} claims in {time.perf_counter() - started:.1f} s (not timed below)")
    ids = [item.claim_id for item in imported]
    for attempt in (1, 2):
        with factory() as session:
            started = time.perf_counter()
            outcome = scrub_claims(Tenant(session, organisation_id), actor, ids, as_of=AS_OF)
            session.commit()
            seconds = time.perf_counter() - started
        errors = sum(c["error"] for c in outcome.counts.values())
        print(f"{label}: scrub #{attempt} of {len(ids):,} stored claims end to end: {seconds:.2f} s, "
              f"{len(ids) / seconds:,.0f} claims/s ({outcome.findings:,} findings, {errors:,} errors stored)")
    with factory() as session:
        tenant = Tenant(session, organisation_id)
        started = time.perf_counter()
        loaded = _load_current(tenant, ids)
        lines = _load_lines(tenant, [row.version_id for row in loaded])
        queried = time.perf_counter() - started
        started = time.perf_counter()
        keys = _keys(loaded)
        payers = {p: profile_for(p) for p in {row.data["payer"] for row in loaded}}
        tables = tables_from_stored(((key, row.data, lines[row.version_id])
                                     for row, key in zip(loaded, keys, strict=True)), payers, as_of=AS_OF)
        built = time.perf_counter() - started
        started = time.perf_counter()
        check_tables(tables)
        checked = time.perf_counter() - started
    print(f"{label}: phases: load versions+lines {queried:.2f} s, build the rule tables {built:.2f} s, "
          f"engine rules {checked:.2f} s; storing runs/findings/states/audit is the rest of the end-to-end time")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--lines", type=int, default=3)
    args = parser.parse_args()
    encounters = [Encounter.model_validate(synthetic.to_encounter_dict(claim))
                  for claim in synthetic.generate(args.claims, args.lines, seed=2026)]
    with tempfile.TemporaryDirectory() as folder:
        _measure(f"sqlite:///{Path(folder) / 'bench.db'}", encounters, "SQLite")
    admin = make_url(args.postgres)
    name = f"cleanclaim_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=admin.host, port=admin.port or 5432, user=admin.username, dbname=admin.database,
                         autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        _measure(admin.set(database=name).render_as_string(hide_password=False), encounters, "PostgreSQL")
    finally:
        with psycopg.connect(host=admin.host, port=admin.port or 5432, user=admin.username, dbname=admin.database,
                             autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
