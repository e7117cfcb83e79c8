"""``/api/v1/remittances``: upload an 835 and post it (`store.posting.post_remittance`), read what was posted.

Posting is idempotent (a payment already posted, by its TRN trace and payer, is reported ``already_posted`` and
changes nothing). The upload is checked by content before anything is read: UTF-8 text that starts with an ISA
segment. A file of which no claim matches a claim of the organisation (and nothing was posted before) is refused
with 422 and nothing is stored: it is the wrong file or the wrong organisation, not a remittance to keep.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import PurePath
from typing import Annotated

from fastapi import APIRouter, Query, UploadFile
from pydantic import BaseModel
from sqlalchemy import func, select

from cleanclaim.lifecycle import WORKS_CLAIMS
from cleanclaim.store import models as m
from cleanclaim.store.posting import post_remittance
from cleanclaim.web.api.service import MAX_INT, Id, Money, PageInfo, answering, documented, require_role
from cleanclaim.web.context import Context
from cleanclaim.web.errors import AppError

router = APIRouter(tags=["remittances"], responses=documented(415))

MAX_PAGE = 500


class Unposted(BaseModel):
    patient_control_number: str
    reason: str


class PaymentOut(BaseModel):
    trace_number: str
    payer_identifier: str
    already_posted: bool
    posted: dict[str, str]
    """Patient control number -> the claim's new state."""
    unposted: list[Unposted]


class PostingOut(BaseModel):
    payments: list[PaymentOut]
    errors: list[dict[str, object]]
    """Parts of the file that could not be read (the rest was posted)."""


class RemittanceOut(BaseModel):
    id: int
    trace_number: str
    payer_identifier: str
    payment_amount: Money
    posted_by_id: int | None
    posted_at: dt.datetime
    claims: int
    matched: int


class RemittanceList(BaseModel):
    remittances: list[RemittanceOut]
    page: PageInfo


@router.post("/remittances", response_model=PostingOut)
def upload_835(ctx: Context, file: UploadFile) -> PostingOut:
    """Post every payment of an 835 file."""
    require_role(ctx, WORKS_CLAIMS, "Posting a remittance")
    name = PurePath(file.filename or "upload.835").name or "upload.835"
    data = file.file.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise AppError(415, f"{name}: not UTF-8 or ASCII text (byte {error.start}); an 835 is an X12 text file",
                       details={"file": name}) from error
    if not text.lstrip(" \r\n\t").startswith("ISA"):
        raise AppError(415, f"{name}: an 835 starts with its ISA segment; this file does not", details={"file": name})
    with answering():
        result = post_remittance(ctx.session, ctx.organisation.id, text, user_id=ctx.user.id, role=ctx.role,
                                 file=name)
    errors = [{k: v for k, v in e.to_dict().items() if v is not None} for e in result.errors]
    if not result.payments:
        raise AppError(422, f"{name}: no payment could be read from this 835, nothing was posted", details=errors,
                       code="invalid_input")
    if not any(payment.posted or payment.already_posted for payment in result.payments):
        unposted = [{"patient_control_number": pcn, "reason": why}
                    for payment in result.payments for pcn, why in payment.unposted]
        raise AppError(422, f"{name}: none of its {len(unposted)} claim(s) is a claim of this organisation waiting "
                            "for a payer's answer, so nothing was posted (is it another organisation's file?)",
                       code="no_matching_claims", details={"unposted": unposted, "errors": errors})
    return PostingOut(payments=[PaymentOut(
        trace_number=p.trace_number, payer_identifier=p.payer_identifier, already_posted=p.already_posted,
        posted=p.posted, unposted=[Unposted(patient_control_number=pcn, reason=why) for pcn, why in p.unposted])
        for p in result.payments], errors=errors)


def _counts(ctx: Context, ids: list[int]) -> dict[int, tuple[int, int]]:
    claim = m.RemittanceClaim
    found = dict.fromkeys(ids, (0, 0))
    for remittance_id, total, matched in ctx.session.execute(
            select(claim.remittance_id, func.count(), func.count(claim.claim_version_id))
            .where(claim.organisation_id == ctx.organisation.id, claim.remittance_id.in_(ids))
            .group_by(claim.remittance_id)):
        found[remittance_id] = (total, matched)
    return found


def _out(row: m.Remittance, counts: tuple[int, int]) -> RemittanceOut:
    return RemittanceOut(id=row.id, trace_number=row.trace_number, payer_identifier=row.payer_identifier,
                         payment_amount=row.payment_amount or Decimal(0), posted_by_id=row.posted_by_id,
                         posted_at=row.posted_at, claims=counts[0], matched=counts[1])


@router.get("/remittances", response_model=RemittanceList)
def list_remittances(ctx: Context, limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
                     offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0) -> RemittanceList:
    tenant = ctx.tenant
    rows = list(tenant.session.scalars(tenant.select(m.Remittance).order_by(m.Remittance.id.desc())
                                       .limit(limit).offset(offset)))
    total = tenant.session.scalar(select(func.count()).select_from(m.Remittance).where(
        m.Remittance.organisation_id == tenant.organisation_id)) or 0
    counts = _counts(ctx, [row.id for row in rows])
    return RemittanceList(remittances=[_out(row, counts[row.id]) for row in rows],
                          page=PageInfo(total=total, limit=limit, offset=offset))


@router.get("/remittances/{remittance_id}", response_model=RemittanceOut)
def get_remittance(ctx: Context, remittance_id: Id) -> RemittanceOut:
    row = ctx.tenant.get(m.Remittance, remittance_id)
    if row is None:
        raise AppError(404, f"remittance {remittance_id} not found")
    return _out(row, _counts(ctx, [row.id])[row.id])
