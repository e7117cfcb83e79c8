"""Lookups by date of service: imported data wins for the periods it covers, the bundled subset answers otherwise."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from cleanclaim.errors import InputError
from cleanclaim.refdata import (
    by_date_of_service,
    conversion_factor,
    gpci,
    import_files,
    mue_values,
    ptp_edits,
    rvus,
    status,
)
from cleanclaim.refdata.lookups import bundled_table
from tests.refdata.cms_layouts import gpci_csv, mue_csv, pprrvu_csv, pprrvu_row, ptp_txt, write, zip_of


def _pairs(frame: pl.DataFrame) -> set[tuple[str, str]]:
    return set(frame.select("column1", "column2").rows())


@pytest.fixture
def ptp_2025q4(tmp_path: Path) -> None:
    # Two files of one quarter, split by code range as CMS does, inside a zip.
    import_files([zip_of(tmp_path / "ccipra-v313r0.zip", {
        "ccipra-v313r0-f1.txt": ptp_txt(
            ("97110", "97530", "", "20200101", "*", "1", "r"),
            ("97112", "97116", "", "20200101", "20250701", "1", "deleted in 2025Q3, still listed"),
            ("97140", "97124", "", "20200101", "20251101", "0", "deleted mid-quarter"),
        ),
        "ccipra-v313r0-f2.txt": ptp_txt(
            ("97750", "97110", "", "20251101", "*", "9", "added mid-quarter"),
        ),
    })])


@pytest.mark.usefixtures("ptp_2025q4")
def test_ptp_edits_follow_effective_and_deletion_dates() -> None:
    october = _pairs(ptp_edits(dt.date(2025, 10, 15)))
    november = _pairs(ptp_edits(dt.date(2025, 11, 15)))
    assert ("97110", "97530") in october
    assert ("97110", "97530") in november
    assert ("97112", "97116") not in october  # deleted 2025-07-01: does not fire on a 2025Q4 claim
    assert ("97140", "97124") in october
    assert ("97140", "97124") not in november
    assert ("97750", "97110") not in october
    assert ("97750", "97110") in november
    on_the_day = _pairs(ptp_edits(dt.date(2025, 11, 1)))
    assert ("97140", "97124") not in on_the_day  # the deletion date itself is already outside the edit
    assert ("97750", "97110") in on_the_day  # the effective date itself is inside


@pytest.mark.usefixtures("ptp_2025q4")
def test_imported_ptp_replaces_bundled_only_for_its_quarter() -> None:
    covered = ptp_edits(dt.date(2025, 12, 31))
    assert ("97161", "97140") not in _pairs(covered)  # a bundled pair, not in the imported quarter
    assert covered["source"].str.starts_with("imported ccipra-v313r0.zip").all()
    assert covered["verified"].all()
    later = ptp_edits(dt.date(2026, 1, 2))
    assert ("97161", "97140") in _pairs(later)
    assert not later["verified"].any()


def test_bundled_ptp_without_import() -> None:
    edits = ptp_edits(dt.date(2026, 3, 2))
    row = edits.filter((pl.col("column1") == "97161") & (pl.col("column2") == "97140")).row(0, named=True)
    assert row["modifier_indicator"] == 1
    assert ptp_edits(dt.date(2019, 12, 31)).filter(pl.col("column1") == "97161").is_empty()


def test_mue_imported_then_bundled(tmp_path: Path) -> None:
    import_files([write(tmp_path / "MCR_MUE_PractitionerServices_Eff_10-01-2025.csv",
                        mue_csv("97110,5,3 Date of Service Edit: Clinical,x", "97530,8,3 Date of Service Edit: "
                                "Clinical,x"))])
    q4 = mue_values(dt.date(2025, 11, 3))
    assert dict(q4.select("code", "mue").rows()) == {"97110": 5, "97530": 8}
    bundled = mue_values(dt.date(2026, 3, 2))
    assert dict(bundled.select("code", "mue").rows()) == {"97110": 6, "97112": 4}
    assert bundled["mai"].is_null().all()  # the MAI of the bundled values is unknown, not guessed
    assert mue_values(dt.date(2025, 3, 2)).is_empty()


def test_rvus_by_year_and_imported_precedence(tmp_path: Path) -> None:
    assert rvus(dt.date(2025, 6, 1)).filter(pl.col("code") == "97110")["work_rvu"].to_list() == [0.45]
    assert rvus(dt.date(2026, 6, 1)).filter(pl.col("code") == "97110")["nf_pe_rvu"].to_list() == [0.41]
    # PPRRVU2026_Jul: 96158 work 1.66, non-facility PE 0.54, facility PE 0.12, MP 0.01 (2025: PE 0.47 / 0.09)
    row_96158 = rvus(2026).filter(pl.col("code") == "96158").row(0, named=True)
    assert (row_96158["work_rvu"], row_96158["nf_pe_rvu"], row_96158["f_pe_rvu"], row_96158["mp_rvu"]) == (
        1.66, 0.54, 0.12, 0.01)
    assert row_96158["source"] == "bundled rvu.csv: PPRRVU2026_Jul_nonQPP"
    assert rvus(2026).filter(pl.col("code") == "85025").is_empty()  # lab code, not read: absent, not guessed
    import_files([write(tmp_path / "PPRRVU25_JAN.csv", pprrvu_csv(
        pprrvu_row("97110", "A", "0.99", "0.43", "0.43", "0.01", cf="31.0000")))])
    imported = rvus(dt.date(2025, 6, 1))
    assert imported["code"].to_list() == ["97110"]
    assert imported["work_rvu"].to_list() == [0.99]
    assert imported["source"][0].startswith("imported PPRRVU25_JAN.csv")
    assert rvus(2026).filter(pl.col("code") == "97110")["work_rvu"].to_list() == [0.45]
    assert conversion_factor(dt.date(2025, 6, 1)) == Decimal("31.0")  # the file's own CONV FACTOR
    assert conversion_factor(dt.date(2026, 6, 1)) == Decimal("33.4009")


def test_conversion_factors() -> None:
    assert conversion_factor(dt.date(2025, 1, 1)) == Decimal("32.3465")
    assert conversion_factor(dt.date(2025, 1, 1), qualifying_apm=True) == Decimal("32.3465")
    assert conversion_factor(dt.date(2026, 12, 31)) == Decimal("33.4009")
    assert conversion_factor(dt.date(2026, 1, 1), qualifying_apm=True) == Decimal("33.5675")
    assert conversion_factor(dt.date(2027, 1, 1)) is None


def test_cy2024_conversion_factor_changes_on_2024_03_09() -> None:
    # CY2024 PFS final rule (CMS-1784-F) set 32.7442 from 2024-01-01; the Consolidated Appropriations Act, 2024
    # raised it to 33.2875 for services on or after 2024-03-09, not retroactively
    assert conversion_factor(dt.date(2024, 1, 1)) == Decimal("32.7442")
    assert conversion_factor(dt.date(2024, 3, 8)) == Decimal("32.7442")
    assert conversion_factor(dt.date(2024, 3, 9)) == Decimal("33.2875")
    assert conversion_factor(dt.date(2024, 12, 31), qualifying_apm=True) == Decimal("33.2875")
    assert conversion_factor(dt.date(2023, 12, 31)) is None


def test_bundled_2026_gpcis_cover_twenty_localities() -> None:
    # GPCI2026 (RVU26C) rows as copied in bundled gpci.csv: AL, AK, AZ, AR and California MAC 01112 localities 05, 09
    # and 51-64; no other 2026 locality is bundled.
    rows = bundled_table("gpci.csv").filter(pl.col("year") == 2026)
    assert rows.height == 20
    assert set(rows.filter(pl.col("state") != "CA").select("mac", "locality").rows()) == {
        ("10112", "00"), ("02102", "01"), ("03102", "00"), ("07102", "13")}
    assert sorted(rows.filter(pl.col("state") == "CA")["locality"].to_list()) == [
        "05", "09", *(str(n) for n in range(51, 65))]
    assert set(rows.filter(pl.col("state") == "CA")["mac"].to_list()) == {"01112"}
    alabama = gpci(2026, "10112:00").row(0, named=True)
    assert (alabama["work_gpci"], alabama["pe_gpci"], alabama["mp_gpci"]) == (1.0, 0.875, 0.566)
    assert "GPCI2026" in alabama["source"] and "prestigesf/medicare-Billrosetta-" in alabama["source"]
    alaska = gpci(2026, "2102:1").row(0, named=True)
    assert (alaska["work_gpci"], alaska["pe_gpci"], alaska["mp_gpci"]) == (1.5, 1.065, 0.551)
    assert gpci(2026, "01112:75").is_empty()  # Rest of California: same MAC, no 2026 row


def test_gpci_lookup_and_import(tmp_path: Path) -> None:
    la = gpci(2025, "1182:18").row(0, named=True)
    assert (la["work_gpci"], la["pe_gpci"], la["mp_gpci"]) == (1.042, 1.194, 0.69)
    assert gpci(2026, "01182:18").is_empty()
    with pytest.raises(InputError, match="MAC:LOCALITY"):
        gpci(2025, "LA")
    import_files([write(tmp_path / "GPCI2026.csv", gpci_csv(
        "1182,CA,18,LOS ANGELES,1.050,1.200,0.700").replace("2025", "2026"))])
    assert gpci(2026, "01182:18").row(0, named=True)["pe_gpci"] == 1.2


def test_status_lists_bundled_and_imported(tmp_path: Path) -> None:
    before = status()
    assert {(s.table, s.origin, s.period) for s in before} >= {("rvu", "bundled", "2025"), ("gpci", "bundled", "2025"),
                                                                ("conversion_factor", "bundled", "2026")}
    assert not [s for s in before if s.origin == "imported"]
    import_files([write(tmp_path / "MCR_MUE_PractitionerServices_Eff_01-01-2026.csv", mue_csv("97110,6,3 x,x"))])
    [imported] = [s for s in status() if s.origin == "imported"]
    assert (imported.table, imported.period, imported.rows) == ("mue", "2026Q1", 1)


def test_2026_nonqpp_and_qpp_files(tmp_path: Path) -> None:
    row = pprrvu_row("97112", "A", "0.50", "0.46", "0.46", "0.01", cf="33.4009")
    title = "2026 National Physician Fee Schedule Relative Value File January Release"
    non_qp = write(tmp_path / "PPRRVU2026_Jan_nonQPP.csv", pprrvu_csv(row).replace(
        "2025 National Physician Fee Schedule Relative Value File January Release", title))
    qp = write(tmp_path / "PPRRVU2026_Jan_QPP.csv", pprrvu_csv(row.replace("33.4009", "33.5675")).replace(
        "2025 National Physician Fee Schedule Relative Value File January Release", title))
    results = import_files([non_qp, qp])
    assert [r.period for r in results] == ["2026", "2026"]
    assert rvus(2026)["code"].to_list() == ["97112"]  # one row although both files hold it
    assert rvus(2026)["nf_pe_rvu"].to_list() == [0.46]
    assert conversion_factor(dt.date(2026, 5, 1)) == Decimal("33.4009")
    assert conversion_factor(dt.date(2026, 5, 1), qualifying_apm=True) == Decimal("33.5675")


def test_year_from_four_digit_file_name(tmp_path: Path) -> None:
    path = write(tmp_path / "PPRRVU2026_Apr_nonQPP.csv",
                 "HCPCS,MOD,DESCRIPTION,STATUS CODE,WORK RVU,NON-FAC PE RVU,FACILITY PE RVU,MP RVU\n"
                 "97110,,Synthetic,A,0.45,0.41,0.41,0.01\n")
    [result] = import_files([path])
    assert result.period == "2026"


@pytest.mark.usefixtures("ptp_2025q4")
def test_by_date_of_service_stacks_lookups_for_a_join() -> None:
    edits = by_date_of_service(ptp_edits, [dt.date(2025, 11, 15), dt.date(2025, 10, 15), dt.date(2025, 10, 15)])
    assert edits["date_of_service"].unique().sort().to_list() == [dt.date(2025, 10, 15), dt.date(2025, 11, 15)]
    lines = pl.DataFrame({"date_of_service": [dt.date(2025, 10, 15), dt.date(2025, 11, 15)],
                          "code": ["97750", "97750"]})
    hits = lines.join(edits, left_on=["date_of_service", "code"], right_on=["date_of_service", "column1"])
    assert hits["date_of_service"].to_list() == [dt.date(2025, 11, 15)]
    assert by_date_of_service(mue_values, []).is_empty()


def test_one_reading_lists_the_data_folder_once_and_takes_a_later_import_next_time(tmp_path: Path) -> None:
    from cleanclaim.refdata.imported import one_reading

    day = dt.date(2025, 11, 3)
    with one_reading():
        assert mue_values(day).is_empty()  # nothing imported for 2025Q4, and nothing bundled for it either
        import_files([write(tmp_path / "MCR_MUE_PractitionerServices_Eff_10-01-2025.csv",
                            mue_csv("97110,5,3 Date of Service Edit: Clinical,x"))])
        assert mue_values(day).is_empty()  # the run keeps what it listed at its start
    assert dict(mue_values(day).select("code", "mue").rows()) == {"97110": 5}
