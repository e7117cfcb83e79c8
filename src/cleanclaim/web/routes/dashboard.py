"""The dashboard (``/``): the figures of ``store.metrics.dashboard`` as four headline numbers and bar charts
(A/R aging, denials by reason and by provider, claims by state), drawn server-side as inline SVG."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from fastapi import APIRouter, Request
from sqlalchemy import func, select
from starlette.responses import Response

from cleanclaim.lifecycle import ClaimState
from cleanclaim.store import models as m
from cleanclaim.store.metrics import dashboard
from cleanclaim.web.charts import bar_chart
from cleanclaim.web.context import Context, RequestContext
from cleanclaim.web.templating import render

router = APIRouter(tags=["dashboard"])


def _money(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def _claims(count: int) -> str:
    return f"{count} claim{'' if count == 1 else 's'}"


def _by_state(ctx: RequestContext) -> dict[str, int]:
    version = m.ClaimVersion
    rows = ctx.session.execute(
        select(version.state, func.count()).where(version.organisation_id == ctx.organisation.id,
                                                  version.is_current.is_(True)).group_by(version.state))
    return {str(state): int(count) for state, count in rows}


@router.get("/")
def dashboard_page(request: Request, ctx: Context) -> Response:
    board = dashboard(ctx.tenant, dt.datetime.now(dt.UTC).date())
    aging_chart = bar_chart(
        "A/R aging (days since first submission)",
        [(f"{bucket.label} days", bucket.amount, f"{_money(bucket.amount)} · {_claims(bucket.claims)}", None)
         for bucket in board.aging], empty="Nothing outstanding.")
    carc_chart = bar_chart(
        "Denied dollars by reason (CARC)",
        [(f"{d.key} {d.label}", d.amount, f"{_money(d.amount)} · {_claims(d.claims)}", "/denials")
         for d in board.denials_by_carc], empty="No denials posted.")
    provider_chart = bar_chart(
        "Denied dollars by rendering provider",
        [(f"{d.label} ({d.key})", d.amount, f"{_money(d.amount)} · {_claims(d.claims)}", None)
         for d in board.denials_by_provider], empty="No denials posted.")
    counts = _by_state(ctx)
    state_chart = bar_chart(
        "Claims by state",
        [(state.value.replace("_", " "), counts[state.value], str(counts[state.value]), f"/claims?state={state.value}")
         for state in ClaimState if counts.get(state.value)], empty="No claims yet.", limit=len(ClaimState))
    return render(request, "dashboard/index.html", {
        "board": board, "aging_chart": aging_chart, "carc_chart": carc_chart, "provider_chart": provider_chart,
        "state_chart": state_chart})
