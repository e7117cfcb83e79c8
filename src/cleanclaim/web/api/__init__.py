"""The REST API under ``/api/v1``: its own FastAPI app (mounted by ``create_app``), so it has its own OpenAPI
document (``/api/v1/openapi.json``) and answers every error as JSON ``{"error": {"code", "message", "details"}}``.

Authentication is a bearer token (``Authorization: Bearer cc_…``, made on the Admin page) through the same
:func:`~cleanclaim.web.context.context` dependency as the pages. Resources are one module each, registered in
``API_ROUTERS``; a later slice adds its module there.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI

from cleanclaim.web import errors
from cleanclaim.web.api import (
    charge_master,
    claims,
    dashboard,
    denials,
    encounters,
    jobs,
    me,
    payers,
    remittances,
    rules,
    submission_settings,
    submissions,
    tokens,
    users,
)
from cleanclaim.web.context import refuse_nul_parameters

API_ROUTERS: tuple[APIRouter, ...] = (
    me.router, rules.router, encounters.router, claims.router, submissions.router, remittances.router,
    denials.router, jobs.router, dashboard.router, charge_master.router, payers.router, tokens.router,
    users.router, submission_settings.router)
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": {"application/json": {"example": {"error": {
        "code": errors.CODES[status], "message": description, "details": None}}}}}
    for status, description in ((401, "No valid API token"), (403, "The token's user may not do this"),
                                (404, "Not found (or of another organisation)"), (413, "Request body too large"))
}


def create_api(state: dict[str, Any]) -> FastAPI:
    """The API app, sharing ``state`` (engine, session factory, settings) with the pages' app."""
    api = FastAPI(title="cleanclaim workspace API", version="1", docs_url=None, redoc_url=None,
                  dependencies=[Depends(refuse_nul_parameters)],
                  openapi_url="/openapi.json", responses=ERROR_RESPONSES, servers=[{"url": "/api/v1"}],
                  description="The billing workspace's REST API. Authenticate with an API token made on the Admin "
                              "page: `Authorization: Bearer cc_…`. Errors are `{\"error\": {\"code\", \"message\", "
                              "\"details\"}}`.")
    for key, value in state.items():
        setattr(api.state, key, value)
    api.state.is_api = True
    errors.install(api)
    for router in API_ROUTERS:
        api.include_router(router)
    return api
