"""Unit arithmetic: the domain facts' worked cases (coding-facts.md, TEST CASES) and properties of each method."""

from __future__ import annotations

from itertools import combinations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cleanclaim.timing import (
    allocate_cms,
    allocate_per_code,
    at_least_units,
    base_addon_units,
    cms_minutes_for_units,
    cms_total_units,
    cms_unit_range,
    midpoint_units,
    split_assistant_units,
)

CODES = ["97110", "97112", "97116", "97140", "97530", "97535", "97035"]


@pytest.mark.parametrize(
    ("minutes", "units"),
    [(7, 0), (8, 1), (22, 1), (23, 2), (37, 2), (38, 3), (52, 3), (53, 4), (67, 4), (68, 5), (82, 5),
     (83, 6), (97, 6), (98, 7), (112, 7), (113, 8), (127, 8)],
)
def test_t6_cms_unit_table(minutes: int, units: int) -> None:
    assert cms_total_units(minutes) == units
    assert allocate_cms({"97535": minutes}).units == {"97535": units}


def test_t1_more_units_to_the_code_with_more_time() -> None:
    result = allocate_cms({"97112": 24, "97110": 23})
    assert result.total_units == 3
    assert result.units == {"97112": 2, "97110": 1}
    assert result.clinician_choice == ()


def test_t2_tie_is_clinician_choice_never_one_code_times_three() -> None:
    result = allocate_cms({"97112": 20, "97110": 20})
    assert sorted(result.units.values()) == [1, 2]
    assert result.clinician_choice == ("97110", "97112")
    assert any("clinician's choice" in line for line in result.explanation)


def test_t3_seven_minutes_beat_a_three_minute_leftover() -> None:
    assert allocate_cms({"97110": 33, "97140": 7}).units == {"97110": 2, "97140": 1}


def test_t4_four_codes_forty_nine_minutes() -> None:
    result = allocate_cms({"97110": 18, "97140": 13, "97116": 10, "97035": 8})
    assert result.units == {"97110": 1, "97140": 1, "97116": 1, "97035": 0}


def test_t5_single_service_under_eight_minutes() -> None:
    result = allocate_cms({"97110": 7})
    assert result.units == {"97110": 0}
    assert "under 8 minutes" in result.explanation[-1]


def test_two_short_services_give_one_unit_to_the_larger() -> None:
    assert allocate_cms({"97110": 7, "97140": 5}).units == {"97110": 1, "97140": 0}


def test_three_seven_minute_services_one_unit_clinician_choice() -> None:
    result = allocate_cms({"97110": 7, "97112": 7, "97140": 7})
    assert result.total_units == 1
    assert sum(result.units.values()) == 1
    assert result.clinician_choice == ("97110", "97112", "97140")


def test_explanation_shows_the_arithmetic() -> None:
    result = allocate_cms({"97112": 24, "97110": 23})
    assert result.explanation[0] == "Total timed minutes 47 → 3 units (CMS 8-minute rule: 38–52 minutes = 3)."


@pytest.mark.parametrize(
    ("minutes", "cms_total", "per_code_total"),
    [
        ({"97110": 10, "97112": 10, "97140": 10}, 2, 3),  # CMS gives fewer units
        ({"97110": 7, "97112": 7}, 1, 0),  # CMS gives more units
        ({"97110": 20, "97112": 18}, 3, 2),  # CMS gives more units
        ({"97110": 24, "97112": 23}, 3, 4),  # per-code rounds each 23-24 minutes up to 2
        ({"97110": 30, "97112": 15}, 3, 3),  # full blocks only: the same
    ],
)
def test_cms_and_per_code_differ_where_the_facts_say(minutes: dict[str, int], cms_total: int,
                                                      per_code_total: int) -> None:
    assert allocate_cms(minutes).total_units == cms_total
    assert allocate_per_code(minutes).total_units == per_code_total


@given(st.dictionaries(st.sampled_from(CODES), st.integers(min_value=0, max_value=130), min_size=1, max_size=6))
def test_cms_total_is_the_table_over_total_minutes(minutes: dict[str, int]) -> None:
    result = allocate_cms(minutes)
    assert sum(result.units.values()) == result.total_units == (sum(minutes.values()) + 7) // 15


@given(st.dictionaries(st.sampled_from(CODES), st.integers(min_value=0, max_value=130), min_size=1, max_size=6))
def test_cms_floor_per_code_and_at_most_one_extra(minutes: dict[str, int]) -> None:
    result = allocate_cms(minutes)
    for code, spent in minutes.items():
        assert spent // 15 <= result.units[code] <= spent // 15 + 1
        if spent >= 15:
            assert result.units[code] >= 1


