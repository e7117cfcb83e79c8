"""scripts/extract_pfs_rvu.py: the bundled rvu.csv rows are cut from a file in CMS's CY2026 layout.

The header rows below are CMS's, as they stand in PPRRVU2026_Jul_nonQPP.csv (RVU26C, "RELEASED 06/30/2026"; the copy
cited in bundled rvu.csv): 32 columns, one more than CY2025's 31 ("PRIC IND" after TEAM SURG). The data rows are
the file's rows for 97530, 97164 and 99401 with the DESCRIPTION cell left empty (AMA text is never copied).
"""

from __future__ import annotations

import csv
import importlib.util
import io
from pathlib import Path
from types import ModuleType

import pytest

from cleanclaim.refdata import rvus
from cleanclaim.refdata.cms_files import RefTable, parse_path

SCRIPT = Path(__file__).parents[2] / "scripts" / "extract_pfs_rvu.py"

HEADER_2026_JUL = """\
,,2026 National Physician Fee Schedule Relative Value File July Release,,,,,,,,,,,,,,,,,,,,,,,,,,,,,
,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,
,,RELEASED 06/30/2026,,,,,,,,,,,,,,,,,,,,,,,,,,,,,
,,,,,,,,,,,,,,,,,,,,,,,,,,,,,NON-FACILITY,FACILITY,
,,,,NOT USED,,,,,,,,,,,,,,,,,,,,,,PHYSICIAN,,DIAGNOSTIC,PE USED,PE USED,MP USED
,,,,FOR,,,NON-FAC,,FACILITY,,,,,,,,,,,,,,,,,SUPERVISION OF,,IMAGING,FOR OPPS,FOR OPPS,FOR OPPS
,,,STATUS,MEDICARE,WORK,NON-FAC,NA,FACILITY,NA,MP,NON-FACILITY,FACILITY,PCTC,GLOB,PRE,INTRA,POST,MULT,BILAT,ASST,\
CO-,TEAM,PRIC,ENDO,CONV,DIAGNOSTIC,CALCULATION,FAMILY,PAYMENT,PAYMENT,PAYMENT
HCPCS,MOD,DESCRIPTION,CODE,PAYMENT,RVU,PE RVU,INDICATOR,PE RVU,INDICATOR,RVU,TOTAL,TOTAL,IND,DAYS,OP,OP,OP,PROC,SURG,\
SURG,SURG,SURG,IND,BASE,FACTOR,PROCEDURES,FLAG,INDICATOR,AMOUNT,AMOUNT,AMOUNT
"""
ROWS_2026_JUL = """\
97164,,,A,,0.96,1.05,,1.05,NA,0.01,2.02,2.02,7,XXX,0.00,0.00,0.00,5,0,0,0,0,9,,33.4009,09,0,99,0.00,0.00,0.00
97530,,,A,,0.44,0.60,,0.60,NA,0.01,1.05,1.05,7,XXX,0.00,0.00,0.00,5,0,0,0,0,9,,33.4009,09,0,99,0.00,0.00,0.00
99401,,,N,+,0.48,0.68,,0.11,,0.03,1.19,0.62,9,XXX,0.00,0.00,0.00,9,9,9,9,9,9,,33.4009,09,0,99,0.00,0.00,0.00
"""
# The CMS copyright rows of the real file (AMA and ADA notices) are left out; the parser needs none of them.


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("extract_pfs_rvu", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def cms_file(tmp_path: Path) -> Path:
    path = tmp_path / "PPRRVU2026_Jul_nonQPP.csv"
    path.write_text(HEADER_2026_JUL + ROWS_2026_JUL, encoding="utf-8")
    return path


def test_the_2026_layout_is_read_by_header_name(cms_file: Path) -> None:
    [table] = parse_path(cms_file, kind=RefTable.RVU)
    assert table.period == "2026"
    row = table.frame.filter(table.frame["code"] == "97530").row(0, named=True)
    assert (row["status"], row["work_rvu"], row["nf_pe_rvu"], row["f_pe_rvu"], row["mp_rvu"]) == (
        "A", 0.44, 0.60, 0.60, 0.01)
    # MULT PROC and CONV FACTOR sit after the new PRIC IND column's neighbours, and are still found
    assert (row["global_days"], row["mult_proc"], row["conversion_factor"]) == ("XXX", "5", 33.4009)


def test_rows_are_cut_in_code_book_order_and_missing_codes_are_named(script: ModuleType, cms_file: Path) -> None:
    [table] = parse_path(cms_file, kind=RefTable.RVU)
    rows, missing = script.bundled_rows(table, ["99401", "97530", "97164", "85025"], "PPRRVU2026_Jul_nonQPP")
    assert rows == [
        ["2026", "99401", "", "N", "0.48", "0.68", "0.11", "0.03", "XXX", "9", "PPRRVU2026_Jul_nonQPP"],
        ["2026", "97530", "", "A", "0.44", "0.60", "0.60", "0.01", "XXX", "5", "PPRRVU2026_Jul_nonQPP"],
        ["2026", "97164", "", "A", "0.96", "1.05", "1.05", "0.01", "XXX", "5", "PPRRVU2026_Jul_nonQPP"],
    ]
    assert missing == ["85025"]


def test_replace_year_keeps_comments_and_other_years(script: ModuleType) -> None:
    text = "# source: test\nyear,code\n2025,97110,old\n2026,97110,old\n2026,97112,old\n"
    out = script.replace_year(text, 2026, [["2026", "97530", "new"]])
    assert out == "# source: test\nyear,code\n2025,97110,old\n2026,97530,new\n"


def test_the_bundled_2026_rows_are_what_the_script_cuts(script: ModuleType, cms_file: Path) -> None:
    # The three rows above, as bundled: the bundled table was cut by this script from the CMS file.
    [table] = parse_path(cms_file, kind=RefTable.RVU)
    rows, _ = script.bundled_rows(table, ["97164", "97530", "99401"], "PPRRVU2026_Jul_nonQPP")
    bundled = rvus(2026)
    for row in rows:
        [found] = bundled.filter(bundled["code"] == row[1]).rows(named=True)
        assert [found["status"], found["work_rvu"], found["nf_pe_rvu"], found["f_pe_rvu"], found["mp_rvu"],
                found["global_days"], found["mult_proc"]] == [
            row[3], float(row[4]), float(row[5]), float(row[6]), float(row[7]), row[8], row[9]]


def test_every_code_book_code_has_a_2026_row_or_is_a_known_gap(script: ModuleType) -> None:
    # The gaps are the ones the rvu.csv header names: Category II and lab codes not read, and deleted codes.
    known_gaps = {"1000F", "1036F", "3008F", "4004F", "80061", "82947", "83036", "85025", "96150", "96151", "96152",
                  "96153", "96154", "96155", "99201", "G0436", "G0437"}
    have = set(rvus(2026)["code"].to_list())
    assert set(script.codebook_codes()) - have == known_gaps
    assert rvus(2026).filter(rvus(2026)["source"] != "bundled rvu.csv: PPRRVU2026_Jul_nonQPP").is_empty()


def test_bundled_2026_rows_carry_no_description_text() -> None:
    text = (Path(__file__).parents[2] / "src" / "cleanclaim" / "refdata" / "bundled" / "rvu.csv").read_text()
    data = [line for line in text.splitlines() if line.startswith("2026,")]
    assert data
    for record in csv.reader(io.StringIO("\n".join(data))):
        assert len(record) == 11  # year,code,modifier,status,4 RVUs,global,mult_proc,source: no description column
