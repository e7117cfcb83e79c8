"""Units against time: do the billed units match what the documented minutes support under the payer's time rule?

The CMS 8-minute rule (Pub 100-04 Ch.5 s20.2 part C, as quoted by First Coast) is computed here over whole tables
with window functions, one pool at a time: ``cms_unit_bounds`` is the vectorised twin of ``timing.allocate_cms`` and a
property test keeps the two in step. A tie for the last unit is the clinician's choice, so each code gets a range of
acceptable units (``min_units`` to ``max_units``), not one number.

A pool is one patient, one date and one therapy discipline. The s20.2 text (quoted by chirocode.com) speaks of "the
total number of minutes of service" in "a single day" without naming disciplines; that the total is per discipline
comes from secondary sources only: Legion Healthcare Solutions' 8-minute rule guide ("billed based on total timed
minutes per discipline") and, as the reviewer reports (not seen in the stored material), Weissberg 2018 on
physicaltherapy.com ("on a single date of service for a single discipline"). It fits the claim rules: GP / GO / GN
mark services under a PT / OT / SLP plan of care (CR 10176), and each plan of care is its own course of treatment.
A PT's 10 minutes and an OT's 10 minutes the same day are therefore 1 unit each, not 1 unit between them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

import polars as pl

from cleanclaim import timing
from cleanclaim.codebook import CodeBook
from cleanclaim.model import Severity
from cleanclaim.rules.catalogue.time_units import (
    _family_pool_key,
    _family_pools,
    _own_rule_minutes,
    _py_lines,
    _time_rules,
    _versions,
)
from cleanclaim.rules.registry import CANNOT_FIRE, Rule, Screen, register
from cleanclaim.rules.tables import SMALL_RUN, Tables, codes_frame, collect, key_may_repeat, lines_with_codes

__all__ = ["cms_unit_bounds", "per_code_units", "therapy_discipline"]

_DAY = ["patient_id", "date"]
# The 8-minute pool: one patient, one date, one therapy discipline (``_disc``: `therapy_discipline` as a number).
_POOL = [*_DAY, "_disc"]
_THERAPY_DISCIPLINES = ["PT", "OT", "SLP"]
# A flagged row of either units rule: ``above`` is True for units-exceed-time, False for units-below-time.
_ROW_SCHEMA: dict[str, pl.DataType] = {"encounter_id": pl.String(), "line": pl.Int32(), "code": pl.String(),
                                       "detail": pl.String(), "fix_text": pl.String(), "severity": pl.String(),
                                       "above": pl.Boolean()}
_CMS_REF = ("CMS Pub. 100-04 ch. 5 s20.2 part C (8-minute rule; text as quoted by First Coast, a MAC); minutes "
            "totalled per discipline: cleanclaim's reading of separate PT/OT/SLP plans of care (CMS Pub. 100-02 "
            "ch. 15 s220.1.2; CR 10176 GP/GO/GN), no CMS statement found (secondary: Legion Healthcare Solutions)")

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

# Performance notes. On one claim every Polars operation costs a roughly fixed 0.05-0.2 ms, so the plans below are
# built from as few operations as the logic allows (several windows over the same keys in one ``with_columns``, no
# join where a stacked ``group_by`` does, no branch that the claim cannot use, no subplan read twice: rule plans run
# without common-subplan elimination), and every expression that does not depend on the tables is built once, at
# import or per code book / pool key. On a batch the same plans stay vectorised, and texts are only built for the
# rows flagged.


def _whole(units: pl.Expr) -> pl.Expr:
    return units.is_not_null() & (units == units.floor())


_LEFTOVER = (pl.col("minutes") % 15).alias("leftover")


def _order(day: str) -> pl.Expr:
    """``_order``: the day, then the leftover largest first, as one number (leftovers are in [0, 15), so the days'
    ranges do not overlap), where ``day`` names an exact integer column per day (any numbering)."""
    return (pl.col(day) * 16 + 14 - pl.col("leftover")).alias("_order")


def _rank_steps(day: str) -> tuple[tuple[pl.Expr, ...], ...]:
    """The CMS allocation's day numbers, in three steps over a table with ``_order`` (`_order`): ``full_units``,
    ``day_minutes``, ``_day_full_units`` and the leftover ranks ``_rank_min`` / ``_rank_max`` within the day.

    The ranks are taken once over the whole table rather than per day (a rank per window group costs several times
    more on a batch): a code's rank "min" within its day (1 + the codes with more leftover) is its rank "min" in the
    whole table less the rows of the days before it, which is the day's lowest rank "min" less one, and its rank
    "max" (the codes with at least as much) likewise. A null leftover has no rank and does not count in the others',
    as with ``rank`` over the day. On rows sorted by ``_order`` each rank is one pass over them: Polars ranks a
    column it knows to be sorted without sorting it. (The rows before are a column of their own: a window written
    twice in one step is computed twice.)"""
    global_ranks = (
        (pl.col("minutes") // 15).alias("full_units"),
        pl.col("minutes").sum().over(day).alias("day_minutes"),
        (pl.col("minutes") // 15).sum().over(day).alias("_day_full_units"),
        pl.col("_order").rank("min").cast(pl.Int64).alias("_rank_min"),
        pl.col("_order").rank("max").cast(pl.Int64).alias("_rank_max"),
    )
    before = (pl.col("_rank_min").min().over(day) - 1).alias("_before")  # the rows of earlier days
    within = ((pl.col("_rank_min") - pl.col("_before")).alias("_rank_min"),
              (pl.col("_rank_max") - pl.col("_before")).alias("_rank_max"))
    return global_ranks, (before,), within


def _in_steps(frame: Frame, steps: tuple[tuple[pl.Expr, ...], ...]) -> Frame:
    """``frame`` with each step's columns added in turn (a step reads the columns of the steps before it)."""
    for step in steps:
        frame = frame.with_columns(*step)
    return frame


def _bounds() -> tuple[pl.Expr, ...]:
    day_units = (pl.col("day_minutes") + 7) // 15
    remaining = day_units - pl.col("_day_full_units")
    has_leftover = pl.col("leftover") > 0
    return (
        day_units.alias("day_units"),
        (pl.col("full_units") + (has_leftover & (pl.col("_rank_max") <= remaining)).cast(pl.Int64)).alias("min_units"),
        (pl.col("full_units") + (has_leftover & (pl.col("_rank_min") - 1 < remaining)).cast(pl.Int64))
        .alias("max_units"),
    )


_BOUNDS = _bounds()
_DAY_RANKS = _rank_steps("_day")


def cms_unit_bounds(day_codes: Frame, day: list[str]) -> Frame:
    """Acceptable units per code under the CMS method, for every day at once.

    ``day_codes`` has one row per day and code with ``minutes`` (that code's timed minutes that day); ``day`` names the
    columns that identify a day. Adds ``day_minutes``, ``day_units`` (floor((total + 7) / 15)), ``full_units`` (full
    15-minute blocks), ``leftover`` (minutes past them) and ``min_units``/``max_units``: a code surely gets the extra
    unit when every code with at least its leftover fits in the units still to assign, and may get it (clinician's
    choice) when the codes with strictly more leftover do not use them all up. Works on a DataFrame or, inside a
    rule's plan, on a LazyFrame.
    """
    numbered = day_codes.with_columns(_LEFTOVER, pl.struct(day).rank("dense").cast(pl.Int64).alias("_day"))
    return (
        _in_steps(numbered.with_columns(_order("_day")), _DAY_RANKS).with_columns(*_BOUNDS)
        .drop("_day", "_order", "_rank_min", "_rank_max", "_before", "_day_full_units")
    )


