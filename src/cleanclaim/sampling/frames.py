"""Reading the sampling frame (the population of claims) and the audited results, with an error for every row that
cannot be used: the file, row and column, and what was expected. Nothing is dropped or guessed: a sample drawn from
a frame with a row silently missing is not the sample the auditor says it is.

Files (CSV or Parquet):
- a claims file: ``claim_id``, ``paid`` and optionally ``stratum`` (one row per claim);
- a claim-line table (DESIGN.md: one row per billed line, ``encounter_id`` names the claim): lines are summed into
  claims; the claim's amount is the sum of a ``paid`` column where the table has one, else of ``charge`` (and the
  frame says so: a paid-claims frame is what a contractor samples);
- audited results: ``claim_id``, ``paid``, ``overpayment`` and optionally ``stratum``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import polars as pl

from cleanclaim.errors import InputError

__all__ = ["Frame", "SampledResult", "SamplingUnit", "parse_money", "read_population", "read_results", "read_rows"]

_MONEY = re.compile(r"-?[0-9]+(\.[0-9]+)?")


@dataclass(frozen=True)
class SamplingUnit:
    """One claim of the frame. ``position`` is its 1-based place in the file (within its stratum, the random number
    picks a position)."""

    claim_id: str
    paid: Decimal
    stratum: str | None
    row: int


@dataclass(frozen=True)
class Frame:
    """The population: its claims in file order, and how their amounts were read."""

    units: list[SamplingUnit]
    amount_column: str
    path: str


@dataclass(frozen=True)
class SampledResult:
    """One audited claim of the sample."""

    claim_id: str
    paid: Decimal
    overpayment: Decimal
    stratum: str | None
    row: int


def read_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header and the rows (row number counting the header as row 1, as a spreadsheet shows it) of a CSV or
    Parquet file, every value as text."""
    where = str(path)
    if not path.is_file():
        raise InputError("no such file", file=where)
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            table = pl.read_parquet(path)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise InputError(f"not a readable Parquet file ({type(exc).__name__})", file=where) from exc
        header = table.columns
        text = table.select(pl.col(c).cast(pl.String) for c in header)

        def parquet_rows() -> Iterator[tuple[int, dict[str, str]]]:
            for number, values in enumerate(text.iter_rows(), start=2):
                yield number, {name: "" if value is None else value for name, value in zip(header, values,
                                                                                          strict=True)}

        return header, parquet_rows()
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start}): expected a CSV file", file=where) from exc
    reader = csv.reader(content.splitlines())
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration as exc:
        raise InputError("empty file: expected a header row", file=where) from exc

    def csv_rows() -> Iterator[tuple[int, dict[str, str]]]:
        for number, values in enumerate(reader, start=2):
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                raise InputError(f"{len(values)} fields where the header has {len(header)}", file=where, row=number)
            yield number, {name: value.strip() for name, value in zip(header, values, strict=True)}

    return header, csv_rows()


def parse_money(text: str, *, file: str, row: int, column: str) -> Decimal:
    """An amount in dollars (``123.45``, ``-5``): anything else (``$12``, ``1e3``, ``NaN``, blank) is an input error
    naming the file, row and column."""
    value = text.strip()
    if not _MONEY.fullmatch(value):
        raise InputError(f"expected an amount in dollars such as 123.45, got {value!r}", file=file, row=row,
                         field=column)
    return Decimal(value)


def _require(header: list[str], columns: tuple[str, ...], file: str, what: str) -> None:
    missing = [c for c in columns if c not in header]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}: {what} needs {', '.join(columns)} "
                         f"(found {', '.join(header) or 'none'})", file=file, field=missing[0])


def read_population(path: Path, *, stratum_column: str | None = None) -> Frame:
    """The sampling frame. ``stratum_column`` names the column holding each claim's stratum (``stratum`` is read
    when present and no other is named)."""
    where = str(path)
    header, rows = read_rows(path)
    if "claim_id" in header:
        _require(header, ("claim_id", "paid"), where, "a claims file")
        return Frame(_claims(rows, where, stratum_column or ("stratum" if "stratum" in header else None), header),
                     "paid", where)
    if "encounter_id" in header:
        amount = "paid" if "paid" in header else "charge"
        _require(header, ("encounter_id", amount), where, "a claim-line table")
        return Frame(_claims_from_lines(rows, where, amount, stratum_column, header), amount, where)
    raise InputError("expected a claims file (claim_id, paid[, stratum]) or a claim-line table (encounter_id, ..., "
                     f"charge); found columns {', '.join(header) or 'none'}", file=where, field="claim_id")


