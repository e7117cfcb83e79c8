"""Claims: the filtered, sorted, paginated list with bulk actions, and one claim's page (versions, lines with the
coder's arithmetic, latest findings, overrides, lifecycle actions, price estimate, downloads, audit trail).

Thin: what a claim is and what may be done to it comes from ``store.queries`` (reading), ``store.claims`` and
``store.jobs`` (changing), ``store.claim_files`` (downloads, price) and ``lifecycle.allowed_actions`` (which
buttons show). A service's refusal becomes the page's message: not found -> 404 (also another organisation's id),
an illegal move -> 409, a missing reason -> the page again with the message (422); nothing is written then, because
the request's one transaction is rolled back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Concatenate, ParamSpec
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from sqlalchemy import select
from starlette.responses import RedirectResponse, Response

from cleanclaim.errors import CleanclaimError, InputError
from cleanclaim.formats.export import FORMATS
from cleanclaim.lifecycle import ENTERS_ENCOUNTERS, WORKS_CLAIMS, Action, ClaimState, TransitionError, allowed_actions
from cleanclaim.store import models as m
from cleanclaim.store.accounts import user_emails
from cleanclaim.store.claim_files import claim_file, claim_price
from cleanclaim.store.claims import (
    Actor,
    NotFoundError,
    appeal_claim,
    code_claim,
    correct_claim,
    edit_lines,
    encounter_of,
    mark_all_ready,
    mark_ready,
    override_finding,
    scrub_claims,
    write_off_claim,
)
from cleanclaim.store.intake import LINE_FIELDS, FormProblemsError, lines_from_form
from cleanclaim.store.jobs import start_scrub_job
from cleanclaim.store.queries import ClaimFilter, QueryError, VersionView, claim_detail, claim_list
from cleanclaim.store.tenant import Tenant
from cleanclaim.web.context import Context, RequestContext
from cleanclaim.web.errors import AppError
from cleanclaim.web.routes.money import Worker
from cleanclaim.web.templating import render

router = APIRouter(tags=["claims"])
_P = ParamSpec("_P")

PAGE_SIZE = 50
NOTICES = {
    "scrubbed": "The claim was scrubbed; its findings are below.",
    "coded": "The encounter's services were coded into billed lines; how is shown under the lines.",
    "not-coded": "The encounter was stored as a draft: its services could not be coded (see the audit trail); "
                 "code it again or enter its lines.",
    "ready": "The claim is ready for the next submission batch.",
    "overridden": "The finding was overridden; the reason is kept in the audit trail.",
    "edited": "The billed lines were changed (before and after are in the audit trail); scrub the claim again.",
    "corrected": "A corrected version (frequency code 7) was created; edit and scrub it before submitting.",
    "appealed": "The claim is marked as appealed.",
    "written_off": "The claim was written off; the reason is kept in the audit trail.",
    "marked-ready": "The chosen claims are ready for the next submission batch.",
}
SORTS = {"state_changed_at": "In state since", "date_of_service": "Date of service",
         "patient_control_number": "Claim number", "total_charge": "Charge", "created": "Entered"}


@contextmanager
def refusals() -> Iterator[None]:
    """A service's refusal as the page's answer (the transaction is rolled back by the raise)."""
    try:
        yield
    except NotFoundError as error:
        raise AppError(404, "There is no such claim in your organisation.") from error
    except TransitionError as error:
        raise AppError(409, str(error)) from error
    except InputError as error:
        raise AppError(422, str(error)) from error
    except QueryError as error:
        raise AppError(422, str(error)) from error


# --- the list -------------------------------------------------------------------------------------------------------


def _optional_int(value: str, what: str) -> int | None:
    if not value.strip():
        return None
    if not value.strip().isdigit():
        raise AppError(422, f"the {what} filter takes an id from its menu, not {value!r}")
    return int(value)


def _optional_date(value: str, what: str) -> dt.date | None:
    if not value.strip():
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError as error:
        raise AppError(422, f"the {what} date must be YYYY-MM-DD, not {value!r}") from error


def _menus(ctx: RequestContext) -> dict[str, Any]:
    payers = ctx.session.scalars(ctx.tenant.select(m.Payer).order_by(m.Payer.name)).all()
    providers = ctx.session.scalars(ctx.tenant.select(m.Provider).order_by(m.Provider.npi)).all()
    return {"payers": payers, "providers": providers, "states": [s.value for s in ClaimState], "sorts": SORTS}


@router.get("/claims")
def claims_page(request: Request, ctx: Context, state: Annotated[list[str], Query()] = [],  # noqa: B006
                payer: str = "", provider: str = "", service_from: str = "", service_to: str = "", rule: str = "",
                q: str = "", sort: str = "state_changed_at", order: str = "desc", page: int = 1,
                notice: str = "") -> Response:
    chosen_states = [s for s in state if s]
    wanted = ClaimFilter(
        states=tuple(chosen_states), payer_id=_optional_int(payer, "payer"),
        provider_id=_optional_int(provider, "provider"), service_from=_optional_date(service_from, "from"),
        service_to=_optional_date(service_to, "to"), rule=rule.strip() or None, text=q.strip() or None)
    if page < 1:
        raise AppError(422, f"the page number starts at 1, not {page}")
    with refusals():
        found = claim_list(ctx.tenant, wanted, sort=sort, descending=order != "asc", limit=PAGE_SIZE,
                           offset=(page - 1) * PAGE_SIZE)
    query = {"state": chosen_states, "payer": payer, "provider": provider, "service_from": service_from,
             "service_to": service_to, "rule": rule, "q": q, "sort": sort, "order": order}
    pages = max(1, -(-found.total // PAGE_SIZE))

    def link(**change: Any) -> str:
        merged = {**query, **change}
        return "/claims?" + urlencode({k: v for k, v in merged.items() if v not in ("", [], None)}, doseq=True)

    return render(request, "claims/list.html", {
        "found": found, "filters": query, "page": page, "pages": pages, "link": link,
        "can_bulk_scrub": ctx.role in ENTERS_ENCOUNTERS,
        "can_mark_ready": ctx.role in WORKS_CLAIMS, "notice": NOTICES.get(notice, ""), **_menus(ctx)})


@router.post("/claims/bulk")
def bulk(request: Request, ctx: Context, action: Annotated[str, Form()] = "",
         claim_ids: Annotated[list[str], Form()] = []) -> Response:  # noqa: B006
    """Scrub the chosen claims as one job (its progress page polls it) or mark them ready (all or none)."""
    ids = [int(value) for value in claim_ids if value.strip().isdigit()]
    if not ids or len(ids) != len(claim_ids):
        raise AppError(422, "Choose at least one claim (tick its box) before choosing an action.")
    actor = ctx.actor
    if action == "scrub":
        owned = set(ctx.session.scalars(select(m.Claim.id).where(m.Claim.organisation_id == ctx.organisation.id,
                                                                 m.Claim.id.in_(ids))))
        if owned != set(ids):
            raise AppError(404, "Some of the chosen claims are not in your organisation.")
        with refusals():
            job_id = start_scrub_job(request.app.state.session_factory, ctx.organisation.id, actor, ids)
        return RedirectResponse(f"/jobs/{job_id}", status_code=303)
    if action == "mark_ready":
        with refusals():
            mark_all_ready(ctx.tenant, actor, ids)
        return RedirectResponse("/claims?notice=marked-ready", status_code=303)
    raise AppError(422, f"Unknown bulk action {action!r}: choose scrub or mark ready.")


# --- one claim ------------------------------------------------------------------------------------------------------


def _claim_values(ctx: RequestContext, claim_id: int, **extra: Any) -> dict[str, Any]:
    detail = claim_detail(ctx.tenant, claim_id)
    if detail is None:
        raise AppError(404, "There is no such claim in your organisation.")
    current = detail.current
    users = user_emails(ctx.tenant)
    estimate, estimate_problem = None, ""
    if current.lines:
        try:
            estimate = claim_price(ctx.tenant, claim_id)
        except CleanclaimError as error:
            estimate_problem = str(error)
    actions = allowed_actions(current.state, ctx.role)
    can_override = ctx.role in WORKS_CLAIMS and current.state == ClaimState.SCRUBBED
    # a line without a charge offers "code again" (with the charge master) only when there are services to code
    has_services = False
    if not all(line.charge_given for line in current.lines):
        record = ctx.tenant.get(m.EncounterRecord, detail.encounter_id)
        has_services = bool(record is not None and record.data.get("services"))
    can_edit_lines = ctx.role in WORKS_CLAIMS and Action.CODE in actions
    return {"claim": detail, "current": current, "users": users, "estimate": estimate, "has_services": has_services,
            "estimate_problem": estimate_problem, "actions": [a.value for a in actions], "Action": Action,
            "can_override": can_override, "can_edit_lines": can_edit_lines, "formats": FORMATS, "errors": {},
            "notice": "", **extra}


@router.get("/claims/{claim_id}")
def claim_page(request: Request, ctx: Context, claim_id: int, notice: str = "") -> Response:
    return render(request, "claims/detail.html", _claim_values(ctx, claim_id, notice=NOTICES.get(notice, "")))


def _done(claim_id: int, notice: str) -> Response:
    return RedirectResponse(f"/claims/{claim_id}?notice={notice}", status_code=303)


def _change(ctx: RequestContext, claim_id: int, notice: str, change: Callable[Concatenate[Tenant, Actor, _P], Any],
            *args: _P.args, **kwargs: _P.kwargs) -> Response:
    """A claim action as every button on the claim page makes it: the store service as the signed-in user in their
    organisation (it checks the lifecycle and role, and audits), its refusal as the page's answer, then back to the
    claim with ``notice``."""
    with refusals():
        change(ctx.tenant, ctx.actor, *args, **kwargs)
    return _done(claim_id, notice)


@router.post("/claims/{claim_id}/scrub")
def rescrub(ctx: Context, claim_id: int) -> Response:
    return _change(ctx, claim_id, "scrubbed", scrub_claims, [_own(ctx, claim_id)])


@router.post("/claims/{claim_id}/code")
def code(ctx: Context, claim_id: int) -> Response:
    return _change(ctx, claim_id, "coded", code_claim, claim_id)


MAX_NEW_LINES = 3
"""Empty rows the line editor offers for lines to add (more: save, and edit again)."""


def _editor_values(ctx: RequestContext, claim_id: int, form: dict[str, str] | None = None,
                   errors: dict[str, str] | None = None) -> dict[str, Any]:
    """The editor's page values; without ``form``, its fields hold the current lines."""
    detail = claim_detail(ctx.tenant, claim_id)
    if detail is None:
        raise AppError(404, "There is no such claim in your organisation.")
    current = detail.current
    if Action.CODE not in allowed_actions(current.state, ctx.role):
        raise AppError(409, f"A {current.state.replace('_', ' ')} claim's lines cannot be edited; only a draft, "
                            "coded, scrubbed or ready claim's (correct a denied claim to get a new version).")
    rows = len(current.lines) + MAX_NEW_LINES
    return {"claim": detail, "current": current, "form": _line_form(current) if form is None else form,
            "errors": errors or {}, "rows": range(1, rows + 1), "existing": len(current.lines),
            "diagnoses": encounter_of(ctx.tenant, claim_id).diagnoses}


