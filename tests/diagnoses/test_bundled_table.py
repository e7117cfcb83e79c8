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


def _metas() -> dict[str, dict[str, object]]:
    """Every sidecar, by its table's stem (icd10cm_fy2022_april ...): a fiscal year can have two files."""
    metas = [json.loads(entry.read_text(encoding="utf-8"))
             for entry in FOLDER.iterdir() if entry.name.endswith(".meta.json")]
    return {str(meta["data_file"]).removesuffix(".tsv.gz"): meta for meta in metas}


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


# stem: (fiscal year, data_effective, name findings cite)
BUNDLED = {
    "icd10cm_fy2021_january": (2021, "2021-01-01", "ICD-10-CM FY2021"),
    "icd10cm_fy2022_october": (2022, "2021-10-01", "ICD-10-CM FY2022"),
    "icd10cm_fy2022_april": (2022, "2022-04-01", "ICD-10-CM FY2022 April update"),
    "icd10cm_fy2023_october": (2023, "2022-10-01", "ICD-10-CM FY2023"),
    "icd10cm_fy2023_april": (2023, "2023-04-01", "ICD-10-CM FY2023 April update"),
    "icd10cm_fy2024_october": (2024, "2023-10-01", "ICD-10-CM FY2024"),
    "icd10cm_fy2025_april": (2025, "2025-04-01", "ICD-10-CM FY2025"),
    "icd10cm_fy2026_april": (2026, "2026-04-01", "ICD-10-CM FY2026 April update"),
}
DELTAS = [stem for stem in BUNDLED if stem != "icd10cm_fy2026_april"]


def test_bundled_fiscal_years_and_their_windows() -> None:
    """FY2021-FY2026 are all bundled: FY2021 and FY2025 from older simple-icd-10-cm wheels, FY2022-FY2024 (which no
    wheel ships) from the CMS/CDC order files, FY2022 and FY2023 as their October file and their April update."""
    metas = _metas()
    assert sorted(metas) == sorted(BUNDLED)
    for stem, meta in metas.items():
        year, effective, name = BUNDLED[stem]
        assert (meta["fiscal_year"], meta["data_effective"], meta["name"]) == (year, effective, name)
        # a mid-year update says whether it changed codes (January 2021 did; April 2025 and April 2026 did not);
        # an October file has nothing to say
        changed = {"icd10cm_fy2021_january": True, "icd10cm_fy2022_april": True, "icd10cm_fy2023_april": True,
                   "icd10cm_fy2025_april": False, "icd10cm_fy2026_april": False}
        assert meta.get("update_changed_codes") == changed.get(stem), stem
        assert (meta["valid_from"], meta["valid_to"]) == (f"{year - 1}-10-01", f"{year}-09-30")
        assert "public domain" in str(meta["licence"])
    for stem in ("icd10cm_fy2021_january", "icd10cm_fy2025_april", "icd10cm_fy2026_april"):
        assert "simple-icd-10-cm" in str(metas[stem]["source"])
    assert "1.2.0" in str(metas["icd10cm_fy2021_january"]["source"])
    assert "icd10cm-order-Jan-2021.txt" in str(metas["icd10cm_fy2021_january"]["source"])
    assert "1.4.0" in str(metas["icd10cm_fy2025_april"]["source"])
    assert "April-2025" in str(metas["icd10cm_fy2025_april"]["source"])
    publishers = {"icd10cm_fy2022_october": "CDC/NCHS", "icd10cm_fy2022_april": "CMS",
                  "icd10cm_fy2023_october": "CDC/NCHS", "icd10cm_fy2023_april": "CMS", "icd10cm_fy2024_october": "CMS"}
    for stem, publisher in publishers.items():
        meta = metas[stem]
        year = meta["fiscal_year"]
        source = str(meta["source"])
        # who published the zip and where, the order file read from it, and the public copy it was read from
        assert source.startswith(f"{publisher}, ICD-10-CM FY{year} code descriptions zip https://"), source
        assert f"order_{year}.txt" in source or f"order-{year}.txt" in source, source
        assert "github.com/dewittpe/medicalcoder/blob/4e48bdcbf113b7116ed0278fa3f3a15fb682c4a1/" in source
        assert len(str(meta["source_zip_sha256"])) == 64 and len(str(meta["source_file_sha256"])) == 64
        assert "addenda" in str(meta["checked"])


