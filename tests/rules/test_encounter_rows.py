"""Each line's encounter row (`encounter_rows`), which missing-diagnosis and invalid-dx-pointer read encounter columns
by instead of joining on the text id. A large run's lines usually come grouped by encounter in the encounters' order,
and the row is then the run of the line's id; lines in any other order, a line without its encounter, an encounter
without lines take the join on the id; a repeated encounter id (where a join gives a line once per encounter row) and
a small run have no rows, and the rules join as before. On each layout the findings are those of the join."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import polars as pl
import pytest

from cleanclaim.model import Encounter
from cleanclaim.payers import load_profile
from cleanclaim.rules.catalogue import diagnosis
from cleanclaim.rules.engine import RuleSelection, findings_table
from cleanclaim.rules.tables import SMALL_RUN, Tables, encounter_rows, tables_from_encounters

_RULES = RuleSelection(select=frozenset({"missing-diagnosis", "invalid-dx-pointer"}))
_DIAGNOSES = [["M62.81", "Z91.81"], ["M62.81"], []]
_POINTERS = [[1], [2, 1], [3], [1, 1], [], [0]]


def _tables(count: int = SMALL_RUN) -> Tables:
    encounters = [Encounter.model_validate({
        "id": f"E{number:05d}", "date": "2026-07-01", "patient": {"id": f"P{number}"},
        "diagnoses": _DIAGNOSES[number % 3], "provider": {"npi": "1234567893", "discipline": "PT"},
        "lines": [{"code": "97110", "modifiers": ["GP"], "units": 1, "minutes": 15, "dx_pointers": [1]},
                  {"code": "97530", "modifiers": ["GP"], "units": 1, "minutes": 15,
                   "dx_pointers": _POINTERS[number % 5 + number % 2]}],
    }) for number in range(count)]
    return tables_from_encounters(encounters, {"medicare": load_profile("medicare")}, as_of=dt.date(2026, 12, 1))


def _shuffled(tables: Tables) -> None:
    tables.lines = tables.lines.sample(fraction=1.0, shuffle=True, seed=3)


def _line_without_encounter(tables: Tables) -> None:
    tables.encounters = tables.encounters.filter(pl.col("encounter_id") != "E00004")


def _encounter_without_lines(tables: Tables) -> None:
    tables.lines = tables.lines.filter(pl.col("encounter_id") != "E00005")


def _null_line_id(tables: Tables) -> None:
    tables.lines = tables.lines.with_columns(
        pl.when(pl.col("encounter_id") == "E00007").then(None).otherwise(pl.col("encounter_id")).alias("encounter_id"))


def _repeated_id(tables: Tables) -> None:
    # a second claim under E00002's id (E00010's, of one diagnosis), so its lines join twice
    tables.encounters = tables.encounters.with_columns(
        pl.when(pl.col("encounter_id") == "E00010").then(pl.lit("E00002")).otherwise(pl.col("encounter_id"))
        .alias("encounter_id"))


_LAYOUTS: dict[str, tuple[Callable[[Tables], None], bool]] = {  # the change, and whether rows are given
    "grouped": (lambda tables: None, True),
    "shuffled": (_shuffled, True),
    "line without encounter": (_line_without_encounter, True),
    "encounter without lines": (_encounter_without_lines, True),
    "null line id": (_null_line_id, True),
    "repeated id": (_repeated_id, False),
}


def _laid_out(layout: str) -> Tables:
    tables = _tables()
    _LAYOUTS[layout][0](tables)
    return tables


@pytest.mark.parametrize("layout", list(_LAYOUTS))
def test_a_lines_row_is_its_encounters_row(layout: str) -> None:
    tables = _laid_out(layout)
    rows = encounter_rows(tables)
    if not _LAYOUTS[layout][1]:
        assert rows is None
        return
    assert rows is not None and rows.len() == tables.lines.height
    by_row = tables.encounters.get_column("encounter_id").gather(rows)
    line_ids = tables.lines.get_column("encounter_id")
    known = line_ids.is_in(tables.encounters.get_column("encounter_id").implode()).fill_null(False)
    assert by_row.filter(known).equals(line_ids.filter(known))
    assert rows.filter(~known).null_count() == (~known).sum()


def test_a_small_run_has_no_rows() -> None:
    tables = _tables(10)
    assert tables.small and encounter_rows(tables) is None


@pytest.mark.parametrize("layout", list(_LAYOUTS))
def test_findings_by_row_are_those_of_the_join(layout: str, monkeypatch: pytest.MonkeyPatch) -> None:
    by_row = findings_table(_laid_out(layout), _RULES)
    monkeypatch.setattr(diagnosis, "encounter_rows", lambda tables: None)
    joined = findings_table(_laid_out(layout), _RULES)
    assert by_row.equals(joined)
    assert set(by_row.get_column("rule")) == {"missing-diagnosis", "invalid-dx-pointer"}
    if layout == "repeated id":  # E00002 lists no diagnosis, its other row one: its lines are judged by both
        assert by_row.filter(pl.col("encounter") == "E00002").height > 1
