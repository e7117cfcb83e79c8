"""Claim-line CSV/Parquet: bad rows are reported with file, row and column; the rest is read."""

from __future__ import annotations

import datetime as dt
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
    # No patient, NPI or discipline columns: each encounter is its own patient (not one "" or null patient shared
    # by every row) and the NPI is null, so two claims of unknown patients are not called duplicates and no NPI of
    # no digits is reported.
    import datetime as dt

    from cleanclaim import check

    path = tmp_path / "claims.csv"
    path.write_text("encounter_id,date,code,modifiers,units\nE1,2026-03-02,97110,GP,1\nE2,2026-03-02,97110,GP,1\n")
    table = read_claim_table(path)
    assert table.lines.get_column("patient_id").to_list() == ["(no patient id: encounter E1)",
                                                              "(no patient id: encounter E2)"]
    assert table.lines.get_column("provider_npi").to_list() == [None, None]
    assert table.lines.get_column("provider_discipline").to_list() == ["other", "other"]
    rules = {f.rule for f in check(path, as_of=dt.date(2026, 4, 1)).findings}
    assert "duplicate-line" not in rules
    assert "invalid-npi" not in rules
    assert "provider-not-eligible" in rules  # the note that eligibility was not checked


# --- hostile tables (issue 11): typed Parquet columns, huge fields, repeated headers, bad values, grouping ----------


def _parquet(tmp_path: Path, **extra: pl.Series) -> Path:
    frame = pl.DataFrame({"encounter_id": ["E1", "E2"], "date": [dt.date(2026, 3, 2)] * 2,
                          "code": ["97110", "97112"], "units": [1, 2]}).with_columns(**extra)
    path = tmp_path / "claims.parquet"
    frame.write_parquet(path)
    return path


EXOTIC = {
    "tags": pl.Series([["a", "b"], []], dtype=pl.List(pl.String)),
    "pair": pl.Series([[1, 2], [3, 4]], dtype=pl.Array(pl.Int64, 2)),
    "took": pl.Series([dt.timedelta(minutes=5), None]),
    "blob": pl.Series([b"\xff\xfe", b"\x00"], dtype=pl.Binary),
    "nested": pl.Series([{"x": 1}, {"x": 2}]),
    "clock": pl.Series([dt.time(9, 30), None]),
}


def test_extra_parquet_columns_of_any_type_are_kept_and_ignored(tmp_path: Path) -> None:
    path = _parquet(tmp_path, **EXOTIC)
    table = read_claim_table(path)
    assert table.errors == []
    assert table.lines.get_column("code").to_list() == ["97110", "97112"]
    assert (table.rows_read, table.rows_rejected) == (2, 0)
    from cleanclaim import check

    result = check(path, as_of=dt.date(2026, 4, 1))
    assert result.errors == []
    assert result.summary.lines == 2


@pytest.mark.parametrize(("column", "series", "expected"), [
    ("code", pl.Series([["97110"], ["97112"]]), "text or a number"),
    ("units", pl.Series([dt.timedelta(1), dt.timedelta(2)]), "text or a number"),
    ("encounter_id", pl.Series([b"\xff", b"\xfe"], dtype=pl.Binary), "text or a number"),
    ("date", pl.Series([dt.time(1), dt.time(2)]), "a date, or text as YYYY-MM-DD"),
    ("modifiers", pl.Series([{"m": "GP"}, {"m": "GO"}]), "text separated by ';', or a list"),
    ("charge", pl.Series([[1.0], [2.0]], dtype=pl.Array(pl.Float64, 1)), "text or a number"),
])
def test_a_contract_column_of_a_wrong_type_names_the_column_and_the_type_expected(
        tmp_path: Path, column: str, series: pl.Series, expected: str) -> None:
    path = _parquet(tmp_path, **{column: series})
    with pytest.raises(InputError, match=f"column {column} is of type .*; expected {expected}") as raised:
        read_claim_table(path)
    assert raised.value.field == column
    assert raised.value.file == str(path)


