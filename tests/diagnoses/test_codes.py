"""Code shape: the dot and no-dot forms, case and spaces, and what is rejected before any lookup."""

from __future__ import annotations

import pytest

from cleanclaim.diagnoses import format_diagnosis, is_diagnosis_format, normalize_diagnosis


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("m62.81", "M6281"),
        ("M6281", "M6281"),
        (" M62.81 ", "M6281"),
        ("m 62.8 1", "M6281"),
        ("e11", "E11"),
        ("s72.001a", "S72001A"),
        ("E11.", "E11"),  # a trailing dot is sloppy, not ambiguous: the header E11
    ],
)
def test_normalize_accepts_dot_case_and_spaces(given: str, normal: str) -> None:
    assert normalize_diagnosis(given) == normal


def test_normalize_keeps_a_misplaced_dot_so_the_shape_check_fails() -> None:
    assert normalize_diagnosis("M6.281") == "M6.281"
    assert not is_diagnosis_format("M6.281")


@pytest.mark.parametrize(("code", "display"), [("M6281", "M62.81"), ("E11", "E11"), ("s72001a", "S72.001A"),
                                               ("Z71.3", "Z71.3")])
def test_format_for_display(code: str, display: str) -> None:
    assert format_diagnosis(code) == display


@pytest.mark.parametrize("code", ["M62", "M62.81", "F17.210", "S72.001A", "Z3A.01", "C4A.9", "QA0.0101", "U07.1"])
def test_valid_shapes(code: str) -> None:
    assert is_diagnosis_format(code)


@pytest.mark.parametrize(
    "code",
    ["", "M", "M6", "62.81", "1M62", "M62.81234", "M62-81", "M62.8!", "M62..81", "M.6281", "É11"],
)
def test_invalid_shapes(code: str) -> None:
    assert not is_diagnosis_format(code)
