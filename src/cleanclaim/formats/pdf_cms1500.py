"""A CMS-1500 (02/12) style claim, drawn as a facsimile for patients who file their own claims with a member
claim form, and for practices that keep a paper copy.

It follows the box numbering and order of the 1500 Health Insurance Claim Form (NUCC, version 02/12), but it is
not the official red-ink form and is not meant for payers' OCR scanners; the footer says so. Where the
encounter does not know an answer (other insurance, accident questions, accept assignment) the box is left
blank for the person filing to complete, never guessed.

How boxes are filled (sources):
- Item 21: ICD indicator 0 for ICD-10-CM, up to 12 codes A-L, written without the period (CMS Pub 100-04
  Ch.26 item 21, as quoted at https://cms1500claimbilling.com/?p=520; Noridian JF "ICD-10" claim form page).
- Item 24E: the letters A-L of the diagnoses the line points at, up to four.
- More than six lines: further pages with "PAGE n OF m" at the top right, "CONTINUED" in item 28 on every page
  but the last, and the total of all pages on the last (HMSA "Multi-page Claims",
  https://prc.hmsa.com/articles/Knowledge/Multi-page-Claims; TMHP provider manual 5.4.1.4).
- Item 33b: qualifier ZZ (provider taxonomy) followed by the billing provider's taxonomy code.
- Items 17 and 17b: the referring provider, qualifier DN left of the name, the name first name first, and the NPI
  in 17b (NUCC 1500 Claim Form Reference Instruction Manual 02/12, items 17 and 17b; CMS Pub 100-04 Ch.26
  §10.2 items 17 and 17b). 17a (another id with its qualifier) stays blank: the encounter keeps none for the form.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from reportlab.lib.colors import Color, black
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from cleanclaim.diagnoses import normalize_diagnosis
from cleanclaim.formats.claim_requirements import claim_line_gaps
from cleanclaim.formats.pdf import (
    Destination,
    line_date,
    money_text,
    new_canvas,
    pointer_letters,
    require,
    units_text,
    write_pdf,
)
from cleanclaim.model import Address, ClaimLine, Encounter

__all__ = ["LAYOUT", "LINES_PER_PAGE", "PAGE_HEIGHT", "Box", "render_cms1500"]

PAGE_WIDTH = 612.0
PAGE_HEIGHT = 792.0
LINES_PER_PAGE = 6
FORM_X = 24.0
FORM_WIDTH = 552.0
MAX_MODIFIERS = 4
MAX_POINTERS = 4

FORM_RED = Color(0.80, 0.10, 0.16)
SHADE = Color(1.0, 0.90, 0.90)
LABEL_FONT = "Helvetica"
DATA_FONT = "Courier-Bold"
DATA_SIZE = 9.0
FOOTER = ("Facsimile in the layout of the CMS-1500 (02/12) for patients filing their own claims. It is not the "
          "official red-ink form and cannot be read by payers' OCR scanners. Made with cleanclaim.")


@dataclass(frozen=True, slots=True)
class Box:
    """One numbered box: ``x`` and ``y`` are its top-left corner in points from the page's top-left."""

    key: str
    label: str
    x: float
    y: float
    w: float
    h: float
    shaded: bool = False

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h


def _row(y: float, h: float, cells: Sequence[tuple[str, str, float, float]]) -> list[Box]:
    """Boxes side by side on one row; cells are (key, label, left, right) relative to the form's left edge."""
    return [Box(key, label, FORM_X + left, y, right - left, h) for key, label, left, right in cells]


# Column edges of the patient and insured part, relative to the form's left edge.
_L, _M, _R = 0.0, 222.0, 352.0
_END = FORM_WIDTH
_ROW = 24.0
_TOP = 106.0


