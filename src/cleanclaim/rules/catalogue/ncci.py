"""NCCI: procedure-to-procedure (PTP) pairs and medically unlikely edits (MUE), by date of service.

The edits come from ``cleanclaim.refdata`` (an imported CMS quarterly table for the periods it covers, else the
bundled subset). Edits read from a CMS file are errors; a pair or value taken from a secondary source (the bundled
``verified=false`` rows, MUE values without a known MAI) is a warning that says so, because unconfirmed facts must
never be hard errors. ``ptp_conflicts`` and ``mue_excess`` are pure functions of the lines and the edit tables, so they
are tested with any table; the rules look the tables up for the dates in the batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import polars as pl

from cleanclaim import refdata
from cleanclaim.model import Severity
from cleanclaim.rules.registry import Rule, register
from cleanclaim.rules.tables import Tables, collect, collect_all

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


def _by_date(lookup: Callable[[dt.date], pl.DataFrame], lines: pl.DataFrame, code_columns: tuple[str, ...],
             ) -> pl.DataFrame:
    """The edit table for each date in the batch, cut down to the codes billed in the batch (a CMS quarter holds
    about a million PTP rows; a batch needs a few), stacked with a ``date`` column. Each day's table is cut as soon
    as it is looked up, so a year of dates never holds a full quarter per day."""
    codes = lines.get_column("code").unique().implode()
    wanted = pl.all_horizontal(pl.col(c).is_in(codes) for c in code_columns)
    frames: list[pl.LazyFrame] = []
    for day in lines.get_column("date").drop_nulls().unique().to_list():
        table = lookup(day)
        # a large (imported) table is cut at once; small ones join one plan (cheaper on a single claim)
        cut = table.filter(wanted).lazy() if table.height > _CUT_AT_ONCE else table.lazy().filter(wanted)
        frames.append(cut.with_columns(pl.lit(day, dtype=pl.Date).alias("date")))
    return collect(pl.concat(frames, how="vertical_relaxed")) if frames else pl.DataFrame()


_CUT_AT_ONCE = 10_000


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
    return tables.memo("ncci_ptp", lambda t: ptp_conflicts(t.lines, _by_date(ptp_lookup, t.lines,
                                                                               ("column1", "column2"))))


def mue_excess(lines: pl.DataFrame, mue: pl.DataFrame) -> pl.DataFrame:
    """Lines whose units exceed the code's MUE: per line for MAI 1, per patient, provider and date (units of all the
    code's lines added) for MAI 2 and 3. With the MAI unknown, a line over the value is flagged, and a day over it is
    flagged as a possible date-of-service edit."""
    if mue.is_empty() or lines.is_empty():
        return pl.DataFrame()
    day = [*_SAME_DAY, "code"]
    joined = lines.lazy().join(mue.lazy().select("date", "code", "mue", "mai", "rationale", "source"),
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

    def check(self, tables: Tables) -> pl.DataFrame:
        excess = mue_excess(tables.lines, _by_date(mue_lookup, tables.lines, ("code",)))
        if excess.is_empty():
            return excess
        return excess.select("encounter_id", "line", "code", "units_text", "mue", "mai_text", "source", "zero_text",
                             "rationale_text", "unconfirmed", "severity", "date_text").sort("encounter_id", "line")
