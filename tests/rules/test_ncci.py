"""ptp_conflicts and mue_excess on hand-made edit tables (synthetic, not CMS data): indicators 0/1, MAI 1/2/3,
confirmed edits as errors."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from cleanclaim.rules.catalogue import ncci
from cleanclaim.rules.catalogue.ncci import mue_excess, ptp_conflicts
from cleanclaim.rules.tables import LINE_SCHEMA, Tables

DAY = dt.date(2026, 3, 2)


def _lines(*rows: dict[str, Any]) -> pl.DataFrame:
    base = {"encounter_id": "E1", "date": DAY, "payer": "medicare", "place_of_service": "11", "patient_id": "P1",
            "provider_npi": "1234567893", "provider_discipline": "PT", "modifiers": [], "units": 1.0,
            "minutes": None, "dx_pointers": [1], "charge": None, "ndc": None}
    return pl.DataFrame([{**base, "line": i, **row} for i, row in enumerate(rows, start=1)], schema=LINE_SCHEMA)


def _ptp(indicator: int, verified: bool = True) -> pl.DataFrame:
    return pl.DataFrame({"column1": ["AAAA1"], "column2": ["BBBB2"], "effective": [dt.date(2020, 1, 1)],
                         "modifier_indicator": [indicator], "rationale": ["test"], "verified": [verified],
                         "source": ["test table (2026Q1)"], "date": [DAY]})


def _mue(value: int, mai: int | None, source: str = "imported test (2026Q1)") -> pl.DataFrame:
    return pl.DataFrame({"code": ["CCCC3"], "mue": [value], "mai": [mai], "rationale": [""], "source": [source],
                         "date": [DAY]}, schema_overrides={"mai": pl.Int8})


def test_indicator_1_needs_a_bypass_modifier_on_either_line() -> None:
    plain = _lines({"code": "AAAA1"}, {"code": "BBBB2"})
    denied, misused = ptp_conflicts(plain, _ptp(1))
    assert denied.get_column("line").to_list() == [2] and misused.is_empty()
    assert denied.get_column("severity").to_list() == [None]  # verified edit: the rule's default, an error
    for where in (0, 1):
        rows: list[dict[str, Any]] = [{"code": "AAAA1"}, {"code": "BBBB2"}]
        rows[where]["modifiers"] = ["XS"]
        denied, misused = ptp_conflicts(_lines(*rows), _ptp(1))
        assert denied.is_empty() and misused.is_empty()


def test_indicator_0_is_never_bypassed() -> None:
    denied, misused = ptp_conflicts(_lines({"code": "AAAA1"}, {"code": "BBBB2", "modifiers": ["59"]}), _ptp(0))
    assert denied.get_column("line").to_list() == [2]
    assert misused.get_column("bypass_text").to_list() == ["59"]


def test_unverified_pair_is_a_warning_and_other_patient_is_no_pair() -> None:
    denied, _ = ptp_conflicts(_lines({"code": "AAAA1"}, {"code": "BBBB2"}), _ptp(1, verified=False))
    assert denied.get_column("severity").to_list() == ["warning"]
    other = _lines({"code": "AAAA1"}, {"code": "BBBB2", "patient_id": "P2"})
    assert ptp_conflicts(other, _ptp(1))[0].is_empty()


def test_mai_1_is_per_line_and_mai_2_3_per_day() -> None:
    split = _lines({"code": "CCCC3", "units": 2.0}, {"code": "CCCC3", "units": 2.0, "modifiers": ["CQ"]})
    assert mue_excess(split, _mue(3, 1)).is_empty()
    for mai in (2, 3):
        flagged = mue_excess(split, _mue(3, mai))
        assert flagged.get_column("line").to_list() == [1, 2]
        assert flagged.get_column("severity").to_list() == [None, None]


def test_mue_from_secondary_source_or_unknown_mai_is_a_warning() -> None:
    over = _lines({"code": "CCCC3", "units": 4.0})
    assert mue_excess(over, _mue(3, None)).get_column("severity").to_list() == ["warning"]
    assert mue_excess(over, _mue(3, 1, "payerready (secondary)")).get_column("severity").to_list() == ["warning"]
    assert mue_excess(_lines({"code": "CCCC3", "units": 3.0}), _mue(3, 1)).is_empty()


def test_the_edit_tables_of_a_runs_dates_are_stacked_each_row_with_its_date(monkeypatch: pytest.MonkeyPatch) -> None:
    # one table per date of service, some empty, some of several rows: every row keeps its own date, in date order,
    # cut to the codes billed in the run
    days = [DAY + dt.timedelta(days=n) for n in range(5)]
    per_day = {day: pl.DataFrame({"code": ["CCCC3", "DDDD4", "ZZZZ9"][: n % 4], "mue": list(range(n % 4)),
                                  "mai": [1] * (n % 4), "rationale": [""] * (n % 4), "source": ["t"] * (n % 4)},
                                 schema={"code": pl.String, "mue": pl.Int32, "mai": pl.Int8, "rationale": pl.String,
                                         "source": pl.String})
               for n, day in enumerate(days)}
    monkeypatch.setattr(ncci, "mue_lookup", per_day.__getitem__)
    lines = pl.concat([_lines({"code": code, "date": day}) for day in days for code in ("CCCC3", "DDDD4")])
    tables = Tables(lines=lines, encounters=pl.DataFrame(), services=pl.DataFrame(), history=pl.DataFrame(),
                    payers={}, as_of=DAY)
    expected = pl.concat([table.with_columns(pl.lit(day, dtype=pl.Date).alias("date"))
                          for day, table in per_day.items()]).filter(pl.col("code") != "ZZZZ9")
    stacked = ncci._by_date(tables, "mue")
    assert stacked.equals(expected)
    assert stacked.select("code", "date").rows() == [
        ("CCCC3", days[1]), ("CCCC3", days[2]), ("DDDD4", days[2]), ("CCCC3", days[3]), ("DDDD4", days[3])]
    assert ncci._by_date(Tables(lines=lines.head(0), encounters=pl.DataFrame(), services=pl.DataFrame(),
                                history=pl.DataFrame(), payers={}, as_of=DAY), "mue").is_empty()


def test_mue_excess_of_a_batch_is_that_of_every_line_joined_to_the_table() -> None:
    # mue_excess probes only the lines of a code the table has an edit for; the lines of other codes (and null
    # codes) never join it, so the findings must be those of the join over every line, flagged and not
    rows: list[dict[str, Any]] = []
    for number in range(600):
        code = ("CCCC3", "DDDD4", "EEEE5", None, "CCCC3")[number % 5]
        rows.append({"code": code, "units": float(1 + number % 4), "encounter_id": f"E{number // 3}",
                     "patient_id": f"P{number // 6}", "date": DAY + dt.timedelta(days=number % 2)})
    lines = _lines(*rows)
    table = pl.concat([_mue(3, 2), _mue(2, 1).with_columns(pl.lit("DDDD4").alias("code")),
                       _mue(3, None).with_columns(pl.lit(DAY + dt.timedelta(days=1)).alias("date"))])
    day = ["patient_id", "provider_npi", "date", "code"]
    every_line = (
        lines.join(table, on=["date", "code"], how="inner")
        .with_columns(pl.col("units").sum().over(day).alias("day_units"))
        .filter(((pl.col("mai") == 1) & (pl.col("units") > pl.col("mue")))
                | (pl.col("mai").is_in([2, 3]) & (pl.col("day_units") > pl.col("mue")))
                | (pl.col("mai").is_null() & ((pl.col("units") > pl.col("mue"))
                                              | (pl.col("day_units") > pl.col("mue")))))
    )
    found = mue_excess(lines, table)
    key = ["encounter_id", "line", "mue"]
    assert 0 < found.height < lines.height
    assert found.select(key).sort(key).equals(every_line.select(key).sort(key))
