"""What the two paper documents (CMS-1500 facsimile and superbill) share: the check that an encounter has what
the page needs, the way amounts, units, dates and diagnosis pointers are printed, and writing the finished PDF.

A PDF is drawn into memory first and written only when complete, so a failed render never leaves half a file.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

from reportlab.pdfgen.canvas import Canvas

from cleanclaim.errors import InputError
from cleanclaim.formats.files import write_file
from cleanclaim.model import ClaimLine, Encounter

__all__ = [
    "DIAGNOSIS_LETTERS",
    "Destination",
    "diagnosis_letter",
    "line_date",
    "money_text",
    "new_canvas",
    "pointer_letters",
    "require",
    "units_text",
    "write_pdf",
]

Destination = str | Path | BinaryIO
DIAGNOSIS_LETTERS = "ABCDEFGHIJKL"


def diagnosis_letter(pointer: int) -> str:
    """Pointer 1 is diagnosis A: the letters of CMS-1500 item 21 and 24E, used on the superbill too."""
    return DIAGNOSIS_LETTERS[pointer - 1]


def pointer_letters(line: ClaimLine) -> str:
    return "".join(diagnosis_letter(p) for p in line.dx_pointers)


def money_text(amount: Decimal) -> str:
    """Dollars with two decimals; an amount with more precision is shown in full rather than rounded."""
    text = f"{amount:,.2f}"
    return text if Decimal(text.replace(",", "")) == amount else f"{amount:,}"


def units_text(units: Decimal) -> str:
    """Units as billed: whole units without a decimal point, a fractional unit kept as given (never rounded)."""
    return str(int(units)) if units == units.to_integral_value() else str(units.normalize())


def line_date(line: ClaimLine, encounter: Encounter) -> dt.date:
    return line.date or encounter.date


def require(encounter: Encounter, document: str, checks: Iterable[Callable[[Encounter], list[str]]]) -> None:
    """Raise one :class:`InputError` naming every gap the checks found, so the user fixes them in one pass."""
    gaps = [gap for check in checks for gap in check(encounter)]
    if gaps:
        raise InputError(
            f"cannot draw the {document}: missing or unusable " + "; ".join(gaps),
            encounter=encounter.id,
            field=", ".join(gap.split(" ")[0] for gap in gaps),
        )


def new_canvas(buffer: io.BytesIO, title: str) -> Canvas:
    # invariant=1 leaves out the creation time and random file id, so the same encounter gives the same bytes.
    canvas = Canvas(buffer, pagesize=(612, 792), invariant=1, pageCompression=0)
    canvas.setTitle(title)
    canvas.setAuthor("cleanclaim")
    canvas.setCreator("cleanclaim")
    return canvas


def write_pdf(content: bytes, destination: Destination) -> None:
    if isinstance(destination, str | Path):
        write_file(Path(destination), content)
    else:
        destination.write(content)