def per_code_units(minutes: pl.Expr, unit_minutes: pl.Expr) -> pl.Expr:
    """Units of one code on its own under the CPT midpoint rule (15-minute unit from 8 minutes, 30-minute from 16)."""
    first = unit_minutes // 2 + 1
    return pl.when(minutes >= first).then((minutes - first) // unit_minutes + 1).otherwise(0)


_MODIFIER_DISCIPLINES = (("GP", "PT"), ("GO", "OT"), ("GN", "SLP"))
"""The therapy modifier of each plan of care, in the order they are tried (a line with two takes the first)."""
# The pools are grouped and numbered by the discipline as a number: its text is read only for the rows flagged (on a
# batch the pools are about 100,000 rows per 250,000 lines, and a text key or a text lookup on each costs several
# times what a small integer does).
_DISCIPLINES = [*_THERAPY_DISCIPLINES, "other"]
_DISCIPLINE_NUMBERS = {name: number for number, name in enumerate(_DISCIPLINES)}


def _discipline_number(modifiers: pl.Expr, provider_discipline: pl.Expr) -> pl.Expr:
    """`therapy_discipline` as its index in ``_DISCIPLINES``."""
    chosen: Any = pl
    for modifier, discipline in _MODIFIER_DISCIPLINES:
        chosen = chosen.when(modifiers.list.contains(modifier)).then(
            pl.lit(_DISCIPLINE_NUMBERS[discipline], dtype=pl.Int64))
    number: pl.Expr = chosen.otherwise(provider_discipline.replace_strict(
        _DISCIPLINE_NUMBERS, default=_DISCIPLINE_NUMBERS["other"], return_dtype=pl.Int64))
    return number


def therapy_discipline(modifiers: pl.Expr, provider_discipline: pl.Expr) -> pl.Expr:
    """The discipline whose plan of care a line belongs to, which is the pool its minutes count in.

    The GP / GO / GN modifier says it (services under a PT / OT / SLP plan of care); a line without one falls back on
    the rendering provider's discipline when that is PT, OT or SLP. Anything else (a physician billing 97110 without a
    therapy modifier) is pooled on its own, apart from every therapy discipline, as ``"other"``.
    """
    return _discipline_number(modifiers, provider_discipline).replace_strict(
        dict(enumerate(_DISCIPLINES)), return_dtype=pl.String)


_DISCIPLINE_NAME = pl.col("_disc").replace_strict(dict(enumerate(_DISCIPLINES)), return_dtype=pl.String)


@cache
def _is_timed(book: CodeBook) -> pl.Expr:
    """Whether ``code`` is a 15-minute timed code of the book (built once per book: a constant list)."""
    codes = codes_frame(book).filter(pl.col("time_rule") == "timed15").get_column("code").unique().sort().to_list()
    return pl.col("code").is_in(codes)


@cache
def _addon_codes(book: CodeBook) -> pl.DataFrame:
    """Each add-on code and the minutes of one of its units (a constant of the book, built once)."""
    return codes_frame(book).filter(pl.col("time_rule") == "addon").select(
        pl.col("code").alias("addon_code"), pl.col("unit_minutes").alias("addon_unit_minutes")
    ).unique("addon_code")


# ---- 15-minute timed codes: the pools ------------------------------------------------------------------------------
_LINE_DISCIPLINE = _discipline_number(pl.col("modifiers"), pl.col("provider_discipline")).alias("_disc")
_FROM_LINE = pl.col("_from_line").fill_null(False)
_FROM_SERVICE = ~_FROM_LINE
# A service takes the discipline of the encounter's first billed line of its code, else the provider's.
_SERVICE_DISCIPLINE = pl.coalesce(
    "_disc",
    pl.col("_disc").drop_nulls().first().over("encounter_id", "code"),
    _discipline_number(pl.lit([], dtype=pl.List(pl.String)), pl.col("provider_discipline")),
).alias("_disc")
# Documented minutes: the lines' own when one carries minutes, else the services' documented minutes (null when the
# code has no line minutes and no service).


def _lines_only_agg(lines: pl.Expr) -> tuple[pl.Expr, ...]:
    """A pool and code's columns from its lines alone, its lines listed as ``lines`` gives each."""
    return (
        pl.col("units").sum().alias("billed"),
        lines.alias("lines"),
        _whole(pl.col("units")).all().alias("whole"),
        pl.col("encounter_id").first().alias("first_encounter"),
        pl.col("payer").first(),
        pl.when(pl.col("minutes").is_not_null().any()).then(pl.col("minutes").sum()).alias("minutes"),
        pl.col("_src_row").min(),
    )


_LINES_ONLY_AGG = _lines_only_agg(pl.struct("encounter_id", "line"))
_STACKED_AGG = (
    pl.col("units").sum().alias("billed"),
    pl.struct("encounter_id", "line").filter(_FROM_LINE).alias("lines"),
    (_FROM_SERVICE | _whole(pl.col("units"))).all().alias("whole"),
    pl.coalesce(pl.col("encounter_id").filter(_FROM_LINE).first(),
                pl.col("encounter_id").filter(_FROM_SERVICE).first()).alias("first_encounter"),
    pl.coalesce(pl.col("payer").filter(_FROM_LINE).first(), pl.col("payer").filter(_FROM_SERVICE).first())
    .alias("payer"),
    pl.when(pl.col("minutes").is_not_null().any()).then(pl.col("minutes").sum())
    .when(pl.col("service_minutes").is_not_null().any()).then(pl.col("service_minutes").sum())
    .alias("minutes"),
    pl.col("_src_row").min(),
)

# On a large run of lines only, a pool and code's lines are carried as their row numbers in the collected timed
# lines (``_src_row``), not as (encounter, line) structs: a struct per line was built, sorted and carried through
# every pool, and only the flagged rows' are read (`_line_keys` looks them up at the end).
_LINES_ONLY_ROWS_AGG = _lines_only_agg(pl.col("_src_row"))


_CMS = pl.col("time_rule") == "cms"
# Each pool, and each pool and time rule, is numbered by an exact integer so that the windows below run over one
# integer key rather than four text keys (text keys cost several times more on a batch): ``_day`` numbers the
# patient's day by the first row of its rows as grouped (each pool and code keeps its first row's number,
# ``_src_row``), which is the only window over text. (A dense rank of the patient ids instead costs a sort of the
# texts, in the grouped rows' hashed order: five times the window on a 250,000-line partition.) The discipline
# (``_disc``) and the time rule (cms, per_code or none) are small numbers folded in. ``_rule_pool`` puts the day and
# time rule first, so that the pools of one patient's day and time rule sort together (``_other_disciplines`` reads
# them as one run).
_RULE_NUMBER = pl.when(_CMS).then(0).when(pl.col("time_rule") == "per_code").then(1).otherwise(2)
_DAY_NUMBER = pl.col("_src_row").min().over(_DAY).alias("_day")
_POOL_NUMBERS_OF_DAY = (
    (pl.col("_day") * 4 + pl.col("_disc")).alias("_pool"),
    ((pl.col("_day") * 3 + _RULE_NUMBER) * 4 + pl.col("_disc")).alias("_rule_pool"),
)
# A pool counts only when every code of it has minutes and whole units: the pools with a code that does not are
# listed once and looked up (a boolean window costs several times more).
_UNUSABLE = pl.col("minutes").is_null() | ~pl.col("whole")
_USABLE = (~pl.col("_pool").is_in(pl.col("_pool").filter(_UNUSABLE).implode())).alias("_usable")
_SRC_ROW = pl.int_range(pl.len(), dtype=pl.Int64).alias("_src_row")


def _timed_day_codes(tables: Tables) -> tuple[pl.LazyFrame, pl.DataFrame | None]:
    """One row per patient, date, therapy discipline and 15-minute timed code: units billed, documented minutes, the
    payer's time rule and the lines. A code documented in ``services`` but not billed takes part with 0 units (its
    minutes count toward its discipline's total). ``_pool_rows`` leaves out the pools where a timed code has no
    minutes, or a line has fractional units: those are the missing-minutes and fractional-units rules' business.

    A documented service takes the discipline of the encounter's billed line of the same code (services carry no
    modifiers), else the encounter provider's discipline.

    Billed lines and documented services are stacked (lines first) and grouped once: the line-side values are the
    first of the lines, the service-side ones the first of the services, as a join of two groupings would give, for a
    fraction of its cost on one claim. A claim without documented services (an 837P, a claim-line table) skips the
    services entirely.

    Also returns the timed lines when ``lines`` holds row numbers into them (`_lines_grouped`), else None (``lines``
    holds (encounter, line) structs).
    """
    lines = lines_with_codes(tables).lazy().filter(pl.col("time_rule") == "timed15").select(
        "encounter_id", "line", *_DAY, "payer", "code", "units", "minutes", _LINE_DISCIPLINE, _SRC_ROW,
    )
    if tables.services.height == 0:  # a plain Python attribute: costs nothing, saves a join on most claims
        grouped, timed = _lines_grouped(lines, large=tables.lines.height > SMALL_RUN)
    else:
        timed = None
        lines = lines.with_columns(pl.lit(True).alias("_from_line"))
        services = (
            tables.services.lazy().filter(pl.col("minutes").is_not_null() & _is_timed(tables.book))
            # in input order, so that "first" below is the first encounter that documents the code
            .join(tables.encounters.lazy().select("encounter_id", *_DAY, "payer", "provider_discipline"),
                  on="encounter_id", how="inner", maintain_order="left")
            .select("encounter_id", *_DAY, "payer", "code", pl.col("minutes").alias("service_minutes"),
                    "provider_discipline")
        )
        grouped = (
            pl.concat([lines, services], how="diagonal")
            .with_columns(_SERVICE_DISCIPLINE, _SRC_ROW)
            .group_by(*_POOL, "code").agg(*_STACKED_AGG)
        )
    return (
        grouped.join(tables.payer_frame().lazy().select("payer", "time_rule"), on="payer", how="left")
        .with_columns(pl.col("billed").cast(pl.Int64), _LEFTOVER, _DAY_NUMBER)
        .with_columns(*_POOL_NUMBERS_OF_DAY)
        .with_columns(_USABLE)
    ), timed


# ``_LINES_ONLY_ROWS_AGG`` over a group of one line, in the same columns: its units (a null one sums to 0), its one
# line's row number, whether its units are whole, its encounter and payer, its minutes.
_ONE_LINE = (
    pl.col("units").fill_null(0).alias("billed"),
    pl.concat_list("_src_row").alias("lines"),
    _whole(pl.col("units")).alias("whole"),
    pl.col("encounter_id").alias("first_encounter"),
    "payer",
    "minutes",
    "_src_row",
)


def _repeats(keys: list[str]) -> pl.Expr:
    """Whether two rows may share ``keys`` (`key_may_repeat`)."""
    return key_may_repeat(keys).any()


def _grouped(rows: pl.DataFrame, keys: list[str], agg: Sequence[pl.Expr],
             one_row: Sequence[pl.Expr | str]) -> pl.LazyFrame:
    """``agg`` per ``keys`` of ``rows``; where no two rows share the keys (a clean batch), each row is its own group and
    ``one_row`` gives that group's columns as they are, without the grouping. The groups' order is not the
    grouping's; nothing after depends on it."""
    if rows.select(_repeats(keys)).item():
        return rows.lazy().group_by(*keys).agg(*agg)
    return rows.lazy().select(*keys, *one_row)


def _lines_grouped(lines: pl.LazyFrame, *, large: bool) -> tuple[pl.LazyFrame, pl.DataFrame | None]:
    """``_LINES_ONLY_AGG`` per pool and code of the 15-minute lines. On a large run where no two lines share a pool
    and a code (a clean batch: one line per timed code and day), each line is its own group: its columns are the
    group's values as they are, for a fifth of the grouping's cost (a 250,000-line partition of the 1M-line synthetic
    file: 5 ms against 17, on one thread). The groups' order is not the grouping's; nothing after depends on it.

    On a large run the lines are row numbers into the collected timed lines, returned beside (see
    `_timed_day_codes`); on a claim, (encounter, line) structs and None."""
    if not large:  # on a claim the look for repeats would cost about what the grouping does
        return lines.group_by(*_POOL, "code").agg(*_LINES_ONLY_AGG), None
    timed = collect(lines)
    return _grouped(timed, [*_POOL, "code"], _LINES_ONLY_ROWS_AGG, _ONE_LINE), timed


def _units_text(units: pl.Expr) -> pl.Expr:
    return pl.format("{} unit", units) + pl.when(units == 1).then(pl.lit("")).otherwise(pl.lit("s"))


# The CMS pools and the per-code payers in one pass: the numbers run per pool and time rule, so a CMS pool's numbers
# are those of its own codes exactly as if the CMS rows were taken apart first.
_RULE_POOL_ID = pl.col("_rule_pool")
_CHECKED = pl.col("_usable") & pl.col("time_rule").is_in(["cms", "per_code"])
_POOL_RANKS = _rank_steps("_rule_pool")


def _pool_rows(tables: Tables) -> pl.LazyFrame:
    """Units above (``above``) or below what the time supports for 15-minute codes: under the CMS method per
    pool, or code by code under a per-code payer.

    The pools left out (``_CHECKED``) are dropped first: a pool's numbers read only its own rows, and
    ``_other_disciplines`` only checked ones. The rows are then sorted by pool and leftover (``_order``), which turns
    the ranks into passes over sorted values and lets the pool windows take Polars' sorted path. The numbers come
    first (over every code of the pool); the pool's list of codes is built only for the pools with a flagged row,
    and the texts only for the flagged rows: on a batch almost every pool passes. A CMS row is never both above and
    below: ``min_units <= max_units``, so each pair of conditions excludes the other.
    """
    day_codes, timed = _timed_day_codes(tables)
    ordered = (
        day_codes
        .filter(_CHECKED)
        .with_columns(_order("_rule_pool"))
        .sort("_order")
        # sorted with ``_order``, whose leading part they are: told so, the windows over them take the sorted path
        .with_columns(_RULE_POOL_ID.set_sorted(), (_RULE_POOL_ID // 4).set_sorted().alias("_day_rule"))
        .with_columns(*_POOL_NUMBERS)
    )
    return (
        _in_steps(ordered, _POOL_RANKS)
        .with_columns(*_BOUNDS)
        # the pools with a flagged row, listed once and looked up (a boolean window costs several times more)
        .filter(_RULE_POOL_ID.is_in(_RULE_POOL_ID.filter(_ABOVE | _BELOW).implode()))
        .with_columns(_ABOVE.alias("above"), _BELOW.alias("below"), *_CMS_POOL_TEXTS)
        .filter(pl.col("above") | pl.col("below"))
        .with_columns(*_POOL_DETAIL)
        .explode("lines", empty_as_null=True)
        .select(*(_POOL_ROW if timed is None else _line_keys(timed)))
    )


def _line_keys(timed: pl.DataFrame) -> tuple[pl.Expr | str, ...]:
    """``_POOL_ROW`` where ``lines`` is a row number into the timed lines ``timed``: its encounter and line, gathered
    for the flagged rows only."""
    row = pl.col("lines")
    return (
        pl.when(pl.col("_has_lines")).then(pl.lit(timed.get_column("encounter_id")).gather(row))
        .otherwise(pl.col("first_encounter")).alias("encounter_id"),
        pl.when(pl.col("_has_lines")).then(pl.lit(timed.get_column("line")).gather(row)).otherwise(None)
        .alias("line"),
        *_POOL_ROW[2:],
    )


# ``_other_disciplines``: the patient's day has a pool of another discipline under the same time rule (``_day_rule``:
# the day and time rule part of ``_rule_pool``; its checked rows outnumber this pool's). ``_codes``: the pool's
# codes (a pool's rows are one code each, never null).
_POOL_NUMBERS = (
    pl.col("billed").sum().over(_RULE_POOL_ID).alias("day_billed"),
    (pl.len().over("_day_rule") > pl.len().over(_RULE_POOL_ID)).alias("_other_disciplines"),
    pl.len().over(_RULE_POOL_ID).alias("_codes"),
    per_code_units(pl.col("minutes"), pl.lit(15)).alias("supported"),
)
_OVER_DAY = pl.col("day_billed") > pl.col("day_units")
_UNDER_DAY = pl.col("day_billed") < pl.col("day_units")
_ABOVE = (
    pl.when(_CMS).then(
        (_OVER_DAY & (pl.col("billed") > pl.col("min_units")))
        | (~_OVER_DAY & (pl.col("billed") > pl.col("max_units")))
    ).otherwise(pl.col("billed") > pl.col("supported"))
)
_BELOW = (
    pl.when(_CMS).then(
        (_UNDER_DAY & (pl.col("billed") < pl.col("max_units")))
        | (~_UNDER_DAY & (pl.col("billed") < pl.col("min_units")))
    ).otherwise(pl.col("billed") < pl.col("supported"))
)
# The pool's codes in code order, as the CMS message lists them.
_CMS_POOL_TEXTS = (
    pl.format("{} {}", pl.col("code"), _units_text(pl.col("billed"))).sort_by("code").str.join(" + ")
    .over(_RULE_POOL_ID).alias("billed_text"),
    pl.format("{} {} min", pl.col("code"), pl.col("minutes")).sort_by("code").str.join(", ")
    .over(_RULE_POOL_ID).alias("minutes_text"),
)
# One row per flagged line; a code documented but not billed has no line and takes its first encounter.
_POOL_ROW = (
    pl.when(pl.col("_has_lines")).then(pl.col("lines").struct.field("encounter_id"))
    .otherwise(pl.col("first_encounter")).alias("encounter_id"),
    pl.when(pl.col("_has_lines")).then(pl.col("lines").struct.field("line")).otherwise(None).alias("line"),
    "code", "detail", "fix_text", "severity", "above",
)


def _pool_detail() -> tuple[pl.Expr, ...]:
    band_low = (pl.col("day_units") * 15 - 7).clip(lower_bound=0)
    band_high = pl.when(pl.col("day_units") == 0).then(7).otherwise(pl.col("day_units") * 15 + 7)
    allowed_text = (
        pl.when(pl.col("min_units") == pl.col("max_units")).then(_units_text(pl.col("min_units")))
        .otherwise(pl.format("{} or {} units (tie for the last unit: clinician's choice)", pl.col("min_units"),
                             pl.col("max_units")))
    )
    sum_text = (
        pl.when(pl.col("_codes") == 1).then(pl.col("billed_text"))
        .otherwise(pl.format("{} = {}", pl.col("billed_text"), _units_text(pl.col("day_billed"))))
    )
    day_text = pl.format(
        "{}, but {} total timed minutes ({}) support {} under the CMS 8-minute rule ({}-{} minutes)",
        sum_text, pl.col("day_minutes"), pl.col("minutes_text"), _units_text(pl.col("day_units")),
        band_low, band_high,
    )
    code_text = pl.format(
        "{} is billed {}, but under the CMS 8-minute rule it gets {} of the {} that {} total timed minutes support "
        "({}): each code first gets its full 15-minute blocks, then the remaining units go to the largest leftover "
        "minutes",
        pl.col("code"), _units_text(pl.col("billed")), allowed_text, _units_text(pl.col("day_units")),
        pl.col("day_minutes"), pl.col("minutes_text"),
    )
    cms_fix = (
        pl.when(pl.col("max_units") == 0)
        .then(pl.format("Do not bill {}: its {} minutes get no unit; the day's timed minutes support {} in total.",
                        pl.col("code"), pl.col("minutes"), _units_text(pl.col("day_units"))))
        .otherwise(pl.format("Bill {} as {} (documented {} min); the day's timed minutes support {} in total.",
                             pl.col("code"), allowed_text, pl.col("minutes"), _units_text(pl.col("day_units"))))
    )
    # When the patient had more than one discipline that day, say which pool the numbers are about.
    pool_note = pl.when(pl.col("_other_disciplines")).then(pl.format(
        " ({} minutes only: each discipline's plan of care counts its own timed minutes)",
        pl.when(pl.col("_disc") == _DISCIPLINE_NUMBERS["other"]).then(pl.lit("non-therapy"))
        .otherwise(_DISCIPLINE_NAME),
    )).otherwise(pl.lit(""))
    day_text = day_text + pool_note
    code_text = code_text + pool_note
    # the whole day's numbers when the day's total is off in the row's direction, else the code's own share
    above = pl.col("above").fill_null(False)
    cms_detail = pl.when(pl.when(above).then(_OVER_DAY).otherwise(_UNDER_DAY)).then(day_text).otherwise(code_text)
    per_code_detail = pl.format(
        "{} is billed {}, but its {} minutes support {} under the per-code rule of eights (each code on its own: "
        "8-22 minutes = 1 unit, 23-37 = 2, and so on; minutes are not pooled)",
        pl.col("code"), _units_text(pl.col("billed")), pl.col("minutes"), _units_text(pl.col("supported")),
    )
    per_code_fix = (
        pl.when(pl.col("supported") == 0)
        .then(pl.format("Do not bill {}: {} minutes are under the 8 a unit needs when each code counts on its own.",
                        pl.col("code"), pl.col("minutes")))
        .otherwise(pl.format("Bill {} as {} for {} documented minutes.", pl.col("code"),
                             _units_text(pl.col("supported")), pl.col("minutes")))
    )
    return (
        pl.when(_CMS).then(cms_detail).otherwise(per_code_detail).alias("detail"),
        pl.when(_CMS).then(cms_fix).otherwise(per_code_fix).alias("fix_text"),
        pl.lit(None, dtype=pl.String).alias("severity"),
        above.alias("above"),
        (pl.col("lines").list.len().fill_null(0) > 0).alias("_has_lines"),
    )


_POOL_DETAIL = _pool_detail()


# ---- per-unit, typical-time, at-least and base + add-on codes ----------------------------------------------------
_SIMPLE_RULES = ["per_unit", "typical", "at_least", "base"]


def _other_time_rows(tables: Tables, *, family: bool) -> pl.LazyFrame:
    """Rows above or below for per-unit, typical-time, at-least and base + add-on codes, per encounter and code
    family (only per-unit codes and add-on units are reported below). ``family``: whether a base code is billed,
    without which the base + add-on branch (two joins) has nothing to do.

    Lines under the code's minimum time are skipped: the below-minimum-time rule reports them.
    """
    # only the codes this reads (a code's every line, so each group below is whole): on a batch most lines are
    # 15-minute, untimed or time-range codes, which would be grouped for nothing
    code_lines = _own_rule_minutes(tables).lazy().filter(pl.col("group_has_minutes") & _other_time_code(tables.book))
    per_code = (
        _per_code_grouped(code_lines, large=tables.lines.height > SMALL_RUN)
        .filter(pl.col("whole"))
        .with_columns(pl.col("billed").cast(pl.Int64))
    )
    if family:
        # read three times below (the codes, the base codes, their add-ons): the rule plans run without
        # common-subplan elimination, so it is computed once here rather than three times in the plan
        per_code = collect(per_code).lazy()
    simple = (
        per_code.filter(pl.col("time_rule").is_in(_SIMPLE_RULES))
        .with_columns(*_SIMPLE_SUPPORTED)
        .filter((pl.col("minutes") >= pl.col("needed"))
                & ((pl.col("billed") > pl.col("supported"))
                   | ((pl.col("time_rule") == "per_unit") & (pl.col("billed") < pl.col("supported")))))
        .with_columns(*_SIMPLE_TEXTS)
    )
    rows = [_other_flag_rows(simple)]
    if family:
        # only the add-on codes' rows can match a base code's ``addon_code`` (the inner join below keeps the add-ons
        # of the book): the others (most of a batch's rows here) are left out of the join's table
        addon_billed = per_code.filter(_is_addon(tables.book)).select(
            "encounter_id", "date", pl.col("code").alias("addon_code"), pl.col("billed").alias("addon_billed"),
            pl.col("line_list").alias("addon_lines"))
        base_addon = (
            per_code.filter((pl.col("time_rule") == "base") & (pl.col("minutes") >= pl.col("min_minutes")))
            .join(_addon_codes(tables.book).lazy(), on="addon_code", how="inner")
            .join(addon_billed, on=["encounter_id", "date", "addon_code"], how="left")
            .with_columns(*_FAMILY_SUPPORTED)
            .filter(pl.col("addon_billed") != pl.col("supported"))
            .with_columns(*_FAMILY_TEXTS)
        )
        rows.append(_other_flag_rows(base_addon))
    return pl.concat(rows)


_CODE_DAY = ["encounter_id", "date", "code"]
# ``_PER_CODE_AGG`` over a group of one line, in the same columns (a null unit sums to 0).
_ONE_CODE_LINE = (
    pl.col("units").fill_null(0).alias("billed"),
    _whole(pl.col("units")).alias("whole"),
    pl.concat_list("line").alias("line_list"),
    "time_rule", "unit_minutes", "typical_minutes", "min_minutes", "addon_code",
    pl.col("group_minutes").alias("minutes"),
)


def _per_code_grouped(code_lines: pl.LazyFrame, *, large: bool) -> pl.LazyFrame:
    """``_PER_CODE_AGG`` per encounter, date and code of ``code_lines``. On a large run where no two lines share
    them (a batch bills each of these codes once a claim), each line is its own group, without the grouping: the look
    for repeats costs about a third of it (a 250,000-line partition of the 1M-line synthetic file: ~2 ms against 6,
    on one thread). The groups' order is not the grouping's; the findings are sorted after."""
    if not large:  # on a claim the look for repeats would cost about what the grouping does
        return code_lines.group_by(*_CODE_DAY).agg(*_PER_CODE_AGG)
    return _grouped(collect(code_lines), _CODE_DAY, _PER_CODE_AGG, _ONE_CODE_LINE)


@cache
def _other_time_code(book: CodeBook) -> pl.Expr:
    """Whether ``code`` has a version under one of ``_SIMPLE_RULES`` or is an add-on (whose billed units a base code's
    row reads): the codes ``_other_time_rows`` groups (built once per book: a constant list)."""
    codes = (codes_frame(book).filter(pl.col("time_rule").is_in([*_SIMPLE_RULES, "addon"]))
             .get_column("code").unique().sort().to_list())
    return pl.col("code").is_in(codes)


@cache
def _is_addon(book: CodeBook) -> pl.Expr:
    """Whether ``code`` is one of ``_addon_codes`` (built once per book: a constant list)."""
    return pl.col("code").is_in(_addon_codes(book).get_column("addon_code").drop_nulls().sort().to_list())


def _other_flag_rows(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.explode("flag_lines").select(
        "encounter_id", pl.col("flag_lines").cast(pl.Int32).alias("line"), pl.col("flag_code").alias("code"),
        "detail", "fix_text", "severity", "above",
    )


_PER_CODE_AGG = (
    pl.col("units").sum().alias("billed"),
    _whole(pl.col("units")).all().alias("whole"),
    pl.col("line").alias("line_list"),
    pl.col("time_rule").first(), pl.col("unit_minutes").first(), pl.col("typical_minutes").first(),
    pl.col("min_minutes").first(), pl.col("addon_code").first(), pl.col("group_minutes").first().alias("minutes"),
)
_SIMPLE_SUPPORTED = (
    pl.when(pl.col("time_rule") == "per_unit").then(per_code_units(pl.col("minutes"), pl.col("unit_minutes")))
    .when(pl.col("time_rule") == "typical").then(per_code_units(pl.col("minutes"), pl.col("typical_minutes")))
    .otherwise(1).alias("supported"),
    pl.when(pl.col("time_rule") == "per_unit").then(pl.col("unit_minutes") // 2 + 1)
    .otherwise(pl.col("min_minutes")).alias("needed"),
)
_SIMPLE_RULE_TEXT = (
    pl.when(pl.col("time_rule") == "per_unit")
    .then(pl.format("one unit per {} minutes, each attained past its midpoint", pl.col("unit_minutes")))
    .when(pl.col("time_rule") == "typical")
    .then(pl.format("units of its {}-minute typical time, each attained past the midpoint",
                    pl.col("typical_minutes")))
    .when(pl.col("time_rule") == "at_least")
    .then(pl.format("one unit for the session of at least {} minutes", pl.col("min_minutes")))
    .otherwise(pl.format("one unit for the first {} minutes; more time goes to the add-on {}",
                         pl.col("typical_minutes"), pl.col("addon_code")))
)
_SIMPLE_TEXTS = (
    pl.format("{} is billed {}, but its {} documented minutes support {} ({})", pl.col("code"),
              _units_text(pl.col("billed")), pl.col("minutes"), _units_text(pl.col("supported")),
              _SIMPLE_RULE_TEXT).alias("detail"),
    pl.format("Bill {} as {} for {} documented minutes.", pl.col("code"), _units_text(pl.col("supported")),
              pl.col("minutes")).alias("fix_text"),
    pl.lit(None, dtype=pl.String).alias("severity"),
    pl.col("line_list").alias("flag_lines"),
    pl.col("code").alias("flag_code"),
    (pl.col("billed") > pl.col("supported")).alias("above"),
)
_FAMILY_SUPPORTED = (
    pl.col("addon_billed").fill_null(0),
    per_code_units((pl.col("minutes") - pl.col("typical_minutes")).clip(lower_bound=0),
                   pl.col("addon_unit_minutes")).alias("supported"),
    pl.coalesce("addon_lines", "line_list").alias("flag_lines"),
    (pl.col("typical_minutes") + pl.col("addon_unit_minutes") // 2 + 1).alias("first_addon"),
)
_FAMILY_TEXTS = (
    pl.format("{} + {}: {} minutes in total support {} ×1 + {} ×{} (add-on units from {}, {} ... minutes: "
              "the base's {} minutes, then past the midpoint of each {}-minute add-on unit), "
              "but {} is billed {}",
              pl.col("code"), pl.col("addon_code"), pl.col("minutes"), pl.col("code"), pl.col("addon_code"),
              pl.col("supported"), pl.col("first_addon"),
              pl.col("first_addon") + pl.col("addon_unit_minutes"), pl.col("typical_minutes"),
              pl.col("addon_unit_minutes"), pl.col("addon_code"),
              _units_text(pl.col("addon_billed"))).alias("detail"),
    pl.when(pl.col("supported") == 0)
    .then(pl.format("Bill {} ×1 without {} for {} documented minutes (the first add-on unit needs {}).",
                    pl.col("code"), pl.col("addon_code"), pl.col("minutes"), pl.col("first_addon")))
    .otherwise(pl.format("Bill {} ×1 and {} ×{} for {} documented minutes.", pl.col("code"),
                         pl.col("addon_code"), pl.col("supported"), pl.col("minutes"))).alias("fix_text"),
    pl.lit(None, dtype=pl.String).alias("severity"),
    pl.col("addon_code").alias("flag_code"),
    (pl.col("addon_billed") > pl.col("supported")).alias("above"),
)


# ---- both directions, once per run ------------------------------------------------------------------------------
_ROW_CAST = tuple(pl.col(c).cast(t) for c, t in _ROW_SCHEMA.items())
_NO_ROWS = pl.DataFrame(schema=_ROW_SCHEMA)


def _checks(tables: Tables) -> pl.DataFrame:
    """Every units finding of both directions (the CMS pools, the per-code payers and the other time rules), as one
    plan collected once.

    Which parts the plan holds is decided first, from the time rules billed in the run (memoised, see
    ``_time_rules``): a therapy claim has no per-unit or base code, an HBAI or coaching claim no 15-minute code, and
    each part left out saves a dozen operations on one claim. A batch holds all of them. The plan does not consult
    ``_possible``: the rules' screens do, so a small run where it finds nothing never gets here, and a run with
    ``screens=False`` gets the plan's own answer, against which the screen is tested.
    """
    present = _time_rules(tables)
    parts: list[pl.LazyFrame] = []
    # services documented but not billed take part in the pools too
    if "timed15" in present or tables.services.height:
        parts.append(_pool_rows(tables))
    if present.intersection(_SIMPLE_RULES):
        parts.append(_other_time_rows(tables, family="base" in present))
    if not parts:
        return _NO_ROWS
    return collect(
        pl.concat([part.select(*_ROW_CAST) for part in parts])
        .unique(maintain_order=True)
        .sort("encounter_id", "line", "code", nulls_last=True, maintain_order=True)
    )


# ---- the same numbers in Python, for a small run --------------------------------------------------------------------
# On one claim the plan above costs about 3 ms whatever it finds; the same numbers in Python cost tens of
# microseconds. Python only decides in which directions a row *could* be flagged: when it finds one (or meets anything
# it does not model exactly: a value that is not a finite number, an encounter listed twice, a code-book gap, minutes
# ``timing`` does not take), the plan runs and writes the findings, so their texts have one source. The pools are
# gathered here as the plan gathers them; minutes become units only through ``cleanclaim.timing``, the coder's
# arithmetic, which the plan's vectorised twins are property-tested against.
_ABOVE_SIDE, _BELOW_SIDE = "above", "below"
_EITHER = frozenset([_ABOVE_SIDE, _BELOW_SIDE])


def _possible(tables: Tables) -> frozenset[str]:
    """The directions (``above``: units-exceed-time, ``below``: units-below-time) in which a units row could be
    flagged in this run: worked out in Python on a small run (``_py_lines``); both on a large one."""
    return tables.memo("units_possible", _build_possible)


def _build_possible(tables: Tables) -> frozenset[str]:
    rows = _py_lines(tables)
    if rows is None or tables.services.height > SMALL_RUN:
        return _EITHER
    if any(row["units"] is not None and not (math.isfinite(row["units"]) and abs(row["units"]) < _HUGE)
           for row in rows):
        return _EITHER
    present = {row["time_rule"] for row in rows}
    found: set[str] = set()
    try:
        if "timed15" in present or tables.services.height:
            found.update(_pool_sides(tables, rows))
        if present.intersection(_SIMPLE_RULES):
            found.update(_other_sides(tables, rows))
    except ValueError:  # minutes ``timing`` refuses (below 0), which the plan still reads: the plan decides
        return _EITHER
    return frozenset(found)


_HUGE = 1e12  # units beyond it might not sum exactly as floats: left to the plan


def _whole_units(units: Any) -> bool:
    return units is not None and units == math.floor(units)


def _py_discipline(modifiers: list[Any] | None, provider_discipline: Any) -> str:
    """``therapy_discipline`` for one line."""
    for modifier, discipline in _MODIFIER_DISCIPLINES:
        if modifiers and modifier in modifiers:
            return discipline
    return str(provider_discipline) if provider_discipline in _THERAPY_DISCIPLINES else "other"


def _sides(billed: int, low: int, high: int) -> set[str]:
    """The directions of a code billed ``billed`` units where ``low`` to ``high`` pass."""
    return {_ABOVE_SIDE} if billed > high else {_BELOW_SIDE} if billed < low else set()


@dataclass
class _PoolCode:
    """One patient, date, discipline and 15-minute code, as ``_timed_day_codes`` aggregates it."""

    billed: float = 0.0
    whole: bool = True
    has_line: bool = False
    line_payer: Any = None
    service_payer: Any = None
    has_service: bool = False
    line_minutes: int | None = None
    service_minutes: int | None = None

    @property
    def minutes(self) -> int | None:
        return self.line_minutes if self.line_minutes is not None else self.service_minutes


def _pool_sides(tables: Tables, rows: list[dict[str, Any]]) -> frozenset[str]:
    """The directions ``_pool_rows`` could flag: its pools and their CMS / per-code numbers, in Python."""
    codes: dict[tuple[Any, ...], _PoolCode] = {}
    first_discipline: dict[tuple[Any, Any], str] = {}
    for row in rows:
        if row["time_rule"] != "timed15":
            continue
        discipline = _py_discipline(row["modifiers"], row["provider_discipline"])
        first_discipline.setdefault((row["encounter_id"], row["code"]), discipline)
        code = codes.setdefault((row["patient_id"], row["date"], discipline, row["code"]), _PoolCode())
        if not code.has_line:
            code.has_line, code.line_payer = True, row["payer"]
        if row["units"] is not None:
            code.billed += row["units"]
        code.whole = code.whole and _whole_units(row["units"])
        if row["minutes"] is not None:
            code.line_minutes = (code.line_minutes or 0) + row["minutes"]
    if tables.services.height and not _add_services(tables, codes, first_discipline):
        return _EITHER
    # a pool counts only when every code of it has minutes and whole units (``_USABLE``)
    usable: dict[tuple[Any, ...], bool] = {}
    for (patient, date, discipline, _), code in codes.items():
        pool = (patient, date, discipline)
        usable[pool] = usable.get(pool, True) and code.minutes is not None and code.whole
    rule_pools: dict[tuple[Any, ...], dict[str, tuple[int, int]]] = {}
    for (patient, date, discipline, code_text), code in codes.items():
        payer = code.line_payer if code.line_payer is not None else code.service_payer
        profile = tables.payers.get(payer) if payer is not None else None
        minutes = code.minutes
        if not usable[(patient, date, discipline)] or profile is None or minutes is None:
            continue
        if profile.time_rule in ("cms", "per_code"):
            rule_pools.setdefault((patient, date, discipline, profile.time_rule), {})[code_text] = (
                int(code.billed), minutes)
    found: set[str] = set()
    for (_, _, _, time_rule), billed_minutes in rule_pools.items():
        found.update(_cms_sides(billed_minutes) if time_rule == "cms" else _per_code_sides(billed_minutes))
    return frozenset(found)


def _add_services(tables: Tables, codes: dict[tuple[Any, ...], _PoolCode],
                  first_discipline: Mapping[tuple[Any, Any], str]) -> bool:
    """Adds the documented services to the pools as ``_timed_day_codes`` stacks them; False when the encounters do
    not have one row each (the plan's join would repeat services)."""
    encounter_ids = tables.encounters.get_column("encounter_id").to_list()
    if len(set(encounter_ids)) != len(encounter_ids):
        return False
    encounters = dict(zip(encounter_ids, tables.encounters.select("patient_id", "date", "payer",
                                                                  "provider_discipline").rows(), strict=True))
    versions = _versions(tables.book)
    services = tables.services
    for encounter_id, code_text, minutes in zip(services.get_column("encounter_id").to_list(),
                                                services.get_column("code").to_list(),
                                                services.get_column("minutes").to_list(), strict=True):
        if encounter_id is None or minutes is None or encounter_id not in encounters:
            continue
        if not any(entry.time_rule == "timed15" for entry in versions.get(code_text, ())):
            continue
        patient, date, payer, provider_discipline = encounters[encounter_id]
        discipline = first_discipline.get((encounter_id, code_text)) or _py_discipline([], provider_discipline)
        code = codes.setdefault((patient, date, discipline, code_text), _PoolCode())
        if not code.has_service:
            code.has_service, code.service_payer = True, payer
        code.service_minutes = (code.service_minutes or 0) + minutes
    return True


def _cms_sides(pool: Mapping[str, tuple[int, int]]) -> set[str]:
    """The directions ``_ABOVE`` / ``_BELOW`` hold in for the codes of one CMS pool, code -> (billed units, minutes).

    ``timing.cms_unit_range`` gives each code's units over every tie-break, which ``min_units`` / ``max_units`` are
    the vectorised form of; the day's billed total against its units picks which bound a code is held to."""
    minutes_by_code = {code: minutes for code, (_, minutes) in pool.items()}
    ranges = timing.cms_unit_range(minutes_by_code)
    day_units = timing.cms_total_units(sum(minutes_by_code.values()))
    day_billed = sum(billed for billed, _ in pool.values())
    found: set[str] = set()
    for code, (min_units, max_units) in ranges.items():
        billed = pool[code][0]
        if billed > (min_units if day_billed > day_units else max_units):
            found.add(_ABOVE_SIDE)
        if billed < (max_units if day_billed < day_units else min_units):
            found.add(_BELOW_SIDE)
    return found


def _per_code_sides(pool: Mapping[str, tuple[int, int]]) -> set[str]:
    """The directions a per-code payer's pool of code -> (billed units, minutes) is flagged in: each code's own
    minutes, rounded on their own (``_ABOVE`` / ``_BELOW`` on ``supported``)."""
    supported = timing.allocate_per_code({code: minutes for code, (_, minutes) in pool.items()}).units
    found: set[str] = set()
    for code, (billed, _) in pool.items():
        found.update(_sides(billed, supported[code], supported[code]))
    return found


@dataclass
class _FamilyCode:
    """One encounter, date and code of ``_other_time_rows``' per-code table."""

    row: dict[str, Any]
    minutes: int
    billed: float = 0.0
    whole: bool = True


def _other_sides(tables: Tables, rows: list[dict[str, Any]]) -> frozenset[str]:
    """The directions ``_other_time_rows`` could flag (per-unit, typical-time, at-least and base + add-on codes).
    A code-book value the arithmetic needs but lacks counts as either direction: the plan decides."""
    pools = _family_pools(rows)
    codes: dict[tuple[Any, Any, Any], _FamilyCode] = {}
    for row in rows:
        key = _family_pool_key(row)
        minutes = pools.get(key) if key is not None else None
        if minutes is None:
            continue
        code = codes.setdefault((row["encounter_id"], row["date"], row["code"]), _FamilyCode(row, minutes))
        if row["units"] is not None:
            code.billed += row["units"]
        code.whole = code.whole and _whole_units(row["units"])
    whole = {key: code for key, code in codes.items() if code.whole}
    found: set[str] = set()
    for (encounter_id, date, _), code in whole.items():
        rule, minutes, billed = code.row["time_rule"], code.minutes, int(code.billed)
        if rule not in _SIMPLE_RULES:
            continue
        unit, typical, least = code.row["unit_minutes"], code.row["typical_minutes"], code.row["min_minutes"]
        if rule == "per_unit":
            if unit is None or unit <= 0:
                return _EITHER
            needed = timing.midpoint_threshold(unit)
        elif least is None or (rule == "typical" and (typical is None or typical <= 0)):
            return _EITHER
        else:
            needed = least
        if minutes < needed:
            continue  # below-minimum-time's business (the plan's ``needed`` filter)
        if rule == "per_unit":
            supported = timing.midpoint_units(minutes, unit)
        elif rule == "typical":
            supported = timing.midpoint_units(minutes, typical)
        else:  # at least the stated time, or a base code's own minimum: one unit
            supported = timing.at_least_units(minutes, least)
        # only per-unit codes are reported below what the time supports
        found.update(_sides(billed, supported if rule == "per_unit" else -1, supported))
        addon_code = code.row["addon_code"]
        if rule == "base" and addon_code is not None:
            addon_units = _addon_unit_minutes(tables.book).get(addon_code)
            if addon_units is None:
                continue  # not an add-on code of the book: the plan's inner join drops the row
            if len(addon_units) != 1 or typical is None:
                return _EITHER
            (addon_unit,) = addon_units
            if addon_unit is None or addon_unit <= 0:
                return _EITHER
            addon = whole.get((encounter_id, date, addon_code))
            _, addon_supported = timing.base_addon_units(minutes, typical, least, addon_unit)
            found.update(_sides(int(addon.billed) if addon else 0, addon_supported, addon_supported))
    return frozenset(found)


@cache
def _addon_unit_minutes(book: CodeBook) -> Mapping[str, frozenset[int | None]]:
    """Each add-on code's unit minutes over its versions (``_addon_codes`` keeps one of them)."""
    return {code: frozenset(entry.unit_minutes for entry in versions if entry.time_rule == "addon")
            for code, versions in _versions(book).items()
            if any(entry.time_rule == "addon" for entry in versions)}


def _units_rows(tables: Tables, *, above: bool) -> pl.DataFrame | pl.LazyFrame:
    """The units findings of one direction. Both directions are computed once per run and shared by
    units-exceed-time and units-below-time, which each keep theirs lazily; when no units finding was made at all
    (most claims), the empty table itself is returned, which costs the engine nothing."""
    rows = tables.memo("units_checks", _checks)
    if rows.height == 0:
        return _NO_UNITS_ROWS
    return rows.lazy().filter(pl.col("above") if above else ~pl.col("above")).drop("above")


_NO_UNITS_ROWS = _NO_ROWS.drop("above")


@register
class UnitsExceedTime(Rule):
    """More units billed than the documented minutes support under the payer's time rule.

    What it checks:
        15-minute timed codes (97110-97546, 97032-97036, 97750-97763) per patient, date and therapy discipline (the
        line's GP / GO / GN, else the rendering PT / OT / SLP; other lines pool apart): under the CMS 8-minute
        rule the discipline's total timed minutes that day give the total units (floor((minutes + 7) / 15)), and
        each code gets its full 15-minute blocks first, then the remaining units go to the largest leftover minutes
        (a tie is the clinician's choice: either answer passes). Under a per-code payer each code is rounded on its
        own (8-22 minutes = 1 unit). Per-unit codes (97802, 98960), typical-time codes (G0447), "at least" codes
        (0592T) and base + add-on families (96158 + 96159: add-on units from 38, 53 ... minutes) are checked on
        their own time rule. Lines without minutes are left to missing-minutes, lines under a code's minimum to
        below-minimum-time.

    Why it matters:
        Units the record does not support are an overpayment: a reviewer recovers them, and a pattern of them is a
        false-claims risk. Medicare pools one discipline's timed minutes of the day, so two codes of 20 minutes each
        support 3 units, not 4.

    Example:
        services: [{code: "97110", minutes: 24}, {code: "97535", minutes: 23}]
        lines: [{code: "97110", units: 2}, {code: "97535", units: 2}]   # 47 minutes support 3 units

    Use instead:
        lines: [{code: "97110", units: 2}, {code: "97535", units: 1}]

    References:
        CMS Pub. 100-04 ch. 5 s20.2 part C (8-minute rule and its unit table, as quoted by First Coast, a MAC);
        total per discipline: cleanclaim's reading of separate PT/OT/SLP plans of care (CMS Pub. 100-02 ch. 15
        s220.1.2; CR 10176), no CMS statement found, secondary: Legion Healthcare Solutions 8-minute rule guide;
        CPT time rule (AMA CPT code set: a unit is attained when its midpoint is passed; Palmetto GBA, a MAC, time
        tips); 96158/96159 times: CY2020 PFS final rule CMS-1715-F (HBAI codes from 2020-01-01).
    """

    id = "CC301"
    slug = "units-exceed-time"
    family = "time and units"
    severity = Severity.ERROR
    message = "{detail}"
    fix = "{fix_text}"
    references = (_CMS_REF, "CPT time rule (AMA CPT code set: midpoint); Palmetto GBA (MAC) time tips",
                  "CY2020 PFS final rule CMS-1715-F (HBAI codes 96156-96171)")

    def screen_for(self, tables: Tables) -> Screen | None:
        # Python works out the plan's numbers on a small run; it rules the rule out only when no row could be
        # flagged above what the time supports.
        return None if _ABOVE_SIDE in _possible(tables) else CANNOT_FIRE

    def check(self, tables: Tables) -> pl.DataFrame | pl.LazyFrame:
        return _units_rows(tables, above=True)


@register
class UnitsBelowTime(Rule):
    """Fewer units billed than the documented minutes support: money left on the table.

    What it checks:
        The same arithmetic as units-exceed-time, the other way round: the day's timed minutes of one discipline
        (PT, OT, SLP apart) under the CMS 8-minute rule (or each code's own minutes under a per-code payer) support
        more units than are billed, a documented timed code gets no unit although the CMS allocation gives it one,
        a per-unit code is billed short, or a base code's total time supports add-on units (96159 from 38 minutes)
        that are not billed.

    Why it matters:
        Under-billing is lost revenue for work that was done and documented; it also often signals a coding slip
        (units given to the wrong code) that a reviewer will question.

    Example:
        services: [{code: "96158", minutes: 45}]
        lines: [{code: "96158", units: 1}]   # 45 minutes also support 96159 x1

    Use instead:
        lines: [{code: "96158", units: 1}, {code: "96159", units: 1}]

    References:
        CMS Pub. 100-04 ch. 5 s20.2 part C (8-minute rule and its unit table); CPT time rule (AMA CPT code set:
        midpoint); CY2020 PFS final rule CMS-1715-F (HBAI codes 96156-96171).
    """

    id = "CC302"
    slug = "units-below-time"
    family = "time and units"
    severity = Severity.WARNING
    message = "{detail}"
    fix = "{fix_text}"
    references = (_CMS_REF, "CPT time rule (AMA CPT code set: midpoint); Palmetto GBA (MAC) time tips",
                  "CY2020 PFS final rule CMS-1715-F (HBAI codes 96156-96171)")

    def screen_for(self, tables: Tables) -> Screen | None:
        # Python works out the plan's numbers on a small run; it rules the rule out only when no row could be
        # flagged below what the time supports.
        return None if _BELOW_SIDE in _possible(tables) else CANNOT_FIRE

    def check(self, tables: Tables) -> pl.DataFrame | pl.LazyFrame:
        return _units_rows(tables, above=False)


_DISTINCT_MODIFIERS = ["59", "XE", "XP", "XS", "XU", "76", "77"]


@register
class UntimedCodeMultipleUnits(Rule):
    """An untimed (service-based) code billed with more than one unit on a day.

    What it checks:
        Codes billed once per day whatever the time (PT/OT evaluations 97161-97168, group therapy 97150, unattended
        modalities, HBAI assessment 96156, coaching assessment 0591T, office E/M and codes chosen by a time range such
        as 99406), with the units of every line of that code on the same date for the patient added up. Lab codes are
        exempt (a repeat test is billed on its own line with 91).

    Why it matters:
        A service-based code is one unit however long it took; extra units are denied or recovered. Minutes of untimed
        codes also do not count toward the 8-minute total.

    Example:
        lines: [{code: "97162", modifiers: [GP], units: 2}]

    Use instead:
        lines: [{code: "97162", modifiers: [GP], units: 1}]

    References:
        CMS Pub 100-04 Ch.5 s20.2 (untimed codes: one unit regardless of time; via First Coast and Clinicient guides).
    """

    id = "CC305"
    slug = "untimed-code-multiple-units"
    family = "time and units"
    severity = Severity.ERROR
    message = ("{code} is billed once per day whatever the time, but {day_units} units are billed on {date} "
               "({lines_text})")
    fix = "Bill {code} as 1 unit on one line for {date}."
    references = ("CMS Pub 100-04 Ch.5 s20.2 (service-based codes)", "First Coast: rehabilitation services")

    def screen_for(self, tables: Tables) -> Screen | None:
        # A flagged day of an untimed (or time-range) code bills more than 1 unit: one line of more than 1 unit, or
        # two lines or more of the code on the day.
        if not _time_rules(tables).intersection(["untimed", "range"]):
            return CANNOT_FIRE
        rows = _py_lines(tables)
        if rows is None:
            return None
        days: set[tuple[Any, Any, Any]] = set()
        for row in rows:
            if row["time_rule"] not in ("untimed", "range") or row["lab"]:
                continue
            day = (row["patient_id"], row["date"], row["code"])
            if day in days or (row["units"] is not None and not row["units"] <= 1):  # NaN: let the plan decide
                return None
            days.add(day)
        return CANNOT_FIRE

    def check(self, tables: Tables) -> pl.DataFrame | pl.LazyFrame:
        # the day's units first, the text only for the days flagged (the filter keeps or drops whole days)
        # The day's list of lines is built once per day and joined back on the day's key: broadcast to every line of
        # the day (``over``), n lines of one patient on one day made n texts of n entries each.
        untimed = lines_with_codes(tables).lazy().filter(_UNTIMED)
        if tables.lines.height > SMALL_RUN:
            untimed = untimed.filter(_MAY_ADD_UP)
        flagged = (
            untimed.with_columns(pl.col("units").sum().over(_DAY_CODE).alias("day_units"))
            .filter(pl.col("day_units") > 1)
        )
        return (
            flagged.join(_lines_texts(flagged), on=_DAY_CODE, how="left", nulls_equal=True)
            .with_columns(pl.col("date").cast(pl.String))
            .select("encounter_id", "line", "code", "day_units", "date", "lines_text")
        )


_DAY_CODE = [*_DAY, "code"]
# On a large run the windows over text keys (untimed-code-multiple-units' day, timed-code-split-lines' group) run on
# the lines that may be flagged only: `key_may_repeat` (the key's hash, one integer column, for about half the cost)
# keeps every line whose key repeats (and a few whose hash collides, which the exact window then drops). A day of one
# line adds up to more than 1 unit only when that line does (or its units are NaN, which
# the exact sum decides); whole days or groups are kept or left out, so the exact windows see whole groups.
_MAY_ADD_UP = key_may_repeat(_DAY_CODE) | ~(pl.col("units") <= 1).fill_null(False)
_UNTIMED = pl.col("time_rule").is_in(["untimed", "range"]) & ~pl.col("lab").fill_null(False)
LINES_LISTED = 10
"""How many lines of a flagged day untimed-code-multiple-units lists by name; the rest are counted ("and 3 more
lines"). Every line of the day is flagged and each finding carries the day's list, so an unbounded list makes the
findings of a day of n lines n times n entries long (20,000 same-day lines ran out of memory)."""


def _lines_texts(flagged: pl.LazyFrame) -> pl.LazyFrame:
    """Per patient, date and code: its first `LINES_LISTED` lines with their units, in line order, and a count of the
    rest."""
    entry = pl.format("{} line {}: {}", pl.col("encounter_id"), pl.col("line"),
                      pl.col("units").round(2).cast(pl.String).str.replace(r"\.0$", ""))
    rest = pl.col("count") - LINES_LISTED
    return (
        flagged.group_by(_DAY_CODE)
        .agg(entry.head(LINES_LISTED).str.join("; ").alias("listed"), pl.len().alias("count"))
        .select(*_DAY_CODE, pl.when(rest > 0)
                .then(pl.format("{}; and {} more line{}", pl.col("listed"), rest,
                                pl.when(rest == 1).then(pl.lit("")).otherwise(pl.lit("s"))))
                .otherwise(pl.col("listed")).alias("lines_text"))
    )


@register
class TimedCodeSplitLines(Rule):
    """The same timed code on more than one line for one date of service.

    What it checks:
        Two or more lines of one 15-minute or per-unit timed code with the same date on one claim, unless they differ
        by the assistant modifier (a CQ/CO line beside a therapist-only line is the correct way to bill) or carry a
        distinct-service or repeat modifier (59, XE, XP, XS, XU, 76, 77).

    Why it matters:
        Since 2021-04-19 Medicare rejects claims that report a timed code on more than one line per date of service:
        the units of one code and date go on one line.

    Example:
        lines: [{code: "97110", modifiers: [GP], units: 1}, {code: "97110", modifiers: [GP], units: 1}]

    Use instead:
        lines: [{code: "97110", modifiers: [GP], units: 2}]

    References:
        CMS Pub 100-04 Ch.5 s20.2 (one line per timed code per date of service, from 2021-04-19; First Coast
        rehabilitation services page).
    """

    id = "CC306"
    slug = "timed-code-split-lines"
    family = "time and units"
    severity = Severity.ERROR
    message = "{code} is on lines {line_numbers} for {date}: a timed code goes on one line per date of service"
    fix = ("Put all {total_units} units of {code} for {date} on one line (a separate line only for units that carry "
           "CQ/CO, or with 59/X modifiers for a distinct service).")
    references = ("CMS Pub 100-04 Ch.5 s20.2 (one line per code per date, from 2021-04-19)",
                  "First Coast: rehabilitation services (0508065)")

    def screen_for(self, tables: Tables) -> Screen | None:
        # A flagged line shares its encounter, date and 15-minute or per-unit code with another line (the modifiers
        # that split the group further are left to the plan).
        if not _time_rules(tables).intersection(["timed15", "per_unit"]):
            return CANNOT_FIRE
        rows = _py_lines(tables)
        if rows is None:
            return None
        groups: set[tuple[Any, Any, Any]] = set()
        for row in rows:
            if row["time_rule"] not in ("timed15", "per_unit"):
                continue
            group = (row["encounter_id"], row["date"], row["code"])
            if group in groups:
                return None
            groups.add(group)
        return CANNOT_FIRE

    def check(self, tables: Tables) -> pl.DataFrame | pl.LazyFrame:
        # the count first, the texts only for the groups flagged (the filter keeps or drops whole groups)
        candidates = lines_with_codes(tables).lazy().filter(_SPLIT_CANDIDATE).with_columns(_ASSISTANT)
        if tables.lines.height > SMALL_RUN:
            candidates = candidates.filter(_SPLIT_MAY_REPEAT)
        return (
            candidates
            .filter(pl.len().over(_SPLIT_GROUP) > 1)
            .with_columns(
                pl.col("line").cast(pl.String).str.join(", ").over(_SPLIT_GROUP).alias("line_numbers"),
                pl.col("units").sum().over(_SPLIT_GROUP).alias("total_units"),
                pl.col("date").cast(pl.String),
            )
            .select("encounter_id", "line", "code", "line_numbers", "date", "total_units")
        )


_SPLIT_GROUP = ["encounter_id", "date", "code", "assistant"]
_SPLIT_MAY_REPEAT = key_may_repeat(_SPLIT_GROUP)  # see ``_MAY_ADD_UP``
_SPLIT_CANDIDATE = (pl.col("time_rule").is_in(["timed15", "per_unit"])
                    & ~pl.col("modifiers").list.eval(pl.element().is_in(_DISTINCT_MODIFIERS)).list.any())
_ASSISTANT = pl.col("modifiers").list.eval(pl.element().is_in(["CQ", "CO"])).list.any().alias("assistant")


@register
class FractionalUnits(Rule):
    """Units that are not a whole number.

    What it checks:
        Lines whose units have a fractional part (1.5, 0.25). cleanclaim never rounds them; it reports them.

    Why it matters:
        Claims carry whole service units; a fractional unit is rejected by the clearinghouse or read differently by
        each system that rounds it.

    Example:
        lines: [{code: "97110", units: 1.5}]

    Use instead:
        lines: [{code: "97110", units: 2}]   # the whole units the documented minutes support

    References:
        X12 837P SV104 service unit count (a whole number for CPT/HCPCS units); CMS Pub 100-04 Ch.5 s20.2 (units).
    """

    id = "CC308"
    slug = "fractional-units"
    family = "time and units"
    severity = Severity.ERROR
    message = "{code} is billed with {units_text} units, which is not a whole number"
    fix = "Bill a whole number of units for {code}: recount from the documented minutes ({minutes_text})."
    references = ("X12 837P SV104 (service unit count)", "CMS Pub 100-04 Ch.5 s20.2")

    def screen_for(self, tables: Tables) -> Screen | None:
        # A flagged line's units are not a whole number (a NaN or infinite value is left to the plan).
        whole = all(float(units).is_integer() for units in tables.values("units"))
        return CANNOT_FIRE if whole else None

    def check(self, tables: Tables) -> pl.LazyFrame:
        return (
            tables.lines.lazy().filter(_FRACTIONAL).with_columns(*_FRACTION_TEXTS)
            .select("encounter_id", "line", "code", "units_text", "minutes_text")
        )


_FRACTIONAL = pl.col("units").is_not_null() & (pl.col("units") != pl.col("units").floor())
_FRACTION_TEXTS = (
    pl.col("units").cast(pl.String).alias("units_text"),
    pl.when(pl.col("minutes").is_null()).then(pl.lit("none documented"))
    .otherwise(pl.format("{} minutes", pl.col("minutes"))).alias("minutes_text"),
)
