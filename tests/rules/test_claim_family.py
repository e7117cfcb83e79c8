"""Claim-family building blocks checked against independent arithmetic (the rule cases cover the findings)."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from cleanclaim.model import Encounter
from cleanclaim.payers import load_profile
from cleanclaim.rules import get_rule, tables_from_encounters
from cleanclaim.rules.catalogue.claim import filing_deadline, npi_check_digit, place_of_service_codes
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


@given(st.dates(min_value=dt.date(2016, 1, 1), max_value=dt.date(2030, 12, 31)))
def test_medicare_deadline_is_a_weekday_one_calendar_year_on(date_of_service: dt.date) -> None:
    frame = pl.DataFrame({"date": [date_of_service]})
    deadline = frame.select(filing_deadline(pl.col("date"), calendar_year=pl.lit(True),
                                            limit_days=pl.lit(365))).item()
    year_on = (date_of_service.replace(year=date_of_service.year + 1)
               if (date_of_service.month, date_of_service.day) != (2, 29)
               else dt.date(date_of_service.year + 1, 2, 28))
    assert deadline.weekday() < 5
    assert 0 <= (deadline - year_on).days <= 2
    if year_on.weekday() < 5:
        assert deadline == year_on


def test_other_payers_count_days() -> None:
    frame = pl.DataFrame({"date": [dt.date(2026, 3, 2)]})
    deadline = frame.select(filing_deadline(pl.col("date"), calendar_year=pl.lit(False),
                                            limit_days=pl.lit(180))).item()
    assert deadline == dt.date(2026, 8, 29)  # a Saturday: only Medicare's rule moves it


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
    rows = get_rule("duplicate-line").check(tables)
    assert rows["line"].to_list() == [2]


def test_missing_pointer_found_when_batch_pointers_are_missing() -> None:
    tables = _tables(dx_pointers=pl.lit(None, dtype=pl.List(pl.Int64)))
    rows = get_rule("missing-diagnosis").check(tables)
    assert rows["line"].to_list() == [1, 2]


def test_patient_fields_are_required_when_the_tables_carry_them() -> None:
    tables = _tables(charge=pl.lit(45.0))
    tables.encounters = tables.encounters.with_columns(
        pl.lit("Ann").alias("patient_first_name"), pl.lit(None, dtype=pl.String).alias("patient_last_name"),
        pl.lit(None, dtype=pl.Date).alias("patient_birth_date"), pl.lit("F").alias("patient_sex"),
    )
    rows = get_rule("missing-required-field").check(tables)
    missing = rows["missing"].item()
    assert "patient last name" in missing and "patient birth date" in missing
    assert "patient first name" not in missing and "patient sex" not in missing
    assert "charge" not in missing
