"""Screens and narrowings of a large run (over SMALL_RUN lines) decide with Polars over the whole batch, or per
distinct value or combination, where a small run decides in Python line by line: on the rule cases made into one
large batch, the screened run must find exactly what running every rule on every line finds.

The cases of the common as-of date are one batch of under SMALL_RUN lines (test_screens.py); here each case is billed
again as another patient (ids suffixed), so the batch is large and every case still meets only itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from cleanclaim.model import Encounter
from cleanclaim.payers import profile_for
from cleanclaim.rules import all_rules, tables_from_encounters
from cleanclaim.rules.engine import findings_table
from cleanclaim.rules.registry import CANNOT_FIRE
from cleanclaim.rules.tables import SMALL_RUN, Tables
from tests.rules.test_cases import CASES
from tests.rules.test_screens import _case_encounters

_COPIES = 3


def _copy(encounter: Encounter, copy: int) -> Encounter:
    data = encounter.model_dump(mode="json")
    data["id"] = f"{data['id']}#{copy}"
    data["patient"] = {**data["patient"], "id": f"{data['patient']['id']}#{copy}"}
    if data.get("claim_id"):
        data["claim_id"] = f"{data['claim_id']}#{copy}"
    return Encounter.model_validate(data)


def _large_batch() -> tuple[list[Encounter], dt.date]:
    as_of, encounters = max(_case_encounters().items(), key=lambda item: len(item[1]))
    return [_copy(encounter, copy) for copy in range(_COPIES) for encounter in encounters], as_of


def _tables(encounters: list[Encounter], as_of: dt.date) -> Tables:
    payers: Mapping[str, Any] = {e.payer: profile_for(e.payer, [CASES / "payers"]) for e in encounters}
    return tables_from_encounters(encounters, payers, as_of=as_of)


@pytest.fixture
def _imported_ncci(monkeypatch: pytest.MonkeyPatch, ncci_data_dir: Path) -> None:
    monkeypatch.setenv("CLEANCLAIM_DATA_DIR", str(ncci_data_dir))


@pytest.mark.usefixtures("_imported_ncci")
def test_a_large_batch_of_cases_finds_the_same_screened_and_unscreened() -> None:
    encounters, as_of = _large_batch()
    tables = _tables(encounters, as_of)
    assert not tables.small and tables.lines.height > SMALL_RUN
    screened = findings_table(tables)
    everything = findings_table(_tables(encounters, as_of), screens=False)
    assert everything.height > 1000
    assert screened.equals(everything)
    # every screen that rules its rule out on the large batch is right to: the rule flags nothing there
    fresh = _tables(encounters, as_of)
    flagged = set(everything.get_column("rule"))
    wrongly = [rule.slug for rule in all_rules() if rule.slug in flagged and rule.screen_for(fresh) is CANNOT_FIRE]
    assert not wrongly


@pytest.mark.usefixtures("_imported_ncci")
def test_a_large_batch_of_cases_flags_what_the_cases_flag_each_copy_alike() -> None:
    # each copy is its own patients: a copy's findings are the first copy's, ids aside (nothing crosses copies)
    encounters, as_of = _large_batch()
    found = findings_table(_tables(encounters, as_of)).with_columns(
        pl.col("encounter").str.split("#").list.last().alias("copy"),
        pl.col("encounter").str.split("#").list.first().alias("case_encounter"))
    per_copy = [found.filter(pl.col("copy") == str(copy)).select("rule", "case_encounter", "line", "severity")
                .sort(pl.all()) for copy in range(_COPIES)]
    assert per_copy[0].height
    assert all(frame.equals(per_copy[0]) for frame in per_copy[1:])
