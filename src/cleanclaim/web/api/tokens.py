"""``/api/v1/tokens``: the organisation's API tokens (admins only), as the Admin page lists, makes and revokes them
(``store.accounts``): a new token's secret is in the answer that makes it and nowhere else (only its SHA-256 is
kept); a revoked token is refused from then on. Every change is in the audit trail."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from cleanclaim.lifecycle import Role
from cleanclaim.store.accounts import create_api_token, organisation_tokens, revoke_api_token
from cleanclaim.store.models import ApiToken
from cleanclaim.web.api.service import MAX_INT, Id, RequestBody, act, documented, require_role
from cleanclaim.web.context import Context
from cleanclaim.web.errors import AppError

router = APIRouter(tags=["tokens"])
ADMIN = frozenset({Role.ADMIN})


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    """The token's first characters (``cc_…``), to tell tokens apart; the secret itself is never shown again."""
    user_id: int
    """The user the token acts as (its role decides what the token may do)."""
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class TokenList(BaseModel):
    tokens: list[TokenOut]


class TokenIn(RequestBody):
    name: str = Field(min_length=1, max_length=100, description="What the token is for, e.g. 'clearinghouse sync'")
    user_id: Annotated[int, Field(ge=1, le=MAX_INT)]
    """An active user of the organisation (another organisation's user: 404)."""


class IssuedTokenOut(BaseModel):
    token: TokenOut
    secret: str
    """The bearer token (``Authorization: Bearer cc_…``): shown in this answer only; keep it now."""


def _out(token: ApiToken) -> TokenOut:
    return TokenOut(id=token.id, name=token.name, prefix=token.prefix, user_id=token.user_id,
                    created_at=token.created_at, last_used_at=token.last_used_at, revoked_at=token.revoked_at)


@router.get("/tokens", response_model=TokenList)
def list_tokens(ctx: Context) -> TokenList:
    """The organisation's tokens, revoked ones too, the newest first (admins only)."""
    require_role(ctx, ADMIN, "Listing the API tokens")
    return TokenList(tokens=[_out(token) for token in organisation_tokens(ctx.tenant)])


@router.post("/tokens", response_model=IssuedTokenOut, status_code=201)
def create_token(ctx: Context, payload: TokenIn) -> IssuedTokenOut:
    """Make a token acting as a user of the organisation (admins only); its secret is in this answer only."""
    issued = act(ctx, ADMIN, "Making an API token", lambda tenant, who: create_api_token(
        tenant, user_id=payload.user_id, name=payload.name, actor_id=who.id))
    if issued is None:
        raise AppError(404, f"user {payload.user_id} not found")
    return IssuedTokenOut(token=_out(issued.token), secret=issued.secret)


@router.post("/tokens/{token_id}/revoke", response_model=TokenOut, responses=documented(409))
def revoke_token(request: Request, ctx: Context, token_id: Id) -> TokenOut:
    """Revoke a token (admins only): requests with it are refused from now on; revoking twice keeps the first
    time. The token making the request cannot revoke itself (409, as an admin cannot deactivate themselves): a
    script that rotates its token makes the new one first and revokes the old one with it, so it is never left
    without a working token half-way."""
    if getattr(request.state, "api_token_id", None) == token_id:
        raise AppError(409, f"API token {token_id} is the token of this request: revoke it with another admin "
                            "token or on the Admin page", code="conflict")
    token = act(ctx, ADMIN, "Revoking an API token", lambda tenant, who: revoke_api_token(
        tenant, token_id, actor_id=who.id))
    if token is None:
        raise AppError(404, f"API token {token_id} not found")
    return _out(token)
