"""Claim-line tables (CSV or Parquet) for batch audits: one row per billed line, rows with the same
``encounter_id`` form one claim (columns in DESIGN.md, "Claim-line tables").

Validation is columnar. A row with an unparsable date, a missing code or a negative unit count is rejected with its
file, row and column; every other row is still checked, and rows read = rows checked + rows rejected.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from cleanclaim.errors import InputError, is_phi_field
from cleanclaim.model import Discipline
from cleanclaim.rules.tables import ENCOUNTER_SCHEMA, LINE_SCHEMA

__all__ = ["REQUIRED_COLUMNS", "TABLE_SUFFIXES", "ClaimTable", "read_claim_table"]

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
REQUIRED_COLUMNS = ("encounter_id", "date", "code", "units")
OPTIONAL_COLUMNS = ("payer", "place_of_service", "patient_id", "provider_npi", "provider_discipline", "diagnoses",
                    "modifiers", "minutes", "dx_pointers", "charge", "ndc")
# Claim-level columns a table may carry beyond the contract's; when present they feed the claim-completeness rules.
CLAIM_COLUMNS = ("billing_npi", "subscriber_id", "payer_id", "claim_id", "patient_first_name", "patient_last_name",
                 "patient_birth_date", "patient_sex")
_LINE_LEVEL = ("date", "payer", "place_of_service", "patient_id", "provider_npi", "provider_discipline", "diagnoses")
_ROW = "__row"


@dataclass
class ClaimTable:
    """Accepted lines and encounters in the rule-table schemas, plus one error per rejected row and column."""

    source: str
    lines: pl.DataFrame
    encounters: pl.DataFrame
    errors: list[InputError] = field(default_factory=list)
    rows_read: int = 0
    rows_rejected: int = 0
    carried: frozenset[str] = frozenset()
    minutes_carried: bool = True
    """Encounter columns the file actually supplies (the rest of the encounter table is null, not missing)."""

    @property
    def rows_checked(self) -> int:
        return self.rows_read - self.rows_rejected


def _read_csv(path: Path) -> tuple[pl.DataFrame, list[InputError]]:
    """The CSV as text columns. Rows with the wrong number of fields are rejected one by one (with their row
    number) on a second, slower pass that runs only when the fast reader refuses the file."""
    try:
        return pl.read_csv(path, infer_schema=False).with_columns(pl.all().fill_null("")), []
    except pl.exceptions.ComputeError as exc:
        if "fields" not in str(exc):
            raise
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    errors: list[InputError] = []
    good: list[list[str]] = []
    keep: list[int] = []
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            errors.append(InputError(f"expected {len(header)} fields as in the header, got {len(row)}",
                                     file=str(path), row=number))
        else:
            good.append(row)
            keep.append(number)
    frame = pl.DataFrame(good, schema=dict.fromkeys(header, pl.String), orient="row")
    # Row numbers must stay those of the file, so the kept rows carry them.
    return frame.with_columns(pl.Series(_ROW, keep, dtype=pl.UInt32)), errors


def _read_raw(path: Path) -> tuple[pl.DataFrame, int, list[InputError]]:
    """The file as text columns, the offset from a 0-based data index to the row number users see, and the rows
    that could not even be split into columns."""
    try:
        if path.suffix.lower() == ".csv":
            frame, ragged = _read_csv(path)
            return frame, 2, ragged
        frame = pl.read_parquet(path)
    except (pl.exceptions.ComputeError, OSError, pl.exceptions.PolarsError) as exc:
        raise InputError(f"cannot read the table: {str(exc).splitlines()[0]}", file=str(path)) from exc
    # Parquet may carry real types and list columns; bring everything to the CSV text form, lists joined by ';'.
    return frame.with_columns(
        *(pl.col(name).cast(pl.List(pl.String)).list.join(";").alias(name)
          for name, dtype in frame.schema.items() if isinstance(dtype, pl.List)),
    ).with_columns(
        *(pl.col(name).cast(pl.String) for name, dtype in frame.schema.items()
          if not isinstance(dtype, pl.List) and dtype != pl.String),
    ).with_columns(pl.all().fill_null("")), 1, []


def _problems(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per (row, column) problem: what was expected and what was found."""
    text = {name: pl.col(name).str.strip_chars() for name in frame.columns if name != _ROW}
    checks: list[tuple[str, pl.Expr, str]] = [
        ("encounter_id", text["encounter_id"] == "", "an encounter id is required"),
        ("code", text["code"] == "", "a procedure code is required"),
        ("date", text["date"] == "", "a date of service is required"),
        ("date", (text["date"] != "") & text["date"].str.to_date("%Y-%m-%d", strict=False).is_null(),
         "expected a date as YYYY-MM-DD"),
        ("units", text["units"] == "", "a unit count is required"),
        ("units", (text["units"] != "") & ~text["units"].cast(pl.Float64, strict=False).is_finite().fill_null(False),
         "expected a number of units"),
        ("units", text["units"].cast(pl.Float64, strict=False).is_finite()
         & (text["units"].cast(pl.Float64, strict=False) < 0), "units must not be negative"),
        ("minutes", (text["minutes"] != "") & text["minutes"].cast(pl.Int64, strict=False).is_null(),
         "expected whole minutes"),
        ("minutes", text["minutes"].cast(pl.Int64, strict=False) < 0, "minutes must not be negative"),
        ("charge", (text["charge"] != "") & ~text["charge"].cast(pl.Float64, strict=False).is_finite().fill_null(False),
         "expected a money amount"),
        ("dx_pointers", (text["dx_pointers"] != "")
         & ~text["dx_pointers"].str.contains(r"^\s*[0-9]+\s*(;\s*[0-9]+\s*)*$"),  # ASCII digits (\d is Unicode)
         "expected diagnosis pointers as numbers separated by ';'"),
    ]
    found = [
        frame.filter(condition.fill_null(False)).select(
            pl.col(_ROW), pl.lit(column).alias("column"), pl.lit(expected).alias("expected"),
            pl.col(column).alias("value"),
        )
        for column, condition, expected in checks
    ]
    return pl.concat(found).sort(_ROW, "column")