def test_parquet_dates_arrays_and_midnight_timestamps_are_read(tmp_path: Path) -> None:
    path = _parquet(tmp_path, date=pl.Series([dt.datetime(2026, 3, 2), dt.datetime(2026, 3, 2, 9, 30)]),
                    modifiers=pl.Series([["GP", "59"], ["GP", "KX"]], dtype=pl.Array(pl.String, 2)),
                    dx_pointers=pl.Series([[1, 2], [1]]), charge=pl.Series(["45.10", "90"]).cast(pl.Decimal(10, 2)))
    table = read_claim_table(path)
    # a timestamp at midnight is a date; 09:30 is not a date of service and is reported on its row (3 in a Parquet
    # file counts from 1, so the second data row is row 2)
    assert [(e.row, e.field) for e in table.errors] == [(2, "date")]
    (line,) = table.lines.rows(named=True)
    assert (line["date"], line["modifiers"], line["dx_pointers"], line["charge"]) == (
        dt.date(2026, 3, 2), ["GP", "59"], [1, 2], 45.10)


def test_a_field_over_the_csv_modules_limit_is_read_on_the_slow_path(tmp_path: Path) -> None:
    # the ragged row sends the file to the csv module, whose default limit is 131,072 characters a field
    import csv

    long_note = "x" * (csv.field_size_limit() + 10)
    path = tmp_path / "claims.csv"
    path.write_text("encounter_id,date,code,units,note\n"
                    f"E1,2026-03-02,97110,1,{long_note}\nE2,2026-03-02,97110,1,a,extra\n")
    table = read_claim_table(path)
    assert [(e.row, e.message) for e in table.errors] == [(3, "expected 5 fields as in the header, got 6")]
    assert table.lines.get_column("encounter_id").to_list() == ["E1"]
    # a contract field that long is read whole and reported by the rules, not cut
    path.write_text(f"encounter_id,date,code,units\nE1,2026-03-02,{long_note},1\nE2,2026-03-02,97110,1,extra\n")
    assert len(read_claim_table(path).lines.get_column("code").item()) == len(long_note)
    assert csv.field_size_limit() == 131072  # the process-wide limit is restored


def test_two_headers_with_one_contract_name_are_refused_naming_both(tmp_path: Path) -> None:
    path = tmp_path / "claims.csv"
    path.write_text("encounter_id,code,date,code,units\nE1,97110,2026-03-02,97112,1\n")
    with pytest.raises(InputError, match=r"2 columns named code \(columns 2, 4\)") as raised:
        read_claim_table(path)
    assert (raised.value.row, raised.value.field) == (1, "code")
    # a repeated extra column is not read, so it is harmless
    path.write_text("encounter_id,date,code,units,memo,memo\nE1,2026-03-02,97110,1,a,b\n")
    assert read_claim_table(path).errors == []


def test_a_bad_birth_date_is_reported_on_its_row_without_its_value(tmp_path: Path) -> None:
    path = tmp_path / "claims.csv"
    path.write_text("encounter_id,date,code,units,patient_birth_date\n"
                    "E1,2026-03-02,97110,1,1950-02-30\nE2,2026-03-02,97110,1,1950-02-28\nE3,2026-03-02,97110,1,\n")
    table = read_claim_table(path)
    (error,) = table.errors
    assert (error.row, error.field, error.message) == (2, "patient_birth_date", "expected a date as YYYY-MM-DD")
    assert "1950" not in str(error)
    assert table.encounters.sort("encounter_id").get_column("patient_birth_date").to_list() == [
        dt.date(1950, 2, 28), None]


@pytest.mark.parametrize(("charge", "ok"), [("-0.01", False), ("-1e3", False), ("0", True), ("0.00", True),
                                            ("-0", True)])
def test_a_negative_charge_is_an_input_error_on_its_row(tmp_path: Path, charge: str, ok: bool) -> None:
    path = tmp_path / "claims.csv"
    path.write_text(f"encounter_id,date,code,units,charge\nE1,2026-03-02,97110,1,{charge}\n")
    table = read_claim_table(path)
    assert [(e.row, e.field, e.message) for e in table.errors] == (
        [] if ok else [(2, "charge", f"a charge cannot be negative, got {charge!r}")])


@pytest.mark.parametrize(("minutes", "ok"), [("1440", True), ("1441", False), (str(2**63), False),
                                              (str(10**18), False)])