def _patient_part() -> list[Box]:
    y = _TOP
    boxes = _row(y, _ROW, [
        ("1", "1. MEDICARE MEDICAID TRICARE CHAMPVA GROUP HEALTH PLAN FECA BLK LUNG OTHER", _L, _R),
        ("1a", "1a. INSURED'S I.D. NUMBER (For Program in Item 1)", _R, _END)])
    y += _ROW
    boxes += _row(y, _ROW, [("2", "2. PATIENT'S NAME (Last Name, First Name, Middle Initial)", _L, _M),
                            ("3", "3. PATIENT'S BIRTH DATE (MM DD YYYY) / SEX", _M, _R),
                            ("4", "4. INSURED'S NAME (Last Name, First Name, Middle Initial)", _R, _END)])
    y += _ROW
    boxes += _row(y, _ROW, [("5", "5. PATIENT'S ADDRESS (No., Street)", _L, _M),
                            ("6", "6. PATIENT RELATIONSHIP TO INSURED", _M, _R),
                            ("7", "7. INSURED'S ADDRESS (No., Street)", _R, _END)])
    y += _ROW
    boxes += _row(y, _ROW, [("5city", "CITY", _L, _M - 42), ("5state", "STATE", _M - 42, _M),
                            ("7city", "CITY", _R, _END - 42), ("7state", "STATE", _END - 42, _END)])
    boxes += [Box("8", "8. RESERVED FOR NUCC USE", FORM_X + _M, y, _R - _M, 2 * _ROW)]
    y += _ROW
    boxes += _row(y, _ROW, [("5zip", "ZIP CODE", _L, _M - 112),
                            ("5phone", "TELEPHONE (Include Area Code)", _M - 112, _M),
                            ("7zip", "ZIP CODE", _R, _END - 112),
                            ("7phone", "TELEPHONE (Include Area Code)", _END - 112, _END)])
    y += _ROW
    boxes += _row(y, _ROW, [("9", "9. OTHER INSURED'S NAME (Last Name, First Name, Middle Initial)", _L, _M),
                            ("10", "10. IS PATIENT'S CONDITION RELATED TO:", _M, _R),
                            ("11", "11. INSURED'S POLICY GROUP OR FECA NUMBER", _R, _END)])
    y += _ROW
    boxes += _row(y, _ROW, [("9a", "a. OTHER INSURED'S POLICY OR GROUP NUMBER", _L, _M),
                            ("10a", "a. EMPLOYMENT? (Current or Previous)", _M, _R),
                            ("11a", "a. INSURED'S DATE OF BIRTH (MM DD YYYY) / SEX", _R, _END)])
    y += _ROW
    boxes += _row(y, _ROW, [("9b", "b. RESERVED FOR NUCC USE", _L, _M),
                            ("10b", "b. AUTO ACCIDENT? PLACE (State)", _M, _R),
                            ("11b", "b. OTHER CLAIM ID (Designated by NUCC)", _R, _END)])
    y += _ROW
    boxes += _row(y, _ROW, [("9c", "c. RESERVED FOR NUCC USE", _L, _M), ("10c", "c. OTHER ACCIDENT?", _M, _R),
                            ("11c", "c. INSURANCE PLAN NAME OR PROGRAM NAME", _R, _END)])
    y += _ROW
    boxes += _row(y, _ROW, [("9d", "d. INSURANCE PLAN NAME OR PROGRAM NAME", _L, _M),
                            ("10d", "10d. CLAIM CODES (Designated by NUCC)", _M, _R),
                            ("11d", "d. IS THERE ANOTHER HEALTH BENEFIT PLAN?", _R, _END)])
    y += _ROW
    boxes += _row(y, 30, [
        ("12", "12. PATIENT'S OR AUTHORIZED PERSON'S SIGNATURE I authorize the release of any medical or other "
               "information necessary to process this claim.", _L, _R),
        ("13", "13. INSURED'S OR AUTHORIZED PERSON'S SIGNATURE I authorize payment of medical benefits to the "
               "undersigned physician or supplier.", _R, _END)])
    return boxes


_PHYSICIAN_TOP = _TOP + 10 * _ROW + 30

# Item 24 columns: (key, label, left, right) relative to the form's left edge.
SERVICE_COLUMNS: tuple[tuple[str, str, float, float], ...] = (
    ("24A_from", "24. A. DATE(S) OF SERVICE From MM DD YY", 0, 48),
    ("24A_to", "To MM DD YY", 48, 96),
    ("24B", "B. PLACE OF SERVICE", 96, 118),
    ("24C", "C. EMG", 118, 136),
    ("24D_code", "D. PROCEDURES, SERVICES, OR SUPPLIES  CPT/HCPCS", 136, 184),
    ("24D_mod", "(Explain Unusual Circumstances) MODIFIER", 184, 264),
    ("24E", "E. DIAGNOSIS POINTER", 264, 306),
    ("24F", "F. $ CHARGES", 306, 372),
    ("24G", "G. DAYS OR UNITS", 372, 398),
    ("24H", "H. EPSDT Family Plan", 398, 418),
    ("24I", "I. ID. QUAL.", 418, 440),
    ("24J", "J. RENDERING PROVIDER ID. #", 440, _END),
)
_SERVICE_KEYS = frozenset(column[0] for column in SERVICE_COLUMNS)
_SERVICE_HEADER = 22.0
_SERVICE_LINE = 24.0
_SERVICE_SHADE = 8.0


