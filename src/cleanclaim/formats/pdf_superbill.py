"""A superbill: the itemized statement a practice hands a patient who pays at the visit and asks the insurer
to reimburse them (out of network, coaching, cash-pay therapy).

It lists what a member claim form asks for (practice NPI and tax id, patient, dates, codes with modifiers,
units and charges, diagnoses with pointer letters) in plain language. Service descriptions are cleanclaim's
own summaries from the code book, never AMA CPT descriptor text. It is not a claim form, and says so.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from decimal import Decimal
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from cleanclaim.codebook import codebook
from cleanclaim.diagnoses import format_diagnosis, lookup_diagnosis
from cleanclaim.errors import DataError
from cleanclaim.formats.claim_requirements import claim_line_gaps
from cleanclaim.formats.pdf import (
    Destination,
    diagnosis_letter,
    line_date,
    money_text,
    pointer_letters,
    require,
    units_text,
    write_pdf,
)
from cleanclaim.model import Address, ClaimLine, Encounter

__all__ = ["NOT_A_CLAIM_NOTE", "diagnosis_title", "render_superbill", "service_description"]

NOT_A_CLAIM_NOTE = (
    "This superbill is an itemized statement of services, not a claim form. To ask your insurer for "
    "reimbursement, attach it to the insurer's member claim form. Service descriptions are cleanclaim's own "
    "plain-language summaries, not CPT descriptors; diagnosis titles are ICD-10-CM's."
)
NO_DESCRIPTION = "No description: the code is not in cleanclaim's code book for this date of service"

_INK = colors.HexColor("#1F2A44")
_ACCENT = colors.HexColor("#2E6F8E")
_RULE = colors.HexColor("#B8C4CE")
_BAND = colors.HexColor("#EEF3F6")
_MARGIN = 0.6 * inch
# SimpleDocTemplate's frame pads its content by 6 pt on each side.
_WIDTH = LETTER[0] - 2 * _MARGIN - 12


def _style(name: str, size: float = 9, *, bold: bool = False, color: colors.Color = _INK,
           leading: float | None = None, align: int = 0) -> ParagraphStyle:
    return ParagraphStyle(name, fontName="Helvetica-Bold" if bold else "Helvetica", fontSize=size,
                          leading=leading or size * 1.25, textColor=color, alignment=align)


_BODY = _style("body")
_SMALL = _style("small", 7.5, color=colors.HexColor("#4A5568"))
_LABEL = _style("label", 7, bold=True, color=_ACCENT)
_CELL = _style("cell", 8.5)
_CELL_RIGHT = _style("cell-right", 8.5, align=TA_RIGHT)
_HEAD = _style("head", 8, bold=True, color=colors.white)
_HEAD_RIGHT = _style("head-right", 8, bold=True, color=colors.white, align=TA_RIGHT)
_PRACTICE = _style("practice", 16, bold=True, leading=19)
_TITLE = _style("title", 20, bold=True, color=_ACCENT, align=TA_RIGHT, leading=24)


def service_description(line: ClaimLine, encounter: Encounter) -> str:
    """Our own plain-language summary of the code on its date of service."""
    entry = codebook().get(line.code, line_date(line, encounter))
    return entry.summary if entry is not None else NO_DESCRIPTION


def _gaps(encounter: Encounter) -> list[str]:
    gaps = ["billing_provider"] if encounter.billing_provider is None else []
    gaps += [f"patient.{name}" for name in ("last_name", "first_name", "birth_date")
             if getattr(encounter.patient, name) is None]
    return gaps + claim_line_gaps(encounter, max_pointers=None)


def _p(text: str, style: ParagraphStyle = _CELL) -> Paragraph:
    return Paragraph(escape(text), style)


def _address_lines(address: Address) -> list[str]:
    street = [address.line1] + ([address.line2] if address.line2 else [])
    return [*street, f"{address.city}, {address.state} {_zip_text(address.zip)}"]


def _zip_text(zip_code: str) -> str:
    return f"{zip_code[:5]}-{zip_code[5:]}" if len(zip_code) == 9 else zip_code


def _header(encounter: Encounter) -> Table:
    billing = encounter.billing_provider
    assert billing is not None, "checked by _gaps"
    practice = [_p(billing.name, _PRACTICE), *(_p(text, _BODY) for text in _address_lines(billing.address)),
                _p(f"NPI {billing.npi}  \u00b7  Tax ID (EIN) {billing.tax_id[:2]}-{billing.tax_id[2:]}", _BODY)]
    title = [_p("SUPERBILL", _TITLE), _p("Itemized statement of services", _style("sub", 9, align=TA_RIGHT))]
    if encounter.claim_id:
        title.append(_p(f"Account no. {encounter.claim_id}", _style("acct", 9, align=TA_RIGHT)))
    table = Table([[practice, title]], colWidths=[_WIDTH * 0.62, _WIDTH * 0.38])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("LINEBELOW", (0, 0), (-1, 0), 1.5, _ACCENT),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 8), ("LEFTPADDING", (0, 0), (0, 0), 0),
                               ("RIGHTPADDING", (-1, 0), (-1, 0), 0)]))
    return table


def _facts(pairs: Sequence[tuple[str, str]]) -> list[list[Paragraph]]:
    return [[_p(label.upper(), _LABEL), _p(value, _CELL)] for label, value in pairs]


def _service_dates(encounter: Encounter) -> str:
    dates = sorted({line_date(line, encounter) for line in encounter.lines})
    return ", ".join(d.strftime("%m/%d/%Y") for d in dates)


def _people(encounter: Encounter) -> Table:
    patient, provider, subscriber = encounter.patient, encounter.provider, encounter.subscriber
    assert patient.birth_date is not None, "checked by _gaps"
    patient_facts = [("Patient", f"{patient.first_name} {patient.last_name}"), ("Patient ID", patient.id),
                     ("Date of birth", patient.birth_date.strftime("%m/%d/%Y"))]
    if patient.address is not None:
        patient_facts.append(("Address", ", ".join(_address_lines(patient.address))))
    payer = encounter.payer_name or encounter.payer
    payer += f" (payer ID {encounter.payer_id})" if encounter.payer_id else ""
    patient_facts.append(("Payer", payer))
    if subscriber is not None and subscriber.member_id:
        patient_facts.append(("Member ID", subscriber.member_id))
        if subscriber.group_number:
            patient_facts.append(("Group no.", subscriber.group_number))
    rendering = " ".join(p for p in (provider.first_name, provider.last_name) if p)
    visit_facts = [("Date(s) of service", _service_dates(encounter)),
                   ("Place of service", f"POS {encounter.place_of_service}"),
                   ("Rendering provider", f"{rendering}, {provider.discipline.value}".lstrip(", ")),
                   ("Rendering NPI", provider.npi or "")]
    left = Table(_facts(patient_facts), colWidths=[1.05 * inch, _WIDTH / 2 - 1.15 * inch])
    right = Table(_facts(visit_facts), colWidths=[1.15 * inch, _WIDTH / 2 - 1.25 * inch])
    for table in (left, right):
        table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                                   ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    outer = Table([[left, right]], colWidths=[_WIDTH / 2, _WIDTH / 2])
    outer.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    return outer


def _grid_style(rows: int, right_columns: Sequence[int] = ()) -> TableStyle:
    commands: list[tuple[object, ...]] = [
        ("BACKGROUND", (0, 0), (-1, 0), _ACCENT),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 1), (-1, -1), 0.4, _RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]
    commands += [("BACKGROUND", (0, row), (-1, row), _BAND) for row in range(2, rows, 2)]
    commands += [("ALIGN", (column, 0), (column, -1), "RIGHT") for column in right_columns]
    return TableStyle(commands)


def diagnosis_title(code: str, encounter: Encounter) -> str:
    """The ICD-10-CM title (a public-domain CDC/NCHS text) in force on the date of service, or "" when unknown.

    The title is a courtesy on a superbill; a missing ICD-10-CM table must not stop the patient's paperwork.
    """
    try:
        return lookup_diagnosis(code, encounter.date).description or ""
    except DataError:
        return ""


def _diagnoses(encounter: Encounter) -> Table:
    rows = [[_p("PTR", _HEAD), _p("ICD-10-CM", _HEAD), _p("Diagnosis (ICD-10-CM title)", _HEAD)]]
    rows += [[_p(diagnosis_letter(n)), _p(format_diagnosis(code)), _p(diagnosis_title(code, encounter))]
             for n, code in enumerate(encounter.diagnoses, 1)]
    table = Table(rows, colWidths=[0.45 * inch, 0.95 * inch, 3.6 * inch], hAlign="LEFT", repeatRows=1)
    table.setStyle(_grid_style(len(rows)))
    return table


_SERVICE_WIDTHS = (0.8, 0.55, 0.75, 3.15, 0.45, 0.45, 0.85)


def _services(encounter: Encounter, total: Decimal) -> Table:
    heads = ("Date", "Code", "Modifiers", "Service (plain-language summary)", "Dx", "Units", "Charge")
    rows: list[list[Paragraph | str]] = [
        [_p(h, _HEAD_RIGHT if h in {"Units", "Charge"} else _HEAD) for h in heads]]
    for line in encounter.lines:
        assert line.charge is not None, "checked by _gaps"
        rows.append([
            _p(line_date(line, encounter).strftime("%m/%d/%Y")), _p(line.code, _style("code", 8.5, bold=True)),
            _p(" ".join(line.modifiers)), _p(service_description(line, encounter)), _p(pointer_letters(line)),
            _p(units_text(line.units), _CELL_RIGHT), _p(f"${money_text(line.charge)}", _CELL_RIGHT),
        ])
    rows.append(["", "", "", _p("Total charges", _style("total-label", 9, bold=True, align=TA_RIGHT)), "", "",
                 _p(f"${money_text(total)}", _style("total", 9, bold=True, align=TA_RIGHT))])
    scale = _WIDTH / (sum(_SERVICE_WIDTHS) * inch)
    table = Table(rows, colWidths=[w * inch * scale for w in _SERVICE_WIDTHS], repeatRows=1)
    style = _grid_style(len(rows) - 1)
    style.add("LINEABOVE", (0, -1), (-1, -1), 1.2, _INK)
    style.add("SPAN", (3, -1), (5, -1))
    table.setStyle(style)
    return table


def _payment_and_signature() -> Table:
    blank = "_" * 18
    rows = [
        [_p("Amount paid", _style("paid", 9, bold=True)), _p(f"$ {blank}", _BODY),
         _p("Payment method", _style("method", 9, bold=True)), _p("Cash / Check / Card  " + "_" * 10, _BODY)],
        [_p("Provider signature", _style("sig", 9, bold=True)), _p("_" * 30, _BODY),
         _p("Date", _style("date", 9, bold=True)), _p("_" * 22, _BODY)],
    ]
    table = Table(rows, colWidths=[1.3 * inch, 2.4 * inch, 1.1 * inch, _WIDTH - 4.8 * inch])
    table.setStyle(TableStyle([("TOPPADDING", (0, 0), (-1, -1), 10), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                               ("VALIGN", (0, 0), (-1, -1), "BOTTOM")]))
    return table


def _section(title: str) -> Paragraph:
    return Paragraph(escape(title.upper()), _style(f"section-{title}", 8.5, bold=True, color=_ACCENT))


def _footer(canvas: Canvas, document: SimpleDocTemplate) -> None:
    canvas.saveState()
    canvas.setFont("Helvetica", 7)
    canvas.setFillColor(colors.HexColor("#4A5568"))
    canvas.drawString(_MARGIN, 0.4 * inch, "Not a claim form. Superbill made with cleanclaim.")
    canvas.drawRightString(LETTER[0] - _MARGIN, 0.4 * inch, f"Page {document.page}")
    canvas.restoreState()


def render_superbill(encounter: Encounter, path_or_buffer: Destination) -> None:
    """Draw the encounter's superbill. Raises :class:`InputError` naming every missing field before writing."""
    require(encounter, "superbill", [_gaps])
    total = sum((line.charge for line in encounter.lines if line.charge is not None), Decimal(0))
    story: list[Flowable] = [
        _header(encounter), Spacer(1, 10), _people(encounter), Spacer(1, 12),
        _section("Services"), Spacer(1, 3), _services(encounter, total), Spacer(1, 12),
        _section("Diagnoses"), Spacer(1, 3), _diagnoses(encounter), Spacer(1, 8),
        _payment_and_signature(), Spacer(1, 16), _p(NOT_A_CLAIM_NOTE, _SMALL),
    ]
    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=LETTER, leftMargin=_MARGIN, rightMargin=_MARGIN,
                                 topMargin=_MARGIN, bottomMargin=_MARGIN, invariant=1, pageCompression=0,
                                 title=f"Superbill {encounter.claim_id or encounter.id}", author="cleanclaim",
                                 creator="cleanclaim")
    document.build(story, onFirstPage=_footer, onLaterPages=_footer)
    write_pdf(buffer.getvalue(), path_or_buffer)
