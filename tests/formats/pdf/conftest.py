"""A synthetic outpatient PT visit and PDF readers (PDFium, through the pypdfium2 wheel) for the PDF tests.

The tests read the PDFs the way a person would see them: text with its position on the page (points from the
top-left corner, the same frame as the CMS-1500 layout) and rendered page images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest

from cleanclaim.model import Encounter


def pt_visit_data(line_count: int = 3) -> dict[str, Any]:
    """A synthetic Medicare PT re-visit: Ann Example (fictional), seen at a fictional practice."""
    lines = [
        {"code": "97110", "modifiers": ["GP"], "units": 2, "dx_pointers": [1, 2], "charge": 90.00},
        {"code": "97535", "modifiers": ["GP"], "units": 1, "dx_pointers": [2], "charge": 48.50},
        {"code": "97140", "modifiers": ["GP", "59"], "units": 1, "dx_pointers": [1, 3], "charge": 52.25},
        {"code": "97112", "modifiers": ["GP", "KX"], "units": 1, "dx_pointers": [3], "charge": 51.00},
        {"code": "97116", "modifiers": ["GP"], "units": 1, "dx_pointers": [3], "charge": 46.00},
        {"code": "97530", "modifiers": ["GP"], "units": 2, "dx_pointers": [1], "charge": 104.00},
        {"code": "97750", "modifiers": ["GP"], "units": 1, "dx_pointers": [1], "charge": 60.00, "date": "2026-03-04"},
        {"code": "97535", "modifiers": ["GP", "CQ"], "units": 1, "dx_pointers": [2], "charge": 48.50,
         "date": "2026-03-04"},
    ]
    return {
        "id": "E-PT-1",
        "date": "2026-03-02",
        "payer": "medicare",
        "place_of_service": "11",
        "patient": {"id": "P-1001", "birth_date": "1950-01-01", "sex": "F", "first_name": "Ann",
                    "last_name": "Example",
                    "address": {"line1": "5 Elm St", "city": "Springfield", "state": "IL", "zip": "62704"}},
        "provider": {"npi": "1234567893", "discipline": "PT", "first_name": "Pat", "last_name": "Mover"},
        "diagnoses": ["M62.81", "Z91.81", "R26.89"],
        "billing_provider": {"name": "Harbor Physical Therapy", "npi": "1245319599", "tax_id": "123456789",
                             "taxonomy": "225100000X",
                             "address": {"line1": "1 Main St", "city": "Springfield", "state": "IL",
                                         "zip": "627011234"}},
        "subscriber": {"member_id": "1EG4TE5MK73", "first_name": "Ann", "last_name": "Example",
                       "relationship": "self"},
        "payer_id": "12345",
        "claim_id": "CLM-0001",
        "lines": lines[:line_count],
    }


@pytest.fixture
def pt_visit() -> Encounter:
    return Encounter.model_validate(pt_visit_data())


@pytest.fixture
def long_visit() -> Encounter:
    return Encounter.model_validate(pt_visit_data(line_count=8))


@dataclass(frozen=True)
class Word:
    text: str
    page: int
    x_min: float
    y_min: float
    x_max: float
    y_max: float

    def inside(self, x: float, y: float, w: float, h: float) -> bool:
        return x <= self.x_min and self.x_max <= x + w and y <= self.y_min and self.y_max <= y + h


def _page_words(textpage: pdfium.PdfTextPage, number: int) -> list[Word]:
    """Group the page's characters into words the way a reader sees them.

    A word ends at whitespace (written, or the space/line break PDFium infers between text runs), at a change of
    line, or at a horizontal gap wider than a tenth of the font size (pdftotext's word-break threshold), so values
    drawn separately in neighbouring boxes never fuse into one word. Boxes are PDFium's loose boxes (the font's
    ascent to descent, the same for every glyph of a run, as pdftotext reports them), flipped to the top-left frame.
    """
    height = textpage.page.get_height()
    found: list[Word] = []
    text, box, size = "", (0.0, 0.0, 0.0, 0.0), 0.0

    def close() -> None:
        nonlocal text
        if text:
            found.append(Word(text, number, box[0], height - box[3], box[2], height - box[1]))
        text = ""

    for index in range(textpage.count_chars()):
        char = chr(pdfium_c.FPDFText_GetUnicode(textpage, index))
        if char.isspace() or not char.isprintable():
            close()
            continue
        left, bottom, right, top = textpage.get_charbox(index, loose=True)
        font_size = pdfium_c.FPDFText_GetFontSize(textpage, index)
        same_line = text and abs(bottom - box[1]) < 0.5 * min(size, font_size)
        if text and not (same_line and -0.5 < left - box[2] <= 0.1 * max(size, font_size)):
            close()
        box = (box[0], min(box[1], bottom), right, max(box[3], top)) if text else (left, bottom, right, top)
        text += char
        size = font_size
    close()
    return found


def words(pdf: Path) -> list[Word]:
    """Every word on every page, with its page (1-based) and box in points from the page's top-left."""
    document = pdfium.PdfDocument(pdf)
    try:
        return [word for number, page in enumerate(document, start=1)
                for word in _page_words(page.get_textpage(), number)]
    finally:
        document.close()


def layout_text(pdf: Path) -> list[str]:
    """The text of each page laid out in lines: words whose boxes share a line, left to right, top to bottom.

    Two words are on one line when their vertical centres lie within half a word height of each other, which
    puts a form row's values (drawn in separate boxes) on one line as ``pdftotext -layout`` does.
    """
    found = words(pdf)
    pages: list[str] = []
    for number in range(1, max((w.page for w in found), default=0) + 1):
        lines: list[list[Word]] = []
        for word in sorted((w for w in found if w.page == number), key=lambda w: (w.y_min + w.y_max) / 2):
            centre = (word.y_min + word.y_max) / 2
            if lines:
                last = lines[-1][0]
                if abs(centre - (last.y_min + last.y_max) / 2) <= (last.y_max - last.y_min) / 2:
                    lines[-1].append(word)
                    continue
            lines.append([word])
        pages.append("\n".join(" ".join(w.text for w in sorted(line, key=lambda w: w.x_min)) for line in lines))
    return pages


def page_images(pdf: Path, directory: Path, dpi: int = 50) -> list[Path]:
    """The pages rendered to PNG at ``dpi`` by PDFium, in page order."""
    document = pdfium.PdfDocument(pdf)
    paths = []
    try:
        for number, page in enumerate(document, start=1):
            path = directory / f"page-{number}.png"
            page.render(scale=dpi / 72).to_pil().save(path)
            paths.append(path)
    finally:
        document.close()
    return paths


@pytest.fixture
def read_words() -> Callable[[Path], list[Word]]:
    return words


@pytest.fixture
def read_layout() -> Callable[[Path], list[str]]:
    return layout_text


@pytest.fixture
def render_pages() -> Callable[..., list[Path]]:
    return page_images
