"""Lookups against the bundled FY2026 release: billable codes, headers, unknown codes, shapes and dates."""

from __future__ import annotations

import datetime as dt

import pytest

from cleanclaim.diagnoses import DiagnosisStatus, lookup_diagnosis, release_for, releases_for

IN_FY2026 = dt.date(2026, 5, 4)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("M62.81", "muscle weakness"),
        ("E11.9", "type 2 diabetes mellitus without complications"),
        ("Z71.3", "dietary counseling"),
        ("F17.210", "nicotine dependence, cigarettes"),
        ("S72.001A", "initial encounter for closed fracture"),  # a 7th-character code
    ],
)
def test_billable_codes(code: str, words: str) -> None:
    found = lookup_diagnosis(code, IN_FY2026)
    assert found.status is DiagnosisStatus.BILLABLE
    assert found.billable
    assert found.description is not None
    assert words in found.description.lower()
    assert found.release == "ICD-10-CM FY2026 April update"
    assert found.covers_date
    assert found.note is None
    assert found.billable_children is None


@pytest.mark.parametrize(("header", "child_prefix"), [("M62", "M62."), ("E11", "E11."), ("F17.21", "F17.21")])
def test_headers_are_not_billable_and_point_to_children(header: str, child_prefix: str) -> None:
    found = lookup_diagnosis(header, IN_FY2026)
    assert found.status is DiagnosisStatus.NOT_BILLABLE
    assert not found.billable
    assert found.description  # a header still has a title
    assert found.billable_children is not None
    assert found.billable_children > 1
    assert found.example_child is not None
    assert found.example_child.startswith(child_prefix)
    assert lookup_diagnosis(found.example_child, IN_FY2026).billable


def test_header_child_count_is_the_billable_codes_under_it() -> None:
    # F17.21 (cigarettes) has exactly the five codes F17.210, .211, .213, .218, .219.
    found = lookup_diagnosis("F17.21", IN_FY2026)
    assert found.billable_children == 5
    assert all(lookup_diagnosis(f"F17.21{d}", IN_FY2026).billable for d in "01389")
    assert lookup_diagnosis("F17.212", IN_FY2026).status is DiagnosisStatus.UNKNOWN


@pytest.mark.parametrize("form", ["M62.81", "M6281", "m62.81", " m62 .81 "])
def test_dot_and_no_dot_forms_give_the_same_answer(form: str) -> None:
    found = lookup_diagnosis(form, IN_FY2026)
    assert found.status is DiagnosisStatus.BILLABLE
    assert found.code == "M6281"
    assert found.display == "M62.81"


@pytest.mark.parametrize("code", ["Z99.99", "M62.8999", "U99", "E11.99"])
def test_unknown_codes(code: str) -> None:
    found = lookup_diagnosis(code, IN_FY2026)
    assert found.status is DiagnosisStatus.UNKNOWN
    assert found.description is None
    assert not found.billable


@pytest.mark.parametrize("code", ["M6.281", "62.81", "M62.812345", "", "96156"])
def test_invalid_shapes_are_not_looked_up(code: str) -> None:
    found = lookup_diagnosis(code, IN_FY2026)
    assert found.status is DiagnosisStatus.INVALID_FORMAT
    assert found.description is None


@pytest.mark.parametrize(("date_of_service", "nearest"), [
    (dt.date(2026, 11, 1), "ICD-10-CM FY2026 April update"),
    (dt.date(2015, 10, 1), "ICD-10-CM FY2021"),  # ICD-10-CM's first day; FY2016-FY2020 are not bundled
    (dt.date(2020, 9, 30), "ICD-10-CM FY2021"),
])
def test_a_date_no_release_covers_is_answered_by_the_nearest_release_with_a_note(date_of_service: dt.date,
                                                                                  nearest: str) -> None:
    found = lookup_diagnosis("M62.81", date_of_service)
    assert found.status is DiagnosisStatus.BILLABLE  # the nearest release still answers ...
    assert not found.covers_date  # ... but never silently
    assert found.note is not None
    assert found.release == nearest
    assert nearest in found.note
    assert str(date_of_service) in found.note


@pytest.mark.parametrize("date_of_service", [dt.date(2025, 10, 1), dt.date(2026, 9, 30)])
def test_fy2026_runs_october_1_to_september_30(date_of_service: dt.date) -> None:
    assert lookup_diagnosis("E11.9", date_of_service).covers_date


def test_dates_before_a_mid_year_update_that_changed_codes_are_covered_with_a_caveat() -> None:
    """FY2021 is bundled as its January 1, 2021 update (which added Z11.52, J12.82 ...): a November 2020 date is
    answered by it with a note; from January 1 there is none."""
    before = lookup_diagnosis("E11.9", dt.date(2020, 11, 15))
    after = lookup_diagnosis("E11.9", dt.date(2021, 1, 1))
    assert before.covers_date
    assert before.note is not None
    assert "2021-01-01" in before.note and "not told apart" in before.note
    assert after.note is None


@pytest.mark.parametrize("date_of_service", [dt.date(2024, 10, 1), dt.date(2025, 3, 31), dt.date(2025, 10, 1),
                                             dt.date(2026, 1, 15)])
def test_an_april_update_that_changed_no_code_answers_the_whole_year_without_a_caveat(
        date_of_service: dt.date) -> None:
    """The April 2025 and April 2026 updates changed no code (CDC's April 2025 order addenda; the April 2026 table
    matches CMS's October 2025 counts), so the bundled April files answer October-March without a note."""
    found = lookup_diagnosis("E11.9", date_of_service)
    assert found.covers_date
    assert not found.release_info.update_changed_codes
    assert found.note is None


def test_releases_for_many_dates_choose_as_one_date_does() -> None:
    dates = [dt.date(2019, 5, 1), dt.date(2020, 10, 1), dt.date(2022, 3, 31), dt.date(2022, 4, 1), IN_FY2026,
             dt.date(2026, 9, 30), dt.date(2026, 10, 1), dt.date(2031, 1, 1)]
    chosen = releases_for(dates)
    assert chosen == {day: release_for(day) for day in dates}
    assert not chosen[dt.date(2031, 1, 1)][1]  # no release covers it: the nearest answers
    assert chosen[IN_FY2026][1]
