"""Time and units: does the documented time support the code and the units billed?"""

from __future__ import annotations

import polars as pl

from cleanclaim.model import Severity
from cleanclaim.rules.registry import Rule, register
from cleanclaim.rules.tables import Tables, lines_with_codes

_KEYS = ["encounter_id", "line", "code"]


def _family_minutes(tables: Tables) -> pl.DataFrame:
    """Lines with their code-book entry and the minutes documented for their code family in the encounter on the
    line's date of service (a base code and its add-on share one pool of minutes; other codes count their own; a
    claim with several dates of service has one pool per date)."""
    lines = lines_with_codes(tables).with_columns(
        pl.coalesce(pl.col("base_code"), pl.col("code")).alias("time_group")
    )
    pooled = lines.group_by("encounter_id", "date", "time_group").agg(
        pl.col("minutes").sum().alias("group_minutes"),
        pl.col("minutes").is_not_null().any().alias("group_has_minutes"),
    )
    return lines.join(pooled, on=["encounter_id", "date", "time_group"], how="left")


@register
class MissingMinutes(Rule):
    """A time-based code billed with no documented minutes.

    What it checks:
        Lines whose code's units or choice depend on time (15-minute therapy codes, typical-time and "at least" codes,
        time-range families such as 99406/99407) when no minutes are documented for that code (or for its base code,
        for an add-on) in the encounter. Office E/M levels are exempt: they may rest on medical decision making.

    Why it matters:
        Without minutes the units cannot be defended in an audit: Medicare requires the total timed-code minutes in the
        record, and a reviewer recovers every unit the record does not support.

    Example:
        services: [{code: "97535"}]
        lines: [{code: "97535", modifiers: [GP], units: 2}]

    Use instead:
        services: [{code: "97535", minutes: 30}]
        lines: [{code: "97535", modifiers: [GP], units: 2}]

    References:
        CMS Pub 100-04 Ch.5 s20.2 (total timed minutes must be documented); Billing and Coding article A57067.
    """

    id = "CC304"
    slug = "missing-minutes"
    family = "time and units"
    severity = Severity.WARNING
    message = "{code} is a time-based code ({time_text}) but no minutes are documented: its units cannot be verified"
    fix = "Document the direct one-on-one minutes of {code} in the note (and in `minutes:`), then recheck the units."
    references = ("CMS Pub 100-04 Ch.5 s20.2", "Billing and Coding article A57067 (timed-code minutes)")

    def check(self, tables: Tables) -> pl.DataFrame:
        if not tables.minutes_carried:
            return pl.DataFrame(schema={"encounter_id": pl.String, "line": pl.Int32, "code": pl.String,
                                        "time_text": pl.String})
        return (
            _family_minutes(tables)
            .filter(
                pl.col("time_rule").is_in(["timed15", "per_unit", "typical", "base", "addon", "at_least", "range"])
                & ~pl.col("time_optional")
                & ~pl.col("group_has_minutes")
            )
            .with_columns(
                pl.when(pl.col("time_rule") == "timed15").then(pl.lit("15-minute units"))
                .when(pl.col("time_rule") == "addon").then(pl.lit("add-on units depend on total time"))
                .otherwise(pl.lit("its choice depends on time")).alias("time_text")
            )
            .select(*_KEYS, "time_text")
        )


def _range_members(tables: Tables) -> pl.DataFrame:
    return tables.codes.filter(pl.col("time_rule") == "range").select(
        "family", pl.col("code").alias("member_code"), pl.col("min_minutes").alias("member_min"),
        pl.col("max_minutes").alias("member_max"), pl.col("effective").alias("member_effective"),
        pl.col("deleted").alias("member_deleted"),
    )


def _members_in_force(lines: pl.DataFrame, tables: Tables) -> pl.DataFrame:
    return lines.join(_range_members(tables), on="family", how="inner").filter(
        (pl.col("member_effective").is_null() | (pl.col("date") >= pl.col("member_effective")))
        & (pl.col("member_deleted").is_null() | (pl.col("date") < pl.col("member_deleted")))
    )


