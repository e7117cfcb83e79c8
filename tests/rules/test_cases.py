"""Runs every rule's cases in tests/rules/cases/<slug>.yaml (the sqlfluff model: cases are data, one test runs them).

A case file:
    rule: deleted-code
    defaults: {...}            # optional, deep-merged under every case's encounter
    cases:
      - name: short-name
        expect: fail | pass
        payer: medicare        # optional: overrides the encounter's payer
        as_of: 2026-04-01      # optional: the date the check runs as of
        lines: [1]             # optional (fail): the lines that must be flagged
        history: [...]         # optional: earlier encounters' lines, as in the contract
        encounter: {...}       # one encounter in the interchange format
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from cleanclaim.model import Encounter
from cleanclaim.payers import merge_settings, profile_for
from cleanclaim.rules import all_rules, get_rule, run_rules, tables_from_encounters
from cleanclaim.rules.engine import RuleSelection

CASES = Path(__file__).parent / "cases"
BASE_ENCOUNTER: dict[str, Any] = {
    "id": "E1",
    "date": "2026-03-02",
    "payer": "medicare",
    "place_of_service": "11",
    "patient": {"id": "P1", "birth_date": "1950-01-01", "sex": "F"},
    "provider": {"npi": "1234567893", "discipline": "PT"},
    "diagnoses": ["M62.81"],
}


def _load_cases() -> list[Any]:
    params = []
    for path in sorted(CASES.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        defaults = spec.get("defaults", {})
        for case in spec["cases"]:
            params.append(pytest.param(spec["rule"], defaults, case, id=f"{path.stem}:{case['name']}"))
    return params


def _encounters(defaults: Mapping[str, Any], case: Mapping[str, Any]) -> list[Encounter]:
    raw = case.get("encounters") or [case["encounter"]]
    encounters = []
    for item in raw:
        data = merge_settings(merge_settings(BASE_ENCOUNTER, defaults), item)
        if "payer" in case:
            data["payer"] = case["payer"]
        encounters.append(Encounter.model_validate(data))
    return encounters


@pytest.mark.parametrize(("slug", "defaults", "case"), _load_cases())
def test_rule_case(slug: str, defaults: Mapping[str, Any], case: Mapping[str, Any]) -> None:
    rule = get_rule(slug)
    encounters = _encounters(defaults, case)
    payers = {e.payer: profile_for(e.payer, [CASES / "payers"]) for e in encounters}
    as_of = dt.date.fromisoformat(str(case.get("as_of", "2026-11-23")))
    tables = tables_from_encounters(encounters, payers, as_of=as_of)
    findings = run_rules(tables, RuleSelection(select=frozenset({slug})))
    assert all(f.rule == rule.slug for f in findings)
    if case["expect"] == "pass":
        assert findings == [], [f.message for f in findings]
        return
    assert case["expect"] == "fail"
    assert findings, f"{slug} did not fire on case {case['name']}"
    if "lines" in case:
        assert sorted({f.line for f in findings if f.line is not None}) == case["lines"]
    for finding in findings:
        assert "?" not in finding.message.split(), f"unfilled template field in {finding.message!r}"
        assert "{" not in finding.message
        assert "{" not in finding.fix
    for text in case.get("message_contains", []):
        assert any(text in f.message or text in f.fix for f in findings), (text, [f.message for f in findings])


def test_every_rule_has_two_fail_and_two_pass_cases() -> None:
    counts: dict[str, dict[str, int]] = {}
    for path in CASES.glob("*.yaml"):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert spec["rule"] == path.stem, f"{path.name} names rule {spec['rule']}"
        for case in spec["cases"]:
            counts.setdefault(spec["rule"], {"fail": 0, "pass": 0})[case["expect"]] += 1
    for rule in all_rules():
        if not rule.reads_tables:  # its cases are its file format's tests (tests/formats/x12/test_x12_validation.py)
            continue
        assert rule.slug in counts, f"rule {rule.slug} has no cases file"
        assert counts[rule.slug]["fail"] >= 2, (rule.slug, counts[rule.slug])
        assert counts[rule.slug]["pass"] >= 2, (rule.slug, counts[rule.slug])


def test_rule_docs_have_every_heading() -> None:
    for rule in all_rules():
        doc = rule.doc()
        assert doc.summary
        for heading in ("What it checks", "Why it matters", "Example", "Use instead", "References"):
            assert doc.sections.get(heading), (rule.slug, heading)
