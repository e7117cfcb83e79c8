"""Small files in the layouts CMS publishes (header and notice rows included), with synthetic descriptions."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

# The ten header rows of PPRRVU25_JAN.csv: title, notices, release date, then the five stacked header rows.
PPRRVU_HEADER = [
    ",,2025 National Physician Fee Schedule Relative Value File January Release" + "," * 28,
    ",,CPT codes and descriptions only are copyright 2024 American Medical Association." + "," * 28,
    ",,Dental codes (D codes) are copyright 2025/26 American Dental Association." + "," * 28,
    ",, " + "," * 28,
    ",,RELEASED 12/23/2024" + "," * 28,
    ",, , ,,,,,,,,,,,,,,,,,,,,,,,,,NON-FACILITY,FACILITY,",
    ",,,,NOT USED,,,,,,,,,,,,,,,,,,,,,PHYSICIAN,,DIAGNOSTIC,PE USED,PE USED,MP USED",
    ",,,,FOR,,,NON-FAC,,FACILITY ,,,,,,,,,,,,,,,,SUPERVISION OF,,IMAGING,FOR OPPS,FOR OPPS,FOR OPPS",
    ",,,STATUS,MEDICARE ,WORK,NON-FAC,NA,FACILITY,NA,MP,NON-FACILITY,FACILITY,PCTC,GLOB,PRE,INTRA,POST,MULT,BILAT,"
    "ASST,CO-,TEAM,ENDO,CONV,DIAGNOSTIC,CALCULATION,FAMILY,PAYMENT,PAYMENT,PAYMENT",
    "HCPCS,MOD,DESCRIPTION,CODE,PAYMENT,RVU,PE RVU,INDICATOR,PE RVU,INDICATOR,RVU,TOTAL,TOTAL,IND,DAYS,OP,OP,OP,PROC,"
    "SURG,SURG,SURG,SURG,BASE,FACTOR,PROCEDURES,FLAG,INDICATOR,AMOUNT,AMOUNT,AMOUNT",
]


def pprrvu_row(code: str, status: str, work: str, nf_pe: str, f_pe: str, mp: str, *, modifier: str = "",
               cf: str = "32.3465", description: str = "Synthetic row text") -> str:
    return (f"{code},{modifier},{description},{status},,{work},{nf_pe},,{f_pe},NA,{mp},0,0,7,XXX,0,0,0,5,0,0,0,0,,"
            f"{cf},9,0,99,0,0,0")


def pprrvu_csv(*rows: str) -> str:
    return "\n".join([*PPRRVU_HEADER, *rows, "," * 30]) + "\n"


PPRRVU_2026_TITLE = "2026 National Physician Fee Schedule Relative Value File January Release"
EXTRA_COLUMN_LABEL = ("SYNTHETIC", "EXTRA", "IND")
"""Stacked label of the column added here; the name of CMS's new CY2026 column was not found in stored material."""


def pprrvu_2026_csv(*rows: str, extra_at: int, extra_value: str = "9") -> str:
    """A PPRRVU file in the CY2026 width: the CY2025 layout above with a 2026 title and one more column (32 to
    CY2025's 31, as a description of the CY2026 files counts them: find_string id 66261301486, "The CY2025 file has
    31 columns to CY2026's 32"). Where CMS put the new column is not confirmed (one stored copy of a 2026 sample
    shows an indicator after TEAM SURG, position 23, but that copy is unreliable), so the caller says where:
    ``extra_at`` is its 0-based position, its label is stacked in the last header rows and ``extra_value`` fills it
    in every data row."""
    text = pprrvu_csv(*rows).replace(
        "2025 National Physician Fee Schedule Relative Value File January Release", PPRRVU_2026_TITLE).replace(
        "RELEASED 12/23/2024", "RELEASED 12/29/2025")
    table = list(csv.reader(io.StringIO(text)))
    header_row = next(index for index, row in enumerate(table) if row[:1] == ["HCPCS"])
    for index, row in enumerate(table):
        below_header = header_row - index
        if index > header_row:
            cell = extra_value if any(row) else ""
        elif below_header < len(EXTRA_COLUMN_LABEL):
            cell = EXTRA_COLUMN_LABEL[len(EXTRA_COLUMN_LABEL) - 1 - below_header]
        else:
            cell = ""
        row.insert(extra_at, cell)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(table)
    return buffer.getvalue()