def _line_form(current: VersionView) -> dict[str, str]:
    """The editor's fields filled with the current lines (a blank charge stays blank, not 0.00)."""
    form: dict[str, str] = {}
    for n, line in enumerate(current.lines, start=1):
        form |= {f"code_{n}": line.code, f"modifiers_{n}": " ".join(line.modifiers),
                 f"units_{n}": str(line.units.normalize()), f"minutes_{n}": "" if line.minutes is None else
                 str(line.minutes), f"dx_pointers_{n}": ", ".join(map(str, line.dx_pointers)),
                 f"charge_{n}": f"{line.charge:.2f}"}
    return form


@router.get("/claims/{claim_id}/lines")
def lines_page(request: Request, ctx: Worker, claim_id: int) -> Response:
    """The line editor: a biller corrects what was coded (code, modifiers, units, minutes, pointers, charge)."""
    return render(request, "claims/lines.html", _editor_values(ctx, claim_id))


@router.post("/claims/{claim_id}/lines")
async def save_lines(request: Request, ctx: Worker, claim_id: int) -> Response:
    """Replace the claim's lines with the edited ones (``store.claims.edit_lines``: audit event with before and
    after, back to coded so it must be scrubbed again); a wrong field shows the editor again and writes nothing."""
    _own(ctx, claim_id)
    submitted = await request.form()
    values = _editor_values(ctx, claim_id)
    rows = len(values["rows"])
    form = {f"{name}_{row}": str(submitted.get(f"{name}_{row}") or "") for row in range(1, rows + 1)
            for name in LINE_FIELDS}
    with refusals():
        try:
            lines = lines_from_form(encounter_of(ctx.tenant, claim_id).lines, form, rows)
        except FormProblemsError as problems:
            return render(request, "claims/lines.html", {**values, "form": form, "errors": problems.problems},
                          status_code=422)
        edit_lines(ctx.tenant, ctx.actor, claim_id, lines)
    return _done(claim_id, "edited")


