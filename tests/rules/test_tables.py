"""The rule tables built from encounters: one claim is a batch of one, and shared history is counted once."""

from __future__ import annotations

import datetime as dt

from cleanclaim.model import Encounter
from cleanclaim.payers import load_profile
from cleanclaim.rules.tables import lines_with_codes, tables_from_encounters

HISTORY = [{"date": "2026-02-01", "code": "97110", "units": 1, "allowed": 30},
           {"date": "2026-02-01", "code": "97110", "units": 1, "allowed": 30},
           {"date": "2026-02-02", "code": "97112", "units": 1}]
BASE = {"date": "2026-03-02", "patient": {"id": "P1"}, "provider": {"npi": "1234567893", "discipline": "PT"}}


def _tables(*encounters: Encounter):  # type: ignore[no-untyped-def]
    return tables_from_encounters(list(encounters), {"medicare": load_profile("medicare")},
                                  as_of=dt.date(2026, 4, 1))


def test_history_repeated_by_two_encounters_counts_once_but_keeps_real_repeats() -> None:
    a = Encounter.model_validate({"id": "A", **BASE, "history": HISTORY})
    b = Encounter.model_validate({"id": "B", **BASE, "history": HISTORY})
    history = _tables(a, b).history
    assert history.height == 3
    assert history.get_column("allowed").sum() == 60


def test_line_minutes_come_from_documented_services_once_per_code() -> None:
    encounter = Encounter.model_validate({
        "id": "A", **BASE, "services": [{"code": "97110", "minutes": 20}, {"code": "97110", "minutes": 5}],
        "lines": [{"code": "97110", "modifiers": ["GP"], "units": 1}, {"code": "97110", "modifiers": ["GP", "CQ"]}],
    })
    lines = _tables(encounter).lines
    assert lines.get_column("minutes").to_list() == [25, None]


def test_lines_join_the_code_version_in_force() -> None:
    encounter = Encounter.model_validate({
        "id": "A", **BASE, "lines": [{"code": "G0136", "date": "2025-06-01"}, {"code": "G0136"}, {"code": "97999"}]})
    joined = lines_with_codes(_tables(encounter))
    assert joined.height == 3
    summaries = joined.sort("line").get_column("summary").to_list()
    assert "social" in summaries[0]
    assert "physical activity" in summaries[1]
    assert summaries[2] is None


def test_arrow_and_row_constructors_build_the_same_tables() -> None:
    import polars as pl
    from polars.testing import assert_frame_equal

    from cleanclaim.rules import tables as module

    encounters = [
        Encounter.model_validate({
            "id": f"E{i}", "date": "2026-03-02", "patient": {"id": f"P{i % 7}", "birth_date": "1950-01-01"},
            "provider": {"npi": "1234567893", "discipline": "PT"}, "diagnoses": ["M62.81", "Z91.81"][: 1 + i % 2],
            "services": [{"code": "97110", "minutes": 10 + i % 20, "assistant_minutes": i % 3}],
            "lines": [{"code": "97110", "modifiers": ["GP", "CQ"][: i % 3], "units": 1 + i % 2,
                       "dx_pointers": [1], "charge": 45.5 if i % 2 else None}],
            "history": [{"date": "2026-02-27", "code": "97110", "modifiers": ["GP"], "units": 1}] if i % 5 else [],
        })
        for i in range(module.ARROW_FROM_ROWS + 50)
    ]
    profiles = {"medicare": load_profile("medicare")}
    by_arrow = tables_from_encounters(encounters, profiles, as_of=dt.date(2026, 4, 1))
    by_rows = [tables_from_encounters([e], profiles, as_of=dt.date(2026, 4, 1)) for e in encounters]
    for name in ("lines", "encounters", "services"):
        assert_frame_equal(getattr(by_arrow, name), pl.concat([getattr(t, name) for t in by_rows]))
