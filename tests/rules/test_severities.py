"""Severities that the case files cannot express: unconfirmed edits are warnings, confirmed ones errors; a plan of care
close to its deadline is a warning, past it an error; a frequency limit keeps the profile's severity."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from cleanclaim.model import Encounter, Severity
from cleanclaim.payers import load_profile
from cleanclaim.rules import run_rules, tables_from_encounters
from cleanclaim.rules.engine import RuleSelection

CASES = Path(__file__).parent / "cases"
BASE: dict[str, Any] = {"id": "E1", "date": "2026-03-02", "payer": "medicare",
                        "patient": {"id": "P1", "birth_date": "1950-01-01", "sex": "F"},
                        "provider": {"npi": "1234567893", "discipline": "PT"}, "diagnoses": ["M62.81"]}


def _severities(slug: str, **encounter: Any) -> list[Severity]:
    parsed = Encounter.model_validate({**BASE, **encounter})
    payers = {parsed.payer: load_profile(parsed.payer, [CASES / "payers"])}
    tables = tables_from_encounters([parsed], payers, as_of=dt.date(2026, 11, 23))
    return [f.severity for f in run_rules(tables, RuleSelection(select=frozenset({slug})))]


def test_units_exceed_is_an_error_and_below_a_warning() -> None:
    over = [{"code": "97110", "modifiers": ["GP"], "units": 3, "minutes": 30}]
    under = [{"code": "97110", "modifiers": ["GP"], "units": 1, "minutes": 30}]
    assert _severities("units-exceed-time", lines=over) == [Severity.ERROR]
    assert _severities("units-below-time", lines=under) == [Severity.WARNING]


def test_plan_of_care_warning_before_and_error_after_the_deadline() -> None:
    lines = [{"code": "97110", "modifiers": ["GP"], "units": 2, "minutes": 30}]
    plan = {"start": "2026-01-05", "certified_through": "2026-04-04"}
    assert _severities("plan-of-care-recert-due", date="2026-03-30", plan_of_care=plan, lines=lines) == [
        Severity.WARNING]
    assert _severities("plan-of-care-recert-due", date="2026-04-05", plan_of_care=plan, lines=lines) == [
        Severity.ERROR]


def test_bundled_secondary_source_edits_are_warnings() -> None:
    lines = [{"code": "97162", "modifiers": ["GP"], "units": 1},
             {"code": "97140", "modifiers": ["GP"], "units": 1, "minutes": 15},
             {"code": "97110", "modifiers": ["GP"], "units": 7, "minutes": 105}]
    assert _severities("ncci-ptp-conflict", lines=lines) == [Severity.WARNING]
    assert _severities("mue-exceeded", lines=lines) == [Severity.WARNING]


def test_lcd_example_limits_are_warnings() -> None:
    history = [{"date": f"2026-02-{day:02d}", "code": "97535"} for day in range(3, 27, 2)]
    lines = [{"code": "97535", "modifiers": ["GP"], "units": 1, "minutes": 15},
             {"code": "97116", "modifiers": ["GP"], "units": 1, "minutes": 15}]
    assert _severities("visit-frequency-limit", payer="lcd-example", history=history, lines=lines) == [
        Severity.WARNING]
    assert _severities("distinct-goals-required", payer="lcd-example", lines=lines) == [Severity.WARNING]

