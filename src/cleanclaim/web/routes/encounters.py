"""Encounters: the organisation's list, entering one in a form, importing a file (encounter YAML/JSON or 837P).

After an entry the claim page shows the coded lines with the coder's arithmetic; a file of more than
:data:`IMPORT_JOB_THRESHOLD` encounters is stored as a job whose progress the page polls. A form with a missing or
wrong field comes back (422) with each message next to its field and nothing written; an unreadable file comes back
with a message naming the file and line/row. Reading and coding are ``store.intake``'s.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from starlette.responses import RedirectResponse, Response

from cleanclaim.errors import CleanclaimError, InputError
from cleanclaim.formats.x12_837p import RELATIONSHIP_CODES
from cleanclaim.model import Discipline
from cleanclaim.store.intake import (
    FORM_FIELDS,
    SERVICE_ROWS,
    FormProblemsError,
    billing_provider_defaults,
    encounter_from_form,
    enter_encounters,
    read_encounter_file,
    recent_encounters,
)
from cleanclaim.store.jobs import start_import_job
from cleanclaim.web.context import Context, RequestContext
from cleanclaim.web.errors import AppError
from cleanclaim.web.templating import render

router = APIRouter(tags=["encounters"])

PAGE_SIZE = 50
IMPORT_JOB_THRESHOLD = 200
"""Files with more encounters than this are imported as a job (the page returns at once and shows progress)."""
PAYERS = ("medicare", "medicaid", "commercial", "tricare")


def _list_values(ctx: RequestContext, page: int, **extra: Any) -> dict[str, Any]:
    rows, total = recent_encounters(ctx.tenant, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return {"rows": rows, "total": total, "page": page, "pages": max(1, -(-total // PAGE_SIZE)),
            "import_error": "", "notice": "", "threshold": IMPORT_JOB_THRESHOLD, **extra}


@router.get("/encounters")
def encounters_page(request: Request, ctx: Context, page: int = 1, imported: int = 0) -> Response:
    if page < 1:
        raise AppError(422, f"the page number starts at 1, not {page}")
    notice = f"{imported} encounter(s) imported and coded." if imported else ""
    return render(request, "encounters/list.html", _list_values(ctx, page, notice=notice))


def _form_values(form: dict[str, str], errors: dict[str, str]) -> dict[str, Any]:
    return {"form": form, "errors": errors, "rows": range(1, SERVICE_ROWS + 1), "payers": PAYERS,
            "disciplines": [d.value for d in Discipline], "relationships": list(RELATIONSHIP_CODES)}


@router.get("/encounters/new")
def new_encounter(request: Request, ctx: Context) -> Response:
    start = {"payer": "medicare", "place_of_service": "11", "relationship": "self",
             **billing_provider_defaults(ctx.tenant)}
    return render(request, "encounters/new.html", _form_values(start, {}))


@router.post("/encounters")
async def enter(request: Request, ctx: Context) -> Response:
    submitted = await request.form()
    form = {name: str(submitted.get(name) or "") for name in FORM_FIELDS}
    try:
        encounter = encounter_from_form(form)
        intake = enter_encounters(ctx.tenant, ctx.actor, [encounter])
    except FormProblemsError as problems:
        return render(request, "encounters/new.html", _form_values(form, problems.problems), status_code=422)
    except InputError as error:
        field = error.field if error.field in FORM_FIELDS else "form"
        return render(request, "encounters/new.html", _form_values(form, {field: error.message}), status_code=422)
    claim = intake.claims[0]
    notice = "coded" if claim.claim_id not in intake.not_coded else "not-coded"
    return RedirectResponse(f"/claims/{claim.claim_id}?notice={notice}", status_code=303)


@router.post("/encounters/import")
async def import_file(request: Request, ctx: Context,
                      file: Annotated[UploadFile | None, File()] = None) -> Response:
    if file is None or not file.filename:
        return render(request, "encounters/list.html", _list_values(
            ctx, 1, import_error="Choose a file to import (encounter YAML/JSON or an 837P)."), status_code=422)
    name = file.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    limit = request.app.state.settings.max_upload_bytes
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise AppError(413, f"{name} is larger than the {limit // (1024 * 1024)} MB an upload may be; split it.")
    actor = ctx.actor
    try:
        upload = read_encounter_file(name, content)
        not_read = [str(problem) for problem in upload.problems]
        if len(upload.encounters) > IMPORT_JOB_THRESHOLD:
            job_id = start_import_job(request.app.state.session_factory, ctx.organisation.id, actor,
                                      upload.encounters, not_read=not_read)
            return RedirectResponse(f"/jobs/{job_id}", status_code=303)
        intake = enter_encounters(ctx.tenant, actor, upload.encounters)
    except CleanclaimError as error:
        return render(request, "encounters/list.html", _list_values(ctx, 1, import_error=str(error)),
                      status_code=422)
    if not_read:  # a partial import: say what was stored and name every part that was not
        shown = "; ".join(not_read[:10]) + (f" (and {len(not_read) - 10} more)" if len(not_read) > 10 else "")
        return render(request, "encounters/list.html", _list_values(
            ctx, 1, notice=f"{len(intake.claims)} claim(s) of {name} imported and coded.",
            import_error=f"{len(not_read)} problem(s) in {name}; the encounter or claim a problem names was not "
                         f"imported (unless the problem says its claims were read): {shown}"))
    if len(intake.claims) == 1:
        return RedirectResponse(f"/claims/{intake.claims[0].claim_id}?notice=coded", status_code=303)
    return RedirectResponse(f"/encounters?imported={len(intake.claims)}", status_code=303)
