"""The timely-filing rule's holiday calendar, joined once per check, moves a deadline exactly as the day-by-day walk of
``next_workday`` does (test_claim_family checks that walk against OPM's published holiday tables)."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from cleanclaim.rules.catalogue.claim import next_workday, workday_deadlines


def test_every_day_of_fifteen_years_matches_the_walk() -> None:
    days = pl.date_range(dt.date(2020, 1, 1), dt.date(2034, 12, 31), eager=True)
    table = workday_deadlines(days)
    assert table.height == days.len()
    for nominal, workday, moved in table.iter_rows():
        assert (workday, moved) == next_workday(nominal)


@given(st.lists(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2150, 12, 31)), min_size=1, max_size=40))
def test_any_dates_match_the_walk(days: list[dt.date]) -> None:
    for nominal, workday, moved in workday_deadlines(pl.Series(days, dtype=pl.Date)).iter_rows():
        assert (workday, moved) == next_workday(nominal)


def test_weekend_before_a_monday_holiday_moves_to_tuesday() -> None:
    # OPM 2026: Birthday of Martin Luther King, Jr. on Monday 2026-01-19, so Saturday the 17th moves past it.
    table = workday_deadlines(pl.Series([dt.date(2026, 1, 17)], dtype=pl.Date))
    assert table.row(0) == (dt.date(2026, 1, 17), dt.date(2026, 1, 20), "Saturday 2026-01-17")
