"""Reference data by date of service, as Polars tables for the rule engine and the pricer.

Edits and fees change every quarter or year, so every lookup takes the date of service. Imported CMS files win for
the periods they cover (a 2025Q4 PTP import answers for 1 Oct - 31 Dec 2025); otherwise the bundled subset in
``bundled/`` answers. A value that is in neither is absent: the caller reports the line unpriced or the edit unknown.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, lru_cache
from importlib import resources

import polars as pl

from cleanclaim.errors import DataError, InputError
from cleanclaim.refdata.cms_files import RefTable
from cleanclaim.refdata.imported import fix_for, import_signature, imported_frame, stored_tables

__all__ = [
    "ConversionFactor",
    "CostSharingWaiver",
    "TableStatus",
    "bundled_table",
    "by_date_of_service",
    "conversion_factor",
    "conversion_factor_entry",
    "cost_sharing_waived",
    "cost_sharing_waiver",
    "gpci",
    "mue_values",
    "parse_locality",
    "place_of_service_setting",
    "ptp_edits",
    "rvus",
    "status",
]

_PTP_COLUMNS = ["column1", "column2", "prior_1996", "effective", "deleted", "modifier_indicator", "rationale",
                "verified", "source"]
_MUE_COLUMNS = ["code", "mue", "mai", "rationale", "source"]
_RVU_COLUMNS = ["code", "modifier", "status", "work_rvu", "nf_pe_rvu", "f_pe_rvu", "mp_rvu", "global_days",
                "mult_proc", "conversion_factor", "source"]
_GPCI_COLUMNS = ["year", "mac", "locality", "state", "locality_name", "work_gpci", "pe_gpci", "mp_gpci", "source"]


def _read_bundled(name: str, schema: dict[str, pl.DataType | type[pl.DataType]]) -> pl.DataFrame:
    try:
        text = resources.files("cleanclaim.refdata").joinpath("bundled", name).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DataError(f"bundled reference file {name} is missing from the package") from exc
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    try:
        return pl.read_csv(io.StringIO(body), schema_overrides=schema, infer_schema=False)
    except (pl.exceptions.ComputeError, pl.exceptions.InvalidOperationError) as exc:
        raise DataError(f"bundled reference file {name} is malformed: {exc}") from exc


@cache
def bundled_table(name: str) -> pl.DataFrame:
    """A bundled CSV (comment header stripped) with typed columns."""
    schemas: dict[str, dict[str, pl.DataType | type[pl.DataType]]] = {
        "ptp.csv": {"effective": pl.Date, "deleted": pl.Date, "modifier_indicator": pl.Int8},
        "mue.csv": {"mue": pl.Int32, "mai": pl.Int8, "first_date": pl.Date, "last_date": pl.Date},
        "rvu.csv": {"year": pl.Int32, "work_rvu": pl.Float64, "nf_pe_rvu": pl.Float64, "f_pe_rvu": pl.Float64,
                    "mp_rvu": pl.Float64},
        "gpci.csv": {"year": pl.Int32, "work_gpci": pl.Float64, "pe_gpci": pl.Float64, "mp_gpci": pl.Float64},
        "conversion_factors.csv": {"year": pl.Int32, "first_date": pl.Date},
    }
    frame = _read_bundled(name, schemas.get(name, {}))
    utf8 = [c for c, t in frame.schema.items() if t == pl.Utf8]
    frame = frame.with_columns(pl.col(utf8).fill_null(""))
    if name == "ptp.csv":
        frame = frame.with_columns(
            (pl.col("prior_1996") == "Y").alias("prior_1996"),
            (pl.col("verified") == "true").alias("verified"),
        )
    return frame


def _imported_source() -> pl.Expr:
    return pl.concat_str([pl.lit("imported "), pl.col("source_file"), pl.lit(" ("), pl.col("period"), pl.lit(")")])


def ptp_edits(date_of_service: dt.date) -> pl.DataFrame:
    """NCCI practitioner PTP edits in force on the date: effective on or before it and not yet deleted.

    A deletion date is the first date of service on which the edit no longer applies, so an edit deleted in 2025Q3
    does not fire on a 2025Q4 claim. With nothing imported, answers from the small bundled table are kept per date
    (a claim of ten visits asks for the same few dates again and again); an imported quarter (a million rows) is
    filtered per call, never kept once per date.
    """
    return _answer(RefTable.PTP, date_of_service)


def _answer(kind: RefTable, date_of_service: dt.date) -> pl.DataFrame:
    if import_signature(kind):
        return _COMPUTE[kind](date_of_service)
    return _bundled_answer(kind, date_of_service)


@lru_cache(maxsize=1024)
def _bundled_answer(kind: RefTable, date_of_service: dt.date) -> pl.DataFrame:
    return _COMPUTE[kind](date_of_service)


def _ptp_edits(date_of_service: dt.date) -> pl.DataFrame:
    imported = imported_frame(RefTable.PTP, date_of_service)
    if imported is not None:
        frame = imported.with_columns(pl.lit(True).alias("verified"), _imported_source().alias("source"))
    else:
        frame = bundled_table("ptp.csv")
    return frame.filter(
        (pl.col("effective") <= date_of_service)
        & (pl.col("deleted").is_null() | (pl.col("deleted") > date_of_service))
    ).select(_PTP_COLUMNS)


def mue_values(date_of_service: dt.date) -> pl.DataFrame:
    """Practitioner MUE values for the date (code, mue, mai, rationale, source); a code not listed has none known.
    Bundled answers are kept per date, imported ones filtered per call, as PTP edits are."""
    return _answer(RefTable.MUE, date_of_service)


def _mue_values(date_of_service: dt.date) -> pl.DataFrame:
    imported = imported_frame(RefTable.MUE, date_of_service)
    if imported is not None:
        return imported.with_columns(_imported_source().alias("source")).select(_MUE_COLUMNS)
    return bundled_table("mue.csv").filter(
        (pl.col("first_date") <= date_of_service) & (pl.col("last_date") >= date_of_service)
    ).select(_MUE_COLUMNS)


_COMPUTE: dict[RefTable, Callable[[dt.date], pl.DataFrame]] = {RefTable.PTP: _ptp_edits, RefTable.MUE: _mue_values}


def by_date_of_service(lookup: Callable[[dt.date], pl.DataFrame], dates: Iterable[dt.date]) -> pl.DataFrame:
    """One lookup per distinct date, stacked with a ``date_of_service`` column, so a rule can join a whole line
    table (``on=["date_of_service", "code"]``) instead of looking up line by line."""
    frames = [lookup(day).with_columns(pl.lit(day).alias("date_of_service")) for day in sorted(set(dates))]
    if not frames:
        return lookup(dt.date.today()).clear().with_columns(pl.lit(None, dtype=pl.Date).alias("date_of_service"))
    return pl.concat(frames, how="vertical_relaxed")


def _year(date_or_year: dt.date | int) -> int:
    return date_or_year if isinstance(date_or_year, int) else date_or_year.year


def _with_qp_flag(frame: pl.DataFrame) -> pl.DataFrame:
    if "qualifying_apm" in frame.columns:
        return frame.with_columns(pl.col("qualifying_apm").fill_null(False))
    return frame.with_columns(pl.lit(False).alias("qualifying_apm"))


def rvus(date_of_service: dt.date | int) -> pl.DataFrame:
    """PFS relative values for the calendar year of the date (one row per code and modifier)."""
    year = _year(date_of_service)
    imported = imported_frame(RefTable.RVU, dt.date(year, 7, 1))
    if imported is not None:
        rows = _with_qp_flag(imported).filter(pl.col("year") == year)
        if rows["qualifying_apm"].n_unique() > 1:
            # The nonQPP and QPP files carry the same RVUs; one copy keeps one row per code and modifier.
            rows = rows.filter(~pl.col("qualifying_apm"))
        return rows.with_columns(_imported_source().alias("source")).select(_RVU_COLUMNS)
    return bundled_table("rvu.csv").filter(pl.col("year") == year).with_columns(
        pl.lit(None, dtype=pl.Float64).alias("conversion_factor"),
        pl.concat_str([pl.lit("bundled rvu.csv: "), pl.col("source")]).alias("source"),
    ).select(_RVU_COLUMNS)


def parse_locality(locality: str) -> tuple[str, str]:
    """``"01182:18"`` -> (MAC, locality number), zero-padded the way CMS keys them."""
    mac, sep, number = locality.strip().partition(":")
    if not sep or not mac.isdigit() or not number.isdigit() or len(mac) > 5 or len(number) > 2:
        raise InputError(f"locality {locality!r} is not MAC:LOCALITY (for example 01182:18)", field="locality")
    return mac.zfill(5), number.zfill(2)


def gpci(year: int, locality: str) -> pl.DataFrame:
    """The GPCI row of a locality (``MAC:LOCALITY``) for a year: one row, or none when the year is not on file."""
    mac, number = parse_locality(locality)
    imported = imported_frame(RefTable.GPCI, dt.date(year, 7, 1))
    if imported is not None:
        frame = imported.filter(pl.col("year") == year).with_columns(_imported_source().alias("source"))
    else:
        frame = bundled_table("gpci.csv").filter(pl.col("year") == year).with_columns(
            pl.concat_str([pl.lit("bundled gpci.csv: "), pl.col("source")]).alias("source"))
    return frame.filter((pl.col("mac") == mac) & (pl.col("locality") == number)).select(_GPCI_COLUMNS)


@dataclass(frozen=True)
class ConversionFactor:
    year: int
    qualifying_apm: bool
    amount: Decimal
    source: str


def conversion_factor_entry(date_of_service: dt.date, qualifying_apm: bool = False) -> ConversionFactor | None:
    """The CF for the date with where it came from. An imported PPRRVU's own CONV FACTOR column wins: the
    ``_nonQPP`` file (or a file of a year with one CF) for everyone, the ``_QPP`` file for qualifying APM
    participants; otherwise the bundled table answers, by the period of the year the date falls in (a year may
    change factor mid-year: CY2024's rose from 2024-03-09 by statute).

    Kept per year and state of the imported RVU files: the pricer asks once per line, and a filter of the imported
    PPRRVU per line made pricing a day of thousands of lines take seconds."""
    periods = _conversion_factors_of_year(date_of_service.year, qualifying_apm, import_signature(RefTable.RVU))
    in_force = [entry for first, entry in periods if first <= date_of_service]
    return in_force[-1] if in_force else None


@lru_cache(maxsize=64)
def _conversion_factors_of_year(year: int, qualifying_apm: bool, rvu_imports: tuple[tuple[str, int, int], ...],
                                ) -> tuple[tuple[dt.date, ConversionFactor], ...]:
    # ``rvu_imports`` is only the cache key: imported_frame reads the files itself. Answers (first date, factor)
    # pairs in date order.
    january = dt.date(year, 1, 1)
    imported = imported_frame(RefTable.RVU, dt.date(year, 7, 1))
    if imported is not None:
        rows = _with_qp_flag(imported).filter(
            (pl.col("year") == year) & (pl.col("qualifying_apm") == qualifying_apm))
        factors = rows["conversion_factor"].drop_nulls()
        if factors.len():
            value = factors.mode().sort()[0]
            files = ", ".join(sorted(set(rows["source_file"].to_list())))
            return ((january, ConversionFactor(year, qualifying_apm, Decimal(str(value)),
                                               f"imported {files} CONV FACTOR")),)
    table = bundled_table("conversion_factors.csv").filter(pl.col("year") == year)
    wanted = "yes" if qualifying_apm else "no"
    periods = [(row["first_date"] or january,
                ConversionFactor(year, qualifying_apm, Decimal(row["conversion_factor"]),
                                 f"bundled conversion_factors.csv: {row['source']}"))
               for row in table.iter_rows(named=True) if row["qualifying_apm"] in ("any", wanted)]
    return tuple(sorted(periods, key=lambda period: period[0]))


def conversion_factor(date_of_service: dt.date, qualifying_apm: bool = False) -> Decimal | None:
    """Dollars per RVU for the date (CY2024 32.7442, from 2024-03-09 33.2875; CY2025 32.3465; CY2026 33.4009, or
    33.5675 for qualifying APM participants)."""
    entry = conversion_factor_entry(date_of_service, qualifying_apm)
    return entry.amount if entry else None


def place_of_service_setting(place_of_service: str) -> str | None:
    """``facility`` or ``non-facility`` for a POS code, None when the POS is not in the list."""
    return _first_by_key("facility_pos.csv", "pos", "setting").get(place_of_service.zfill(2))


@dataclass(frozen=True)
class CostSharingWaiver:
    """Whether Medicare waives the Part B deductible and coinsurance of one line, and why (``reason`` is a pricing
    step: the row's source, or what kept the waiver from applying)."""

    waived: bool
    reason: str


@dataclass(frozen=True)
class _WaiverRow:
    first_date: dt.date | None
    last_date: dt.date | None
    diagnoses: tuple[str, ...]
    """ICD-10-CM prefixes without the dot; empty: any diagnosis."""
    shown: str
    """The prefixes as the data file prints them, for messages."""
    source: str


@cache
def _waiver_rows() -> dict[str, tuple[_WaiverRow, ...]]:
    rows: dict[str, list[_WaiverRow]] = {}
    for row in bundled_table("cost_sharing_waived.csv").iter_rows(named=True):
        first, last = (dt.date.fromisoformat(row[k]) if row[k] else None for k in ("first_date", "last_date"))
        shown = [part.strip() for part in row["diagnoses"].split(";") if part.strip()]
        prefixes = tuple(part.replace(".", "").upper() for part in shown)
        rows.setdefault(row["code"], []).append(_WaiverRow(first, last, prefixes, ", ".join(shown), row["source"]))
    return {code: tuple(found) for code, found in rows.items()}


def cost_sharing_waiver(code: str, date_of_service: dt.date,
                        diagnoses: Iterable[str] | None = None) -> CostSharingWaiver | None:
    """Whether Medicare waives deductible and coinsurance for ``code`` on the date, given the line's diagnoses.

    None when the code has no waiver row at all (the usual cost sharing, nothing to say). A row applies on the dates
    of service its ``first_date``..``last_date`` covers; a row with ``diagnoses`` needs one of the line's diagnoses
    to start with one of its prefixes (99406/99407: a diagnosis of tobacco use). ``diagnoses`` None or empty means
    they are not known here: the waiver is assumed, and the reason says so.
    """
    found = _waiver_rows().get(code)
    if not found:
        return None
    in_force = [row for row in found if (row.first_date is None or row.first_date <= date_of_service)
                and (row.last_date is None or date_of_service <= row.last_date)]
    if not in_force:
        periods = "; ".join(f"{row.first_date or 'always'} to {row.last_date or 'today'}" for row in found)
        return CostSharingWaiver(False, f"deductible and coinsurance apply: Medicare waives them for {code} only "
                                        f"for dates of service {periods} ({found[0].source})")
    row = in_force[0]
    if not row.diagnoses:
        return CostSharingWaiver(True, f"deductible and coinsurance waived ({row.source})")
    known = [d.replace(".", "").upper() for d in diagnoses or () if d]
    if not known:
        return CostSharingWaiver(True, f"deductible and coinsurance waived ({row.source}); assumed: no diagnoses "
                                       f"given to show the preventive benefit's ({row.shown})")
    matching = [d for d in known if d.startswith(row.diagnoses)]
    if matching:
        shown = matching[0] if len(matching[0]) <= 3 else f"{matching[0][:3]}.{matching[0][3:]}"
        return CostSharingWaiver(True, f"deductible and coinsurance waived: diagnosis {shown} ({row.source})")
    return CostSharingWaiver(False, f"deductible and coinsurance apply: {code} is waived only with a diagnosis of "
                                    f"{row.shown}, and the line has none ({row.source})")


def cost_sharing_waived(code: str, date_of_service: dt.date | None = None,
                        diagnoses: Iterable[str] | None = None) -> str | None:
    """The source that says Medicare waives deductible and coinsurance for the code, or None. With a date (and the
    line's diagnoses) the answer is `cost_sharing_waiver`'s; without one, any row of the code answers."""
    if date_of_service is None:
        rows = _waiver_rows().get(code)
        return rows[0].source if rows else None
    decision = cost_sharing_waiver(code, date_of_service, diagnoses)
    return decision.reason if decision is not None and decision.waived else None


@cache
def _first_by_key(name: str, key: str, value: str) -> dict[str, str]:
    """A bundled table as a dict (the first row of each key wins), built once: the pricer asks once per line, and a
    table filter per line made pricing a day of thousands of lines take seconds."""
    found: dict[str, str] = {}
    for row_key, row_value in bundled_table(name).select(key, value).iter_rows():
        found.setdefault(str(row_key), str(row_value))
    return found


@dataclass(frozen=True)
class TableStatus:
    table: str
    origin: str
    period: str
    rows: int
    source: str
    problem: str | None = None
    """For a damaged imported file: what is wrong and how to fix it (see imported.CorruptImportError)."""


def status() -> list[TableStatus]:
    """What reference data is available: bundled subsets per period, then every imported file."""
    found: list[TableStatus] = []
    ptp = bundled_table("ptp.csv")
    found.append(TableStatus("ptp", "bundled", "from " + str(ptp["effective"].min()), ptp.height, "ptp.csv"))
    mue = bundled_table("mue.csv")
    for (first, last), group in sorted(mue.group_by(["first_date", "last_date"]), key=lambda g: str(g[0])):
        found.append(TableStatus("mue", "bundled", f"{first}..{last}", group.height, "mue.csv"))
    for name, table in (("rvu.csv", "rvu"), ("gpci.csv", "gpci"), ("conversion_factors.csv", "conversion_factor")):
        frame = bundled_table(name)
        for (year,), group in sorted(frame.group_by(["year"]), key=lambda g: int(str(g[0][0]))):
            found.append(TableStatus(table, "bundled", str(year), group.height, name))
    for stored in stored_tables():
        if stored.problem is not None:
            found.append(TableStatus(stored.kind.value, "imported", stored.period, 0, str(stored.path),
                                     f"{stored.problem}. {fix_for(stored.path)}"))
            continue
        found.append(TableStatus(stored.kind.value, "imported", stored.period, stored.rows,
                                 f"{stored.source_file} (imported {stored.imported_at})"))
    return found