def test_minutes_are_bounded_by_a_day(tmp_path: Path, minutes: str, ok: bool) -> None:
    path = tmp_path / "claims.csv"
    path.write_text(f"encounter_id,date,code,units,minutes\nE1,2026-03-02,97110,1,{minutes}\n")
    assert (read_claim_table(path).errors == []) is ok


@pytest.mark.parametrize("pointers", ["1;1" + "0" * 20, "\u0661", "1;\u0662"])
def test_pointers_too_long_for_a_number_or_in_other_digits_are_row_errors(tmp_path: Path, pointers: str) -> None:
    path = tmp_path / "claims.csv"
    path.write_text(f"encounter_id,date,code,units,dx_pointers\nE1,2026-03-02,97110,1,{pointers}\n",
                    encoding="utf-8")
    assert [(e.row, e.field) for e in read_claim_table(path).errors] == [(2, "dx_pointers")]


def test_ids_differing_only_by_spaces_are_reported_never_merged(tmp_path: Path) -> None:
    path = tmp_path / "claims.csv"
    path.write_text("encounter_id,date,code,units\nE1,2026-03-02,97110,1\n E1,2026-03-02,97112,1\n"
                    "E1 ,2026-03-02,97140,1\nE2 ,2026-03-02,97110,1\nE2 ,2026-03-02,97112,1\n")
    table = read_claim_table(path)
    assert [(e.row, e.field, e.encounter) for e in table.errors] == [(3, "encounter_id", " E1"),
                                                                      (4, "encounter_id", "E1 ")]
    assert "differs from the one on row 2 only by spaces" in table.errors[0].message
    # E1 keeps only its own row; E2, spelt one way throughout, is one claim of two lines
    assert table.lines.group_by("encounter_id").len().sort("encounter_id").rows() == [("E1", 1), ("E2", 2)]
    assert (table.rows_read, table.rows_rejected) == (5, 2)


def test_without_patient_ids_each_encounter_is_its_own_patient_and_it_is_said_once(tmp_path: Path) -> None:
    # three claims of one day, 8 minutes and 1 unit each: pooled as one patient, 24 minutes allowed 2 units of 3
    from cleanclaim import check

    body = "".join(f"E{i},2026-03-02,97110,GP,1,8\n" for i in range(3))
    path = tmp_path / "claims.csv"
    path.write_text("encounter_id,date,code,modifiers,units,minutes\n" + body)
    table = read_claim_table(path)
    assert table.lines.get_column("patient_id").n_unique() == 3
    (note,) = table.notes
    assert (note.field, note.file) == ("patient_id", str(path))
    assert note.message.startswith("no patient_id column: each encounter is checked as its own patient")
    result = check(path, as_of=dt.date(2026, 4, 1))
    assert result.errors == []
    assert [n.message for n in result.notes] == [note.message]
    assert not {"duplicate-line", "units-exceed-time"} & {f.rule for f in result.findings}
    # the column given but empty for one encounter: that encounter is its own patient, another row of an
    # encounter that names its patient takes that patient
    path.write_text("encounter_id,date,code,units,patient_id\nE1,2026-03-02,97110,1,P1\nE1,2026-03-02,97112,1,\n"
                    "E2,2026-03-02,97110,1,\n")
    table = read_claim_table(path)
    assert table.lines.get_column("patient_id").to_list() == ["P1", "P1", "(no patient id: encounter E2)"]
    assert [n.message.split(":")[0] for n in table.notes] == ["1 encounter(s) have no patient id in any row"]


def test_ten_thousand_rows_without_patient_ids_are_checked_per_encounter(tmp_path: Path) -> None:
    from cleanclaim import check

    body = "".join(f"E{i},2026-03-02,97110,GP,1,8\n" for i in range(10_000))
    path = tmp_path / "claims.csv"
    path.write_text("encounter_id,date,code,modifiers,units,minutes\n" + body)
    result = check(path, as_of=dt.date(2026, 4, 1))
    assert result.summary.encounters == 10_000
    assert not {"duplicate-line", "units-exceed-time"} & {f.rule for f in result.findings}


@pytest.mark.parametrize(("units", "ok"), [("9999", True), ("9999.5", False), ("10000", False), ("10000000", False),
                                           ("1e15", False)])
