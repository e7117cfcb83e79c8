"""A batch scrub as a job: progress and result written, another organisation's job not found, a failing step
stops the job with a message and keeps the steps done before it."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from cleanclaim.lifecycle import ClaimState, Role, TransitionError
from cleanclaim.store import jobs
from cleanclaim.store.claims import NotFoundError, current_version, import_encounters
from cleanclaim.store.database import session_factory
from cleanclaim.store.tenant import Tenant
from tests.store.services import Office, encounter


def test_a_scrub_job_reports_progress_and_result(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "SCRUB_STEP", 2)
    factory = session_factory(engine)
    with factory() as session:
        office = Office(session)
        items = import_encounters(office.tenant, office.biller, [
            encounter(f"JB-{n}", date=f"2026-03-{n + 2:02d}") for n in range(5)])
        session.commit()
    job_id = jobs.start_scrub_job(factory, office.organisation.id, office.biller, [i.claim_id for i in items],
                                  wait=True)
    with factory() as session:
        tenant = Tenant(session, office.organisation.id)
        job = jobs.job_status(tenant, job_id)
        assert (job.state, job.total, job.done) == ("done", 5, 5)
        assert job.result is not None and [s["claims"] for s in job.result["steps"]] == [2, 2, 1]
        assert {current_version(tenant, i.claim_id).state for i in items} == {ClaimState.SCRUBBED}
    with factory() as session:
        other = Office(session)
        with pytest.raises(NotFoundError):
            jobs.job_status(other.tenant, job_id)


def test_a_failing_step_stops_the_job_and_keeps_earlier_steps(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "SCRUB_STEP", 2)
    factory = session_factory(engine)
    with factory() as session:
        office = Office(session)
        coded = import_encounters(office.tenant, office.biller, [
            encounter(f"JF-{n}", date=f"2026-03-{n + 2:02d}") for n in range(2)])
        draft = import_encounters(office.tenant, office.biller, [encounter("JF-D", lines=None)])
        session.commit()
    job_id = jobs.start_scrub_job(factory, office.organisation.id, office.biller,
                                  [*(i.claim_id for i in coded), draft[0].claim_id], wait=True)
    with factory() as session:
        tenant = Tenant(session, office.organisation.id)
        job = jobs.job_status(tenant, job_id)
        assert (job.state, job.done) == ("failed", 2)
        assert job.message is not None and "stopped after 2" in job.message and "draft claim" in job.message
        assert {current_version(tenant, i.claim_id).state for i in coded} == {ClaimState.SCRUBBED}
    with pytest.raises(TransitionError, match="auditor"):
        jobs.start_scrub_job(factory, office.organisation.id, office.actor(Role.AUDITOR), [1])
