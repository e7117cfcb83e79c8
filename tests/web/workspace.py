"""Claims of an organisation in every interesting state, made through the services (never by writing rows), for the
page tests and the tenant-isolation test: a coded claim, a scrubbed claim with an error finding, a denied claim with
its denial task, its submission batch and remittance, and a finished scrub job."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Engine, select

from cleanclaim.lifecycle import Role
from cleanclaim.store import models as m
from cleanclaim.store.claims import Actor, current_version, import_encounters, mark_ready, scrub_claims
from cleanclaim.store.database import session_factory
from cleanclaim.store.jobs import start_scrub_job
from cleanclaim.store.posting import post_remittance
from cleanclaim.store.remittance_file import PaidClaim, PaidLine, remittance_text
from cleanclaim.store.submissions import SubmissionSettingsInput, save_submission_settings, submit_claims
from cleanclaim.store.tenant import Tenant
from tests.store.services import encounter
from tests.web.conftest import Org

AS_OF = dt.date(2026, 3, 20)
DELETED_CODE_LINE = {"code": "96150", "units": 1, "dx_pointers": [1], "charge": 50}
"""96150 was deleted on 2020-01-01: the scrub finds an error (deleted-code) on this line."""


@dataclass(frozen=True)
class Workspace:
    coded: int
    flagged: int
    """Scrubbed, with a standing error finding (deleted-code)."""
    denied: int
    finding: int
    """An error finding of ``flagged``'s latest scrub."""
    job: int
    batch: int
    remittance: int
    task: int
    numbers: dict[str, str]
    """claim kind -> its patient control number (to check a page does not show it)."""


def build(engine: Engine, org: Org) -> Workspace:
    tag = uuid.uuid4().hex[:6].upper()
    biller = Actor(org.user_id(Role.BILLER), Role.BILLER)
    factory = session_factory(engine)
    with factory() as session:
        tenant = Tenant(session, org.id)
        save_submission_settings(tenant, Actor(org.user_id(Role.ADMIN), Role.ADMIN), SubmissionSettingsInput(
            sender_id="HARBORPT", receiver_id="CLEARHOUSE", receiver_name="Example Clearinghouse",
            submitter_name="Harbor PT Billing", submitter_contact="Jo Biller", submitter_phone="2175550100"))
        numbers = {"coded": f"CO-{tag}", "flagged": f"FL-{tag}", "denied": f"DN-{tag}"}
        coded, flagged, denied = import_encounters(tenant, biller, [
            encounter(numbers["coded"]), encounter(numbers["flagged"], lines=[DELETED_CODE_LINE]),
            encounter(numbers["denied"])])
        scrub_claims(tenant, biller, [denied.claim_id], as_of=AS_OF)
        mark_ready(tenant, biller, denied.claim_id)
        batch = submit_claims(tenant, biller, [denied.claim_id])
        version = current_version(tenant, denied.claim_id)
        text = remittance_text([PaidClaim(numbers["denied"], "4", f"PCN{tag}", [
            PaidLine(line.code, tuple(line.modifiers), line.charge, Decimal(0), line.units, line.service_date,
                     (("CO", "50", line.charge),)) for line in version.lines])],
            trace_number=f"TRN{tag}", payer_identifier="1512345678", payer_name="MEDICARE", payee_name="HARBOR",
            payee_npi="1234567893", paid_on=dt.date(2026, 4, 1))
        posting = post_remittance(session, org.id, text, user_id=biller.id)
        assert posting.errors == []
        session.commit()
        batch_id = batch.id
    job = start_scrub_job(factory, org.id, biller, [flagged.claim_id], wait=True)  # the flagged claim's scrub
    with factory() as session:
        finding = session.scalars(
            select(m.FindingRecord.id).join(m.ScrubRun, m.ScrubRun.id == m.FindingRecord.scrub_run_id)
            .join(m.ClaimVersion, m.ClaimVersion.id == m.ScrubRun.claim_version_id)
            .where(m.ClaimVersion.claim_id == flagged.claim_id, m.FindingRecord.severity == "error")).first()
        remittance = session.scalars(select(m.Remittance.id).where(m.Remittance.organisation_id == org.id)).one()
        task = session.scalars(select(m.DenialTask.id).where(m.DenialTask.claim_id == denied.claim_id)).first()
    assert finding is not None and task is not None
    return Workspace(coded.claim_id, flagged.claim_id, denied.claim_id, finding, job, batch_id, remittance, task,
                     numbers)
