"""Remittances as the workspace shows them: checking an uploaded file is an 835 before anything is posted, the list
of posted payments, and one payment with what it did to each claim.

Why the upload check is here and not left to ``read_835``: the reader takes a one-line string that does not start
with ISA for a *path* (the CLI passes paths), so an upload holding ``/etc/passwd`` must never reach it as text. An
upload is posted only when it decodes as text, starts with an ISA segment and holds at least one readable 835
payment; otherwise the message says which of those failed, and nothing is written.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select

from cleanclaim.errors import InputError, WrongKindOfFileError
from cleanclaim.formats.x12 import starts_with_isa
from cleanclaim.formats.x12_835 import read_835
from cleanclaim.store import models as m
from cleanclaim.store.queries import AdjustmentView, adjustment_view
from cleanclaim.store.tenant import Tenant
from cleanclaim.store.uploads import upload_text

__all__ = [
    "RemittanceAdjustmentView",
    "RemittanceClaimView",
    "RemittanceDetail",
    "RemittanceRow",
    "find_remittance",
    "read_upload",
    "remittance_count",
    "remittance_detail",
    "remittance_list",
]


AN_835 = "an 835 is an X12 text file that starts with its ISA segment (ISA*00*…)"


def read_upload(data: bytes, name: str) -> str:
    """The text of an uploaded 835: :class:`WrongKindOfFileError` when it is not X12 text at all, InputError when it
    is X12 without a readable 835 payment; both name the file and what was expected."""
    text = upload_text(data, name, expected=AN_835)
    if not starts_with_isa(text):
        raise WrongKindOfFileError(f"this is not an X12 file; {AN_835}", file=name)
    read = read_835(text)
    if not read.advices:
        problems = "; ".join(str(error) for error in read.errors[:3]) or "it holds no 835 transaction (ST*835)"
        raise InputError(f"no payment could be read from this 835, so nothing was posted: {problems}", file=name)
    return text


@dataclass(frozen=True)
class RemittanceRow:
    id: int
    posted_at: datetime
    trace_number: str
    payer_identifier: str
    payment_amount: Decimal
    claims: int
    matched: int
    denials: int
    posted_by_id: int | None
    posted_by: str | None


@dataclass(frozen=True)
class RemittanceAdjustmentView(AdjustmentView):
    """An adjustment as the claim page shows it, and the line it is on."""

    line: str | None
    """The service line's code when the CAS is on a line (None: on the claim)."""


@dataclass(frozen=True)
class RemittanceClaimView:
    patient_control_number: str
    status_code: str
    charge: Decimal
    paid: Decimal
    patient_responsibility: Decimal | None
    claim_id: int | None
    """The workspace claim it was applied to (None: unmatched, its money applied to nothing)."""
    state: str | None
    """The state of the claim version it answered, as it is now."""
    unmatched_reason: str | None
    adjustments: list[RemittanceAdjustmentView]
    denial_task_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class RemittanceDetail:
    row: RemittanceRow
    claims: list[RemittanceClaimView]

    @property
    def unmatched(self) -> list[RemittanceClaimView]:
        return [claim for claim in self.claims if claim.claim_id is None]

    @property
    def matched(self) -> list[RemittanceClaimView]:
        return [claim for claim in self.claims if claim.claim_id is not None]


def _rows(tenant: Tenant, *criteria: object, limit: int | None = None, offset: int = 0) -> list[RemittanceRow]:
    remit, claim, task = m.Remittance, m.RemittanceClaim, m.DenialTask
    organisation = tenant.organisation_id
    counted = (
        select(claim.remittance_id, func.count().label("claims"), func.count(claim.claim_version_id).label("matched"))
        .where(claim.organisation_id == organisation).group_by(claim.remittance_id).subquery())
    denials = (
        select(claim.remittance_id, func.count(task.id).label("denials"))
        .join(task, task.remittance_claim_id == claim.id)
        .where(claim.organisation_id == organisation, task.organisation_id == organisation)
        .group_by(claim.remittance_id).subquery())
    found = tenant.session.execute(
        select(remit.id, remit.posted_at, remit.trace_number, remit.payer_identifier, remit.payment_amount,
               counted.c.claims, counted.c.matched, denials.c.denials, remit.posted_by_id, m.User.email)
        .outerjoin(counted, counted.c.remittance_id == remit.id)
        .outerjoin(denials, denials.c.remittance_id == remit.id)
        .outerjoin(m.User, m.User.id == remit.posted_by_id)
        .where(remit.organisation_id == organisation, *criteria)  # type: ignore[arg-type]
        .order_by(remit.posted_at.desc(), remit.id.desc())
        .limit(limit).offset(offset)
    ).all()
    return [RemittanceRow(r.id, r.posted_at, r.trace_number, r.payer_identifier, r.payment_amount,
                          int(r.claims or 0), int(r.matched or 0), int(r.denials or 0), r.posted_by_id, r.email)
            for r in found]


