"""Readers for the reference files exactly as CMS publishes them, so users import the official release unchanged.

Layouts confirmed against real files (stored public copies), cited per table:

* **PFS relative value file** (``PPRRVUyy_*.csv`` / ``.xlsx`` in the RVUyyA-D zips). Ten header rows: title
  ("2025 National Physician Fee Schedule Relative Value File January Release"), AMA/ADA copyright notices,
  "RELEASED 12/23/2024", then a five-row stacked column header whose last row starts ``HCPCS,MOD,DESCRIPTION,CODE``.
  Read top to bottom the 31 columns are HCPCS, MOD, DESCRIPTION, STATUS CODE, NOT USED FOR MEDICARE PAYMENT,
  WORK RVU, NON-FAC PE RVU, NON-FAC NA INDICATOR, FACILITY PE RVU, FACILITY NA INDICATOR, MP RVU, NON-FACILITY
  TOTAL, FACILITY TOTAL, PCTC IND, GLOB DAYS, PRE OP, INTRA OP, POST OP, MULT PROC, BILAT SURG, ASST SURG, CO-
  SURG, TEAM SURG, ENDO BASE, CONV FACTOR, PHYSICIAN SUPERVISION OF DIAGNOSTIC PROCEDURES, CALCULATION FLAG,
  DIAGNOSTIC IMAGING FAMILY INDICATOR and three OPPS-cap columns. Source: CMS PPRRVU25_JAN.csv as kept in
  github.com/Gmills21/Agentic-Medical-Biller (PPRRVU25_JAN1.csv). The stacked header is joined column by column, so
  a one-row header (``HCPCS,MOD,DESCRIPTION,STATUS CODE,WORK RVU,...``) reads the same. CY2026 files
  (``PPRRVU2026_Jan_nonQPP.csv``) have 32 columns, one more than CY2025, with the first 15 where they were (a
  description of the CY2026 files, find_string id 66261301486; an importer checked against RVU26A, id
  57166540614); which column is new was not found. Every column is found by its header name, never by position,
  so an added column is ignored wherever it sits (tests/refdata/test_cms_files.py tries three positions). The
  fixed-width ``.txt`` version is not supported (its column positions are only in the release PDF): use the CSV or
  XLSX of the same zip. The DESCRIPTION column is AMA text and is never read.
* **GPCI file** (``GPCIyyyy.csv``): title "ADDENDUM E. FINAL CY 2025 GEOGRAPHIC PRACTICE COST INDICES (GPCIs) BY
  STATE AND MEDICARE LOCALITY", a blank row, then ``Medicare Administrative Contractor (MAC), State, Locality
  Number, Locality Name, 2025 PW GPCI (with 1.0 Floor), 2025 PE GPCI, 2025 MP GPCI``, and footnote rows after the
  data. Source: GPCI2025.csv in the same repository; CY2026 adds "(without 1.0 Floor)" in some releases
  (find_string hits of parsers quoting "2026 PW GPCI (with 1.0 Floor)"), so the floored column is preferred; from
  RVU26B on only the floored column remains, headed "2026 PW GPCI (with 1.0 Floor)***" (id 66261301486; the
  RVU26C copy cited in bundled gpci.csv).
* **Locality file** (``yyLOCCO.csv``): ``Medicare Adminstrative Contractor, Locality Number, State, Fee Schedule
  Area, Counties`` (CMS's spelling). Source: test fixture quoting 25LOCCO.csv (find_string id 16402248420).
* **NCCI practitioner PTP tables** (``ccipra-vVVQrN-fK.TXT`` or ``.xlsx``, several files per quarter split by code
  range): notice rows, then Column 1, Column 2, "*=in existence prior to 1996", Effective Date, Deletion Date
  ("*=no data"), Modifier (0 not allowed, 1 allowed, 9 not applicable), PTP Edit Rationale; tab-delimited, dates
  YYYYMMDD. Sources: Palmetto GBA (column list), Gmills21/Agentic-Medical-Biller NCCI/create_ncci_database.py
  (reads ``ccipra-v313r0-f1.TXT`` tab-delimited with 8 notice/header rows). Version ``VV.Q`` is NCCI version
  VV (1994 + VV is the year; v26.0 = 2020Q1) and Q the quarter index (0 = January).
* **NCCI practitioner MUE table** (``MCR_MUE_PractitionerServices_Eff_MM-DD-YYYY.csv``): copyright notice rows, then
  HCPCS/CPT Code, Practitioner Services MUE Values, MUE Adjudication Indicator ("1 Line Edit", "2 Date of Service
  Edit: Policy", "3 Date of Service Edit: Clinical"), MUE Rationale. Sources: Noridian MUE page (columns), same
  repository (file name, notice rows before the header).

Every parser is all or nothing: a row that has data but does not parse raises :class:`InputError` naming the file
and the row; blank rows and one-cell note rows (titles, footnotes) are skipped. Numbers are plain ASCII decimals
within the range the table can hold (`NUMBER_RANGES`): ``NaN``, ``Infinity`` or a GPCI of 40 is refused at import,
not left for the pricer. What a file may expand to is bounded (`MAX_ARCHIVE_MEMBERS`, `MAX_EXPANDED_BYTES`,
`MAX_COMPRESSION_RATIO`, `MAX_ZIP_DEPTH`, and Excel's own sheet size for workbooks), so a small zip cannot make an
import run for minutes or exhaust memory.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import polars as pl

from cleanclaim.errors import InputError
from cleanclaim.refdata.kinds import RefTable

__all__ = ["ParsedTable", "RefTable", "parse_path", "period_bounds"]

TABLE_SCHEMAS: dict[RefTable, dict[str, pl.DataType]] = {
    RefTable.RVU: {"year": pl.Int32(), "code": pl.String(), "modifier": pl.String(), "status": pl.String(),
                   "global_days": pl.String(), "mult_proc": pl.String(), "qualifying_apm": pl.Boolean(),
                   "work_rvu": pl.Float64(), "nf_pe_rvu": pl.Float64(), "f_pe_rvu": pl.Float64(),
                   "mp_rvu": pl.Float64(), "conversion_factor": pl.Float64()},
    RefTable.GPCI: {"year": pl.Int32(), "mac": pl.String(), "locality": pl.String(), "state": pl.String(),
                    "locality_name": pl.String(), "work_gpci": pl.Float64(), "pe_gpci": pl.Float64(),
                    "mp_gpci": pl.Float64()},
    RefTable.LOCALITY: {"year": pl.Int32(), "mac": pl.String(), "locality": pl.String(), "state": pl.String(),
                        "fee_schedule_area": pl.String(), "counties": pl.String()},
    RefTable.PTP: {"column1": pl.String(), "column2": pl.String(), "prior_1996": pl.Boolean(), "effective": pl.Date(),
                   "deleted": pl.Date(), "modifier_indicator": pl.Int8(), "rationale": pl.String()},
    RefTable.MUE: {"code": pl.String(), "mue": pl.Int32(), "mai": pl.Int8(), "rationale": pl.String()},
}
"""The columns of each parsed table, as the parsers build them and as imported.py stores and checks them."""


@dataclass(frozen=True)
class ParsedTable:
    """One CMS table read from one file (or one member of a zip), ready to store."""

    kind: RefTable
    period: str
    """``2025Q4`` for quarterly NCCI tables, ``2025`` for yearly PFS tables."""
    frame: pl.DataFrame
    source_file: str


Rows = list[list[str]]

MAX_ARCHIVE_MEMBERS = 1_000
"""Members a zip (or workbook) may hold. CMS zips hold a few to a few dozen (RVU25A: about ten)."""
MAX_EXPANDED_BYTES = 512 * 1024 * 1024
"""Bytes all members of one file given to ``data import`` may expand to, nested zips and workbooks included. The
largest CMS table cleanclaim reads, one of the four practitioner PTP files of a quarter, is some tens of MB."""
MAX_COMPRESSION_RATIO = 100
"""Largest expanded/compressed ratio of a member over `RATIO_GRACE_BYTES`: text tables and workbook XML compress
about 5-20 to 1; a zip bomb a thousand to one (a 146 KB zip that expanded to 150 MB). 100 is Apache POI's default
(ZipSecureFile.MIN_INFLATE_RATIO = 0.01) for the same check on Office files."""
RATIO_GRACE_BYTES = 1024 * 1024
"""Members smaller than this are not held to `MAX_COMPRESSION_RATIO` (a blank sheet compresses very well)."""
MAX_ZIP_DEPTH = 3
"""Zips inside zips: CMS nests at most one level."""
EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_COLUMNS = 16_384
"""Excel's worksheet size (Microsoft, "Excel specifications and limits"); a cell reference beyond it is not from a
real workbook."""
NUMBER_RANGES: dict[str, tuple[float, float, bool]] = {
    "WORK_RVU": (0.0, 10_000.0, True), "NF_PE_RVU": (0.0, 10_000.0, True), "F_PE_RVU": (0.0, 10_000.0, True),
    "MP_RVU": (0.0, 10_000.0, True), "CONVERSION_FACTOR": (0.0, 1_000.0, True),
    "PW GPCI": (0.0, 10.0, False), "PE GPCI": (0.0, 10.0, False), "MP GPCI": (0.0, 10.0, False),
}
"""Per column: (low, high, whether low itself is allowed). Far outside anything CMS publishes (RVUs are under a few
hundred, the CF about 20-35 dollars, GPCIs about 0.5-2.0, never 0), so only a damaged or hand-made file trips them;
the pricer multiplies these, so one wrong cell would misprice every claim of the period."""
MAX_MUE = 1_000_000
"""Largest MUE value accepted (practitioner MUEs are at most a few thousand units)."""
_NOT_TABLES = {".pdf", ".doc", ".docx", ".rtf", ".htm", ".html", ".xml", ".jpg", ".png"}
_CODE = re.compile(r"^[A-Z0-9]{5}$")
_MAC = re.compile(r"[0-9]{1,5}")
_LOCALITY = re.compile(r"[0-9]{1,2}")
_PERIOD = re.compile(r"^(\d{4})(?:Q([1-4]))?$")


def period_bounds(period: str) -> tuple[dt.date, dt.date]:
    """The first and last dates of service a period (``2025`` or ``2025Q4``) covers."""
    match = _PERIOD.match(period)
    if not match:
        raise InputError(f"period {period!r} is not a year (2025) or a quarter (2025Q4)", field="period")
    year = int(match.group(1))
    if match.group(2) is None:
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    quarter = int(match.group(2))
    first = dt.date(year, 3 * quarter - 2, 1)
    last = dt.date(year + 1, 1, 1) if quarter == 4 else dt.date(year, 3 * quarter + 1, 1)
    return first, last - dt.timedelta(days=1)


# ---------------------------------------------------------------------------------------------------------------
# Bytes -> rows


def _decode(data: bytes) -> str:
    # CMS text files are Windows-1252/Latin-1; newer CSVs are UTF-8 with a BOM.
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _text_rows(data: bytes, name: str) -> Rows:
    text = _decode(data)
    sample = text[:20000]
    delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        return [list(row) for row in reader]
    except csv.Error as exc:
        raise InputError(f"not a CMS table: {exc} (a quotation mark left open?)", file=name,
                         line=reader.line_num) from exc


_XLSX_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def _column_index(ref: str) -> int:
    index = 0
    for char in ref:
        if not char.isalpha():
            break
        index = index * 26 + (ord(char.upper()) - ord("A") + 1)
    return index - 1


def _xlsx_rows(data: bytes, name: str, budget: _Budget) -> Rows:
    """The first worksheet of an .xlsx, read with zipfile + XML because no spreadsheet library is a dependency."""
    try:
        with _open_zip(data, name) as book:
            infos = {info.filename: info for info in _members(book, name, budget)}
            shared: list[str] = []
            if "xl/sharedStrings.xml" in infos:
                root = ElementTree.fromstring(_read_member(book, infos["xl/sharedStrings.xml"], name, budget))
                shared = ["".join(t.text or "" for t in si.iter(f"{_XLSX_NS}t")) for si in root.iter(f"{_XLSX_NS}si")]
            sheets = sorted(
                (n for n in infos if re.fullmatch(r"xl/worksheets/sheet[0-9]{1,6}\.xml", n)),
                key=lambda n: int(re.sub(r"[^0-9]", "", n)),
            )
            if not sheets:
                raise InputError("the workbook has no worksheet (xl/worksheets/sheet1.xml): not an Excel workbook "
                                 "saved as .xlsx?", file=name)
            sheet = ElementTree.fromstring(_read_member(book, infos[sheets[0]], name, budget))
    except ElementTree.ParseError as exc:
        raise InputError(f"cannot read the Excel workbook: its XML is damaged ({exc})", file=name) from exc
    rows: Rows = []
    for row in sheet.iter(f"{_XLSX_NS}row"):
        number = _sheet_row_number(row.get("r"), len(rows), name)
        while len(rows) < number - 1:
            rows.append([])
        rows.append(_sheet_cells(row, number, shared, name))
    return rows


def _sheet_row_number(ref: str | None, previous: int, name: str) -> int:
    """The row's number (its ``r``, else the next one), refused outside Excel's sheet or out of order."""
    if ref is None:
        number = previous + 1
    elif re.fullmatch(r"[0-9]{1,12}", ref):
        number = int(ref)
    else:
        raise InputError(f"worksheet row {previous + 1}: row reference {ref[:20]!r} is not a row number", file=name)
    if not previous < number <= EXCEL_MAX_ROWS:
        raise InputError(f"worksheet row {previous + 1}: row number {number} is out of order or past Excel's "
                         f"{EXCEL_MAX_ROWS:,} rows", file=name)
    return number


def _sheet_cells(row: ElementTree.Element, number: int, shared: list[str], name: str) -> list[str]:
    cells: list[str] = []
    for cell in row.findall(f"{_XLSX_NS}c"):
        ref = cell.get("r")
        if ref is None:
            column = len(cells)
        elif re.fullmatch(r"[A-Z]{1,7}[0-9]{1,12}", ref):
            column = _column_index(ref)
        else:
            raise InputError(f"cell reference {ref[:20]!r} is not a cell (A1 style)", file=name, row=number)
        if not len(cells) <= column < EXCEL_MAX_COLUMNS:
            raise InputError(f"cell {ref} is out of order or past Excel's {EXCEL_MAX_COLUMNS:,} columns",
                             file=name, row=number)
        kind = cell.get("t")
        if kind == "inlineStr":
            value = "".join(t.text or "" for t in cell.iter(f"{_XLSX_NS}t"))
        else:
            value = cell.findtext(f"{_XLSX_NS}v") or ""
            if kind == "s" and value:
                if not (re.fullmatch(r"[0-9]{1,9}", value) and int(value) < len(shared)):
                    raise InputError(f"cell {ref or column + 1} refers to shared string {value[:20]!r}, which the "
                                     f"workbook does not have ({len(shared)} strings)", file=name, row=number)
                value = shared[int(value)]
        while len(cells) < column:
            cells.append("")
        cells.append(value)
    return cells


@dataclass
class _Budget:
    """What one file given to ``data import`` has expanded to so far, across its members, nested zips and
    workbooks."""

    file: str
    expanded: int = 0
    members: int = 0


def _open_zip(data: bytes, name: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise InputError(f"not a readable zip archive (truncated or damaged?): {exc}", file=name) from exc


def _members(archive: zipfile.ZipFile, name: str, budget: _Budget) -> list[zipfile.ZipInfo]:
    infos = archive.infolist()
    budget.members += len(infos)
    if budget.members > MAX_ARCHIVE_MEMBERS:
        raise InputError(f"the archive holds more than {MAX_ARCHIVE_MEMBERS:,} members (MAX_ARCHIVE_MEMBERS); a CMS "
                         "zip holds a few dozen at most", file=name)
    return infos


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, budget: _Budget) -> bytes:
    """A member's bytes, read in chunks and stopped as soon as it passes a bound: the sizes a zip declares can lie."""
    allowed = MAX_EXPANDED_BYTES - budget.expanded
    chunks: list[bytes] = []
    size = 0
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(1 << 20):
                size += len(chunk)
                if size > allowed:
                    raise InputError(f"expands to more than {MAX_EXPANDED_BYTES // (1024 * 1024):,} MB "
                                     f"(MAX_EXPANDED_BYTES, for everything in {budget.file}); CMS files are far "
                                     "smaller: a damaged file or a zip bomb?", file=name)
                if size > RATIO_GRACE_BYTES and size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
                    raise InputError(f"expands more than {MAX_COMPRESSION_RATIO} times its compressed size "
                                     f"({info.compress_size:,} bytes; MAX_COMPRESSION_RATIO): a zip bomb, not a CMS "
                                     "file", file=name)
                chunks.append(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise InputError(f"cannot unpack this member (truncated or damaged?): {exc}", file=name) from exc
    budget.expanded += size
    return b"".join(chunks)


def _is_zip(data: bytes) -> bool:
    return data[:4] == b"PK\x03\x04" or data[:4] == b"PK\x05\x06"


def _rows_of(name: str, data: bytes, budget: _Budget) -> Rows | None:
    """Rows of a table file, or None when the file is not a table (a PDF in a CMS zip)."""
    suffix = Path(name).suffix.lower()
    if suffix in _NOT_TABLES:
        return None
    if suffix == ".xls":
        raise InputError("old-style Excel .xls cannot be read; use the .txt, .csv or .xlsx file from the same CMS zip",
                         file=name)
    if suffix == ".xlsx" or (_is_zip(data) and suffix != ".zip"):
        return _xlsx_rows(data, name, budget)
    if not data.strip():
        raise InputError("the file is empty", file=name)
    return _text_rows(data, name)


def _sources(path: Path, data: bytes, display: str, budget: _Budget, depth: int = 0) -> list[tuple[str, bytes]]:
    if not (_is_zip(data) or path.suffix.lower() == ".zip") or path.suffix.lower() == ".xlsx":
        return [(display, data)]
    if depth >= MAX_ZIP_DEPTH:
        raise InputError(f"zips nested more than {MAX_ZIP_DEPTH} deep (MAX_ZIP_DEPTH); CMS nests at most one",
                         file=display)
    members: list[tuple[str, bytes]] = []
    with _open_zip(data, display) as archive:
        for info in _members(archive, display, budget):
            if info.is_dir() or Path(info.filename).name.startswith((".", "__MACOSX")):
                continue
            inner = f"{display}:{info.filename}"
            content = _read_member(archive, info, inner, budget)
            if info.filename.lower().endswith(".zip"):
                members.extend(_sources(Path(info.filename), content, inner, budget, depth + 1))
            else:
                members.append((inner, content))
    return members


# ---------------------------------------------------------------------------------------------------------------
# Header handling


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip().upper()


def _filled(row: Sequence[str]) -> int:
    return sum(1 for cell in row if cell.strip())


def _combined_header(rows: Rows, header_row: int) -> list[str]:
    """Column names from a header that CMS stacks over several rows (PPRRVU), joined top to bottom."""
    start = header_row
    while start > 0 and _filled(rows[start - 1]) >= 2:
        start -= 1
    width = max(len(rows[i]) for i in range(start, header_row + 1))
    names = []
    for column in range(width):
        parts = [rows[i][column].strip() for i in range(start, header_row + 1)
                 if column < len(rows[i]) and rows[i][column].strip()]
        names.append(_norm(" ".join(parts)))
    return names


HeaderTest = Callable[[list[str]], bool]

_HEADER_TESTS: dict[RefTable, HeaderTest] = {
    RefTable.RVU: lambda cells: bool(cells) and cells[0] == "HCPCS" and any("RVU" in c for c in cells),
    RefTable.GPCI: lambda cells: any("PW GPCI" in c or "WORK GPCI" in c for c in cells),
    RefTable.LOCALITY: lambda cells: "FEE SCHEDULE AREA" in cells and any("COUNTIES" in c for c in cells),
    RefTable.MUE: lambda cells: any("MUE VALUE" in c for c in cells),
    RefTable.PTP: lambda cells: any(c.startswith("COLUMN 1") for c in cells)
    and any(c.startswith("COLUMN 2") for c in cells),
}
_HEADER_SEARCH_ROWS = 60


def _find_header(rows: Rows, kind: RefTable) -> int | None:
    test = _HEADER_TESTS[kind]
    for index, row in enumerate(rows[:_HEADER_SEARCH_ROWS]):
        if test([_norm(cell) for cell in row]):
            return index
    return None


def detect_kind(rows: Rows) -> RefTable | None:
    """Which CMS table the rows hold, judged by the header (file names vary between releases)."""
    for kind in RefTable:
        if _find_header(rows, kind) is not None:
            return kind
    return None


def _column(names: list[str], test: Callable[[str], bool], what: str, file: str, row: int,
            *, required: bool = True) -> int | None:
    for index, name in enumerate(names):
        if test(name):
            return index
    if required:
        found = ", ".join(n for n in names if n)
        separator = next((c for c in (";", "|") if c in found), None)
        hint = (f"; the header looks {separator!r}-separated, but CMS files are comma- or tab-separated (save it "
                "as CSV with commas)" if separator else "")
        raise InputError(f"the header has no {what} column (found: {found[:300]}){hint}", file=file, row=row)
    return None


# ---------------------------------------------------------------------------------------------------------------
# Cell parsing


def _cell(row: Sequence[str], index: int | None) -> str:
    if index is None or index >= len(row):
        return ""
    return row[index].strip()


def _code(text: str, file: str, row: int, field: str) -> str:
    code = text.strip().upper()
    # Spreadsheet round trips turn 00100 into 100; every HCPCS code is five characters.
    if code.isdigit() and len(code) < 5:
        code = code.zfill(5)
    if not _CODE.match(code):
        raise InputError(f"{code or '(blank)'} is not a HCPCS/CPT code (five letters or digits)",
                         file=file, row=row, field=field)
    return code


_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")


def _number(text: str, file: str, row: int, field: str) -> float | None:
    """A decimal number within `NUMBER_RANGES` for the column: ASCII digits only (``\\d`` and ``Decimal`` take
    Arabic-Indic digits too), an exponent only as Excel writes small values, never NaN or Infinity."""
    if not text:
        return None
    plain = text.replace(",", "")
    if not _DECIMAL.fullmatch(plain):
        raise InputError(f"{text[:40]!r} is not a decimal number", file=file, row=row, field=field)
    try:
        value = Decimal(plain)
    except InvalidOperation as exc:  # the pattern admits only what Decimal reads; kept for safety
        raise InputError(f"{text[:40]!r} is not a decimal number", file=file, row=row, field=field) from exc
    low, high, low_allowed = NUMBER_RANGES.get(field, (float("-inf"), float("inf"), True))
    number = float(value)
    if not (low <= number <= high) or (number == low and not low_allowed):
        bound = f"{'at least' if low_allowed else 'above'} {low:g} and at most {high:g}"
        raise InputError(f"{text[:40]} is out of range: a {field} must be {bound} (NUMBER_RANGES)", file=file,
                         row=row, field=field)
    return number


def _date(text: str, file: str, row: int, field: str) -> dt.date:
    value = text.strip()
    for pattern in ("%Y%m%d", "%Y-%m-%d", "%m/%d/%Y"):
        try:
            return dt.datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    raise InputError(f"{value!r} is not a date (expected YYYYMMDD)", file=file, row=row, field=field)


@dataclass(frozen=True)
class _Context:
    file: str
    rows: Rows
    header_row: int
    names: list[str]

    def data_rows(self) -> list[tuple[int, list[str]]]:
        """(1-based row number, cells) of rows that carry data; titles, blanks and one-cell footnotes are skipped."""
        return [(number + 1, row) for number, row in enumerate(self.rows)
                if number > self.header_row and _filled(row) >= 2]


def _context(rows: Rows, kind: RefTable, file: str) -> _Context:
    header = _find_header(rows, kind)
    if header is None:
        one_column = rows and all(len(r) <= 1 for r in rows[:_HEADER_SEARCH_ROWS])
        hint = (" The file looks fixed-width; use the CSV or XLSX file from the same CMS zip."
                if one_column else "")
        raise InputError(f"this is not a CMS {kind.label} file: no header row with the expected column names was "
                         f"found in the first {_HEADER_SEARCH_ROWS} rows.{hint}", file=file)
    return _Context(file, rows, header, _combined_header(rows, header))


# ---------------------------------------------------------------------------------------------------------------
# Period detection


def _file_name(source: str) -> str:
    """The file's own name, without its folders: for a zip member (``archive.zip:folder/member``, nested zips
    adding more ``:``) the member's name. Periods are read from it alone, never from a folder or archive name, so
    ``ncci-v313r0/ccipra-v321r0-f1.TXT`` is v32.1 (2026Q2), not the folder's v31.3."""
    return Path(source.split(":")[-1]).name


def _ncci_version_quarter(name: str) -> str | None:
    match = re.search(r"v(\d{2})(\d)r\d", _file_name(name), re.IGNORECASE)
    if not match:
        return None
    quarter = int(match.group(2)) + 1
    return f"{1994 + int(match.group(1))}Q{quarter}" if 1 <= quarter <= 4 else None


def _effective_quarter(name: str) -> str | None:
    match = re.search(r"eff_(\d{2})-(\d{2})-(\d{4})", _file_name(name), re.IGNORECASE)
    if not match:
        return None
    return f"{match.group(3)}Q{(int(match.group(1)) - 1) // 3 + 1}"


def _title_year(rows: Rows, header_row: int) -> str | None:
    for row in rows[:header_row]:
        for cell in row:
            match = re.search(r"\b(20\d\d)\b[^,]*RELATIVE VALUE", _norm(cell)) or re.search(
                r"CALENDAR YEAR (20\d\d)", _norm(cell))
            if match:
                return match.group(1)
    return None


def _file_year(name: str, prefix: str) -> str | None:
    """The year in a CMS file name: ``PPRRVU2026_Jan_nonQPP`` (2026+) or ``PPRRVU25_JAN`` / ``25LOCCO`` (earlier)."""
    base = _file_name(name)
    four = re.search(rf"{prefix}(20\d\d)(?!\d)", base, re.IGNORECASE)
    if four:
        return four.group(1)
    two = re.search(rf"{prefix}(\d\d)(?!\d)", base, re.IGNORECASE)
    return f"20{two.group(1)}" if two else None


def _qualifying_apm_file(name: str) -> bool:
    """CMS ships CY2026+ PPRRVU twice: ``..._nonQPP`` and ``..._QPP`` (qualifying APM participants' CF)."""
    base = _file_name(name).upper()
    return "QPP" in base and "NONQPP" not in base


def _resolve_period(found: str | None, given: str | None, kind: RefTable, file: str) -> str:
    if given:
        period_bounds(given)
        return given
    if found:
        return found
    example = "2025Q4" if kind in (RefTable.PTP, RefTable.MUE) else "2025"
    raise InputError(f"cannot tell which {'quarter' if kind in (RefTable.PTP, RefTable.MUE) else 'year'} this "
                     f"{kind.label} file is for; pass --period {example}", file=file)


# ---------------------------------------------------------------------------------------------------------------
# Table parsers


def _parse_rvu(ctx: _Context, period: str | None) -> ParsedTable:
    names = ctx.names
    row = ctx.header_row + 1

    def exact(*options: str) -> Callable[[str], bool]:
        return lambda name: name in options

    columns = {
        "code": _column(names, exact("HCPCS"), "HCPCS", ctx.file, row),
        "modifier": _column(names, exact("MOD", "MODIFIER"), "MOD", ctx.file, row),
        "status": _column(names, exact("STATUS CODE", "STATUS"), "STATUS CODE", ctx.file, row),
        "work_rvu": _column(names, exact("WORK RVU", "WORK RVUS"), "WORK RVU", ctx.file, row),
        "nf_pe_rvu": _column(names, exact("NON-FAC PE RVU", "NON-FACILITY PE RVU", "FULLY IMPLEMENTED NON-FACILITY PE "
                                          "RVUS"), "NON-FAC PE RVU", ctx.file, row),
        "f_pe_rvu": _column(names, exact("FACILITY PE RVU", "FULLY IMPLEMENTED FACILITY PE RVUS"),
                            "FACILITY PE RVU", ctx.file, row),
        "mp_rvu": _column(names, exact("MP RVU", "MP RVUS", "MALPRACTICE RVU"), "MP RVU", ctx.file, row),
        "global_days": _column(names, exact("GLOB DAYS", "GLOBAL", "GLOBAL DAYS"), "GLOB DAYS", ctx.file, row,
                               required=False),
        "mult_proc": _column(names, exact("MULT PROC"), "MULT PROC", ctx.file, row, required=False),
        "conversion_factor": _column(names, exact("CONV FACTOR", "CONVERSION FACTOR"), "CONV FACTOR", ctx.file, row,
                                     required=False),
    }
    year = _resolve_period(_title_year(ctx.rows, ctx.header_row) or _file_year(ctx.file, "PPRRVU"),
                           period, RefTable.RVU, ctx.file)
    records: list[dict[str, Any]] = []
    for number, cells in ctx.data_rows():
        status = _cell(cells, columns["status"]).upper()
        if not re.fullmatch(r"[A-Z]", status):
            raise InputError(f"status code {status!r} is not a single letter", file=ctx.file, row=number,
                             field="STATUS CODE")
        record: dict[str, Any] = {
            "year": int(year[:4]),
            "code": _code(_cell(cells, columns["code"]), ctx.file, number, "HCPCS"),
            "modifier": _cell(cells, columns["modifier"]).upper(),
            "status": status,
            "global_days": _cell(cells, columns["global_days"]) or None,
            "mult_proc": _cell(cells, columns["mult_proc"]) or None,
            "qualifying_apm": _qualifying_apm_file(ctx.file),
        }
        for field in ("work_rvu", "nf_pe_rvu", "f_pe_rvu", "mp_rvu", "conversion_factor"):
            record[field] = _number(_cell(cells, columns[field]), ctx.file, number, field.upper())
        records.append(record)
    schema = TABLE_SCHEMAS[RefTable.RVU]
    frame = pl.DataFrame(records, schema=schema, orient="row") if records else pl.DataFrame(schema=schema)
    return ParsedTable(RefTable.RVU, year[:4], frame, ctx.file)




def _parse_gpci(ctx: _Context, period: str | None) -> ParsedTable:
    names = ctx.names
    row = ctx.header_row + 1
    mac = _column(names, lambda n: "CONTRACTOR" in n or n in ("MAC", "CARRIER"), "MAC", ctx.file, row)
    state = _column(names, lambda n: n == "STATE", "State", ctx.file, row)
    locality = _column(names, lambda n: n.startswith("LOCALITY NUMBER") or n == "LOCALITY", "Locality Number",
                       ctx.file, row)
    name = _column(names, lambda n: n == "LOCALITY NAME", "Locality Name", ctx.file, row, required=False)
    work = (_column(names, lambda n: "PW GPCI" in n and "WITH 1.0 FLOOR" in n and "WITHOUT" not in n, "PW GPCI",
                    ctx.file, row, required=False)
            if any("WITH 1.0 FLOOR" in n and "WITHOUT" not in n for n in names)
            else _column(names, lambda n: "PW GPCI" in n or "WORK GPCI" in n, "PW GPCI", ctx.file, row))
    pe = _column(names, lambda n: "PE GPCI" in n, "PE GPCI", ctx.file, row)
    mp = _column(names, lambda n: "MP GPCI" in n, "MP GPCI", ctx.file, row)
    header_year = next((m.group(1) for n in names if (m := re.match(r"(20\d\d) PW GPCI", n))), None)
    year = _resolve_period(header_year, period, RefTable.GPCI, ctx.file)
    records = []
    for number, cells in ctx.data_rows():
        mac_text = _cell(cells, mac)
        if not _MAC.fullmatch(mac_text):
            raise InputError(f"{mac_text[:40]!r} is not a MAC (contractor) number (up to 5 digits)", file=ctx.file,
                             row=number, field="MAC")
        loc_text = _cell(cells, locality)
        if not _LOCALITY.fullmatch(loc_text):
            raise InputError(f"{loc_text[:40]!r} is not a locality number (up to 2 digits)", file=ctx.file,
                             row=number, field="Locality Number")
        values = [_number(_cell(cells, i), ctx.file, number, f) for i, f in ((work, "PW GPCI"), (pe, "PE GPCI"),
                                                                              (mp, "MP GPCI"))]
        if any(v is None for v in values):
            raise InputError("a GPCI value is blank", file=ctx.file, row=number)
        records.append({"year": int(year[:4]), "mac": mac_text.zfill(5), "locality": loc_text.zfill(2),
                        "state": _cell(cells, state), "locality_name": _cell(cells, name),
                        "work_gpci": values[0], "pe_gpci": values[1], "mp_gpci": values[2]})
    return ParsedTable(RefTable.GPCI, year[:4],
                       pl.DataFrame(records, schema=TABLE_SCHEMAS[RefTable.GPCI], orient="row"), ctx.file)


def _parse_locality(ctx: _Context, period: str | None) -> ParsedTable:
    names = ctx.names
    row = ctx.header_row + 1
    mac = _column(names, lambda n: "CONTRACTOR" in n, "Medicare Administrative Contractor", ctx.file, row)
    locality = _column(names, lambda n: n.startswith("LOCALITY"), "Locality Number", ctx.file, row)
    state = _column(names, lambda n: n == "STATE", "State", ctx.file, row)
    area = _column(names, lambda n: n == "FEE SCHEDULE AREA", "Fee Schedule Area", ctx.file, row)
    counties = _column(names, lambda n: "COUNTIES" in n, "Counties", ctx.file, row)
    year = _resolve_period(_file_year(ctx.file, "^"), period, RefTable.LOCALITY, ctx.file)
    records = []
    current_state = ""
    for number, cells in ctx.data_rows():
        mac_text, loc_text = _cell(cells, mac), _cell(cells, locality)
        if not (_MAC.fullmatch(mac_text) and _LOCALITY.fullmatch(loc_text)):
            raise InputError(f"expected a MAC (up to 5 digits) and a locality number (up to 2 digits), got "
                             f"{mac_text[:40]!r} and {loc_text[:40]!r}", file=ctx.file, row=number)
        # CMS prints a state's name once for all its localities.
        current_state = _cell(cells, state) or current_state
        records.append({"year": int(year[:4]), "mac": mac_text.zfill(5), "locality": loc_text.zfill(2),
                        "state": current_state, "fee_schedule_area": _cell(cells, area),
                        "counties": _cell(cells, counties)})
    return ParsedTable(RefTable.LOCALITY, year[:4],
                       pl.DataFrame(records, schema=TABLE_SCHEMAS[RefTable.LOCALITY], orient="row"), ctx.file)


def _parse_ptp(ctx: _Context, period: str | None) -> ParsedTable:
    names = ctx.names
    row = ctx.header_row + 1
    col1 = _column(names, lambda n: n.startswith("COLUMN 1"), "Column 1", ctx.file, row)
    col2 = _column(names, lambda n: n.startswith("COLUMN 2"), "Column 2", ctx.file, row)
    prior = _column(names, lambda n: "1996" in n or "IN EXISTENCE" in n, "prior to 1996", ctx.file, row,
                    required=False)
    effective = _column(names, lambda n: n.startswith("EFFECTIVE"), "Effective Date", ctx.file, row)
    deleted = _column(names, lambda n: n.startswith("DELETION"), "Deletion Date", ctx.file, row)
    modifier = _column(names, lambda n: n.startswith("MODIFIER"), "Modifier", ctx.file, row)
    rationale = _column(names, lambda n: "RATIONALE" in n, "PTP Edit Rationale", ctx.file, row, required=False)
    quarter = _resolve_period(_ncci_version_quarter(ctx.file), period, RefTable.PTP, ctx.file)
    records = []
    for number, cells in ctx.data_rows():
        indicator = _cell(cells, modifier)
        if indicator not in ("0", "1", "9"):
            raise InputError(f"modifier indicator {indicator!r} is not 0, 1 or 9", file=ctx.file, row=number,
                             field="Modifier")
        deletion = _cell(cells, deleted)
        records.append({
            "column1": _code(_cell(cells, col1), ctx.file, number, "Column 1"),
            "column2": _code(_cell(cells, col2), ctx.file, number, "Column 2"),
            "prior_1996": _cell(cells, prior) == "*",
            "effective": _date(_cell(cells, effective), ctx.file, number, "Effective Date"),
            "deleted": None if deletion in ("", "*") else _date(deletion, ctx.file, number, "Deletion Date"),
            "modifier_indicator": int(indicator),
            "rationale": _cell(cells, rationale),
        })
    return ParsedTable(RefTable.PTP, quarter,
                       pl.DataFrame(records, schema=TABLE_SCHEMAS[RefTable.PTP], orient="row"), ctx.file)


def _parse_mue(ctx: _Context, period: str | None) -> ParsedTable:
    names = ctx.names
    row = ctx.header_row + 1
    code = _column(names, lambda n: n.startswith("HCPCS"), "HCPCS/CPT Code", ctx.file, row)
    value = _column(names, lambda n: "MUE VALUE" in n, "Practitioner Services MUE Values", ctx.file, row)
    mai = _column(names, lambda n: "ADJUDICATION" in n, "MUE Adjudication Indicator", ctx.file, row)
    rationale = _column(names, lambda n: "RATIONALE" in n, "MUE Rationale", ctx.file, row, required=False)
    quarter = _resolve_period(_effective_quarter(ctx.file), period, RefTable.MUE, ctx.file)
    records = []
    for number, cells in ctx.data_rows():
        units = _cell(cells, value)
        if not re.fullmatch(r"[0-9]+", units):
            raise InputError(f"MUE value {units[:40]!r} is not a whole number", file=ctx.file, row=number,
                             field="Practitioner Services MUE Values")
        if len(units) > len(str(MAX_MUE)) or int(units) > MAX_MUE:
            raise InputError(f"MUE value {units} is out of range: at most {MAX_MUE:,} units (MAX_MUE)",
                             file=ctx.file, row=number, field="Practitioner Services MUE Values")
        indicator = _cell(cells, mai)
        if indicator[:1] not in ("1", "2", "3"):
            raise InputError(f"MUE adjudication indicator {indicator!r} does not start with 1, 2 or 3",
                             file=ctx.file, row=number, field="MUE Adjudication Indicator")
        records.append({"code": _code(_cell(cells, code), ctx.file, number, "HCPCS/CPT Code"), "mue": int(units),
                        "mai": int(indicator[0]), "rationale": _cell(cells, rationale)})
    return ParsedTable(RefTable.MUE, quarter,
                       pl.DataFrame(records, schema=TABLE_SCHEMAS[RefTable.MUE], orient="row"), ctx.file)


_PARSERS: dict[RefTable, Callable[[_Context, str | None], ParsedTable]] = {
    RefTable.RVU: _parse_rvu,
    RefTable.GPCI: _parse_gpci,
    RefTable.LOCALITY: _parse_locality,
    RefTable.PTP: _parse_ptp,
    RefTable.MUE: _parse_mue,
}


def parse_rows(rows: Rows, file: str, *, kind: RefTable | None = None, period: str | None = None) -> ParsedTable:
    """Parse one table; ``kind`` forces the table type and fails clearly when the file is something else."""
    if kind is None:
        kind = detect_kind(rows)
        if kind is None:
            raise InputError("not a CMS reference table cleanclaim knows (PPRRVU, GPCI, LOCCO, NCCI PTP, NCCI MUE): "
                             "no recognised header row", file=file)
    table = _PARSERS[kind](_context(rows, kind, file), period)
    if table.frame.is_empty():
        raise InputError(f"the {kind.label} file has a header but no data rows", file=file)
    return table


def parse_path(path: Path, *, kind: RefTable | None = None, period: str | None = None) -> list[ParsedTable]:
    """Every CMS table in a file or zip. Zip members that are not tables (PDFs, readme) or not a table cleanclaim
    imports (anesthesia, OPPS cap) are skipped; a zip with none is an error. Several tables of the same kind in one
    zip (CMS ships PPRRVU as CSV, TXT and XLSX) are read once, from the first readable copy."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror}", file=str(path)) from exc
    budget = _Budget(str(path))
    members = _sources(path, data, str(path), budget)
    single = len(members) == 1 and members[0][0] == str(path)
    tables: list[ParsedTable] = []
    seen: set[tuple[RefTable, str]] = set()
    for name, content in sorted(members, key=lambda m: _member_preference(m[0])):
        rows = _rows_of(name, content, budget)
        if rows is None:
            continue
        if not single:
            found = detect_kind(rows)
            if found is None or (kind is not None and found != kind):
                continue
        table = parse_rows(rows, name, kind=kind, period=period)
        stem = _content_key(name)
        if (table.kind, stem) in seen:
            continue
        seen.add((table.kind, stem))
        tables.append(table)
    if not tables:
        wanted = kind.label if kind else "CMS reference table"
        raise InputError(f"the archive holds no {wanted} cleanclaim can read", file=str(path))
    return tables


def _member_preference(name: str) -> tuple[int, str]:
    order = {".csv": 0, ".xlsx": 1, ".txt": 2}
    return order.get(Path(name).suffix.lower(), 3), name


def _content_key(name: str) -> str:
    """Same-named members with different extensions are copies of one table (PPRRVU25_JAN.csv/.txt/.xlsx)."""
    return Path(name.split(":")[-1]).stem.upper()
