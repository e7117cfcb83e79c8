"""Reading CMS files as published: header and notice rows, zips, xlsx, and clear errors for bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from cleanclaim.errors import InputError
from cleanclaim.refdata import RefTable, conversion_factor_entry, import_files, parse_path, period_bounds, rvus
from tests.refdata.cms_layouts import (
    gpci_csv,
    mue_csv,
    pprrvu_2026_csv,
    pprrvu_csv,
    pprrvu_row,
    ptp_txt,
    write,
    xlsx_bytes,
    zip_of,
)


def test_pprrvu_stacked_header_is_read_and_description_dropped(tmp_path: Path) -> None:
    path = write(tmp_path / "PPRRVU25_JAN.csv", pprrvu_csv(
        pprrvu_row("97110", "A", "0.45", "0.43", "0.43", "0.01", description="SECRET-DESCRIPTOR"),
        pprrvu_row("0592T", "C", "0", "0", "0", "0"),
        pprrvu_row("93024", "A", "0", "1.74", "1.74", "0.03", modifier="TC"),
        pprrvu_row("100", "J", "0", "0", "0", "0"),  # a spreadsheet stripped the zeros of 00100
    ))
    [table] = parse_path(path)
    assert table.kind is RefTable.RVU
    assert table.period == "2025"  # from the title row
    assert "DESCRIPTION" not in table.frame.columns
    assert not any("SECRET-DESCRIPTOR" in str(v) for row in table.frame.rows() for v in row)
    row = table.frame.filter(pl.col("code") == "97110").row(0, named=True)
    assert (row["status"], row["work_rvu"], row["nf_pe_rvu"], row["f_pe_rvu"], row["mp_rvu"]) == (
        "A", 0.45, 0.43, 0.43, 0.01)
    assert row["mult_proc"] == "5"
    assert row["conversion_factor"] == 32.3465
    assert table.frame.filter(pl.col("modifier") == "TC")["code"].to_list() == ["93024"]
    assert "00100" in table.frame["code"].to_list()


def test_one_row_header_reads_the_same(tmp_path: Path) -> None:
    path = write(tmp_path / "PPRRVU26_small.csv",
                 "HCPCS,MOD,DESCRIPTION,STATUS CODE,WORK RVU,NON-FAC PE RVU,FACILITY PE RVU,MP RVU,CONV FACTOR\n"
                 "97112,,Synthetic,A,0.50,0.47,0.47,0.01,33.4009\n")
    [table] = parse_path(path)
    assert table.period == "2026"  # from the file name when the title row is absent
    assert table.frame.row(0, named=True)["nf_pe_rvu"] == 0.47


# CY2026 files are one column wider than CY2025's (32 to 31); columns are found by their header names, so the values
# read must not depend on where the extra column sits: before WORK RVU (every value column after it moves), after
# TEAM SURG (where one stored 2026 sample has an extra indicator), or last.
@pytest.mark.parametrize("extra_at", [4, 23, 31])
def test_pprrvu_2026_layout_with_an_extra_column(tmp_path: Path, extra_at: int) -> None:
    text = pprrvu_2026_csv(
        pprrvu_row("97110", "A", "0.45", "0.41", "0.41", "0.01", cf="33.4009"),
        pprrvu_row("97112", "A", "0.50", "0.47", "0.46", "0.02", cf="33.4009"),
        pprrvu_row("0592T", "C", "0", "0", "0", "0", cf="33.4009"),
        extra_at=extra_at, extra_value="7.77")
    header = next(line for line in text.splitlines() if line.startswith("HCPCS,"))
    assert len(header.split(",")) == 32
    [table] = parse_path(write(tmp_path / "PPRRVU2026_Jan_nonQPP.csv", text))
    assert (table.kind, table.period) == (RefTable.RVU, "2026")
    rows = {row["code"]: row for row in table.frame.iter_rows(named=True)}
    assert [(rows["97112"][k]) for k in ("status", "work_rvu", "nf_pe_rvu", "f_pe_rvu", "mp_rvu")] == [
        "A", 0.50, 0.47, 0.46, 0.02]
    assert (rows["97112"]["global_days"], rows["97112"]["mult_proc"]) == ("XXX", "5")
    assert rows["97110"]["conversion_factor"] == 33.4009
    assert rows["0592T"]["status"] == "C"
    assert not rows["97110"]["qualifying_apm"]
    assert 7.77 not in [value for row in rows.values() for value in row.values()]


def test_pprrvu_2026_layout_imports_and_prices_from_its_own_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "PPRRVU2026_Jan_nonQPP.csv", pprrvu_2026_csv(
        pprrvu_row("97110", "A", "0.45", "0.41", "0.41", "0.01", cf="33.4009"), extra_at=23))
    [result] = import_files([path])
    assert (result.kind, result.period, result.rows) == (RefTable.RVU, "2026", 1)
    [row] = rvus(2026).iter_rows(named=True)
    assert (row["code"], row["nf_pe_rvu"], row["mp_rvu"]) == ("97110", 0.41, 0.01)
    factor = conversion_factor_entry(dt.date(2026, 5, 1))
    assert factor is not None
    assert str(factor.amount) == "33.4009"
    assert "PPRRVU2026_Jan_nonQPP.csv" in factor.source


def test_bad_number_names_file_and_row(tmp_path: Path) -> None:
    path = write(tmp_path / "PPRRVU25_JAN.csv", pprrvu_csv(
        pprrvu_row("97110", "A", "0.45", "0.43", "0.43", "0.01"),
        pprrvu_row("97112", "A", "zero", "0.48", "0.48", "0.01"),
    ))
    with pytest.raises(InputError) as raised:
        parse_path(path)
    assert raised.value.row == 12  # 10 header rows, then the second data row
    assert raised.value.file == str(path)
    assert "zero" in str(raised.value)


def test_gpci_footnotes_skipped_and_zeros_restored(tmp_path: Path) -> None:
    path = write(tmp_path / "GPCI2025.csv", gpci_csv(
        "1182,CA,18,LOS ANGELES-LONG BEACH-ANAHEIM (LOS ANGELES/ORANGE CNTY),1.042,1.194,0.69",
        "10112,AL,0,ALABAMA,1,0.869,0.575",
    ))
    [table] = parse_path(path)
    assert table.kind is RefTable.GPCI
    assert table.period == "2025"
    assert table.frame.select("mac", "locality").rows() == [("01182", "18"), ("10112", "00")]


def test_gpci_prefers_the_floored_work_column(tmp_path: Path) -> None:
    path = write(tmp_path / "GPCI2026.csv",
                 "Medicare Administrative Contractor (MAC),State,Locality Number,Locality Name,"
                 "2026 PW GPCI (without 1.0 Floor),2026 PW GPCI (with 1.0 Floor),2026 PE GPCI,2026 MP GPCI\n"
                 "10112,AL,00,ALABAMA,0.988,1.000,0.870,0.570\n")
    [table] = parse_path(path)
    assert table.frame.row(0, named=True)["work_gpci"] == 1.0


def test_gpci_2026_header_with_footnote_marks(tmp_path: Path) -> None:
    # From the CY2026 April release on, the floored work column is headed "2026 PW GPCI (with 1.0 Floor)***" and the
    # unfloored one is gone (header as in the RVU26C GPCI2026.csv copy cited in bundled gpci.csv).
    path = write(tmp_path / "GPCI2026.csv",
                 "ADDENDUM E. FINAL CY 2026 GEOGRAPHIC PRACTICE COST INDICES (GPCIs) BY STATE AND MEDICARE "
                 "LOCALITY,,,,,,\n"
                 ",,,,,,\n"
                 "Medicare Administrative Contractor (MAC),State,Locality Number,Locality Name,"
                 "2026 PW GPCI (with 1.0 Floor)***,2026 PE GPCI,2026 MP GPCI\n"
                 "10112,AL,00,ALABAMA,1.000,0.870,0.570\n")
    [table] = parse_path(path)
    assert table.period == "2026"
    row = table.frame.row(0, named=True)
    assert (row["mac"], row["locality"], row["work_gpci"], row["pe_gpci"], row["mp_gpci"]) == (
        "10112", "00", 1.0, 0.87, 0.57)


def test_gpci_xlsx_is_read_without_a_spreadsheet_library(tmp_path: Path) -> None:
    rows = [["ADDENDUM E. FINAL CY 2025 GEOGRAPHIC PRACTICE COST INDICES"], [],
            ["Medicare Administrative Contractor (MAC)", "State", "Locality Number", "Locality Name",
             "2025 PW GPCI (with 1.0 Floor)", "2025 PE GPCI", "2025 MP GPCI"],
            ["02102", "AK", "01", "ALASKA*", "1.5", "1.081", "0.592"]]
    path = tmp_path / "GPCI2025.xlsx"
    path.write_bytes(xlsx_bytes(rows))
    [table] = parse_path(path)
    assert table.frame.row(0, named=True)["work_gpci"] == 1.5
    assert table.frame.row(0, named=True)["mac"] == "02102"


def test_zip_reads_each_table_once_and_skips_other_members(tmp_path: Path) -> None:
    csv_text = pprrvu_csv(pprrvu_row("97110", "A", "0.45", "0.43", "0.43", "0.01"))
    path = zip_of(tmp_path / "RVU25A.zip", {
        "PPRRVU25_JAN.csv": csv_text,
        "PPRRVU25_JAN.txt": "97110  Synthetic fixed width line   A   0.45   0.43\n",
        "RVU25A.pdf": b"%PDF-1.4 synthetic",
        "GPCI2025.csv": gpci_csv("10112,AL,0,ALABAMA,1,0.869,0.575"),
        "OPPSCAP_JAN.csv": "HCPCS,MOD,PROCSTAT,CARRIER,LOCALITY,FACILITY PRICE,NON-FACILTY PRICE\n"
                           "0633T,TC,C,01112,05,150.69,150.69\n",
    })
    tables = parse_path(path)
    assert sorted(t.kind.value for t in tables) == ["gpci", "rvu"]
    assert next(t for t in tables if t.kind is RefTable.RVU).source_file.endswith(":PPRRVU25_JAN.csv")


def test_ptp_tab_delimited_with_notice_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "ccipra-v313r0-f1.txt", ptp_txt(
        ("97161", "97140", "", "20200101", "*", "1", "Misuse of column two code with column one code"),
        ("97530", "97116", "*", "19960101", "20250701", "0", "Standards of medical / surgical practice"),
    ))
    [table] = parse_path(path)
    assert table.kind is RefTable.PTP
    assert table.period == "2025Q4"  # NCCI v31.3
    first, second = table.frame.rows(named=True)
    assert first["deleted"] is None
    assert first["modifier_indicator"] == 1
    assert not first["prior_1996"]
    assert second["deleted"] == dt.date(2025, 7, 1)
    assert second["prior_1996"]


def test_quarter_comes_from_the_file_name_not_its_folder(tmp_path: Path, data_dir: Path) -> None:
    # Regression: the folder ncci-v313r0 (NCCI v31.3 = 2025Q4) set the quarter of the file inside it; the file is
    # ccipra-v321r0 (v32.1: 1994 + 32 = 2026, quarter index 1 = April) and must be stored as 2026Q2.
    folder = tmp_path / "ncci-v313r0"
    folder.mkdir()
    path = write(folder / "ccipra-v321r0-f1.TXT", ptp_txt(("97161", "97140", "", "20200101", "*", "1", "r")))
    [table] = parse_path(path)
    assert table.period == "2026Q2"
    [result] = import_files([path])
    assert result.period == "2026Q2"
    assert result.path.is_relative_to(data_dir / "refdata" / "ptp" / "2026Q2")
    # MUE: a folder named for the October 2025 file does not date the April 2026 file in it.
    mue_folder = tmp_path / "MCR_MUE_PractitionerServices_Eff_10-01-2025"
    mue_folder.mkdir()
    [mue] = parse_path(write(mue_folder / "MCR_MUE_PractitionerServices_Eff_04-01-2026.csv",
                             mue_csv("97110,6,3 Date of Service Edit: Clinical,x")))
    assert mue.period == "2026Q2"


def test_quarter_of_a_zip_member_comes_from_the_member_name(tmp_path: Path) -> None:
    # "archive.zip:member": the archive's name (and a folder inside it) say 2025Q4, the member says 2026Q2.
    archive = zip_of(tmp_path / "ncci-v313r0.zip", {
        "ccipra-v321r0-f1.TXT": ptp_txt(("97161", "97140", "", "20200101", "*", "1", "r")),
        "MCR_MUE_PractitionerServices_Eff_10-01-2025/MCR_MUE_PractitionerServices_Eff_04-01-2026.csv":
            mue_csv("97110,6,3 Date of Service Edit: Clinical,x"),
    })
    tables = {table.kind: table for table in parse_path(archive)}
    assert tables[RefTable.PTP].period == "2026Q2"
    assert tables[RefTable.PTP].source_file.endswith("ncci-v313r0.zip:ccipra-v321r0-f1.TXT")
    assert tables[RefTable.MUE].period == "2026Q2"


def test_ptp_bad_date_names_row(tmp_path: Path) -> None:
    path = write(tmp_path / "ccipra-v313r0-f2.txt", ptp_txt(
        ("97161", "97140", "", "20200101", "*", "1", "r"),
        ("97162", "97140", "", "2020-13-45", "*", "1", "r"),
    ))
    with pytest.raises(InputError) as raised:
        parse_path(path)
    assert raised.value.row == 6
    assert raised.value.field == "Effective Date"


def test_ptp_without_version_asks_for_period(tmp_path: Path) -> None:
    path = write(tmp_path / "edits.txt", ptp_txt(("97161", "97140", "", "20200101", "*", "1", "r")))
    with pytest.raises(InputError, match="--period 2025Q4"):
        parse_path(path)
    [table] = parse_path(path, period="2026Q1")
    assert table.period == "2026Q1"


def test_mue_with_adjudication_text(tmp_path: Path) -> None:
    path = write(tmp_path / "MCR_MUE_PractitionerServices_Eff_10-01-2025.csv", mue_csv(
        "97110,6,3 Date of Service Edit: Clinical,Clinical: Data",
        "97150,1,2 Date of Service Edit: Policy,CMS Policy",
        "97760,3,1 Line Edit,Clinical: Data",
    ))
    [table] = parse_path(path)
    assert table.period == "2025Q4"
    assert table.frame.select("code", "mue", "mai").rows() == [("97110", 6, 3), ("97150", 1, 2), ("97760", 3, 1)]


def test_wrong_file_as_mue_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "GPCI2025.csv", gpci_csv("10112,AL,0,ALABAMA,1,0.869,0.575"))
    with pytest.raises(InputError, match="not a CMS NCCI MUE"):
        parse_path(path, kind=RefTable.MUE)


def test_fixed_width_text_gets_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path / "PPRRVU25_JAN.txt", "97110  Synthetic fixed width   A   0.45\n" * 3)
    with pytest.raises(InputError, match="fixed-width"):
        parse_path(path, kind=RefTable.RVU)


def test_period_bounds() -> None:
    assert period_bounds("2025Q4") == (dt.date(2025, 10, 1), dt.date(2025, 12, 31))
    assert period_bounds("2026Q1") == (dt.date(2026, 1, 1), dt.date(2026, 3, 31))
    assert period_bounds("2025") == (dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    with pytest.raises(InputError):
        period_bounds("2025Q5")


# --- imports are all or nothing ---------------------------------------------------------------------------------


def _stored(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "refdata").rglob("*")) if (data_dir / "refdata").exists() else []


def test_truncated_zip_writes_nothing(tmp_path: Path, data_dir: Path) -> None:
    good = zip_of(tmp_path / "full.zip", {"MCR_MUE_PractitionerServices_Eff_10-01-2025.csv":
                                          mue_csv(*(f"9{i:04d},1,1 Line Edit,x" for i in range(400)))})
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputError, match="zip") as raised:
        import_files([truncated])
    assert raised.value.file == str(truncated)
    assert _stored(data_dir) == []


def test_one_bad_file_in_an_import_writes_nothing(tmp_path: Path, data_dir: Path) -> None:
    good = write(tmp_path / "ccipra-v313r0-f1.txt", ptp_txt(("97161", "97140", "", "20200101", "*", "1", "r")))
    bad = write(tmp_path / "ccipra-v313r0-f2.txt", ptp_txt(("97162", "97140", "", "20201301", "*", "1", "r")))
    with pytest.raises(InputError) as raised:
        import_files([good, bad])
    assert raised.value.file == str(bad)
    assert raised.value.row == 5
    assert _stored(data_dir) == []


def test_wrong_kind_import_writes_nothing(tmp_path: Path, data_dir: Path) -> None:
    path = write(tmp_path / "GPCI2025.csv", gpci_csv("10112,AL,0,ALABAMA,1,0.869,0.575"))
    with pytest.raises(InputError):
        import_files([path], kind=RefTable.MUE)
    assert _stored(data_dir) == []


def test_import_tags_rows_with_source_period_and_time(tmp_path: Path, data_dir: Path) -> None:
    path = write(tmp_path / "MCR_MUE_PractitionerServices_Eff_10-01-2025.csv", mue_csv("97110,6,3 Clinical,x"))
    [result] = import_files([path], now=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    stored = pl.read_parquet(result.path)
    assert result.path.is_relative_to(data_dir / "refdata" / "mue" / "2025Q4")
    assert stored.row(0, named=True)["source_file"] == "MCR_MUE_PractitionerServices_Eff_10-01-2025.csv"
    assert stored.row(0, named=True)["period"] == "2025Q4"
    assert stored.row(0, named=True)["imported_at"] == "2026-01-02T03:04:05+00:00"
    assert not list(result.path.parent.glob("*.tmp"))


def test_locality_file_carries_state_forward(tmp_path: Path) -> None:
    path = write(tmp_path / "25LOCCO.csv",
                 "Medicare Adminstrative Contractor,Locality Number,State,Fee Schedule Area,Counties\n"
                 "1182,18,CALIFORNIA,LOS ANGELES-LONG BEACH-ANAHEIM,LOS ANGELES/ORANGE\n"
                 "1182,17,,OXNARD-THOUSAND OAKS-VENTURA,VENTURA\n")
    [table] = parse_path(path)
    assert table.kind is RefTable.LOCALITY
    assert table.period == "2025"
    assert table.frame.select("mac", "locality", "state").rows() == [("01182", "18", "CALIFORNIA"),
                                                                     ("01182", "17", "CALIFORNIA")]


def test_kind_option_picks_that_table_from_a_zip(tmp_path: Path, data_dir: Path) -> None:
    path = zip_of(tmp_path / "RVU25A.zip", {
        "PPRRVU25_JAN.csv": pprrvu_csv(pprrvu_row("97110", "A", "0.45", "0.43", "0.43", "0.01")),
        "GPCI2025.csv": gpci_csv("10112,AL,0,ALABAMA,1,0.869,0.575"),
    })
    [result] = import_files([path], kind=RefTable.GPCI)
    assert result.kind is RefTable.GPCI
    assert [p.name for p in (data_dir / "refdata").glob("*")] == ["gpci"]