# The billable-code count each release's order addenda close with, and their "Codes: N additions, N deletions"
# (CDC's addenda for the October files, CMS's for the April updates and FY2024; FY2024 -> FY2025 and FY2025 -> FY2026
# from CMS's October 2024 and October 2025 addenda: CDC's April 2025 addenda list no change, and the bundled April 2026
# table matching the October 2025 counts shows April 2026 changed no billable code).
CHAIN = [
    ("ICD-10-CM FY2021", 72_621, 0, 0),
    ("ICD-10-CM FY2022", 72_748, 159, 32),
    ("ICD-10-CM FY2022 April update", 72_750, 3, 1),
    ("ICD-10-CM FY2023", 73_639, 1_176, 287),
    ("ICD-10-CM FY2023 April update", 73_674, 42, 7),
    ("ICD-10-CM FY2024", 74_044, 395, 25),
    ("ICD-10-CM FY2025", 74_260, 252, 36),
    ("ICD-10-CM FY2026 April update", 74_719, 487, 28),
]


def test_consecutive_releases_differ_by_what_their_addenda_state() -> None:
    """The tables as lookups see them (deltas applied to FY2026): each one's billable codes are the previous one's
    plus the additions less the deletions its addenda count, so no release is truncated or mixed up with another."""
    from cleanclaim.diagnoses import _table

    ordered = releases()
    assert [r.name for r in ordered] == [name for name, _, _, _ in CHAIN]
    previous: set[str] | None = None
    for release, (name, billable, added, deleted) in zip(ordered, CHAIN, strict=True):
        frame = _table(release).frame
        codes = set(frame.filter(frame["billable"])["code"].to_list())
        assert (release.billable, len(codes)) == (billable, billable), name
        if previous is not None:
            assert (len(codes - previous), len(previous - codes)) == (added, deleted), name
        previous = codes


@pytest.mark.parametrize("stem", DELTAS)
def test_delta_release_is_small_and_rebuilds_to_its_counts(stem: str) -> None:
    meta = _metas()[stem]
    year = int(str(meta["fiscal_year"]))
    payload = FOLDER.joinpath(str(meta["data_file"])).read_bytes()
    assert hashlib.sha256(payload).hexdigest() == meta["sha256"]
    assert len(payload) < 100_000  # a delta against FY2026, not a second full table
    rows = gzip.decompress(payload).decode("utf-8").splitlines()
    assert rows[0] == "code\tchange\tbillable\tdescription"
    assert len(rows) - 1 == meta["delta_rows"]
    assert {row.split("\t")[1] for row in rows[1:]} <= {"added", "removed", "changed"}
    (release,) = [r for r in releases() if r.name == meta["name"]]
    assert release.base == _meta()[0]["data_file"]
    # the counts the build script took from the source itself, before the delta was made
    lookup_diagnosis("A00.0", dt.date(year, 6, 1))
    from cleanclaim.diagnoses import _table  # the rebuilt table, as lookups see it
    table = _table(release)
    assert table.frame.height == meta["codes"]
    assert int(table.frame["billable"].sum()) == meta["billable"]


