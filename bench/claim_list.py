"""The claim list with 100,000 claims in the database (issue 12: filtered and paginated, p95 <= 150 ms server time).

Loads one organisation of BENCH_LIST_CLAIMS claims (and a second, smaller organisation, so the tenant filter has
something to filter out) into a fresh SQLite file and a fresh PostgreSQL database with bulk Core inserts, migrated to
head first, then times ``store.queries.claim_list`` in-process (the server's share of a list page: count + page +
finding counts) over a fixed mix of filters, sorts and pages. Prints load seconds and p50/p95 per query kind and
overall, per database: wall time, and this process's CPU time (on SQLite that is the whole query, the database
runs in-process; on PostgreSQL it leaves out the server's share) because on a shared machine wall time also
counts the waits for a core.

Knobs: BENCH_LIST_CLAIMS (100000), BENCH_LIST_RUNS (runs per query kind, 20), BENCH_POSTGRES_URL
(postgresql+psycopg://postgres@127.0.0.1:5432/test: the server on which a scratch database is created and dropped),
BENCH_LIST_DATABASES (sqlite,postgresql).
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, insert, text
from sqlalchemy.engine import URL, make_url

sys.path.insert(0, str(Path(__file__).parent))
from measure import percentile

from cleanclaim.lifecycle import ClaimState
from cleanclaim.store import models as m
from cleanclaim.store.database import make_engine, migrate, session_factory
from cleanclaim.store.queries import ClaimFilter, ClaimSort, claim_list
from cleanclaim.store.tenant import Tenant

CLAIMS = int(os.environ.get("BENCH_LIST_CLAIMS", "100000"))
RUNS = int(os.environ.get("BENCH_LIST_RUNS", "20"))
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DATABASES = os.environ.get("BENCH_LIST_DATABASES", "sqlite,postgresql").split(",")
AS_OF = date(2026, 9, 30)
CHUNK = 5000

# A practice's mix of states: most claims are settled, a working set is in flight.
STATE_WEIGHTS = {
    ClaimState.DRAFT: 2, ClaimState.CODED: 3, ClaimState.SCRUBBED: 6, ClaimState.READY: 4, ClaimState.SUBMITTED: 15,
    ClaimState.PAID: 50, ClaimState.PARTIALLY_PAID: 6, ClaimState.DENIED: 6, ClaimState.APPEALED: 3,
    ClaimState.WRITTEN_OFF: 3, ClaimState.CORRECTED: 2,
}
RULES = [("deleted-code", "CC103", "error"), ("invalid-npi", "CC601", "error"), ("units-exceed-time", "CC301", "error"),
         ("missing-therapy-modifier", "CC406", "error"), ("progress-report-due", "CC801", "warning"),
         ("timely-filing", "CC604", "warning"), ("mue-exceeded", "CC503", "error")]
CODES = ["97110", "97112", "97140", "97530", "97535", "96156", "96158", "99406", "0591T"]


@contextmanager
def _database(kind: str) -> Iterator[URL]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            yield make_url(f"sqlite:///{Path(directory) / 'list.db'}")
        return
    server = make_url(POSTGRES_URL)
    name = f"cleanclaim_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=server.host, port=server.port or 5432, user=server.username, dbname=server.database,
                         autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name)
    finally:
        with psycopg.connect(host=server.host, port=server.port or 5432, user=server.username,
                             dbname=server.database, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _Ids:
    """Explicit primary keys, so a bulk insert needs no RETURNING; PostgreSQL's sequences are moved past them after."""

    def __init__(self) -> None:
        self.next: dict[str, int] = {}

    def __call__(self, table: str) -> int:
        self.next[table] = self.next.get(table, 0) + 1
        return self.next[table]


def _insert(engine: Engine, model: type[m.Base], rows: list[dict[str, Any]]) -> None:
    with engine.begin() as connection:
        for start in range(0, len(rows), CHUNK):
            connection.execute(insert(model), rows[start:start + CHUNK])


