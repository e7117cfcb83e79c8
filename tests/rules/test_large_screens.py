"""Screens and narrowings of a large run (over SMALL_RUN lines) decide with Polars over the whole batch, or per
distinct value or combination, where a small run decides in Python line by line: on the rule cases made into one
large batch, the screened run must find exactly what running every rule on every line finds.

The cases of the common as-of date are one batch of under SMALL_RUN lines (test_screens.py); here each case is billed
again as another patient (ids suffixed), so the batch is large and every case still meets only itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from cleanclaim.model import Encounter
from cleanclaim.payers import profile_for
from cleanclaim.rules import all_rules, tables_from_encounters
from cleanclaim.rules.engine import RuleSelection, findings_table
from cleanclaim.rules.registry import CANNOT_FIRE
from cleanclaim.rules.tables import SMALL_RUN, Tables
from tests.rules.test_cases import CASES
from tests.rules.test_screens import _case_encounters

_COPIES = 3


def _copy(encounter: Encounter, copy: int) -> Encounter:
    data = encounter.model_dump(mode="json")
    data["id"] = f"{data['id']}#{copy}"
    data["patient"] = {**data["patient"], "id": f"{data['patient']['id']}#{copy}"}
    if data.get("claim_id"):
        data["claim_id"] = f"{data['claim_id']}#{copy}"
    return Encounter.model_validate(data)


def _large_batch() -> tuple[list[Encounter], dt.date]:
    as_of, encounters = max(_case_encounters().items(), key=lambda item: len(item[1]))
    return [_copy(encounter, copy) for copy in range(_COPIES) for encounter in encounters], as_of


def _tables(encounters: list[Encounter], as_of: dt.date) -> Tables:
    payers: Mapping[str, Any] = {e.payer: profile_for(e.payer, [CASES / "payers"]) for e in encounters}
    return tables_from_encounters(encounters, payers, as_of=as_of)


@pytest.fixture
def _imported_ncci(monkeypatch: pytest.MonkeyPatch, ncci_data_dir: Path) -> None:
    monkeypatch.setenv("CLEANCLAIM_DATA_DIR", str(ncci_data_dir))


@pytest.mark.usefixtures("_imported_ncci")
def test_a_large_batch_of_cases_finds_the_same_screened_and_unscreened() -> None:
    encounters, as_of = _large_batch()
    tables = _tables(encounters, as_of)
    assert not tables.small and tables.lines.height > SMALL_RUN
    screened = findings_table(tables)
    everything = findings_table(_tables(encounters, as_of), screens=False)
    assert everything.height > 1000
    assert screened.equals(everything)
    # every screen that rules its rule out on the large batch is right to: the rule flags nothing there
    fresh = _tables(encounters, as_of)
    flagged = set(everything.get_column("rule"))
    wrongly = [rule.slug for rule in all_rules() if rule.slug in flagged and rule.screen_for(fresh) is CANNOT_FIRE]
    assert not wrongly


@pytest.mark.usefixtures("_imported_ncci")
def test_a_large_batch_of_cases_flags_what_the_cases_flag_each_copy_alike() -> None:
    # each copy is its own patients: a copy's findings are the first copy's, ids aside (nothing crosses copies)
    encounters, as_of = _large_batch()
    found = findings_table(_tables(encounters, as_of)).with_columns(
        pl.col("encounter").str.split("#").list.last().alias("copy"),
        pl.col("encounter").str.split("#").list.first().alias("case_encounter"))
    per_copy = [found.filter(pl.col("copy") == str(copy)).select("rule", "case_encounter", "line", "severity")
                .sort(pl.all()) for copy in range(_COPIES)]
    assert per_copy[0].height
    assert all(frame.equals(per_copy[0]) for frame in per_copy[1:])


def _status_batch(medicare_codes: list[str]) -> Tables:
    """Over SMALL_RUN lines: Medicare claims of ``medicare_codes`` and covered therapy, commercial claims of codes
    whose PFS status decides coverage (0591T C; 99401 N only on Medicare lines) that no Medicare line bills unless
    listed."""
    def claim(number: int) -> Encounter:
        commercial = number % 2 == 1
        codes = ["97010", "0591T"] if commercial else ["97110", *medicare_codes]
        code = codes[number // 2 % len(codes)]
        return Encounter.model_validate({
            "id": f"S{number:05d}", "date": "2025-06-02", "patient": {"id": f"P{number}"}, "diagnoses": ["M62.81"],
            "payer": "commercial" if commercial else "medicare",
            "provider": {"npi": "1234567893", "discipline": "PT"},
            "lines": [{"code": code, "modifiers": ["GP"] if code == "97110" else [], "units": 1, "minutes": 15,
                       "dx_pointers": [1]}],
        })

    payers = {name: profile_for(name) for name in ("medicare", "commercial")}
    return tables_from_encounters([claim(n) for n in range(SMALL_RUN + 40)], payers, as_of=dt.date(2025, 12, 1))


@pytest.mark.parametrize("medicare_codes", [[], ["99401"], ["99401", "0591T"]])
def test_pfs_status_reads_the_billed_payer_and_code_pairs_when_the_screens_listed_them(
        medicare_codes: list[str]) -> None:
    # the codes a status decides are billed in the run, but only those a Medicare line bills are judged: the same
    # lines whether the run's (code, discipline, payer) are already listed or only its codes are read
    from cleanclaim.rules.catalogue import coverage, eligibility

    plain = _status_batch(medicare_codes)
    assert not plain.small
    listed = _status_batch(medicare_codes)
    eligibility.billed_combinations(listed)
    assert listed.has_memo(eligibility.BILLED_COMBINATIONS) and not plain.has_memo(eligibility.BILLED_COMBINATIONS)
    judged = coverage.status_judged(plain).collect()
    assert judged.equals(coverage.status_judged(listed).collect())
    assert sorted(set(judged.get_column("code"))) == sorted(medicare_codes)
    selection = RuleSelection(select=frozenset({"pfs-status-coverage", "provider-not-eligible"}))
    found = findings_table(_status_batch(medicare_codes), selection)
    assert found.equals(findings_table(_status_batch(medicare_codes), selection, screens=False))
    assert set(found.filter(pl.col("rule") == "pfs-status-coverage").get_column("code")) == set(medicare_codes)


@pytest.mark.parametrize(("discipline", "modifiers", "fires"), [
    ("PT", ["GP"], False), ("OT", ["GO"], False), ("OT", ["GP"], True), ("PT", ["GP", "GO"], True),
    ("PT", ["GN"], True), ("psychologist", ["GP"], False)])
def test_therapy_modifier_mismatch_of_a_large_run_is_screened_per_distinct_combination(
        discipline: str, modifiers: list[str], fires: bool) -> None:
    # a large run of clean therapy lines, and one last claim whose line fits the screen's verdict
    def claim(number: int, discipline: str, modifiers: list[str], code: str) -> Encounter:
        return Encounter.model_validate({
            "id": f"T{number:05d}", "date": "2026-07-01", "patient": {"id": f"P{number}"}, "diagnoses": ["M62.81"],
            "provider": {"npi": "1234567893", "discipline": discipline},
            "lines": [{"code": code, "modifiers": modifiers, "units": 1, "minutes": 15, "dx_pointers": [1]}],
        })

    clean = [claim(n, ("PT", "OT")[n % 2], (["GP"], ["GO"])[n % 2], ("97110", "97530")[n // 2 % 2])
             for n in range(SMALL_RUN + 10)]
    encounters = [*clean, claim(99999, discipline, modifiers, "97110")]
    payers = {"medicare": profile_for("medicare")}
    tables = tables_from_encounters(encounters, payers, as_of=dt.date(2026, 12, 1))
    rule = next(rule for rule in all_rules() if rule.slug == "therapy-modifier-mismatch")
    assert not tables.small
    assert (rule.screen_for(tables) is not CANNOT_FIRE) is fires
    selection = RuleSelection(select=frozenset({rule.slug}))
    found = findings_table(tables, selection)
    assert found.equals(findings_table(tables_from_encounters(encounters, payers, as_of=dt.date(2026, 12, 1)),
                                       selection, screens=False))
    assert found.get_column("encounter").to_list() == (["T99999"] if fires else [])


def test_code_numbers_are_read_as_the_lenient_int64_cast_reads_them() -> None:
    """A code of thousands of digits (fuzz, issue 15) is no number, as the cast that `_in_range` uses reads it: int()
    raised past 4,300 digits, and the check of the file was lost."""
    from cleanclaim.rules.catalogue.combinations import _numbers

    codes = ["1" * 4400, "9" * 20, "0" * 30 + "97151", "-96156", "97110"]
    cast = pl.Series(codes).cast(pl.Int64, strict=False).drop_nulls().to_list()
    assert _numbers(codes) == cast == [97151, -96156, 97110]
