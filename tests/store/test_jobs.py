"""A batch scrub as a job: progress and result written, another organisation's job not found, a failing step
stops the job with a message and keeps the steps done before it."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from cleanclaim.lifecycle import ClaimState, Role, TransitionError
from cleanclaim.store import claims as claims_module
from cleanclaim.store import jobs
from cleanclaim.store import models as m
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


def test_steps_after_a_failed_one_are_not_kept_even_when_they_ran_beside_it(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # two steps run side by side: the second is checked (and on PostgreSQL stored) while the first fails, and must
    # roll back, so the job's done steps stay the first ones (here none)
    monkeypatch.setattr(jobs, "SCRUB_STEP", 2)
    factory = session_factory(engine)
    with factory() as session:
        office = Office(session)
        draft = import_encounters(office.tenant, office.biller, [encounter("JS-D", lines=None)])
        coded = import_encounters(office.tenant, office.biller, [
            encounter(f"JS-{n}", date=f"2026-03-{n + 2:02d}") for n in range(5)])
        session.commit()
    job_id = jobs.start_scrub_job(factory, office.organisation.id, office.biller,
                                  [draft[0].claim_id, *(i.claim_id for i in coded)], wait=True)
    with factory() as session:
        tenant = Tenant(session, office.organisation.id)
        job = jobs.job_status(tenant, job_id)
        assert (job.state, job.done) == ("failed", 0)
        assert job.message is not None and "stopped after 0" in job.message and "draft claim" in job.message
        assert {current_version(tenant, i.claim_id).state for i in coded} == {ClaimState.CODED}
        assert session.scalar(select(func.count()).select_from(m.ScrubRun).where(
            m.ScrubRun.organisation_id == office.organisation.id)) == 0


def test_side_by_side_steps_scrub_like_steps_in_turn(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "SCRUB_STEP", 3)
    factory = session_factory(engine)
    outcomes = []
    # in turn; side by side; side by side with each step's runs written beside its rules (on SQLite after the step
    # before committed: the gate is then called on that thread)
    for at_once, overlap_from in ((1, 500), (2, 500), (2, 1)):
        monkeypatch.setattr(jobs, "SCRUB_STEPS_AT_ONCE", {engine.dialect.name: at_once})
        monkeypatch.setattr(claims_module, "OVERLAP_FROM", overlap_from)
        with factory() as session:
            office = Office(session)
            # every third claim bills a deleted code: findings to compare, errors among them
            deleted = {"lines": [{"code": "96150", "units": 1, "dx_pointers": [1], "charge": 50}]}
            items = import_encounters(office.tenant, office.biller, [
                encounter(f"JT-{at_once}-{overlap_from}-{n}", date=f"2026-03-{n + 2:02d}", **({} if n % 3 else deleted))
                for n in range(8)])
            session.commit()
        job_id = jobs.start_scrub_job(factory, office.organisation.id, office.biller, [i.claim_id for i in items],
                                      wait=True)
        with factory() as session:
            tenant = Tenant(session, office.organisation.id)
            job = jobs.job_status(tenant, job_id)
            assert (job.state, job.done) == ("done", 8)
            assert job.result is not None and [s["claims"] for s in job.result["steps"]] == [3, 3, 2]
            versions = [current_version(tenant, i.claim_id) for i in items]
            assert {v.state for v in versions} == {ClaimState.SCRUBBED}
            findings = [sorted((f.rule, f.severity) for f in session.scalars(select(m.FindingRecord).where(
                m.FindingRecord.scrub_run_id == v.latest_scrub_run_id))) for v in versions]
            outcomes.append((job.result["steps"], findings))
    assert all(outcome == outcomes[0] for outcome in outcomes)