@register
class BelowMinimumTime(Rule):
    """A code billed with less time than its own minimum.

    What it checks:
        Documented minutes against the least time the code needs: the full stated time for "at least" codes (0592T and
        0593T need 30), the midpoint of the typical time for typical-time and base codes (96158 needs 16, G0447 needs
        8), the lowest range of a time-range family (99406 needs more than 3 minutes, G2011 5), and 8 minutes for a
        single 15-minute unit counted per code.

    Why it matters:
        A service below its minimum time is not billable under that code; an audit recovers the payment, and a pattern
        of it is a false-claims risk.

    Example:
        services: [{code: "0592T", minutes: 29}]
        lines: [{code: "0592T", units: 1}]

    Use instead:
        # 29 minutes of coaching does not meet 0592T; document the full 30 minutes or do not bill it
        services: [{code: "0592T", minutes: 30}]
        lines: [{code: "0592T", units: 1}]

    References:
        Palmetto GBA time tips ("at least" codes need the stated time; typical times need the midpoint); CPT time rule
        (a unit is attained when the midpoint is passed); APA HBAI guide (do not report 96158 under 16 minutes).
    """

    id = "CC303"
    slug = "below-minimum-time"
    family = "time and units"
    severity = Severity.ERROR
    message = "{code} needs at least {needed} minutes ({rule_text}); {minutes} minutes are documented"
    fix = ("Do not bill {code} for {minutes} minutes, or document the time actually spent "
           "if it was {needed} minutes or more.")
    references = ("Palmetto GBA: E/M and time tips (at-least and midpoint rules)", "CPT time rule (midpoint)",
                  "APA Services HBAI guide 2020")

    def check(self, tables: Tables) -> pl.DataFrame:
        lines = _family_minutes(tables).filter(pl.col("group_has_minutes") & ~pl.col("time_optional"))
        lowest = (
            _members_in_force(lines.filter(pl.col("time_rule") == "range"), tables)
            .group_by("encounter_id", "line").agg(pl.col("member_min").min().alias("range_min"))
        )
        lines = lines.join(lowest, on=["encounter_id", "line"], how="left").with_columns(
            pl.when(pl.col("time_rule").is_in(["at_least", "typical", "base"])).then(pl.col("min_minutes"))
            .when(pl.col("time_rule") == "range").then(pl.col("range_min"))
            .when(pl.col("time_rule") == "per_unit").then(pl.col("unit_minutes") // 2 + 1)
            .otherwise(None).alias("needed"),
            pl.when(pl.col("time_rule") == "at_least").then(pl.lit("the full stated time; no midpoint"))
            .when(pl.col("time_rule").is_in(["typical", "base"]))
            .then(pl.format("past the midpoint of its {} minutes", pl.col("typical_minutes")))
            .when(pl.col("time_rule") == "range").then(pl.lit("the lowest time range of its family"))
            .otherwise(pl.format("past the midpoint of a {}-minute unit", pl.col("unit_minutes")))
            .alias("rule_text"),
            pl.col("group_minutes").alias("minutes"),
        )
        return lines.filter(pl.col("needed").is_not_null() & (pl.col("minutes") < pl.col("needed"))).select(
            *_KEYS, "needed", "rule_text", "minutes"
        )


@register
class TimeRangeMismatch(Rule):
    """A code from a time-range family whose range does not hold the documented minutes.

    What it checks:
        Codes chosen by time within a family: 99406 (more than 3 up to 10 minutes) vs 99407 (more than 10); 99408
        (15-30) vs 99409 (over 30); G2011/G0396/G0397; 99401-99404; 99411/99412; office E/M by time. The documented
        minutes must fall in the billed code's range; the finding names the code whose range holds them.

    Why it matters:
        Billing 99407 for an 8-minute tobacco conversation is upcoding (99406 applies); billing 99408 for 40 minutes
        loses revenue (99409 applies). For office E/M chosen by time, the level must match the time (a level chosen by
        medical decision making is not affected: this is a warning there).

    Example:
        services: [{code: "99407", minutes: 8}]
        lines: [{code: "99407", units: 1}]

    Use instead:
        services: [{code: "99406", minutes: 8}]
        lines: [{code: "99406", units: 1}]

    References:
        NGS Medicare: counseling to prevent tobacco use (99406 3-10 minutes, 99407 over 10); SBIRT Oregon billing codes
        (99408 15-30, 99409 over 30; G2011 5-14); AAP Coding News (99401-99404); CPT 2021 office E/M time thresholds.
    """

    id = "CC307"
    slug = "time-range-mismatch"
    family = "time and units"
    severity = Severity.ERROR
    message = "{code} covers {own_range} minutes, but {minutes} minutes are documented: that time is {member_code}"
    fix = "Bill {member_code} for {minutes} minutes, or correct the documented time."
    references = ("NGS Medicare: counseling to prevent tobacco use", "SBIRT Oregon: billing codes",
                  "AAP Coding News: preventive medicine counseling", "CPT 2021 office E/M guidelines")

    def check(self, tables: Tables) -> pl.DataFrame:
        lines = lines_with_codes(tables).filter((pl.col("time_rule") == "range") & pl.col("minutes").is_not_null())
        outside = lines.filter(
            (pl.col("minutes") < pl.col("min_minutes"))
            | (pl.col("max_minutes").is_not_null() & (pl.col("minutes") > pl.col("max_minutes")))
        )
        matched = _members_in_force(outside, tables).filter(
            (pl.col("minutes") >= pl.col("member_min"))
            & (pl.col("member_max").is_null() | (pl.col("minutes") <= pl.col("member_max")))
        )
        return matched.with_columns(
            pl.when(pl.col("max_minutes").is_null())
            .then(pl.format("{} or more", pl.col("min_minutes")))
            .otherwise(pl.format("{}–{}", pl.col("min_minutes"), pl.col("max_minutes"))).alias("own_range"),
            pl.when(pl.col("time_optional")).then(pl.lit(Severity.WARNING.value)).otherwise(None).alias("severity"),
            pl.when(pl.col("time_optional"))
            .then(pl.format("If the level is chosen by time, {} minutes support {}; a level chosen by medical decision "
                            "making is not affected.", pl.col("minutes"), pl.col("member_code")))
            .otherwise(None).alias("fix"),
        ).select(*_KEYS, "own_range", "minutes", "member_code", "severity", "fix")
