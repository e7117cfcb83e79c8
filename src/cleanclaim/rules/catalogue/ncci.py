"""NCCI: procedure-to-procedure (PTP) pairs and medically unlikely edits (MUE), by date of service.

The edits come from ``cleanclaim.refdata`` (an imported CMS quarterly table for the periods it covers, else the
bundled subset). Edits read from a CMS file are errors; a pair or value taken from a secondary source (the bundled
``verified=false`` rows, MUE values without a known MAI) is a warning that says so, because unconfirmed facts must
never be hard errors. ``ptp_conflicts`` and ``mue_excess`` are pure functions of the lines and the edit tables, so they
are tested with any table; the rules look the tables up for the dates in the batch.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Literal, TypeVar, cast

import polars as pl

from cleanclaim import refdata
from cleanclaim.model import Severity
from cleanclaim.rules.registry import CANNOT_FIRE, Rule, Screen, register
from cleanclaim.rules.tables import SMALL_RUN, Tables, collect, collect_all

__all__ = ["NCCI_MODIFIERS", "mue_excess", "ptp_conflicts"]

# Modifiers that may bypass a PTP edit with modifier indicator 1 when the clinical circumstances justify it: anatomic,
# global-surgery and other NCCI-associated modifiers (CMS MLN1783722 via coding-facts.md s7; findacode "NCCI
# associated modifiers"; Texas Medical Association "Use modifiers to override CCI edits").
NCCI_MODIFIERS = (
    "E1", "E2", "E3", "E4", "FA", "F1", "F2", "F3", "F4", "F5", "F6", "F7", "F8", "F9",
    "TA", "T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9", "LT", "RT", "LC", "LD", "RC", "LM", "RI",
    "24", "25", "57", "58", "78", "79", "27", "59", "91", "XE", "XP", "XS", "XU",
)

# The lookups by date of service; module attributes so a test can point them at a fixture table.
ptp_lookup: Callable[[dt.date], pl.DataFrame] = refdata.ptp_edits
mue_lookup: Callable[[dt.date], pl.DataFrame] = refdata.mue_values

_PTP_REF = "CMS NCCI Procedure-to-Procedure edits, practitioner table (quarterly; Palmetto GBA file layout)"
_MUE_REF = "CMS NCCI Medically Unlikely Edits, practitioner services table (Noridian, NGS MUE pages)"
_SECONDARY = " (this edit comes from a secondary source, not a CMS file: UNCONFIRMED)"
_SAME_DAY = ["patient_id", "provider_npi", "date"]


def _number(units: pl.Expr) -> pl.Expr:
    """Units as text, whole numbers without ".0" (never rounded: 1.5 stays 1.5)."""
    return units.cast(pl.String).str.replace(r"\.0$", "")


_Kind = Literal["ptp", "mue"]
_CODE_COLUMNS: dict[_Kind, tuple[str, ...]] = {"ptp": ("column1", "column2"), "mue": ("code",)}


def _wanted(tables: Tables, kind: _Kind) -> pl.Expr:
    # the run's distinct codes, which the screens have already listed
    codes = pl.lit(pl.Series(sorted(tables.values("code")), dtype=pl.String)).implode()
    return pl.all_horizontal(pl.col(c).is_in(codes) for c in _CODE_COLUMNS[kind])


def _day_tables(tables: Tables, kind: _Kind) -> dict[dt.date, pl.DataFrame]:
    """The edit table for each date of service in the batch, looked up once per run (the screens and the rules read
    the same ones). A large (imported) table is cut down to the codes billed in the batch as soon as it is looked up
    (a CMS quarter holds about a million PTP rows; a batch needs a few), so a year of dates never holds a full
    quarter per day; a small one (the bundled subset, kept per date by refdata) is kept whole."""
    def look_up(tables: Tables) -> dict[dt.date, pl.DataFrame]:
        lookup = ptp_lookup if kind == "ptp" else mue_lookup
        found: dict[dt.date, pl.DataFrame] = {}
        wanted: pl.Expr | None = None  # built for the first large table only (a few hundred microseconds)
        for day in sorted(tables.values("date")):
            table = lookup(day)
            if table.height > _KEEP_WHOLE_UP_TO:
                wanted = _wanted(tables, kind) if wanted is None else wanted
                table = table.filter(wanted)
            found[day] = table
        return found

    return tables.memo(f"ncci_tables:{kind}", look_up)


_KEEP_WHOLE_UP_TO = 200
"""Rows of an edit table kept whole rather than cut at once: the screens index it in Python (once per table object
for the bundled tables, which refdata keeps per date), and a plan cuts it with the rest on one claim."""


def _by_date(tables: Tables, kind: _Kind) -> pl.DataFrame:
    """The edit tables of the batch's dates, cut down to the codes billed in the batch, stacked with a ``date``
    column."""
    days = _day_tables(tables, kind)
    if not days:
        return pl.DataFrame()
    # stacked, then dated and cut once: a month of dates is sixty tables of a few rows each, and a plan per table
    # (to add its date, to cut it) cost more than the rows
    counts = pl.DataFrame({"date": list(days), "rows": [table.height for table in days.values()]},
                          schema={"date": pl.Date, "rows": pl.Int64})
    dates = counts.filter(pl.col("rows") > 0).select(pl.col("date").repeat_by("rows").explode()).to_series()
    return pl.concat(list(days.values()), how="vertical_relaxed").with_columns(dates).filter(_wanted(tables, kind))


# The NCCI screens walk a small run's lines in Python (``SMALL_RUN``): a claim's few lines cost microseconds; a batch
# runs the rules anyway.
_T = TypeVar("_T")
_INDEXES: dict[tuple[int, str], tuple[pl.DataFrame, object]] = {}
_INDEXES_KEPT = 256


def _indexed(table: pl.DataFrame, kind: _Kind, build: Callable[[pl.DataFrame], _T]) -> _T:
    """``build(table)``, once per table object: refdata keeps each date's bundled table, so a stream of single claims
    indexes it once. The entry holds the table, so its id is not reused while the entry lives."""
    key = (id(table), kind)
    entry = _INDEXES.get(key)
    if entry is not None and entry[0] is table:
        return cast(_T, entry[1])
    index = build(table)
    if len(_INDEXES) >= _INDEXES_KEPT:
        _INDEXES.clear()  # one atomic step (checks may run in threads); the live tables are indexed again
    _INDEXES[key] = (table, index)
    return index


def _ptp_index(table: pl.DataFrame) -> Mapping[str, tuple[tuple[str, int], ...]]:
    """Column-2 code -> (column-1 code, modifier indicator) of each edit the rules apply (indicator 0 or 1)."""
    pairs: defaultdict[str, list[tuple[str, int]]] = defaultdict(list)
    columns = (table.get_column(c).to_list() for c in ("column1", "column2", "modifier_indicator"))
    for column1, column2, indicator in zip(*columns, strict=True):
        if indicator in (0, 1):
            pairs[column2].append((column1, indicator))
    return {code: tuple(found) for code, found in pairs.items()}


def _mue_index(table: pl.DataFrame) -> Mapping[str, tuple[int, float | None]]:
    """Code -> (its rows in the table, its lowest MUE value; None when none can be exceeded)."""
    rows: defaultdict[str, int] = defaultdict(int)
    lowest: dict[str, float | None] = {}
    for code, value in zip(table.get_column("code").to_list(), table.get_column("mue").to_list(), strict=True):
        rows[code] += 1
        # a null value is never exceeded, nor NaN (the largest value for Polars) by a number
        usable = value is not None and not math.isnan(value)
        least = lowest.get(code)
        lowest[code] = (value if least is None or value < least else least) if usable else least
    return {code: (count, lowest[code]) for code, count in rows.items()}


def _billed_by_day(lines: pl.DataFrame) -> dict[tuple[object, ...], set[str]]:
    """The codes of each patient, provider and date (lines with a null key or code join no other line)."""
    days: defaultdict[tuple[object, ...], set[str]] = defaultdict(set)
    keys = zip(*(lines.get_column(c).to_list() for c in _SAME_DAY), strict=True)
    for key, code in zip(keys, lines.get_column("code").to_list(), strict=True):
        if code is not None and None not in key:
            days[key].add(code)
    return days


def _ptp_indicators(tables: Tables) -> frozenset[int] | None:
    """The modifier indicators of the PTP edits (0 or 1) whose column-1 and column-2 codes are both billed for one
    patient, provider and date in the batch; None for a batch too large to tell in Python."""
    def find(tables: Tables) -> frozenset[int] | None:
        if tables.lines.height > SMALL_RUN:
            return None
        by_day = _day_tables(tables, "ptp")
        found: set[int] = set()
        for (_, _, day), codes in _billed_by_day(tables.lines).items():
            index = _indexed(by_day[cast(dt.date, day)], "ptp", _ptp_index)
            found.update(indicator for code in codes for column1, indicator in index.get(code, ())
                         if column1 in codes)
        return frozenset(found)

    return tables.memo("ncci_ptp_screen", find)


_NCCI_MODIFIER_SET = frozenset(NCCI_MODIFIERS)


def _bypass(modifiers: pl.Expr) -> pl.Expr:
    return modifiers.list.eval(pl.element().filter(pl.element().is_in(list(NCCI_MODIFIERS))))


def _pairs(lines: pl.DataFrame, ptp: pl.DataFrame) -> pl.LazyFrame:
    """Column-2 lines billed with their column-1 code for the same patient, provider and date (one row per column-2
    line and column-1 code), with the NCCI-associated modifiers found on either line."""
    column2 = lines.lazy().select("encounter_id", "line", *_SAME_DAY, pl.col("code").alias("column2"),
                           _bypass(pl.col("modifiers")).alias("bypass2"))
    column1 = lines.lazy().select(*_SAME_DAY, pl.col("code").alias("column1"), pl.col("line").alias("line1"),
                           pl.col("encounter_id").alias("encounter1"), _bypass(pl.col("modifiers")).alias("bypass1"))
    edits = ptp.lazy().filter(pl.col("modifier_indicator").is_in([0, 1])).select(
        "date", "column1", "column2", "modifier_indicator", "effective", "rationale", "verified", "source"
    )
    return (
        column2.join(edits, on=["date", "column2"], how="inner")
        .join(column1, on=[*_SAME_DAY, "column1"], how="inner")
        .with_columns(pl.concat_list("bypass1", "bypass2").list.unique().list.sort().alias("bypass"))
        .sort("encounter_id", "line", "column1", "encounter1", "line1")
        .group_by("encounter_id", "line", "column1", maintain_order=True).first()
    )


def _pair_text(pairs: pl.LazyFrame) -> pl.LazyFrame:
    return pairs.with_columns(
        pl.col("column2").alias("code"),
        pl.col("date").cast(pl.String).alias("date_text"),
        pl.col("effective").cast(pl.String).fill_null("date not given").alias("effective_text"),
        pl.when(pl.col("rationale").fill_null("") == "").then(pl.lit("not given in the table"))
        .otherwise(pl.col("rationale")).alias("rationale_text"),
        pl.when(pl.col("encounter1") == pl.col("encounter_id")).then(pl.format("line {}", pl.col("line1")))
        .otherwise(pl.format("line {} of {}", pl.col("line1"), pl.col("encounter1"))).alias("where1"),
        pl.col("bypass").list.join(", ").alias("bypass_text"),
        pl.when(pl.col("verified").fill_null(False)).then(pl.lit("")).otherwise(pl.lit(_SECONDARY))
        .alias("unconfirmed"),
        pl.when(pl.col("verified").fill_null(False)).then(pl.lit(None, dtype=pl.String))
        .otherwise(pl.lit(Severity.WARNING.value)).alias("severity"),
    )


def ptp_conflicts(lines: pl.DataFrame, ptp: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(pairs the edit denies, indicator-0 pairs that carry a bypass modifier anyway)."""
    if ptp.is_empty() or lines.is_empty():
        return pl.DataFrame(), pl.DataFrame()
    pairs = _pair_text(_pairs(lines, ptp))
    has_bypass = pl.col("bypass").list.len() > 0
    indicator = pl.col("modifier_indicator")
    denied = pairs.filter((indicator == 0) | ((indicator == 1) & ~has_bypass)).with_columns(
        pl.when(indicator == 0).then(pl.lit("0: no modifier bypasses this edit"))
        .otherwise(pl.lit("1: an NCCI-associated modifier (59, XE, XP, XS, XU ...) may bypass it when the services "
                          "are distinct, and neither line has one")).alias("indicator_text"),
        pl.when(indicator == 0)
        .then(pl.format("Remove {}: it is not paid with {} for the same patient, provider and date, whatever the "
                        "modifier.", pl.col("column2"), pl.col("column1")))
        .otherwise(pl.format("If {} was a distinct service (separate encounter, structure, practitioner or "
                             "non-overlapping time), document why and append XE, XS, XP or XU (or 59) to {}; "
                             "otherwise remove {}.", pl.col("column2"), pl.col("column2"), pl.col("column2")))
        .alias("fix_text"),
    )
    misused = pairs.filter((indicator == 0) & has_bypass)
    denied_rows, misused_rows = collect_all([denied, misused])
    return denied_rows, misused_rows


