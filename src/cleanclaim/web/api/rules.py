"""``GET /api/v1/rules`` and ``GET /api/v1/rules/{slug}``: the rule catalogue, the same documents as the pages."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from cleanclaim.web.catalogue import RuleDocument, RuleSummary, find_rule, rule_document, search_rules
from cleanclaim.web.context import Context, settings_of
from cleanclaim.web.errors import AppError

router = APIRouter(tags=["rules"])


class RuleList(BaseModel):
    rules: list[RuleSummary]


@router.get("/rules", response_model=RuleList)
def list_rules(ctx: Context, q: str = "", family: str = "", severity: str = "") -> RuleList:
    return RuleList(rules=search_rules(q, family=family, severity=severity))


@router.get("/rules/{slug}", response_model=RuleDocument)
def get_rule(request: Request, ctx: Context, slug: str) -> RuleDocument:
    rule = find_rule(slug)
    if rule is None:
        raise AppError(404, f"There is no rule {slug!r}; GET /api/v1/rules lists them.", details={"slug": slug})
    return rule_document(rule, cases_dir=settings_of(request).cases_dir())