def test_units_past_the_ceiling_are_reported_on_their_row(tmp_path: Path, units: str, ok: bool) -> None:
    path = tmp_path / "claims.csv"
    path.write_text(f"encounter_id,date,code,units\nE1,2026-03-02,97110,{units}\n")
    errors = read_claim_table(path).errors
    assert [(e.row, e.field) for e in errors] == ([] if ok else [(2, "units")])


@pytest.mark.parametrize(("charge", "ok"), [("9999999.99", True), ("10000000", False), ("1e23", False),
                                            ("99999999999999999999999", False)])
def test_charges_past_the_ceiling_are_reported_on_their_row(tmp_path: Path, charge: str, ok: bool) -> None:
    from cleanclaim import check

    path = tmp_path / "claims.csv"
    path.write_text(f"encounter_id,date,code,units,charge\nE1,2026-03-02,97110,1,{charge}\nE2,2026-03-02,97110,1,50\n")
    assert [(e.row, e.field) for e in read_claim_table(path).errors] == ([] if ok else [(2, "charge")])
    assert check(path, as_of=dt.date(2026, 4, 1)).summary.lines == (2 if ok else 1)


# --- what polars refuses is read row by row: every error names its row and line (issue 11, fuzz classes) -----------


def test_a_row_that_is_not_utf8_is_rejected_on_its_line_and_the_rest_is_read(tmp_path: Path) -> None:
    # Latin-1 "é" (one byte 0xe9) in row 3; UTF-8 "é" (0xc3 0xa9) in row 2 is text; 0xc3 before a comma (a cut
    # character) in row 4
    path = tmp_path / "claims.csv"
    path.write_bytes(b"encounter_id,date,code,units,note\n"
                     b"E1,2026-03-02,97110,1,caf\xc3\xa9\n"
                     b"E2,2026-03-02,97110,1,caf\xe9\n"
                     b"E3,2026-03-02,97110\xc3,1,x\n"
                     b"E4,2026-03-02,97112,1,x\n")
    table = read_claim_table(path)
    assert [(e.row, e.line, e.field, e.encounter) for e in table.errors] == [
        (3, 3, "note", "E2"), (4, 4, "code", "E3")]
    assert all("not UTF-8 text" in e.message and "\ufffd" not in str(e) for e in table.errors)
    assert table.lines.get_column("encounter_id").to_list() == ["E1", "E4"]
    assert (table.rows_read, table.rows_rejected) == (4, 2)


def test_lines_and_rows_differ_after_a_quoted_field_that_spans_lines(tmp_path: Path) -> None:
    # row 2 spans lines 2-3; the bad byte of row 3 is on line 4, that of row 4 on the second line of its field
    path = tmp_path / "claims.csv"
    path.write_bytes(b'encounter_id,date,code,units,note\nE1,2026-03-02,97110,1,"two\nlines"\n'
                     b"E2,2026-03-02,97110,1,\xff\n"
                     b'E3,2026-03-02,97110,1,"ok\nnot \xff"\n')
    table = read_claim_table(path)
    assert [(e.row, e.line) for e in table.errors] == [(3, 4), (4, 6)]
    assert table.lines.get_column("encounter_id").to_list() == ["E1"]


def test_a_header_that_is_not_utf8_is_refused_at_line_1(tmp_path: Path) -> None:
    path = tmp_path / "claims.csv"
    path.write_bytes(b"encounter_id,date,code,units,dx\xc3_pointers\nE1,2026-03-02,97110,1,1\n")
    with pytest.raises(InputError, match="the header is not UTF-8 text") as raised:
        read_claim_table(path)
    assert (raised.value.line, raised.value.row) == (1, 1)


def test_an_unclosed_quote_names_the_lines_its_field_swallowed(tmp_path: Path) -> None:
    # the csv module reads an opened quote to the end of the file: rows 3.. become one field of row 3, which is then
    # short; the error says which lines went into it, so nothing is lost without a word
    path = tmp_path / "claims.csv"
    path.write_text('encounter_id,date,code,units\nE1,2026-03-02,97110,1\nE2,2026-03-02,"97110,1\n'
                    "E3,2026-03-02,97112,1\nE4,2026-03-02,97112,1\n")
    table = read_claim_table(path)
    (error,) = table.errors
    assert (error.row, error.line) == (3, 3)
    assert error.message == ("expected 4 fields as in the header, got 3; a quoted field runs from line 3 to line 5, "
                             "check its quotes")
    assert table.lines.get_column("encounter_id").to_list() == ["E1"]


