"""Digits are ASCII: Python's str.isdigit(), int(), Decimal() and \\d (and Polars' \\d) take superscript and other
scripts' digits ("²", "١"), which no X12 element or claim field holds. Each is an error at its element or field, and
the other claims are still read."""

from __future__ import annotations

from pathlib import Path

import pytest

from cleanclaim.formats.claim_table import read_claim_table
from cleanclaim.formats.encounters import parse_encounters
from cleanclaim.formats.x12_837p import read_837p

from .conftest import FIXTURES

HARBOR = FIXTURES / "harbor_pt_claims.837"
SV1 = "SV1*HC:97530:GP*97.5*UN*1.5***1~"


@pytest.mark.parametrize(
    ("old", "new", "element"),
    [
        (SV1, "SV1*HC:97530:GP*97.5*UN*1.5***²~", "SV107"),  # int("²") raises; "²".isdigit() is True
        (SV1, "SV1*HC:97530:GP*97.5*UN*1.5***١~", "SV107"),
        (SV1, "SV1*HC:97530:GP*٩٧.٥*UN*1.5***1~", "SV102"),
        (SV1, "SV1*HC:97530:GP*97.5*UN*١.٥***1~", "SV104"),
        ("CLM*CLM-1003*97.5***11:B:1*Y*A*Y*Y~", "CLM*CLM-1003*97.5***١١:B:1*Y*A*Y*Y~", "CLM05"),
    ],
)
def test_other_digits_in_an_837p_are_element_errors(old: str, new: str, element: str) -> None:
    text = HARBOR.read_text()
    assert old in text
    result = read_837p(text.replace(old, new))
    assert [e.id for e in result.encounters] == ["CLM-1001", "CLM-1002", "CLM-1004"]
    assert getattr(result.errors[0], "element", None) == element


def test_the_same_elements_in_ascii_digits_are_read() -> None:
    result = read_837p(HARBOR.read_text())
    assert [e.id for e in result.encounters] == ["CLM-1001", "CLM-1002", "CLM-1003", "CLM-1004"]


ENCOUNTER = """\
id: E1
date: 2026-03-02
patient: {id: P1}
provider: {npi: "1234567893", discipline: PT}
lines: [{code: "97110", units: "1", charge: "45.00", dx_pointers: "1"}]
"""


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('units: "1"', 'units: "١"', "lines.0.units"),
        ('charge: "45.00"', 'charge: "٤٥.00"', "lines.0.charge"),
        ('dx_pointers: "1"', 'dx_pointers: "²"', "lines.0.dx_pointers.0"),
    ],
)
def test_other_digits_in_an_encounter_are_field_errors(old: str, new: str, field: str) -> None:
    assert old in ENCOUNTER
    result = parse_encounters(ENCOUNTER.replace(old, new), "e.yaml")
    assert result.encounters == []
    assert [e.field for e in result.errors] == [field]


def test_the_encounter_in_ascii_digits_is_read() -> None:
    result = parse_encounters(ENCOUNTER, "e.yaml")
    assert result.errors == []
    assert [str(line.units) for line in result.encounters[0].lines] == ["1"]


def test_other_digits_in_a_claim_table_pointer_reject_that_row_only(tmp_path: Path) -> None:
    path = tmp_path / "lines.csv"
    path.write_text("encounter_id,date,code,units,dx_pointers\nE1,2026-03-02,97110,1,١\nE2,2026-03-02,97110,1,1\n",
                    encoding="utf-8")
    table = read_claim_table(path)
    assert table.lines.get_column("encounter_id").to_list() == ["E2"]
    assert [(e.row, e.field) for e in table.errors] == [(2, "dx_pointers")]
