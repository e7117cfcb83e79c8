"""``GET /api/v1/dashboard``: the dashboard's figures (`store.metrics.dashboard`) as JSON."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from cleanclaim.store.metrics import Dashboard, dashboard
from cleanclaim.web.api.service import documented
from cleanclaim.web.context import Context
from cleanclaim.web.errors import AppError

router = APIRouter(tags=["dashboard"], responses=documented(400))


@router.get("/dashboard", response_model=Dashboard)
def figures(ctx: Context, as_of: Annotated[dt.date | None, Query(description="Default: today (UTC)")] = None,
            since: Annotated[dt.date | None, Query(description="Start of the period figures")] = None) -> Dashboard:
    """Clean-claim rate, days to submission, A/R aging, denials by reason and provider, dollars at risk,
    follow-ups due."""
    day = as_of or dt.datetime.now(dt.UTC).date()
    if since is not None and since > day:
        raise AppError(400, f"since ({since}) is after as_of ({day})")
    return dashboard(ctx.tenant, day, since)