@router.post("/claims/{claim_id}/ready")
def ready(request: Request, ctx: Context, claim_id: int) -> Response:
    """Mark the claim ready; refused (409) while an error finding stands, on the claim's own page, so the biller
    sees the message above the findings to fix or override instead of an error page."""
    _own(ctx, claim_id)
    with refusals():
        try:
            mark_ready(ctx.tenant, ctx.actor, claim_id)
        except TransitionError as error:  # refused before anything was written
            return render(request, "claims/detail.html", _claim_values(
                ctx, claim_id, errors={"ready": f"Not marked ready: {error}"}), status_code=409)
    return _done(claim_id, "ready")


@router.post("/claims/{claim_id}/correct")
def correct(ctx: Context, claim_id: int) -> Response:
    return _change(ctx, claim_id, "corrected", correct_claim, claim_id)


@router.post("/claims/{claim_id}/appeal")
def appeal(ctx: Context, claim_id: int, note: Annotated[str, Form()] = "") -> Response:
    return _change(ctx, claim_id, "appealed", appeal_claim, claim_id, note=note)


@router.post("/claims/{claim_id}/write-off")
def write_off(request: Request, ctx: Context, claim_id: int, reason: Annotated[str, Form()] = "") -> Response:
    if not reason.strip():
        _own(ctx, claim_id)
        return render(request, "claims/detail.html", _claim_values(
            ctx, claim_id, errors={"write_off": "a write-off needs a reason (why the balance will not be "
                                                "collected)"}), status_code=422)
    return _change(ctx, claim_id, "written_off", write_off_claim, claim_id, reason)


