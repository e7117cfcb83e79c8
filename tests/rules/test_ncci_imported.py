"""The SYNTHETIC NCCI tables behind the rule cases (tests/rules/cases/ncci/*.csv, not CMS data) go through the real
import (tests/rules/conftest.py writes them as CMS files and runs ``import_files``) and come back through the normal
lookups: stored per file and quarter, answering only for the quarters they cover, and giving confirmed edits."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from cleanclaim.model import Encounter, Severity
from cleanclaim.payers import load_profile
from cleanclaim.refdata import mue_values, ptp_edits, stored_tables
from cleanclaim.rules import run_rules, tables_from_encounters
from cleanclaim.rules.engine import RuleSelection
from tests.rules.conftest import fixture_rows

CASES = Path(__file__).parent / "cases"
# The quarter each file name gives (src/cleanclaim/refdata/cms_files.py): ccipra-vVVQrN is year 1994 + VV and quarter
# Q + 1, so v321r0 -> 1994 + 32 = 2026, 1 + 1 = Q2 and v322r0 -> 2026Q3; Eff_04-01-2026 -> April = 2026Q2.
QUARTER = {
    "ccipra-v321r0-f1.TXT": "2026Q2",
    "ccipra-v321r0-f2.TXT": "2026Q2",
    "ccipra-v322r0-f1.TXT": "2026Q3",
    "ccipra-v322r0-f2.TXT": "2026Q3",
    "MCR_MUE_PractitionerServices_Eff_04-01-2026.csv": "2026Q2",
}
BUNDLED_DAY = dt.date(2026, 3, 2)  # the rule cases' default date of service, 2026Q1: not imported
Q2_DAY = dt.date(2026, 4, 6)
Q3_FIRST_DAY = dt.date(2026, 7, 1)


@pytest.fixture
def imported(ncci_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLEANCLAIM_DATA_DIR", str(ncci_data_dir))


def _pairs(frame: pl.DataFrame) -> set[tuple[str, str, int]]:
    return set(frame.select("column1", "column2", "modifier_indicator").iter_rows())


def _fixture_pairs(zip_name: str, *, in_force_on: dt.date) -> set[tuple[str, str, int]]:
    return {(r["column1"], r["column2"], int(r["modifier"])) for r in fixture_rows("ptp.csv")
            if r["zip"] == zip_name and (r["deletion"] == "*" or r["deletion"] > in_force_on.strftime("%Y%m%d"))}


@pytest.mark.usefixtures("imported")
def test_every_fixture_file_is_stored_for_the_quarter_its_name_gives() -> None:
    rows = Counter((kind, f"{r['zip']}:{r['file']}", r["file"])
                   for kind in ("ptp", "mue") for r in fixture_rows(f"{kind}.csv"))
    expected = {(kind, source): (QUARTER[file], count) for (kind, source, file), count in rows.items()}
    assert {(s.kind.value, s.source_file): (s.period, s.rows) for s in stored_tables()} == expected


@pytest.mark.usefixtures("imported")
def test_imported_quarters_replace_the_bundled_ptp_subset_only_where_they_cover() -> None:
    bundled = ptp_edits(BUNDLED_DAY)
    assert ("97162", "97140", 1) in _pairs(bundled)
    assert not bundled["verified"].any()
    assert not bundled["source"].str.contains("SYNTHETIC").any()

    q2 = ptp_edits(Q2_DAY)
    assert _pairs(q2) == _fixture_pairs("SYNTHETIC-ncci-ptp-2026Q2.zip", in_force_on=Q2_DAY)
    assert ("97535", "97537", 9) in _pairs(q2)  # the indicator-9 pair is in force: only the rule ignores it
    assert q2["verified"].all()
    assert set(q2["source"]) == {"imported SYNTHETIC-ncci-ptp-2026Q2.zip:ccipra-v321r0-f1.TXT (2026Q2)",
                                 "imported SYNTHETIC-ncci-ptp-2026Q2.zip:ccipra-v321r0-f2.TXT (2026Q2)"}

    q3 = ptp_edits(Q3_FIRST_DAY)
    assert _pairs(q3) == _fixture_pairs("SYNTHETIC-ncci-ptp-2026Q3.zip", in_force_on=Q3_FIRST_DAY)
    assert ("97760", "97763", 0) not in _pairs(q3)  # deleted 2026-07-01, the first date it no longer applies
    assert ("97750", "97755", 0) in _pairs(q3)


@pytest.mark.usefixtures("imported")
def test_imported_mue_replaces_the_bundled_values_only_for_2026q2() -> None:
    assert set(mue_values(BUNDLED_DAY)["code"]) == {"97110", "97112"}  # bundled mue.csv, MAI unknown
    q2 = mue_values(Q2_DAY)
    expected = {(r["code"], int(r["mue"]), int(r["mai"][0]), r["rationale"]) for r in fixture_rows("mue.csv")}
    assert set(q2.select("code", "mue", "mai", "rationale").iter_rows()) == expected


@pytest.mark.usefixtures("imported")
def test_findings_from_imported_edits_are_confirmed_errors_citing_the_file() -> None:
    encounter = Encounter.model_validate({
        "id": "E1", "date": Q2_DAY.isoformat(), "payer": "medicare", "place_of_service": "11",
        "patient": {"id": "P1", "birth_date": "1950-01-01", "sex": "F"},
        "provider": {"npi": "1234567893", "discipline": "PT"}, "diagnoses": ["M62.81"],
        "lines": [{"code": "97112", "modifiers": ["GP"], "units": 1, "minutes": 15},
                  {"code": "97116", "modifiers": ["GP"], "units": 1, "minutes": 15},
                  {"code": "97530", "modifiers": ["GP"], "units": 5, "minutes": 75}],
    })
    tables = tables_from_encounters([encounter], {"medicare": load_profile("medicare", [CASES / "payers"])},
                                    as_of=dt.date(2026, 11, 23))
    findings = run_rules(tables, RuleSelection(select=frozenset({"ncci-ptp-conflict", "mue-exceeded"})))
    # 97116 is column 2 to 97112 with indicator 1 and no modifier; 97530 has 5 units on a line against MUE 4, MAI 1.
    assert sorted((f.rule, f.line) for f in findings) == [("mue-exceeded", 3), ("ncci-ptp-conflict", 2)]
    for finding in findings:
        assert finding.severity is Severity.ERROR
        assert "UNCONFIRMED" not in finding.message
    by_rule = {f.rule: f.message for f in findings}
    assert "(imported SYNTHETIC-ncci-ptp-2026Q2.zip:ccipra-v321r0-f1.TXT (2026Q2); edit effective 2020-01-01)" in (
        by_rule["ncci-ptp-conflict"])
    assert "Rationale: Synthetic: standards of medical/surgical practice." in by_rule["ncci-ptp-conflict"]
    assert "imported SYNTHETIC-ncci-mue-2026Q2.zip:MCR_MUE_PractitionerServices_Eff_04-01-2026.csv (2026Q2)" in (
        by_rule["mue-exceeded"])
    assert "Rationale: Synthetic: clinical data." in by_rule["mue-exceeded"]