def remittance_list(tenant: Tenant, *, limit: int | None = None, offset: int = 0) -> list[RemittanceRow]:
    """The organisation's posted payments, newest first (a page of them with ``limit``/``offset``)."""
    return _rows(tenant, limit=limit, offset=offset)


def remittance_count(tenant: Tenant) -> int:
    return tenant.session.scalar(select(func.count()).select_from(m.Remittance).where(
        m.Remittance.organisation_id == tenant.organisation_id)) or 0


def find_remittance(tenant: Tenant, payer_identifier: str, trace_number: str) -> int | None:
    """The id of the payment posted under this TRN key (what "already posted" points to)."""
    return tenant.session.scalars(select(m.Remittance.id).where(
        m.Remittance.organisation_id == tenant.organisation_id, m.Remittance.payer_identifier == payer_identifier,
        m.Remittance.trace_number == trace_number)).first()


def _unposted_reasons(tenant: Tenant, remittance_id: int) -> dict[str, list[str]]:
    """Why each CLP was not applied, as ``store.posting`` recorded it in the payment's audit event."""
    after = tenant.session.scalars(select(m.AuditEvent.after).where(
        m.AuditEvent.organisation_id == tenant.organisation_id, m.AuditEvent.entity == "remittance",
        m.AuditEvent.entity_id == str(remittance_id), m.AuditEvent.action == "post")).first()
    reasons: dict[str, list[str]] = {}
    for number, reason in (after or {}).get("unposted", []):
        reasons.setdefault(str(number), []).append(str(reason))
    return reasons


def remittance_detail(tenant: Tenant, remittance_id: int) -> RemittanceDetail | None:
    """One posted payment: each CLP, the claim it was applied to (or why not), its adjustments and the denial tasks
    it opened; None when the payment is not this organisation's."""
    rows = _rows(tenant, m.Remittance.id == remittance_id)
    if not rows:
        return None
    session, organisation = tenant.session, tenant.organisation_id
    claim, version = m.RemittanceClaim, m.ClaimVersion
    found = session.execute(
        select(claim, version.claim_id, version.state)
        .outerjoin(version, version.id == claim.claim_version_id)
        .where(claim.organisation_id == organisation, claim.remittance_id == remittance_id)
        .order_by(claim.id)).all()
    claim_ids = [row[0].id for row in found]
    lines = {line.id: line.code for line in session.scalars(tenant.select(
        m.RemittanceLine, m.RemittanceLine.remittance_claim_id.in_(claim_ids)))}
    adjustments: dict[int, list[RemittanceAdjustmentView]] = {}
    for adjustment in session.scalars(tenant.select(
            m.RemittanceAdjustment, m.RemittanceAdjustment.remittance_claim_id.in_(claim_ids))
            .order_by(m.RemittanceAdjustment.id)):
        adjustments.setdefault(adjustment.remittance_claim_id, []).append(RemittanceAdjustmentView(
            **asdict(adjustment_view(adjustment)),
            line=lines.get(adjustment.remittance_line_id) if adjustment.remittance_line_id is not None else None))
    tasks: dict[int, list[int]] = {}
    for task_id, remit_claim_id in session.execute(select(m.DenialTask.id, m.DenialTask.remittance_claim_id).where(
            m.DenialTask.organisation_id == organisation, m.DenialTask.remittance_claim_id.in_(claim_ids))):
        if remit_claim_id is not None:
            tasks.setdefault(remit_claim_id, []).append(task_id)
    reasons = _unposted_reasons(tenant, remittance_id)
    views = []
    for remit, claim_id, state in found:
        why: str | None = None
        if remit.claim_version_id is None:
            pending = reasons.get(remit.patient_control_number, [])
            why = pending.pop(0) if pending else "not applied to a claim (no reason was recorded)"
        views.append(RemittanceClaimView(
            remit.patient_control_number, remit.status_code, remit.charge, remit.paid, remit.patient_responsibility,
            claim_id, state, why, adjustments.get(remit.id, []), sorted(tasks.get(remit.id, []))))
    return RemittanceDetail(rows[0], views)

