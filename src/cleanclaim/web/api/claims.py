"""``/api/v1/claims`` (and ``/findings``): the claim list and page, and every lifecycle action on a claim.

Each route is one call of the store: `store.queries` reads (the same functions as the pages, so a filter means the
same thing in both), `store.claims` changes (coding, scrubbing, overrides, release, correction, appeal, write-off),
`store.claim_files` estimates the price (`pricing.price`) and exports, as the claim page does. Actions answer with
the claim as it is afterwards.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from cleanclaim.formats.export import ExportFormat
from cleanclaim.lifecycle import ENTERS_ENCOUNTERS, WORKS_CLAIMS
from cleanclaim.model import ClaimLine
from cleanclaim.store.claim_files import MEDIA_TYPES, claim_file, claim_price
from cleanclaim.store.claims import (
    _load_current,
    appeal_claim,
    code_claim,
    correct_claim,
    edit_lines,
    mark_all_ready,
    mark_ready,
    override_finding,
    scrub_claims,
    write_off_claim,
)
from cleanclaim.store.jobs import start_scrub_job
from cleanclaim.store.queries import (
    MAX_PAGE_SIZE,
    AuditEntry,
    ClaimDetail,
    ClaimFilter,
    ClaimPage,
    ClaimSort,
    FindingView,
    _finding_view,
    claim_audit_trail,
    claim_detail,
    claim_list,
)
from cleanclaim.web.api.service import MAX_INT, Id, RequestBody, act, answering, documented, require_role
from cleanclaim.web.context import Context, RequestContext
from cleanclaim.web.errors import AppError

router = APIRouter(tags=["claims"], responses=documented(400, 409))

MAX_BATCH = 100_000
"""The most claim ids one batch request may name (a batch scrub of 10,000 is the benchmark's size)."""



class ScrubOut(BaseModel):
    claim_id: int
    scrub_run_id: int
    errors: int
    warnings: int
    info: int


class ScrubMany(RequestBody):
    claim_ids: list[Annotated[int, Field(ge=1, le=MAX_INT)]] = Field(min_length=1, max_length=MAX_BATCH)


class ReadyMany(RequestBody):
    claim_ids: list[Annotated[int, Field(ge=1, le=MAX_INT)]] = Field(min_length=1, max_length=MAX_BATCH)


class ReleasedOut(BaseModel):
    claim_ids: list[int]
    """The claims released, each now ready for the next submission batch."""


class JobStarted(BaseModel):
    job_id: int
    total: int
    url: str


class Lines(RequestBody):
    lines: list[ClaimLine] = Field(min_length=1, max_length=999)


class Reason(RequestBody):
    reason: str = Field(min_length=1, max_length=2000)


class Note(RequestBody):
    note: str | None = Field(default=None, max_length=4000)


def _detail(ctx: RequestContext, claim_id: int) -> ClaimDetail:
    found = claim_detail(ctx.tenant, claim_id)
    if found is None:
        raise AppError(404, f"claim {claim_id} not found")
    return found


@router.get("/claims", response_model=ClaimPage)
def list_claims(
    ctx: Context,
    state: Annotated[list[str], Query(description="Claim states (repeat for several)")] = [],  # noqa: B006
    payer_id: Annotated[int | None, Query(ge=1, le=MAX_INT, description="The store's payer id")] = None,
    provider_id: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
    service_from: dt.date | None = None,
    service_to: dt.date | None = None,
    rule: Annotated[str | None, Query(max_length=100, description="Claims whose current scrub has this rule")] = None,
    q: Annotated[str | None, Query(max_length=100, description="Part of the patient control number")] = None,
    sort: ClaimSort = ClaimSort.STATE_CHANGED,
    descending: bool = True,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    after: Annotated[str | None, Query(max_length=500, description="next_cursor of the previous page")] = None,
) -> ClaimPage:
    """The organisation's claims (current versions), filtered; page by offset or by the cursor ``after``."""
    wanted = ClaimFilter(states=tuple(state), payer_id=payer_id, provider_id=provider_id, service_from=service_from,
                         service_to=service_to, rule=rule or None, text=q or None)
    with answering():
        return claim_list(ctx.tenant, wanted, sort=sort, descending=descending, limit=limit, offset=offset,
                          after=after)


@router.get("/claims/{claim_id}", response_model=ClaimDetail)
def get_claim(ctx: Context, claim_id: Id) -> ClaimDetail:
    """The claim with its versions and lines, current scrub and findings, remittances, denial tasks and trail."""
    return _detail(ctx, claim_id)


@router.get("/claims/{claim_id}/audit", response_model=list[AuditEntry])
def get_audit_trail(ctx: Context, claim_id: Id) -> list[AuditEntry]:
    trail = claim_audit_trail(ctx.tenant, claim_id)
    if trail is None:
        raise AppError(404, f"claim {claim_id} not found")
    return trail


@router.post("/claims/{claim_id}/code", response_model=ClaimDetail)
def code(ctx: Context, claim_id: Id) -> ClaimDetail:
    """Code the encounter's documented services into billed lines (the engine's coder)."""
    act(ctx, ENTERS_ENCOUNTERS, "Coding a claim", code_claim, claim_id)
    return _detail(ctx, claim_id)


@router.put("/claims/{claim_id}/lines", response_model=ClaimDetail)
def replace_lines(ctx: Context, claim_id: Id, body: Lines) -> ClaimDetail:
    """Replace the billed lines by hand (a biller or admin); the claim goes back to coded (its scrub no longer
    applies) and the trail keeps the lines before and after."""
    act(ctx, WORKS_CLAIMS, "Editing a claim's lines", edit_lines, claim_id, body.lines)
    return _detail(ctx, claim_id)


@router.post("/claims/{claim_id}/scrub", response_model=ScrubOut)
def scrub_one(ctx: Context, claim_id: Id) -> ScrubOut:
    """Scrub one claim now; its findings are on ``GET /claims/{claim_id}`` (current_scrub)."""
    outcome = act(ctx, ENTERS_ENCOUNTERS, "Scrubbing claims", scrub_claims, [claim_id])
    counts = outcome.counts[claim_id]
    return ScrubOut(claim_id=claim_id, scrub_run_id=outcome.runs[claim_id], errors=counts["error"],
                    warnings=counts["warning"], info=counts["info"])


@router.post("/claims/scrub", response_model=JobStarted, status_code=202)
def scrub_many(request: Request, ctx: Context, body: ScrubMany) -> JobStarted:
    """Scrub many claims as a job; poll ``GET /jobs/{job_id}`` for its progress. Every id must be a claim of the
    organisation (else 404, and no job is started)."""
    require_role(ctx, ENTERS_ENCOUNTERS, "Scrubbing claims")
    ids = list(dict.fromkeys(body.claim_ids))
    with answering():
        _load_current(ctx.tenant, ids)  # the services' loader: NotFoundError naming ids not of this organisation
    # the job's thread writes with its own session: this request's transaction (which recorded the token's use)
    # ends first, or on SQLite the thread would wait for this request's write lock while the request waits for it
    ctx.session.commit()
    with answering():
        job_id = start_scrub_job(request.app.state.session_factory, ctx.organisation.id, ctx.actor, ids)
    return JobStarted(job_id=job_id, total=len(ids), url=f"/api/v1/jobs/{job_id}")


@router.post("/findings/{finding_id}/override", response_model=FindingView)
def override(ctx: Context, finding_id: Id, body: Reason) -> FindingView:
    """A biller's override of a finding of the claim's latest scrub, with the reason (kept in the trail)."""
    return _finding_view(act(ctx, WORKS_CLAIMS, "Overriding a finding", override_finding, finding_id, body.reason))


@router.post("/claims/{claim_id}/ready", response_model=ClaimDetail)
def ready(ctx: Context, claim_id: Id) -> ClaimDetail:
    """Release a scrubbed claim for submission (refused while an error finding stands)."""
    act(ctx, WORKS_CLAIMS, "Marking a claim ready", mark_ready, claim_id)
    return _detail(ctx, claim_id)


@router.post("/claims/ready", response_model=ReleasedOut)
def ready_many(ctx: Context, body: ReadyMany) -> ReleasedOut:
    """Release several scrubbed claims for submission, all or none (the claim list's bulk action): one that is not
    scrubbed or has an error finding standing refuses the request (409), one not of the organisation too (404), and
    none is released."""
    ids = list(dict.fromkeys(body.claim_ids))
    act(ctx, WORKS_CLAIMS, "Marking claims ready", mark_all_ready, ids)
    return ReleasedOut(claim_ids=ids)


@router.post("/claims/{claim_id}/correct", response_model=ClaimDetail)
def correct(ctx: Context, claim_id: Id) -> ClaimDetail:
    """Replace a denied or partly paid claim by a new version (frequency 7); the old one is kept."""
    act(ctx, WORKS_CLAIMS, "Correcting a claim", correct_claim, claim_id)
    return _detail(ctx, claim_id)


@router.post("/claims/{claim_id}/appeal", response_model=ClaimDetail)
def appeal(ctx: Context, claim_id: Id, body: Note) -> ClaimDetail:
    act(ctx, WORKS_CLAIMS, "Appealing a claim", appeal_claim, claim_id, note=body.note)
    return _detail(ctx, claim_id)


@router.post("/claims/{claim_id}/write-off", response_model=ClaimDetail)
def write_off(ctx: Context, claim_id: Id, body: Reason) -> ClaimDetail:
    act(ctx, WORKS_CLAIMS, "Writing off a claim", write_off_claim, claim_id, body.reason)
    return _detail(ctx, claim_id)


@router.get("/claims/{claim_id}/price", response_model=dict[str, Any])
def price_estimate(
    ctx: Context, claim_id: Id,
    locality: Annotated[str | None, Query(max_length=20, description="MAC:LOCALITY, e.g. 01182:18")] = None,
    deductible_remaining: Annotated[Decimal, Query(ge=0, le=1_000_000, max_digits=9, decimal_places=2)] = Decimal(0),
) -> dict[str, Any]:
    """Medicare's allowed amount, the patient's share and the payment per line (the `price` command's JSON)."""
    with answering():
        estimate = claim_price(ctx.tenant, claim_id, locality=locality or None,
                               deductible_remaining=deductible_remaining)
    return estimate.to_dict()


@router.get("/claims/{claim_id}/export/{format}", response_class=Response,
            responses={200: {"content": {media: {} for media, _ in MEDIA_TYPES.values()},
                             "description": "The claim in the format asked for"},
                       422: {"description": "The claim lacks what the format needs (named)"}})
def export(ctx: Context, claim_id: Id, format: ExportFormat) -> Response:
    """The claim's current version as an 837P (a preview: not a submission, control number 1), a FHIR R4 Claim
    bundle, a CMS-1500 or a superbill PDF: the claim page's download (``store.claim_files.claim_file``)."""
    with answering():
        written = claim_file(ctx.tenant, claim_id, format)
    return Response(written.content, media_type=written.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{written.name}"'})