def _claims(rows: Iterator[tuple[int, dict[str, str]]], where: str, stratum_column: str | None,
            header: list[str]) -> list[SamplingUnit]:
    if stratum_column and stratum_column not in header:
        raise InputError(f"no column {stratum_column!r} to stratify by (found {', '.join(header)})", file=where,
                         field=stratum_column)
    units: list[SamplingUnit] = []
    seen: dict[str, int] = {}
    for number, row in rows:
        claim_id = _claim_id(row["claim_id"], seen, where, number, "claim_id")
        stratum = _stratum(row, stratum_column, where, number)
        units.append(SamplingUnit(claim_id, parse_money(row["paid"], file=where, row=number, column="paid"),
                                  stratum, number))
    if not units:
        raise InputError("no claims: the file has a header and no rows", file=where)
    return units


def _claims_from_lines(rows: Iterator[tuple[int, dict[str, str]]], where: str, amount: str,
                       stratum_column: str | None, header: list[str]) -> list[SamplingUnit]:
    if stratum_column and stratum_column not in header:
        raise InputError(f"no column {stratum_column!r} to stratify by (found {', '.join(header)})", file=where,
                         field=stratum_column)
    totals: dict[str, Decimal] = {}
    strata: dict[str, str | None] = {}
    first_row: dict[str, int] = {}
    for number, row in rows:
        claim_id = row["encounter_id"]
        if not claim_id:
            raise InputError("empty encounter_id: every line must name its claim", file=where, row=number,
                             field="encounter_id")
        value = parse_money(row[amount], file=where, row=number, column=amount)
        stratum = _stratum(row, stratum_column, where, number)
        if claim_id in totals:
            if strata[claim_id] != stratum:
                raise InputError(f"claim {claim_id} is in stratum {strata[claim_id]!r} on row {first_row[claim_id]} "
                                 f"and {stratum!r} here: a claim belongs to one stratum", file=where, row=number,
                                 field=stratum_column)
            totals[claim_id] += value
        else:
            totals[claim_id], strata[claim_id], first_row[claim_id] = value, stratum, number
    if not totals:
        raise InputError("no claim lines: the file has a header and no rows", file=where)
    return [SamplingUnit(claim_id, total, strata[claim_id], first_row[claim_id]) for claim_id, total in totals.items()]


def _claim_id(value: str, seen: dict[str, int], where: str, number: int, column: str) -> str:
    if not value:
        raise InputError("empty claim_id", file=where, row=number, field=column)
    if value in seen:
        raise InputError(f"duplicate claim_id {value!r} (first on row {seen[value]}): each claim is one sampling "
                         "unit and must appear once", file=where, row=number, field=column)
    seen[value] = number
    return value


def _stratum(row: dict[str, str], column: str | None, where: str, number: int) -> str | None:
    if column is None:
        return None
    value = row[column]
    if not value:
        raise InputError("empty stratum: every claim needs one when the file is stratified", file=where, row=number,
                         field=column)
    return value


def read_results(path: Path) -> list[SampledResult]:
    """The audited sample: one row per sampled claim with what was paid and what of it was overpaid."""
    where = str(path)
    header, rows = read_rows(path)
    _require(header, ("claim_id", "paid", "overpayment"), where, "an audit results file")
    stratified = "stratum" in header
    results: list[SampledResult] = []
    seen: dict[str, int] = {}
    for number, row in rows:
        claim_id = _claim_id(row["claim_id"], seen, where, number, "claim_id")
        results.append(SampledResult(
            claim_id,
            parse_money(row["paid"], file=where, row=number, column="paid"),
            parse_money(row["overpayment"], file=where, row=number, column="overpayment"),
            _stratum(row, "stratum" if stratified else None, where, number),
            number))
    if not results:
        raise InputError("no sampled claims: the file has a header and no rows", file=where)
    return results
