"""``/api/v1/remittances``: upload an 835 and post it (`store.posting.post_remittance`), read what was posted.

Posting is idempotent (a payment already posted, by its TRN trace and payer, is reported ``already_posted`` and
changes nothing). The upload is checked by content before anything is posted, by the pages' own check
(``store.remittances.read_upload``): not X12 text at all is 415, X12 without a readable payment 422. A file of which
no claim matches a claim of the organisation (and nothing was posted before) is refused with 422 and nothing is
stored: it is the wrong file or the wrong organisation, not a remittance to keep. The reads are the pages' too
(``remittance_list``, ``remittance_detail``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import PurePath
from typing import Annotated

from fastapi import APIRouter, Query, UploadFile
from pydantic import BaseModel

from cleanclaim.lifecycle import WORKS_CLAIMS
from cleanclaim.store.posting import post_remittance
from cleanclaim.store.remittances import (
    RemittanceRow,
    read_upload,
    remittance_count,
    remittance_detail,
    remittance_list,
)
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
    denials: int
    """Denial follow-up tasks the payment opened."""


class RemittanceList(BaseModel):
    remittances: list[RemittanceOut]
    page: PageInfo


@router.post("/remittances", response_model=PostingOut)
def upload_835(ctx: Context, file: UploadFile) -> PostingOut:
    """Post every payment of an 835 file."""
    require_role(ctx, WORKS_CLAIMS, "Posting a remittance")
    name = PurePath(file.filename or "upload.835").name or "upload.835"
    with answering():
        text = read_upload(file.file.read(), name)
        result = post_remittance(ctx.session, ctx.organisation.id, text, user_id=ctx.user.id, role=ctx.role,
                                 file=name)
    errors = [{k: v for k, v in e.to_dict().items() if v is not None} for e in result.errors]
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


def _out(row: RemittanceRow) -> RemittanceOut:
    return RemittanceOut(id=row.id, trace_number=row.trace_number, payer_identifier=row.payer_identifier,
                         payment_amount=row.payment_amount, posted_by_id=row.posted_by_id, posted_at=row.posted_at,
                         claims=row.claims, matched=row.matched, denials=row.denials)


@router.get("/remittances", response_model=RemittanceList)
def list_remittances(ctx: Context, limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
                     offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0) -> RemittanceList:
    """The organisation's posted payments, newest first (the Remittances page's list)."""
    return RemittanceList(remittances=[_out(row) for row in remittance_list(ctx.tenant, limit=limit, offset=offset)],
                          page=PageInfo(total=remittance_count(ctx.tenant), limit=limit, offset=offset))


@router.get("/remittances/{remittance_id}", response_model=RemittanceOut)
def get_remittance(ctx: Context, remittance_id: Id) -> RemittanceOut:
    found = remittance_detail(ctx.tenant, remittance_id)
    if found is None:
        raise AppError(404, f"remittance {remittance_id} not found")
    return _out(found.row)
