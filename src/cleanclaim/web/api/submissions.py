"""``/api/v1/submissions``: submit ready claims as one batch (one 837P, `store.submissions.submit_claims`), list the
batches, read one and download its 837P exactly as it was written."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from starlette.responses import Response

from cleanclaim.lifecycle import WORKS_CLAIMS
from cleanclaim.store import models as m
from cleanclaim.store.submissions import submit_claims
from cleanclaim.store.tenant import Tenant
from cleanclaim.web.api.service import MAX_INT, Id, PageInfo, actor, answering, documented, require_role
from cleanclaim.web.context import Context
from cleanclaim.web.errors import AppError

router = APIRouter(tags=["submissions"], responses=documented(409))

MAX_PAGE = 500


class SubmitClaims(BaseModel):
    claim_ids: list[Annotated[int, Field(ge=1, le=MAX_INT)]] = Field(min_length=1, max_length=50_000)


class BatchClaim(BaseModel):
    claim_id: int
    version_id: int
    version: int
    patient_control_number: str


class BatchOut(BaseModel):
    id: int
    isa13: str
    gs06: str
    st02: str
    created_by_id: int | None
    created_at: dt.datetime
    claims: list[BatchClaim]
    x12_url: str


class BatchList(BaseModel):
    batches: list[BatchOut]
    page: PageInfo


def _claims(tenant: Tenant, batch_ids: list[int]) -> dict[int, list[BatchClaim]]:
    found: dict[int, list[BatchClaim]] = {batch_id: [] for batch_id in batch_ids}
    version = m.ClaimVersion
    for batch_id, claim_id, version_id, number, pcn in tenant.session.execute(
            select(m.SubmissionClaim.batch_id, version.claim_id, version.id, version.version,
                   version.patient_control_number)
            .join(version, version.id == m.SubmissionClaim.claim_version_id)
            .where(m.SubmissionClaim.organisation_id == tenant.organisation_id,
                   m.SubmissionClaim.batch_id.in_(batch_ids))
            .order_by(m.SubmissionClaim.id)):
        found[batch_id].append(BatchClaim(claim_id=claim_id, version_id=version_id, version=number,
                                          patient_control_number=pcn))
    return found


def _out(batch: m.SubmissionBatch, claims: list[BatchClaim]) -> BatchOut:
    return BatchOut(id=batch.id, isa13=batch.isa13, gs06=batch.gs06, st02=batch.st02,
                    created_by_id=batch.created_by_id, created_at=batch.created_at, claims=claims,
                    x12_url=f"/api/v1/submissions/{batch.id}/837p")


def _batch(tenant: Tenant, batch_id: int) -> m.SubmissionBatch:
    batch = tenant.get(m.SubmissionBatch, batch_id)
    if batch is None:
        raise AppError(404, f"submission batch {batch_id} not found")
    return batch


@router.post("/submissions", response_model=BatchOut, status_code=201)
def create_batch(ctx: Context, body: SubmitClaims) -> BatchOut:
    """Submit ready claims as one batch; any claim that is not ready or cannot be written refuses the batch."""
    require_role(ctx, WORKS_CLAIMS, "Submitting claims")
    with answering():
        batch = submit_claims(ctx.tenant, actor(ctx), list(dict.fromkeys(body.claim_ids)))
    return _out(batch, _claims(ctx.tenant, [batch.id])[batch.id])


@router.get("/submissions", response_model=BatchList)
def list_batches(ctx: Context, limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
                 offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0) -> BatchList:
    """The organisation's batches, newest first."""
    tenant = ctx.tenant
    batches = list(tenant.session.scalars(tenant.select(m.SubmissionBatch).order_by(m.SubmissionBatch.id.desc())
                                          .limit(limit).offset(offset)))
    total = tenant.session.scalar(select(func.count()).select_from(m.SubmissionBatch).where(
        m.SubmissionBatch.organisation_id == tenant.organisation_id)) or 0
    claims = _claims(tenant, [batch.id for batch in batches])
    return BatchList(batches=[_out(batch, claims[batch.id]) for batch in batches],
                     page=PageInfo(total=total, limit=limit, offset=offset))


@router.get("/submissions/{batch_id}", response_model=BatchOut)
def get_batch(ctx: Context, batch_id: Id) -> BatchOut:
    batch = _batch(ctx.tenant, batch_id)
    return _out(batch, _claims(ctx.tenant, [batch.id])[batch.id])


@router.get("/submissions/{batch_id}/837p", response_class=Response,
            responses={200: {"content": {"application/edi-x12": {}}, "description": "The batch's 837P file"}})
def download_837p(ctx: Context, batch_id: Id) -> Response:
    """The 837P file of the batch, byte for byte as submitted."""
    batch = _batch(ctx.tenant, batch_id)
    return Response(batch.x12, media_type="application/edi-x12",
                    headers={"Content-Disposition": f'attachment; filename="batch-{batch.isa13}.837p.x12"'})