def _physician_part() -> list[Box]:
    y = _PHYSICIAN_TOP
    boxes = _row(y, _ROW, [("14", "14. DATE OF CURRENT ILLNESS, INJURY, or PREGNANCY (LMP)", _L, _M),
                           ("15", "15. OTHER DATE", _M, _R),
                           ("16", "16. DATES PATIENT UNABLE TO WORK IN CURRENT OCCUPATION", _R, _END)])
    y += _ROW
    boxes += _row(y, _ROW, [("17", "17. NAME OF REFERRING PROVIDER OR OTHER SOURCE", _L, _M),
                            ("18", "18. HOSPITALIZATION DATES RELATED TO CURRENT SERVICES", _R, _END)])
    # 17a (other id) above 17b (NPI), each half the row, as on the form
    boxes += _row(y, _ROW / 2, [("17a", "17a.", _M, _R)])
    boxes += _row(y + _ROW / 2, _ROW / 2, [("17b", "17b. NPI", _M, _R)])
    y += _ROW
    boxes += _row(y, _ROW, [("19", "19. ADDITIONAL CLAIM INFORMATION (Designated by NUCC)", _L, _R),
                            ("20", "20. OUTSIDE LAB? $ CHARGES", _R, _END)])
    y += _ROW
    boxes += _row(y, 48, [("21", "21. DIAGNOSIS OR NATURE OF ILLNESS OR INJURY Relate A-L to service line below (24E)",
                           _L, _R)])
    boxes += _row(y, 24, [("22", "22. RESUBMISSION CODE / ORIGINAL REF. NO.", _R, _END)])
    boxes += _row(y + 24, 24, [("23", "23. PRIOR AUTHORIZATION NUMBER", _R, _END)])
    y += 48
    boxes += _row(y, _SERVICE_HEADER, SERVICE_COLUMNS)
    y += _SERVICE_HEADER + LINES_PER_PAGE * _SERVICE_LINE
    boxes += _row(y, 26, [("25", "25. FEDERAL TAX I.D. NUMBER", _L, 140),
                          ("26", "26. PATIENT'S ACCOUNT NO.", 140, 250),
                          ("27", "27. ACCEPT ASSIGNMENT?", 250, _R),
                          ("28", "28. TOTAL CHARGE", _R, 430), ("29", "29. AMOUNT PAID", 430, 500),
                          ("30", "30. Rsvd for NUCC Use", 500, _END)])
    y += 26
    boxes += _row(y, 44, [
        ("31", "31. SIGNATURE OF PHYSICIAN OR SUPPLIER INCLUDING DEGREES OR CREDENTIALS", _L, 160),
        ("32", "32. SERVICE FACILITY LOCATION INFORMATION", 160, _R),
        ("33", "33. BILLING PROVIDER INFO & PH #", _R, _END)])
    y += 44
    boxes += _row(y, 14, [("31date", "DATE", _L, 160), ("32a", "a.", 160, 256), ("32b", "b.", 256, _R),
                          ("33a", "a.", _R, 452), ("33b", "b.", 452, _END)])
    return boxes


def _service_line_box(key: str, row: int) -> Box:
    """Where column ``key`` of service line ``row`` (0-5) sits: the unshaded lower part of the line."""
    _, label, left, right = next(c for c in SERVICE_COLUMNS if c[0] == key)
    top = _PHYSICIAN_TOP + 3 * _ROW + 48 + _SERVICE_HEADER + row * _SERVICE_LINE
    return Box(f"{key}.{row + 1}", label, FORM_X + left, top + _SERVICE_SHADE, right - left,
               _SERVICE_LINE - _SERVICE_SHADE)


