"""``data import`` on damaged, hand-made and hostile files: every one is an input error naming the file and, where
there is one, the row or line and the column; never a traceback, never a value the pricer cannot use, and never an
unbounded expansion (issue 11, "Hostile input")."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cleanclaim.errors import InputError
from cleanclaim.refdata import cms_files, parse_path
from tests.refdata.cms_layouts import GPCI_HEADER, gpci_csv, mue_csv, pprrvu_csv, pprrvu_row, write, zip_of
from tests.refdata.test_data_command import _app

NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
MUE_NAME = "MCR_MUE_PractitionerServices_Eff_10-01-2025.csv"


def _book(sheet_rows: str, *, shared: str | None = None, sheet: bool = True) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as book:
        book.writestr("[Content_Types].xml", "<Types/>")
        book.writestr("xl/workbook.xml", f"<workbook {NS}/>")
        if shared is not None:
            book.writestr("xl/sharedStrings.xml", f"<sst {NS}>{shared}</sst>")
        if sheet:
            book.writestr("xl/worksheets/sheet1.xml",
                          f"<worksheet {NS}><sheetData>{sheet_rows}</sheetData></worksheet>")
    return buffer.getvalue()


def _error(path: Path) -> InputError:
    with pytest.raises(InputError) as raised:
        parse_path(path)
    return raised.value


def _gpci(tmp_path: Path, work: str, *, locality: str = "0", mac: str = "10112") -> Path:
    return write(tmp_path / "GPCI2025.csv", gpci_csv(f"{mac},AL,{locality},ALABAMA,{work},0.869,0.575"))


# ---- numbers: non-finite, out of range, non-ASCII digits ----------------------------------------------------------
@pytest.mark.parametrize("value", ["NaN", "nan", "Infinity", "-inf", "sNaN", "1e400", "1" + "0" * 5000, "٣",
                                   "1_0", "0", "-0.5", "10.0001"])
def test_gpci_that_is_not_a_usable_number_is_refused_at_its_row_and_column(tmp_path: Path, value: str) -> None:
    error = _error(_gpci(tmp_path, value))
    assert (error.file, error.row, error.field) == (str(tmp_path / "GPCI2025.csv"), 4, "PW GPCI")
    assert "not a decimal number" in error.message or "out of range" in error.message


@pytest.mark.parametrize("value", ["10", "0.001", "1.5E-2"])
def test_gpci_range_edges_that_are_accepted(tmp_path: Path, value: str) -> None:
    [table] = parse_path(_gpci(tmp_path, value))
    assert table.frame["work_gpci"][0] == float(value)


def test_rvu_bounds_edges(tmp_path: Path) -> None:
    low, high, low_allowed = cms_files.NUMBER_RANGES["WORK_RVU"]
    assert low_allowed
    ok = write(tmp_path / "PPRRVU25_JAN.csv",
               pprrvu_csv(pprrvu_row("97110", "A", f"{low:g}", "0.4", "0.4", f"{high:g}")))
    [table] = parse_path(ok)
    assert table.frame.row(0, named=True)["mp_rvu"] == high
    over = write(tmp_path / "PPRRVU25_JAN.csv", pprrvu_csv(pprrvu_row("97110", "A", "0.45", "Infinity", "0.4", "0.01")))
    error = _error(over)
    assert (error.row, error.field) == (11, "NF_PE_RVU")
    negative_cf = write(tmp_path / "PPRRVU25_JAN.csv",
                        pprrvu_csv(pprrvu_row("97110", "A", "0.45", "0.4", "0.4", "0.01", cf="-32.3465")))
    error = _error(negative_cf)
    assert (error.row, error.field) == (11, "CONVERSION_FACTOR")
    assert "out of range" in error.message


@pytest.mark.parametrize(("locality", "mac"), [("٣", "10112"), ("123", "10112"), ("0", "101120"), ("0", "1O112")])
def test_locality_and_mac_are_ascii_numbers_of_their_width(tmp_path: Path, locality: str, mac: str) -> None:
    error = _error(_gpci(tmp_path, "1", locality=locality, mac=mac))
    assert error.row == 4
    assert error.field in ("MAC", "Locality Number")


@pytest.mark.parametrize("value", ["six", "6.0", "٦", "-1", "1" * 30])
def test_mue_value_that_is_not_a_whole_number_in_range(tmp_path: Path, value: str) -> None:
    error = _error(write(tmp_path / MUE_NAME, mue_csv(f"97110,{value},3 Clinical,x")))
    assert (error.row, error.field) == (5, "Practitioner Services MUE Values")


def test_mue_bound_edge(tmp_path: Path) -> None:
    [table] = parse_path(write(tmp_path / MUE_NAME, mue_csv(f"97110,{cms_files.MAX_MUE},3 Clinical,x")))
    assert table.frame["mue"][0] == cms_files.MAX_MUE
    error = _error(write(tmp_path / MUE_NAME, mue_csv(f"97110,{cms_files.MAX_MUE + 1},3 Clinical,x")))
    assert "out of range" in error.message and error.row == 5


# ---- malformed files -----------------------------------------------------------------------------------------------
def test_zip_that_is_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "RVU25A.zip"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    error = _error(path)
    assert error.file == str(path) and "not a readable zip" in error.message


@pytest.mark.parametrize(("data", "expected"), [
    (b"", "not a readable zip"),
    (_book("", sheet=False), "no worksheet"),
    (_book('<row r="1"><c r="A1" t="inlineStr"><is><t>HCPCS</t></is></c></row>'), "no recognised header"),
    (_book('<row r="abc"><c r="A1"><v>1</v></c></row>'), "not a row number"),
    (_book('<row r="99999999"><c r="A1"><v>1</v></c></row>'), "past Excel's 1,048,576 rows"),
    (_book('<row r="2"><c r="A2"><v>1</v></c></row><row r="1"><c r="A1"><v>1</v></c></row>'), "out of order"),
    (_book('<row r="1"><c r="ZZZZ1"><v>1</v></c></row>'), "16,384 columns"),
    (_book('<row r="1"><c r="A1" t="s"><v>7</v></c></row>', shared="<si><t>x</t></si>"), "shared string"),
    (_book('<row r="1"><c r="A1" t="s"><v>x</v></c></row>', shared=""), "shared string"),
    (_book('<row r="1"><c r="A1"><v>1</v></c>'), "XML is damaged"),
])
def test_broken_workbooks(tmp_path: Path, data: bytes, expected: str) -> None:
    path = tmp_path / "GPCI2025.xlsx"
    path.write_bytes(data)
    error = _error(path)
    assert error.file == str(path)
    assert expected in str(error)


def test_zip_needing_an_unknown_zip_version(tmp_path: Path) -> None:
    data = bytearray(zip_of(tmp_path / "ok.zip", {"GPCI2025.csv": gpci_csv("10112,AL,0,ALABAMA,1,0.869,0.575")})
                     .read_bytes())
    central = data.index(b"PK\x01\x02")
    data[central + 6:central + 8] = (99).to_bytes(2, "little")  # "version needed to extract" 9.9 (zipfile: 6.3)
    path = tmp_path / "RVU25A.zip"
    path.write_bytes(bytes(data))
    error = _error(path)
    assert error.file == str(path) and "zip file version" in error.message


def test_truncated_workbook(tmp_path: Path) -> None:
    whole = _book("".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in range(1, 500)))
    path = tmp_path / "GPCI2025.xlsx"
    path.write_bytes(whole[: len(whole) // 2])
    assert "zip" in _error(path).message


def test_text_file_cut_in_the_middle_of_a_row(tmp_path: Path) -> None:
    text = mue_csv("97110,6,3 Clinical,x", "97112,6,3 Clinical,x")
    path = write(tmp_path / MUE_NAME, text[: text.rindex("97112") + 7])  # "97112,6" and nothing after
    error = _error(path)
    assert (error.row, error.field) == (6, "MUE Adjudication Indicator")


def test_csv_with_the_wrong_delimiter_says_so(tmp_path: Path) -> None:
    path = write(tmp_path / "GPCI2025.csv", gpci_csv("10112,AL,0,ALABAMA,1,0.869,0.575").replace(",", ";"))
    error = _error(path)
    assert error.row == 3
    assert "';'-separated" in error.message


def test_header_only_and_empty_files(tmp_path: Path) -> None:
    assert "header but no data rows" in _error(write(tmp_path / "GPCI2025.csv", "\n".join(GPCI_HEADER))).message
    assert _error(write(tmp_path / "empty.csv", "")).message == "the file is empty"


def test_field_over_the_csv_limit_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / MUE_NAME, mue_csv('97110,6,3 Clinical,"' + "x" * 200_000))
    error = _error(path)
    assert error.line == 5
    assert "field larger than field limit" in error.message


# ---- bounded expansion ---------------------------------------------------------------------------------------------
def test_zip_bomb_is_refused_by_its_ratio_before_it_is_expanded(tmp_path: Path) -> None:
    row = "10112,AL,0,ALABAMA,1,0.869,0.575\n"
    # 20 MB of one repeated row: about 50 KB compressed, a ratio of about 400
    path = zip_of(tmp_path / "RVU25A.zip", {"GPCI2025.csv": "\n".join(GPCI_HEADER) + "\n" + row * 600_000})
    error = _error(path)
    assert error.file == f"{path}:GPCI2025.csv"
    assert "MAX_COMPRESSION_RATIO" in error.message


def test_ordinary_compression_is_accepted(tmp_path: Path) -> None:
    # distinct rows compress far less than 100 to 1: a real-sized table is read
    rows = [f"{10000 + i},ST,{i % 100},Locality {i},1.{i:03d},0.{i:03d},0.5{i:02d}" for i in range(1, 200)]
    path = zip_of(tmp_path / "RVU25A.zip", {"GPCI2025.csv": gpci_csv(*rows)})
    [table] = parse_path(path)
    assert table.frame.height == len(rows)


def test_total_expansion_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [f"9{i:04d},{i % 7},1 Line Edit,rationale {i}" for i in range(300)]
    text = mue_csv(*rows)
    monkeypatch.setattr(cms_files, "MAX_EXPANDED_BYTES", len(text.encode()) + 10)
    ok = zip_of(tmp_path / "one.zip", {MUE_NAME: text})
    assert parse_path(ok)[0].frame.height == 300
    two = zip_of(tmp_path / "two.zip", {MUE_NAME: text, "MCR_MUE_PractitionerServices_Eff_01-01-2026.csv": text})
    error = _error(two)
    assert "MAX_EXPANDED_BYTES" in error.message
    assert error.file == f"{two}:MCR_MUE_PractitionerServices_Eff_01-01-2026.csv"


def test_member_count_and_nesting_are_capped(tmp_path: Path) -> None:
    many = zip_of(tmp_path / "many.zip", {f"readme{i}.pdf": b"x" for i in range(cms_files.MAX_ARCHIVE_MEMBERS + 1)})
    assert "MAX_ARCHIVE_MEMBERS" in _error(many).message
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as inner:
        inner.writestr("GPCI2025.csv", gpci_csv("10112,AL,0,ALABAMA,1,0.869,0.575"))
    content = data.getvalue()
    for level in range(cms_files.MAX_ZIP_DEPTH):
        data = io.BytesIO()
        with zipfile.ZipFile(data, "w") as outer:
            outer.writestr(f"level{level}.zip", content)
        content = data.getvalue()
    deep = tmp_path / "deep.zip"
    deep.write_bytes(content)
    assert "MAX_ZIP_DEPTH" in _error(deep).message
    # one level less is read
    shallow = tmp_path / "shallow.zip"
    with zipfile.ZipFile(io.BytesIO(content)) as outer:
        shallow.write_bytes(outer.read(outer.namelist()[0]))
    assert parse_path(shallow)[0].frame.height == 1


# ---- through the command -------------------------------------------------------------------------------------------
def test_data_import_reports_hostile_files_as_input_errors(tmp_path: Path, data_dir: Path) -> None:
    nan = _gpci(tmp_path, "NaN")
    result = CliRunner().invoke(_app(), ["data", "import", str(nan)])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "row 4: field PW GPCI" in result.output
    assert not (data_dir / "refdata").exists()
