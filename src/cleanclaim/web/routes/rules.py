"""The rule catalogue: every rule with its family, severity and id, searchable; one page per rule.

The search box is the htmx partial pattern: typing sends ``GET /rules?q=…`` with ``HX-Request``, and the route
answers with the table alone (``rules/_table.html``), which htmx swaps in; without htmx the same URL is the page.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from cleanclaim.web.catalogue import families, find_rule, rule_document, search_rules
from cleanclaim.web.context import Context, settings_of
from cleanclaim.web.errors import AppError
from cleanclaim.web.templating import is_htmx, render

router = APIRouter(tags=["rules"])


@router.get("/rules")
def rule_list(request: Request, ctx: Context, q: str = "", family: str = "", severity: str = "") -> Response:
    rules = search_rules(q, family=family, severity=severity)
    values = {"rules": rules, "q": q, "family": family, "severity": severity, "families": families()}
    return render(request, "rules/_table.html" if is_htmx(request) else "rules/list.html", values)


@router.get("/rules/{slug}")
def rule_page(request: Request, ctx: Context, slug: str) -> Response:
    rule = find_rule(slug)
    if rule is None:
        raise AppError(404, f"There is no rule {slug!r}; the Rules page lists them all.")
    return render(request, "rules/detail.html",
                  {"rule": rule_document(rule, cases_dir=settings_of(request).cases_dir())})
