"""`rules.tables.large_run`: above SMALL_RUN rows the rules' plans run with common-subplan and subexpression
elimination, which changes how a plan runs and never what it returns."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from cleanclaim.rules import tables
from cleanclaim.rules.tables import SMALL_RUN, large_run
from cleanclaim.scrub import check

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "claims" / "synthetic-claims-q3-2026.csv"


def test_large_run_turns_the_elimination_on_above_small_run_only_and_restores_it() -> None:
    assert tables._optimizations() is tables._OPTIMIZATIONS
    with large_run(SMALL_RUN + 1):
        assert tables._optimizations() is tables._LARGE_RUN_OPTIMIZATIONS
        with large_run(3):  # a small run inside (a rule retried on a few patients) uses the small-run passes
            assert tables._optimizations() is tables._OPTIMIZATIONS
        assert tables._optimizations() is tables._LARGE_RUN_OPTIMIZATIONS
    assert tables._optimizations() is tables._OPTIMIZATIONS
    with large_run(SMALL_RUN):
        assert tables._optimizations() is tables._OPTIMIZATIONS


def test_a_large_run_finds_the_same_with_and_without_the_elimination(monkeypatch: pytest.MonkeyPatch) -> None:
    as_of = dt.date(2026, 12, 1)
    found = check(EXAMPLES, as_of=as_of)
    assert found.summary.lines > SMALL_RUN  # the large-run passes were used
    assert found.table.height > 0
    monkeypatch.setattr(tables, "_LARGE_RUN_OPTIMIZATIONS", tables._OPTIMIZATIONS)
    plain = check(EXAMPLES, as_of=as_of)
    assert found.table.equals(plain.table)
    assert found.table.select(pl.col("rule").n_unique()).item() > 3
