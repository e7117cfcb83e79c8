"""Submission batches and denial tasks on SQLite and PostgreSQL: the 837P validates with pyx12, a refused claim
writes nothing, two concurrent submissions get distinct control numbers, and denial work is audited."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cleanclaim.errors import CleanclaimError, InputError
from cleanclaim.lifecycle import ClaimState, Role, TransitionError
from cleanclaim.store import models as m
from cleanclaim.store.claims import Actor, NotFoundError, current_version, import_encounters, mark_ready, scrub_claims
from cleanclaim.store.database import session_factory
from cleanclaim.store.denials import assign_task, note_task, resolve_task, set_due_date
from cleanclaim.store.posting import post_remittance
from cleanclaim.store.remittance_file import PaidClaim, PaidLine, remittance_text
from cleanclaim.store.submissions import SubmissionSettingsInput, save_submission_settings, submit_claims
from cleanclaim.store.tenant import Tenant
from tests.formats.x12.conftest import pyx12_errors
from tests.store.services import Office, encounter

AS_OF = dt.date(2026, 3, 20)


def _ready(office: Office, *claim_ids: str, **overrides: object) -> list[int]:
    # a visit on a date of its own each: the same lines on one date would be duplicate-line errors
    items = import_encounters(office.tenant, office.biller, [
        encounter(c, date=f"2026-03-{2 + sum(map(ord, c)) % 17:02d}", **overrides) for c in claim_ids])
    ids = [item.claim_id for item in items]
    scrub_claims(office.tenant, office.biller, ids, as_of=AS_OF)
    for claim_id in ids:
        mark_ready(office.tenant, office.biller, claim_id)
    return ids


def test_submit_writes_a_valid_837p_and_moves_the_claims(session: Session) -> None:
    office = Office(session)
    ids = _ready(office, "SUB-1", "SUB-2")
    batch = submit_claims(office.tenant, office.biller, ids, now=dt.datetime(2026, 3, 21, 9, 0))
    session.commit()
    assert pyx12_errors(batch.x12) == []
    assert (batch.isa13, batch.gs06, batch.st02) == ("000000001", "1", "0001")
    assert "ISA*00*" in batch.x12 and "*000000001*0*T*" in batch.x12
    assert "CLM*SUB-1*" in batch.x12 and "CLM*SUB-2*" in batch.x12
    assert {current_version(office.tenant, c).state for c in ids} == {ClaimState.SUBMITTED}
    linked = session.scalar(select(func.count()).select_from(m.SubmissionClaim).where(
        m.SubmissionClaim.batch_id == batch.id))
    assert linked == 2
    second = submit_claims(office.tenant, office.biller, _ready(office, "SUB-3"))
    assert second.isa13 == "000000002"


def test_a_claim_the_writer_refuses_refuses_the_batch_and_writes_nothing(session: Session) -> None:
    office = Office(session)
    good = _ready(office, "WR-1")
    bad = _ready(office, "WR-2", subscriber=None)
    with pytest.raises(InputError, match=rf"claim {bad[0]} \(E-WR-2\): subscriber.member_id"):
        submit_claims(office.tenant, office.biller, good + bad)
    session.commit()
    assert session.scalar(select(func.count()).select_from(m.SubmissionBatch).where(
        m.SubmissionBatch.organisation_id == office.organisation.id)) == 0
    assert current_version(office.tenant, good[0]).state == ClaimState.READY
    # the control number was not used up
    assert submit_claims(office.tenant, office.biller, good).isa13 == "000000001"


def test_submit_refuses_claims_that_are_not_ready(session: Session) -> None:
    office = Office(session)
    (coded,) = import_encounters(office.tenant, office.biller, [encounter("NR-1")])
    with pytest.raises(TransitionError, match="coded claim cannot be moved by 'submit'"):
        submit_claims(office.tenant, office.biller, [coded.claim_id])
    with pytest.raises(TransitionError, match="clinician cannot submit"):
        submit_claims(office.tenant, office.actor(Role.CLINICIAN), [coded.claim_id])
    with pytest.raises(InputError, match="at least one"):
        submit_claims(office.tenant, office.biller, [])


def test_submit_refuses_an_organisation_without_settings(session: Session) -> None:
    bare = Office(session, settings=False)
    ids = _ready(bare, "NS-1")
    with pytest.raises(CleanclaimError, match="no submission settings"):
        submit_claims(bare.tenant, bare.biller, ids)
    assert current_version(bare.tenant, ids[0]).state == ClaimState.READY


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"sender_id": "HARBOR/PT"}, "sender_id", "sender_id"),
    ({"submitter_name": "Harbor*PT"}, "submitter_name", r"\*"),
    ({"receiver_name": "R" * 61}, "receiver_name", "at most 60"),
])
def test_the_store_refuses_an_envelope_the_837p_writer_or_its_column_would_refuse(
        session: Session, changes: dict[str, str], field: str, message: str) -> None:
    """Whoever saves the settings (page, API, demo loader, a script), a value every later submission would fail on
    is refused when it is saved, on its field, and the saved envelope is kept."""
    office = Office(session)
    given = {"sender_id": "HARBORPT", "receiver_id": "CLEARHOUSE", "receiver_name": "Example Clearinghouse",
             "submitter_name": "Harbor PT Billing", "submitter_contact": "Jo Biller", "submitter_phone": "2175550100"}
    with pytest.raises(InputError, match=message) as refused:
        save_submission_settings(office.tenant, office.actor(Role.ADMIN),
                                 SubmissionSettingsInput(**{**given, **changes}))  # type: ignore[arg-type]
    assert refused.value.field == field
    session.rollback()
    kept = session.scalars(select(m.SubmissionSettings).where(
        m.SubmissionSettings.organisation_id == office.organisation.id)).one()
    assert (kept.sender_id, kept.submitter_name, kept.receiver_name) == (
        "HARBORPT", "Harbor PT Billing", "Example Clearinghouse")


def test_two_concurrent_submissions_get_distinct_control_numbers(engine: Engine) -> None:
    with session_factory(engine)() as session:
        office = Office(session)
        first, second = _ready(office, "CC-1"), _ready(office, "CC-2")
        session.commit()
        organisation, biller = office.organisation.id, office.biller
    start = threading.Barrier(2)
    numbers: list[str] = []
    failures: list[BaseException] = []

    def submit(claim_ids: list[int], actor: Actor) -> None:
        try:
            with session_factory(engine)() as own:
                start.wait()
                batch = submit_claims(Tenant(own, organisation), actor, claim_ids)
                own.commit()
                numbers.append(batch.isa13)
        except BaseException as error:  # a thread's failure must fail the test
            failures.append(error)

    threads = [threading.Thread(target=submit, args=(ids, biller)) for ids in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert sorted(numbers) == ["000000001", "000000002"]


def _denial_task(session: Session, office: Office) -> m.DenialTask:
    ids = _ready(office, "DN-1")
    submit_claims(office.tenant, office.biller, ids)
    version = current_version(office.tenant, ids[0])
    text = remittance_text([PaidClaim("DN-1", "4", "PCN1", [
        PaidLine(line.code, tuple(line.modifiers), line.charge, Decimal(0), line.units, line.service_date,
                 (("CO", "197", line.charge),)) for line in version.lines])],
        trace_number="T-DN-1", payer_identifier="1512345678", payer_name="MEDICARE", payee_name="HARBOR",
        payee_npi="1234567893", paid_on=dt.date(2026, 4, 1))
    post_remittance(session, office.organisation.id, text, user_id=office.biller.id)
    session.commit()
    return session.scalars(select(m.DenialTask).where(m.DenialTask.organisation_id == office.organisation.id)).one()


def test_denial_task_assign_note_due_resolve_are_audited(session: Session) -> None:
    office = Office(session)
    task = _denial_task(session, office)
    assert task.carc == "197"
    clinician = office.users[Role.CLINICIAN]
    assign_task(office.tenant, office.biller, task.id, clinician.id)
    note_task(office.tenant, office.biller, task.id, "called payer, auth on file")
    set_due_date(office.tenant, office.biller, task.id, dt.date(2026, 5, 1))
    resolve_task(office.tenant, office.biller, task.id, "corrected and resubmitted")
    session.commit()
    assert task.assignee_id == clinician.id and task.due_date == dt.date(2026, 5, 1)
    assert task.resolved_at is not None
    assert task.note is not None and "called payer" in task.note and "resubmitted" in task.note
    actions = list(session.scalars(select(m.AuditEvent.action).where(
        m.AuditEvent.organisation_id == office.organisation.id, m.AuditEvent.entity == "denial_task")
        .order_by(m.AuditEvent.id)))
    assert actions == ["assign", "note", "due_date", "resolve"]
    with pytest.raises(TransitionError, match="closed"):
        note_task(office.tenant, office.biller, task.id, "more")


def test_denial_task_refusals(engine: Engine) -> None:
    with session_factory(engine)() as session:
        office = Office(session)
        task = _denial_task(session, office)
        task_id = task.id
        with pytest.raises(TransitionError, match="auditor cannot assign"):
            assign_task(office.tenant, office.actor(Role.AUDITOR), task_id, None)
        with pytest.raises(InputError, match="empty"):
            note_task(office.tenant, office.biller, task_id, " ")
    with session_factory(engine)() as session:
        other = Office(session)
        with pytest.raises(NotFoundError):
            resolve_task(other.tenant, other.biller, task_id)
        # a user of another organisation cannot be given our task either
        foreign_user = other.users[Role.BILLER].id
    with session_factory(engine)() as session:
        mine = Tenant(session, office.organisation.id)
        with pytest.raises(NotFoundError, match=f"user {foreign_user}"):
            assign_task(mine, office.biller, task_id, foreign_user)
