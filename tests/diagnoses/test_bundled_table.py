"""The shipped table: its sidecar tells the truth about it, and it agrees with simple-icd-10-cm."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import random
from importlib import resources
from importlib.abc import Traversable

import pytest

from cleanclaim.diagnoses import DiagnosisStatus, format_diagnosis, lookup_diagnosis, releases

FOLDER = resources.files("cleanclaim.codebook").joinpath("icd10cm")
DATE = dt.date(2026, 6, 1)


def _metas() -> dict[int, dict[str, object]]:
    metas = [json.loads(entry.read_text(encoding="utf-8"))
             for entry in FOLDER.iterdir() if entry.name.endswith(".meta.json")]
    return {int(str(meta["fiscal_year"])): meta for meta in metas}


def _meta() -> tuple[dict[str, object], Traversable]:
    """The full FY2026 table (the older fiscal years are stored as deltas against it)."""
    full = [meta for meta in _metas().values() if "base" not in meta]
    assert len(full) == 1
    meta = full[0]
    return meta, FOLDER.joinpath(str(meta["data_file"]))


def test_sidecar_names_source_release_window_and_licence() -> None:
    meta, data = _meta()
    payload = data.read_bytes()
    assert len(payload) < 3_000_000
    assert hashlib.sha256(payload).hexdigest() == meta["sha256"]
    assert meta["fiscal_year"] == 2026
    assert (meta["valid_from"], meta["valid_to"]) == ("2025-10-01", "2026-09-30")
    assert "simple-icd-10-cm 1.5" in str(meta["source"])
    assert "public domain" in str(meta["licence"])
    assert "April 1, 2026" in str(meta["cms_release"])
    dt.date.fromisoformat(str(meta["built"]))
    rows = gzip.decompress(payload).decode("utf-8").splitlines()
    assert rows[0] == "code\tbillable\tdescription"
    assert len(rows) - 1 == meta["codes"]
    assert sum(1 for row in rows[1:] if row.split("\t")[1] == "1") == meta["billable"]
    (release,) = [r for r in releases() if r.fiscal_year == 2026]
    assert (release.codes, release.billable, release.fiscal_year) == (meta["codes"], meta["billable"], 2026)


def test_bundled_fiscal_years_and_their_windows() -> None:
    """FY2021, FY2025 and FY2026 are bundled (FY2022-FY2024: no simple-icd-10-cm wheel ships them)."""
    metas = _metas()
    assert sorted(metas) == [2021, 2025, 2026]
    for year, meta in metas.items():
        assert (meta["valid_from"], meta["valid_to"]) == (f"{year - 1}-10-01", f"{year}-09-30")
        assert "public domain" in str(meta["licence"])
        assert "simple-icd-10-cm" in str(meta["source"])
    assert metas[2021]["data_effective"] == "2021-01-01"
    assert "1.2.0" in str(metas[2021]["source"]) and "icd10cm-order-Jan-2021.txt" in str(metas[2021]["source"])
    assert metas[2025]["data_effective"] == "2025-04-01"
    assert "1.4.0" in str(metas[2025]["source"]) and "April-2025" in str(metas[2025]["source"])


@pytest.mark.parametrize("year", [2021, 2025])
def test_delta_release_is_small_and_rebuilds_to_its_counts(year: int) -> None:
    meta = _metas()[year]
    payload = FOLDER.joinpath(str(meta["data_file"])).read_bytes()
    assert hashlib.sha256(payload).hexdigest() == meta["sha256"]
    assert len(payload) < 100_000  # a delta against FY2026, not a second full table
    rows = gzip.decompress(payload).decode("utf-8").splitlines()
    assert rows[0] == "code\tchange\tbillable\tdescription"
    assert len(rows) - 1 == meta["delta_rows"]
    assert {row.split("\t")[1] for row in rows[1:]} <= {"added", "removed", "changed"}
    (release,) = [r for r in releases() if r.fiscal_year == year]
    assert release.base == _meta()[0]["data_file"]
    # the counts the build script took from the source itself, before the delta was made
    lookup_diagnosis("A00.0", dt.date(year, 6, 1))
    from cleanclaim.diagnoses import _table  # the rebuilt table, as lookups see it
    table = _table(release)
    assert table.frame.height == meta["codes"]
    assert int(table.frame["billable"].sum()) == meta["billable"]


@pytest.mark.parametrize(("code", "date_of_service", "status", "release"), [
    # M54.5 (low back pain) was billable until FY2022 subdivided it into M54.50-M54.59
    ("M54.5", dt.date(2021, 6, 1), DiagnosisStatus.BILLABLE, "ICD-10-CM FY2021"),
    ("M54.5", dt.date(2025, 3, 1), DiagnosisStatus.NOT_BILLABLE, "ICD-10-CM FY2025"),
    ("M54.5", dt.date(2026, 3, 1), DiagnosisStatus.NOT_BILLABLE, "ICD-10-CM FY2026 April update"),
    ("M54.50", dt.date(2021, 6, 1), DiagnosisStatus.UNKNOWN, "ICD-10-CM FY2021"),
    ("M54.50", dt.date(2025, 3, 1), DiagnosisStatus.BILLABLE, "ICD-10-CM FY2025"),
    # U09.9 (post COVID-19 condition) arrived on 2021-10-01
    ("U09.9", dt.date(2021, 9, 30), DiagnosisStatus.UNKNOWN, "ICD-10-CM FY2021"),
    ("U09.9", dt.date(2024, 10, 1), DiagnosisStatus.BILLABLE, "ICD-10-CM FY2025"),
    # Z11.52 came with the January 1, 2021 update, which the FY2021 table is
    ("Z11.52", dt.date(2021, 2, 1), DiagnosisStatus.BILLABLE, "ICD-10-CM FY2021"),
    # E66.811 (obesity class 1) is new in FY2025
    ("E66.811", dt.date(2021, 2, 1), DiagnosisStatus.UNKNOWN, "ICD-10-CM FY2021"),
    ("E66.811", dt.date(2025, 2, 1), DiagnosisStatus.BILLABLE, "ICD-10-CM FY2025"),
])
def test_each_date_is_judged_by_its_fiscal_year(code: str, date_of_service: dt.date, status: DiagnosisStatus,
                                                release: str) -> None:
    found = lookup_diagnosis(code, date_of_service)
    assert (found.status, found.release, found.covers_date) == (status, release, True)


@pytest.mark.parametrize("date_of_service", [dt.date(2021, 10, 1), dt.date(2022, 5, 1), dt.date(2024, 9, 30)])
def test_a_gap_year_is_judged_by_the_next_release_and_says_no_release_covers_it(date_of_service: dt.date) -> None:
    """FY2022-FY2024 are not bundled: the next release (FY2025) judges, so M54.5, a header from 2021-10-01 on, is
    not billable after October 1, 2021, and the note says the date's own release is missing."""
    found = lookup_diagnosis("M54.5", date_of_service)
    assert (found.status, found.release, found.covers_date) == (DiagnosisStatus.NOT_BILLABLE, "ICD-10-CM FY2025", False)
    year = date_of_service.year + (1 if date_of_service.month >= 10 else 0)
    assert found.note is not None and f"fiscal year {year}" in found.note and f"Import the FY{year}" in found.note
    assert lookup_diagnosis("M54.5", dt.date(2021, 9, 30)).status is DiagnosisStatus.BILLABLE


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # simple-icd-10-cm uses importlib's legacy API
def test_shipped_table_agrees_with_simple_icd_10_cm() -> None:
    import simple_icd_10_cm as icd  # type: ignore[import-untyped]  # dev extra, tests only
    _, data = _meta()
    rows = [row.split("\t") for row in gzip.decompress(data.read_bytes()).decode("utf-8").splitlines()[1:]]
    library_codes = {c for c in icd.get_all_codes(with_dots=True) if icd.is_category_or_subcategory(c)}
    assert {format_diagnosis(code) for code, _, _ in rows} == library_codes

    sample = random.Random(2026).sample(rows, 400) + [r for r in rows if r[0] in {"M6281", "M62", "E11", "Z713"}]
    for code, billable, description in sample:
        dotted = format_diagnosis(code)
        assert icd.is_leaf(dotted) == (billable == "1"), dotted
        assert " ".join(icd.get_description(dotted).split()) == description, dotted
        found = lookup_diagnosis(dotted, DATE)
        expected = DiagnosisStatus.BILLABLE if icd.is_leaf(dotted) else DiagnosisStatus.NOT_BILLABLE
        assert found.status is expected, dotted
        if not icd.is_leaf(dotted):
            assert found.example_child is not None
            assert icd.is_descendant(found.example_child, dotted)
