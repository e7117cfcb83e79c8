"""Sign-in and sign-out.

A failed sign-in says only that the email or password is not right (whether the email exists is not revealed, see
``store.accounts.authenticate``); five failures for one email from one client within 15 minutes make the form
answer 429 until the window has passed (``store.sign_in_limits``, in the database so that every worker
process counts the same failures).
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from cleanclaim.store.accounts import authenticate, end_web_session, normalise_email, start_web_session
from cleanclaim.store.sign_in_limits import SignInLimit
from cleanclaim.web.context import (
    ANONYMOUS_CSRF_COOKIE,
    SESSION_COOKIE,
    Database,
    RequestContext,
    anonymous_csrf,
    set_cookie,
    settings_of,
    signed_in,
)
from cleanclaim.web.forms import FormErrors
from cleanclaim.web.templating import render

router = APIRouter(tags=["sign-in"])
TEMPLATE = "sign_in.html"


def _safe_next(target: str | None) -> str:
    """Only a path of this site: an open redirect after sign-in is a phishing tool."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


def _form(request: Request, *, next_path: str, email: str = "", status_code: int = 200, message: str = "",
          errors: FormErrors | None = None) -> Response:
    token = request.cookies.get(ANONYMOUS_CSRF_COOKIE) or secrets.token_urlsafe(32)
    request.state.csrf_token = token
    values = {"next": next_path, "email": email, "message": message}
    response = errors.render(request, TEMPLATE, values) if errors else render(request, TEMPLATE, values,
                                                                               status_code=status_code)
    set_cookie(response, request, ANONYMOUS_CSRF_COOKIE, token, max_age=3600, path="/sign-in", same_site="strict")
    return response


@router.get("/sign-in")
def sign_in_page(request: Request, next: str | None = None) -> Response:
    return _form(request, next_path=_safe_next(next))


@router.post("/sign-in", dependencies=[Depends(anonymous_csrf)])
def sign_in(request: Request, session: Database, email: Annotated[str, Form()] = "",
            password: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/") -> Response:
    next_path = _safe_next(next)
    errors = FormErrors()
    errors.require(email=email, password=password)
    if errors:
        return _form(request, next_path=next_path, email=email, errors=errors)
    throttle: SignInLimit = request.app.state.throttle
    address = normalise_email(email)
    client = request.client.host if request.client else "unknown"
    wait = throttle.retry_after(session, address, client)
    if wait is not None:
        minutes = (wait + 59) // 60
        response = _form(request, next_path=next_path, email=email, status_code=429,
                         message=f"Too many failed sign-ins for this email from this computer. Try again in "
                                 f"{minutes} minute{'s' if minutes != 1 else ''}, or ask an admin to check the "
                                 "account.")
        response.headers["Retry-After"] = str(wait)
        return response
    user = authenticate(session, address, password)
    if user is None:
        throttle.failed(address, client)
        return _form(request, next_path=next_path, email=email, status_code=400,
                     message="The email or password is not right.")
    throttle.succeeded(session, address, client)
    signed = start_web_session(session, user, lifetime=settings_of(request).session_lifetime)
    response = RedirectResponse(next_path, status_code=303)
    set_cookie(response, request, SESSION_COOKIE, signed.cookie_value,
               max_age=int(settings_of(request).session_lifetime.total_seconds()))
    response.delete_cookie(ANONYMOUS_CSRF_COOKIE, path="/sign-in")
    return response


@router.post("/sign-out")
def sign_out(request: Request, ctx: Annotated[RequestContext, Depends(signed_in(own_session=True))]) -> Response:
    end_web_session(ctx.session, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
