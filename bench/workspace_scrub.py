"""Issue 12's workspace target: scrub 10,000 stored claims as one batch, end to end (load from the database, check,
store the scrub runs, findings, states and audit events), on SQLite and on PostgreSQL; claims/s printed.

The claims are `synthetic.generate` 3-line claims (seed 2026, about 30% with one planted fault), imported through
`store.claims.import_encounters` (not timed). The timed call is `store.claims.scrub_claims` over all of them plus
the commit, three times; then once more as the web's and the API's scrub job runs it (`store.jobs.start_scrub_job`:
steps of `SCRUB_STEP` claims, each its own engine run and transaction, two side by side, with the job's progress
rows). To show where the time goes, the same batch's phases are then timed one by one, as `scrub_claims` runs
them: loading the versions and lines (`_load_current_text`, `_line_frame`), building the rule tables from them
(`tables_from_stored`), the engine's rules (`check_tables`; then again without `missing-kx`, to show its share),
storing the runs and states (`_mark_scrubbed`: in a scrub it runs on a second thread while the rules run) and the
findings and audit events (`_store_findings`, with the commit). Each figure is wall time and this process's CPU time
(all its threads): on a shared machine the wall time moves with the other work, the CPU time much less. On
PostgreSQL the end-to-end scrubs also print the CPU time of the session's server process (read from /proc when the
server runs on this machine), which the process's own CPU time leaves out.

    .venv/bin/python bench/workspace_scrub.py [--claims 10000] [--postgres URL] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

import polars as pl
import psycopg
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).parent))

import synthetic

from cleanclaim.model import Encounter
from cleanclaim.payers import profile_for
from cleanclaim.rules.engine import RuleSelection
from cleanclaim.rules.tables import tables_from_stored
from cleanclaim.scrub import check_tables
from cleanclaim.store import models as m
from cleanclaim.store.claims import (
    OVERLAP_FROM,
    Actor,
    _keys,
    _line_frame,
    _load_current_text,
    _mark_scrubbed,
    _store_findings,
    import_encounters,
    scrub_claims,
)
from cleanclaim.store.database import make_engine, migrate, session_factory
from cleanclaim.store.jobs import SCRUB_STEP, job_status, start_scrub_job
from cleanclaim.store.tenant import Tenant
from cleanclaim.store.types import utcnow

AS_OF = dt.date(2026, 9, 30)


class _Clock:
    """Wall and process CPU time (every thread of the process) since the last lap: on a machine shared with other
    work the wall time moves with their load, the CPU time much less."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        lap = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return lap


class _ServerClock:
    """On PostgreSQL, the CPU time of the session's server process (``pg_backend_pid``, read from /proc: only when
    the server runs on this machine), which the process's own CPU time does not include; nothing on SQLite."""

    def __init__(self, session: Session) -> None:
        connection = session.connection()
        pid = (connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
               if connection.dialect.name == "postgresql" else None)
        self.stat = Path(f"/proc/{pid}/stat") if pid is not None and Path(f"/proc/{pid}/stat").exists() else None
        self.start = self._cpu()

    def _cpu(self) -> float:
        if self.stat is None:
            return 0.0
        fields = self.stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def lap(self) -> str:
        """``, server CPU n s`` since the start, or nothing when it cannot be read."""
        return "" if self.stat is None else f", server CPU {self._cpu() - self.start:.2f} s"


def _pair(lap: tuple[float, float]) -> str:
    return f"{lap[0]:.2f} / {lap[1]:.2f} s"


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
    for attempt in (1, 2, 3):
        with factory() as session:
            server = _ServerClock(session)
            clock = _Clock()
            outcome = scrub_claims(Tenant(session, organisation_id), actor, ids, as_of=AS_OF)
            session.commit()
            seconds, cpu = clock.lap()
            served = server.lap()
        errors = sum(c["error"] for c in outcome.counts.values())
        print(f"{label}: scrub #{attempt} of {len(ids):,} stored claims end to end: {seconds:.2f} s "
              f"(CPU {cpu:.2f} s{served}), {len(ids) / seconds:,.0f} claims/s ({outcome.findings:,} findings, "
              f"{errors:,} errors stored)")
    clock = _Clock()
    job_id = start_scrub_job(factory, organisation_id, actor, ids, wait=True)
    seconds, cpu = clock.lap()
    with factory() as session:
        job = job_status(Tenant(session, organisation_id), job_id)
        state, steps = job.state, len((job.result or {}).get("steps", []))
    print(f"{label}: the same claims as the web's scrub job (start_scrub_job, {steps} steps of {SCRUB_STEP:,}, "
          f"as of today): {seconds:.2f} s (CPU {cpu:.2f} s), {len(ids) / seconds:,.0f} claims/s, job {state}")
    with factory() as session:
        tenant = Tenant(session, organisation_id)
        clock = _Clock()
        loaded = _load_current_text(tenant, ids)
        keys = _keys(loaded)
        lines = _line_frame(tenant, loaded, keys)
        queried = clock.lap()
        encounters = pl.DataFrame({"encounter_id": keys, "data": [row.data for row in loaded]})
        tables = tables_from_stored(encounters, lines, profile_for, as_of=AS_OF)
        built = clock.lap()
        table, _ = check_tables(tables)
        checked = clock.lap()
        check_tables(replace(tables, _memo={}), RuleSelection(ignore=frozenset({"missing-kx"})))
        without_kx = clock.lap()
        with session.begin_nested():
            ran_at = utcnow()
            runs = _mark_scrubbed(session.connection(), organisation_id, actor, loaded, AS_OF, ran_at)
            marked = clock.lap()
            _store_findings(tenant, actor, loaded, keys, table, AS_OF, runs, ran_at)
        session.commit()
        stored = clock.lap()
    print(f"{label}: phases (wall / CPU of this process, all threads): load versions+lines {_pair(queried)}, "
          f"build the rule tables {_pair(built)}, engine rules {_pair(checked)}, "
          f"store runs+states {_pair(marked)} (run beside the rules in a scrub of {OVERLAP_FROM:,} claims or more), "
          f"findings+audit + commit {_pair(stored)}")
    print(f"{label}: the engine's rules without missing-kx (which prices each unsettled therapy patient-day in "
          f"Python): {_pair(without_kx)}")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--lines", type=int, default=3)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    encounters = [Encounter.model_validate(synthetic.to_encounter_dict(claim))
                  for claim in synthetic.generate(args.claims, args.lines, seed=2026)]
    if args.only != "postgresql":
        with tempfile.TemporaryDirectory() as folder:
            _measure(f"sqlite:///{Path(folder) / 'bench.db'}", encounters, "SQLite")
    if args.only == "sqlite":
        return
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
