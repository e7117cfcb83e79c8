"""The rule catalogue as the pages and the API show it, built from the rule objects (never a second copy).

One :class:`RuleDocument` per rule serves the HTML page and ``GET /api/v1/rules/{slug}``; its cases are read from
the rule's case file (``tests/rules/cases/<slug>.yaml``) when the app can find it (see
``WebSettings.rule_cases_dir``).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from cleanclaim.rules.registry import Rule, all_rules, get_rule, readable_template

__all__ = ["RuleCase", "RuleDocument", "RuleSummary", "find_rule", "rule_document", "search_rules"]

EXAMPLE_SECTIONS = frozenset({"Example", "Use instead"})


class RuleSummary(BaseModel):
    id: str
    slug: str
    family: str
    severity: str
    summary: str


class RuleCase(BaseModel):
    name: str
    expect: str
    """``fail``: the rule must flag it; ``pass``: it must not."""
    encounter: str
    """The case's encounter (or encounters) as YAML, in the interchange format."""
    payer: str | None = None
    as_of: str | None = None


class RuleSection(BaseModel):
    heading: str
    paragraphs: list[str]
    example: bool
    """An encounter snippet (shown as YAML), not prose."""


class RuleDocument(RuleSummary):
    sections: list[RuleSection]
    message: str
    fix: str
    references: list[str]
    cases: list[RuleCase]


def _summary(rule: Rule) -> RuleSummary:
    return RuleSummary(id=rule.id, slug=rule.slug, family=rule.family, severity=rule.severity.value,
                       summary=rule.doc().summary)


def search_rules(query: str = "", *, family: str = "", severity: str = "") -> list[RuleSummary]:
    """Rules whose id, slug, family or summary contain every word of ``query`` (case-insensitive)."""
    words = query.lower().split()
    found = []
    for rule in all_rules():
        summary = _summary(rule)
        text = f"{summary.id} {summary.slug} {summary.family} {summary.summary}".lower()
        if all(word in text for word in words) and (not family or summary.family == family) and (
                not severity or summary.severity == severity):
            found.append(summary)
    return found


def families() -> list[str]:
    return sorted({rule.family for rule in all_rules()})


def find_rule(slug_or_id: str) -> Rule | None:
    try:
        return get_rule(slug_or_id)
    except KeyError:
        return None


def _paragraphs(body: str) -> list[str]:
    """The docstring's wrapped lines joined back into paragraphs (a blank line separates them)."""
    return [" ".join(line.strip() for line in block.splitlines()) for block in body.split("\n\n") if block.strip()]


def _dedent_block(body: str) -> str:
    """An example's lines with the docstring's indent removed (its first line arrives already stripped)."""
    first, *rest = body.splitlines() or [""]
    margin = min((len(line) - len(line.lstrip()) for line in rest if line.strip()), default=0)
    return "\n".join([first.strip(), *(line[margin:] for line in rest)]).strip()


@cache
def _cases(cases_dir: Path | None, slug: str) -> tuple[RuleCase, ...]:
    if cases_dir is None:
        return ()
    path = cases_dir / f"{slug}.yaml"
    if not path.is_file():
        return ()
    spec: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    cases = []
    for case in spec.get("cases", []):
        encounter = case.get("encounters") or case.get("encounter") or {}
        cases.append(RuleCase(
            name=str(case.get("name", "")), expect=str(case.get("expect", "")),
            encounter=yaml.safe_dump(encounter, sort_keys=False, default_flow_style=None, width=100).strip(),
            payer=None if case.get("payer") is None else str(case["payer"]),
            as_of=None if case.get("as_of") is None else str(case["as_of"]),
        ))
    return tuple(cases)


def rule_document(rule: Rule, *, cases_dir: Path | None) -> RuleDocument:
    doc = rule.doc()
    sections = [
        RuleSection(heading=heading, example=heading in EXAMPLE_SECTIONS,
                    paragraphs=[_dedent_block(body)] if heading in EXAMPLE_SECTIONS else _paragraphs(body))
        for heading, body in doc.sections.items()
    ]
    return RuleDocument(
        **_summary(rule).model_dump(), sections=sections, message=readable_template(rule.message),
        fix=readable_template(rule.fix), references=list(rule.references),
        cases=list(_cases(cases_dir, rule.slug)),
    )
