"""The ICD-10-CM chapter table behind hbai-needs-physical-diagnosis, checked against the bundled release, and how
diagnoses on a date no loaded release covers are reported."""

from __future__ import annotations

import datetime as dt

import polars as pl

from cleanclaim.diagnoses import diagnosis_frame
from cleanclaim.model import Encounter, Finding, Severity
from cleanclaim.payers import load_profile
from cleanclaim.rules import run_rules, tables_from_encounters
from cleanclaim.rules.catalogue.diagnosis import icd10cm_chapters
from cleanclaim.rules.engine import RuleSelection


def _chapter_of(categories: pl.DataFrame) -> pl.DataFrame:
    return categories.join(icd10cm_chapters(), how="cross").filter(
        (pl.col("category") >= pl.col("first")) & (pl.col("category") <= pl.col("last")))


def test_every_code_of_the_bundled_release_falls_in_exactly_one_chapter() -> None:
    categories = diagnosis_frame().select(pl.col("code").str.slice(0, 3).alias("category")).unique()
    matched = _chapter_of(categories).group_by("category").len()
    assert matched.height == categories.height, set(categories["category"]) - set(matched["category"])
    assert (matched["len"] == 1).all()


def test_kinds_of_known_codes() -> None:
    sample = pl.DataFrame({"category": ["F41", "F32", "E11", "I10", "M62", "O9A", "U07", "Z71", "W19", "R45"]})
    kinds = dict(_chapter_of(sample).select("category", "health_kind").iter_rows())
    assert kinds == {
        "F41": "mental_behavioral", "F32": "mental_behavioral", "E11": "physical", "I10": "physical",
        "M62": "physical", "O9A": "physical", "U07": "physical", "Z71": "health_factor", "W19": "external_cause",
        "R45": "physical",  # the chapter decides; the data file's header names this limit
    }


def _diagnosis_findings(date: str, diagnoses: list[str], rules: set[str]) -> list[Finding]:
    encounter = Encounter.model_validate({
        "id": "E1", "date": date, "patient": {"id": "P1"}, "diagnoses": diagnoses,
        "provider": {"npi": "1234567893", "discipline": "PT"},
        "lines": [{"code": "97110", "modifiers": ["GP"], "units": 1, "minutes": 15,
                   "dx_pointers": list(range(1, len(diagnoses) + 1))}],
    })
    tables = tables_from_encounters([encounter], {"medicare": load_profile("medicare")}, as_of=dt.date(2027, 1, 20))
    return run_rules(tables, RuleSelection(select=frozenset(rules)))


_BOTH = {"invalid-diagnosis", "non-billable-diagnosis"}


def test_uncovered_date_is_one_encounter_warning_and_codes_judged_as_usual() -> None:
    findings = _diagnosis_findings("2026-11-10", ["M62.81", "E11.9", "M62", "M62.8X", "62.81"], _BOTH)
    warnings = [f for f in findings if f.severity == Severity.WARNING]
    assert [(f.rule, f.line) for f in warnings] == [("invalid-diagnosis", None)]
    assert "2026-11-10" in warnings[0].message and "FY2026" in warnings[0].message
    assert not any(code in warnings[0].message for code in ("M62", "E11.9"))  # lists nothing else
    assert "cleanclaim data import icd10cm_order_2027.txt" in warnings[0].fix
    errors = sorted((f.rule, f.message.split(":")[0]) for f in findings if f.severity == Severity.ERROR)
    assert errors == [
        ("invalid-diagnosis", "diagnosis 4 (M62.8X), pointed to by line 1"),
        ("invalid-diagnosis", "diagnosis 5 (62.81), pointed to by line 1"),
        ("non-billable-diagnosis", "diagnosis 3 (M62), pointed to by line 1"),
    ]


def test_covered_date_has_no_release_warning() -> None:
    assert _diagnosis_findings("2026-09-30", ["M62.81", "E11.9"], _BOTH) == []
    findings = _diagnosis_findings("2026-10-01", ["M62.81", "E11.9"], _BOTH)
    assert [(f.severity, f.line) for f in findings] == [(Severity.WARNING, None)]