def _build_layout() -> dict[str, Box]:
    boxes = [Box("carrier", "CARRIER", FORM_X + 300, 24, FORM_WIDTH - 300, 52),
             *_patient_part(), *_physician_part()]
    boxes += [_service_line_box(column[0], row) for row in range(LINES_PER_PAGE) for column in SERVICE_COLUMNS]
    return {box.key: box for box in boxes}


LAYOUT: dict[str, Box] = _build_layout()
"""Every box on the page by key ("1a", "21", "24D_code.3" is line 3 of 24D), for drawing and for tests."""


# --- content -------------------------------------------------------------------------------------------------

_PROGRAMS = ("MEDICARE", "MEDICAID", "TRICARE", "CHAMPVA", "GROUP HEALTH PLAN", "FECA BLK LUNG", "OTHER")


def insurance_program(encounter: Encounter) -> str:
    """Item 1: the program named by the payer profile id, else a group health plan when there is a group number,
    else OTHER (NUCC: other health insurance, including commercial individual plans)."""
    payer = encounter.payer.strip().upper()
    for program in ("MEDICARE", "MEDICAID", "TRICARE", "CHAMPVA"):
        if payer.startswith(program):
            return program
    group = encounter.subscriber.group_number if encounter.subscriber else None
    return "GROUP HEALTH PLAN" if group else "OTHER"


def _person_name(last: str | None, first: str | None) -> str:
    return f"{last or ''}, {first or ''}".upper()


def _is_self(encounter: Encounter) -> bool:
    return encounter.subscriber is None or encounter.subscriber.relationship.strip().lower() == "self"


def _gaps(encounter: Encounter) -> list[str]:
    gaps = [name for name in ("billing_provider", "subscriber", "claim_id") if getattr(encounter, name) is None]
    if encounter.subscriber is not None and not encounter.subscriber.member_id:
        gaps.append("subscriber.member_id")  # item 1a
    patient = encounter.patient
    gaps += [f"patient.{name}" for name in ("last_name", "first_name", "birth_date", "sex", "address")
             if getattr(patient, name) is None]
    if encounter.subscriber is not None and not _is_self(encounter):
        gaps += [f"subscriber.{name}" for name in ("last_name", "first_name")
                 if getattr(encounter.subscriber, name) is None]
    gaps += claim_line_gaps(encounter, max_pointers=MAX_POINTERS)
    for number, line in enumerate(encounter.lines, start=1):
        if len(line.modifiers) > MAX_MODIFIERS:
            gaps.append(f"lines[{number}].modifiers ({len(line.modifiers)} given, item 24D holds {MAX_MODIFIERS})")
    return gaps


# --- drawing -------------------------------------------------------------------------------------------------


def _y(top: float) -> float:
    return PAGE_HEIGHT - top


def _fitted_size(text: str, font: str, size: float, width: float) -> float:
    """Shrink long text to fit its box rather than cut it: nothing on a claim may be silently dropped."""
    needed = float(stringWidth(text, font, size))
    return size if needed <= width else size * width / needed


def _value(canvas: Canvas, box: Box, text: str, *, line: int = 0, dx: float = 3.0, align: str = "left",
           size: float = DATA_SIZE) -> None:
    """Data in a box, on text line ``line`` counted up from the bottom of the box."""
    if not text:
        return
    fitted = _fitted_size(text, DATA_FONT, size, box.w - 2 * dx)
    canvas.setFont(DATA_FONT, fitted)
    canvas.setFillColor(black)
    baseline = _y(box.bottom) + 3.5 + line * (size + 1)
    if align == "right":
        canvas.drawRightString(box.right - dx, baseline, text)
    elif align == "center":
        canvas.drawCentredString(box.x + box.w / 2, baseline, text)
    else:
        canvas.drawString(box.x + dx, baseline, text)


def _label(canvas: Canvas, box: Box, *, size: float = 5.0, lines: int = 2) -> None:
    canvas.setFillColor(FORM_RED)
    canvas.setFont(LABEL_FONT, size)
    for number, text in enumerate(simpleSplit(box.label, LABEL_FONT, size, box.w - 3)[:lines]):
        canvas.drawString(box.x + 1.5, _y(box.y) - size - 0.8 - number * (size + 0.6), text)