def load(engine: Engine, claims: int, *, seed: int = 2026) -> dict[str, Any]:
    """Bulk-load an organisation of ``claims`` claims (plus a tenth as many for a second organisation); returns the
    measured organisation's id and the ids the query mix filters on."""
    rng = random.Random(seed)
    ids = _Ids()
    now = datetime(2026, 9, 30, 12, tzinfo=UTC)
    rows: dict[type[m.Base], list[dict[str, Any]]] = {model: [] for model in (
        m.Organisation, m.User, m.Patient, m.Provider, m.Payer, m.EncounterRecord, m.Claim, m.ClaimVersion,
        m.ClaimLine, m.ScrubRun, m.FindingRecord)}
    measured: dict[str, Any] = {}
    for organisation_number, count in enumerate((claims, max(1, claims // 10))):
        oid = ids("organisations")
        rows[m.Organisation].append({"id": oid, "name": f"Bench practice {organisation_number} {uuid.uuid4().hex[:6]}",
                                     "created_at": now})
        user = ids("users")
        rows[m.User].append({"id": user, "organisation_id": oid, "email": f"biller{user}@bench.test",
                             "password_hash": "x", "role": "biller", "active": True, "created_at": now})
        patients = [ids("patients") for _ in range(max(1, count // 5))]
        rows[m.Patient] += [{"id": p, "organisation_id": oid, "patient_ref": f"P{p}", "sex": "F"} for p in patients]
        providers = [ids("providers") for _ in range(40)]
        rows[m.Provider] += [{"id": p, "organisation_id": oid, "npi": f"{1000000000 + p}", "discipline": "PT"}
                             for p in providers]
        payers = [ids("payers") for _ in range(6)]
        rows[m.Payer] += [{"id": p, "organisation_id": oid, "profile_id": "medicare", "name": f"Payer {p}",
                           "payer_id": f"{10000 + p}"} for p in payers]
        states = rng.choices(list(STATE_WEIGHTS), weights=list(STATE_WEIGHTS.values()), k=count)
        for number in range(count):
            encounter, claim = ids("encounters"), ids("claims")
            dos = AS_OF - timedelta(days=rng.randrange(0, 365))
            rows[m.EncounterRecord].append({
                "id": encounter, "organisation_id": oid, "encounter_ref": f"E{encounter}", "date_of_service": dos,
                "patient_id": rng.choice(patients), "provider_id": rng.choice(providers),
                "payer_id": rng.choice(payers), "data": {"id": f"E{encounter}", "date": dos.isoformat()},
                "created_at": now})
            rows[m.Claim].append({"id": claim, "organisation_id": oid, "encounter_id": encounter, "created_at": now})
            state = states[number]
            version_numbers = [1, 2] if rng.random() < 0.05 else [1]
            for version_number in version_numbers:
                version = ids("claim_versions")
                current = version_number == version_numbers[-1]
                lines = [(rng.choice(CODES), Decimal(rng.choice(["45.00", "60.00", "90.00", "120.00"])))
                         for _ in range(rng.randint(1, 3))]
                changed = datetime.combine(dos, datetime.min.time(), UTC) + timedelta(days=rng.randrange(0, 60))
                rows[m.ClaimVersion].append({
                    "id": version, "organisation_id": oid, "claim_id": claim, "version": version_number,
                    "is_current": current, "frequency_code": "1" if version_number == 1 else "7",
                    "patient_control_number": f"CLM-{oid}-{claim:07d}" + ("" if current else f"-v{version_number}"),
                    "state": state.value if current else ClaimState.CORRECTED.value,
                    "total_charge": sum((charge for _, charge in lines), Decimal(0)), "created_at": now,
                    "state_changed_at": min(changed, now), "latest_scrub_run_id": None})
                rows[m.ClaimLine] += [{
                    "id": ids("claim_lines"), "organisation_id": oid, "claim_version_id": version,
                    "line_number": n, "code": code, "modifiers": ["GP"], "units": Decimal(1), "minutes": 15,
                    "dx_pointers": [1], "charge": charge, "service_date": dos} for n, (code, charge) in
                    enumerate(lines, start=1)]
                if state in (ClaimState.DRAFT, ClaimState.CODED):
                    continue
                for _scrub in range(rng.choice([1, 1, 2])):
                    run = ids("scrub_runs")
                    rows[m.ScrubRun].append({"id": run, "organisation_id": oid, "claim_version_id": version,
                                             "as_of": dos, "ran_at": now})
                    rows[m.ClaimVersion][-1]["latest_scrub_run_id"] = run  # as store.claims' scrub sets it
                    for _finding in range(rng.choice([0, 0, 0, 1, 2])):
                        slug, rule_id, severity = rng.choice(RULES)
                        rows[m.FindingRecord].append({
                            "id": ids("findings"), "organisation_id": oid, "scrub_run_id": run, "rule": slug,
                            "rule_id": rule_id, "severity": severity, "line": 1, "code": lines[0][0],
                            "message": "bench finding", "fix": "bench fix", "references": []})
        if organisation_number == 0:
            measured = {"organisation_id": oid, "payer_id": payers[0], "provider_id": providers[0]}
    for model, model_rows in rows.items():
        _insert(engine, model, model_rows)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            for model in rows:
                table = model.__table__.name  # type: ignore[attr-defined]
                connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                        f"(SELECT max(id) FROM {table}))"))
            connection.execute(text("ANALYZE"))
    else:
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    measured["rows"] = {model.__tablename__: len(model_rows) for model, model_rows in rows.items()}  # type: ignore[attr-defined]
    return measured


def _mix(ids: dict[str, Any]) -> dict[str, Callable[[Tenant], Any]]:
    """The list requests a billing office makes all day; each is timed RUNS times."""
    month = (date(2026, 6, 1), date(2026, 6, 30))

    def keyset(tenant: Tenant) -> Any:
        first = claim_list(tenant, ClaimFilter(states=(ClaimState.SUBMITTED,)), today=AS_OF)
        return claim_list(tenant, ClaimFilter(states=(ClaimState.SUBMITTED,)), after=first.next_cursor, today=AS_OF)

    return {
        "all claims, newest state change first": lambda t: claim_list(t, today=AS_OF),
        "state = denied": lambda t: claim_list(t, ClaimFilter(states=(ClaimState.DENIED,)), today=AS_OF),
        "state = submitted, oldest first": lambda t: claim_list(
            t, ClaimFilter(states=(ClaimState.SUBMITTED,)), descending=False, today=AS_OF),
        "payer": lambda t: claim_list(t, ClaimFilter(payer_id=ids["payer_id"]), today=AS_OF),
        "provider + one month of service": lambda t: claim_list(
            t, ClaimFilter(provider_id=ids["provider_id"], service_from=month[0], service_to=month[1]), today=AS_OF),
        "one month, by date of service": lambda t: claim_list(
            t, ClaimFilter(service_from=month[0], service_to=month[1]), sort=ClaimSort.DATE_OF_SERVICE, today=AS_OF),
        "rule = deleted-code": lambda t: claim_list(t, ClaimFilter(rule="deleted-code"), today=AS_OF),
        "rule + state scrubbed": lambda t: claim_list(
            t, ClaimFilter(rule="units-exceed-time", states=(ClaimState.SCRUBBED,)), today=AS_OF),
        "text search on PCN": lambda t: claim_list(t, ClaimFilter(text="00123"), today=AS_OF),
        "all claims by charge, page 40 (offset)": lambda t: claim_list(
            t, sort=ClaimSort.TOTAL_CHARGE, offset=40 * 50, today=AS_OF),
        "all claims by patient control number": lambda t: claim_list(
            t, sort=ClaimSort.PATIENT_CONTROL_NUMBER, descending=False, today=AS_OF),
        "submitted, second page by cursor (2 calls)": keyset,
    }


def bench(kind: str) -> list[float]:
    with _database(kind) as url:
        migrate(url)
        engine = make_engine(url)
        try:
            start = time.perf_counter()
            ids = load(engine, CLAIMS)
            loaded = time.perf_counter() - start
            rows = ids["rows"]
            print(f"{kind}: loaded {rows['claims']:,} claims ({rows['claim_versions']:,} versions, "
                  f"{rows['claim_lines']:,} lines, {rows['scrub_runs']:,} scrubs, {rows['findings']:,} findings, "
                  f"two organisations) in {loaded:.1f} s")
            every: list[float] = []
            every_cpu: list[float] = []
            factory = session_factory(engine)
            for label, request in _mix(ids).items():
                times, cpu = [], []
                for run in range(RUNS + 1):
                    with factory() as session:
                        tenant = Tenant(session, ids["organisation_id"])
                        started, started_cpu = time.perf_counter(), time.process_time()
                        result = request(tenant)
                        elapsed = (time.perf_counter() - started) * 1000
                        elapsed_cpu = (time.process_time() - started_cpu) * 1000
                    if run:  # the first run warms the connection and the statement cache
                        times.append(elapsed)
                        cpu.append(elapsed_cpu)
                every += times
                every_cpu += cpu
                print(f"  {label:<45} p50 {statistics.median(times):7.1f} ms  p95 {percentile(times, 0.95):7.1f} ms"
                      f"  (this process's CPU p95 {percentile(cpu, 0.95):6.1f} ms; {result.total:,} match, "
                      f"{len(result.rows)} shown)")
            print(f"  {'all kinds together':<45} p50 {statistics.median(every):7.1f} ms  "
                  f"p95 {percentile(every, 0.95):7.1f} ms  (CPU p95 {percentile(every_cpu, 0.95):6.1f} ms; "
                  f"{len(every)} requests; load average {os.getloadavg()[0]:.1f})")
            return every
        finally:
            engine.dispose()


def main() -> None:
    print(f"claim list: {CLAIMS:,} claims, {RUNS} timed runs per query kind, page size 50")
    for kind in DATABASES:
        bench(kind)


if __name__ == "__main__":
    main()
