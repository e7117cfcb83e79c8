"""Unconfirmed billing rights are warnings, never errors (domain README: UNCONFIRMED is never a hard error)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from cleanclaim.model import Discipline, Encounter, Severity
from cleanclaim.payers import load_profile
from cleanclaim.rules import run_rules, tables_from_encounters
from cleanclaim.rules.catalogue.eligibility import unconfirmed_billers
from cleanclaim.rules.engine import RuleSelection
from cleanclaim.rules.tables import codes_frame


def _pairs() -> list[tuple[str, str, str]]:
    codes = codes_frame().filter(pl.col("deleted").is_null())
    pairs = []
    for prefix, discipline in unconfirmed_billers().select("family_prefix", "discipline").iter_rows():
        family_codes = codes.filter(pl.col("family").str.starts_with(prefix))["code"].to_list()
        assert family_codes, f"no code-book family starts with {prefix!r}"
        pairs.extend((prefix, discipline, code) for code in family_codes)
    return pairs


def test_unconfirmed_disciplines_are_real_disciplines() -> None:
    values = {d.value for d in Discipline}
    assert set(unconfirmed_billers()["discipline"].to_list()) <= values


@pytest.mark.parametrize(("prefix", "discipline", "code"), _pairs())
def test_unconfirmed_pair_is_a_warning(prefix: str, discipline: str, code: str) -> None:
    encounter = Encounter.model_validate({
        "id": "E1", "date": "2026-03-02", "patient": {"id": "P1"}, "diagnoses": ["E11.9"],
        "provider": {"npi": "1234567893", "discipline": discipline},
        "lines": [{"code": code, "units": 1, "minutes": 60, "dx_pointers": [1]}],
    })
    tables = tables_from_encounters([encounter], {"medicare": load_profile("medicare")}, as_of=dt.date(2026, 4, 1))
    findings = run_rules(tables, RuleSelection(select=frozenset({"provider-not-eligible"})))
    assert [f.severity for f in findings] == [Severity.WARNING], (prefix, discipline, code)
    assert "unconfirmed" in findings[0].message