def _frame(canvas: Canvas, box: Box) -> None:
    canvas.setStrokeColor(FORM_RED)
    canvas.setLineWidth(0.5)
    canvas.rect(box.x, _y(box.bottom), box.w, box.h, stroke=1, fill=0)


def _checkbox(canvas: Canvas, x: float, top: float, text: str, checked: bool, size: float = 4.6) -> float:
    """A captioned check box at (x, top); returns the x just past its caption."""
    canvas.setStrokeColor(FORM_RED)
    canvas.setLineWidth(0.5)
    canvas.rect(x, _y(top + 6), 6, 6, stroke=1, fill=0)
    if checked:
        canvas.setFillColor(black)
        canvas.setFont(DATA_FONT, 8)
        canvas.drawCentredString(x + 3, _y(top + 5.6), "X")
    canvas.setFillColor(FORM_RED)
    canvas.setFont(LABEL_FONT, size)
    canvas.drawString(x + 8, _y(top + 5), text)
    return x + 8 + float(stringWidth(text, LABEL_FONT, size)) + 5


def _draw_grid(canvas: Canvas) -> None:
    for key, box in LAYOUT.items():
        if "." in key:
            continue
        _frame(canvas, box)
        if key in _SERVICE_KEYS:
            _label(canvas, box, size=4.3, lines=4)
        elif key not in {"1", "carrier"}:
            _label(canvas, box, lines=3 if key in {"12", "13"} else 2)
    for key in ("12", "13"):
        box = LAYOUT[key]
        canvas.setFont(LABEL_FONT, 6)
        canvas.drawString(box.x + 4, _y(box.bottom) + 4, "SIGNED")
        canvas.line(box.x + 28, _y(box.bottom) + 3, box.x + box.w * 0.62, _y(box.bottom) + 3)
        if key == "12":
            canvas.drawString(box.x + box.w * 0.66, _y(box.bottom) + 4, "DATE")
            canvas.line(box.x + box.w * 0.66 + 18, _y(box.bottom) + 3, box.right - 6, _y(box.bottom) + 3)
    signature = LAYOUT["31"]
    canvas.setFont(LABEL_FONT, 6)
    canvas.drawString(signature.x + 4, _y(signature.bottom) + 4, "SIGNED")
    canvas.line(signature.x + 28, _y(signature.bottom) + 3, signature.right - 6, _y(signature.bottom) + 3)
    for row in range(LINES_PER_PAGE):
        first = LAYOUT[f"24A_from.{row + 1}"]
        canvas.setFillColor(SHADE)
        canvas.rect(FORM_X, _y(first.y), FORM_WIDTH, _SERVICE_SHADE, stroke=0, fill=1)
        for column in SERVICE_COLUMNS:
            cell = LAYOUT[f"{column[0]}.{row + 1}"]
            canvas.setStrokeColor(FORM_RED)
            canvas.setLineWidth(0.4)
            canvas.rect(cell.x, _y(cell.bottom), cell.w, cell.h + _SERVICE_SHADE, stroke=1, fill=0)
        canvas.setFillColor(FORM_RED)
        canvas.setFont("Helvetica-Bold", 7)
        canvas.drawRightString(FORM_X - 3, _y(first.bottom) + 4, str(row + 1))
        canvas.setFont(LABEL_FONT, 6)
        canvas.drawCentredString(LAYOUT[f"24I.{row + 1}"].x + LAYOUT["24I"].w / 2, _y(first.bottom) + 4, "NPI")
    for row in range(LINES_PER_PAGE):  # dollars | cents divider in 24F
        cell = LAYOUT[f"24F.{row + 1}"]
        canvas.setStrokeColor(FORM_RED)
        canvas.line(cell.right - 16, _y(cell.bottom), cell.right - 16, _y(cell.y))
    _draw_titles(canvas)