@pytest.mark.parametrize(("code", "date_of_service", "status", "release"), [
    # M54.5 (low back pain) was billable until FY2022 subdivided it into M54.50-M54.59 on 2021-10-01
    ("M54.5", dt.date(2021, 6, 1), DiagnosisStatus.BILLABLE, "ICD-10-CM FY2021"),
    ("M54.5", dt.date(2021, 9, 30), DiagnosisStatus.BILLABLE, "ICD-10-CM FY2021"),
    ("M54.5", dt.date(2021, 10, 1), DiagnosisStatus.NOT_BILLABLE, "ICD-10-CM FY2022"),
    ("M54.5", dt.date(2022, 6, 1), DiagnosisStatus.NOT_BILLABLE, "ICD-10-CM FY2022 April update"),
    ("M54.5", dt.date(2023, 6, 1), DiagnosisStatus.NOT_BILLABLE, "ICD-10-CM FY2023 April update"),
    ("M54.5", dt.date(2024, 9, 30), DiagnosisStatus.NOT_BILLABLE, "ICD-10-CM FY2024"),
    ("M54.5", dt.date(2025, 3, 1), DiagnosisStatus.NOT_BILLABLE, "ICD-10-CM FY2025"),
    ("M54.5", dt.date(2026, 3, 1), DiagnosisStatus.NOT_BILLABLE, "ICD-10-CM FY2026 April update"),
    ("M54.50", dt.date(2021, 6, 1), DiagnosisStatus.UNKNOWN, "ICD-10-CM FY2021"),
    ("M54.50", dt.date(2021, 10, 1), DiagnosisStatus.BILLABLE, "ICD-10-CM FY2022"),
    ("M54.50", dt.date(2025, 3, 1), DiagnosisStatus.BILLABLE, "ICD-10-CM FY2025"),
    # U09.9 (post COVID-19 condition) arrived on 2021-10-01
    ("U09.9", dt.date(2021, 9, 30), DiagnosisStatus.UNKNOWN, "ICD-10-CM FY2021"),
    ("U09.9", dt.date(2021, 10, 1), DiagnosisStatus.BILLABLE, "ICD-10-CM FY2022"),
    ("U09.9", dt.date(2024, 10, 1), DiagnosisStatus.BILLABLE, "ICD-10-CM FY2025"),
    # F43.8 (other reactions to severe stress): billable through FY2022, split into F43.81/F43.89 on 2022-10-01
    ("F43.8", dt.date(2022, 6, 1), DiagnosisStatus.BILLABLE, "ICD-10-CM FY2022 April update"),
    ("F43.8", dt.date(2022, 10, 1), DiagnosisStatus.NOT_BILLABLE, "ICD-10-CM FY2023"),
    ("F43.81", dt.date(2022, 9, 30), DiagnosisStatus.UNKNOWN, "ICD-10-CM FY2022 April update"),
    ("F43.81", dt.date(2022, 10, 1), DiagnosisStatus.BILLABLE, "ICD-10-CM FY2023"),
    # M51.36 (lumbar disc degeneration): billable in FY2023 and FY2024, split on 2024-10-01 (M51.360-M51.369), so
    # a 2023 or 2024 claim with it is right and a later one is not
    ("M51.36", dt.date(2023, 6, 1), DiagnosisStatus.BILLABLE, "ICD-10-CM FY2023 April update"),
    ("M51.36", dt.date(2024, 9, 30), DiagnosisStatus.BILLABLE, "ICD-10-CM FY2024"),
    ("M51.36", dt.date(2024, 10, 1), DiagnosisStatus.NOT_BILLABLE, "ICD-10-CM FY2025"),
    # G20 (Parkinson's disease): billable through FY2023, a header from 2023-10-01 (G20.A1 ...)
    ("G20", dt.date(2023, 9, 30), DiagnosisStatus.BILLABLE, "ICD-10-CM FY2023 April update"),
    ("G20", dt.date(2023, 10, 1), DiagnosisStatus.NOT_BILLABLE, "ICD-10-CM FY2024"),
    # Z11.52 came with the January 1, 2021 update, which the FY2021 table is
    ("Z11.52", dt.date(2021, 2, 1), DiagnosisStatus.BILLABLE, "ICD-10-CM FY2021"),
    # E66.811 (obesity class 1) is new in FY2025
    ("E66.811", dt.date(2021, 2, 1), DiagnosisStatus.UNKNOWN, "ICD-10-CM FY2021"),
    ("E66.811", dt.date(2024, 9, 30), DiagnosisStatus.UNKNOWN, "ICD-10-CM FY2024"),
    ("E66.811", dt.date(2025, 2, 1), DiagnosisStatus.BILLABLE, "ICD-10-CM FY2025"),
])
def test_each_date_is_judged_by_its_fiscal_year(code: str, date_of_service: dt.date, status: DiagnosisStatus,
                                                release: str) -> None:
    found = lookup_diagnosis(code, date_of_service)
    assert (found.status, found.release, found.covers_date) == (status, release, True)


