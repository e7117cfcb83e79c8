"""``create_app``: the workspace as one ASGI app: pages at ``/``, static files at ``/static``, the API at
``/api/v1`` (its OpenAPI document also at ``/openapi.json``).

Middleware, outermost first: :class:`~cleanclaim.web.security.SecurityHeaders` (request id, headers, logging, the
last safety net), :class:`~cleanclaim.web.security.UploadLimit`; then FastAPI's routing and error handlers.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.engine import URL
from starlette.responses import JSONResponse

from cleanclaim.store.database import make_engine, session_factory
from cleanclaim.store.sign_in_limits import SignInLimit
from cleanclaim.web import errors
from cleanclaim.web.api import create_api
from cleanclaim.web.context import refuse_nul_parameters
from cleanclaim.web.routes import PAGE_ROUTERS
from cleanclaim.web.security import SecurityHeaders, UploadLimit
from cleanclaim.web.settings import WebSettings
from cleanclaim.web.templating import STATIC_DIR


def create_app(database: Engine | URL | str, *, settings: WebSettings | None = None) -> FastAPI:
    """The app on an engine (or a database URL). The database must be migrated already (``cleanclaim serve`` does
    it on start): the app never changes the schema."""
    chosen = settings or WebSettings()
    engine = database if isinstance(database, Engine) else make_engine(database)
    sessions = session_factory(engine)
    state: dict[str, Any] = {
        "engine": engine,
        "session_factory": sessions,
        "settings": chosen,
        "throttle": SignInLimit(sessions, max_failures=chosen.login_max_failures, window=chosen.login_window),
    }
    app = FastAPI(title="cleanclaim workspace", openapi_url=None, docs_url=None, redoc_url=None,
                  dependencies=[Depends(refuse_nul_parameters)])
    for key, value in state.items():
        setattr(app.state, key, value)
    app.state.is_api = False
    errors.install(app)
    for router in PAGE_ROUTERS:
        app.include_router(router)
    api = create_api(state)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_document() -> JSONResponse:
        return JSONResponse(api.openapi())

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/api/v1", api)
    app.add_middleware(UploadLimit, max_bytes=chosen.max_upload_bytes, respond=errors.respond)
    app.add_middleware(SecurityHeaders, respond=errors.respond)
    return app
