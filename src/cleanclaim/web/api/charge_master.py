"""``/api/v1/charge-master``: the organisation's charge per unit of each code (``store.charges``), read as JSON or
as the CSV the pages and ``cleanclaim price --charge-master`` take, and replaced whole (admins only) from either.

A replacement is all or nothing: a row that cannot be used is a 422 naming the row (CSV: the file's row; JSON: the
entry's number, from 1) and nothing is changed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, ValidationError
from starlette.responses import Response

from cleanclaim.lifecycle import Role
from cleanclaim.pricing import ChargeMasterRow
from cleanclaim.store.charges import charge_master_entries, replace_charge_master
from cleanclaim.web.api.service import Money, RequestBody, answering, documented, require_role
from cleanclaim.web.context import Context
from cleanclaim.web.errors import AppError

router = APIRouter(tags=["charge master"], responses=documented(415))

ADMIN = frozenset({Role.ADMIN})
MAX_ENTRIES = 20_000
"""More entries than any practice bills codes; a bound on what one request may ask to store."""


class EntryOut(BaseModel):
    code: str
    modifier: str
    """'' when the charge applies whatever the line's modifiers."""
    unit_charge: Money
    updated_at: dt.datetime
    updated_by_id: int | None


class ChargeMasterOut(BaseModel):
    entries: list[EntryOut]


class EntryIn(RequestBody):
    code: str = Field(min_length=1, max_length=20)
    modifier: str = Field(default="", max_length=20)
    unit_charge: Decimal = Field(description="Dollars and cents per unit, e.g. \"45.00\"")


class ChargeMasterIn(RequestBody):
    entries: list[EntryIn] = Field(max_length=MAX_ENTRIES)


class ReplacedOut(BaseModel):
    entries: int
    added: list[str]
    changed: list[str]
    removed: list[str]
    unchanged: int


def _csv(entries: list[EntryOut]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["code", "charge", "modifier"])
    for entry in entries:
        writer.writerow([entry.code, f"{entry.unit_charge:.2f}", entry.modifier])
    return out.getvalue()


@router.get("/charge-master", response_model=ChargeMasterOut,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
def get_charge_master(ctx: Context, format: Annotated[Literal["json", "csv"], Query(
        description="csv: the file the upload takes (code,charge,modifier)")] = "json") -> Any:
    """The organisation's charge master (admins only: it is the practice's price list)."""
    require_role(ctx, ADMIN, "Reading the charge master")
    entries = [EntryOut(code=e.code, modifier=e.modifier, unit_charge=e.unit_charge, updated_at=e.updated_at,
                        updated_by_id=e.updated_by_id) for e in charge_master_entries(ctx.tenant)]
    if format == "csv":
        return Response(_csv(entries), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="charge-master.csv"'})
    return ChargeMasterOut(entries=entries)


# written out rather than ChargeMasterIn.model_json_schema(): pydantic's "#/$defs/…" references do not resolve
# inside the OpenAPI document, and the route reads the body itself (JSON or CSV) so FastAPI adds no component
_ENTRY_SCHEMA: dict[str, Any] = {"type": "object", "required": ["code", "unit_charge"], "properties": {
    "code": {"type": "string", "minLength": 1, "maxLength": 20},
    "modifier": {"type": "string", "maxLength": 20, "default": ""},
    "unit_charge": {"anyOf": [{"type": "number"}, {"type": "string"}], "description": "dollars and cents per unit"}}}
_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object", "required": ["entries"], "properties": {
        "entries": {"type": "array", "maxItems": MAX_ENTRIES, "items": _ENTRY_SCHEMA}}}},
    "text/csv": {"schema": {"type": "string", "description": "code,charge[,modifier] rows"}}}}}


@router.put("/charge-master", response_model=ReplacedOut, openapi_extra=_BODY, responses={
    422: {"description": "A row or entry that cannot be used (named with its row); nothing was changed"}})
async def put_charge_master(request: Request, ctx: Context) -> ReplacedOut:
    """Replace the whole charge master: JSON ``{"entries": [...]}`` or a CSV body (``Content-Type: text/csv``)."""
    require_role(ctx, ADMIN, "Changing the charge master")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    content: bytes | list[ChargeMasterRow]
    if media == "text/csv":
        content, source = body, "request body (CSV)"
    elif media == "application/json":
        try:
            given = ChargeMasterIn.model_validate(json.loads(body or b"null"))
        except (ValueError, RecursionError, ValidationError) as error:
            problems = error.errors() if isinstance(error, ValidationError) else [{"msg": str(error)}]
            raise AppError(422, f"the body is not {{\"entries\": [{{\"code\", \"modifier\", \"unit_charge\"}}]}}: "
                                f"{problems[0].get('msg')}", code="invalid_input") from None
        content = [ChargeMasterRow(n, e.code.strip().upper(), e.modifier.strip().upper(), e.unit_charge)
                   for n, e in enumerate(given.entries, start=1)]
        source = "request body (entries)"
    else:
        raise AppError(415, "send the charge master as application/json ({\"entries\": [...]}) or text/csv")
    with answering():
        change = replace_charge_master(ctx.tenant, ctx.actor, content, source=source)
    return ReplacedOut(entries=change.entries, added=change.added, changed=change.changed, removed=change.removed,
                       unchanged=change.unchanged)
