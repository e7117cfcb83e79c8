"""``/api/v1/users``: the organisation's users (admins only), as the Admin page lists, creates and deactivates them
(``store.accounts``): a password is hashed with argon2 and never returned; a user is deactivated, never deleted
(the audit trail points at them), and their sessions and tokens stop working at once."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from pydantic import BaseModel, Field

from cleanclaim.lifecycle import Role
from cleanclaim.store.accounts import (
    MAX_PASSWORD_LENGTH,
    AccountError,
    create_user,
    deactivate_user,
    organisation_users,
)
from cleanclaim.store.models import User
from cleanclaim.web.api.service import Id, RequestBody, act, documented, require_role
from cleanclaim.web.context import Context
from cleanclaim.web.errors import AppError

router = APIRouter(tags=["users"], responses=documented(409))
ADMIN = frozenset({Role.ADMIN})


class UserOut(BaseModel):
    id: int
    email: str
    role: str
    active: bool
    created_at: dt.datetime


class UserList(BaseModel):
    users: list[UserOut]


class UserIn(RequestBody):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH,
                          description="At least 12 characters; give it to the user by another channel than email")
    role: str = Field(min_length=1, max_length=20, description="admin, biller, clinician or auditor")


def _out(user: User) -> UserOut:
    return UserOut(id=user.id, email=user.email, role=user.role, active=user.active, created_at=user.created_at)


@router.get("/users", response_model=UserList)
def list_users(ctx: Context) -> UserList:
    """The organisation's users, deactivated ones too, by email (admins only)."""
    require_role(ctx, ADMIN, "Listing the users")
    return UserList(users=[_out(user) for user in organisation_users(ctx.tenant)])


@router.post("/users", response_model=UserOut, status_code=201)
def add_user(ctx: Context, payload: UserIn) -> UserOut:
    """Create an active user with a role (admins only); a wrong email, role or password, or an email that has an
    account already, is a 422 naming the field."""
    return _out(act(ctx, ADMIN, "Creating a user", lambda tenant, who: create_user(
        tenant, email=payload.email, password=payload.password, role=payload.role, actor_id=who.id)))


@router.post("/users/{user_id}/deactivate", response_model=UserOut)
def deactivate(ctx: Context, user_id: Id) -> UserOut:
    """Deactivate a user (admins only; not oneself: 409): their sessions and API tokens stop working at once."""
    require_role(ctx, ADMIN, "Deactivating a user")
    try:
        user = deactivate_user(ctx.tenant, user_id, actor_id=ctx.user.id)
    except AccountError as refused:  # one's own account, as on the Admin page
        raise AppError(409, str(refused)) from refused
    if user is None:
        raise AppError(404, f"user {user_id} not found")
    return _out(user)
