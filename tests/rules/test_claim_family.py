"""Claim-family building blocks checked against independent arithmetic (the rule cases cover the findings)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from cleanclaim.model import Encounter, Finding, Severity
from cleanclaim.payers import load_profile
from cleanclaim.rules import get_rule, run_rules, tables_from_encounters
from cleanclaim.rules.catalogue.claim import (
    federal_holidays,
    next_workday,
    nominal_deadline,
    npi_check_digit,
    place_of_service_codes,
    workday_deadlines,
)
from cleanclaim.rules.engine import RuleSelection
from cleanclaim.rules.tables import Tables


def _luhn_check_digit(payload: str) -> int:
    """Textbook Luhn: the digit that makes payload + digit pass, written independently of the rule's shortcut."""
    total = 0
    for index, char in enumerate(reversed(payload)):
        value = int(char)
        if index % 2 == 0:  # the rightmost payload digit sits next to the check digit and is doubled
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return (10 - total % 10) % 10


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_npi_check_digit_is_luhn_over_80840_prefix(first_nine: str) -> None:
    frame = pl.DataFrame({"npi": [first_nine + "0"]})
    computed = frame.select(npi_check_digit(pl.col("npi"))).item()
    assert computed == _luhn_check_digit("80840" + first_nine)


def test_cms_examples() -> None:
    frame = pl.DataFrame({"npi": ["1234567893", "1558598797", "1234567890"]})
    assert frame.select(npi_check_digit(pl.col("npi"))).to_series().to_list() == [3, 7, 3]


# OPM's published federal holiday dates (opm.gov, "Federal Holidays"), as observed, typed in from its tables.
_OPM_2026 = {
    dt.date(2026, 1, 1), dt.date(2026, 1, 19), dt.date(2026, 2, 16), dt.date(2026, 5, 25), dt.date(2026, 6, 19),
    dt.date(2026, 7, 3), dt.date(2026, 9, 7), dt.date(2026, 10, 12), dt.date(2026, 11, 11), dt.date(2026, 11, 26),
    dt.date(2026, 12, 25),
}
_OPM_2021 = {  # New Year's Day 2022 fell on a Saturday: observed Friday 2021-12-31; Christmas observed 12-24
    dt.date(2021, 1, 1), dt.date(2021, 1, 18), dt.date(2021, 2, 15), dt.date(2021, 5, 31), dt.date(2021, 6, 18),
    dt.date(2021, 7, 5), dt.date(2021, 9, 6), dt.date(2021, 10, 11), dt.date(2021, 11, 11), dt.date(2021, 11, 25),
    dt.date(2021, 12, 24), dt.date(2021, 12, 31),
}


def test_federal_holidays_match_opm_tables() -> None:
    assert set(federal_holidays(2026)) == _OPM_2026
    assert set(federal_holidays(2021)) == _OPM_2021
    assert federal_holidays(2026)[dt.date(2026, 7, 3)] == "Independence Day (observed)"


def test_juneteenth_only_from_2021() -> None:
    assert not any("Juneteenth" in name for name in federal_holidays(2020).values())
    assert federal_holidays(2027)[dt.date(2027, 6, 18)] == "Juneteenth National Independence Day (observed)"


@given(st.integers(min_value=1990, max_value=2060))
def test_every_year_has_its_holidays_once_on_weekdays(year: int) -> None:
    # Ten holidays, eleven from 2021 (Juneteenth); a New Year's Day on Saturday is observed in the year before.
    observed = federal_holidays(year)
    count = 11 if year >= 2021 else 10
    new_year_moved_out = dt.date(year, 1, 1).weekday() == 5
    new_year_moved_in = dt.date(year + 1, 1, 1).weekday() == 5
    assert len(observed) == count - new_year_moved_out + new_year_moved_in
    assert all(day.weekday() < 5 and day.year == year for day in observed)
    thanksgiving = next(day for day, name in observed.items() if name.startswith("Thanksgiving"))
    assert thanksgiving.weekday() == 3 and 22 <= thanksgiving.day <= 28


