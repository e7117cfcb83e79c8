"""``GET /api/v1/jobs/{job_id}``: the progress of long work (a batch scrub) started by another request."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from cleanclaim.store.jobs import job_status
from cleanclaim.web.api.service import Id, answering
from cleanclaim.web.context import Context

router = APIRouter(tags=["jobs"])


class JobOut(BaseModel):
    id: int
    kind: str
    state: str
    """queued, running, done or failed."""
    total: int
    done: int
    message: str | None
    result: dict[str, Any] | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


@router.get("/jobs/{job_id}", response_model=JobOut)
def get_job(ctx: Context, job_id: Id) -> JobOut:
    with answering():
        job = job_status(ctx.tenant, job_id)
    return JobOut(id=job.id, kind=job.kind, state=job.state, total=job.total, done=job.done, message=job.message,
                  result=job.result, created_at=job.created_at, started_at=job.started_at,
                  finished_at=job.finished_at)
