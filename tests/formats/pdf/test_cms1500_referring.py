"""CMS-1500 items 17 and 17b carry the referring provider an 837P claim names (2310A), instead of dropping it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cleanclaim.formats.pdf_cms1500 import LAYOUT, render_cms1500
from cleanclaim.model import Encounter
from tests.formats.pdf.conftest import Word, pt_visit_data
from tests.formats.pdf.test_cms1500 import _box_text

WordReader = Callable[[Path], list[Word]]
LABEL_17 = "17. NAME OF REFERRING PROVIDER OR OTHER SOURCE"


def rendered(tmp_path: Path, read_words: WordReader, referring: dict[str, str] | None) -> list[Word]:
    data = pt_visit_data()
    if referring is not None:
        data["referring_provider"] = referring
    path = tmp_path / "claim.pdf"
    render_cms1500(Encounter.model_validate(data), path)
    return read_words(path)


def test_item_17_names_the_referrer_with_qualifier_dn_and_17b_holds_the_npi(
        tmp_path: Path, read_words: WordReader) -> None:
    found = rendered(tmp_path, read_words, {"npi": "1245319599", "last_name": "Referrer", "first_name": "Rita"})
    # NUCC 02/12 item 17: qualifier DN (referring provider) left of the name, first name first
    assert _box_text(found, LAYOUT["17"]) == f"{LABEL_17} DN RITA REFERRER"
    assert _box_text(found, LAYOUT["17b"]) == "17b. NPI 1245319599"
    assert _box_text(found, LAYOUT["17a"]) == "17a."  # no other id is invented
    # the boxes beside stay as they were
    assert _box_text(found, LAYOUT["18"]) == "18. HOSPITALIZATION DATES RELATED TO CURRENT SERVICES"


def test_a_referrer_without_an_npi_fills_item_17_only(tmp_path: Path, read_words: WordReader) -> None:
    found = rendered(tmp_path, read_words, {"last_name": "Referrer"})
    assert _box_text(found, LAYOUT["17"]) == f"{LABEL_17} DN REFERRER"
    assert _box_text(found, LAYOUT["17b"]) == "17b. NPI"


def test_no_referrer_leaves_items_17_and_17b_blank(tmp_path: Path, read_words: WordReader) -> None:
    found = rendered(tmp_path, read_words, None)
    assert _box_text(found, LAYOUT["17"]) == LABEL_17
    assert _box_text(found, LAYOUT["17b"]) == "17b. NPI"


def test_17a_sits_above_17b_in_the_column_of_the_form() -> None:
    top, bottom = LAYOUT["17a"], LAYOUT["17b"]
    assert (top.x, top.w) == (bottom.x, bottom.w)
    assert top.bottom == bottom.y
    assert (top.y, bottom.bottom) == (LAYOUT["17"].y, LAYOUT["17"].bottom)
    assert top.right == LAYOUT["18"].x
