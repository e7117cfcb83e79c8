"""The superbill: practice, patient and visit facts, each code with our own summary, diagnoses and totals."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from cleanclaim.codebook import codebook
from cleanclaim.diagnoses import lookup_diagnosis
from cleanclaim.errors import InputError
from cleanclaim.formats.pdf_superbill import NO_DESCRIPTION, render_superbill
from cleanclaim.model import Encounter
from tests.formats.pdf.conftest import Word, pt_visit_data

WordReader = Callable[[Path], list[Word]]


@pytest.fixture
def superbill_pdf(tmp_path: Path, pt_visit: Encounter) -> Path:
    path = tmp_path / "superbill.pdf"
    render_superbill(pt_visit, path)
    return path


def _flat(text: str) -> str:
    return " ".join(text.split())


def _column(found: list[Word], header: str, next_header: str) -> list[Word]:
    """Words under the services table column titled ``header`` (up to where ``next_header`` begins)."""
    start = next(w for w in found if w.text == header)
    end = next(w for w in found if w.text == next_header and abs(w.y_min - start.y_min) < 2)
    return [w for w in found if start.x_min - 1 <= w.x_min < end.x_min - 1 and w.y_min > start.y_max]


def _row_of(found: list[Word], word: Word) -> list[Word]:
    return sorted((w for w in found if abs(w.y_min - word.y_min) < 2), key=lambda w: w.x_min)


def test_each_code_is_listed_with_our_summary_on_its_row(
        superbill_pdf: Path, pt_visit: Encounter, read_words: WordReader) -> None:
    found = read_words(superbill_pdf)
    descriptions = _column(found, "Service", "Dx")
    for line in pt_visit.lines:
        entry = codebook().get(line.code, pt_visit.date)
        assert entry is not None
        code_word = next(w for w in found if w.text == line.code)
        first_word = entry.summary.split()[0]
        assert any(w.text == first_word for w in _row_of(found, code_word) if w in descriptions), line.code
    column_text = _flat(" ".join(w.text for w in sorted(descriptions, key=lambda w: (w.y_min, w.x_min))))
    for line in pt_visit.lines:
        summary = codebook().get(line.code, pt_visit.date)
        assert summary is not None
        assert _flat(summary.summary) in column_text


def test_rows_carry_modifiers_pointers_units_and_charges(superbill_pdf: Path, read_words: WordReader) -> None:
    found = read_words(superbill_pdf)
    row = [w.text for w in _row_of(found, next(w for w in found if w.text == "97140"))]
    assert row[:3] == ["03/02/2026", "97140", "GP"]
    assert row[3] == "59"
    assert row[-3:] == ["AC", "1", "$52.25"]
    row = [w.text for w in _row_of(found, next(w for w in found if w.text == "97110"))]
    assert row[-3:] == ["AB", "2", "$90.00"]


def test_header_patient_visit_and_total(superbill_pdf: Path, read_layout: Callable[[Path], list[str]]) -> None:
    text = _flat(read_layout(superbill_pdf)[0])
    for expected in ("Harbor Physical Therapy", "1 Main St", "Springfield, IL 62701-1234", "NPI 1245319599",
                     "Tax ID (EIN) 12-3456789", "Ann Example", "P-1001", "01/01/1950", "03/02/2026",
                     "Pat Mover, PT", "1234567893", "1EG4TE5MK73", "medicare (payer ID 12345)",
                     "Total charges $190.75", "Amount paid $", "Provider signature", "Date"):
        assert expected in text, expected
    assert "not a claim form" in text


def test_diagnoses_with_dots_and_pointer_letters(tmp_path: Path, read_words: WordReader) -> None:
    data = pt_visit_data()
    data["diagnoses"] = ["M6281", "Z91.81", "R2689"]
    path = tmp_path / "superbill.pdf"
    render_superbill(Encounter.model_validate(data), path)
    found = read_words(path)
    for letter, code in (("A", "M62.81"), ("B", "Z91.81"), ("C", "R26.89")):
        word = next(w for w in found if w.text == code)
        row = [w.text for w in _row_of(found, word)]
        assert row[:2] == [letter, code]
        title = lookup_diagnosis(code, dt.date(2026, 3, 2)).description
        assert title
        assert " ".join(row[2:]) == title
    assert not any(w.text in {"M6281", "R2689"} for w in found)


def test_a_code_missing_from_the_code_book_says_so(tmp_path: Path, read_words: WordReader) -> None:
    data = pt_visit_data(line_count=1)
    data["lines"][0]["code"] = "96150"  # deleted 2020-01-01: no version in force on 2026-03-02
    path = tmp_path / "superbill.pdf"
    render_superbill(Encounter.model_validate(data), path)
    descriptions = _column(read_words(path), "Service", "Dx")
    column_text = " ".join(w.text for w in sorted(descriptions, key=lambda w: (w.y_min, w.x_min)))
    assert _flat(NO_DESCRIPTION) in column_text


def test_long_superbill_runs_onto_pages_and_renders(
        tmp_path: Path, render_pages: Callable[..., list[Path]], read_layout: Callable[[Path], list[str]]) -> None:
    data = pt_visit_data(line_count=8)
    data["lines"] = data["lines"] * 4
    path = tmp_path / "superbill.pdf"
    render_superbill(Encounter.model_validate(data), path)
    pages = read_layout(path)
    assert len(pages) == 2
    total = sum(Decimal(str(line["charge"])) for line in data["lines"])
    assert f"Total charges ${total:,.2f}" in _flat(pages[-1])
    assert "Total charges" not in _flat(pages[0])
    assert "Date Code Modifiers" in _flat(pages[-1])  # the table header repeats on the new page
    assert len(render_pages(path, tmp_path)) == 2


def test_missing_fields_are_all_listed_and_nothing_is_written() -> None:
    data = pt_visit_data()
    del data["billing_provider"], data["patient"]["birth_date"]
    data["diagnoses"] = []
    data["lines"][0]["charge"] = None
    buffer = io.BytesIO()
    with pytest.raises(InputError) as caught:
        render_superbill(Encounter.model_validate(data), buffer)
    message = str(caught.value)
    for field in ("billing_provider", "patient.birth_date", "diagnoses", "lines[1].charge",
                  "lines[1].dx_pointers (1, 2 outside 1..0)"):
        assert field in message
    assert buffer.getvalue() == b""


def test_superbill_needs_no_subscriber_or_claim_id(read_layout: Callable[[Path], list[str]], tmp_path: Path) -> None:
    data = pt_visit_data()
    del data["subscriber"], data["claim_id"], data["payer_id"]
    path = tmp_path / "cash.pdf"
    render_superbill(Encounter.model_validate(data), path)
    text = _flat(read_layout(path)[0])
    assert "Member ID" not in text
    assert "Total charges $190.75" in text