def test_a_stray_quote_inside_a_field_is_read_as_a_character(tmp_path: Path) -> None:
    # polars refuses the file ("CSV malformed"); the csv module keeps the quote, and the value is judged as any
    # other: a units value with a quote is a row error, a code with one is left to the code rules
    path = tmp_path / "claims.csv"
    path.write_text('encounter_id,date,code,units\nE1,2026-03-02,97110,1\nE2,2026-03-02,059"T,1\n'
                    'E3,2026-03-02,97110,2"\n')
    table = read_claim_table(path)
    assert [(e.row, e.field) for e in table.errors] == [(4, "units")]
    assert table.lines.get_column("code").to_list() == ["97110", '059"T']


def test_rows_of_both_lengths_and_a_repeated_extra_header_on_the_slow_path(tmp_path: Path) -> None:
    # a long row and then a short one (polars: "data does not match the number of columns" in some layouts); the
    # repeated extra column is renamed as polars renames it, not a crash of the row-by-row reader
    path = tmp_path / "claims.csv"
    path.write_text("encounter_id,date,code,units,memo,memo\nE1,2026-03-02,97110,1,a,b,c\nE2,2026-03-02,97110\n"
                    "E3,2026-03-02,97112,1,a,b\n")
    table = read_claim_table(path)
    assert [(e.row, e.line, e.message) for e in table.errors] == [
        (2, 2, "expected 6 fields as in the header, got 7"), (3, 3, "expected 6 fields as in the header, got 3")]
    assert table.lines.get_column("encounter_id").to_list() == ["E3"]


def test_an_empty_file_is_said_to_be_empty(tmp_path: Path) -> None:
    path = tmp_path / "claims.csv"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="the file is empty"):
        read_claim_table(path)


def _long_field_table(tmp_path: Path) -> Path:
    """The shape of fuzz input #480 (csv): a rejected first row, then a 140,000-character field. polars reads it in
    two chunks (the long line splits its parallel read); the filter of rejected rows leaves an empty first chunk,
    and pl.format (the patient key) panicked on it: PanicException, a BaseException, out of read_claim_table."""
    path = tmp_path / "claims.csv"
    path.write_text(HEADER + ROWS[0].replace("90.00", "90.\u06f0\u06f0")
                    + ROWS[1].replace("97535", "x" * 140_000) + ROWS[4], encoding="utf-8")
    return path


def test_a_long_field_after_a_rejected_row_is_read_without_a_panic(tmp_path: Path) -> None:
    table = read_claim_table(_long_field_table(tmp_path))
    assert [(e.row, e.field) for e in table.errors] == [(2, "charge")]
    assert table.lines.get_column("patient_id").to_list() == ["P1", "P3"]
    assert len(table.lines.get_column("code")[0]) == 140_000


def test_a_parquet_file_of_many_row_groups_with_a_rejected_first_row(tmp_path: Path) -> None:
    # several row groups are several chunks: the same empty-first-chunk panic as the long CSV field
    path = tmp_path / "claims.parquet"
    pl.DataFrame({"encounter_id": ["E1", "E2", "E3"], "date": ["2026-13-01", "2026-03-02", "2026-03-02"],
                  "code": ["97110", "97112", "97110"], "units": ["1", "1", "1"]}).write_parquet(path, row_group_size=1)
    table = read_claim_table(path)
    assert [(e.row, e.field) for e in table.errors] == [(1, "date")]
    assert table.lines.get_column("patient_id").to_list() == ["(no patient id: encounter E2)",
                                                              "(no patient id: encounter E3)"]


def test_a_panic_in_polars_is_an_internal_failure_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a panic is a BaseException: it would pass `except Exception` as a traceback; errors.UNFORESEEN names it, so
    # the CLI reports the bug in one line without the panic's text and exits 3
    from typer.testing import CliRunner

    from cleanclaim.cli import app
    from cleanclaim.formats import claim_table

    def panic(*_args: object, **_kwargs: object) -> None:
        raise pl.exceptions.PanicException("assertion failed: i < self.len() for E1")

    monkeypatch.setattr(claim_table, "_read_raw", panic)
    path = tmp_path / "claims.csv"
    path.write_text(HEADER + ROWS[0])
    result = CliRunner().invoke(app, ["check", str(path), "--as-of", "2026-04-01"])
    assert result.exit_code == 3
    assert "bug in cleanclaim" in result.output
    assert "PanicException" in result.output
    assert "self.len()" not in result.output