def test_next_workday_skips_weekends_and_holidays() -> None:
    assert next_workday(dt.date(2026, 12, 25)) == (dt.date(2026, 12, 28), "Christmas Day 2026-12-25")
    assert next_workday(dt.date(2026, 1, 1)) == (dt.date(2026, 1, 2), "New Year's Day 2026-01-01")
    assert next_workday(dt.date(2026, 7, 4)) == (dt.date(2026, 7, 6), "Saturday 2026-07-04")
    assert next_workday(dt.date(2026, 3, 3)) == (dt.date(2026, 3, 3), None)


@given(st.dates(min_value=dt.date(2016, 1, 1), max_value=dt.date(2030, 12, 31)))
def test_medicare_deadline_is_a_workday_one_calendar_year_on(date_of_service: dt.date) -> None:
    frame = pl.DataFrame({"date": [date_of_service]})
    nominal = frame.select(nominal_deadline(pl.col("date"), calendar_year=pl.lit(True),
                                            limit_days=pl.lit(365))).to_series()
    deadline = workday_deadlines(nominal)["workday"].item()
    year_on = (date_of_service.replace(year=date_of_service.year + 1)
               if (date_of_service.month, date_of_service.day) != (2, 29)
               else dt.date(date_of_service.year + 1, 2, 28))
    closed = set(federal_holidays(year_on.year)) | set(federal_holidays(year_on.year + 1))
    assert deadline.weekday() < 5 and deadline not in closed
    assert 0 <= (deadline - year_on).days <= 3  # at most a holiday weekend: Saturday to Tuesday
    skipped = [year_on + dt.timedelta(days=n) for n in range((deadline - year_on).days)]
    assert all(day.weekday() >= 5 or day in closed for day in skipped)


def test_workday_deadlines_look_up_each_date_once() -> None:
    deadlines = pl.Series([dt.date(2026, 12, 25)] * 3 + [dt.date(2026, 3, 3), None])
    table = workday_deadlines(deadlines)
    assert table.height == 2
    assert dict(table.select("nominal", "workday").iter_rows()) == {
        dt.date(2026, 3, 3): dt.date(2026, 3, 3), dt.date(2026, 12, 25): dt.date(2026, 12, 28)}


def test_other_payers_count_days() -> None:
    frame = pl.DataFrame({"date": [dt.date(2026, 3, 2)]})
    deadline = frame.select(nominal_deadline(pl.col("date"), calendar_year=pl.lit(False),
                                             limit_days=pl.lit(180))).item()
    assert deadline == dt.date(2026, 8, 29)


def _filing_findings(payer: str, date: str, as_of: dt.date) -> list[Finding]:
    encounter = Encounter.model_validate({
        "id": "E1", "date": date, "payer": payer, "patient": {"id": "P1"},
        "provider": {"npi": "1234567893", "discipline": "PT"}, "diagnoses": ["M62.81"],
        "lines": [{"code": "97110", "modifiers": ["GP"], "units": 1, "minutes": 15, "dx_pointers": [1]}],
    })
    tables = tables_from_encounters([encounter], {payer: load_profile(payer)}, as_of=as_of)
    return run_rules(tables, RuleSelection(select=frozenset({"timely-filing"})))


def test_unconfirmed_commercial_limit_is_a_warning_citing_the_contract() -> None:
    (finding,) = _filing_findings("commercial", "2026-03-02", dt.date(2026, 9, 30))
    assert finding.severity == Severity.WARNING
    assert "assumed limit" in finding.message
    assert finding.references == ["The payer contract or provider manual (timely-filing clause)"]
    assert not any("424.44" in ref or "timely_filing" in ref for ref in finding.references)


def test_medicare_late_claim_is_an_error_citing_medicare_law() -> None:
    (finding,) = _filing_findings("medicare", "2025-12-25", dt.date(2026, 12, 29))
    assert finding.severity == Severity.ERROR
    assert "424.44" in finding.references[0]
    assert any("First Coast" in ref for ref in finding.references)
    assert not any("timely_filing" in ref for ref in finding.references)