GPCI_HEADER = [
    "ADDENDUM E. FINAL CY 2025 GEOGRAPHIC PRACTICE COST INDICES (GPCIs) BY STATE AND MEDICARE LOCALITY,,,,,,",
    ",,,,,,",
    "Medicare Administrative Contractor (MAC),State,Locality Number,Locality Name,2025 PW GPCI (with 1.0 Floor),"
    "2025 PE GPCI,2025 MP GPCI",
]
GPCI_FOOTER = [
    '"MAC Assignments as of November 22, 2023",,,,,,',
    ",,,,,,",
    "*Work GPCI reflects a 1.5 floor in Alaska established by the MIPPA.,,,,,,",
]


def gpci_csv(*rows: str) -> str:
    return "\n".join([*GPCI_HEADER, *rows, *GPCI_FOOTER]) + "\n"


PTP_NOTICE = [
    "CPT codes, descriptions and other data only are copyright American Medical Association.",
    "Synthetic notice line two.",
    "",
    "Column 1\tColumn 2\t*=in existence prior to 1996\tEffective Date\tDeletion Date *=no data\t"
    "Modifier 0=not allowed 1=allowed 9=not applicable\tPTP Edit Rationale",
]


def ptp_txt(*rows: tuple[str, ...]) -> str:
    return "\n".join([*PTP_NOTICE, *("\t".join(r) for r in rows)]) + "\n"


MUE_NOTICE = [
    '"CPT codes, descriptions and other data only are copyright 2024 American Medical Association."',
    '"Synthetic notice."',
    "",
    "HCPCS/CPT Code,Practitioner Services MUE Values,MUE Adjudication Indicator,MUE Rationale",
]


def mue_row(code: str, value: str, indicator: str, rationale: str) -> str:
    """One data row of the MUE CSV, quoted the way a CSV writer quotes cells that hold commas."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([code, value, indicator, rationale])
    return buffer.getvalue()


def mue_csv(*rows: str) -> str:
    return "\n".join([*MUE_NOTICE, *rows]) + "\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def zip_of(path: Path, members: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def xlsx_bytes(rows: list[list[str]]) -> bytes:
    """A minimal workbook (shared strings for text, numbers inline) like Excel writes."""
    strings: list[str] = []
    sheet_rows = []
    for r, row in enumerate(rows, start=1):
        cells = []
        for c, value in enumerate(row):
            ref = f"{chr(ord('A') + c)}{r}"
            if value == "":
                continue
            try:
                float(value)
                cells.append(f'<c r="{ref}"><v>{value}</v></c>')
            except ValueError:
                strings.append(value)
                cells.append(f'<c r="{ref}" t="s"><v>{len(strings) - 1}</v></c>')
        sheet_rows.append(f'<row r="{r}">{"".join(cells)}</row>')
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    shared = f'<sst {ns}>' + "".join(f"<si><t>{s.replace('&', '&amp;')}</t></si>" for s in strings) + "</sst>"
    sheet = f'<worksheet {ns}><sheetData>{"".join(sheet_rows)}</sheetData></worksheet>'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as book:
        book.writestr("[Content_Types].xml", "<Types/>")
        book.writestr("xl/workbook.xml", f"<workbook {ns}/>")
        book.writestr("xl/sharedStrings.xml", shared)
        book.writestr("xl/worksheets/sheet1.xml", sheet)
    return buffer.getvalue()