def _draw_titles(canvas: Canvas) -> None:
    canvas.setFillColor(FORM_RED)
    canvas.setFont("Helvetica-Bold", 15)
    canvas.drawString(FORM_X, _y(100), "HEALTH INSURANCE CLAIM FORM")
    canvas.setFont(LABEL_FONT, 5.5)
    canvas.drawString(FORM_X, _y(82), "APPROVED BY NATIONAL UNIFORM CLAIM COMMITTEE (NUCC) 02/12")
    canvas.setFont("Helvetica-Bold", 7)
    canvas.drawString(FORM_X, _y(30), "FACSIMILE - CMS-1500 (02/12) LAYOUT")
    canvas.setFont(LABEL_FONT, 5.5)
    sections = (("CARRIER", 24, 104), ("PATIENT AND INSURED INFORMATION", _TOP, _PHYSICIAN_TOP),
                ("PHYSICIAN OR SUPPLIER INFORMATION", _PHYSICIAN_TOP, LAYOUT["31date"].bottom))
    for text, top, bottom in sections:
        canvas.saveState()
        canvas.translate(FORM_X + FORM_WIDTH + 8, _y((top + bottom) / 2))
        canvas.rotate(-90)
        canvas.drawCentredString(0, 0, text)
        canvas.restoreState()
        canvas.setStrokeColor(FORM_RED)
        canvas.line(FORM_X + FORM_WIDTH + 4, _y(top + 1), FORM_X + FORM_WIDTH + 4, _y(bottom - 1))
    canvas.setFont(LABEL_FONT, 5.5)
    canvas.drawString(FORM_X, _y(LAYOUT["31date"].bottom + 10), FOOTER)


def _draw_checkbox_rows(canvas: Canvas, encounter: Encounter) -> None:
    box = LAYOUT["1"]
    canvas.setFillColor(FORM_RED)
    canvas.setFont(LABEL_FONT, 5)
    canvas.drawString(box.x + 1.5, _y(box.y) - 5.8, "1.")
    chosen = insurance_program(encounter)
    x = box.x + 8
    for program in _PROGRAMS:
        x = _checkbox(canvas, x, box.y + 12, program, program == chosen)
    relation = "self" if _is_self(encounter) else (encounter.subscriber.relationship.strip().lower()
                                                    if encounter.subscriber else "")
    x = LAYOUT["6"].x + 4
    for option in ("Self", "Spouse", "Child", "Other"):
        picked = relation == option.lower() or (option == "Other" and relation not in {"self", "spouse", "child"})
        x = _checkbox(canvas, x, LAYOUT["6"].y + 12, option, picked)
    for key in ("10a", "10b", "10c"):
        x = LAYOUT[key].x + 40
        for option in ("YES", "NO"):
            x = _checkbox(canvas, x, LAYOUT[key].y + 12, option, False)
    tax = LAYOUT["25"]
    _checkbox(canvas, tax.right - 48, tax.y + 2, "SSN", False, size=4.2)
    _checkbox(canvas, tax.right - 24, tax.y + 2, "EIN", True, size=4.2)


def _sex_boxes(canvas: Canvas, box: Box, sex: str | None) -> None:
    x = box.right - 44
    for option in ("M", "F"):
        x = _checkbox(canvas, x, box.y + 12, option, sex == option)


def _address_values(canvas: Canvas, prefix: str, address: Address) -> None:
    street = address.line1 + (f" {address.line2}" if address.line2 else "")
    _value(canvas, LAYOUT[prefix], street.upper())
    _value(canvas, LAYOUT[f"{prefix}city"], address.city.upper())
    _value(canvas, LAYOUT[f"{prefix}state"], address.state.upper())
    _value(canvas, LAYOUT[f"{prefix}zip"], address.zip)