def test_place_of_service_file_holds_only_assigned_two_digit_codes() -> None:
    codes = place_of_service_codes()
    assert codes["code"].is_unique().all()
    assert codes["code"].str.contains(r"^\d{2}$").all()
    unassigned = {"28", "29", "30", "35", "40", "43", "48", "59", "63", "64", "67", "70", "73", "80", "82", "98"}
    assert not unassigned & set(codes["code"].to_list())
    assert {"02", "10", "11", "12", "21", "22", "27", "66", "99"} <= set(codes["code"].to_list())
    assert set(codes.filter(pl.col("inpatient"))["code"].to_list()) == {"21", "51", "61"}


def _tables(**changes: pl.Expr) -> Tables:
    encounter = Encounter.model_validate({
        "id": "E1", "date": "2026-03-02", "patient": {"id": "P1"},
        "provider": {"npi": "1234567893", "discipline": "PT"}, "diagnoses": ["M62.81"],
        "lines": [{"code": "97110", "modifiers": ["GP"], "units": 1, "minutes": 15, "dx_pointers": [1]},
                  {"code": "97110", "modifiers": ["GP"], "units": 1, "dx_pointers": [1]}],
    })
    tables = tables_from_encounters([encounter], {"medicare": load_profile("medicare")}, as_of=dt.date(2026, 4, 1))
    tables.lines = tables.lines.with_columns(**changes)
    return tables


def test_duplicates_found_when_batch_modifiers_are_missing() -> None:
    # A Parquet batch may hold null instead of an empty modifier list; the duplicate must not slip through.
    tables = _tables(modifiers=pl.lit(None, dtype=pl.List(pl.String)))
    rows = get_rule("duplicate-line").rows(tables)
    assert rows["line"].to_list() == [2]


def test_missing_pointer_found_when_batch_pointers_are_missing() -> None:
    tables = _tables(dx_pointers=pl.lit(None, dtype=pl.List(pl.Int64)))
    rows = get_rule("missing-diagnosis").rows(tables)
    assert rows["line"].to_list() == [1, 2]


def test_patient_fields_are_required_when_the_tables_carry_them() -> None:
    tables = _tables(charge=pl.lit(45.0))
    tables.encounters = tables.encounters.with_columns(
        pl.lit("CLM-1").alias("claim_id"), pl.lit("Ann").alias("patient_first_name"),
        pl.lit(None, dtype=pl.String).alias("patient_last_name"),
        pl.lit(None, dtype=pl.Date).alias("patient_birth_date"), pl.lit("F").alias("patient_sex"),
    )
    rows = get_rule("missing-required-field").rows(tables)
    missing = rows["missing"].item()
    assert "patient last name" in missing and "patient birth date" in missing
    assert "patient first name" not in missing and "patient sex" not in missing
    assert "charge" not in missing


def test_claim_table_rows_with_odd_npi_digits_or_patient_spellings(tmp_path: Path) -> None:
    import cleanclaim

    # a full-width digit in an NPI is reported as not ten digits (it used to stop the whole check); three identical
    # lines of one claim are duplicates however each row spells the patient id
    table = tmp_path / "claims.csv"
    table.write_text(
        "encounter_id,date,patient_id,provider_npi,provider_discipline,code,modifiers,units,minutes,dx_pointers\n"
        "E1,2026-03-02,P1,1234567893,PT,97110,GP,1,15,1\n"
        "E1,2026-03-02,P1 ,1234567893,PT,97110,GP,1,,1\n"
        "E1,2026-03-02,p1,1234567893,PT,97110,GP,1,,1\n"
        "E2,2026-03-02,P2,12345678\uff193,PT,97110,GP,1,15,1\n",
        encoding="utf-8",
    )
    result = cleanclaim.check(table, as_of=dt.date(2026, 4, 1))
    assert result.errors == []
    duplicates = sorted(f.line for f in result.findings if f.rule == "duplicate-line" and f.encounter == "E1")
    assert duplicates == [2, 3]
    [npi] = [f for f in result.findings if f.rule == "invalid-npi" and f.encounter == "E2"]
    assert "12345678\uff193" in npi.message