@router.post("/claims/{claim_id}/findings/{finding_id}/override")
def override(request: Request, ctx: Context, claim_id: int, finding_id: int,
             reason: Annotated[str, Form()] = "") -> Response:
    """Override one finding of the claim's latest scrub; the finding must belong to this claim (else 404)."""
    finding = ctx.tenant.get(m.FindingRecord, finding_id)
    run = ctx.tenant.get(m.ScrubRun, finding.scrub_run_id) if finding is not None else None
    version = ctx.tenant.get(m.ClaimVersion, run.claim_version_id) if run is not None else None
    if version is None or version.claim_id != claim_id:
        raise AppError(404, "There is no such finding on this claim in your organisation.")
    if not reason.strip():
        return render(request, "claims/detail.html", _claim_values(
            ctx, claim_id, errors={f"override_{finding_id}": "an override needs a reason (why the claim is right "
                                                             "as it is despite the finding)"}), status_code=422)
    return _change(ctx, claim_id, "overridden", override_finding, finding_id, reason)


@router.get("/claims/{claim_id}/export/{fmt}")
def export(ctx: Context, claim_id: int, fmt: str) -> Response:
    with refusals():
        written = claim_file(ctx.tenant, claim_id, fmt)
    return Response(written.content, media_type=written.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{written.name}"'})


def _own(ctx: RequestContext, claim_id: int) -> int:
    if ctx.tenant.get(m.Claim, claim_id) is None:
        raise AppError(404, "There is no such claim in your organisation.")
    return claim_id
