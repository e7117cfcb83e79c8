"""``/api/v1/payers``: the organisation's payers (electronic payer id, name, payer profile), adding one and changing
one (admins only), over ``store.payers``; the same rules as the Payers admin page. A payer's electronic id may be
changed only while no stored encounter bills it (else 409 naming the claims: add the new id as a payer instead)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from cleanclaim.lifecycle import Role
from cleanclaim.store import models as m
from cleanclaim.store.payers import add_payer, edit_payer, organisation_payers, payer_profiles
from cleanclaim.web.api.service import Id, RequestBody, act, documented
from cleanclaim.web.context import Context

router = APIRouter(tags=["payers"], responses=documented(409))
ADMIN = frozenset({Role.ADMIN})


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


class PayerIn(RequestBody):
    payer_id: str = Field(min_length=1, max_length=80)
    name: str = Field(min_length=1, max_length=200)
    profile_id: str = Field(min_length=1, max_length=80)


def _out(payer: m.Payer) -> PayerOut:
    return PayerOut(id=payer.id, payer_id=payer.payer_id, name=payer.name, profile_id=payer.profile_id)


@router.get("/payers", response_model=PayerList)
def list_payers(ctx: Context) -> PayerList:
    return PayerList(payers=[_out(payer) for payer in organisation_payers(ctx.tenant)], profiles=payer_profiles())


@router.post("/payers", response_model=PayerOut, status_code=201)
def create_payer(ctx: Context, payload: PayerIn) -> PayerOut:
    """Add a payer (admins only); its electronic payer id must be new to the organisation (else 422)."""
    return _out(act(ctx, ADMIN, "Adding a payer", add_payer, payer_id=payload.payer_id, name=payload.name,
                    profile_id=payload.profile_id))


@router.put("/payers/{payer_row_id}", response_model=PayerOut)
def update_payer(ctx: Context, payer_row_id: Id, payload: PayerIn) -> PayerOut:
    """Change a payer's name, profile and electronic id (admins only; audited with before and after). The profile
    applies to encounters entered from then on. The electronic id may change only while no stored encounter bills
    the payer: otherwise 409 naming the claims (their records and any 837P sent carry the old id; add the new id as
    a payer instead). Another payer of the organisation with the new id: 422."""
    return _out(act(ctx, ADMIN, "Changing a payer", edit_payer, payer_row_id, payer_id=payload.payer_id,
                    name=payload.name, profile_id=payload.profile_id))
