"""While the NCCI rule cases run, add synthetic edits (tests/rules/cases/ncci/*.csv, clearly not CMS data) to the real
PTP and MUE lookups: the bundled subset has no indicator-0 pair and no known MAI, so those paths need fixture rows."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from cleanclaim.rules.catalogue import ncci

FIXTURES = Path(__file__).parent / "cases" / "ncci"
NCCI_SLUGS = {"ncci-ptp-conflict", "ncci-ptp-modifier-not-allowed", "mue-exceeded"}


def _read(name: str, schema: dict[str, type[pl.DataType]]) -> pl.DataFrame:
    text = "\n".join(line for line in (FIXTURES / name).read_text().splitlines() if not line.startswith("#"))
    return pl.read_csv(io.StringIO(text), schema_overrides=schema, infer_schema=False)


def synthetic_ptp(date_of_service: dt.date) -> pl.DataFrame:
    frame = _read("ptp.csv", {"effective": pl.Date, "deleted": pl.Date, "modifier_indicator": pl.Int8})
    return frame.with_columns((pl.col("prior_1996") == "Y"), (pl.col("verified") == "true")).filter(
        (pl.col("effective") <= date_of_service)
        & (pl.col("deleted").is_null() | (pl.col("deleted") > date_of_service))
    )


def synthetic_mue(date_of_service: dt.date) -> pl.DataFrame:
    frame = _read("mue.csv", {"mue": pl.Int32, "mai": pl.Int8, "first_date": pl.Date, "last_date": pl.Date})
    return frame.filter((pl.col("first_date") <= date_of_service) & (pl.col("last_date") >= date_of_service)).drop(
        "first_date", "last_date"
    )


def _overlay(real: Callable[[dt.date], pl.DataFrame],
             extra: Callable[[dt.date], pl.DataFrame]) -> Callable[[dt.date], pl.DataFrame]:
    def lookup(date_of_service: dt.date) -> pl.DataFrame:
        base = real(date_of_service)
        return pl.concat([base, extra(date_of_service).select(base.columns)], how="vertical_relaxed")
    return lookup


@pytest.fixture(autouse=True)
def _synthetic_ncci_edits(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("slug") in NCCI_SLUGS:
        monkeypatch.setattr(ncci, "ptp_lookup", _overlay(ncci.ptp_lookup, synthetic_ptp))
        monkeypatch.setattr(ncci, "mue_lookup", _overlay(ncci.mue_lookup, synthetic_mue))
