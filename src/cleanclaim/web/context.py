"""Who is asking, in one dependency: every page and API route gets its database session, user, organisation and
tenant from :func:`context`, so no route can reach the store without being scoped to the user's organisation.

* **One transaction per request** (:func:`database`): committed when the route returns, rolled back when it raises
  or answers with an error status (a form shown again with its problems writes nothing). ``scope="function"``
  makes the commit happen before the response is sent, so a failed commit is a 500, never a lost success.
* **Pages** authenticate with the session cookie and must send the session's CSRF token back on every unsafe
  method (a form's hidden ``csrf_token`` field or htmx's ``X-CSRF-Token`` header). **The API** authenticates with a
  bearer token only; browsers never send that header by themselves, so it needs no CSRF token.
* **Roles**: ``require(Role.BILLER, Role.ADMIN)`` as a parameter's dependency; an auditor reads everything and
  changes nothing, refused here for every unsafe method whatever the route declares.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.responses import Response

from cleanclaim.lifecycle import Role
from cleanclaim.store.accounts import authenticate_token, find_web_session
from cleanclaim.store.claims import Actor
from cleanclaim.store.models import Organisation, User
from cleanclaim.store.tenant import Tenant
from cleanclaim.web.errors import AppError
from cleanclaim.web.security import UNSAFE_METHODS
from cleanclaim.web.settings import WebSettings

__all__ = [
    "ANONYMOUS_CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "Admin",
    "Context",
    "RequestContext",
    "Who",
    "anonymous_csrf",
    "context",
    "database",
    "require",
    "set_cookie",
    "signed_in",
]

SESSION_COOKIE = "cc_session"
ANONYMOUS_CSRF_COOKIE = "cc_csrf"
"""The sign-in form's CSRF token before anyone is signed in (double-submit: the form must echo the cookie)."""
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
CSRF_REFUSED = ("This form has expired or did not come from this site, so nothing was changed. Reload the page and "
                "try again.")

_bearer = HTTPBearer(auto_error=False, description="An API token (cc_…) made on the Admin page.")


@dataclass(frozen=True)
class Who:
    """Who is signed in, as plain values: what the layout shows, still readable after the request's transaction was
    rolled back (an error page is rendered after that, when the ORM rows are expired)."""

    user_id: int
    email: str
    role: Role
    organisation_id: int
    organisation_name: str


@dataclass(frozen=True)
class RequestContext:
    """Everything a route may use to answer: the tenant-bound session, who asks, for which organisation."""

    session: Session
    tenant: Tenant
    user: User
    organisation: Organisation
    role: Role
    via: Literal["browser", "token"]
    csrf_token: str
    """The session's CSRF token for the page's forms ('' for an API request)."""
    who: Who

    @property
    def actor(self) -> Actor:
        """Who acts, as the store's services take it (their role checks and the audit trail's user)."""
        return Actor(self.user.id, self.role)


def settings_of(request: Request) -> WebSettings:
    settings: WebSettings = request.app.state.settings
    return settings


def database(request: Request) -> Iterator[Session]:
    """The request's session and its one transaction (see the module docstring)."""
    session: Session = request.app.state.session_factory()
    try:
        yield session
        if getattr(request.state, "failed", False):
            session.rollback()
        else:
            session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


Database = Annotated[Session, Depends(database, scope="function")]


async def submitted_csrf(request: Request) -> str | None:
    """The CSRF token the request sent back: the header (htmx) or the form field; None on safe methods and API."""
    if request.method not in UNSAFE_METHODS or request.app.state.is_api:
        return None
    header = request.headers.get(CSRF_HEADER)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        # no field of any form may hold a NUL: PostgreSQL stores none (an override reason or a note with one was a
        # 500 there); refused before any route reads the form (an uploaded file is checked by store.uploads)
        for name, value in form.multi_items():
            if isinstance(value, str) and "\x00" in value:
                raise AppError(422, f"The form field {name[:40]!r} holds a NUL character, which no field may hold; "
                                    "remove it and send the form again.")
        if not header:
            token = form.get(CSRF_FIELD)
            return token if isinstance(token, str) else None
    return header or None


Submitted = Annotated[str | None, Depends(submitted_csrf)]


