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

import polars as pl

from cleanclaim.model import Severity
from cleanclaim.rules.catalogue.time_units import _family_minutes
from cleanclaim.rules.registry import Rule, register
from cleanclaim.rules.tables import Tables, lines_with_codes

__all__ = ["cms_unit_bounds", "per_code_units", "therapy_discipline"]

_DAY = ["patient_id", "date"]
# The 8-minute pool: one patient, one date, one therapy discipline (see ``therapy_discipline``).
_POOL = [*_DAY, "discipline"]
_THERAPY_DISCIPLINES = ["PT", "OT", "SLP"]
_OUT = ["encounter_id", "line", "code", "detail", "fix_text", "severity"]
_CMS_REF = ("CMS Pub 100-04 Ch.5 s20.2 part C (8-minute rule; First Coast rehabilitation services page); minutes "
            "totalled per discipline (secondary: Legion Healthcare Solutions 8-minute rule guide)")


def _whole(units: pl.Expr) -> pl.Expr:
    return units.is_not_null() & (units == units.floor())


def cms_unit_bounds(day_codes: pl.DataFrame, day: list[str]) -> pl.DataFrame:
    """Acceptable units per code under the CMS method, for every day at once.

    ``day_codes`` has one row per day and code with ``minutes`` (that code's timed minutes that day); ``day`` names the
    columns that identify a day. Adds ``day_minutes``, ``day_units`` (floor((total + 7) / 15)), ``full_units`` (full
    15-minute blocks) and ``min_units``/``max_units``: a code surely gets the extra unit when every code with at least
    its leftover fits in the units still to assign, and may get it (clinician's choice) when the codes with strictly
    more leftover do not use them all up.
    """
    leftover = pl.col("minutes") % 15
    return (
        day_codes.with_columns(
            (pl.col("minutes") // 15).alias("full_units"),
            leftover.alias("leftover"),
            pl.col("minutes").sum().over(day).alias("day_minutes"),
        )
        .with_columns(
            ((pl.col("day_minutes") + 7) // 15).alias("day_units"),
            # rank "min" = 1 + codes with more leftover; rank "max" = codes with at least as much leftover
            pl.col("leftover").rank("min", descending=True).over(day).cast(pl.Int64).alias("_rank_min"),
            pl.col("leftover").rank("max", descending=True).over(day).cast(pl.Int64).alias("_rank_max"),
        )
        .with_columns((pl.col("day_units") - pl.col("full_units").sum().over(day)).alias("_remaining"))
        .with_columns(
            (pl.col("full_units")
             + ((pl.col("leftover") > 0) & (pl.col("_rank_max") <= pl.col("_remaining"))).cast(pl.Int64))
            .alias("min_units"),
            (pl.col("full_units")
             + ((pl.col("leftover") > 0) & (pl.col("_rank_min") - 1 < pl.col("_remaining"))).cast(pl.Int64))
            .alias("max_units"),
        )
        .drop("_rank_min", "_rank_max", "_remaining")
    )


def per_code_units(minutes: pl.Expr, unit_minutes: pl.Expr) -> pl.Expr:
    """Units of one code on its own under the CPT midpoint rule (15-minute unit from 8 minutes, 30-minute from 16)."""
    first = unit_minutes // 2 + 1
    return pl.when(minutes >= first).then((minutes - first) // unit_minutes + 1).otherwise(0)


def therapy_discipline(modifiers: pl.Expr, provider_discipline: pl.Expr) -> pl.Expr:
    """The discipline whose plan of care a line belongs to, which is the pool its minutes count in.

    The GP / GO / GN modifier says it (services under a PT / OT / SLP plan of care); a line without one falls back on
    the rendering provider's discipline when that is PT, OT or SLP. Anything else (a physician billing 97110 without a
    therapy modifier) is pooled on its own, apart from every therapy discipline, as ``"other"``.
    """
    return (
        pl.when(modifiers.list.contains("GP")).then(pl.lit("PT"))
        .when(modifiers.list.contains("GO")).then(pl.lit("OT"))
        .when(modifiers.list.contains("GN")).then(pl.lit("SLP"))
        .when(provider_discipline.is_in(_THERAPY_DISCIPLINES)).then(provider_discipline)
        .otherwise(pl.lit("other"))
    )


def _timed_day_codes(tables: Tables) -> pl.DataFrame:
    """One row per patient, date, therapy discipline and 15-minute timed code: units billed, documented minutes, the
    payer's time rule and the lines. A code documented in ``services`` but not billed takes part with 0 units (its
    minutes count toward its discipline's total). Pools where a timed code has no minutes, or a line has fractional
    units, are left out: those are the missing-minutes and fractional-units rules' business.

    A documented service takes the discipline of the encounter's billed line of the same code (services carry no
    modifiers), else the encounter provider's discipline.
    """
    lines = lines_with_codes(tables).filter(pl.col("time_rule") == "timed15").with_columns(
        therapy_discipline(pl.col("modifiers"), pl.col("provider_discipline")).alias("discipline")
    )
    billed = lines.group_by(*_POOL, "code").agg(
        pl.col("units").sum().alias("billed"),
        pl.col("minutes").sum().alias("line_minutes"),
        pl.col("minutes").is_not_null().any().alias("line_has_minutes"),
        _whole(pl.col("units")).all().alias("whole"),
        pl.col("encounter_id").first().alias("first_encounter"),
        pl.col("payer").first().alias("payer"),
        pl.struct("encounter_id", "line").alias("lines"),
    )
    timed_codes = tables.codes.filter(pl.col("time_rule") == "timed15").select("code").unique()
    line_discipline = lines.group_by("encounter_id", "code").agg(pl.col("discipline").first().alias("line_discipline"))
    documented = (
        tables.services.filter(pl.col("minutes").is_not_null())
        .join(timed_codes, on="code", how="semi")
        .join(tables.encounters.select("encounter_id", *_DAY, "payer", "provider_discipline"), on="encounter_id",
              how="inner")
        .join(line_discipline, on=["encounter_id", "code"], how="left")
        .with_columns(pl.coalesce(
            "line_discipline",
            therapy_discipline(pl.lit([], dtype=pl.List(pl.String)), pl.col("provider_discipline")),
        ).alias("discipline"))
        .group_by(*_POOL, "code").agg(
            pl.col("minutes").sum().alias("service_minutes"),
            pl.col("encounter_id").first().alias("service_encounter"),
            pl.col("payer").first().alias("service_payer"),
        )
    )
    combined = billed.join(documented, on=[*_POOL, "code"], how="full", coalesce=True).with_columns(
        pl.col("billed").fill_null(0.0),
        pl.col("whole").fill_null(True),
        pl.coalesce("first_encounter", "service_encounter").alias("first_encounter"),
        pl.coalesce("payer", "service_payer").alias("payer"),
        pl.when(pl.col("line_has_minutes").fill_null(False)).then(pl.col("line_minutes"))
        .otherwise(pl.col("service_minutes")).alias("minutes"),
    )
    usable = combined.filter(
        pl.col("minutes").is_not_null().all().over(_POOL) & pl.col("whole").all().over(_POOL)
    ).with_columns(pl.col("billed").cast(pl.Int64))
    return usable.join(tables.payer_frame().select("payer", "time_rule"), on="payer", how="left")


def _units_text(units: pl.Expr) -> pl.Expr:
    return pl.format("{} unit", units) + pl.when(units == 1).then(pl.lit("")).otherwise(pl.lit("s"))


def _flag_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per flagged line (a code documented but not billed gets a row without a line)."""
    with_lines = frame.filter(pl.col("lines").list.len().fill_null(0) > 0).explode("lines").with_columns(
        pl.col("lines").struct.field("encounter_id").alias("encounter_id"),
        pl.col("lines").struct.field("line").alias("line"),
    )
    without = frame.filter(pl.col("lines").list.len().fill_null(0) == 0).with_columns(
        pl.col("first_encounter").alias("encounter_id"), pl.lit(None, dtype=pl.Int32).alias("line")
    )
    return pl.concat([with_lines.select(_OUT), without.select(_OUT)], how="vertical_relaxed")


def _cms_checks(days: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(units above what the time supports, units below it) under the CMS method."""
    bounds = cms_unit_bounds(days.filter(pl.col("time_rule") == "cms"), _POOL).sort(*_POOL, "code")
    bounds = bounds.with_columns(
        pl.col("billed").sum().over(_POOL).alias("day_billed"),
        pl.col("discipline").n_unique().over(_DAY).alias("_disciplines"),
    )
    texts = bounds.group_by(_POOL).agg(
        pl.format("{} {}", pl.col("code"), _units_text(pl.col("billed"))).str.join(" + ").alias("billed_text"),
        pl.format("{} {} min", pl.col("code"), pl.col("minutes")).str.join(", ").alias("minutes_text"),
    )
    bounds = bounds.join(texts, on=_POOL, how="left").with_columns(
        ((pl.col("day_units") * 15 - 7).clip(lower_bound=0)).alias("band_low"),
        pl.when(pl.col("day_units") == 0).then(7).otherwise(pl.col("day_units") * 15 + 7).alias("band_high"),
        pl.when(pl.col("min_units") == pl.col("max_units")).then(_units_text(pl.col("min_units")))
        .otherwise(pl.format("{} or {} units (tie for the last unit: clinician's choice)", pl.col("min_units"),
                             pl.col("max_units"))).alias("allowed_text"),
        pl.when(pl.col("code").count().over(_POOL) == 1).then(pl.col("billed_text"))
        .otherwise(pl.format("{} = {}", pl.col("billed_text"), _units_text(pl.col("day_billed")))).alias("sum_text"),
    )
    day_text = pl.format(
        "{}, but {} total timed minutes ({}) support {} under the CMS 8-minute rule ({}-{} minutes)",
        pl.col("sum_text"), pl.col("day_minutes"), pl.col("minutes_text"), _units_text(pl.col("day_units")),
        pl.col("band_low"), pl.col("band_high"),
    )
    code_text = pl.format(
        "{} is billed {}, but under the CMS 8-minute rule it gets {} of the {} that {} total timed minutes support "
        "({}): each code first gets its full 15-minute blocks, then the remaining units go to the largest leftover "
        "minutes",
        pl.col("code"), _units_text(pl.col("billed")), pl.col("allowed_text"), _units_text(pl.col("day_units")),
        pl.col("day_minutes"), pl.col("minutes_text"),
    )
    fix_text = (
        pl.when(pl.col("max_units") == 0)
        .then(pl.format("Do not bill {}: its {} minutes get no unit; the day's timed minutes support {} in total.",
                        pl.col("code"), pl.col("minutes"), _units_text(pl.col("day_units"))))
        .otherwise(pl.format("Bill {} as {} (documented {} min); the day's timed minutes support {} in total.",
                             pl.col("code"), pl.col("allowed_text"), pl.col("minutes"),
                             _units_text(pl.col("day_units"))))
    )
    # When the patient had more than one discipline that day, say which pool the numbers are about.
    pool_note = pl.when(pl.col("_disciplines") > 1).then(pl.format(
        " ({} minutes only: each discipline's plan of care counts its own timed minutes)",
        pl.when(pl.col("discipline") == "other").then(pl.lit("non-therapy")).otherwise(pl.col("discipline")),
    )).otherwise(pl.lit(""))
    day_text = day_text + pool_note
    code_text = code_text + pool_note
    over_day = pl.col("day_billed") > pl.col("day_units")
    under_day = pl.col("day_billed") < pl.col("day_units")
    exceed = bounds.filter(
        (over_day & (pl.col("billed") > pl.col("min_units"))) | (~over_day & (pl.col("billed") > pl.col("max_units")))
    ).with_columns(
        pl.when(over_day).then(day_text).otherwise(code_text).alias("detail"),
        fix_text.alias("fix_text"),
        pl.lit(None, dtype=pl.String).alias("severity"),
    )
    below = bounds.filter(
        (under_day & (pl.col("billed") < pl.col("max_units"))) | (~under_day & (pl.col("billed") < pl.col("min_units")))
    ).with_columns(
        pl.when(under_day).then(day_text).otherwise(code_text).alias("detail"),
        fix_text.alias("fix_text"),
        pl.lit(None, dtype=pl.String).alias("severity"),
    )
    return _flag_rows(exceed), _flag_rows(below)


def _per_code_checks(days: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(above, below) for 15-minute codes under a payer that rounds each code on its own."""
    frame = days.filter(pl.col("time_rule") == "per_code").with_columns(
        per_code_units(pl.col("minutes"), pl.lit(15)).alias("supported")
    ).with_columns(
        pl.format("{} is billed {}, but its {} minutes support {} under the per-code rule of eights (each code on "
                  "its own: 8-22 minutes = 1 unit, 23-37 = 2, and so on; minutes are not pooled)",
                  pl.col("code"), _units_text(pl.col("billed")), pl.col("minutes"),
                  _units_text(pl.col("supported"))).alias("detail"),
        pl.when(pl.col("supported") == 0)
        .then(pl.format("Do not bill {}: {} minutes are under the 8 a unit needs when each code counts on its own.",
                        pl.col("code"), pl.col("minutes")))
        .otherwise(pl.format("Bill {} as {} for {} documented minutes.", pl.col("code"),
                             _units_text(pl.col("supported")), pl.col("minutes"))).alias("fix_text"),
        pl.lit(None, dtype=pl.String).alias("severity"),
    )
    return (_flag_rows(frame.filter(pl.col("billed") > pl.col("supported"))),
            _flag_rows(frame.filter(pl.col("billed") < pl.col("supported"))))


def _other_time_rules(tables: Tables) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(above, below) for per-unit, typical-time, at-least and base + add-on codes, per encounter and code family.

    Lines under the code's minimum time are skipped: the below-minimum-time rule reports them.
    """
    lines = _family_minutes(tables).filter(pl.col("group_has_minutes"))
    per_code = lines.group_by("encounter_id", "date", "code").agg(
        pl.col("units").sum().alias("billed"),
        _whole(pl.col("units")).all().alias("whole"),
        pl.col("line").alias("line_list"),
        pl.col("time_rule").first(), pl.col("unit_minutes").first(), pl.col("typical_minutes").first(),
        pl.col("min_minutes").first(), pl.col("addon_code").first(), pl.col("group_minutes").first(),
    ).filter(pl.col("whole")).with_columns(pl.col("billed").cast(pl.Int64), pl.col("group_minutes").alias("minutes"))

    simple = per_code.filter(pl.col("time_rule").is_in(["per_unit", "typical", "at_least", "base"])).with_columns(
        pl.when(pl.col("time_rule") == "per_unit").then(per_code_units(pl.col("minutes"), pl.col("unit_minutes")))
        .when(pl.col("time_rule") == "typical").then(per_code_units(pl.col("minutes"), pl.col("typical_minutes")))
        .otherwise(1).alias("supported"),
        pl.when(pl.col("time_rule") == "per_unit")
        .then(pl.format("one unit per {} minutes, each attained past its midpoint", pl.col("unit_minutes")))
        .when(pl.col("time_rule") == "typical")
        .then(pl.format("units of its {}-minute typical time, each attained past the midpoint",
                        pl.col("typical_minutes")))
        .when(pl.col("time_rule") == "at_least")
        .then(pl.format("one unit for the session of at least {} minutes", pl.col("min_minutes")))
        .otherwise(pl.format("one unit for the first {} minutes; more time goes to the add-on {}",
                             pl.col("typical_minutes"), pl.col("addon_code"))).alias("rule_text"),
        pl.when(pl.col("time_rule") == "per_unit").then(pl.col("unit_minutes") // 2 + 1)
        .otherwise(pl.col("min_minutes")).alias("needed"),
    ).filter(pl.col("minutes") >= pl.col("needed"))

    addon_codes = tables.codes.filter(pl.col("time_rule") == "addon").select(
        pl.col("code").alias("addon_code"), pl.col("unit_minutes").alias("addon_unit_minutes")
    ).unique("addon_code")
    addon_billed = per_code.select("encounter_id", "date", pl.col("code").alias("addon_code"),
                                   pl.col("billed").alias("addon_billed"), pl.col("line_list").alias("addon_lines"))
    family = (
        per_code.filter((pl.col("time_rule") == "base") & (pl.col("minutes") >= pl.col("min_minutes")))
        .join(addon_codes, on="addon_code", how="inner")
        .join(addon_billed, on=["encounter_id", "date", "addon_code"], how="left")
        .with_columns(
            pl.col("addon_billed").fill_null(0),
            per_code_units((pl.col("minutes") - pl.col("typical_minutes")).clip(lower_bound=0),
                           pl.col("addon_unit_minutes")).alias("supported"),
            pl.coalesce("addon_lines", "line_list").alias("flag_lines"),
            (pl.col("typical_minutes") + pl.col("addon_unit_minutes") // 2 + 1).alias("first_addon"),
        )
        .with_columns(
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
        )
    )
    simple = simple.with_columns(
        pl.format("{} is billed {}, but its {} documented minutes support {} ({})", pl.col("code"),
                  _units_text(pl.col("billed")), pl.col("minutes"), _units_text(pl.col("supported")),
                  pl.col("rule_text")).alias("detail"),
        pl.format("Bill {} as {} for {} documented minutes.", pl.col("code"), _units_text(pl.col("supported")),
                  pl.col("minutes")).alias("fix_text"),
        pl.lit(None, dtype=pl.String).alias("severity"),
        pl.col("line_list").alias("flag_lines"),
        pl.col("code").alias("flag_code"),
    )

    def rows(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.explode("flag_lines").select(
            "encounter_id", pl.col("flag_lines").cast(pl.Int32).alias("line"), pl.col("flag_code").alias("code"),
            "detail", "fix_text", "severity",
        )

    above = pl.concat([rows(simple.filter(pl.col("billed") > pl.col("supported"))),
                       rows(family.filter(pl.col("addon_billed") > pl.col("supported")))])
    below = pl.concat([
        rows(simple.filter((pl.col("time_rule") == "per_unit") & (pl.col("billed") < pl.col("supported")))),
        rows(family.filter(pl.col("addon_billed") < pl.col("supported"))),
    ])
    return above, below


def _checks(tables: Tables) -> tuple[pl.DataFrame, pl.DataFrame]:
    days = _timed_day_codes(tables)
    cms_above, cms_below = _cms_checks(days)
    code_above, code_below = _per_code_checks(days)
    other_above, other_below = _other_time_rules(tables)
    schema = {"encounter_id": pl.String, "line": pl.Int32, "code": pl.String, "detail": pl.String,
              "fix_text": pl.String, "severity": pl.String}

    def stack(*frames: pl.DataFrame) -> pl.DataFrame:
        cast = [f.select(pl.col(c).cast(t) for c, t in schema.items()) for f in frames]
        return pl.concat(cast).unique(maintain_order=True).sort("encounter_id", "line", "code", nulls_last=True)

    return stack(cms_above, code_above, other_above), stack(cms_below, code_below, other_below)


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
        CMS Pub 100-04 Ch.5 s20.2 part C (8-minute rule and its unit table, as quoted by First Coast); total per
        discipline: secondary sources only (Legion Healthcare Solutions 8-minute rule guide); CPT time rule (a unit
        is attained when its midpoint is passed; Palmetto GBA time tips); APA HBAI guide 2020 (96158/96159).
    """

    id = "CC301"
    slug = "units-exceed-time"
    family = "time and units"
    severity = Severity.ERROR
    message = "{detail}"
    fix = "{fix_text}"
    references = (_CMS_REF, "CPT time rule (midpoint); Palmetto GBA time tips", "APA Services HBAI guide 2020")

    def check(self, tables: Tables) -> pl.DataFrame:
        return tables.memo("units_checks", _checks)[0]


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
        CMS Pub 100-04 Ch.5 s20.2 part C (8-minute rule and its unit table); CPT time rule (midpoint); APA HBAI guide.
    """

    id = "CC302"
    slug = "units-below-time"
    family = "time and units"
    severity = Severity.WARNING
    message = "{detail}"
    fix = "{fix_text}"
    references = (_CMS_REF, "CPT time rule (midpoint); Palmetto GBA time tips", "APA Services HBAI guide 2020")

    def check(self, tables: Tables) -> pl.DataFrame:
        return tables.memo("units_checks", _checks)[1]


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

    def check(self, tables: Tables) -> pl.DataFrame:
        lines = lines_with_codes(tables).filter(
            pl.col("time_rule").is_in(["untimed", "range"]) & ~pl.col("lab").fill_null(False)
        )
        return (
            lines.with_columns(
                pl.col("units").sum().over(*_DAY, "code").alias("day_units"),
                pl.format("{} line {}: {}", pl.col("encounter_id"), pl.col("line"),
                          pl.col("units").round(2).cast(pl.String).str.replace(r"\.0$", ""))
                .str.join("; ").over(*_DAY, "code").alias("lines_text"),
            )
            .filter(pl.col("day_units") > 1)
            .with_columns(pl.col("date").cast(pl.String))
            .select("encounter_id", "line", "code", "day_units", "date", "lines_text")
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

    def check(self, tables: Tables) -> pl.DataFrame:
        group = ["encounter_id", "date", "code", "assistant"]
        return (
            lines_with_codes(tables)
            .filter(pl.col("time_rule").is_in(["timed15", "per_unit"])
                    & ~pl.col("modifiers").list.eval(pl.element().is_in(_DISTINCT_MODIFIERS)).list.any())
            .with_columns(pl.col("modifiers").list.eval(pl.element().is_in(["CQ", "CO"])).list.any()
                          .alias("assistant"))
            .with_columns(
                pl.len().over(group).alias("n"),
                pl.col("line").cast(pl.String).str.join(", ").over(group).alias("line_numbers"),
                pl.col("units").sum().over(group).alias("total_units"),
            )
            .filter(pl.col("n") > 1)
            .with_columns(pl.col("date").cast(pl.String))
            .select("encounter_id", "line", "code", "line_numbers", "date", "total_units")
        )


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

    def check(self, tables: Tables) -> pl.DataFrame:
        return (
            tables.lines.filter(pl.col("units").is_not_null() & (pl.col("units") != pl.col("units").floor()))
            .with_columns(
                pl.col("units").cast(pl.String).alias("units_text"),
                pl.when(pl.col("minutes").is_null()).then(pl.lit("none documented"))
                .otherwise(pl.format("{} minutes", pl.col("minutes"))).alias("minutes_text"),
            )
            .select("encounter_id", "line", "code", "units_text", "minutes_text")
        )