def read_claim_table(path: str | Path, *, default_payer: str = "medicare") -> ClaimTable:
    """Read a CSV or Parquet claim-line table into rule tables, rejecting (and reporting) bad rows."""
    source = Path(path)
    if not source.exists():
        raise InputError("file not found", file=str(source))
    raw, offset, ragged = _read_raw(source)
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise InputError(f"missing required column(s) {', '.join(missing)}; a claim-line table needs "
                         f"{', '.join(REQUIRED_COLUMNS)}", file=str(source), row=1 if offset == 2 else None)
    frame = raw.with_columns(
        *(pl.lit("").alias(c) for c in OPTIONAL_COLUMNS if c not in raw.columns),
    )
    if _ROW not in frame.columns:
        frame = frame.with_row_index(_ROW, offset=offset)
    problems = _problems(frame)
    # the encounter of each rejected row, for its message (only those rows: a million clean rows need no dict)
    encounter_of = dict(frame.filter(pl.col(_ROW).is_in(problems.get_column(_ROW).implode()))
                        .select(_ROW, "encounter_id").iter_rows()) if problems.height else {}
    errors = [*ragged, *(
        # a patient's value (birth date, sex, name, id) is PHI: the field and what was expected, never the value
        InputError(f"{expected}, got {value!r}" if value and not is_phi_field(column) else expected, file=str(source),
                   row=row, field=column,
                   encounter=encounter_of.get(row) or None)
        for row, column, expected, value in problems.iter_rows()
    )]
    rejected = problems.get_column(_ROW).unique()
    good = frame.with_columns(
        pl.int_range(1, pl.len() + 1).over("encounter_id").cast(pl.Int32).alias("line")
    ).filter(~pl.col(_ROW).is_in(rejected.implode()))
    lines = good.select(
        pl.col("encounter_id").str.strip_chars(),
        pl.col("line"),
        pl.col("date").str.strip_chars().str.to_date("%Y-%m-%d"),
        pl.when(pl.col("payer").str.strip_chars() == "").then(pl.lit(default_payer))
        .otherwise(pl.col("payer").str.strip_chars().str.to_lowercase()).alias("payer"),
        pl.when(pl.col("place_of_service").str.strip_chars() == "").then(pl.lit("11"))
        .otherwise(pl.col("place_of_service").str.strip_chars().str.zfill(2)).alias("place_of_service"),
        # an empty id or NPI is not given (null), not a value of "" that would group unrelated rows or read as an
        # NPI of no digits; an empty discipline is unstated, as in an 837P without a rendering taxonomy
        pl.col("patient_id").str.strip_chars().replace("", None),
        pl.col("provider_npi").str.strip_chars().replace("", None),
        pl.col("provider_discipline").str.strip_chars().replace("", Discipline.OTHER.value),
        pl.col("code").str.strip_chars().str.to_uppercase(),
        _split("modifiers").list.eval(pl.element().str.to_uppercase()).alias("modifiers"),
        pl.col("units").str.strip_chars().cast(pl.Float64),
        pl.col("minutes").str.strip_chars().replace("", None).cast(pl.Int64),
        _split("dx_pointers").list.eval(pl.element().cast(pl.Int64)).alias("dx_pointers"),
        pl.col("charge").str.strip_chars().replace("", None).cast(pl.Float64),
        pl.col("ndc").str.strip_chars().replace("", None),
        _split("diagnoses").list.eval(pl.element().str.to_uppercase()).alias("diagnoses"),
        *(pl.col(c).str.strip_chars().replace("", None) for c in CLAIM_COLUMNS if c in raw.columns),
    )
    claim_columns = [c for c in CLAIM_COLUMNS if c in raw.columns]
    if "patient_birth_date" in claim_columns:
        lines = lines.with_columns(pl.col("patient_birth_date").str.to_date("%Y-%m-%d", strict=False))
    encounters = (
        lines.group_by("encounter_id", maintain_order=True)
        .agg(pl.col(*_LINE_LEVEL, *claim_columns).first())
        .with_columns(*(pl.lit(None, dtype=dtype).alias(name) for name, dtype in ENCOUNTER_SCHEMA.items()
                        if name not in {"encounter_id", *_LINE_LEVEL, *claim_columns}))
        .select(list(ENCOUNTER_SCHEMA))
    )
    return ClaimTable(
        source=str(source),
        lines=lines.select(*LINE_SCHEMA, *[c for c in lines.columns if c not in LINE_SCHEMA and c != "diagnoses"
                                           and c not in claim_columns]),
        encounters=encounters,
        errors=errors,
        rows_read=frame.height + len(ragged),
        rows_rejected=rejected.len() + len(ragged),
        carried=frozenset(("encounter_id", *_LINE_LEVEL, *claim_columns)),
        minutes_carried="minutes" in raw.columns,
    )


def _split(column: str) -> pl.Expr:
    return (pl.col(column).str.split(";").list.eval(pl.element().str.strip_chars())
            .list.filter(pl.element() != ""))