def refuse_nul_parameters(request: Request) -> None:
    """No query or path parameter of any page or API route may hold a NUL (``?q=%00``): PostgreSQL compares and
    stores no such text (a claim-list search with one was a 500 there). Refused as a 422 naming the parameter, on
    both databases, before the route runs; bodies are checked by the form check above and the API's RequestBody."""
    for name, value in (*request.query_params.multi_items(), *request.path_params.items()):
        if (isinstance(value, str) and "\x00" in value) or "\x00" in name:
            raise AppError(422, f"The parameter {name[:40].replace(chr(0), '')!r} holds a NUL character, which no "
                                "parameter may hold; remove it and ask again.", code="invalid_input")


def _same(submitted: str | None, expected: str | None) -> bool:
    return bool(submitted) and bool(expected) and secrets.compare_digest(str(submitted), str(expected))


def anonymous_csrf(request: Request, submitted: Submitted) -> None:
    """The sign-in form's check (no session yet): the form must echo the ``cc_csrf`` cookie set with the form."""
    if request.method in UNSAFE_METHODS and not _same(submitted, request.cookies.get(ANONYMOUS_CSRF_COOKIE)):
        raise AppError(403, CSRF_REFUSED, code="csrf_failed")


def _authenticate(request: Request, session: Session, submitted: str | None,
                  bearer: HTTPAuthorizationCredentials | None) -> tuple[User, str, Literal["browser", "token"]]:
    if request.app.state.is_api:
        found_token = authenticate_token(session, bearer.credentials) if bearer is not None else None
        if found_token is None:
            raise AppError(401, "A valid API token is needed: send 'Authorization: Bearer cc_…' with a token made "
                                "on the Admin page (it may have been revoked, or its user deactivated).",
                           headers={"WWW-Authenticate": "Bearer"})
        request.state.api_token_id = found_token[0].id  # a token may not revoke itself (web.api.tokens)
        return found_token[1], "", "token"
    found = find_web_session(session, request.cookies.get(SESSION_COOKIE, ""))
    if found is None:
        raise AppError(401, "Please sign in.")
    web_session, user = found
    if request.method in UNSAFE_METHODS and not _same(submitted, web_session.csrf_token):
        raise AppError(403, CSRF_REFUSED, code="csrf_failed")
    return user, web_session.csrf_token, "browser"


def signed_in(*, own_session: bool = False) -> Callable[..., RequestContext]:
    """The context dependency. ``own_session=True`` only for signing out: an auditor may end their own session,
    which is the one unsafe request an auditor makes."""

    def resolve(request: Request, session: Database, submitted: Submitted,
                bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> RequestContext:
        user, csrf_token, via = _authenticate(request, session, submitted, bearer)
        organisation = session.get(Organisation, user.organisation_id)
        if organisation is None:  # the foreign key makes this impossible; refuse rather than guess
            raise AppError(401, "Please sign in.")
        role = Role(user.role)
        request.state.user_id = user.id
        if role is Role.AUDITOR and request.method in UNSAFE_METHODS and not own_session:
            raise AppError(403, "An auditor reads everything and changes nothing: this needs a biller or an admin.")
        ctx = RequestContext(session=session, tenant=Tenant(session, organisation.id), user=user,
                             organisation=organisation, role=role, via=via, csrf_token=csrf_token,
                             who=Who(user.id, user.email, role, organisation.id, organisation.name))
        request.state.context = ctx
        return ctx

    return resolve


context = signed_in()
Context = Annotated[RequestContext, Depends(context)]


def require(*roles: Role) -> Any:
    """``ctx: Annotated[RequestContext, require(Role.ADMIN)]``: the context, or 403 for any other role."""
    allowed = frozenset(roles)
    names = " or ".join(sorted(role.value for role in allowed))

    def check(ctx: Context) -> RequestContext:
        if ctx.role not in allowed:
            raise AppError(403, f"This needs the role {names}; you are signed in as {ctx.role.value}.")
        return ctx

    return Depends(check)


Admin = Annotated[RequestContext, require(Role.ADMIN)]
"""The context of an admin's request (users, tokens, payers, charge master); 403 for every other role."""


def set_cookie(response: Response, request: Request, name: str, value: str, *, max_age: int | None,
               path: str = "/", same_site: Literal["lax", "strict"] = "lax") -> None:
    """A cookie as the workspace sets them all: HttpOnly, SameSite, and Secure over https (or when configured)."""
    configured = settings_of(request).secure_cookies
    secure = request.url.scheme == "https" if configured is None else configured
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True, samesite=same_site, secure=secure)
