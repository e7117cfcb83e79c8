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
from cleanclaim.store.submissions import save_submission_settings, submission_settings
from cleanclaim.web.context import Admin, RequestContext
from cleanclaim.web.envelope import TEXT_FIELDS, max_length, settings_input, too_long
from cleanclaim.web.forms import FormErrors
from cleanclaim.web.templating import render

router = APIRouter(prefix="/admin", tags=["admin"])
PAGE = "admin/submission_settings.html"
NOTICES = {"saved": "The submission settings were saved: the next batch's 837P carries them."}


def _values(ctx: RequestContext, **extra: Any) -> dict[str, Any]:
    settings = submission_settings(ctx.tenant)
    form: dict[str, Any] = {field: getattr(settings, field) or "" for field in TEXT_FIELDS} if settings else {}
    if settings is not None:
        form["production"] = settings.usage == "P"
    return {"settings": settings, "form": form, "errors": {}, "notice": "",
            "lengths": {field: max_length(field) for field in TEXT_FIELDS}, **extra}


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
    if not errors:
        with errors.collecting(InputError):
            save_submission_settings(ctx.tenant, ctx.actor, settings_input(values, production=usage == "P"))
    if errors:
        return errors.render(request, PAGE, _values(ctx, form={**values, "production": usage == "P"}))
    return RedirectResponse("/admin/submission-settings?notice=saved", status_code=303)
