"""A synthetic outpatient PT visit and poppler-utils readers (pdftotext, pdftoppm) for the PDF tests.

The tests read the PDFs the way a person would see them: text with its position on the page (points from the
top-left corner, the same frame as the CMS-1500 layout) and rendered page images.
"""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cleanclaim.model import Encounter

_XHTML = "{http://www.w3.org/1999/xhtml}"


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


def _require_poppler() -> None:
    missing = [tool for tool in ("pdftotext", "pdftoppm") if shutil.which(tool) is None]
    if missing:  # a hard failure, not a skip: these tests are how we know the PDFs are right
        pytest.fail(f"poppler-utils is not installed ({', '.join(missing)} missing): apt-get install poppler-utils")


def words(pdf: Path) -> list[Word]:
    """Every word pdftotext finds, with its page (1-based) and box in points from the page's top-left."""
    _require_poppler()
    xhtml = subprocess.run(["pdftotext", "-bbox-layout", str(pdf), "-"], check=True, capture_output=True,
                           text=True).stdout
    root = ET.fromstring(xhtml)
    found = []
    for number, page in enumerate(root.iter(f"{_XHTML}page"), start=1):
        for word in page.iter(f"{_XHTML}word"):
            found.append(Word(word.text or "", number, float(word.attrib["xMin"]), float(word.attrib["yMin"]),
                              float(word.attrib["xMax"]), float(word.attrib["yMax"])))
    return found


def layout_text(pdf: Path) -> list[str]:
    """The text of each page as ``pdftotext -layout`` lays it out."""
    _require_poppler()
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout
    return text.split("\f")[:-1]


def page_images(pdf: Path, directory: Path, dpi: int = 50) -> list[Path]:
    """The pages rendered to PNG by pdftoppm, in page order."""
    _require_poppler()
    subprocess.run(["pdftoppm", "-png", "-r", str(dpi), str(pdf), str(directory / "page")], check=True)
    return sorted(directory.glob("page*.png"))


@pytest.fixture
def read_words() -> Callable[[Path], list[Word]]:
    return words


@pytest.fixture
def read_layout() -> Callable[[Path], list[str]]:
    return layout_text


@pytest.fixture
def render_pages() -> Callable[..., list[Path]]:
    return page_images
