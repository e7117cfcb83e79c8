"""Remittances: the posted 835 payments, uploading an 835 and posting it (``store.posting.post_remittance``), and
one payment's page.

The upload is size-limited by the frame (``UploadLimit``) and checked by content here (``store.remittances
.read_upload``) before anything is posted; a file that is not an 835 is a message on the page and writes nothing.
The same payment posted again (same TRN) is reported as already posted and changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from starlette.responses import Response

from cleanclaim.errors import InputError
from cleanclaim.store.posting import post_remittance
from cleanclaim.store.remittances import (
    RemittanceDetail,
    find_remittance,
    read_upload,
    remittance_detail,
    remittance_list,
)
from cleanclaim.web.context import RequestContext
from cleanclaim.web.errors import AppError
from cleanclaim.web.forms import FormErrors
from cleanclaim.web.routes.money import Reader, Worker
from cleanclaim.web.templating import render

router = APIRouter(prefix="/remittances", tags=["remittances"])
LIST = "remittances/list.html"


@dataclass(frozen=True)
class PostedPayment:
    """One payment of the uploaded file as the result page shows it."""

    trace_number: str
    payer_identifier: str
    already_posted: bool
    remittance_id: int | None
    detail: RemittanceDetail | None


def _values(ctx: RequestContext, **extra: Any) -> dict[str, Any]:
    return {"remittances": remittance_list(ctx.tenant), "errors": {}, **extra}


@router.get("")
def remittances_page(request: Request, ctx: Reader) -> Response:
    return render(request, LIST, _values(ctx))


@router.post("")
async def upload(request: Request, ctx: Worker, file: Annotated[UploadFile | None, File()] = None) -> Response:
    errors = FormErrors()
    if file is None or not file.filename:
        errors.add("file", "choose the 835 file to upload")
        return errors.render(request, LIST, _values(ctx))
    name = file.filename
    data = await file.read()
    try:
        text = read_upload(data, name)
    except InputError as error:
        errors.add("file", str(error))
        return errors.render(request, LIST, _values(ctx))
    posting = post_remittance(ctx.session, ctx.organisation.id, text, user_id=ctx.user.id, role=ctx.role,
                              file=name)
    payments = []
    for payment in posting.payments:
        found = find_remittance(ctx.tenant, payment.payer_identifier, payment.trace_number)
        payments.append(PostedPayment(payment.trace_number, payment.payer_identifier, payment.already_posted,
                                      found, remittance_detail(ctx.tenant, found) if found is not None else None))
    return render(request, "remittances/result.html",
                  {"file_name": name, "payments": payments, "problems": [str(e) for e in posting.errors]})


@router.get("/{remittance_id}")
def remittance_page(request: Request, ctx: Reader, remittance_id: int) -> Response:
    detail = remittance_detail(ctx.tenant, remittance_id)
    if detail is None:
        raise AppError(404, "There is no such remittance in your organisation.")
    return render(request, "remittances/detail.html", {"remittance": detail})