def _draw_header_values(canvas: Canvas, encounter: Encounter, page: int, pages: int) -> None:
    patient, subscriber, billing = encounter.patient, encounter.subscriber, encounter.billing_provider
    assert subscriber is not None, "checked by _gaps"
    assert billing is not None, "checked by _gaps"
    assert patient.birth_date is not None, "checked by _gaps"
    canvas.setFillColor(black)
    canvas.setFont("Helvetica-Bold", 9)
    canvas.drawRightString(FORM_X + FORM_WIDTH, _y(16), f"PAGE {page} OF {pages}")
    carrier = LAYOUT["carrier"]
    _value(canvas, carrier, encounter.payer_display, line=2)
    if encounter.payer_id:
        _value(canvas, carrier, f"PAYER ID {encounter.payer_id}", line=1)
    _value(canvas, LAYOUT["1a"], (subscriber.member_id or "").upper())  # never blank: refused in _gaps
    _value(canvas, LAYOUT["2"], _person_name(patient.last_name, patient.first_name))
    _value(canvas, LAYOUT["3"], patient.birth_date.strftime("%m %d %Y"), dx=4)
    _sex_boxes(canvas, LAYOUT["3"], patient.sex)
    insured_self = _is_self(encounter)
    insured = (_person_name(patient.last_name, patient.first_name) if insured_self
               else _person_name(subscriber.last_name, subscriber.first_name))
    _value(canvas, LAYOUT["4"], insured)
    if patient.address is not None:
        _address_values(canvas, "5", patient.address)
        if insured_self:  # the insured is the patient; the model holds no separate subscriber address
            _address_values(canvas, "7", patient.address)
    _value(canvas, LAYOUT["11"], (subscriber.group_number or "").upper())
    insured_birth = patient.birth_date if insured_self else subscriber.birth_date
    if insured_birth is not None:
        _value(canvas, LAYOUT["11a"], insured_birth.strftime("%m %d %Y"))
    _sex_boxes(canvas, LAYOUT["11a"], patient.sex if insured_self else subscriber.sex)
    _value(canvas, LAYOUT["11c"], encounter.payer_display)
    referring = encounter.referring_provider
    if referring is not None:
        name = " ".join(part for part in (referring.first_name, referring.last_name) if part).upper()
        _value(canvas, LAYOUT["17"], f"DN {name}")
        if referring.npi:
            _value(canvas, LAYOUT["17b"], referring.npi, dx=28)
    _draw_diagnoses(canvas, encounter.diagnoses)


