"""Importing the CMS order file for a later fiscal year, and lookups by date across bundled and imported releases."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import polars as pl
import pytest

from cleanclaim import diagnoses
from cleanclaim.diagnoses import (
    DiagnosisStatus,
    classify_diagnoses,
    diagnosis_frame,
    import_order_file,
    lookup_diagnosis,
    releases,
)
from cleanclaim.errors import InputError

from .conftest import order_line

# A small FY2027 order file in the official layout: M62.81 and E11.9 carry on, I42.00 is new in FY2027 (a
# synthetic stand-in for a new code), and Z71.3 is left out so it is unknown for FY2027 dates.
FY2027_ROWS = [
    (1, "E11", False, "Type 2 diabetes mellitus", "Type 2 diabetes mellitus"),
    (2, "E119", True, "Type 2 diabetes mellitus without complications",
     "Type 2 diabetes mellitus without complications"),
    (3, "I42", False, "Cardiomyopathy", "Cardiomyopathy"),
    (4, "I420", False, "Dilated cardiomyopathy", "Dilated cardiomyopathy"),
    (5, "I4200", True, "Dilated cardiomyopathy, unspecified", "Dilated cardiomyopathy, unspecified"),
    (6, "M62", False, "Other disorders of muscle", "Other disorders of muscle"),
    (7, "M628", False, "Other specified disorders of muscle", "Other specified disorders of muscle"),
    (8, "M6281", True, "Muscle weakness (generalized)", "Muscle weakness (generalized)"),
]


# The bundled releases' fiscal years, oldest first (FY2022 and FY2023: the October file and the April update).
BUNDLED_YEARS = [2021, 2022, 2022, 2023, 2023, 2024, 2025, 2026]


def write_order_file(folder: Path, name: str = "icd10cm_order_2027.txt", rows: list[str] | None = None) -> Path:
    lines = rows if rows is not None else [order_line(*row) for row in FY2027_ROWS]
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_import_fy2027_and_look_up_a_november_2026_date(tmp_path: Path, data_dir: Path) -> None:
    info = import_order_file(write_order_file(tmp_path))
    assert info.fiscal_year == 2027
    assert (info.valid_from, info.valid_to) == (dt.date(2026, 10, 1), dt.date(2027, 9, 30))
    assert (info.codes, info.billable) == (8, 3)
    assert not info.bundled
    stored = list((data_dir / "icd10cm").glob("*.parquet"))
    assert [Path(info.path)] == stored

    found = lookup_diagnosis("I42.00", dt.date(2026, 11, 1))
    assert found.status is DiagnosisStatus.BILLABLE
    assert found.release == "ICD-10-CM FY2027"
    assert found.covers_date
    assert found.note is None
    assert found.short_description == "Dilated cardiomyopathy, unspecified"

    header = lookup_diagnosis("M62", dt.date(2026, 11, 1))
    assert header.status is DiagnosisStatus.NOT_BILLABLE
    assert (header.billable_children, header.example_child) == (1, "M62.81")


def test_each_date_uses_the_release_in_force(tmp_path: Path) -> None:
    import_order_file(write_order_file(tmp_path))
    # The FY2027 code did not exist in FY2026: unknown there, and the note says where it does exist.
    earlier = lookup_diagnosis("I42.00", dt.date(2026, 9, 30))
    assert earlier.status is DiagnosisStatus.UNKNOWN
    assert earlier.release == "ICD-10-CM FY2026 April update"
    assert earlier.note is not None
    assert "FY2027" in earlier.note
    # Z71.3 is in the bundled FY2026 table but not in this FY2027 file.
    assert lookup_diagnosis("Z71.3", dt.date(2026, 9, 30)).billable
    later = lookup_diagnosis("Z71.3", dt.date(2026, 10, 1))
    assert later.status is DiagnosisStatus.UNKNOWN
    assert later.note is not None
    assert "ICD-10-CM FY2026 April update" in later.note


def test_releases_lists_bundled_and_imported(tmp_path: Path) -> None:
    assert [r.fiscal_year for r in releases()] == BUNDLED_YEARS
    import_order_file(write_order_file(tmp_path))
    listed = releases()
    assert [(r.fiscal_year, r.bundled) for r in listed] == [(year, True) for year in BUNDLED_YEARS] + [(2027, False)]
    assert listed[-1].source_file.endswith("icd10cm_order_2027.txt")
    assert listed[-1].created  # import time


def test_fiscal_year_argument_when_the_name_has_none(tmp_path: Path) -> None:
    path = write_order_file(tmp_path, name="order.txt")
    with pytest.raises(InputError, match="fiscal year"):
        import_order_file(path)
    assert import_order_file(path, fiscal_year=2027).fiscal_year == 2027


def test_import_from_the_cms_zip(tmp_path: Path) -> None:
    text = write_order_file(tmp_path).read_text(encoding="utf-8")
    archive = tmp_path / "2027-code-descriptions-tabular-order.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("Code Descriptions/icd10cm_codes_2027.txt", "E119    Type 2 diabetes\n")
        zipped.writestr("Code Descriptions/icd10cm_order_2027.txt", text)
        zipped.writestr("Code Descriptions/icd10cm_order_addenda_2027.txt", text.splitlines()[4] + "\n")
    info = import_order_file(archive)
    assert info.fiscal_year == 2027
    assert "icd10cm_order_2027.txt" in info.source_file
    assert lookup_diagnosis("M62.81", dt.date(2027, 3, 1)).release == "ICD-10-CM FY2027"


def test_a_zip_without_an_order_file_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "codes-2027.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("icd10cm_codes_2027.txt", "E119    Type 2 diabetes\n")
    with pytest.raises(InputError, match="order file"):
        import_order_file(archive)


@pytest.mark.parametrize(
    ("bad_row", "expected"),
    [
        (order_line(3, "I42", False, "Cardiomyopathy", "Cardiomyopathy").replace(" 0 ", " X ", 1), "column 15"),
        ("00003 I42     0 Cardiomyopathy", "at least 78"),
        (order_line(3, "I4-2", False, "Cardiomyopathy", "Cardiomyopathy"), "columns 7-13"),
        (order_line(3, "I42", False, "Cardiomyopathy", ""), "long description"),
        ("0003  " + order_line(3, "I42", False, "Cardiomyopathy", "Cardiomyopathy")[6:], "order number"),
        (order_line(3, "E119", True, "Type 2 diabetes", "Type 2 diabetes"), "appears again"),
    ],
)
def test_a_malformed_row_names_file_and_row_and_writes_nothing(
    tmp_path: Path, data_dir: Path, bad_row: str, expected: str
) -> None:
    rows = [order_line(*row) for row in FY2027_ROWS]
    rows[2] = bad_row
    path = write_order_file(tmp_path, rows=rows)
    with pytest.raises(InputError, match=expected) as raised:
        import_order_file(path)
    assert raised.value.row == 3
    assert raised.value.file == "icd10cm_order_2027.txt"
    assert "icd10cm_order_2027.txt" in str(raised.value)
    assert "row 3" in str(raised.value)
    folder = data_dir / "icd10cm"
    assert not folder.exists() or not any(folder.iterdir())  # not even a temporary file
    assert [r.fiscal_year for r in releases()] == BUNDLED_YEARS  # the bundled ones only


def test_a_failed_reimport_keeps_the_earlier_import(tmp_path: Path) -> None:
    first = import_order_file(write_order_file(tmp_path))
    broken = [order_line(*row) for row in FY2027_ROWS] + ["garbage"]
    with pytest.raises(InputError) as raised:
        import_order_file(write_order_file(tmp_path, name="icd10cm_order_2027_fixed.txt", rows=broken))
    assert raised.value.row == len(FY2027_ROWS) + 1
    assert [r.codes for r in releases() if not r.bundled] == [first.codes]


def test_diagnosis_frame_gives_one_row_per_code_and_date(tmp_path: Path) -> None:
    import_order_file(write_order_file(tmp_path))
    frame = diagnosis_frame()
    assert {"code", "billable", "release", "valid_from", "valid_to"} <= set(frame.columns)
    claims = pl.DataFrame(
        {
            "line": [1, 2, 3, 4, 5],
            "diagnosis": ["M6281", "M6281", "I4200", "I4200", "M62"],
            "date": [dt.date(2026, 9, 30), dt.date(2026, 10, 1), dt.date(2026, 9, 30), dt.date(2027, 1, 5),
                     dt.date(2027, 1, 5)],
        }
    )
    matched = (
        claims.join(frame, left_on="diagnosis", right_on="code", how="inner")
        .filter(pl.col("date").is_between(pl.col("valid_from"), pl.col("valid_to")))
        .sort("line")
    )
    # I42.00 on 2026-09-30 has no row: unknown in FY2026. Every other line matches exactly once.
    assert matched["line"].to_list() == [1, 2, 4, 5]
    assert matched["release"].to_list() == ["ICD-10-CM FY2026 April update", "ICD-10-CM FY2027", "ICD-10-CM FY2027",
                                            "ICD-10-CM FY2027"]
    assert matched["billable"].to_list() == [True, True, True, False]


def test_an_imported_october_file_answers_before_the_bundled_april_update(tmp_path: Path) -> None:
    # An October 2025 (FY2026) order file is the right answer for 2025-10-01 .. 2026-03-31; the bundled
    # April 1, 2026 update still answers from April on.
    rows = [order_line(1, "M62", False, "Other disorders of muscle", "Other disorders of muscle"),
            order_line(2, "M6281", True, "Muscle weakness (generalized)", "Muscle weakness (generalized)")]
    import_order_file(write_order_file(tmp_path, name="icd10cm_order_2026.txt", rows=rows))
    january = lookup_diagnosis("Z71.3", dt.date(2026, 1, 15))
    may = lookup_diagnosis("Z71.3", dt.date(2026, 5, 1))
    assert january.status is DiagnosisStatus.UNKNOWN  # not in the imported October file
    assert not january.release_info.bundled
    assert january.release == "ICD-10-CM FY2026"
    assert may.billable
    assert may.release_info.bundled
    assert may.release == "ICD-10-CM FY2026 April update"


def test_a_write_that_fails_half_way_leaves_no_file_and_keeps_the_earlier_import(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = import_order_file(write_order_file(tmp_path))
    before = sorted(p.name for p in (data_dir / "icd10cm").iterdir())

    def disk_full(table: object, where: str, **options: object) -> None:
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError("No space left on device")

    monkeypatch.setattr("cleanclaim.diagnoses.pq.write_table", disk_full)
    rows = [order_line(*row) for row in FY2027_ROWS[:3]]
    with pytest.raises(OSError, match="No space"):
        import_order_file(write_order_file(tmp_path, rows=rows))
    assert sorted(p.name for p in (data_dir / "icd10cm").iterdir()) == before
    assert [r.codes for r in releases() if not r.bundled] == [first.codes]
    assert lookup_diagnosis("I42.00", dt.date(2026, 11, 1)).billable


def test_an_imported_april_update_replaces_the_bundled_one(tmp_path: Path) -> None:
    rows = [order_line(1, "M62", False, "Other disorders of muscle", "Other disorders of muscle"),
            order_line(2, "M6281", True, "Muscle weakness (generalized)", "Muscle weakness (generalized)")]
    info = import_order_file(write_order_file(tmp_path, name="icd10cm-order-April-1-2026.txt", rows=rows))
    assert (info.fiscal_year, info.data_effective) == (2026, dt.date(2026, 4, 1))
    assert info.name == "ICD-10-CM FY2026 April update"
    may = lookup_diagnosis("Z71.3", dt.date(2026, 5, 1))
    assert may.status is DiagnosisStatus.UNKNOWN  # the user's file wins over the bundled copy of the same update
    assert not may.release_info.bundled
    assert lookup_diagnosis("M62.81", dt.date(2026, 5, 1)).billable


def test_classify_diagnoses_answers_like_lookup_for_every_row(tmp_path: Path) -> None:
    import_order_file(write_order_file(tmp_path))
    given = ["m62.81", "M62", "I42.00", "I42.00", "Z71.3", "M6.281", None, "E11.9"]
    dates = [dt.date(2026, 5, 1), dt.date(2026, 11, 1), dt.date(2026, 5, 1), dt.date(2026, 11, 1),
             dt.date(2027, 12, 1), dt.date(2026, 5, 1), dt.date(2026, 5, 1), None]
    lines = pl.DataFrame({"line": range(1, 9), "diagnosis": given, "date": dates},
                         schema={"line": pl.Int64, "diagnosis": pl.String, "date": pl.Date})
    result = classify_diagnoses(lines)
    assert result["line"].to_list() == list(range(1, 9))  # every row kept, in order
    for row in result.filter(pl.col("diagnosis").is_not_null() & pl.col("date").is_not_null()).iter_rows(
        named=True
    ):
        expected = lookup_diagnosis(row["diagnosis"], row["date"])
        assert row["dx_status"] == expected.status.value, row
        assert row["dx_release"] == expected.release, row
        assert row["dx_covers_date"] == expected.covers_date, row
        assert row["dx_description"] == expected.description, row
        assert row["dx_example_child"] == expected.example_child, row
    assert result["dx_status"].to_list()[:6] == [
        "billable", "not_billable", "unknown", "billable", "unknown", "invalid_format"
    ]
    assert result["dx_status"].to_list()[6:] == [None, None]  # no code, no date: no guess
    assert result["dx_covers_date"].to_list()[4] is False


def test_classify_diagnoses_row_path_equals_column_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Small tables are answered row by row, large ones column-wise: the same table either way, on every kind of
    # answer (billable, header, unknown, bad shape, lower case, spaces, no code, no date, a date no release covers,
    # a date before an update takes effect) and with an imported release beside the bundled ones.
    import_order_file(write_order_file(tmp_path))
    given = ["m62.81", "M62", "I42.00", "I42.00", "Z71.3", "M6.281", None, "E11.9", " f17.210 ", "Z00.00", "M62.8",
             "X", "ABC.DEF", "Z71.3", "U07.1", "M54.50"]
    dates = [dt.date(2026, 5, 1), dt.date(2026, 11, 1), dt.date(2026, 5, 1), dt.date(2026, 11, 1),
             dt.date(2027, 12, 1), dt.date(2026, 5, 1), dt.date(2026, 5, 1), None, dt.date(2025, 3, 3),
             dt.date(2024, 6, 1), dt.date(2019, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 2, 1),
             dt.date(2026, 3, 31), dt.date(2026, 4, 1), dt.date(2025, 12, 31)]
    lines = pl.DataFrame({"line": range(1, len(given) + 1), "diagnosis": given, "date": dates},
                         schema={"line": pl.Int64, "diagnosis": pl.String, "date": pl.Date})
    monkeypatch.setattr(diagnoses, "CLASSIFY_IN_PYTHON_UP_TO", 10_000)
    by_rows = classify_diagnoses(lines)
    monkeypatch.setattr(diagnoses, "CLASSIFY_IN_PYTHON_UP_TO", 0)
    by_columns = classify_diagnoses(lines)
    assert by_rows.columns == by_columns.columns
    assert by_rows.schema == by_columns.schema
    assert by_rows.equals(by_columns), (by_rows, by_columns)
    assert set(by_rows["dx_status"].drop_nulls()) == {"billable", "not_billable", "unknown", "invalid_format"}
    assert not by_rows["dx_covers_date"].drop_nulls().all()  # the 2019 and 2027 dates are outside every release


def test_a_gap_year_order_file_replaces_the_next_release_for_its_dates(tmp_path: Path, data_dir: Path) -> None:
    """FY2021-FY2026 are all bundled, so a gap only opens past them: with an FY2028 order file imported and none for
    FY2027, a 2027 date is judged by the next release (FY2028), which catches a code deleted on 2026-10-01 (here
    Z71.3, left out of both files), with a note that no release covers the date. Importing the FY2027 file then makes
    that date judged by its own year."""
    fy2028 = [order_line(*row) for row in FY2027_ROWS]
    import_order_file(write_order_file(tmp_path, "icd10cm_order_2028.txt", fy2028))
    before = lookup_diagnosis("M62.81", dt.date(2027, 6, 1))
    assert (before.status, before.release, before.covers_date) == (
        DiagnosisStatus.BILLABLE, "ICD-10-CM FY2028", False)
    assert before.note is not None and "Import the FY2027 order file" in before.note
    deleted = lookup_diagnosis("Z71.3", dt.date(2027, 6, 1))
    assert deleted.status is DiagnosisStatus.UNKNOWN
    # the releases that do have it, as one run of consecutive releases with the dates they answer for
    assert deleted.note is not None and deleted.note.endswith(
        "Z71.3 is not in ICD-10-CM FY2028 but is in ICD-10-CM FY2021 to ICD-10-CM FY2026 April update "
        "(2020-10-01 to 2026-09-30).")

    import_order_file(write_order_file(tmp_path))  # FY2027
    # Z71.3 back in an FY2029 file: two runs, since FY2027 and FY2028 lack it
    fy2029 = [*fy2028, order_line(9, "Z713", True, "Dietary counseling and surveillance",
                                  "Dietary counseling and surveillance")]
    import_order_file(write_order_file(tmp_path, "icd10cm_order_2029.txt", fy2029))
    assert lookup_diagnosis("Z71.3", dt.date(2027, 6, 1)).note == (
        "Z71.3 is not in ICD-10-CM FY2027 but is in ICD-10-CM FY2021 to ICD-10-CM FY2026 April update "
        "(2020-10-01 to 2026-09-30), ICD-10-CM FY2029 (2028-10-01 to 2029-09-30).")
    after = lookup_diagnosis("M62.81", dt.date(2027, 6, 1))
    assert (after.status, after.release, after.covers_date) == (DiagnosisStatus.BILLABLE, "ICD-10-CM FY2027", True)
    # the first and last day of FY2027, and the first of FY2028
    assert lookup_diagnosis("M62.81", dt.date(2026, 10, 1)).release == "ICD-10-CM FY2027"
    assert lookup_diagnosis("M62.81", dt.date(2027, 9, 30)).release == "ICD-10-CM FY2027"
    assert lookup_diagnosis("M62.81", dt.date(2027, 10, 1)).release == "ICD-10-CM FY2028"


def test_an_imported_order_file_is_preferred_over_the_bundled_file_of_the_same_date(
        tmp_path: Path, data_dir: Path) -> None:
    """F43.8 is billable in FY2022. An imported FY2022 order file (here a two-row stand-in with the real FY2022 rows
    for F43 and F43.8, as an organisation might load its own copy) takes effect on October 1 like the bundled October
    file, and answers instead of it; from April 1, 2022 the bundled April update, a later file, answers."""
    january, june = dt.date(2022, 1, 5), dt.date(2022, 6, 1)
    assert (lookup_diagnosis("F43.8", january).release, lookup_diagnosis("F43.8", january).release_info.bundled) == (
        "ICD-10-CM FY2022", True)
    rows = [order_line(1, "F43", False, "Reaction to severe stress, and adjustment disorders",
                       "Reaction to severe stress, and adjustment disorders"),
            order_line(2, "F438", True, "Other reactions to severe stress", "Other reactions to severe stress")]
    import_order_file(write_order_file(tmp_path, "icd10cm_order_2022.txt", rows))
    after = lookup_diagnosis("F43.8", january)
    assert (after.status, after.release, after.covers_date) == (DiagnosisStatus.BILLABLE, "ICD-10-CM FY2022", True)
    assert not after.release_info.bundled
    # M62.81 is not in the two-row stand-in: the imported file answers for its dates, and says where the code is
    missing = lookup_diagnosis("M62.81", january)
    assert (missing.status, missing.release_info.bundled) == (DiagnosisStatus.UNKNOWN, False)
    later = lookup_diagnosis("M62.81", june)
    assert (later.status, later.release, later.release_info.bundled) == (
        DiagnosisStatus.BILLABLE, "ICD-10-CM FY2022 April update", True)
    assert lookup_diagnosis("F43.8", dt.date(2022, 10, 1)).status is DiagnosisStatus.NOT_BILLABLE  # bundled FY2023
