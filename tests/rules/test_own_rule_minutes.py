"""`time_units._own_rule_minutes`: on a large run below-minimum-time and the units plan read the family pools of the
codes timed by their own rule (per-unit, typical, base + add-on, at-least, time-range), summed over those codes'
lines alone; their findings must be exactly those read from every line's pools (`_family_minutes`).

The batch mixes, over more than SMALL_RUN lines, those codes under and over their minimum times, add-ons with and
without their base code, lines with and without minutes, beside the 15-minute and untimed lines of the same claims.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from cleanclaim.model import Encounter
from cleanclaim.payers import load_profile
from cleanclaim.rules.catalogue import time_units, units
from cleanclaim.rules.engine import RuleSelection, findings_table
from cleanclaim.rules.tables import SMALL_RUN, Tables, tables_from_encounters

_OWN = [("96158", 30), ("96159", 15), ("97802", 15), ("98960", 30), ("G0447", 15), ("0592T", 30), ("99406", 3),
        ("99407", 10), ("97550", 30), ("97551", 15), ("99213", 20), ("G0136", 5), ("96150", 15)]
_RULES = frozenset({"below-minimum-time", "units-exceed-time", "units-below-time"})


def _encounter(number: int) -> Encounter:
    code, minutes = _OWN[number % len(_OWN)]
    # under, at and over the code's time, or none documented; units 1 to 3
    documented = [None, minutes // 2, minutes, minutes * 2 + 7][number // len(_OWN) % 4]
    lines: list[dict[str, Any]] = [
        {"code": "97110", "modifiers": ["GP"], "units": 1, "minutes": 15},
        {"code": code, "units": 1 + number % 3, "minutes": documented},
        {"code": "97161", "modifiers": ["GP"], "units": 1, "minutes": 40},
    ]
    if number % 6 == 0:  # a base code's add-on on the same claim (its minutes pool with the base's)
        lines.append({"code": "96159", "units": 1 + number % 4 // 2, "minutes": 20 if number % 12 else None})
    if number % 7 == 0:  # the same code on a second line, another date
        lines.append({"code": code, "units": 1, "minutes": minutes + 1, "date": "2026-07-03"})
    return Encounter.model_validate({
        "id": f"E{number:05d}", "date": "2026-07-01", "payer": "medicare" if number % 3 else "commercial",
        "patient": {"id": f"P{number // 2}"}, "diagnoses": ["M62.81"],
        "provider": {"npi": "1234567893", "discipline": "PT"}, "lines": lines,
    })


_PAYERS = {name: load_profile(name) for name in ("medicare", "commercial")}


def _tables(numbers: range = range(SMALL_RUN // 2)) -> Tables:
    return tables_from_encounters([_encounter(number) for number in numbers], _PAYERS, as_of=dt.date(2026, 12, 1))


def test_the_pools_of_the_own_rule_codes_are_those_of_every_line() -> None:
    tables = _tables()
    assert not tables.small
    narrow = time_units._own_rule_minutes(tables)
    assert not tables.has_memo("family_minutes")  # summed over the own-rule codes' lines alone
    whole = time_units._family_minutes(tables)
    kept = whole.filter(pl.col("time_group").is_in(time_units._own_rule_groups(tables.book))).select(narrow.columns)
    assert narrow.equals(kept)
    assert 0 < narrow.height < whole.height
    assert narrow.get_column("group_has_minutes").n_unique() == 2


def test_a_large_run_finds_what_every_lines_pools_find(monkeypatch: pytest.MonkeyPatch) -> None:
    found = findings_table(_tables(), RuleSelection(select=_RULES))
    assert set(found.get_column("rule")) == _RULES
    monkeypatch.setattr(time_units, "_build_own_rule_minutes", time_units._family_minutes)
    assert found.equals(findings_table(_tables(), RuleSelection(select=_RULES)))


def test_a_large_run_finds_what_small_runs_of_the_same_patients_find() -> None:
    # a patient's claims are consecutive, so cutting the batch between patients keeps every finding and its order
    large = findings_table(_tables(), RuleSelection(select=_RULES))
    small = pl.concat([findings_table(_tables(range(start, start + 100)), RuleSelection(select=_RULES))
                       for start in range(0, SMALL_RUN // 2, 100)])
    assert large.equals(small)


def test_below_minimum_time_crosses_only_the_range_lines_that_may_fall_short(monkeypatch: pytest.MonkeyPatch) -> None:
    # a large run crosses with their family's members only the time-range lines under their own least time; the
    # findings must be those of crossing every time-range line, as a small run does
    selection = RuleSelection(select=frozenset({"below-minimum-time"}))
    narrowed = findings_table(_tables(), selection)
    ranged = narrowed.filter(pl.col("code").is_in(["99406", "99407"]))
    assert 0 < ranged.height < narrowed.height  # range lines and lines of a code's own minimum flagged
    tables = _tables()
    own = time_units._own_rule_minutes(tables).filter(pl.col("time_rule") == "range")
    may = own.filter(time_units._RANGE_MAY_FALL_SHORT)
    assert 0 < may.height < own.height  # the narrowing keeps some time-range lines and leaves others out
    monkeypatch.setattr(time_units, "SMALL_RUN", 10**9)  # every time-range line crossed, as on one claim
    assert narrowed.equals(findings_table(_tables(), selection))


def test_base_codes_read_their_add_ons_billed_as_from_every_code(monkeypatch: pytest.MonkeyPatch) -> None:
    # the base + add-on branch joins the add-on codes' rows only; with every code's rows in the join's table (what
    # it read before) the units findings must be the same, add-ons billed over, under and at what the time supports
    selection = RuleSelection(select=frozenset({"units-exceed-time", "units-below-time"}))
    narrowed = findings_table(_tables(), selection)
    assert {"96159"} <= set(narrowed.get_column("code"))
    monkeypatch.setattr(units, "_is_addon", lambda book: pl.lit(True))
    assert narrowed.equals(findings_table(_tables(), selection))


def _one_line_pools(number: int) -> Encounter:
    # one line of a code timed by its own rule per claim, under, at and over its time or none documented, among
    # 15-minute and untimed lines: no two of those lines share a family pool
    code, minutes = _OWN[number % len(_OWN)]
    documented = [None, minutes // 2, minutes, minutes * 2 + 7][number // len(_OWN) % 4]
    return Encounter.model_validate({
        "id": f"E{number:05d}", "date": "2026-07-01", "payer": "medicare" if number % 3 else "commercial",
        "patient": {"id": f"P{number // 2}"}, "diagnoses": ["M62.81"],
        "provider": {"npi": "1234567893", "discipline": "PT"},
        "lines": [{"code": "97110", "modifiers": ["GP"], "units": 1, "minutes": 15},
                  {"code": code, "units": 1 + number % 3, "minutes": documented},
                  {"code": "97161", "modifiers": ["GP"], "units": 1, "minutes": 40}],
    })


@pytest.mark.parametrize("repeats", [False, True])
def test_pools_of_one_line_each_are_those_of_the_windows(repeats: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    # without a repeated family pool each line is its pool, without the windows; with one, the windows run
    def tables() -> Tables:
        if repeats:
            return _tables()
        return tables_from_encounters([_one_line_pools(number) for number in range(SMALL_RUN // 2)], _PAYERS,
                                      as_of=dt.date(2026, 12, 1))

    narrow = time_units._own_rule_minutes(tables())
    whole = time_units._family_minutes(tables())
    kept = whole.filter(pl.col("time_group").is_in(time_units._own_rule_groups(tables().book))).select(narrow.columns)
    assert narrow.select(time_units._FAMILY_POOL_REPEATS).item() == repeats
    assert narrow.equals(kept)
    assert narrow.get_column("group_has_minutes").n_unique() == 2
    found = findings_table(tables(), RuleSelection(select=_RULES))
    assert found.height
    monkeypatch.setattr(time_units, "_build_own_rule_minutes", time_units._family_minutes)
    assert found.equals(findings_table(tables(), RuleSelection(select=_RULES)))