def _draw_diagnoses(canvas: Canvas, diagnoses: Sequence[str]) -> None:
    box = LAYOUT["21"]
    canvas.setFillColor(FORM_RED)
    canvas.setFont(LABEL_FONT, 5)
    canvas.drawString(box.right - 50, _y(box.y + 12), "ICD Ind.")
    canvas.setFillColor(black)
    canvas.setFont(DATA_FONT, DATA_SIZE)
    canvas.drawString(box.right - 28, _y(box.y + 12.5), "0")  # 0 = ICD-10-CM
    slot = box.w / 4
    for index, letter in enumerate("ABCDEFGHIJKL"):
        x = box.x + 4 + (index % 4) * slot
        baseline = _y(box.y + 24 + (index // 4) * 10.5)
        canvas.setFillColor(FORM_RED)
        canvas.setFont(LABEL_FONT, 6)
        canvas.drawString(x, baseline, f"{letter}.")
        canvas.setStrokeColor(FORM_RED)
        canvas.line(x + 8, baseline - 1.5, x + slot - 12, baseline - 1.5)
        if index < len(diagnoses):
            canvas.setFillColor(black)
            canvas.setFont(DATA_FONT, DATA_SIZE)
            canvas.drawString(x + 10, baseline, normalize_diagnosis(diagnoses[index]))


def _draw_line(canvas: Canvas, encounter: Encounter, row: int, line: ClaimLine) -> None:
    def cell(key: str) -> Box:
        return LAYOUT[f"{key}.{row + 1}"]

    served = line_date(line, encounter).strftime("%m %d %y")
    _value(canvas, cell("24A_from"), served, dx=2, size=8.5)
    _value(canvas, cell("24A_to"), served, dx=2, size=8.5)
    _value(canvas, cell("24B"), encounter.place_of_service, align="center")
    _value(canvas, cell("24D_code"), line.code)
    modifiers = cell("24D_mod")
    for index, modifier in enumerate(line.modifiers):
        slot = Box(modifiers.key, "", modifiers.x + index * modifiers.w / MAX_MODIFIERS, modifiers.y,
                   modifiers.w / MAX_MODIFIERS, modifiers.h)
        _value(canvas, slot, modifier, dx=2, align="center")
    for index in range(1, MAX_MODIFIERS):
        x = modifiers.x + index * modifiers.w / MAX_MODIFIERS
        canvas.setStrokeColor(FORM_RED)
        canvas.line(x, _y(modifiers.bottom), x, _y(modifiers.bottom) + 5)
    _value(canvas, cell("24E"), pointer_letters(line), align="center")
    assert line.charge is not None, "checked by _gaps"
    _draw_amount(canvas, cell("24F"), line.charge)
    _value(canvas, cell("24G"), units_text(line.units), align="right")
    _value(canvas, cell("24J"), line.rendering_npi or encounter.provider.npi or "")
    if line.ndc:  # supplemental information in the shaded band: N4 qualifier, then the NDC
        shaded = cell("24A_from")
        canvas.setFont(DATA_FONT, 7)
        canvas.setFillColor(black)
        canvas.drawString(shaded.x + 2, _y(shaded.y) + 1.8, f"N4{line.ndc}")


def _draw_amount(canvas: Canvas, box: Box, amount: Decimal) -> None:
    """Dollars left of the printed divider and cents right of it, as the form's $ CHARGES columns expect."""
    text = money_text(amount).replace(",", "")
    dollars, _, cents = text.partition(".")
    _value(canvas, Box(box.key, "", box.x, box.y, box.w - 16, box.h), dollars, align="right", dx=2)
    _value(canvas, Box(box.key, "", box.right - 16, box.y, 16, box.h), cents, align="center", dx=1)


def _draw_footer_values(canvas: Canvas, encounter: Encounter, total: Decimal | None) -> None:
    billing = encounter.billing_provider
    assert billing is not None, "checked by _gaps"
    _value(canvas, LAYOUT["25"], billing.tax_id)
    _value(canvas, LAYOUT["26"], (encounter.claim_id or "").upper())
    if total is None:
        _value(canvas, LAYOUT["28"], "CONTINUED", align="right")
    else:
        _value(canvas, LAYOUT["28"], "$ " + money_text(total), align="right")
    provider = encounter.provider
    if provider.first_name or provider.last_name:
        name = " ".join(p for p in (provider.first_name, provider.last_name) if p).upper()
        _value(canvas, LAYOUT["31"], f"{name} {provider.discipline.value.upper()}", line=1, size=8)
    address = billing.address
    city_line = f"{address.city}, {address.state} {address.zip}".upper()
    street = (address.line1 + (f" {address.line2}" if address.line2 else "")).upper()
    # Item 32: office visits (POS 11) are furnished at the practice; elsewhere the place is not in the encounter.
    if encounter.place_of_service == "11":
        _value(canvas, LAYOUT["32"], billing.name.upper(), line=2)
        _value(canvas, LAYOUT["32"], street, line=1)
        _value(canvas, LAYOUT["32"], city_line)
        _value(canvas, LAYOUT["32a"], billing.npi, dx=9)
    # BillingProvider has no phone field yet (requested); the box shows one as soon as the model carries it.
    phone: str | None = billing.phone
    if phone:
        digits = "".join(ch for ch in phone if ch.isdigit())
        shown = f"({digits[:3]}) {digits[3:6]}-{digits[6:]}" if len(digits) == 10 else phone
        _value(canvas, LAYOUT["33"], shown, line=3, align="right", size=8)
    _value(canvas, LAYOUT["33"], billing.name.upper(), line=2)
    _value(canvas, LAYOUT["33"], street, line=1)
    _value(canvas, LAYOUT["33"], city_line)
    _value(canvas, LAYOUT["33a"], billing.npi, dx=9)
    if billing.taxonomy:
        _value(canvas, LAYOUT["33b"], f"ZZ{billing.taxonomy}", dx=9)


def _pages(lines: Sequence[ClaimLine]) -> list[Sequence[ClaimLine]]:
    return [lines[start:start + LINES_PER_PAGE] for start in range(0, len(lines), LINES_PER_PAGE)]


def render_cms1500(encounter: Encounter, path_or_buffer: Destination) -> None:
    """Draw the encounter's claim on as many CMS-1500 style pages as its lines need (six per page).

    Raises :class:`InputError` naming every missing field before anything is written.
    """
    require(encounter, "CMS-1500", [_gaps])
    buffer = io.BytesIO()
    canvas = new_canvas(buffer, f"CMS-1500 claim {encounter.claim_id}")
    pages = _pages(encounter.lines)
    total = sum((line.charge for line in encounter.lines if line.charge is not None), Decimal(0))
    for number, lines in enumerate(pages, start=1):
        _draw_grid(canvas)
        _draw_checkbox_rows(canvas, encounter)
        _draw_header_values(canvas, encounter, number, len(pages))
        for row, line in enumerate(lines):
            _draw_line(canvas, encounter, row, line)
        _draw_footer_values(canvas, encounter, total if number == len(pages) else None)
        canvas.showPage()
    canvas.save()
    write_pdf(buffer.getvalue(), path_or_buffer)

