"""Screens are necessary conditions: a rule the engine skips because of its screen must not have had anything to flag.

The rule cases are the test bed. Every case of every file (not only the rule's own) is checked: each case becomes its
own patient, encounters and claim in one batch per as-of date, every rule runs unscreened, and for every case on
which a rule flags something, that rule's screen must be true on that case's rows. The rule's own fail cases also
run screened in test_cases.py, so a screen that rules them out fails there too.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from cleanclaim.model import Encounter
from cleanclaim.payers import merge_settings, profile_for
from cleanclaim.rules import all_rules, tables_from_encounters
from cleanclaim.rules.engine import findings_table
from cleanclaim.rules.registry import CANNOT_FIRE, Screen
from cleanclaim.rules.tables import Tables
from tests.rules.test_cases import BASE_ENCOUNTER, CASES

SEPARATOR = "~"


def _case_encounters() -> dict[dt.date, list[Encounter]]:
    """Every case's encounters, their ids prefixed with the case's name so cases do not meet, by as-of date."""
    batches: dict[dt.date, list[Encounter]] = defaultdict(list)
    for path in sorted(CASES.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        for number, case in enumerate(spec["cases"]):
            key = f"{path.stem}.{number}"
            as_of = dt.date.fromisoformat(str(case.get("as_of", "2026-11-23")))
            for item in case.get("encounters") or [case["encounter"]]:
                data: dict[str, Any] = merge_settings(merge_settings(BASE_ENCOUNTER, spec.get("defaults", {})), item)
                if "payer" in case:
                    data["payer"] = case["payer"]
                data["id"] = f"{key}{SEPARATOR}{data['id']}"
                data["patient"] = {**data["patient"], "id": f"{key}{SEPARATOR}{data['patient']['id']}"}
                if data.get("claim_id"):
                    data["claim_id"] = f"{key}{SEPARATOR}{data['claim_id']}"
                batches[as_of].append(Encounter.model_validate(data))
    return batches


def _case_of(column: str) -> pl.Expr:
    return pl.col(column).str.split(SEPARATOR).list.first().alias("case")


def _screen_verdicts(tables: Tables, screen: Screen) -> set[str]:
    """The cases on which the screen is true (null counts as true), from either side."""
    passed: set[str] = set()
    for side, frame in (("lines", tables.screen_lines()), ("encounters", tables.screen_encounters())):
        expr = getattr(screen, side)
        if expr is None:
            continue
        verdicts = frame.group_by(_case_of("encounter_id")).agg(expr.fill_null(True).any().alias("passed"))
        passed.update(verdicts.filter(pl.col("passed")).get_column("case").to_list())
    return passed


@pytest.fixture
def _imported_ncci(monkeypatch: pytest.MonkeyPatch, ncci_data_dir: Path) -> None:
    monkeypatch.setenv("CLEANCLAIM_DATA_DIR", str(ncci_data_dir))


@pytest.mark.usefixtures("_imported_ncci")
def test_no_rule_flags_a_case_its_screen_rules_out(recwarn: pytest.WarningsRecorder) -> None:
    checked = 0
    for as_of, encounters in _case_encounters().items():
        payers: Mapping[str, Any] = {e.payer: profile_for(e.payer, [CASES / "payers"]) for e in encounters}
        tables = tables_from_encounters(encounters, payers, as_of=as_of)
        found = findings_table(tables, screens=False).with_columns(_case_of("encounter"))
        for rule in all_rules():
            screen = rule.screen_for(tables)
            if screen is None:
                continue
            flagged = set(found.filter(pl.col("rule") == rule.slug).get_column("case").to_list())
            if not flagged:
                continue
            assert screen is not CANNOT_FIRE, f"{rule.slug} says it cannot fire as of {as_of} but flags {flagged}"
            missed = flagged - _screen_verdicts(tables, screen)
            assert not missed, f"{rule.slug}'s screen rules out case(s) it flags: {sorted(missed)}"
            checked += 1
    assert checked, "no screened rule flagged any case: the test checked nothing"
    # every rule's plan ran on every case: a deprecated Polars call in one of them warns here (from inside
    # collect_all, where ``-W error`` cannot turn it into a failure), before a Polars release breaks it
    deprecated = [str(w.message).splitlines()[0] for w in recwarn if issubclass(w.category, DeprecationWarning)]
    assert not deprecated, deprecated


def test_screens_change_no_finding_on_the_examples() -> None:
    from cleanclaim.scrub import _read_encounters

    examples = Path(__file__).parents[2] / "examples"
    read = _read_encounters(examples)
    encounters = [e for e in read.encounters if e.lines]
    payers = {e.payer: profile_for(e.payer) for e in encounters}
    tables = tables_from_encounters(encounters, payers, as_of=dt.date(2026, 4, 1))
    with_screens = findings_table(tables)
    tables = tables_from_encounters(encounters, payers, as_of=dt.date(2026, 4, 1))
    assert with_screens.height
    assert with_screens.equals(findings_table(tables, screens=False))


@pytest.mark.usefixtures("_imported_ncci")
def test_screened_and_unscreened_runs_agree_on_small_batches_of_cases() -> None:
    # Screens decide in Python on small runs (a claim or a few): batches of a few cases each take that path, and the
    # findings must be exactly those of running every rule.
    compared = 0
    for as_of, encounters in _case_encounters().items():
        payers: Mapping[str, Any] = {e.payer: profile_for(e.payer, [CASES / "payers"]) for e in encounters}
        for start in range(0, len(encounters), CHUNK):
            chunk = encounters[start:start + CHUNK]
            screened = findings_table(tables_from_encounters(chunk, payers, as_of=as_of))
            everything = findings_table(tables_from_encounters(chunk, payers, as_of=as_of), screens=False)
            assert screened.equals(everything), (as_of, [e.id for e in chunk])
            compared += everything.height
    assert compared > 400  # the cases flag hundreds of rows between them


CHUNK = 8
