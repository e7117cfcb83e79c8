"""Claim-line CSV/Parquet: bad rows are reported with file, row and column; the rest is read."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from cleanclaim.errors import InputError
from cleanclaim.formats.claim_table import read_claim_table

HEADER = ("encounter_id,date,payer,place_of_service,patient_id,provider_npi,provider_discipline,diagnoses,code,"
          "modifiers,units,minutes,dx_pointers,charge\n")
ROWS = [
    "E1,2026-03-02,medicare,11,P1,1234567893,PT,M62.81;Z91.81,97110,GP,2,24,1;2,90.00\n",
    "E1,2026-03-02,medicare,11,P1,1234567893,PT,M62.81;Z91.81,97535,GP,2,23,1,90.00\n",
    "E2,2026-13-02,medicare,11,P2,1234567893,PT,M62.81,97110,GP,1,10,1,45\n",
    "E2,2026-03-02,medicare,11,P2,1234567893,PT,M62.81,,GP,-1,x,1,45\n",
    "E3,2026-03-02,commercial,11,P3,1234567893,coach,Z71.3,0592T,,1.5,29,1,80\n",
]


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "claims.csv"
    path.write_text(HEADER + "".join(ROWS))
    return path


def test_bad_rows_named_with_row_and_column(csv_file: Path) -> None:
    table = read_claim_table(csv_file)
    found = {(e.row, e.field) for e in table.errors}
    assert found == {(4, "date"), (5, "code"), (5, "units"), (5, "minutes")}
    assert all(e.file == str(csv_file) for e in table.errors)
    assert table.rows_read == 5
    assert table.rows_rejected == 2
    assert table.rows_checked == table.lines.height == 3


def test_values_are_parsed_and_never_rounded(csv_file: Path) -> None:
    table = read_claim_table(csv_file)
    e3 = table.lines.filter(pl.col("encounter_id") == "E3").row(0, named=True)
    assert e3["units"] == 1.5
    e1 = table.lines.filter(pl.col("encounter_id") == "E1").sort("line")
    assert e1.get_column("modifiers").to_list() == [["GP"], ["GP"]]
    assert e1.get_column("dx_pointers").to_list() == [[1, 2], [1]]
    assert table.encounters.filter(pl.col("encounter_id") == "E1").get_column("diagnoses").to_list() == [
        ["M62.81", "Z91.81"]]


def test_parquet_with_list_columns(tmp_path: Path, csv_file: Path) -> None:
    frame = pl.read_csv(csv_file, infer_schema=False).head(2).with_columns(
        pl.col("modifiers").str.split(";"), pl.col("units").cast(pl.Int64))
    path = tmp_path / "claims.parquet"
    frame.write_parquet(path)
    table = read_claim_table(path)
    assert table.errors == []
    assert table.lines.get_column("units").to_list() == [2.0, 2.0]


def test_missing_required_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("encounter_id,date,code\nE1,2026-03-02,97110\n")
    with pytest.raises(InputError, match="units"):
        read_claim_table(path)


def test_claim_level_columns_feed_the_completeness_rule_only_when_present(tmp_path: Path) -> None:
    import cleanclaim
    from cleanclaim.rules.engine import RuleSelection

    only = RuleSelection(select=frozenset({"missing-required-field"}))
    plain = tmp_path / "plain.csv"
    plain.write_text("encounter_id,date,code,units,charge\nE1,2026-03-02,97110,1,45\n")
    assert cleanclaim.check(plain, selection=only).findings == []
    with_claims = tmp_path / "claims.csv"
    with_claims.write_text("encounter_id,date,code,units,charge,claim_id,billing_npi\n"
                           "E1,2026-03-02,97110,1,45,CLM-1,1234567893\nE2,2026-03-02,97110,1,45,,1234567893\n")
    findings = cleanclaim.check(with_claims, selection=only).findings
    assert [(f.encounter, f.message) for f in findings] == [
        ("E2", "Encounter E2 lacks what a claim needs: claim id")]


def test_a_row_with_too_many_fields_is_rejected_and_the_rest_is_read(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("encounter_id,date,code,units\nE1,2026-03-02,97110,1\nE2,2026-03-02,97110,1,extra\n"
                    "E3,2026-03-02,97112,bad\nE4,2026-03-02,97112,1\n")
    table = read_claim_table(path)
    assert [(e.row, e.field) for e in table.errors] == [(3, None), (4, "units")]
    assert table.errors[1].encounter == "E3"
    assert table.lines.get_column("encounter_id").to_list() == ["E1", "E4"]
    assert (table.rows_read, table.rows_rejected) == (4, 2)


def test_units_and_charges_that_are_not_finite_numbers_are_rejected(tmp_path: Path) -> None:
    # "nan" and "inf" parse as floats; a unit count or a charge must still be a finite number
    path = tmp_path / "claims.csv"
    path.write_text("encounter_id,date,code,units,charge\n"
                    "E1,2026-03-02,97110,nan,10\nE2,2026-03-02,97110,-inf,10\nE3,2026-03-02,97110,1e400,10\n"
                    "E4,2026-03-02,97110,1,NaN\nE5,2026-03-02,97110,1,10\n")
    table = read_claim_table(path)
    assert {(e.row, e.field, e.message) for e in table.errors} == {
        (2, "units", "expected a number of units, got 'nan'"), (3, "units", "expected a number of units, got '-inf'"),
        (4, "units", "expected a number of units, got '1e400'"), (5, "charge", "expected a money amount, got 'NaN'")}
    assert table.lines.get_column("encounter_id").to_list() == ["E5"]
    assert table.rows_read == table.rows_checked + table.rows_rejected == 5


def test_columns_left_out_are_not_given_rather_than_empty(tmp_path: Path) -> None:
    # No patient, NPI or discipline columns: the ids are null (not "" shared by every row) and the discipline is
    # unstated, so two claims of unknown patients are not called duplicates and no NPI of no digits is reported.
    import datetime as dt

    from cleanclaim import check

    path = tmp_path / "claims.csv"
    path.write_text("encounter_id,date,code,modifiers,units\nE1,2026-03-02,97110,GP,1\nE2,2026-03-02,97110,GP,1\n")
    table = read_claim_table(path)
    assert table.lines.get_column("patient_id").to_list() == [None, None]
    assert table.lines.get_column("provider_npi").to_list() == [None, None]
    assert table.lines.get_column("provider_discipline").to_list() == ["other", "other"]
    rules = {f.rule for f in check(path, as_of=dt.date(2026, 4, 1)).findings}
    assert "duplicate-line" not in rules
    assert "invalid-npi" not in rules
    assert "provider-not-eligible" in rules  # the note that eligibility was not checked
