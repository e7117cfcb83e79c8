"""The CMS-1500 facsimile: each value printed inside its numbered box, six lines a page, totals on the last page."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image

from cleanclaim.errors import InputError
from cleanclaim.formats.pdf_cms1500 import LAYOUT, Box, insurance_program, render_cms1500
from cleanclaim.model import Encounter
from tests.formats.pdf.conftest import Word, pt_visit_data

WordReader = Callable[[Path], list[Word]]


@pytest.fixture
def claim_pdf(tmp_path: Path, pt_visit: Encounter) -> Path:
    path = tmp_path / "claim.pdf"
    render_cms1500(pt_visit, path)
    return path


def _in_box(found: list[Word], text: str, box: Box, page: int = 1) -> list[Word]:
    return [w for w in found if w.text == text and w.page == page and w.inside(box.x, box.y, box.w, box.h)]


def _box_text(found: list[Word], box: Box, page: int = 1) -> str:
    """The words inside a box in reading order: lines by baseline (within 2.5 pt), then left to right."""
    inside = sorted((w for w in found if w.page == page and w.inside(box.x, box.y, box.w, box.h)),
                    key=lambda w: w.y_max)
    lines: list[list[Word]] = []
    for word in inside:
        if lines and word.y_max - lines[-1][0].y_max <= 2.5:
            lines[-1].append(word)
        else:
            lines.append([word])
    return " ".join(w.text for line in lines for w in sorted(line, key=lambda w: w.x_min))


def test_each_box_label_sits_in_its_own_box(claim_pdf: Path, read_words: WordReader) -> None:
    found = read_words(claim_pdf)
    for key in ("1a", "2", "3", "4", "5", "6", "7", "11", "21", "25", "26", "28", "31", "32", "33"):
        assert _in_box(found, f"{key}.", LAYOUT[key]), f"label of box {key} is not inside the box"


def test_box_1a_holds_the_member_id_and_box_2_the_patient_name(claim_pdf: Path, read_words: WordReader) -> None:
    found = read_words(claim_pdf)
    assert _in_box(found, "1EG4TE5MK73", LAYOUT["1a"])
    assert not _in_box(found, "1EG4TE5MK73", LAYOUT["2"])
    assert "EXAMPLE, ANN" in _box_text(found, LAYOUT["2"])
    assert "01 01 1950" in _box_text(found, LAYOUT["3"])
    assert "EXAMPLE, ANN" in _box_text(found, LAYOUT["4"])


def test_box_1_marks_medicare_for_a_medicare_payer(claim_pdf: Path, read_words: WordReader) -> None:
    found = read_words(claim_pdf)
    marks = [w for w in found if w.text == "X" and w.inside(LAYOUT["1"].x, LAYOUT["1"].y, LAYOUT["1"].w,
                                                                  LAYOUT["1"].h)]
    medicare = next(w for w in found if w.text == "MEDICARE" and w.inside(
        LAYOUT["1"].x, LAYOUT["1"].y, LAYOUT["1"].w, LAYOUT["1"].h))
    assert len(marks) == 1
    assert 0 < medicare.x_min - marks[0].x_max < 6  # the X is in the box just left of MEDICARE


def test_patient_address_and_relationship(claim_pdf: Path, read_words: WordReader) -> None:
    found = read_words(claim_pdf)
    assert _box_text(found, LAYOUT["5"]).endswith("5 ELM ST")
    assert "SPRINGFIELD" in _box_text(found, LAYOUT["5city"])
    assert "62704" in _box_text(found, LAYOUT["5zip"])
    assert _box_text(found, LAYOUT["6"]).startswith("6. PATIENT RELATIONSHIP")
    assert "X Self" in _box_text(found, LAYOUT["6"])


def test_diagnoses_in_box_21_without_periods_and_icd_indicator_0(claim_pdf: Path, read_words: WordReader) -> None:
    found = read_words(claim_pdf)
    text = _box_text(found, LAYOUT["21"])
    assert re.search(r"ICD Ind\. 0", text)
    assert re.search(r"A\. M6281 B\. Z9181 C\. R2689 D\.", text)
    assert "M62.81" not in text


def test_service_lines_show_codes_modifiers_pointers_charges_units_and_npi(
        claim_pdf: Path, read_words: WordReader, read_layout: Callable[[Path], list[str]]) -> None:
    found = read_words(claim_pdf)
    assert _in_box(found, "97535", LAYOUT["24D_code.2"])
    assert _in_box(found, "GP", LAYOUT["24D_mod.2"])
    assert _box_text(found, LAYOUT["24D_mod.3"]) == "GP 59"
    assert _box_text(found, LAYOUT["24E.1"]) == "AB"
    assert _box_text(found, LAYOUT["24E.3"]) == "AC"
    assert _box_text(found, LAYOUT["24F.1"]) == "90 00"
    assert _box_text(found, LAYOUT["24F.3"]) == "52 25"
    assert _box_text(found, LAYOUT["24G.1"]) == "2"
    assert _box_text(found, LAYOUT["24A_from.1"]) == "03 02 26"
    assert _box_text(found, LAYOUT["24B.1"]) == "11"
    assert _box_text(found, LAYOUT["24J.2"]) == "1234567893"
    assert _box_text(found, LAYOUT["24D_code.4"]) == ""
    page = read_layout(claim_pdf)[0]
    assert re.search(r"97535\s+GP\s+B\s+48\s+50\s+1\s+NPI\s+1234567893", page)


def test_totals_account_tax_id_and_billing_npi(claim_pdf: Path, read_words: WordReader) -> None:
    found = read_words(claim_pdf)
    assert _box_text(found, LAYOUT["28"]).endswith("$ 190.75")
    assert _box_text(found, LAYOUT["26"]).endswith("CLM-0001")
    assert _box_text(found, LAYOUT["25"]).endswith("123456789")
    assert _box_text(found, LAYOUT["33a"]) == "a. 1245319599"
    assert _box_text(found, LAYOUT["33b"]) == "b. ZZ225100000X"
    assert "HARBOR PHYSICAL THERAPY" in _box_text(found, LAYOUT["33"])
    assert "PAT MOVER PT" in _box_text(found, LAYOUT["31"])
    assert "HARBOR PHYSICAL THERAPY" in _box_text(found, LAYOUT["32"])


def test_footer_says_it_is_a_facsimile_not_for_ocr(claim_pdf: Path, read_layout: Callable[[Path], list[str]]) -> None:
    text = " ".join(read_layout(claim_pdf)[0].split())
    assert "Facsimile" in text
    assert "OCR" in text


def test_eight_lines_take_two_pages_with_the_total_on_the_last(
        tmp_path: Path, long_visit: Encounter, read_words: WordReader) -> None:
    path = tmp_path / "long.pdf"
    render_cms1500(long_visit, path)
    found = read_words(path)
    assert max(w.page for w in found) == 2
    assert _box_text(found, LAYOUT["28"], page=1).endswith("CONTINUED")
    total = sum((line.charge for line in long_visit.lines if line.charge is not None), Decimal(0))
    assert _box_text(found, LAYOUT["28"], page=2).endswith(f"$ {total:,.2f}")
    assert _box_text(found, LAYOUT["24D_code.6"], page=1) == "97530"
    assert _box_text(found, LAYOUT["24D_code.1"], page=2) == "97750"
    assert _box_text(found, LAYOUT["24A_from.1"], page=2) == "03 04 26"
    assert _box_text(found, LAYOUT["24D_mod.2"], page=2) == "GP CQ"
    assert _box_text(found, LAYOUT["24D_code.3"], page=2) == ""
    assert any(w.text == "1EG4TE5MK73" for w in _in_box(found, "1EG4TE5MK73", LAYOUT["1a"], page=2))
    page_marks = [" ".join(w.text for w in found if w.page == p and w.y_max < 24) for p in (1, 2)]
    assert page_marks == ["PAGE 1 OF 2", "PAGE 2 OF 2"]


def test_pages_render_with_red_form_ink_and_dark_data(
        tmp_path: Path, long_visit: Encounter, render_pages: Callable[..., list[Path]]) -> None:
    path = tmp_path / "long.pdf"
    render_cms1500(long_visit, path)
    pages = render_pages(path, tmp_path, dpi=50)
    assert len(pages) == 2
    scale = 50 / 72
    with Image.open(pages[0]) as image:
        rgb = image.convert("RGB")
        assert rgb.size == (425, 550)
        box = LAYOUT["1a"]
        crop = rgb.crop((int(box.x * scale), int(box.y * scale), int(box.right * scale), int(box.bottom * scale)))
        colors = crop.getcolors(maxcolors=crop.width * crop.height) or []
    red = [c for _, c in colors if c[0] > 150 and c[1] < 120 and c[2] < 120]
    dark = [c for _, c in colors if max(c) < 90]
    assert red, "box 1a has no red form ink"
    assert dark, "box 1a has no printed member id"


def test_writes_to_a_buffer(pt_visit: Encounter) -> None:
    buffer = io.BytesIO()
    render_cms1500(pt_visit, buffer)
    assert buffer.getvalue().startswith(b"%PDF-")


def test_every_missing_field_is_listed_and_nothing_is_written(tmp_path: Path) -> None:
    data = pt_visit_data()
    del data["billing_provider"], data["subscriber"], data["claim_id"]
    del data["patient"]["address"], data["patient"]["sex"]
    data["lines"][1]["charge"] = None
    data["lines"][2]["dx_pointers"] = [1, 4]
    data["lines"][0]["modifiers"] = ["GP", "59", "KX", "XU", "CQ"]
    path = tmp_path / "claim.pdf"
    with pytest.raises(InputError) as caught:
        render_cms1500(Encounter.model_validate(data), path)
    message = str(caught.value)
    for field in ("billing_provider", "subscriber", "claim_id", "patient.address", "patient.sex",
                  "lines[2].charge", "lines[3].dx_pointers (4 outside 1..3)", "lines[1].modifiers"):
        assert field in message
    assert "encounter E-PT-1" in message
    assert "patient.first_name" not in message
    assert not path.exists()


def test_a_subscriber_other_than_the_patient_needs_a_name() -> None:
    data = pt_visit_data()
    data["subscriber"] = {"member_id": "W123", "relationship": "spouse"}
    with pytest.raises(InputError, match=r"subscriber\.last_name; subscriber\.first_name"):
        render_cms1500(Encounter.model_validate(data), io.BytesIO())


def test_a_spouse_subscriber_is_box_4_and_box_6_says_spouse(tmp_path: Path, read_words: WordReader) -> None:
    data = pt_visit_data()
    data["subscriber"] = {"member_id": "W123", "relationship": "spouse", "first_name": "Bob",
                          "last_name": "Example", "group_number": "G-77"}
    data["payer"] = "commercial"
    path = tmp_path / "spouse.pdf"
    render_cms1500(Encounter.model_validate(data), path)
    found = read_words(path)
    assert "EXAMPLE, BOB" in _box_text(found, LAYOUT["4"])
    assert "X Spouse" in _box_text(found, LAYOUT["6"])
    assert "G-77" in _box_text(found, LAYOUT["11"])
    assert _box_text(found, LAYOUT["7"]) == "7. INSURED'S ADDRESS (No., Street)"


def test_insurance_program_by_payer_and_group() -> None:
    data = pt_visit_data()
    assert insurance_program(Encounter.model_validate(data)) == "MEDICARE"
    data["payer"] = "commercial"
    assert insurance_program(Encounter.model_validate(data)) == "OTHER"
    data["subscriber"]["group_number"] = "G1"
    assert insurance_program(Encounter.model_validate(data)) == "GROUP HEALTH PLAN"


def test_a_path_that_cannot_take_the_pdf_is_an_input_error_naming_it(tmp_path: Path, pt_visit: Encounter) -> None:
    target = tmp_path / "missing" / "claim.pdf"
    with pytest.raises(InputError) as caught:
        render_cms1500(pt_visit, target)
    assert caught.value.file == str(target)
    assert "No such file or directory" in str(caught.value)
    assert not (tmp_path / "missing").exists()
