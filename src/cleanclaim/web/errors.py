"""How the app answers when a request cannot be served: an HTML page for a person, JSON for ``/api/v1``.

The JSON shape is ``{"error": {"code", "message", "details"}}`` whatever the status. A 401 on a page sends the
person to the sign-in page and back; anything not found *or of another organisation* is the same 404, so an id
reveals nothing. An unexpected exception is logged with its type, place and the request id only (its text may quote
a patient value, SQL parameters in particular) and answered with a 500 that names the request id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from cleanclaim.web.templating import render

API_PREFIX = "/api/"
CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
}
TITLES = {
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    413: "Upload too large",
    422: "Something is missing",
    429: "Too many attempts",
    500: "Something went wrong",
}


class AppError(HTTPException):
    """An HTTP error with a machine-readable code and details for the API (the page shows the message)."""

    def __init__(self, status_code: int, message: str, *, code: str | None = None, details: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code, message, headers=headers)
        self.code = code or CODES.get(status_code, "error")
        self.details = details


def wants_json(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def error_json(status: int, message: str, *, code: str | None = None, details: Any = None,
               headers: Mapping[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code or CODES.get(status, "error"), "message": message,
                      "details": jsonable_encoder(details)}}
    return JSONResponse(body, status_code=status, headers=dict(headers) if headers else None)


async def respond(request: Request, exc: HTTPException) -> Response:
    """The error response for ``exc``, as JSON or as a page."""
    message = str(exc.detail)
    code = getattr(exc, "code", None)
    details = getattr(exc, "details", None)
    if wants_json(request):
        return error_json(exc.status_code, message, code=code, details=details, headers=exc.headers)
    if exc.status_code == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/sign-in?next={quote(target, safe='')}", status_code=303)
    response = render(request, "error.html", {
        "status": exc.status_code, "title": TITLES.get(exc.status_code, "Error"), "message": message,
    }, status_code=exc.status_code)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [{"field": ".".join(str(p) for p in error.get("loc", ()) if p != "body"), "problem": error.get("msg")}
                for error in exc.errors()]
    message = "; ".join(f"{p['field']}: {p['problem']}" for p in problems) or "the request is not valid"
    return await respond(request, AppError(422, message, details=problems))


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return await respond(request, exc)


async def _unexpected(request: Request, exc: Exception) -> Response:
    """The API's 500 as JSON (``SecurityHeaders`` logs it, and answers the pages' own)."""
    request_id = getattr(request.state, "request_id", "")
    return await respond(request, AppError(500, f"An unexpected error stopped this request (request id "
                                                f"{request_id}); nothing was saved. Please report the id."))


def install(app: FastAPI) -> None:
    """Register the error handlers on ``app`` (the pages' app and the API's)."""
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(Exception, _unexpected)