@given(st.dictionaries(st.sampled_from(CODES), st.integers(min_value=0, max_value=130), min_size=1, max_size=6))
def test_per_code_is_each_code_on_its_own(minutes: dict[str, int]) -> None:
    result = allocate_per_code(minutes)
    for code, spent in minutes.items():
        assert result.units[code] == ((spent + 7) // 15 if spent >= 8 else 0)


@given(st.integers(min_value=0, max_value=300))
def test_per_code_and_cms_agree_on_a_single_code(a: int) -> None:
    assert allocate_cms({"97110": a}).units == allocate_per_code({"97110": a}).units


def test_cms_unit_range_of_the_worked_cases() -> None:
    assert cms_unit_range({"97112": 24, "97110": 23}) == {"97112": (2, 2), "97110": (1, 1)}  # T1: no tie
    assert cms_unit_range({"97112": 20, "97110": 20}) == {"97112": (1, 2), "97110": (1, 2)}  # T2: either gets it
    assert cms_unit_range({"97110": 7, "97112": 7, "97140": 7}) == dict.fromkeys(("97110", "97112", "97140"), (0, 1))
    # 97110 and 97112 both surely get their extra unit; 97140 and 97116 tie for the third, 97035 gets none
    assert cms_unit_range({"97110": 14, "97112": 13, "97140": 10, "97116": 10, "97035": 3}) == {
        "97110": (1, 1), "97112": (1, 1), "97140": (0, 1), "97116": (0, 1), "97035": (0, 0)}
    assert cms_unit_range({"97110": 7}) == {"97110": (0, 0)}  # T5


def _every_cms_allocation(minutes: dict[str, int]) -> list[dict[str, int]]:
    """Every allocation the CMS steps allow, written from the steps themselves: full blocks, then the units left go
    to codes with leftover minutes such that no code left out has more leftover than one given a unit."""
    total = (sum(minutes.values()) + 7) // 15
    full = {code: spent // 15 for code, spent in minutes.items()}
    leftover = {code: spent % 15 for code, spent in minutes.items()}
    remaining = total - sum(full.values())
    allocations = []
    for given_unit in combinations([code for code in minutes if leftover[code]], remaining):
        left_out = [leftover[code] for code in minutes if leftover[code] and code not in given_unit]
        if all(leftover[code] >= max(left_out, default=0) for code in given_unit):
            allocations.append({code: full[code] + (code in given_unit) for code in minutes})
    return allocations


@given(st.dictionaries(st.sampled_from(CODES), st.integers(min_value=0, max_value=130), min_size=1, max_size=6))
def test_cms_unit_range_spans_every_tie_break(minutes: dict[str, int]) -> None:
    allocations = _every_cms_allocation(minutes)
    assert allocate_cms(minutes).units in allocations
    assert cms_unit_range(minutes) == {
        code: (min(a[code] for a in allocations), max(a[code] for a in allocations)) for code in minutes}


def test_cms_bands() -> None:
    assert cms_minutes_for_units(0) == (0, 7)
    assert cms_minutes_for_units(3) == (38, 52)


@pytest.mark.parametrize(
    ("minutes", "unit", "units"),
    [(7, 15, 0), (8, 15, 1), (15, 30, 0), (16, 30, 1), (45, 30, 1), (46, 30, 2), (30, 60, 0), (31, 60, 1)],
)
def test_midpoint_rule(minutes: int, unit: int, units: int) -> None:
    assert midpoint_units(minutes, unit) == units


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [(15, (0, 0)), (16, (1, 0)), (37, (1, 0)), (38, (1, 1)), (52, (1, 1)), (53, (1, 2)), (68, (1, 3))],
)
def test_96158_with_96159(minutes: int, expected: tuple[int, int]) -> None:
    assert base_addon_units(minutes, 30, 16, 15) == expected


@pytest.mark.parametrize(("minutes", "units"), [(29, 0), (30, 1), (90, 1)])
def test_at_least_codes_need_the_full_time(minutes: int, units: int) -> None:
    assert at_least_units(minutes, 30) == units


def test_negative_minutes_rejected() -> None:
    with pytest.raises(ValueError, match="whole number"):
        cms_total_units(-1)


class TestAssistant:
    def test_assistant_full_block_and_mixed_unit(self) -> None:
        # 38 min of 97110, 18 by the PTA alone: 1 PT unit, 1 PTA unit, mixed 5 PT + 3 PTA (38%) -> CQ
        split = split_assistant_units(3, 38, 18, code="97110")
        assert (split.units_by_therapist, split.units_with_assistant) == (1, 2)

    def test_de_minimis_ten_percent_or_less(self) -> None:
        # 23 min, 2 units, assistant alone 2 min: full PT unit, mixed 8 min of which 2 by the PTA (25%) -> CQ
        assert split_assistant_units(2, 23, 2).units_with_assistant == 1
        # 30 min, 2 units, assistant 1 minute in a 15-minute mixed unit (6.7%) -> no CQ
        assert split_assistant_units(2, 30, 1).units_with_assistant == 0

    def test_two_remaining_units_each_nine_to_fourteen_minutes(self) -> None:
        # CY2022 PFS: PT 13 and PTA 10 minutes of one code, 2 units left: 1 with CQ, 1 without
        split = split_assistant_units(2, 23, 10, code="97110")
        assert (split.units_by_therapist, split.units_with_assistant) == (1, 1)
        assert "CY2022" in split.explanation[-1]
        # 14 + 14 = 28 minutes: still the special case; 15 + 9 is a full PT unit plus a mixed one
        assert split_assistant_units(2, 28, 14).units_with_assistant == 1
        assert split_assistant_units(2, 24, 9).units_with_assistant == 1
        assert split_assistant_units(2, 24, 8).units_with_assistant == 1  # 16 PT: full unit; mixed 1 + 8 -> CQ

    def test_untimed_service_judged_as_a_whole(self) -> None:
        assert split_assistant_units(1, 40, 5, unit_minutes=None).units_with_assistant == 1
        assert split_assistant_units(1, 40, 4, unit_minutes=None).units_with_assistant == 0

    def test_all_assistant(self) -> None:
        assert split_assistant_units(2, 30, 30).units_with_assistant == 2

    def test_assistant_minutes_cannot_exceed_total(self) -> None:
        with pytest.raises(ValueError, match="exceed"):
            split_assistant_units(1, 10, 11)