def test_a_payer_id_that_is_not_a_name_names_its_rows(tmp_path: Path) -> None:
    from cleanclaim import check

    path = tmp_path / "claims.csv"
    path.write_text("encounter_id,date,payer,code,modifiers,units\nE1,2026-03-02,medicare,97110,GP,1\n"
                    "E1,2026-03-02,../evil,97112,GP,1\nE2,2026-03-02,../evil,97110,GP,1\n"
                    "E3,2026-03-02,medicare,97110,GP,1\nE4,2026-03-02,Bad Payer,97110,GP,1\n")
    result = check(path, as_of=dt.date(2026, 4, 1))
    assert [(e.row, e.field, e.encounter) for e in result.errors] == [(3, "payer", None), (6, "payer", "E4")]
    assert result.errors[0].message.endswith("; not checked: row 3 and 1 other row(s), of encounter(s) E1, E2")
    assert result.errors[1].message.endswith("; not checked: row 6, of encounter(s) E4")
    assert (result.summary.lines, result.summary.rows_rejected) == (2, 3)


@pytest.mark.parametrize(("row", "rejected"), [
    ("E2,2026-03-02,97110,1\n", True),  # one field short: polars alone would pad it with an empty charge
    ("E2,2026-03-02,97110,1,\n", False),  # the same row with the charge given empty
    ('E2,2026-03-02,"97110,x",1,5\n', False),  # a comma inside quotes is not a separator
    ('E2,2026-03-02,"97110,""x""",1\n', True),  # nor inside quotes with doubled quotes; one field short
])
def test_a_row_with_too_few_fields_is_rejected_not_padded(tmp_path: Path, row: str, rejected: bool) -> None:
    path = tmp_path / "claims.csv"
    path.write_text("encounter_id,date,code,units,charge\nE1,2026-03-02,97110,1,45\n" + row)
    table = read_claim_table(path)
    assert [(e.row, e.line, e.message) for e in table.errors] == (
        [(3, 3, "expected 5 fields as in the header, got 4")] if rejected else [])
    assert table.lines.height == (1 if rejected else 2)


def _typed_edge_table(dtypes: dict[str, pl.DataType], ordered: bool) -> pl.DataFrame:
    """Parquet columns in their own types with the values that are wrong or odd in them (negative, NaN, infinite,
    null, beyond the bounds, null list elements), claims split over runs or not, a spelling of an id with spaces,
    rows without a patient id."""
    ids = ["E1", "E1", "E2", " E2", "E3", "E3", "E4", "E5", "E5", "E6", "E7", "E8"]
    if not ordered:
        ids = ["E1", "E2", "E1", " E2", "E3", "E4", "E3", "E5", "E6", "E5", "E7", "E8"]
    n = len(ids)
    values = {
        "units": [1, -2, None, 10**6, 0, 2, 3, 1, 1, 2, 1, 4],
        "minutes": [30, -1, None, 2000, 15, 8, 23, 38, 53, 15, 15, 60],
        "charge": [94, -1, None, 10**7, 45, 0, 12, 13, 14, 15, 16, 17],
        "dx_pointers": [[1], [1, None, 2], [None], [], None, [-1], [10**10], [2, 1], [1], [1], [3], [1, 2, 3]],
        "modifiers": [["gp"], ["GP", None, " 59 "], [""], [], None, [" "], ["kx", "gp"], ["GP"], [None], ["go"],
                      ["GP", "gp"], ["cq"]],
        "diagnoses": [["m62.81"], [" M62.81 ", "z91.81"], [], None, ["M62.81"], [None, "R26.89"], ["M62.81"],
                      ["M62.81;Z91.81"], ["M62.81"], [""], ["M62.81"], ["Z71.3"]],
    }
    floats = {"units": [2.0, float("nan"), float("inf"), -0.5, 1e20, None, 1.5, 0.0, 2.0, 1.0, 3.0, 4.0],
              "charge": [94.5, float("nan"), -1.0, 1e7, None, 0.1, 1e-7, 12.25, 13.0, 1.0, 2.0, 3.0]}
    frame = pl.DataFrame({
        "encounter_id": ids,
        "date": [dt.date(2026, 3, 2) if i != 5 else None for i in range(n)],
        "payer": ["medicare"] * n,
        "patient_id": [f"P{i % 3}" if i not in (6, 10) else None for i in range(n)],
        "provider_npi": ["1234567893"] * n,
        "provider_discipline": ["PT"] * n,
        "code": ["97110"] * n,
        "patient_birth_date": [dt.date(1950, 1, 1) if i != 3 else None for i in range(n)],
    })
    for name, dtype in dtypes.items():
        given = floats[name] if dtype == pl.Float64 else values[name]
        if name == "diagnoses" and dtypes["units"] == pl.Int64:  # no element with a ';' of its own
            given = [[c for c in codes if c is None or ";" not in c] if codes else codes for codes in given]
        frame = frame.with_columns(pl.Series(name, given, dtype=dtype, strict=False))
    return frame


