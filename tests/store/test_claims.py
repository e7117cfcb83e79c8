"""The claim services on SQLite and PostgreSQL: each success and refusal path, the trail they write, tenant
isolation, and that a refused or failed call leaves nothing half-written."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cleanclaim.errors import CleanclaimError, InputError
from cleanclaim.formats.encounters import load_encounters
from cleanclaim.lifecycle import ClaimState, Role, TransitionError
from cleanclaim.model import ClaimLine
from cleanclaim.pricing import load_charge_master
from cleanclaim.store import claims as claims_module
from cleanclaim.store import models as m
from cleanclaim.store.claims import (
    NotFoundError,
    appeal_claim,
    code_claim,
    correct_claim,
    current_version,
    edit_lines,
    encounter_of,
    import_encounters,
    latest_scrub,
    mark_ready,
    override_finding,
    scrub_claims,
    write_off_claim,
)
from cleanclaim.store.database import session_factory
from cleanclaim.store.posting import post_remittance
from cleanclaim.store.remittance_file import PaidClaim, PaidLine, remittance_text
from cleanclaim.store.tenant import Tenant
from tests.store.services import Office, encounter

EXAMPLES = Path(__file__).parents[2] / "examples"
AS_OF = dt.date(2026, 3, 20)


def _events(session: Session, office: Office, action: str) -> int:
    return session.scalar(select(func.count()).select_from(m.AuditEvent).where(
        m.AuditEvent.organisation_id == office.organisation.id, m.AuditEvent.action == action)) or 0


def _count(session: Session, model: type[m.TenantOwned], office: Office) -> int:
    return session.scalar(select(func.count()).select_from(model).where(
        model.organisation_id == office.organisation.id)) or 0


def test_import_rebuilds_every_example_encounter_exactly(session: Session) -> None:
    office = Office(session)
    encounters = [e for path in sorted(EXAMPLES.glob("*.yaml")) for e in load_encounters(path).encounters]
    imported = import_encounters(office.tenant, office.biller, encounters)
    session.commit()
    assert [i.state for i in imported] == [ClaimState.CODED if e.lines else ClaimState.DRAFT for e in encounters]
    assert [i.patient_control_number for i in imported] == [e.claim_id or e.id for e in encounters]
    for item, given in zip(imported, encounters, strict=True):
        assert encounter_of(office.tenant, item.claim_id) == given
    assert _events(session, office, "import") == len(encounters)
    # a patient seen twice is one patient row
    assert _count(session, m.Patient, office) == len({e.patient.id for e in encounters})


def test_a_line_without_charge_or_date_and_with_extras_round_trips(session: Session) -> None:
    office = Office(session)
    given = encounter("RT-1", lines=[
        {"code": "97110", "modifiers": ["GP"], "units": 1.5, "minutes": 20, "dx_pointers": [1]},
        {"code": "97140", "modifiers": ["GP", "59"], "units": 1, "dx_pointers": [1, 2], "charge": 45.5,
         "date": "2026-03-03", "ndc": None, "rendering_npi": "1987654328", "references": {"6R": "L2"}}])
    (item,) = import_encounters(office.tenant, office.biller, [given])
    session.commit()
    rebuilt = encounter_of(office.tenant, item.claim_id)
    assert rebuilt == given
    assert rebuilt.lines[0].charge is None and rebuilt.lines[0].date is None
    assert rebuilt.lines[0].units == Decimal("1.5")


def test_import_refuses_a_used_claim_id_and_writes_nothing(session: Session) -> None:
    office = Office(session)
    import_encounters(office.tenant, office.biller, [encounter("DUP-1")])
    session.commit()
    before = _count(session, m.EncounterRecord, office)
    with pytest.raises(InputError, match="DUP-1 already belong"):
        import_encounters(office.tenant, office.biller, [encounter("NEW-1"), encounter("DUP-1")])
    with pytest.raises(InputError, match="more than once"):
        import_encounters(office.tenant, office.biller, [encounter("NEW-2"), encounter("NEW-2")])
    session.commit()
    assert _count(session, m.EncounterRecord, office) == before
    assert _count(session, m.Patient, office) == 1


def test_an_auditor_cannot_import(session: Session) -> None:
    office = Office(session)
    with pytest.raises(TransitionError, match="auditor cannot enter encounters"):
        import_encounters(office.tenant, office.actor(Role.AUDITOR), [encounter("AUD-1")])


def test_coding_keeps_the_arithmetic_and_a_charge_master_sets_charges(session: Session) -> None:
    office = Office(session)
    (pt,) = load_encounters(EXAMPLES / "pt-visit-97535.yaml").encounters
    (item,) = import_encounters(office.tenant, office.actor(Role.CLINICIAN), [pt])
    charges = load_charge_master(EXAMPLES / "practice" / "charge-master.csv")
    version = code_claim(office.tenant, office.actor(Role.CLINICIAN), item.claim_id, charge_master=charges)
    session.commit()
    assert version.state == ClaimState.CODED
    # 53 timed minutes: 4 units under the 8-minute rule, as the example's note says
    assert sum(line.units for line in version.lines) == 4
    assert version.explanation and "53" in version.explanation[0]
    assert all(line.charge > 0 for line in version.lines)
    assert version.total_charge == sum(line.charge for line in version.lines)
    assert _events(session, office, "code") == 1


def test_coding_refuses_an_encounter_without_services_and_a_submitted_claim(session: Session) -> None:
    office = Office(session)
    (item,) = import_encounters(office.tenant, office.biller, [encounter("NS-1")])
    with pytest.raises(InputError, match="no services to code"):
        code_claim(office.tenant, office.biller, item.claim_id)
    current_version(office.tenant, item.claim_id).state = "submitted"
    with pytest.raises(TransitionError, match="submitted claim cannot be moved by 'code'"):
        code_claim(office.tenant, office.biller, item.claim_id)


def test_editing_lines_returns_a_scrubbed_claim_to_coded(session: Session) -> None:
    office = Office(session)
    (item,) = import_encounters(office.tenant, office.biller, [encounter("ED-1")])
    scrub_claims(office.tenant, office.biller, [item.claim_id], as_of=AS_OF)
    assert current_version(office.tenant, item.claim_id).state == ClaimState.SCRUBBED
    version = edit_lines(office.tenant, office.biller, item.claim_id,
                         [ClaimLine(code="97110", modifiers=["GP"], units=Decimal(2), dx_pointers=[1],
                                    charge=Decimal(90))])
    session.commit()
    assert version.state == ClaimState.CODED
    assert [line.code for line in version.lines] == ["97110"]
    assert version.total_charge == Decimal("90.00")
    with pytest.raises(InputError, match="at least one billed line"):
        edit_lines(office.tenant, office.biller, item.claim_id, [])


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.AUDITOR])
def test_only_the_billing_office_edits_billed_lines(session: Session, role: Role) -> None:
    office = Office(session)
    (item,) = import_encounters(office.tenant, office.biller, [encounter("ED-ROLE")])
    before = [line.code for line in current_version(office.tenant, item.claim_id).lines]
    with pytest.raises(TransitionError, match=f"a {role.value} cannot edit a claim's billed lines"):
        edit_lines(office.tenant, office.actor(role), item.claim_id,
                   [ClaimLine(code="97530", units=Decimal(1), dx_pointers=[1], charge=Decimal(1))])
    assert [line.code for line in current_version(office.tenant, item.claim_id).lines] == before
    admin = edit_lines(office.tenant, office.actor(Role.ADMIN), item.claim_id,
                       [ClaimLine(code="97530", units=Decimal(1), dx_pointers=[1], charge=Decimal(1))])
    assert [line.code for line in admin.lines] == ["97530"]


@pytest.fixture(params=["in turn", "overlapped"])
def overlap(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """A batch scrub both ways: runs and states written before the rules run (small batches) and on a second
    thread while they run (`OVERLAP_FROM` claims and more, here from one)."""
    if request.param == "overlapped":
        monkeypatch.setattr(claims_module, "OVERLAP_FROM", 1)
    return str(request.param)


def test_scrub_stores_findings_per_claim_in_one_batch(session: Session, overlap: str) -> None:
    office = Office(session)
    clean = encounter("SC-1")
    deleted = encounter("SC-2", lines=[{"code": "96150", "units": 1, "dx_pointers": [1], "charge": 50}])
    items = import_encounters(office.tenant, office.biller, [clean, deleted])
    outcome = scrub_claims(office.tenant, office.biller, [i.claim_id for i in items], as_of=AS_OF)
    session.commit()
    assert outcome.counts[items[0].claim_id]["error"] == 0
    assert outcome.counts[items[1].claim_id]["error"] >= 1
    version = current_version(office.tenant, items[1].claim_id)
    run = latest_scrub(office.tenant, version)
    assert run is not None and run.id == outcome.runs[items[1].claim_id]
    rules = {f.rule for f in run.findings}
    assert "deleted-code" in rules
    finding = next(f for f in run.findings if f.rule == "deleted-code")
    assert "96150" in finding.message and finding.fix and finding.references
    assert {current_version(office.tenant, i.claim_id).state for i in items} == {ClaimState.SCRUBBED}
    assert _events(session, office, "scrub") == 2
    # the trail: one event per claim version, who, before and after (the state, the run and its counts)
    trail = session.scalars(select(m.AuditEvent).where(
        m.AuditEvent.organisation_id == office.organisation.id, m.AuditEvent.action == "scrub")).all()
    by_version = {event.entity_id: event for event in trail}
    for item in items:
        event = by_version[str(item.version_id)]
        assert (event.entity, event.user_id, event.before) == ("claim_version", office.biller.id, {"state": "coded"})
        assert event.after == {"state": "scrubbed", "scrub_run_id": outcome.runs[item.claim_id],
                               "as_of": AS_OF.isoformat(), **outcome.counts[item.claim_id]}


def test_scrub_refuses_the_whole_batch_when_one_claim_cannot_be_scrubbed(session: Session) -> None:
    office = Office(session)
    coded = import_encounters(office.tenant, office.biller, [encounter("SR-1")])[0]
    draft = import_encounters(office.tenant, office.biller, [encounter("SR-2", lines=None)])[0]
    session.commit()
    with pytest.raises(TransitionError, match=f"claim {draft.claim_id}: a draft claim"):
        scrub_claims(office.tenant, office.biller, [coded.claim_id, draft.claim_id], as_of=AS_OF)
    session.commit()
    assert _count(session, m.ScrubRun, office) == 0
    assert current_version(office.tenant, coded.claim_id).state == ClaimState.CODED
    with pytest.raises(TransitionError, match="auditor"):
        scrub_claims(office.tenant, office.actor(Role.AUDITOR), [coded.claim_id], as_of=AS_OF)


def test_a_scrub_the_rules_fail_writes_nothing(session: Session, overlap: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    office = Office(session)
    items = import_encounters(office.tenant, office.biller, [encounter("SF-1"), encounter("SF-2")])
    session.commit()

    def failing(*_: object) -> None:
        raise CleanclaimError("the scrub could not check every claim, none was stored: boom")

    monkeypatch.setattr(claims_module, "_check_stored", failing)
    with pytest.raises(CleanclaimError, match="boom"):
        scrub_claims(office.tenant, office.biller, [i.claim_id for i in items], as_of=AS_OF)
    session.commit()
    assert _count(session, m.ScrubRun, office) == 0
    assert _events(session, office, "scrub") == 0
    assert {current_version(office.tenant, i.claim_id).state for i in items} == {ClaimState.CODED}
    assert {current_version(office.tenant, i.claim_id).latest_scrub_run_id for i in items} == {None}


def test_two_claims_sharing_an_encounter_id_are_scrubbed_apart(session: Session, overlap: str) -> None:
    office = Office(session)
    first = encounter("SH-1")
    second = encounter("SH-2", lines=[{"code": "96150", "units": 1, "dx_pointers": [1], "charge": 50}])
    second = second.model_copy(update={"id": first.id})
    items = import_encounters(office.tenant, office.biller, [first, second])
    outcome = scrub_claims(office.tenant, office.biller, [i.claim_id for i in items], as_of=AS_OF)
    assert outcome.counts[items[0].claim_id]["error"] == 0
    assert outcome.counts[items[1].claim_id]["error"] >= 1


def test_override_then_ready(session: Session) -> None:
    office = Office(session)
    (item,) = import_encounters(office.tenant, office.biller, [
        encounter("OV-1", lines=[{"code": "96150", "units": 1, "dx_pointers": [1], "charge": 50}])])
    scrub_claims(office.tenant, office.biller, [item.claim_id], as_of=AS_OF)
    with pytest.raises(TransitionError, match="error finding"):
        mark_ready(office.tenant, office.biller, item.claim_id)
    run = latest_scrub(office.tenant, current_version(office.tenant, item.claim_id))
    assert run is not None
    errors = [f for f in run.findings if f.severity == "error"]
    with pytest.raises(TransitionError, match="needs a reason"):
        override_finding(office.tenant, office.biller, errors[0].id, "  ")
    with pytest.raises(TransitionError, match="clinician cannot override"):
        override_finding(office.tenant, office.actor(Role.CLINICIAN), errors[0].id, "fine")
    for finding in errors:
        override_finding(office.tenant, office.biller, finding.id, "payer contract still accepts it")
    with pytest.raises(TransitionError, match="already overridden"):
        override_finding(office.tenant, office.biller, errors[0].id, "again")
    version = mark_ready(office.tenant, office.biller, item.claim_id)
    session.commit()
    assert version.state == ClaimState.READY
    stored = session.get(m.FindingRecord, errors[0].id)
    assert stored is not None and stored.overridden_by_id == office.biller.id and stored.overridden_at is not None
    assert _events(session, office, "override") == len(errors)
    assert _events(session, office, "mark_ready") == 1


def test_a_new_scrub_makes_old_findings_not_overridable(session: Session) -> None:
    office = Office(session)
    (item,) = import_encounters(office.tenant, office.biller, [
        encounter("OV-2", lines=[{"code": "96150", "units": 1, "dx_pointers": [1], "charge": 50}])])
    first = scrub_claims(office.tenant, office.biller, [item.claim_id], as_of=AS_OF).runs[item.claim_id]
    old = session.scalars(select(m.FindingRecord).where(m.FindingRecord.scrub_run_id == first)).first()
    assert old is not None
    scrub_claims(office.tenant, office.biller, [item.claim_id], as_of=AS_OF)
    with pytest.raises(TransitionError, match="earlier scrub"):
        override_finding(office.tenant, office.biller, old.id, "reason")


def _denied(session: Session, office: Office, claim_id: str) -> int:
    """A claim taken through scrub, ready and submission, then denied by a posted 835 (CARC 50)."""
    from cleanclaim.store.submissions import submit_claims

    (item,) = import_encounters(office.tenant, office.biller, [encounter(claim_id)])
    scrub_claims(office.tenant, office.biller, [item.claim_id], as_of=AS_OF)
    mark_ready(office.tenant, office.biller, item.claim_id)
    submit_claims(office.tenant, office.biller, [item.claim_id])
    version = current_version(office.tenant, item.claim_id)
    text = remittance_text([PaidClaim(claim_id, "4", f"PCN{claim_id}", [
        PaidLine(line.code, tuple(line.modifiers), line.charge, Decimal(0), line.units, line.service_date,
                 (("CO", "50", line.charge),)) for line in version.lines])],
        trace_number=f"TRN{claim_id}", payer_identifier="1512345678", payer_name="MEDICARE",
        payee_name="HARBOR", payee_npi="1234567893", paid_on=dt.date(2026, 4, 1))
    posting = post_remittance(session, office.organisation.id, text, user_id=office.biller.id)
    assert posting.errors == [] and posting.payments[0].posted == {claim_id: "denied"}
    session.commit()
    return item.claim_id


def test_correct_keeps_the_old_version_and_makes_a_frequency_7_replacement(session: Session) -> None:
    office = Office(session)
    claim_id = _denied(session, office, "CR-1")
    old = current_version(office.tenant, claim_id)
    new = correct_claim(office.tenant, office.biller, claim_id)
    session.commit()
    session.refresh(old)
    assert (old.state, old.is_current) == (ClaimState.CORRECTED, False)
    assert (new.version, new.frequency_code, new.state, new.is_current) == (2, "7", ClaimState.CODED, True)
    assert new.original_reference == "PCNCR-1"
    assert [(line.code, line.units, line.charge) for line in new.lines] == [
        (line.code, line.units, line.charge) for line in old.lines]
    rebuilt = encounter_of(office.tenant, claim_id)
    assert rebuilt.claim_elements == {"CLM05-3": "7"}
    assert rebuilt.references is not None and rebuilt.references["2300"]["F8"] == "PCNCR-1"
    with pytest.raises(TransitionError, match="coded claim cannot be moved by 'correct'"):
        correct_claim(office.tenant, office.biller, claim_id)


def test_appeal_and_write_off(session: Session) -> None:
    office = Office(session)
    claim_id = _denied(session, office, "AP-1")
    with pytest.raises(TransitionError, match="auditor"):
        appeal_claim(office.tenant, office.actor(Role.AUDITOR), claim_id)
    assert appeal_claim(office.tenant, office.biller, claim_id, note="records attached").state == ClaimState.APPEALED
    with pytest.raises(InputError, match="needs a reason"):
        write_off_claim(office.tenant, office.biller, claim_id, "")
    version = write_off_claim(office.tenant, office.biller, claim_id, "small balance")
    session.commit()
    assert version.state == ClaimState.WRITTEN_OFF
    event = session.scalars(select(m.AuditEvent).where(m.AuditEvent.organisation_id == office.organisation.id,
                                                       m.AuditEvent.action == "write_off")).one()
    assert event.before is not None and event.before["state"] == "appealed"
    assert event.after is not None and event.after["reason"] == "small balance"
    with pytest.raises(TransitionError, match="written off claim"):
        appeal_claim(office.tenant, office.biller, claim_id)


def test_another_organisations_claim_is_not_found(engine: Engine) -> None:
    with session_factory(engine)() as session:
        office = Office(session)
        (item,) = import_encounters(office.tenant, office.biller, [encounter("ISO-1")])
        scrub_claims(office.tenant, office.biller, [item.claim_id], as_of=AS_OF)
        session.commit()
        finding_ids = list(session.scalars(select(m.FindingRecord.id).where(
            m.FindingRecord.organisation_id == office.organisation.id)))
    with session_factory(engine)() as session:
        other = Office(session)
        tenant, biller = other.tenant, other.biller
        for call in (lambda: encounter_of(tenant, item.claim_id),
                     lambda: code_claim(tenant, biller, item.claim_id),
                     lambda: scrub_claims(tenant, biller, [item.claim_id]),
                     lambda: mark_ready(tenant, biller, item.claim_id),
                     lambda: correct_claim(tenant, biller, item.claim_id),
                     lambda: write_off_claim(tenant, biller, item.claim_id, "x")):
            with pytest.raises(NotFoundError, match="not found"):
                call()
        for finding_id in finding_ids[:1]:
            with pytest.raises(NotFoundError):
                override_finding(tenant, biller, finding_id, "reason")
    with session_factory(engine)() as session:
        assert Tenant(session, office.organisation.id).get(m.Claim, item.claim_id) is not None
