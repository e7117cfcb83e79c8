"""Admin: the organisation's 837P envelope (sender and receiver ids, receiver name, submitter and its contact, test
or production), without which no batch can be submitted. Admins only, as the payers and charge master pages: the
envelope decides where every claim file goes, so every other role gets 403.

Thin over ``store.submissions.save_submission_settings``: its refusal comes back (422) on the field it names, and
nothing is written. The interchange control number (ISA13) is the store's counter, shown and never edited here.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from cleanclaim.errors import InputError
from cleanclaim.store.envelope import TEXT_FIELDS, max_length, settings_input, too_long, unwritable
from cleanclaim.store.submissions import save_submission_settings, submission_settings
from cleanclaim.web.context import Admin, RequestContext
from cleanclaim.web.forms import FormErrors
from cleanclaim.web.templating import render

router = APIRouter(prefix="/admin", tags=["admin"])
PAGE = "admin/submission_settings.html"
NOTICES = {"saved": "The submission settings were saved: the next batch's 837P carries them."}
LABELS = {"sender_id": "Sender id (ISA06 / GS02)", "receiver_id": "Receiver id (ISA08 / GS03)",
          "receiver_name": "Receiver name (1000B)", "submitter_name": "Submitter name (1000A)",
          "submitter_contact": "Submitter contact person", "submitter_phone": "Contact phone",
          "submitter_email": "Contact email", "usage": "Usage (ISA15)"}
PLACEHOLDERS = {"sender_id": "HARBORPT", "receiver_id": "CLEARHOUSE", "receiver_name": "Example Clearinghouse",
                "submitter_name": "Harbor PT Billing", "submitter_contact": "Jo Biller",
                "submitter_phone": "2175550100", "submitter_email": "billing@example.test"}


def _values(ctx: RequestContext, **extra: Any) -> dict[str, Any]:
    settings = submission_settings(ctx.tenant)
    form: dict[str, Any] = {field: getattr(settings, field) or "" for field in TEXT_FIELDS} if settings else {}
    if settings is not None:
        form["production"] = settings.usage == "P"
    return {"settings": settings, "form": form, "errors": {}, "notice": "",
            "lengths": {field: max_length(field) for field in TEXT_FIELDS}, "labels": LABELS,
            "placeholders": PLACEHOLDERS, **extra}


@router.get("/submission-settings")
def settings_page(request: Request, ctx: Admin, notice: str = "") -> Response:
    return render(request, PAGE, _values(ctx, notice=NOTICES.get(notice, "")))


@router.post("/submission-settings")
def save_settings(request: Request, ctx: Admin, sender_id: Annotated[str, Form()] = "",
                  receiver_id: Annotated[str, Form()] = "", receiver_name: Annotated[str, Form()] = "",
                  submitter_name: Annotated[str, Form()] = "", submitter_contact: Annotated[str, Form()] = "",
                  submitter_phone: Annotated[str, Form()] = "", submitter_email: Annotated[str, Form()] = "",
                  usage: Annotated[str, Form()] = "T") -> Response:
    values: dict[str, str | None] = {
        "sender_id": sender_id, "receiver_id": receiver_id, "receiver_name": receiver_name,
        "submitter_name": submitter_name, "submitter_contact": submitter_contact,
        "submitter_phone": submitter_phone, "submitter_email": submitter_email}
    errors = FormErrors()
    for field, message in too_long(values).items():
        errors.add(field, message)
    if usage not in ("T", "P"):
        errors.add("usage", "choose test or production")
    given = settings_input(values, production=usage == "P")
    for field, message in unwritable(given).items():
        errors.add(field, f"{LABELS[field]}: {message}")
    if not errors:
        try:
            save_submission_settings(ctx.tenant, ctx.actor, given)
        except InputError as refused:  # the store's rule, on its field, named (the form's summary lists it too)
            field = refused.field or "form"
            errors.add(field, f"{LABELS[field]}: {refused.message}" if field in LABELS else refused.message)
    if errors:
        return errors.render(request, PAGE, _values(ctx, form={**values, "production": usage == "P"}))
    return RedirectResponse("/admin/submission-settings?notice=saved", status_code=303)