def _ptp_results(tables: Tables) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Both PTP rules read the same pairs: found once per run."""
    return tables.memo("ncci_ptp", lambda t: ptp_conflicts(t.lines, _by_date(t, "ptp")))


def mue_excess(lines: pl.DataFrame, mue: pl.DataFrame) -> pl.DataFrame:
    """Lines whose units exceed the code's MUE: per line for MAI 1, per patient, provider and date (units of all the
    code's lines added) for MAI 2 and 3. With the MAI unknown, a line over the value is flagged, and a day over it is
    flagged as a possible date-of-service edit."""
    if mue.is_empty() or lines.is_empty():
        return pl.DataFrame()
    day = [*_SAME_DAY, "code"]
    # the lines' columns the texts read, chosen before the join (it copies what it keeps of every matched line), of
    # the codes the table has an edit for: on a batch the join then probes those lines only, not every line (a
    # quarter of the lines of the 1M-line synthetic file; the join is most of this plan)
    codes = pl.lit(mue.get_column("code").unique()).implode()
    joined = lines.lazy().select("encounter_id", "line", *day, "units").filter(pl.col("code").is_in(codes)).join(
        mue.lazy().select("date", "code", "mue", "mai", "rationale", "source"),
                               on=["date", "code"], how="inner").with_columns(
        pl.col("units").sum().over(day).alias("day_units"))
    mai = pl.col("mai")
    line_over = pl.col("units") > pl.col("mue")
    day_over = pl.col("day_units") > pl.col("mue")
    flagged = joined.filter(
        ((mai == 1) & line_over) | (mai.is_in([2, 3]) & day_over) | (mai.is_null() & (line_over | day_over))
    )
    imported = pl.col("source").fill_null("").str.starts_with("imported")
    confirmed = imported & mai.is_not_null()
    per_day = mai.is_in([2, 3]) | (mai.is_null() & ~line_over)
    return collect(flagged.with_columns(
        pl.when(per_day)
        .then(pl.format("{} units of {} on {} (all its lines that day)", _number(pl.col("day_units")), pl.col("code"),
                        pl.col("date").cast(pl.String)))
        .otherwise(pl.format("{} units on this line", _number(pl.col("units")))).alias("units_text"),
        pl.when(mai == 1).then(pl.lit("MAI 1: a claim-line edit; more units are reported only on separate lines "
                                      "with a modifier such as 76, 77, 91 or RT/LT when that is correct"))
        .when(mai == 2).then(pl.lit("MAI 2: a date-of-service edit based on policy, an absolute limit"))
        .when(mai == 3).then(pl.lit("MAI 3: a date-of-service edit based on clinical benchmarks; exceptions are "
                                    "rare and need documentation"))
        .otherwise(pl.lit("MAI not known in the table used: as a line edit the line is over it; as a "
                          "date-of-service edit (MAI 2 or 3) the day's units are added")).alias("mai_text"),
        pl.when(pl.col("mue") == 0).then(pl.lit(" A value of 0 means the code is not separately payable."))
        .otherwise(pl.lit("")).alias("zero_text"),
        pl.when(confirmed).then(pl.lit("")).otherwise(pl.lit(_SECONDARY)).alias("unconfirmed"),
        pl.when(confirmed).then(pl.lit(None, dtype=pl.String)).otherwise(pl.lit(Severity.WARNING.value))
        .alias("severity"),
        pl.when(pl.col("rationale").fill_null("") == "").then(pl.lit("not given"))
        .otherwise(pl.col("rationale")).alias("rationale_text"),
        pl.col("date").cast(pl.String).alias("date_text"),
    ))


@register
class NcciPtpConflict(Rule):
    """A column-2 code billed with its NCCI column-1 code for the same patient, provider and date.

    What it checks:
        Every pair of lines against the NCCI practitioner PTP edits in force on the date of service: when the column-2
        code is billed with its column-1 code for the same patient, rendering provider and date, the column-2 line is
        denied unless the edit's modifier indicator is 1 and an NCCI-associated modifier (59, XE, XP, XS, XU,
        anatomic or global-surgery modifiers) is on either line. Indicator 0 pairs are never bypassed; indicator 9
        (not applicable) is ignored. Pairs from the bundled secondary-source subset are warnings.

    Why it matters:
        The payer's claim system applies the same table: the column-2 line is denied (and cannot be billed to the
        patient with an ABN). Knowing before submission lets the biller add a modifier the record supports, or drop
        the line.

    Example:
        lines: [{code: "97162", modifiers: [GP], units: 1}, {code: "97140", modifiers: [GP], units: 1}]

    Use instead:
        # if manual therapy was a distinct service, documented as such
        lines: [{code: "97162", modifiers: [GP], units: 1}, {code: "97140", modifiers: [GP, "59"], units: 1}]

    References:
        CMS NCCI PTP edits (Medicare NCCI procedure to procedure edits page); CMS MLN1783722 (modifier indicators,
        NCCI-associated modifiers); Palmetto GBA (PTP file layout); APTA: correct coding initiative (2020 pairs).
    """

    id = "CC501"
    slug = "ncci-ptp-conflict"
    family = "NCCI"
    severity = Severity.ERROR
    message = ("{column2} is column 2 to {column1} ({where1}) in the NCCI practitioner PTP table ({source}; edit "
               "effective {effective_text}), modifier indicator {indicator_text}: billed for the same patient, "
               "provider and date {date_text}, {column2} is denied. Rationale: {rationale_text}.{unconfirmed}")
    fix = "{fix_text}"
    references = (_PTP_REF, "CMS MLN1783722 (NCCI procedure-to-procedure edits; modifier indicators)",
                  "APTA: correct coding initiative (2020 therapy pairs)")

    def screen_for(self, tables: Tables) -> Screen | None:
        # a denied pair is a PTP edit of indicator 0 or 1 whose two codes are billed for one patient, provider and
        # date (a code paired with itself, which no CMS table lists, would be one line: that is looked for too)
        return CANNOT_FIRE if _ptp_indicators(tables) == frozenset() else None

    def check(self, tables: Tables) -> pl.DataFrame:
        denied, _ = _ptp_results(tables)
        if denied.is_empty():
            return denied
        return denied.select("encounter_id", "line", "code", "column1", "column2", "where1", "source",
                             "effective_text", "indicator_text", "date_text", "rationale_text", "unconfirmed",
                             "severity", "fix_text")


@register
class NcciPtpModifierNotAllowed(Rule):
    """An NCCI-associated modifier on a pair whose PTP edit allows no modifier (indicator 0).

    What it checks:
        Pairs of lines that hit an NCCI practitioner PTP edit with modifier indicator 0 where 59, an X{EPSU} modifier
        or another NCCI-associated modifier was appended to either line anyway.

    Why it matters:
        No modifier bypasses an indicator-0 edit: the column-2 line is denied regardless, and appending 59 or X{EPSU}
        to get around an edit is a pattern auditors look for.

    Example:
        # an indicator-0 pair (from the imported CMS table) with 59 on the column-2 line
        lines: [{code: "<column 1>", units: 1}, {code: "<column 2>", modifiers: ["59"], units: 1}]

    Use instead:
        lines: [{code: "<column 1>", units: 1}]   # the column-2 service is part of the column-1 service

    References:
        CMS MLN1783722 (modifier indicator 0: not allowed, no modifier bypasses); CMS NCCI PTP edits, practitioner
        table.
    """

    id = "CC502"
    slug = "ncci-ptp-modifier-not-allowed"
    family = "NCCI"
    severity = Severity.ERROR
    message = ("{bypass_text} on the {column2} / {column1} pair ({where1}) cannot bypass the NCCI practitioner PTP "
               "edit ({source}; effective {effective_text}): its modifier indicator is 0, so {column2} is denied "
               "whatever the modifier. Rationale: {rationale_text}.{unconfirmed}")
    fix = ("Remove {bypass_text} and the {column2} line: it is not payable with {column1} for the same patient, "
           "provider and date.")
    references = ("CMS MLN1783722 (modifier indicator 0)", _PTP_REF)

    def screen_for(self, tables: Tables) -> Screen | None:
        # an NCCI-associated modifier on a line of a billed indicator-0 pair
        if not tables.values("modifiers") & _NCCI_MODIFIER_SET:
            return CANNOT_FIRE
        found = _ptp_indicators(tables)
        return CANNOT_FIRE if found is not None and 0 not in found else None

    def check(self, tables: Tables) -> pl.DataFrame:
        _, misused = _ptp_results(tables)
        if misused.is_empty():
            return misused
        return misused.select("encounter_id", "line", "code", "column1", "column2", "where1", "source",
                              "effective_text", "bypass_text", "rationale_text", "unconfirmed", "severity")


@register
class MueExceeded(Rule):
    """Units above the code's medically unlikely edit (MUE).

    What it checks:
        Units against the NCCI practitioner MUE value in force on the date of service: per line for MAI 1 (a line
        edit), and for MAI 2 and 3 (date-of-service edits) the units of every line of the code for the patient,
        provider and date added together. Values from the bundled secondary-source subset, or without a known MAI,
        are warnings.

    Why it matters:
        When units exceed the MUE the whole line is denied, not just the excess units; a date-of-service edit also
        counts lines split to get around it.

    Example:
        lines: [{code: "97110", modifiers: [GP], units: 7, minutes: 105}]   # MUE 6

    Use instead:
        lines: [{code: "97110", modifiers: [GP], units: 6, minutes: 90}]   # or appeal with documentation when MAI 3

    References:
        CMS NCCI MUE practitioner table; Noridian: medically unlikely edits (MAI 1, 2, 3; the whole line is denied);
        NGS: medically unlikely edits; Palmetto GBA MUE article.
    """

    id = "CC503"
    slug = "mue-exceeded"
    family = "NCCI"
    severity = Severity.ERROR
    message = ("{code}: {units_text} exceed the MUE of {mue} ({mai_text}; {source}). When the units exceed the MUE "
               "the whole line is denied, not just the excess.{zero_text} Rationale: {rationale_text}.{unconfirmed}")
    fix = ("Bill at most {mue} units of {code} on {date_text} unless the record documents a medically necessary "
           "exception (MAI 1: separate lines with the right modifier; MAI 3: appeal with documentation).")
    references = (_MUE_REF, "Noridian: medically unlikely edits", "NGS: medically unlikely edits")

    def screen_for(self, tables: Tables) -> Screen | None:
        # A line is over when its units, or its patient, provider and date's units of the code, exceed one of the
        # code's MUE values for the date; the join repeats each line once per value row, and a window groups null
        # keys together. So the day's positive units times the rows bound both; NaN units (larger than any value for
        # Polars) may exceed anything.
        lines = tables.lines
        if lines.height > SMALL_RUN:
            return None
        units: defaultdict[tuple[object, ...], float] = defaultdict(float)
        keys = zip(*(lines.get_column(c).to_list() for c in (*_SAME_DAY, "code")), strict=True)
        for key, value in zip(keys, lines.get_column("units").to_list(), strict=True):
            if value is not None and math.isnan(value):
                return None
            units[key] += max(value or 0.0, 0.0)
        by_day = _day_tables(tables, "mue")
        for (_, _, day, code), total in units.items():
            if day is None or code is None:
                continue  # joins no MUE row
            rows, lowest = _indexed(by_day[cast(dt.date, day)], "mue", _mue_index).get(cast(str, code), (0, None))
            if lowest is not None and rows * total > lowest:
                return None
        return CANNOT_FIRE

    def check(self, tables: Tables) -> pl.DataFrame:
        excess = mue_excess(tables.lines, _by_date(tables, "mue"))
        if excess.is_empty():
            return excess
        return excess.select("encounter_id", "line", "code", "units_text", "mue", "mai_text", "source", "zero_text",
                             "rationale_text", "unconfirmed", "severity", "date_text").sort("encounter_id", "line")


_DISTINCT_MODIFIERS = ("59", "XE", "XP", "XS", "XU")


def _distinct_without_pair(tables: Tables) -> pl.DataFrame:
    """Lines carrying 59 or an X{EPSU} modifier whose code has no PTP edit (any indicator) with another code billed
    for the same patient, provider and date, in either column."""
    marked = tables.lines.lazy().select(
        "encounter_id", "line", "code", *_SAME_DAY,
        pl.col("modifiers").list.eval(pl.element().filter(pl.element().is_in(list(_DISTINCT_MODIFIERS))))
        .alias("distinct"),
    ).filter(pl.col("distinct").list.len() > 0)
    ptp = _by_date(tables, "ptp")
    if ptp.is_empty():
        paired = marked.select("encounter_id", "line").head(0)
    else:
        edits = ptp.lazy().select("date", "column1", "column2")
        day = tables.lines.lazy().select(*_SAME_DAY, pl.col("code").alias("other"),
                                         pl.col("encounter_id").alias("other_encounter"),
                                         pl.col("line").alias("other_line"))
        as_column2 = (marked.join(edits, left_on=["date", "code"], right_on=["date", "column2"], how="inner")
                      .join(day, left_on=[*_SAME_DAY, "column1"], right_on=[*_SAME_DAY, "other"], how="inner"))
        as_column1 = (marked.join(edits, left_on=["date", "code"], right_on=["date", "column1"], how="inner")
                      .join(day, left_on=[*_SAME_DAY, "column2"], right_on=[*_SAME_DAY, "other"], how="inner"))
        another_line = (pl.col("other_encounter") != pl.col("encounter_id")) | (pl.col("other_line") != pl.col("line"))
        paired = pl.concat([frame.filter(another_line).select("encounter_id", "line")
                            for frame in (as_column2, as_column1)])
    return collect(
        marked.join(paired.unique(), on=["encounter_id", "line"], how="anti")
        .with_columns(pl.col("distinct").list.join(", ").alias("distinct_text"),
                      pl.col("date").cast(pl.String).alias("date_text"))
        .select("encounter_id", "line", "code", "distinct_text", "date_text")
        .sort("encounter_id", "line")
    )


@register
class DistinctModifierWithoutPtpPair(Rule):
    """59 or an X{EPSU} modifier on a line that no NCCI PTP edit pairs with another code billed that day (audit flag).

    What it checks:
        Lines carrying 59, XE, XP, XS or XU whose code has no NCCI practitioner PTP edit, in either column and of any
        modifier indicator, with another code billed for the same patient, rendering provider and date, in the PTP
        table in force on the date (bundled subset or an imported CMS quarter). An information finding, not an error.

    Why it matters:
        These modifiers exist to bypass a PTP edit for a distinct service. With no edit to bypass the modifier changes
        nothing on the claim, but auditors (OIG, RACs, payers' special investigation units) count 59 and X modifiers
        per provider: one appended by habit raises the provider's rate and invites a records request. With the bundled
        subset the table may miss a real pair; import the CMS quarter (`cleanclaim data import`) to be sure.

    Example:
        lines: [{code: "97110", modifiers: [GP, "59"], units: 2}, {code: "97112", modifiers: [GP], units: 1}]

    Use instead:
        lines: [{code: "97110", modifiers: [GP], units: 2}, {code: "97112", modifiers: [GP], units: 1}]

    References:
        CMS MLN1783722 (proper use of modifiers 59, XE, XP, XS, XU: only to bypass an NCCI PTP edit when the services
        are distinct); CMS CR 8863 (X{EPSU}, 2015-01-01); CMS NCCI Policy Manual for Medicare Services, ch. I s E.
    """

    id = "CC504"
    slug = "distinct-modifier-without-ptp-pair"
    family = "NCCI"
    severity = Severity.INFO
    message = ("{code} carries {distinct_text}, but no NCCI PTP edit in the table in use pairs {code} with another "
               "code billed for the same patient, provider and date ({date_text}): there is no edit to bypass")
    fix = ("Remove {distinct_text} from {code} unless a payer edit outside the NCCI table needs it; if it does, keep "
           "the note that shows the service was distinct (separate session, structure, practitioner or time).")
    references = ("CMS MLN1783722 (modifiers 59 and X{EPSU})", "CMS CR 8863 (Transmittal 1422)",
                  "CMS NCCI Policy Manual for Medicare Services, ch. I")

    def screen_for(self, tables: Tables) -> Screen | None:
        if tables.values("modifiers").isdisjoint(_DISTINCT_MODIFIERS):
            return CANNOT_FIRE
        return None

    def check(self, tables: Tables) -> pl.DataFrame:
        return tables.memo("ncci_distinct_without_pair", _distinct_without_pair)
