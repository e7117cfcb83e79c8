"""Values the 837P writer refuses rather than write a file that reads back differently (issue 11): separators inside
element values, year-0001 dates, and values longer than their element. Each refusal names the encounter and the
field or element, never the value."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cleanclaim.formats.x12 import Delimiters
from cleanclaim.formats.x12_837p import ClaimFileError, read_837p, write_837p

from .conftest import BASE_ENCOUNTER, WRITER_OPTIONS, encounter


def _line(**changes: Any) -> dict[str, Any]:
    return {"code": "97110", "modifiers": ["GP"], "units": 1, "dx_pointers": [1], "charge": 45, **changes}


def _refused(**overrides: Any) -> list[str]:
    with pytest.raises(ClaimFileError) as raised:
        write_837p([encounter(**overrides)], **WRITER_OPTIONS)
    assert list(raised.value.problems) == ["E1"]
    return raised.value.problems["E1"]


@pytest.mark.parametrize("modifier", ["G:P", "G*P", "G~P", "G^P"])
def test_a_separator_inside_a_modifier_is_refused(modifier: str) -> None:
    problems = _refused(lines=[_line(modifiers=[modifier])])
    assert any(p.startswith("lines[1].modifiers[1] contains the separator") for p in problems), problems


def test_a_modifier_with_a_colon_would_read_back_as_two() -> None:
    # what the refusal prevents: the same text, had it been written, reads back as modifiers G and P
    written = write_837p([encounter(lines=[_line(modifiers=["GP"])])], **WRITER_OPTIONS)
    tampered = written.replace("HC:97110:GP", "HC:97110:G:P")
    assert read_837p(tampered).encounters[0].lines[0].modifiers == ["G", "P"]


def test_a_separator_of_the_chosen_set_in_a_code_is_refused() -> None:
    pipes = Delimiters(element="|", component=">", repetition="{", segment="!")
    with pytest.raises(ClaimFileError) as raised:
        write_837p([encounter(lines=[_line(code="97>10")])], **WRITER_OPTIONS, delimiters=pipes)
    assert any("lines[1].code contains the separator(s) '>'" in p for p in raised.value.problems["E1"])
    # ":" is data under those separators
    assert write_837p([encounter(lines=[_line(modifiers=["GP"])])], **WRITER_OPTIONS, delimiters=pipes)


def test_a_component_separator_in_a_name_is_refused() -> None:
    patient = {**BASE_ENCOUNTER["patient"], "last_name": "Example:Smith"}
    problems = _refused(patient=patient, subscriber={**BASE_ENCOUNTER["subscriber"], "last_name": None})
    assert any(p.startswith("NM103 contains the separator(s) ':'") for p in problems), problems
    assert not any("Smith" in p for p in problems)


@pytest.mark.parametrize(("field", "overrides"), [
    ("patient.birth_date", {"patient": {**BASE_ENCOUNTER["patient"], "birth_date": "0001-01-01"}}),
    ("lines[1].date", {"lines": [_line(date="0001-03-02")]}),
    ("patient.birth_date", {"patient": {**BASE_ENCOUNTER["patient"], "birth_date": "1899-12-31"}}),
])
def test_dates_before_1900_are_refused(field: str, overrides: dict[str, Any]) -> None:
    problems = _refused(**overrides)
    assert any(p.startswith(f"{field} is before 1900") for p in problems), problems


def test_a_birth_date_in_1900_is_written() -> None:
    patient = {**BASE_ENCOUNTER["patient"], "birth_date": "1900-01-01"}
    text = write_837p([encounter(patient=patient)], **WRITER_OPTIONS)
    assert read_837p(text).encounters[0].patient.birth_date == dt.date(1900, 1, 1)


@pytest.mark.parametrize(("length", "refused"), [(60, False), (61, True)])
def test_nm103_holds_sixty_characters(length: int, refused: bool) -> None:
    billing = {**BASE_ENCOUNTER["billing_provider"], "name": "H" * length}
    if refused:
        problems = _refused(billing_provider=billing)
        assert any(p == f"NM103 is {length} characters long; the 837P allows at most 60" for p in problems)
    else:
        assert write_837p([encounter(billing_provider=billing)], **WRITER_OPTIONS)


@pytest.mark.parametrize(("units", "refused"), [("123456789012.5", False), ("1234567890123.25", True)])
def test_sv104_holds_fifteen_characters(units: str, refused: bool) -> None:
    # The model caps units at model.MAX_UNITS, far below 15 characters; the writer's own bound still holds for a
    # line built past the model (model_construct), so no caller can write an element the TR3 does not allow.
    from decimal import Decimal

    from cleanclaim.model import ClaimLine

    claim = encounter(lines=[_line()])
    claim.lines = [ClaimLine.model_construct(**{**claim.lines[0].__dict__, "units": Decimal(units)})]
    if refused:
        with pytest.raises(ClaimFileError) as raised:
            write_837p([claim], **WRITER_OPTIONS)
        problems = raised.value.problems["E1"]
        assert any(p == "SV104 is 16 characters long; the 837P allows at most 15" for p in problems), problems
    else:
        assert write_837p([claim], **WRITER_OPTIONS)
