"""Posting an 835 into the workspace: payments, adjustments, claim states and denial tasks, once.

`cleanclaim.posting` decides what each CLP means; this module writes it. Each payment of the file (one BPR/TRN)
is posted in its own savepoint, and the first row written is the remittance itself, whose key (organisation,
TRN03 payer identifier, TRN02 trace number) is unique in the database. So posting the same 835 again finds the key
and changes nothing, and two people posting it at the same moment cannot both succeed: the second insert fails on
the key (or waits for the first on SQLite) and is reported as already posted.

A CLP that matches no claim of the organisation waiting for a payer decision is stored unmatched with the reason
(a biller looks at it), never dropped; its money is not applied to any claim.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from cleanclaim.errors import InputError
from cleanclaim.formats.remittance_codes import remittance_codes
from cleanclaim.formats.x12_835 import (
    Adjustment,
    RemitClaim,
    RemitLine,
    RemittanceAdvice,
    adjustment_kind,
    read_835,
)
from cleanclaim.lifecycle import ANSWERABLE, Action, Role, transition
from cleanclaim.model import ClaimLine
from cleanclaim.posting import PostedClaim, plan_posting
from cleanclaim.store import models as m
from cleanclaim.store.audit import record
from cleanclaim.store.tenant import Tenant

__all__ = ["PaymentPosting", "RemittancePosting", "post_remittance"]


@dataclass
class PaymentPosting:
    """What happened to one payment (BPR/TRN) of the file."""

    trace_number: str
    payer_identifier: str
    already_posted: bool = False
    posted: dict[str, str] = field(default_factory=dict)
    """Claim id (patient control number) -> the claim's new state."""
    unposted: list[tuple[str, str]] = field(default_factory=list)
    """(claim id, why it was not applied to a claim)."""


@dataclass
class RemittancePosting:
    payments: list[PaymentPosting]
    errors: list[InputError]
    """Parts of the file that could not be read (reported by the 835 reader); the rest was posted."""


def post_remittance(session: Session, organisation_id: int, text: str, *, user_id: int | None,
                    role: Role | str = Role.BILLER, file: str | None = None) -> RemittancePosting:
    """Post every payment of an 835 for one organisation; commit is the caller's (one transaction per request)."""
    tenant = Tenant(session, organisation_id)
    remittance = read_835(text)
    payments = [_post_payment(tenant, advice, text, user_id=user_id, role=Role(role))
                for advice in remittance.advices]
    errors = list(remittance.errors)
    if file is not None:
        for error in errors:
            error.file = error.file or file
    return RemittancePosting(payments, errors)


def _post_payment(tenant: Tenant, advice: RemittanceAdvice, text: str, *, user_id: int | None,
                  role: Role) -> PaymentPosting:
    session = tenant.session
    result = PaymentPosting(advice.trace_number, advice.payer_identifier)
    key = (m.Remittance.payer_identifier == advice.payer_identifier,
           m.Remittance.trace_number == advice.trace_number)
    # The insert comes before any read: on SQLite a transaction that read first cannot take the write lock once
    # another writer committed ("database is locked"), while one that writes first waits for it (busy timeout).
    try:
        with session.begin_nested():
            remittance = tenant.add(m.Remittance(
                trace_number=advice.trace_number, payer_identifier=advice.payer_identifier,
                payment_amount=advice.payment_amount if advice.payment_amount is not None else Decimal(0),
                file_text=text, posted_by_id=user_id))
            session.flush()  # the key first: a concurrent post of the same payment stops here
            _apply(tenant, remittance, advice, result, user_id=user_id, role=role)
    except IntegrityError:
        if session.scalars(tenant.select(m.Remittance, *key)).first() is None:
            raise
        result = PaymentPosting(advice.trace_number, advice.payer_identifier, already_posted=True)
    return result


