"""Submission batches: the list, sending ready claims as one batch (``store.submissions.submit_claims``), a batch's
page with its claims, and its 837P as a download.

A batch the writer refuses is shown on the form with the claim and what is missing; nothing is written (the service
runs in one savepoint, and the page answering 422 rolls the request back)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from cleanclaim.errors import CleanclaimError
from cleanclaim.store.batches import batch_detail, batch_file, batch_list, ready_claims
from cleanclaim.store.claim_files import MEDIA_TYPES
from cleanclaim.store.claims import NotFoundError
from cleanclaim.store.submissions import submission_settings, submit_claims
from cleanclaim.web.context import RequestContext
from cleanclaim.web.errors import AppError
from cleanclaim.web.forms import FormErrors
from cleanclaim.web.routes.money import Reader, Worker
from cleanclaim.web.templating import render

router = APIRouter(prefix="/submissions", tags=["submissions"])
LIST = "submissions/list.html"
X12_MEDIA_TYPE = MEDIA_TYPES["837p"][0]


def _values(ctx: RequestContext, **extra: Any) -> dict[str, Any]:
    return {"batches": batch_list(ctx.tenant), "ready": ready_claims(ctx.tenant), "chosen": [], "errors": {},
            "has_settings": submission_settings(ctx.tenant) is not None, **extra}


@router.get("")
def submissions_page(request: Request, ctx: Reader) -> Response:
    return render(request, LIST, _values(ctx))


@router.post("")
def create_batch(request: Request, ctx: Worker,
                 claim_id: Annotated[list[str] | None, Form()] = None) -> Response:
    chosen = [value.strip() for value in claim_id or [] if value.strip()]
    errors = FormErrors()
    if not chosen:
        errors.add("claim_id", "choose at least one ready claim to put in the batch")
    elif not all(value.isdigit() for value in chosen):
        errors.add("claim_id", "a claim is chosen by its number; reload the page and choose again")
    if not errors:
        try:
            batch = submit_claims(ctx.tenant, ctx.actor, [int(value) for value in chosen])
        except NotFoundError as error:
            raise AppError(404, f"There is no such claim in your organisation ({error}).") from error
        except CleanclaimError as error:  # not ready, refused by the 837P writer, no submission settings
            errors.add("claim_id", str(error))
        else:
            return RedirectResponse(f"/submissions/{batch.id}?created=1", status_code=303)
    return errors.render(request, LIST, _values(ctx, chosen=chosen))


@router.get("/{batch_id}")
def batch_page(request: Request, ctx: Reader, batch_id: int, created: int = 0) -> Response:
    detail = batch_detail(ctx.tenant, batch_id)
    if detail is None:
        raise AppError(404, "There is no such submission batch in your organisation.")
    return render(request, "submissions/detail.html", {"batch": detail, "created": bool(created)})


@router.get("/{batch_id}/837p")
def download_837p(ctx: Reader, batch_id: int) -> Response:
    found = batch_file(ctx.tenant, batch_id)
    if found is None:
        raise AppError(404, "There is no such submission batch in your organisation.")
    name, text = found
    return Response(text, media_type=X12_MEDIA_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
