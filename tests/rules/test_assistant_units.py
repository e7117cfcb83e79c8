"""The vectorised CQ/CO arithmetic of the modifier rules (``units_with_assistant``) must agree with
``timing.split_assistant_units``, the one place the CMS per-unit rule is written down (and explained to the user), so
the checker can never drift from it."""

from __future__ import annotations

import polars as pl
import pytest

from cleanclaim.rules.catalogue.modifiers import units_with_assistant
from cleanclaim.rules.tables import collect
from cleanclaim.timing import split_assistant_units

_SCHEMA = {"billed_units": pl.Int64, "service_minutes": pl.Int64, "assistant_minutes": pl.Int64,
           "split_unit_minutes": pl.Int64}


def _vectorised(rows: list[tuple[int, int, int, int | None]]) -> list[int]:
    frame = pl.LazyFrame(rows, schema=_SCHEMA, orient="row")
    return collect(units_with_assistant(frame)).get_column("units_with_assistant").to_list()


@pytest.mark.parametrize("unit_minutes", [15, 8, None])
def test_every_small_case_matches_split_assistant_units(unit_minutes: int | None) -> None:
    # every whole number of units (0-6) and minutes (0-95) with every possible assistant share of them
    rows = [(units, minutes, assistant, unit_minutes)
            for units in range(7) for minutes in range(96) for assistant in range(minutes + 1)]
    expected = [split_assistant_units(units, minutes, assistant, unit_minutes=unit_minutes).units_with_assistant
                for units, minutes, assistant, _ in rows]
    assert _vectorised(rows) == expected


def test_the_cms_billing_examples() -> None:
    # The cases of tests/test_timing.py TestAssistant (CMS "Billing examples using CQ/CO modifiers"), worked out:
    rows: list[tuple[int, int, int, int | None]] = [
        (3, 38, 18, 15),   # PT 20 min: 1 full unit; PTA 18: 1 full unit; mixed 5 + 3 (38% PTA) -> 2 with CQ
        (2, 23, 2, 15),    # PT 21: 1 full unit; mixed 6 + 2 (25% PTA) -> 1
        (2, 30, 1, 15),    # PT 29: 1 full unit; mixed 14 + 1 (6.7%, not over 10%) -> 0
        (2, 23, 10, 15),   # PT 13, PTA 10, two units left, each 9-14 minutes (CY2022 PFS) -> 1
        (2, 30, 30, 15),   # PTA alone throughout: 2 full units -> 2
        (1, 40, 5, None),  # untimed, 5 of 40 minutes (12.5%) -> 1
        (1, 40, 4, None),  # untimed, 4 of 40 minutes (10%, not over) -> 0
    ]
    assert _vectorised(rows) == [2, 1, 0, 1, 2, 1, 0]