def _apply(tenant: Tenant, remittance: m.Remittance, advice: RemittanceAdvice, result: PaymentPosting, *,
           user_id: int | None, role: Role) -> None:
    """Write the payment's CLPs, then their SVCs, then the CAS, tasks and audit events: three flushes for the whole
    payment, whatever its size, so a 5,000-claim 835 is a few batched INSERTs per table instead of a round trip
    per row (issue 12: a 5,000-claim remittance posts in <= 5 s)."""
    session = tenant.session
    numbers = sorted({claim.patient_control_number for claim in advice.claims})
    versions = {version.patient_control_number: version for version in session.scalars(tenant.select(
        m.ClaimVersion, m.ClaimVersion.is_current.is_(True), m.ClaimVersion.patient_control_number.in_(numbers),
        m.ClaimVersion.state.in_([state.value for state in ANSWERABLE])).options(
        selectinload(m.ClaimVersion.lines)))}
    plan = plan_posting(advice, {number: _billed(version) for number, version in versions.items()})
    claims: list[tuple[RemitClaim, m.ClaimVersion | None, PostedClaim | None, m.RemittanceClaim]] = []
    for unposted in plan.unposted:
        claims.append((unposted.remit, None, None, _remit_claim(tenant, remittance, unposted.remit, None)))
        result.unposted.append((unposted.remit.patient_control_number, unposted.reason))
    moves: list[tuple[PostedClaim, m.ClaimVersion, str]] = []
    for posted in plan.posted:
        version = versions[posted.claim_id]
        before = version.state
        version.state = transition(before, Action.POST, role=role, to=posted.outcome).value
        claims.append((posted.remit, version, posted, _remit_claim(tenant, remittance, posted.remit, version)))
        moves.append((posted, version, before))
        result.posted[posted.claim_id] = version.state
    session.flush()  # the CLPs' ids, for their SVCs
    lines: list[tuple[m.RemittanceClaim, RemitLine, RemitClaim, m.RemittanceLine]] = []
    for claim, matched_version, answer, row in claims:
        billed_ids = {line.line_number: line.id for line in matched_version.lines} if matched_version else {}
        matched = answer.lines if answer is not None else [None] * len(claim.lines)
        for remit_line, match in zip(claim.lines, matched, strict=True):
            lines.append((row, remit_line, claim, tenant.add(m.RemittanceLine(
                remittance_claim_id=row.id, code=remit_line.code, modifiers=list(remit_line.modifiers),
                charge=remit_line.charge, paid=remit_line.paid, units=remit_line.units,
                service_date=remit_line.date,
                claim_line_id=billed_ids.get(match.billed.line_number) if match and match.billed else None))))
    session.flush()  # the SVCs' ids, for their CAS
    for row, remit_line, claim, line_row in lines:
        _adjustments(tenant, row.id, line_row.id, remit_line.adjustments, [*remit_line.remarks, *claim.remarks])
    for claim, _version, _posted, row in claims:
        _adjustments(tenant, row.id, None, claim.adjustments, claim.remarks)
    open_tasks = _open_tasks(tenant, [version.claim_id for _posted, version, _before in moves])
    rows = {id(claim): row for claim, _version, _posted, row in claims}
    for posted, version, before in moves:
        _denial_tasks(tenant, version, rows[id(posted.remit)], posted.remit, open_tasks)
        record(session, organisation_id=tenant.organisation_id, user_id=user_id, entity="claim_version",
               entity_id=version.id, action="post",
               before={"state": before}, after={"state": version.state, "trace_number": advice.trace_number,
                                                "paid": posted.remit.paid, "denied": posted.denied})
    record(session, organisation_id=tenant.organisation_id, user_id=user_id, entity="remittance",
           entity_id=remittance.id, action="post",
           after={"trace_number": advice.trace_number, "payer_identifier": advice.payer_identifier,
                  "claims_posted": len(plan.posted), "claims_unposted": len(plan.unposted)})


@dataclass(frozen=True)
class _StoredClaim:
    """A stored claim version as the line matcher reads a billed claim (x12_835.BilledClaim)."""

    id: str
    date: dt.date
    lines: list[ClaimLine]


def _billed(version: m.ClaimVersion) -> _StoredClaim:
    lines = [ClaimLine(code=line.code, modifiers=list(line.modifiers), units=line.units, date=line.service_date)
             for line in version.lines]
    first = min((line.service_date for line in version.lines), default=dt.date.min)
    return _StoredClaim(version.patient_control_number, first, lines)


def _remit_claim(tenant: Tenant, remittance: m.Remittance, claim: RemitClaim,
                 version: m.ClaimVersion | None) -> m.RemittanceClaim:
    return tenant.add(m.RemittanceClaim(
        remittance_id=remittance.id, patient_control_number=claim.patient_control_number, status_code=claim.status,
        charge=claim.charge, paid=claim.paid, patient_responsibility=claim.patient_responsibility,
        payer_claim_control_number=claim.payer_claim_number or None,
        claim_version_id=version.id if version is not None else None))


def _adjustments(tenant: Tenant, claim_id: int, line_id: int | None, adjustments: Sequence[Adjustment],
                 remarks: Sequence[str]) -> None:
    for adjustment in adjustments:
        tenant.add(m.RemittanceAdjustment(
            remittance_claim_id=claim_id, remittance_line_id=line_id, group_code=adjustment.group,
            carc=adjustment.reason, amount=adjustment.amount, rarcs=list(remarks)))


def _open_tasks(tenant: Tenant, claim_ids: list[int]) -> set[tuple[int, str]]:
    """(claim id, CARC) of the open denial tasks of these claims, read once for the whole payment."""
    if not claim_ids:
        return set()
    task = m.DenialTask
    return {(claim_id, carc) for claim_id, carc in tenant.session.execute(select(task.claim_id, task.carc).where(
        task.organisation_id == tenant.organisation_id, task.claim_id.in_(sorted(set(claim_ids))),
        task.resolved_at.is_(None)))}


def _denial_tasks(tenant: Tenant, version: m.ClaimVersion, row: m.RemittanceClaim, claim: RemitClaim,
                  open_tasks: set[tuple[int, str]]) -> None:
    """One follow-up task per denial reason (CARC) of the claim, for the denial worklist; open tasks of the same
    claim and reason are not repeated when a later remittance denies it again."""
    codes = remittance_codes()
    reasons = sorted({a.reason for a in [*claim.adjustments, *(a for line in claim.lines for a in line.adjustments)]
                      if adjustment_kind(a, codes) == "denial"})
    for carc in reasons:
        if (version.claim_id, carc) not in open_tasks:
            tenant.add(m.DenialTask(claim_id=version.claim_id, remittance_claim_id=row.id, carc=carc))
            open_tasks.add((version.claim_id, carc))
