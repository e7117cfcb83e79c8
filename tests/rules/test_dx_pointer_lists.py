"""invalid-dx-pointer on a large run: most lines point at [1] (which can break nothing, so the rule leaves them out
before it reads any list's minimum, maximum or distinct count), the others at every kind of list, nulls among them
(a Parquet input can hold a null pointer), on encounters of none, one and two diagnoses. The findings are exactly
those listed, and the same when every line is judged in small runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from cleanclaim.model import Encounter
from cleanclaim.payers import load_profile
from cleanclaim.rules.catalogue import diagnosis
from cleanclaim.rules.engine import RuleSelection, findings_table
from cleanclaim.rules.tables import SMALL_RUN, Tables, tables_from_encounters

_DIAGNOSES = [["M62.81", "Z91.81"], ["M62.81"], []]
_PAYERS = {"medicare": load_profile("medicare")}
_RULE = RuleSelection(select=frozenset({"invalid-dx-pointer"}))

# the lists given to the second line of chosen encounters (a null element written as None)
_LISTS: list[list[int | None]] = [
    [2, 1], [3], [0, 5], [1, 1], [1, 2, 1, 2, 1], [1, 2, 3, 4], [2], [1, None], [None], [None, None], [None, 3],
    [-1], [4, 3, 2, 1],
]


def _tables(count: int) -> Tables:
    encounters = [Encounter.model_validate({
        "id": f"E{number:05d}", "date": "2026-07-01", "patient": {"id": f"P{number}"},
        "diagnoses": _DIAGNOSES[number % 3], "provider": {"npi": "1234567893", "discipline": "PT"},
        "lines": [{"code": "97110", "modifiers": ["GP"], "units": 1, "minutes": 15, "dx_pointers": [1]},
                  {"code": "97530", "modifiers": ["GP"], "units": 1, "minutes": 15, "dx_pointers": [1]}],
    }) for number in range(count)]
    tables = tables_from_encounters(encounters, _PAYERS, as_of=dt.date(2026, 12, 1))
    # encounter n (n < 3 * len(_LISTS)) gives its second line list n // 3: each list on each number of diagnoses
    chosen: list[list[Any] | None] = [[1]] * tables.lines.height
    for number in range(min(count, 3 * len(_LISTS))):
        chosen[2 * number + 1] = _LISTS[number // 3]
    tables.lines = tables.lines.with_columns(pl.Series("dx_pointers", chosen, dtype=pl.List(pl.Int64)))
    return tables


def _outside(pointers: str, count: int) -> str:
    return f"{pointers} outside 1-{count} (the encounter has {count} diagnoses)"


_FIVE = "5 pointers, at most 4 allowed"
_FOUND = [
    # encounters n % 3 == 0 have two diagnoses, n % 3 == 1 one: [2, 1], [1, None] and [None] fit, and an encounter
    # without a diagnosis (n % 3 == 2) is missing-diagnosis's; the messages leave null pointers out ([None, None] is a
    # repeat of nothing, [None, 3] reads "3")
    ('E00001', '2, 1', _outside('2', 1)),
    ('E00003', '3', _outside('3', 2)),
    ('E00004', '3', _outside('3', 1)),
    ('E00006', '0, 5', _outside('0, 5', 2)),
    ('E00007', '0, 5', _outside('0, 5', 1)),
    ('E00009', '1, 1', 'pointer 1 repeated'),
    ('E00010', '1, 1', 'pointer 1 repeated'),
    ('E00012', '1, 2, 1, 2, 1', "; ".join([_FIVE, 'pointer 1, 2 repeated'])),
    ('E00013', '1, 2, 1, 2, 1', "; ".join([_outside('2', 1), _FIVE, 'pointer 1, 2 repeated'])),
    ('E00015', '1, 2, 3, 4', _outside('3, 4', 2)),
    ('E00016', '1, 2, 3, 4', _outside('2, 3, 4', 1)),
    ('E00019', '2', _outside('2', 1)),
    ('E00027', '', 'pointer  repeated'),
    ('E00028', '', 'pointer  repeated'),
    ('E00030', '3', _outside('3', 2)),
    ('E00031', '3', _outside('3', 1)),
    ('E00033', '-1', _outside('-1', 2)),
    ('E00034', '-1', _outside('-1', 1)),
    ('E00036', '4, 3, 2, 1', _outside('4, 3', 2)),
    ('E00037', '4, 3, 2, 1', _outside('4, 3, 2', 1)),
]
_EXPECTED = [(encounter, 2, f"Line 2 (97530) has diagnosis pointers ({pointers}) that do not fit: {problems}")
             for encounter, pointers, problems in _FOUND]


def _messages(findings: pl.DataFrame) -> list[tuple[str, int, str]]:
    return list(findings.select("encounter", "line", "message").iter_rows())


def test_a_large_run_flags_exactly_the_lists_that_do_not_fit() -> None:
    tables = _tables(SMALL_RUN)
    assert tables.lines.height > SMALL_RUN
    assert _messages(findings_table(tables, _RULE)) == _EXPECTED


@pytest.mark.parametrize("chunk", [100, 7])
def test_small_runs_of_the_same_claims_flag_the_same(chunk: int) -> None:
    # a small run is screened line by line in Python first; then the same plan judges the lists
    small = [row for start in range(0, 3 * len(_LISTS), chunk)
             for row in _messages(findings_table(_sliced(start, chunk), _RULE))]
    assert small == _EXPECTED


def _sliced(start: int, chunk: int) -> Tables:
    tables = _tables(SMALL_RUN)
    ids = [f"E{number:05d}" for number in range(start, start + chunk)]
    tables.lines = tables.lines.filter(pl.col("encounter_id").is_in(ids))
    tables.encounters = tables.encounters.filter(pl.col("encounter_id").is_in(ids))
    assert tables.small
    return tables


def test_the_large_run_narrowing_keeps_every_line_the_rule_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    # the same large run with the suspects' narrowing turned off (every line judged by the rule's own filter)
    tables = _tables(SMALL_RUN)
    narrowed = findings_table(tables, _RULE)
    monkeypatch.setattr(diagnosis, "_suspect_pointer_lines", lambda lines: lines)
    assert findings_table(_tables(SMALL_RUN), _RULE).equals(narrowed)


def test_suspects_are_the_lists_that_are_not_rising_within_the_diagnoses() -> None:
    # [1], [1, 2] and [2] on two diagnoses are clean and left out, and so is an empty list (nothing to judge); out of
    # order, repeated, null, out of range and five-long lists are suspects; lines of an encounter without diagnoses
    # are not judged
    lists: list[list[int | None] | None] = [[1], [1, 2], [2], [2, 1], [1, 1], [1, None], [None], [], None, [0],
                                            [3], [1, 2, 1], [1, 2, 3, 4, 5], [1, 2], [2, 1]]
    counts = [2] * 13 + [0, 0]
    lines = pl.DataFrame({"dx_pointers": lists, "dx_count": counts},
                         schema={"dx_pointers": pl.List(pl.Int64), "dx_count": pl.Int64})
    suspects = diagnosis._suspect_pointer_lines(lines).get_column("dx_pointers").to_list()
    assert suspects == [[2, 1], [1, 1], [1, None], [None], None, [0], [3], [1, 2, 1], [1, 2, 3, 4, 5]]