@pytest.mark.parametrize("ordered", [True, False])
@pytest.mark.parametrize("dtypes", [
    {"units": pl.Int64(), "minutes": pl.Int64(), "charge": pl.Float64(), "dx_pointers": pl.List(pl.Int64()),
     "modifiers": pl.List(pl.String()), "diagnoses": pl.List(pl.String())},
    {"units": pl.Float64(), "minutes": pl.UInt64(), "charge": pl.Int32(), "dx_pointers": pl.List(pl.UInt32()),
     "modifiers": pl.List(pl.String()), "diagnoses": pl.List(pl.Categorical())},
    {"units": pl.Float32(), "minutes": pl.Int16(), "charge": pl.Float64(), "dx_pointers": pl.List(pl.Int8()),
     "modifiers": pl.List(pl.String()), "diagnoses": pl.List(pl.Utf8())},
], ids=["int64", "other-widths", "float32"])
@pytest.mark.parametrize("large", [True, False], ids=["as-a-large-table", "as-a-small-table"])
def test_typed_parquet_columns_are_judged_as_their_text_would_be(tmp_path: Path, dtypes: dict[str, pl.DataType],
                                                                 ordered: bool, large: bool,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from cleanclaim.formats.claim_table import CONTRACT_COLUMNS, _as_text, claim_table_from_raw

    if large:  # the shortcuts a large table takes (claims in runs, no row without a patient id, ...)
        monkeypatch.setattr("cleanclaim.formats.claim_table.SMALL_RUN", 0)
    frame = _typed_edge_table(dtypes, ordered)
    path = tmp_path / "typed.parquet"
    frame.write_parquet(path)
    typed = read_claim_table(path)
    # the oracle: every contract column first written as its text, as a CSV would give it
    text = frame.with_columns(_as_text(name, frame.schema[name], path).fill_null("").alias(name)
                              for name in frame.columns if name in CONTRACT_COLUMNS)
    judged = claim_table_from_raw(text, path, offset=1)
    assert typed.rows_rejected == judged.rows_rejected > 0
    assert [(e.row, e.field, e.message, e.encounter) for e in typed.errors] == \
        [(e.row, e.field, e.message, e.encounter) for e in judged.errors]
    assert typed.lines.equals(judged.lines)
    assert typed.encounters.equals(judged.encounters)
    assert typed.line_rows.equals(judged.line_rows)
    assert typed.encounter_rows.equals(judged.encounter_rows)
    assert [str(n) for n in typed.notes] == [str(n) for n in judged.notes]
    # each encounter starts on the file row of its first accepted line
    first = typed.lines.with_columns(typed.line_rows).group_by("encounter_id", maintain_order=True).agg(
        pl.col(typed.line_rows.name).min())
    assert typed.encounter_rows.to_list() == first.get_column(typed.line_rows.name).to_list()
    # a claim's lines are numbered in file order whether its rows are one run or not; one encounter row per claim
    assert typed.lines.filter(pl.col("encounter_id") == "E5").get_column("line").to_list() == [1, 2]
    assert typed.encounters.get_column("encounter_id").is_unique().all()


def _text_columns_table(tidy: bool) -> pl.DataFrame:
    """A large table whose payer, place of service, discipline and code columns hold few distinct values, either
    tidy (cleaning leaves each as it is) or not (spaces, case, empty values, which take the defaults), with list
    columns of codes tidy or not in the same way, diagnosis pointers all within their bounds (with null elements
    or not), and some rows rejected."""
    n = 120
    payers = ["medicare", "commercial"] if tidy else [" Medicare", "", "COMMERCIAL ", "medicare"]
    places = ["11"] if tidy else ["", " 2", "11", "02"]
    disciplines = ["PT", "OT"] if tidy else ["", " PT", "OT "]
    codes = ["97110", "G0283", "97530"] if tidy else [" 97110", "g0283 ", "", "97530"]
    modifiers = [["GP"], ["GP", "59"], []] if tidy else [["gp"], [" 59 ", None], [""], None]
    diagnoses = [["M62.81"], ["M62.81", "Z91.81"]] if tidy else [["m62.81 "], ["", "Z91.81"], None]
    pointers = [[1], [1, 2], []] if tidy else [[1, None], [0], None, [2, 999_999_999]]  # all within the bounds
    return pl.DataFrame({
        "encounter_id": [f"E{i // 3}" for i in range(n)],
        "date": [dt.date(2026, 3, 2) if i % 41 else None for i in range(n)],
        "payer": [payers[i // 3 % len(payers)] for i in range(n)],
        "place_of_service": [places[i % len(places)] for i in range(n)],
        "patient_id": [f"P{i // 6}" for i in range(n)],
        "provider_npi": ["1234567893"] * n,
        "provider_discipline": [disciplines[i // 3 % len(disciplines)] for i in range(n)],
        "diagnoses": [diagnoses[i // 3 % len(diagnoses)] for i in range(n)],
        "code": [codes[i % len(codes)] for i in range(n)],
        "modifiers": [modifiers[i % len(modifiers)] for i in range(n)],
        "units": [1 + i % 2 for i in range(n)],
        "dx_pointers": [pointers[i % len(pointers)] for i in range(n)],
    }, schema_overrides={"modifiers": pl.List(pl.String), "diagnoses": pl.List(pl.String),
                         "dx_pointers": pl.List(pl.Int64)})


@pytest.mark.parametrize("few", [True, False], ids=["few-values", "many-values"])
@pytest.mark.parametrize("tidy", [True, False], ids=["tidy", "untidy"])
def test_text_cleaned_per_distinct_value_as_row_by_row(tmp_path: Path, tidy: bool, few: bool,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # a large table cleans its payers, places, disciplines, codes and list codes once per distinct value (or keeps
    # the column when cleaning changes nothing) and bounds its pointers once for the column; the oracle is a small
    # table's row-by-row reading of the same rows
    from cleanclaim.formats import claim_table

    path = tmp_path / "text.parquet"
    _text_columns_table(tidy).write_parquet(path)
    monkeypatch.setattr(claim_table, "SMALL_RUN", 10**9)
    by_row = read_claim_table(path)
    monkeypatch.setattr(claim_table, "SMALL_RUN", 0)
    if not few:  # more distinct values than the bound: row by row again
        monkeypatch.setattr(claim_table, "_FEW_VALUES", 1)
    by_value = read_claim_table(path)
    assert by_value.rows_rejected == by_row.rows_rejected > 0
    assert [(e.row, e.field, e.message) for e in by_value.errors] == [(e.row, e.field, e.message)
                                                                      for e in by_row.errors]
    assert by_value.lines.schema == by_row.lines.schema
    assert by_value.lines.equals(by_row.lines)
    assert by_value.encounters.equals(by_row.encounters)
    assert by_value.line_rows.equals(by_row.line_rows)
    if not tidy:  # what the cleaning does, so the comparison is not of two equally wrong tables
        lines = by_value.lines
        assert set(lines.get_column("payer")) == {"medicare", "commercial"}
        assert set(lines.get_column("place_of_service")) == {"11", "02"}
        assert set(lines.get_column("provider_discipline")) == {"other", "PT", "OT"}
        assert set(lines.get_column("code")) == {"97110", "G0283", "97530"}
        assert set(lines.get_column("modifiers").explode().drop_nulls()) == {"GP", "59"}
