"""``/api/v1/payers``: the organisation's payers (electronic payer id, name, payer profile) and adding one (admins
only), over ``store.payers``; the same rules as the Payers admin page."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from cleanclaim.lifecycle import Role
from cleanclaim.store.payers import add_payer, organisation_payers, payer_profiles
from cleanclaim.web.api.service import actor, answering, documented, require_role
from cleanclaim.web.context import Context

router = APIRouter(tags=["payers"], responses=documented(409))


class PayerOut(BaseModel):
    id: int
    payer_id: str
    """The electronic payer id (837P 2010BB NM109, the 835's payer)."""
    name: str
    profile_id: str
    """The payer profile (rules) its claims are checked against."""


class PayerList(BaseModel):
    payers: list[PayerOut]
    profiles: list[str]
    """The profiles a payer may be given."""


class PayerIn(BaseModel):
    payer_id: str = Field(min_length=1, max_length=80)
    name: str = Field(min_length=1, max_length=200)
    profile_id: str = Field(min_length=1, max_length=80)


@router.get("/payers", response_model=PayerList)
def list_payers(ctx: Context) -> PayerList:
    return PayerList(payers=[PayerOut(id=p.id, payer_id=p.payer_id, name=p.name, profile_id=p.profile_id)
                             for p in organisation_payers(ctx.tenant)], profiles=payer_profiles())


@router.post("/payers", response_model=PayerOut, status_code=201)
def create_payer(ctx: Context, payload: PayerIn) -> PayerOut:
    """Add a payer (admins only); its electronic payer id must be new to the organisation (else 422)."""
    require_role(ctx, frozenset({Role.ADMIN}), "Adding a payer")
    with answering():
        payer = add_payer(ctx.tenant, actor(ctx), payer_id=payload.payer_id,
                          name=payload.name, profile_id=payload.profile_id)
    return PayerOut(id=payer.id, payer_id=payer.payer_id, name=payer.name, profile_id=payer.profile_id)
