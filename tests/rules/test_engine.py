"""The engine turns every rule's flagged rows into one findings table: templates filled column-wise, per-row
overrides, and the order users read them in."""

from __future__ import annotations

import datetime as dt

import polars as pl

from cleanclaim.model import Severity
from cleanclaim.rules.engine import FINDING_SCHEMA, finding_frame, findings_from_table
from cleanclaim.rules.registry import Rule
from cleanclaim.rules.tables import collect


class _Sample(Rule):
    """Not registered: a rule whose templates name columns of every type a rule returns.

    What it checks:
        Nothing.

    Why it matters:
        Nothing.

    Example:
        None.

    Use instead:
        None.

    References:
        None.
    """

    id = "CC999"
    slug = "sample"
    family = "test"
    severity = Severity.WARNING
    message = "{code}: {units} units, {minutes} min, mods {modifiers}, on {date}, flag {flag}, {absent}, {missing}"
    fix = "Bill {units} units."
    references = ("Sample manual, section 1",)

    def check(self, tables: object) -> pl.DataFrame:  # type: ignore[override]
        raise NotImplementedError


ROWS = pl.DataFrame(
    {
        "encounter_id": ["E1", "E2"],
        "line": [2, None],
        "code": ["97110", None],
        "units": [2.0, 1.5],
        "minutes": [38, None],
        "modifiers": [["GP", "CQ"], []],
        "date": [dt.date(2026, 3, 2), dt.date(2026, 3, 3)],
        "flag": [True, None],
        "absent": [None, None],
    },
    schema_overrides={"line": pl.Int32, "absent": pl.String},
)


def _findings(rows: pl.DataFrame, override: Severity | None = None) -> pl.DataFrame:
    return collect(finding_frame(_Sample(), rows, override))


def test_templates_are_filled_from_each_row_as_python_would_show_the_values() -> None:
    table = _findings(ROWS)
    assert table.schema == pl.Schema(FINDING_SCHEMA)
    assert table.get_column("message").to_list() == [
        "97110: 2 units, 38 min, mods GP, CQ, on 2026-03-02, flag True, None, ?",
        "None: 1.5 units, None min, mods , on 2026-03-03, flag None, None, ?",
    ]
    assert table.get_column("fix").to_list() == ["Bill 2 units.", "Bill 1.5 units."]
    assert table.get_column("encounter").to_list() == ["E1", "E2"]
    assert table.get_column("line").to_list() == [2, None]
    assert table.get_column("severity").to_list() == ["warning", "warning"]
    assert table.get_column("references").to_list() == [["Sample manual, section 1"]] * 2


def test_per_row_severity_message_fix_and_references_replace_the_defaults_where_set() -> None:
    rows = ROWS.with_columns(
        pl.Series("severity", ["error", None]),
        pl.Series("message", ["Own message", ""]),
        pl.Series("fix", [None, "Own fix"]),
        pl.Series("references", [["LCD L1"], []]),
    )
    table = _findings(rows)
    assert table.get_column("severity").to_list() == ["error", "warning"]
    assert table.get_column("message").to_list()[0] == "Own message"
    assert table.get_column("message").to_list()[1].startswith("None: 1.5 units")
    assert table.get_column("fix").to_list() == ["Bill 2 units.", "Own fix"]
    assert table.get_column("references").to_list() == [["LCD L1"], ["Sample manual, section 1"]]


def test_a_configured_severity_overrides_the_rule_and_the_row() -> None:
    rows = ROWS.with_columns(pl.Series("severity", ["error", None]))
    assert _findings(rows, Severity.INFO).get_column("severity").to_list() == ["info", "info"]


def test_no_flagged_rows_give_no_findings_even_without_key_columns() -> None:
    assert _findings(ROWS.clear()).height == 0
    assert _findings(pl.DataFrame()).height == 0
    assert _findings(pl.DataFrame({"units": []}, schema={"units": pl.Float64})).height == 0


def test_finding_objects_carry_the_table_values() -> None:
    (first, second) = findings_from_table(_findings(ROWS))
    assert first.rule == "sample" and first.id == "CC999" and first.severity is Severity.WARNING
    assert (first.encounter, first.line, first.code) == ("E1", 2, "97110")
    assert first.model_dump(mode="json")["references"] == ["Sample manual, section 1"]
    assert (second.line, second.code) == (None, None)


def test_json_findings_and_finding_objects_come_from_the_same_table() -> None:
    import datetime as dt
    from pathlib import Path

    import cleanclaim

    examples = Path(__file__).resolve().parents[2] / "examples"
    result = cleanclaim.check(examples, as_of=dt.date(2026, 4, 1))
    assert result.table.height == len(result.findings) > 0
    assert result.to_json()["findings"] == [f.model_dump(mode="json") for f in result.findings]
    summary = result.summary
    assert summary.errors + summary.warnings + summary.info == result.table.height
    assert summary.errors == sum(f.severity is Severity.ERROR for f in result.findings)


def test_an_encounter_id_given_twice_does_not_double_its_findings() -> None:
    import datetime as dt

    from cleanclaim.model import Encounter
    from cleanclaim.payers import load_profile
    from cleanclaim.rules.engine import findings_table
    from cleanclaim.rules.tables import tables_from_encounters

    visit = {"id": "E1", "date": "2026-03-02", "patient": {"id": "P1"}, "diagnoses": ["M62.81"],
             "provider": {"npi": "1234567893", "discipline": "PT"},
             "lines": [{"code": "96150", "units": 1, "dx_pointers": [1]}]}
    once = tables_from_encounters([Encounter.model_validate(visit)], {"medicare": load_profile("medicare")},
                                  as_of=dt.date(2026, 4, 1))
    twice = tables_from_encounters([Encounter.model_validate(visit)] * 2, {"medicare": load_profile("medicare")},
                                   as_of=dt.date(2026, 4, 1))
    deleted_once = findings_table(once).filter(pl.col("rule") == "deleted-code").height
    deleted_twice = findings_table(twice).filter(pl.col("rule") == "deleted-code").height
    assert (deleted_once, deleted_twice) == (1, 2)  # one per billed line, never one per line and id match


def test_huge_whole_numbers_are_shown_not_lost() -> None:
    rows = ROWS.head(1).with_columns(pl.lit(1e20).alias("units"))
    assert _findings(rows).get_column("fix").to_list() == [f"Bill {1e20} units."]