@pytest.mark.parametrize(("code", "date_of_service", "status", "release"), [
    # The April 1, 2022 update added Z28.310 (unvaccinated for COVID-19) and made Z28.3 a header
    ("Z28.310", dt.date(2022, 3, 31), DiagnosisStatus.UNKNOWN, "ICD-10-CM FY2022"),
    ("Z28.310", dt.date(2022, 4, 1), DiagnosisStatus.BILLABLE, "ICD-10-CM FY2022 April update"),
    ("Z28.3", dt.date(2022, 3, 31), DiagnosisStatus.BILLABLE, "ICD-10-CM FY2022"),
    ("Z28.3", dt.date(2022, 4, 1), DiagnosisStatus.NOT_BILLABLE, "ICD-10-CM FY2022 April update"),
    # The April 1, 2023 update split Z59.1 (inadequate housing) into Z59.10-Z59.19
    ("Z59.1", dt.date(2023, 3, 31), DiagnosisStatus.BILLABLE, "ICD-10-CM FY2023"),
    ("Z59.1", dt.date(2023, 4, 1), DiagnosisStatus.NOT_BILLABLE, "ICD-10-CM FY2023 April update"),
    ("Z59.11", dt.date(2023, 3, 31), DiagnosisStatus.UNKNOWN, "ICD-10-CM FY2023"),
    ("Z59.11", dt.date(2023, 4, 1), DiagnosisStatus.BILLABLE, "ICD-10-CM FY2023 April update"),
])
def test_an_april_update_answers_from_april_1_and_the_october_file_before(
        code: str, date_of_service: dt.date, status: DiagnosisStatus, release: str) -> None:
    """FY2022 and FY2023 each had an April 1 update that changed codes: both files are bundled, so each half of
    the year is judged by the file in force, without a "not told apart" note."""
    found = lookup_diagnosis(code, date_of_service)
    assert (found.status, found.release, found.covers_date) == (status, release, True)
    if status is not DiagnosisStatus.UNKNOWN:
        assert found.note is None


@pytest.mark.parametrize(("code", "date_of_service", "note"), [
    # new on 2024-10-01 (M51.36 split): unknown in FY2024, and the note names where it is
    ("M51.360", dt.date(2024, 6, 1), "M51.360 is not in ICD-10-CM FY2024 but is in ICD-10-CM FY2025 to ICD-10-CM "
                                     "FY2026 April update (2024-10-01 to 2026-09-30)."),
    # new with the April 1, 2022 update: the run starts on the date that update took effect
    ("Z28.310", dt.date(2022, 3, 31), "Z28.310 is not in ICD-10-CM FY2022 but is in ICD-10-CM FY2022 April update to "
                                      "ICD-10-CM FY2026 April update (2022-04-01 to 2026-09-30)."),
    # deleted on 2022-10-01 (O35.0 expanded in FY2023): the run ends when the last release that had it does
    ("O35.0XX0", dt.date(2023, 6, 1), "O35.0XX0 is not in ICD-10-CM FY2023 April update but is in ICD-10-CM FY2021 to "
                                      "ICD-10-CM FY2022 April update (2020-10-01 to 2022-09-30)."),
])
def test_an_unknown_code_names_the_releases_that_have_it(code: str, date_of_service: dt.date, note: str) -> None:
    found = lookup_diagnosis(code, date_of_service)
    assert (found.status, found.covers_date, found.note) == (DiagnosisStatus.UNKNOWN, True, note)


def test_membership_read_from_a_delta_agrees_with_the_rebuilt_table() -> None:
    """_has_code (used to name the releases that have an unknown code) reads a delta and the base table only; it must
    answer as the whole rebuilt table does, for added, removed, changed and untouched codes."""
    from cleanclaim.diagnoses import _delta_changes, _has_code, _table

    base = next(r for r in releases() if r.base is None)
    sample = [*random.Random(14).sample(sorted(_table(base).by_code), 300), "Z999", "U099", "M5450", "M545", "QA0"]
    for release in releases():
        if release.base is None:
            continue
        codes = [*sample, *sorted(_delta_changes(release.path))]
        table = _table(release).by_code
        assert [code for code in codes if _has_code(release, code) != (code in table)] == [], release.name


def test_every_date_from_fy2021_to_fy2026_has_its_own_fiscal_year() -> None:
    """No gap is left between the bundled releases: every October 1 and September 30 from 2020-10-01 to
    2026-09-30 is covered by a release of that fiscal year."""
    for year in range(2021, 2027):
        for day in (dt.date(year - 1, 10, 1), dt.date(year, 9, 30)):
            found = lookup_diagnosis("M62.81", day)
            assert found.covers_date, day
            assert found.release_info.fiscal_year == year, day
            assert found.status is DiagnosisStatus.BILLABLE, day


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
