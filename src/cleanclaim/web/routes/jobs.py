"""A long job's progress: the page, and the fragment htmx polls every second until the job is done or failed
(``jobs/_progress.html``, the progress macro's pattern). Another organisation's job id is a 404."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from cleanclaim.store.claims import NotFoundError
from cleanclaim.store.jobs import job_status
from cleanclaim.web.context import Context
from cleanclaim.web.errors import AppError
from cleanclaim.web.templating import is_htmx, render

router = APIRouter(tags=["jobs"])


@router.get("/jobs/{job_id}")
def job_page(request: Request, ctx: Context, job_id: int) -> Response:
    try:
        job = job_status(ctx.tenant, job_id)
    except NotFoundError as error:
        raise AppError(404, "There is no such job in your organisation.") from error
    return render(request, "jobs/_progress.html" if is_htmx(request) else "jobs/page.html", {"job": job})
