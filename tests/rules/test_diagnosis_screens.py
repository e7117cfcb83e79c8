"""The diagnosis rules' screens on a large run.

missing-diagnosis (a line without a pointer, an encounter without a diagnosis): a clean batch skips the rule, and each
kind of fault alone in an otherwise clean batch keeps it, with the findings of the rule run unscreened. A line whose
encounter is not in the encounters (or whose id is null) runs the rule whatever the screen would say.

invalid-diagnosis and non-billable-diagnosis: with no questionable encounter (every diagnosis billable in a release
that covers its dates) both are skipped; one bad diagnosis, or one date no release covers, keeps them, with the
findings of the rules run unscreened."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import polars as pl
import pytest

from cleanclaim.model import Encounter
from cleanclaim.payers import load_profile
from cleanclaim.rules.engine import RuleSelection, findings_table, screened
from cleanclaim.rules.registry import get_rule
from cleanclaim.rules.tables import SMALL_RUN, Tables, tables_from_encounters

_RULE = RuleSelection(select=frozenset({"missing-diagnosis"}))
_PAYERS = {"medicare": load_profile("medicare")}


def _clean() -> Tables:
    encounters = [Encounter.model_validate({
        "id": f"E{number:05d}", "date": "2026-07-01", "patient": {"id": f"P{number}"},
        "diagnoses": ["M62.81", "Z91.81"], "provider": {"npi": "1234567893", "discipline": "PT"},
        "lines": [{"code": "97110", "modifiers": ["GP"], "units": 1, "minutes": 15, "dx_pointers": [1]},
                  {"code": "97530", "modifiers": ["GP"], "units": 1, "minutes": 15, "dx_pointers": [1, 2]}],
    }) for number in range(SMALL_RUN // 2 + 1)]
    tables = tables_from_encounters(encounters, _PAYERS, as_of=dt.date(2026, 12, 1))
    assert not tables.small
    return tables


def _set(frame: pl.DataFrame, column: str, row: int, value: object) -> pl.DataFrame:
    values = frame.get_column(column).to_list()
    values[row] = value
    return frame.with_columns(pl.Series(column, values, dtype=frame.schema[column]))


def _line(column: str, row: int, value: object) -> Callable[[Tables], Tables]:
    return lambda t: dataclasses.replace(t, lines=_set(t.lines, column, row, value), _memo={})


def _encounter(column: str, row: int, value: object) -> Callable[[Tables], Tables]:
    return lambda t: dataclasses.replace(t, encounters=_set(t.encounters, column, row, value), _memo={})


def _runs(tables: Tables, slug: str = "missing-diagnosis") -> bool:
    return any(rule.slug == slug for rule in screened(tables, [get_rule(slug)]))


def test_a_clean_large_batch_skips_the_rule() -> None:
    tables = _clean()
    assert not _runs(tables)
    assert findings_table(tables, _RULE, screens=False).height == 0


@pytest.mark.parametrize("fault", [
    _line("dx_pointers", 7, []),  # a line without a pointer
    _line("dx_pointers", 8, None),
    _encounter("diagnoses", 5, []),  # an encounter without a diagnosis
    _encounter("diagnoses", 6, None),
    _line("encounter_id", 9, "E99999"),  # a line of an encounter that is not there
    _line("encounter_id", 11, None),  # a line without an encounter id
], ids=["empty-pointers", "null-pointers", "empty-diagnoses", "null-diagnoses", "unknown-encounter", "null-id"])
def test_each_fault_alone_keeps_the_rule_and_its_findings(fault: Callable[[Tables], Tables]) -> None:
    tables = fault(_clean())
    assert _runs(tables)
    screened_findings = findings_table(tables, _RULE)
    assert screened_findings.height > 0
    assert screened_findings.equals(findings_table(dataclasses.replace(tables, _memo={}), _RULE, screens=False))


_VALIDITY = RuleSelection(select=frozenset({"invalid-diagnosis", "non-billable-diagnosis"}))


def test_a_large_batch_of_valid_diagnoses_skips_the_validity_rules() -> None:
    tables = _clean()
    assert not _runs(tables, "invalid-diagnosis")
    assert not _runs(tables, "non-billable-diagnosis")
    assert findings_table(tables, _VALIDITY, screens=False).height == 0


@pytest.mark.parametrize(("fault", "rule"), [
    (_encounter("diagnoses", 5, ["M62.8X"]), "invalid-diagnosis"),  # not a code
    (_encounter("diagnoses", 5, ["M62"]), "non-billable-diagnosis"),  # a header
    (_line("date", 9, dt.date(2015, 11, 2)), "invalid-diagnosis"),  # judged on a date no loaded release covers
], ids=["unknown", "header", "uncovered-date"])
def test_a_questionable_encounter_keeps_the_validity_rules(fault: Callable[[Tables], Tables], rule: str) -> None:
    tables = fault(_clean())
    assert _runs(tables, "invalid-diagnosis")
    assert _runs(tables, "non-billable-diagnosis")
    found = findings_table(tables, _VALIDITY)
    assert set(found.get_column("rule")) == {rule}
    assert found.equals(findings_table(dataclasses.replace(tables, _memo={}), _VALIDITY, screens=False))
