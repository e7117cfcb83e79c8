"""``GET /api/v1/me``: who the token acts as; the simplest way to check a token works."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from cleanclaim.web.context import Context

router = APIRouter(tags=["account"])


class OrganisationOut(BaseModel):
    id: int
    name: str


class MeOut(BaseModel):
    id: int
    email: str
    role: str
    organisation: OrganisationOut


@router.get("/me", response_model=MeOut)
def me(ctx: Context) -> MeOut:
    return MeOut(id=ctx.user.id, email=ctx.user.email, role=ctx.role.value,
                 organisation=OrganisationOut(id=ctx.organisation.id, name=ctx.organisation.name))
