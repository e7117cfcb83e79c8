"""Posting a 5,000-claim 835 into the workspace (issue 12: <= 5 s), on SQLite and PostgreSQL.

For each database: a fresh SQLite file or a scratch PostgreSQL database, migrated to head; BENCH_POST_CLAIMS
submitted claims (two service lines each) bulk-loaded with Core inserts; one 835 generated for them (one payment,
one CLP per claim, every SVC with its CAS, balanced; one claim in ten has a line denied CO-97, which opens a denial
task); then ``store.posting.post_remittance`` and the commit, timed (reading the 835 included, as a web upload does).
Posting the same file a second time is timed too (idempotent: it must find the trace number and change nothing).

Knobs: BENCH_POST_CLAIMS (5000), BENCH_POSTGRES_URL (as bench/claim_list.py), BENCH_POST_DATABASES
(sqlite,postgresql), BENCH_POST_PROFILE=1 (print the top of a cProfile of the post).
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select, text

sys.path.insert(0, str(Path(__file__).parent))
from claim_list import _database  # the scratch-database helper

from cleanclaim.store import models as m
from cleanclaim.store.database import make_engine, migrate, session_factory
from cleanclaim.store.posting import post_remittance

CLAIMS = int(os.environ.get("BENCH_POST_CLAIMS", "5000"))
DATABASES = os.environ.get("BENCH_POST_DATABASES", "sqlite,postgresql").split(",")
PROFILE = os.environ.get("BENCH_POST_PROFILE") == "1"
FIRST_SERVICE = date(2026, 3, 2)
CHUNK = 5000


def _pcn(number: int) -> str:
    return f"CLM-{number:06d}"


def _service(number: int) -> date:
    return FIRST_SERVICE + timedelta(days=number % 60)


def load(engine: Engine, claims: int) -> tuple[int, int]:
    """An organisation with ``claims`` submitted claims of two lines: 97110-GP x2 $90.00, 97140-GP x1 $45.00."""
    now = datetime(2026, 4, 1, tzinfo=UTC)
    with engine.begin() as connection:
        organisation = connection.execute(insert(m.Organisation).values(name="Bench posting", created_at=now)
                                          .returning(m.Organisation.id)).scalar_one()
        user = connection.execute(insert(m.User).values(
            organisation_id=organisation, email="poster@bench.test", password_hash="x", role="biller", active=True,
            created_at=now).returning(m.User.id)).scalar_one()
        patient = connection.execute(insert(m.Patient).values(organisation_id=organisation, patient_ref="P1")
                                     .returning(m.Patient.id)).scalar_one()
        provider = connection.execute(insert(m.Provider).values(
            organisation_id=organisation, npi="1234567893", discipline="PT").returning(m.Provider.id)).scalar_one()
        payer = connection.execute(insert(m.Payer).values(
            organisation_id=organisation, profile_id="medicare", name="Medicare", payer_id="12345")
            .returning(m.Payer.id)).scalar_one()
        base = {"encounters": 0, "claims": 0, "claim_versions": 0, "claim_lines": 0}
        for table in base:
            base[table] = connection.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar_one()
    encounters, claim_rows, versions, lines = [], [], [], []
    for number in range(1, claims + 1):
        day = _service(number)
        encounter, claim = base["encounters"] + number, base["claims"] + number
        version = base["claim_versions"] + number
        encounters.append({"id": encounter, "organisation_id": organisation, "encounter_ref": f"E{number}",
                           "date_of_service": day, "patient_id": patient, "provider_id": provider,
                           "payer_id": payer, "data": {"id": f"E{number}"}, "created_at": now})
        claim_rows.append({"id": claim, "organisation_id": organisation, "encounter_id": encounter,
                           "created_at": now})
        versions.append({"id": version, "organisation_id": organisation, "claim_id": claim, "version": 1,
                         "is_current": True, "frequency_code": "1", "patient_control_number": _pcn(number),
                         "state": "submitted", "total_charge": Decimal("135.00"), "created_at": now,
                         "state_changed_at": now})
        for line_number, (code, units, charge) in enumerate((("97110", 2, "90.00"), ("97140", 1, "45.00")), 1):
            lines.append({"id": base["claim_lines"] + 2 * number - 2 + line_number, "organisation_id": organisation,
                          "claim_version_id": version, "line_number": line_number, "code": code,
                          "modifiers": ["GP"], "units": Decimal(units), "minutes": 15 * units, "dx_pointers": [1],
                          "charge": Decimal(charge), "service_date": day})
    with engine.begin() as connection:
        for model, rows in ((m.EncounterRecord, encounters), (m.Claim, claim_rows), (m.ClaimVersion, versions),
                            (m.ClaimLine, lines)):
            for start in range(0, len(rows), CHUNK):
                connection.execute(insert(model), rows[start:start + CHUNK])
        if engine.dialect.name == "postgresql":
            for table in base:
                connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                        f"(SELECT max(id) FROM {table}))"))
        connection.execute(text("ANALYZE"))
    return organisation, user


def remittance(claims: int) -> str:
    """One 835 payment for claims 1..``claims``; claim n with n % 10 == 0 has its 97140 line denied (CO-97)."""
    body: list[str] = []
    total = Decimal(0)
    for number in range(1, claims + 1):
        day = _service(number).strftime("%Y%m%d")
        denied = number % 10 == 0
        paid = Decimal("65.00") + (Decimal(0) if denied else Decimal("30.00"))
        total += paid
        body += [f"CLP*{_pcn(number)}*1*135*{paid}*{'10' if denied else '15'}*MB*PCC{number:08d}*11*1",
                 "NM1*QC*1*EXAMPLE*ANN****MI*1EG4TE5MK73",
                 "SVC*HC:97110:GP*90*65**2", f"DTM*472*{day}", "CAS*CO*45*15", "CAS*PR*2*10"]
        if denied:
            body += ["SVC*HC:97140:GP*45*0**1", f"DTM*472*{day}", "CAS*CO*97*45"]
        else:
            body += ["SVC*HC:97140:GP*45*30**1", f"DTM*472*{day}", "CAS*CO*45*10", "CAS*PR*2*5"]
    transaction = ["ST*835*0001", f"BPR*I*{total}*C*CHK************20260415", f"TRN*1*BENCH{claims:06d}*1512345678",
                   "DTM*405*20260413", "N1*PR*EXAMPLE MEDICARE CONTRACTOR", "N1*PE*BENCH PT*XX*1234567893", "LX*1",
                   *body]
    transaction.append(f"SE*{len(transaction) + 1}*0001")
    isa = "ISA*00*          *00*          *ZZ*PAYERHUB       *ZZ*BENCHPT        *260416*0800*^*00501*000000911*0*T*:"
    segments = [isa,
                "GS*HP*PAYERHUB*BENCHPT*20260416*0800*911*X*005010X221A1", *transaction, "GE*1*911",
                "IEA*1*000000911"]
    return "~\n".join(segments) + "~\n"


def bench(kind: str, text_835: str) -> dict[str, Any]:
    with _database(kind) as url:
        migrate(url)
        engine = make_engine(url)
        try:
            started = time.perf_counter()
            organisation, user = load(engine, CLAIMS)
            loaded = time.perf_counter() - started
            factory = session_factory(engine)
            profiler = cProfile.Profile() if PROFILE else None
            with factory() as session:
                started, started_cpu = time.perf_counter(), time.process_time()
                if profiler:
                    profiler.enable()
                posting = post_remittance(session, organisation, text_835, user_id=user)
                session.commit()
                if profiler:
                    profiler.disable()
                seconds = time.perf_counter() - started
                cpu = time.process_time() - started_cpu
            with factory() as session:
                started = time.perf_counter()
                again = post_remittance(session, organisation, text_835, user_id=user)
                session.commit()
                again_seconds = time.perf_counter() - started
                states = dict(session.execute(select(m.ClaimVersion.state, func.count()).where(
                    m.ClaimVersion.organisation_id == organisation).group_by(m.ClaimVersion.state)).all())
                tasks = session.scalar(select(func.count()).select_from(m.DenialTask).where(
                    m.DenialTask.organisation_id == organisation))
            posted = sum(len(payment.posted) for payment in posting.payments)
            print(f"{kind}: loaded {CLAIMS:,} submitted claims in {loaded:.1f} s; posted the 835 in {seconds:.2f} s "
                  f"(this process's CPU {cpu:.2f} s; {posted:,} claims posted, {posted / seconds:,.0f} claims/s; "
                  f"states now {states}, "
                  f"{tasks:,} denial tasks; {len(posting.errors)} read errors); posting it again: "
                  f"{again_seconds:.2f} s, already posted: {[p.already_posted for p in again.payments]}; "
                  f"load average {os.getloadavg()[0]:.1f}")
            if profiler:
                pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_POST_SORT", "tottime")).print_stats(30)
            return {"seconds": seconds, "cpu": cpu, "posted": posted}
        finally:
            engine.dispose()


def main() -> None:
    started = time.perf_counter()
    text_835 = remittance(CLAIMS)
    print(f"835 of {CLAIMS:,} claims ({len(text_835) / 1e6:.1f} MB) generated in {time.perf_counter() - started:.2f} s")
    for kind in DATABASES:
        bench(kind, text_835)


if __name__ == "__main__":
    main()
