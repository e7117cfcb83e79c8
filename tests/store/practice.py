"""A small practice built row by row through the models, for the query and dashboard tests: every claim is made with
the state, payer, provider, date of service, scrubs and remittances the test names, so expected results can be
worked out by hand from the test's own text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from cleanclaim.store import models as m
from tests.store.conftest import unique

# (rule slug, severity, overridden?)
Finding = tuple[str, str, bool]
RULE_IDS = {"deleted-code": "CC103", "invalid-npi": "CC601", "units-exceed-time": "CC301",
            "progress-report-due": "CC801", "timely-filing": "CC604"}


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@dataclass
class Made:
    claim: m.Claim
    version: m.ClaimVersion
    encounter: m.EncounterRecord


class Practice:
    """One organisation: a biller, two patients, two rendering providers, two payers."""

    def __init__(self, session: Session, label: str = "Harbor PT") -> None:
        self.session = session
        self.organisation = m.Organisation(name=unique(label))
        session.add(self.organisation)
        session.flush()
        oid = self.id
        self.user = m.User(organisation_id=oid, email=f"{unique('biller')}@example.test", password_hash="x",
                           role="biller")
        self.patients = [m.Patient(organisation_id=oid, patient_ref=ref) for ref in ("P1", "P2")]
        self.providers = [m.Provider(organisation_id=oid, npi=npi, discipline="PT")
                          for npi in ("1234567893", "1987654328")]
        self.payers = [m.Payer(organisation_id=oid, profile_id=profile, name=name, payer_id=payer_id)
                       for profile, name, payer_id in (("medicare", "Medicare", "12345"),
                                                       ("commercial", "Acme Health", "87726"))]
        session.add_all([self.user, *self.patients, *self.providers, *self.payers])
        session.flush()

    @property
    def id(self) -> int:
        return self.organisation.id

    def claim(self, pcn: str, *, state: str = "scrubbed", payer: int = 0, provider: int = 0, patient: int = 0,
              dos: date = date(2026, 3, 2), charges: tuple[str, ...] = ("90.00",), changed: datetime | None = None,
              scrubs: tuple[tuple[Finding, ...], ...] = (), scrubbed_at: datetime | None = None) -> Made:
        """A claim with one current version; ``scrubs`` are its scrubs oldest first, each a tuple of findings."""
        session, oid = self.session, self.id
        encounter = m.EncounterRecord(
            organisation_id=oid, encounter_ref=f"E-{pcn}", date_of_service=dos,
            patient_id=self.patients[patient].id, provider_id=self.providers[provider].id,
            payer_id=self.payers[payer].id, data={"id": f"E-{pcn}", "date": dos.isoformat()})
        session.add(encounter)
        session.flush()
        claim = m.Claim(organisation_id=oid, encounter_id=encounter.id)
        session.add(claim)
        session.flush()
        version = m.ClaimVersion(
            organisation_id=oid, claim_id=claim.id, version=1, is_current=True, frequency_code="1",
            patient_control_number=pcn, state=state, total_charge=sum((Decimal(c) for c in charges), Decimal(0)))
        session.add(version)
        session.flush()
        if changed is not None:
            version.state_changed_at = changed
        for number, charge in enumerate(charges, start=1):
            session.add(m.ClaimLine(organisation_id=oid, claim_version_id=version.id, line_number=number,
                                    code="97110", modifiers=["GP"], units=Decimal(1), minutes=15,
                                    dx_pointers=[1], charge=Decimal(charge), service_date=dos))
        for findings in scrubs:
            self.scrub(version, findings, ran_at=scrubbed_at)
        session.flush()
        return Made(claim, version, encounter)

    def scrub(self, version: m.ClaimVersion, findings: tuple[Finding, ...], *,
              ran_at: datetime | None = None) -> m.ScrubRun:
        run = m.ScrubRun(organisation_id=self.id, claim_version_id=version.id, as_of=date(2026, 4, 1),
                         ran_at=ran_at or at(date(2026, 4, 1)))
        self.session.add(run)
        self.session.flush()
        for rule, severity, overridden in findings:
            self.session.add(m.FindingRecord(
                organisation_id=self.id, scrub_run_id=run.id, rule=rule, rule_id=RULE_IDS[rule], severity=severity,
                line=1, code="97110", message=f"{rule} message", fix=f"{rule} fix", references=["ref"],
                overridden_by_id=self.user.id if overridden else None,
                override_reason="documented exception" if overridden else None,
                overridden_at=at(date(2026, 4, 2)) if overridden else None))
        self.session.flush()
        return run

    def remit(self, made: Made, *, trace: str, paid: str, status: str = "1", posted: date = date(2026, 4, 20),
              adjustments: tuple[tuple[str, str, str, tuple[str, ...]], ...] = ()) -> m.RemittanceClaim:
        """A posted 835 payment of one claim with claim-level CAS (group, CARC, amount, RARCs)."""
        session, oid = self.session, self.id
        remittance = m.Remittance(organisation_id=oid, trace_number=trace, payer_identifier="1512345678",
                                  payment_amount=Decimal(paid), file_text="ISA~", posted_at=at(posted))
        session.add(remittance)
        session.flush()
        row = m.RemittanceClaim(
            organisation_id=oid, remittance_id=remittance.id,
            patient_control_number=made.version.patient_control_number, status_code=status,
            charge=made.version.total_charge, paid=Decimal(paid), claim_version_id=made.version.id)
        session.add(row)
        session.flush()
        for group, carc, amount, rarcs in adjustments:
            session.add(m.RemittanceAdjustment(organisation_id=oid, remittance_claim_id=row.id, group_code=group,
                                               carc=carc, amount=Decimal(amount), rarcs=list(rarcs)))
        session.flush()
        return row

    def task(self, made: Made, carc: str, *, remit: m.RemittanceClaim | None = None, due: date | None = None,
             resolved: bool = False, assignee: bool = False) -> m.DenialTask:
        row = m.DenialTask(organisation_id=self.id, claim_id=made.claim.id,
                           remittance_claim_id=remit.id if remit is not None else None, carc=carc, due_date=due,
                           assignee_id=self.user.id if assignee else None,
                           resolved_at=at(date(2026, 5, 1)) if resolved else None)
        self.session.add(row)
        self.session.flush()
        return row

    def submit(self, made: Made, *, on: date, isa13: str) -> m.SubmissionBatch:
        batch = m.SubmissionBatch(organisation_id=self.id, x12="ISA~", isa13=isa13, gs06=isa13, st02="0001",
                                  created_at=at(on))
        self.session.add(batch)
        self.session.flush()
        self.session.add(m.SubmissionClaim(organisation_id=self.id, batch_id=batch.id,
                                           claim_version_id=made.version.id))
        self.session.flush()
        return batch
