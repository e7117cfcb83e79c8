"""Admin: the organisation's charge master (upload a CSV that replaces it, see it) and its payers (electronic payer id,
name, payer profile; add one, edit its name or profile, and its id while no encounter bills it). Admins only: the
pages decide what every claim is charged and which rules a payer's claims meet, so every other role gets 403.

Thin over ``store.charges`` and ``store.payers``; a refused upload or form comes back (422) with the message that
names the file and row, or the field, and nothing written (the request's transaction is rolled back).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from starlette.responses import RedirectResponse, Response

from cleanclaim.errors import InputError
from cleanclaim.store.accounts import user_emails
from cleanclaim.store.charges import charge_master_entries, replace_charge_master
from cleanclaim.store.claims import ConflictError, NotFoundError
from cleanclaim.store.payers import (
    PAYER_NAME_MAX,
    add_payer,
    billed_encounters,
    edit_payer,
    organisation_payers,
    payer_profiles,
)
from cleanclaim.web.context import Admin, RequestContext
from cleanclaim.web.errors import AppError
from cleanclaim.web.forms import FormErrors
from cleanclaim.web.templating import render

router = APIRouter(prefix="/admin", tags=["admin"])
CHARGES = "admin/charge_master.html"
PAYERS = "admin/payers.html"


def _charge_values(ctx: RequestContext, **extra: Any) -> dict[str, Any]:
    users = user_emails(ctx.tenant)
    return {"entries": charge_master_entries(ctx.tenant), "users": users, "errors": {}, "change": None, **extra}


@router.get("/charge-master")
def charge_master_page(request: Request, ctx: Admin) -> Response:
    return render(request, CHARGES, _charge_values(ctx))


@router.post("/charge-master")
async def upload_charge_master(request: Request, ctx: Admin,
                               file: Annotated[UploadFile | None, File()] = None) -> Response:
    errors = FormErrors()
    if file is None or not file.filename:
        errors.add("file", "choose the charge master CSV (code,charge[,modifier]) to upload")
        return errors.render(request, CHARGES, _charge_values(ctx))
    name = file.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    try:
        change = replace_charge_master(ctx.tenant, ctx.actor, await file.read(), source=name)
    except InputError as error:
        errors.add("file", str(error))
        return errors.render(request, CHARGES, _charge_values(ctx))
    return render(request, CHARGES, _charge_values(ctx, change=change, file_name=name))


def _payer_values(ctx: RequestContext, **extra: Any) -> dict[str, Any]:
    return {"payers": organisation_payers(ctx.tenant), "billed": billed_encounters(ctx.tenant),
            "profiles": payer_profiles(), "name_max": PAYER_NAME_MAX, "errors": {}, "form": {}, "notice": "", **extra}


PAYER_NOTICES = {"added": "The payer was added.", "edited": "The payer was changed."}


@router.get("/payers")
def payers_page(request: Request, ctx: Admin, notice: str = "") -> Response:
    return render(request, PAYERS, _payer_values(ctx, notice=PAYER_NOTICES.get(notice, "")))


@router.post("/payers")
def add_payer_form(request: Request, ctx: Admin, payer_id: Annotated[str, Form()] = "",
                   name: Annotated[str, Form()] = "", profile_id: Annotated[str, Form()] = "") -> Response:
    errors = FormErrors()
    errors.require(payer_id=payer_id, name=name, profile_id=profile_id)
    if not errors:
        with errors.collecting(InputError):
            add_payer(ctx.tenant, ctx.actor, payer_id=payer_id, name=name, profile_id=profile_id)
    if errors:
        return errors.render(request, PAYERS, _payer_values(
            ctx, form={"payer_id": payer_id, "name": name, "profile_id": profile_id}))
    return RedirectResponse("/admin/payers?notice=added", status_code=303)


@router.post("/payers/{payer_row_id}")
def edit_payer_form(request: Request, ctx: Admin, payer_row_id: int, name: Annotated[str, Form()] = "",
                    profile_id: Annotated[str, Form()] = "",
                    payer_id: Annotated[str | None, Form()] = None) -> Response:
    """Save a payer's row; ``payer_id`` is on the row only while no encounter bills the payer (absent: kept)."""
    errors = FormErrors()
    try:
        with errors.collecting(InputError, suffix=f"_{payer_row_id}"):
            edit_payer(ctx.tenant, ctx.actor, payer_row_id, name=name, profile_id=profile_id, payer_id=payer_id)
    except NotFoundError as missing:
        raise AppError(404, "There is no such payer in your organisation.") from missing
    except ConflictError as problem:  # the id of a payer that encounters bill: shown in the id's place
        errors.add(f"payer_id_{payer_row_id}", str(problem))
        return errors.render(request, PAYERS, _payer_values(ctx), status_code=409)
    if errors:
        return errors.render(request, PAYERS, _payer_values(ctx))
    return RedirectResponse("/admin/payers?notice=edited", status_code=303)
