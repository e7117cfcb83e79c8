"""``/api/v1/encounters``: enter encounters in the interchange contract (JSON body or a YAML/JSON file), read them
back. Reading and validation are the contract's own reader (`formats.encounters.parse_encounters`), so an encounter
the CLI accepts is accepted here with the same messages, and storing is `store.claims.import_encounters`: one claim
per encounter, coded when it has billed lines. A JSON body is one change, all or nothing; a file keeps the encounters
that read and lists the others in ``problems`` (`store.intake.read_encounter_file`, as the Encounters page does)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, UploadFile
from pydantic import BaseModel
from sqlalchemy import func, select

from cleanclaim.errors import InputError
from cleanclaim.formats.encounters import ENCOUNTER_SUFFIXES, parse_encounters
from cleanclaim.lifecycle import ENTERS_ENCOUNTERS
from cleanclaim.store import models as m
from cleanclaim.store.claims import ImportedClaim, import_encounters
from cleanclaim.store.intake import read_encounter_file, without_control_characters
from cleanclaim.store.tenant import Tenant
from cleanclaim.web.api.service import MAX_INT, Id, PageInfo, answering, documented, require_role
from cleanclaim.web.context import Context, RequestContext
from cleanclaim.web.errors import AppError

router = APIRouter(tags=["encounters"], responses=documented(415))

MAX_PAGE = 500
X12_SUFFIXES = (".837", ".837p", ".x12", ".edi", ".txt")


class ImportedClaimOut(BaseModel):
    claim_id: int
    version_id: int
    patient_control_number: str
    state: str


class ImportOut(BaseModel):
    claims: list[ImportedClaimOut]
    problems: list[dict[str, Any]] = []
    """Each part of an imported file that was not stored (an encounter by its id, field and line; an 837P claim by
    segment and claim id), or wrong but read (an SE01 count); the claims listed were stored. Empty when the file was
    read whole."""


class EncounterSummary(BaseModel):
    id: int
    encounter_ref: str
    date_of_service: dt.date
    patient_ref: str
    provider_npi: str
    claim_ids: list[int]


class EncounterList(BaseModel):
    encounters: list[EncounterSummary]
    page: PageInfo


class EncounterOut(EncounterSummary):
    data: dict[str, Any]
    """The encounter as entered, in the interchange contract."""


def _store(ctx: RequestContext, text: str, source: str) -> ImportOut:
    require_role(ctx, ENTERS_ENCOUNTERS, "Entering encounters")
    with answering():  # a document that is not an encounter at all (a number, a list of strings) is refused whole
        read = parse_encounters(text, source)
    encounters, unstorable = without_control_characters(read, text)
    errors = [*read.errors, *unstorable]
    if errors:  # one request is one change: all of it or nothing (a file upload keeps what reads, see import_file)
        raise AppError(422, f"{len(errors)} problem(s) in the encounters, nothing was stored: "
                            f"{errors[0]}", code="invalid_input",
                       details=[{k: v for k, v in e.to_dict().items() if v is not None} for e in errors])
    if not encounters:
        raise AppError(422, "no encounter was given: send one encounter, a list, or {\"encounters\": [...]}",
                       code="invalid_input")
    with answering():
        imported = import_encounters(ctx.tenant, ctx.actor, encounters)
    return _imported(imported)


def _imported(imported: list[ImportedClaim], problems: Sequence[InputError] = ()) -> ImportOut:
    return ImportOut(claims=[ImportedClaimOut(claim_id=i.claim_id, version_id=i.version_id,
                                              patient_control_number=i.patient_control_number, state=i.state.value)
                             for i in imported],
                     problems=[{k: v for k, v in e.to_dict().items() if v is not None} for e in problems])


@router.post("/encounters", response_model=ImportOut, status_code=201)
def create_encounters(ctx: Context, payload: Annotated[dict[str, Any] | list[Any], Body(
        description="One encounter of the interchange contract, a list of them, or {\"encounters\": [...]}")],
                      ) -> ImportOut:
    """Store encounters as claims (version 1 each): coded when they carry billed lines, else drafts to code."""
    return _store(ctx, json.dumps(payload), "request.json")


@router.post("/encounters/import", response_model=ImportOut, status_code=201)
def import_file(ctx: Context, file: UploadFile) -> ImportOut:
    """The same from a file of the contract (.yaml, .yml or .json, UTF-8), as `cleanclaim code` reads it, or an
    837P (.837, .837p, .x12, .edi, .txt), as the Encounters page imports it (`store.intake.read_encounter_file`):
    every encounter or claim that reads is stored, and each one that does not (a missing field, a bad date, a code of
    the wrong shape; a damaged 837P claim) is listed in ``problems`` by encounter id, field and line or segment. A
    file of which nothing reads stores nothing: 422 naming every problem (up to ten)."""
    name = PurePath(file.filename or "upload").name or "upload"
    suffix = PurePath(name).suffix.lower()
    if suffix not in ENCOUNTER_SUFFIXES + X12_SUFFIXES:
        raise AppError(415, f"{name}: an encounter file is {', '.join(ENCOUNTER_SUFFIXES + X12_SUFFIXES)}",
                       details={"file": name})
    require_role(ctx, ENTERS_ENCOUNTERS, "Entering encounters")
    with answering():
        upload = read_encounter_file(name, file.file.read())
        try:
            imported = import_encounters(ctx.tenant, ctx.actor, upload.encounters)
        except InputError as error:  # a refusal of the whole import (a claim id already used): name the file
            error.file = error.file or name
            raise
    return _imported(imported, upload.problems)


def _claim_ids(tenant: Tenant, encounter_ids: list[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {i: [] for i in encounter_ids}
    for claim_id, encounter_id in tenant.session.execute(
            select(m.Claim.id, m.Claim.encounter_id).where(m.Claim.organisation_id == tenant.organisation_id,
                                                           m.Claim.encounter_id.in_(encounter_ids))
            .order_by(m.Claim.id)):
        found[encounter_id].append(claim_id)
    return found


def _rows(tenant: Tenant, *criteria: Any, limit: int = MAX_PAGE, offset: int = 0) -> list[tuple[Any, ...]]:
    encounter = m.EncounterRecord
    return [tuple(row) for row in tenant.session.execute(
        select(encounter, m.Patient.patient_ref, m.Provider.npi)
        .join(m.Patient, m.Patient.id == encounter.patient_id)
        .join(m.Provider, m.Provider.id == encounter.provider_id)
        .where(encounter.organisation_id == tenant.organisation_id, *criteria)
        .order_by(encounter.id.desc()).limit(limit).offset(offset))]


@router.get("/encounters", response_model=EncounterList)
def list_encounters(ctx: Context, limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
                    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0) -> EncounterList:
    """The organisation's encounters, newest first."""
    tenant = ctx.tenant
    rows = _rows(tenant, limit=limit, offset=offset)
    total = tenant.session.scalar(select(func.count()).select_from(m.EncounterRecord).where(
        m.EncounterRecord.organisation_id == tenant.organisation_id)) or 0
    claims = _claim_ids(tenant, [row[0].id for row in rows])
    return EncounterList(encounters=[EncounterSummary(
        id=e.id, encounter_ref=e.encounter_ref, date_of_service=e.date_of_service, patient_ref=patient,
        provider_npi=npi, claim_ids=claims[e.id]) for e, patient, npi in rows],
        page=PageInfo(total=total, limit=limit, offset=offset))


@router.get("/encounters/{encounter_id}", response_model=EncounterOut)
def get_encounter(ctx: Context, encounter_id: Id) -> EncounterOut:
    rows = _rows(ctx.tenant, m.EncounterRecord.id == encounter_id, limit=1)
    if not rows:
        raise AppError(404, f"encounter {encounter_id} not found")
    e, patient, npi = rows[0]
    return EncounterOut(id=e.id, encounter_ref=e.encounter_ref, date_of_service=e.date_of_service,
                        patient_ref=patient, provider_npi=npi, claim_ids=_claim_ids(ctx.tenant, [e.id])[e.id],
                        data=e.data)
