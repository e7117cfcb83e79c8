"""What every response and every request body goes through, as plain ASGI middleware (so it also covers the
static files, the API and the error pages, which a route dependency would not).

* :class:`SecurityHeaders`: a request id, the security headers, ``no-store`` on everything but static files (pages
  show patient data; a shared computer's browser cache must not keep them), and one log line per request with the
  request id and the user id only: never the query string (a search may hold a patient's name) nor a body.
* :class:`UploadLimit`: refuses a body over the limit with 413, before reading it when ``Content-Length`` says so,
  and after at most the limit when it does not (chunked): a 50 MB upload is never held in memory.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cleanclaim.errors import UNFORESEEN
from cleanclaim.isolation import where

log = logging.getLogger("cleanclaim.web")

STATIC_PREFIX = "/static/"
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",  # htmx is served from here; no inline script anywhere
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
))
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


ErrorResponder = Callable[[Request, HTTPException], Awaitable[Response]]


class SecurityHeaders:
    """Also the last safety net: an unexpected exception is logged by type and place only (its text may quote a
    patient value, SQL parameters in particular) and answered by ``respond`` with a 500 naming the request id;
    it is not re-raised, so the server does not log its text either."""

    def __init__(self, app: ASGIApp, *, respond: ErrorResponder) -> None:
        self.app = app
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        static = scope["path"].startswith(STATIC_PREFIX)
        https = scope.get("scheme") == "https"
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                headers["X-Request-ID"] = request_id
                headers["Cache-Control"] = "public, max-age=3600" if static else "no-store"
                if not static:
                    headers["Pragma"] = "no-cache"
                if https:
                    headers["Strict-Transport-Security"] = "max-age=31536000"
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except UNFORESEEN as exc:  # the safety net is the point
            log.error("request_id=%s unexpected %s%s", request_id, type(exc).__name__, where(exc))
            if not response_started:
                response = await self.respond(Request(scope), HTTPException(
                    500, f"An unexpected error stopped this request (request id {request_id}); nothing was saved. "
                         "Please report the id."))
                await response(scope, receive, send_with_headers)
        finally:
            if not static:
                # path without the query string; ids in paths are the ones the user gave, never names
                log.info("request_id=%s method=%s path=%s status=%s user_id=%s ms=%.1f", request_id,
                         scope.get("method"), scope["path"], status, state.get("user_id"),
                         (time.perf_counter() - started) * 1000)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The upload is larger than the limit of {_megabytes(limit)}. Split the file, or ask "
                              "the administrator to raise CLEANCLAIM_MAX_UPLOAD_MB.")


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


class UploadLimit:
    """``max_bytes`` per request body; ``respond`` renders the 413 as the rest of the app renders its errors."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, respond: ErrorResponder) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        declared = Request(scope).headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = await self.respond(Request(scope), BodyTooLarge(self.max_bytes))
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # raised inside the route's body parsing: the app's handler for HTTPException renders it
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)
