"""The read side of submission batches: the list, one batch with its claims, and the claims waiting to be sent.

Plain frozen dataclasses, as in ``store.queries``: the pages and the API read them after the session is closed, and
every query names the organisation, so a batch id of another organisation reads as None (the caller answers 404).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select, true

from cleanclaim.lifecycle import ClaimState
from cleanclaim.store import models as m
from cleanclaim.store.tenant import Tenant

__all__ = ["BatchClaim", "BatchDetail", "BatchRow", "batch_claims", "batch_count", "batch_detail", "batch_file",
           "batch_list", "ready_claims"]


@dataclass(frozen=True)
class BatchRow:
    id: int
    created_at: datetime
    isa13: str
    gs06: str
    st02: str
    claims: int
    total_charge: Decimal
    created_by_id: int | None
    created_by: str | None
    """The email of who submitted it (None: the system, or a user since removed)."""


@dataclass(frozen=True)
class BatchClaim:
    """A claim version as it was sent in a batch, and where the claim is now."""

    claim_id: int
    version_id: int
    version: int
    patient_control_number: str
    date_of_service: date
    payer_name: str | None
    total_charge: Decimal
    state: str
    """The state of the version that was sent (submitted until a remittance or a correction moves it)."""


@dataclass(frozen=True)
class BatchDetail:
    row: BatchRow
    claims: list[BatchClaim]


def _rows(tenant: Tenant, *criteria: object, limit: int | None = None, offset: int = 0) -> list[BatchRow]:
    batch, link, version = m.SubmissionBatch, m.SubmissionClaim, m.ClaimVersion
    counted = (
        select(link.batch_id, func.count().label("claims"), func.coalesce(func.sum(version.total_charge), 0)
               .label("total"))
        .join(version, version.id == link.claim_version_id)
        .where(link.organisation_id == tenant.organisation_id)
        .group_by(link.batch_id)
        .subquery()
    )
    found = tenant.session.execute(
        select(batch.id, batch.created_at, batch.isa13, batch.gs06, batch.st02, counted.c.claims, counted.c.total,
               batch.created_by_id, m.User.email)
        .outerjoin(counted, counted.c.batch_id == batch.id)
        .outerjoin(m.User, m.User.id == batch.created_by_id)
        .where(batch.organisation_id == tenant.organisation_id, *criteria)  # type: ignore[arg-type]
        .order_by(batch.created_at.desc(), batch.id.desc())
        .limit(limit).offset(offset)
    ).all()
    return [BatchRow(row.id, row.created_at, row.isa13, row.gs06, row.st02, int(row.claims or 0),
                     Decimal(row.total or 0), row.created_by_id, row.email) for row in found]


def batch_list(tenant: Tenant, *, limit: int | None = None, offset: int = 0) -> list[BatchRow]:
    """The organisation's batches, newest first (a page of them with ``limit``/``offset``)."""
    return _rows(tenant, limit=limit, offset=offset)


def batch_count(tenant: Tenant) -> int:
    return tenant.session.scalar(select(func.count()).select_from(m.SubmissionBatch).where(
        m.SubmissionBatch.organisation_id == tenant.organisation_id)) or 0


def batch_claims(tenant: Tenant, batch_ids: Sequence[int]) -> dict[int, list[BatchClaim]]:
    """The claim versions each batch sent (one query for all the batches), by patient control number."""
    found: dict[int, list[BatchClaim]] = {batch_id: [] for batch_id in batch_ids}
    if not batch_ids:
        return found
    version, encounter = m.ClaimVersion, m.EncounterRecord
    for row in tenant.session.execute(
            select(m.SubmissionClaim.batch_id, version.claim_id, version.id, version.version,
                   version.patient_control_number, encounter.date_of_service, m.Payer.name, version.total_charge,
                   version.state)
            .join(version, version.id == m.SubmissionClaim.claim_version_id)
            .join(m.Claim, m.Claim.id == version.claim_id)
            .join(encounter, encounter.id == m.Claim.encounter_id)
            .outerjoin(m.Payer, m.Payer.id == encounter.payer_id)
            .where(m.SubmissionClaim.organisation_id == tenant.organisation_id,
                   m.SubmissionClaim.batch_id.in_(batch_ids))
            .order_by(version.patient_control_number)):
        found[row[0]].append(BatchClaim(*row[1:]))
    return found


def batch_detail(tenant: Tenant, batch_id: int) -> BatchDetail | None:
    """One batch and the claim versions it sent, or None when it is not this organisation's."""
    rows = _rows(tenant, m.SubmissionBatch.id == batch_id)
    if not rows:
        return None
    return BatchDetail(rows[0], batch_claims(tenant, [batch_id])[batch_id])


def batch_file(tenant: Tenant, batch_id: int) -> tuple[str, str] | None:
    """(file name, 837P text) of a batch, or None when it is not this organisation's."""
    batch = tenant.get(m.SubmissionBatch, batch_id)
    if batch is None:
        return None
    return f"cleanclaim-837p-{batch.isa13}.x12", batch.x12


def ready_claims(tenant: Tenant, *, limit: int = 500) -> list[BatchClaim]:
    """Claims whose current version is ready to be sent, oldest service date first (at most ``limit``: a batch
    larger than that is split by choosing again)."""
    version, encounter = m.ClaimVersion, m.EncounterRecord
    rows = tenant.session.execute(
        select(version.claim_id, version.id, version.version, version.patient_control_number,
               encounter.date_of_service, m.Payer.name, version.total_charge, version.state)
        .join(m.Claim, m.Claim.id == version.claim_id)
        .join(encounter, encounter.id == m.Claim.encounter_id)
        .outerjoin(m.Payer, m.Payer.id == encounter.payer_id)
        .where(version.organisation_id == tenant.organisation_id, version.is_current == true(),
               version.state == ClaimState.READY.value)
        .order_by(encounter.date_of_service, version.id)
        .limit(limit)
    ).all()
    return [BatchClaim(*row) for row in rows]
