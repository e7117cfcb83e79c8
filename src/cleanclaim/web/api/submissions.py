"""``/api/v1/submissions``: submit ready claims as one batch (one 837P, `store.submissions.submit_claims`), list the
batches, read one and download its 837P exactly as it was written. The reads are the Submissions pages' own
(``store.batches``), so a batch reads the same in both."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from cleanclaim.lifecycle import WORKS_CLAIMS
from cleanclaim.store.batches import (
    BatchClaim,
    BatchRow,
    batch_claims,
    batch_count,
    batch_detail,
    batch_file,
    batch_list,
)
from cleanclaim.store.claim_files import MEDIA_TYPES
from cleanclaim.store.submissions import submit_claims
from cleanclaim.store.tenant import Tenant
from cleanclaim.web.api.service import MAX_INT, Id, Money, PageInfo, RequestBody, act, documented
from cleanclaim.web.context import Context
from cleanclaim.web.errors import AppError

router = APIRouter(tags=["submissions"], responses=documented(409))

MAX_PAGE = 500
X12_MEDIA_TYPE = MEDIA_TYPES["837p"][0]


class SubmitClaims(RequestBody):
    claim_ids: list[Annotated[int, Field(ge=1, le=MAX_INT)]] = Field(min_length=1, max_length=50_000)


class BatchClaimOut(BaseModel):
    claim_id: int
    version_id: int
    version: int
    patient_control_number: str
    date_of_service: dt.date
    payer_name: str | None
    total_charge: Money
    state: str
    """The state of the version that was sent, as it is now."""


class BatchOut(BaseModel):
    id: int
    isa13: str
    gs06: str
    st02: str
    created_by_id: int | None
    created_at: dt.datetime
    total_charge: Money
    claims: list[BatchClaimOut]
    x12_url: str


class BatchList(BaseModel):
    batches: list[BatchOut]
    page: PageInfo


def _out(row: BatchRow, claims: list[BatchClaim]) -> BatchOut:
    return BatchOut(id=row.id, isa13=row.isa13, gs06=row.gs06, st02=row.st02, created_by_id=row.created_by_id,
                    created_at=row.created_at, total_charge=row.total_charge,
                    claims=[BatchClaimOut(**asdict(claim)) for claim in claims],
                    x12_url=f"/api/v1/submissions/{row.id}/837p")


def _detail(tenant: Tenant, batch_id: int) -> BatchOut:
    found = batch_detail(tenant, batch_id)
    if found is None:
        raise AppError(404, f"submission batch {batch_id} not found")
    return _out(found.row, found.claims)


@router.post("/submissions", response_model=BatchOut, status_code=201)
def create_batch(ctx: Context, body: SubmitClaims) -> BatchOut:
    """Submit ready claims as one batch; any claim that is not ready or cannot be written refuses the batch."""
    batch = act(ctx, WORKS_CLAIMS, "Submitting claims", submit_claims, list(dict.fromkeys(body.claim_ids)))
    return _detail(ctx.tenant, batch.id)


@router.get("/submissions", response_model=BatchList)
def list_batches(ctx: Context, limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
                 offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0) -> BatchList:
    """The organisation's batches, newest first (the Submissions page's list)."""
    rows = batch_list(ctx.tenant, limit=limit, offset=offset)
    claims = batch_claims(ctx.tenant, [row.id for row in rows])
    return BatchList(batches=[_out(row, claims[row.id]) for row in rows],
                     page=PageInfo(total=batch_count(ctx.tenant), limit=limit, offset=offset))


@router.get("/submissions/{batch_id}", response_model=BatchOut)
def get_batch(ctx: Context, batch_id: Id) -> BatchOut:
    return _detail(ctx.tenant, batch_id)


@router.get("/submissions/{batch_id}/837p", response_class=Response,
            responses={200: {"content": {"application/edi-x12": {}}, "description": "The batch's 837P file"}})
def download_837p(ctx: Context, batch_id: Id) -> Response:
    """The 837P file of the batch, byte for byte as submitted."""
    found = batch_file(ctx.tenant, batch_id)
    if found is None:
        raise AppError(404, f"submission batch {batch_id} not found")
    name, text = found
    return Response(text, media_type=X12_MEDIA_TYPE, headers={"Content-Disposition": f'attachment; filename="{name}"'})
