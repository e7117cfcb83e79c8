"""Admin: the organisation's users (create with a role, deactivate) and API tokens (create: shown once; revoke).

Everything here goes through the request's tenant, so a user or token id of another organisation is a 404, and
every change lands in the audit trail (``store.accounts``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from cleanclaim.lifecycle import Role
from cleanclaim.store.accounts import (
    MIN_PASSWORD_LENGTH,
    AccountError,
    create_api_token,
    create_user,
    deactivate_user,
    organisation_tokens,
    organisation_users,
    revoke_api_token,
)
from cleanclaim.web.context import Admin, RequestContext
from cleanclaim.web.errors import AppError
from cleanclaim.web.forms import FormErrors
from cleanclaim.web.templating import render

router = APIRouter(prefix="/admin", tags=["admin"])
TEMPLATE = "admin/index.html"
NOTICES = {
    "user-created": "The user was created. Give them their password by a channel other than email.",
    "user-deactivated": "The user was deactivated: their sessions and API tokens stopped working.",
    "token-revoked": "The token was revoked; requests with it are refused from now on.",
}


def _values(ctx: RequestContext, **extra: Any) -> dict[str, Any]:
    users = organisation_users(ctx.tenant)
    emails = {user.id: user.email for user in users}
    tokens = organisation_tokens(ctx.tenant)
    return {"users": users, "tokens": tokens, "emails": emails, "roles": [role.value for role in Role],
            "min_password_length": MIN_PASSWORD_LENGTH, "errors": {}, "form": {}, **extra}


@router.get("")
def admin_page(request: Request, ctx: Admin, notice: str = "") -> Response:
    return render(request, TEMPLATE, _values(ctx, notice=NOTICES.get(notice, "")))


@router.post("/users")
def add_user(request: Request, ctx: Admin, email: Annotated[str, Form()] = "",
             password: Annotated[str, Form()] = "", role: Annotated[str, Form()] = "") -> Response:
    errors = FormErrors()
    errors.require(email=email, password=password, role=role)
    if not errors:
        with errors.collecting(AccountError):
            create_user(ctx.tenant, email=email, password=password, role=role, actor_id=ctx.user.id)
    if errors:
        return errors.render(request, TEMPLATE, _values(ctx, form={"email": email, "role": role}))
    return RedirectResponse("/admin?notice=user-created", status_code=303)


@router.post("/users/{user_id}/deactivate")
def deactivate(request: Request, ctx: Admin, user_id: int) -> Response:
    try:
        user = deactivate_user(ctx.tenant, user_id, actor_id=ctx.user.id)
    except AccountError as problem:
        raise AppError(409, str(problem)) from problem
    if user is None:
        raise AppError(404, "There is no such user in your organisation.")
    return RedirectResponse("/admin?notice=user-deactivated", status_code=303)


@router.post("/tokens")
def add_token(request: Request, ctx: Admin, name: Annotated[str, Form()] = "",
              user_id: Annotated[str, Form()] = "") -> Response:
    errors = FormErrors()
    errors.require(name=name, user_id=user_id)
    if not user_id.strip().isdigit() and "user_id" not in errors.by_field:
        errors.add("user_id", "choose the user the token acts as")
    issued = None
    if not errors:
        with errors.collecting(AccountError):
            issued = create_api_token(ctx.tenant, user_id=int(user_id), name=name, actor_id=ctx.user.id)
            if issued is None:
                raise AppError(404, "There is no such user in your organisation.")
    if errors or issued is None:
        return errors.render(request, TEMPLATE, _values(ctx, form={"token_name": name}))
    # shown this once: the page is not cached (no-store) and the secret is not stored
    return render(request, TEMPLATE, _values(ctx, new_token=issued.secret, new_token_name=issued.token.name),
                  status_code=201)


@router.post("/tokens/{token_id}/revoke")
def revoke(request: Request, ctx: Admin, token_id: int) -> Response:
    if revoke_api_token(ctx.tenant, token_id, actor_id=ctx.user.id) is None:
        raise AppError(404, "There is no such token in your organisation.")
    return RedirectResponse("/admin?notice=token-revoked", status_code=303)
