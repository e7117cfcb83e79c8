"""Time and units: does the documented time support the code and the units billed?"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import polars as pl

from cleanclaim import timing
from cleanclaim.codebook import CodeBook, CodeEntry
from cleanclaim.model import Severity
from cleanclaim.rules.registry import CANNOT_FIRE, Rule, Screen, register
from cleanclaim.rules.tables import (
    SMALL_RUN,
    Tables,
    codes_frame,
    collect,
    distinct_values,
    key_may_repeat,
    lines_with_codes,
)

_KEYS = ["encounter_id", "line", "code"]

# Every check below returns a lazy plan that the engine runs with all other rules in one ``collect_all`` (each rule's
# screen first rules it out when the run bills no code it looks at); the expressions that do not depend on the tables
# are built once, here, since building them costs about as much as running them on one claim.
_FAMILY_POOL = ["encounter_id", "date", "time_group"]
# A window over a null key would pool the lines whose key is null; the join this replaced matched none of them.
_POOL_KEYED = pl.all_horizontal(pl.col(c).is_not_null() for c in _FAMILY_POOL)
_FAMILY_COLUMNS = (
    pl.when(_POOL_KEYED).then(pl.col("minutes").sum().over(_FAMILY_POOL)).alias("group_minutes"),
    # ``count`` (the non-null minutes) rather than ``is_not_null().any()``: the same answer, and the two windows then
    # share one grouping of the pool (a third of the cost on a 200,000-line partition)
    pl.when(_POOL_KEYED).then(pl.col("minutes").count().over(_FAMILY_POOL) > 0).alias("group_has_minutes"),
)


def _family_minutes(tables: Tables) -> pl.DataFrame:
    """Lines with their code-book entry and the minutes documented for their code family in the encounter on the
    line's date of service (a base code and its add-on share one pool of minutes; other codes count their own; a
    claim with several dates of service has one pool per date).

    Memoised for the run (one plan, collected once): missing-minutes, below-minimum-time, the units rules and
    documentation-missing-element all start from it. Callers that build a plan take ``.lazy()`` of it."""
    return tables.memo("family_minutes", _build_family_minutes)


def _time_rules(tables: Tables) -> frozenset[str]:
    """The time rules of the codes billed in the run (``timed15``, ``range`` ...), computed once per run.

    Screens use it to rule a rule out when the run bills no code it looks at, and the units plan to leave out the
    parts the run has no code for: a Python set lookup, where even a plan that finds nothing costs the engine a tenth
    of a millisecond or more on one claim. The answer is exact, since each such plan starts by keeping only those
    codes."""
    return tables.memo("time_rules", _build_time_rules)


def _build_time_rules(tables: Tables) -> frozenset[str]:
    return frozenset(str(rule) for rule in distinct_values(lines_with_codes(tables).get_column("time_rule")))


# ---- screens: the same questions asked in Python on a small run ----------------------------------------------------
# Screens decide in Python, for microseconds, whether a rule's plan (0.2-3 ms on one claim) could find anything. Up
# to ``SMALL_RUN`` lines they read the lines with their code-book columns as Python values; above it they answer from
# whole-run facts only (the time rules billed), as a month of claims almost always has something to report.


def _py_lines(tables: Tables) -> list[dict[str, Any]] | None:
    """The lines with their code-book version in force (``lines_with_codes``) as Python dicts, once per run, or
    None when the run has more than ``SMALL_RUN`` lines."""
    return tables.memo("py_lines", _build_py_lines)


def _build_py_lines(tables: Tables) -> list[dict[str, Any]] | None:
    lines = lines_with_codes(tables)
    if lines.height > SMALL_RUN:
        return None
    columns = {name: lines.get_column(name).to_list() for name in _PY_COLUMNS}
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]


_PY_COLUMNS = ("encounter_id", "line", "patient_id", "date", "payer", "code", "modifiers", "units", "minutes",
               "provider_discipline", "time_rule", "unit_minutes", "typical_minutes", "min_minutes", "max_minutes",
               "addon_code", "base_code", "time_optional", "lab")


@cache
def _versions(book: CodeBook) -> Mapping[str, tuple[CodeEntry, ...]]:
    """Every version of each code, keyed by the code exactly as the book spells it (as the lines are joined to it)."""
    found: dict[str, list[CodeEntry]] = {}
    for entry in book:
        found.setdefault(entry.code, []).append(entry)
    return {code: tuple(versions) for code, versions in found.items()}


def _family_pool_key(row: Mapping[str, Any]) -> tuple[Any, Any, Any] | None:
    """The line's pool of family minutes (encounter, date, base code or own code), None when a key is missing: the
    plan's windows leave such a line without pooled minutes (``_POOL_KEYED``)."""
    group = row["base_code"] if row["base_code"] is not None else row["code"]
    if row["encounter_id"] is None or row["date"] is None or group is None:
        return None
    return (row["encounter_id"], row["date"], group)


def _pooled_lines(tables: Tables) -> list[tuple[dict[str, Any], tuple[Any, Any, Any] | None, int | None]] | None:
    """Each line of a small run (``_py_lines``) with its family-pool key and that pool's documented minutes (None for
    a line without a key or a pool without minutes), for the time screens; None on a large run."""
    rows = _py_lines(tables)
    if rows is None:
        return None
    pools = _family_pools(rows)
    keyed = [(row, _family_pool_key(row)) for row in rows]
    return [(row, key, pools.get(key) if key is not None else None) for row, key in keyed]


def _family_pools(rows: list[dict[str, Any]]) -> dict[tuple[Any, Any, Any], int | None]:
    """The pooled minutes of each family pool as ``_family_minutes`` sums them (None: no line of the pool documents
    minutes, the plan's ``group_has_minutes`` false)."""
    pools: dict[tuple[Any, Any, Any], int | None] = {}
    for row in rows:
        key = _family_pool_key(row)
        if key is None:
            continue
        minutes = row["minutes"]
        total = pools.get(key)
        pools[key] = total if minutes is None else (total or 0) + minutes
    return pools


_TIME_GROUP = pl.coalesce(pl.col("base_code"), pl.col("code")).alias("time_group")


def _build_family_minutes(tables: Tables) -> pl.DataFrame:
    return collect(lines_with_codes(tables).lazy().with_columns(_TIME_GROUP).with_columns(*_FAMILY_COLUMNS))


# ---- the family pools of the codes timed by their own rule ---------------------------------------------------------
_OWN_TIME_RULES = ("per_unit", "typical", "base", "addon", "at_least", "range")
# The columns below-minimum-time and the units plan read from `_own_rule_minutes`.
_OWN_RULE_COLUMNS = ("encounter_id", "line", "date", "code", "units", "minutes", "time_rule", "unit_minutes",
                     "typical_minutes", "min_minutes", "time_optional", "family", "addon_code", "time_group")


def _own_rule_minutes(tables: Tables) -> pl.DataFrame:
    """`_family_minutes` for the lines of every code with a per-unit, typical-time, base, add-on, at-least or
    time-range version (`_own_rule_groups`), which are all that below-minimum-time and the units plan's
    ``_other_time_rows`` read: at least those lines, with at least the columns they read.

    On a large run the pools are summed over those lines alone: a family pool is one encounter, date and
    ``time_group``, so keeping the lines whose ``time_group`` is one of those codes' keeps whole pools, and their
    sums are those of the whole table. The 15-minute and untimed lines left out are most of a batch (60% of the
    1M-line synthetic file), and the pools' windows over text keys cost ~60 ms per 250,000 lines. A small run, or a
    run that has built `_family_minutes` already (missing-minutes reads every time-based line), reads that table."""
    if tables.small or tables.has_memo("family_minutes"):
        return _family_minutes(tables)
    return tables.memo("own_rule_minutes", _build_own_rule_minutes)


def _build_own_rule_minutes(tables: Tables) -> pl.DataFrame:
    lines = collect(
        lines_with_codes(tables).lazy().with_columns(_TIME_GROUP)
        .filter(pl.col("time_group").is_in(_own_rule_groups(tables.book)))
        .select(*_OWN_RULE_COLUMNS)
    )
    # When no two of these lines share a family pool (a batch without add-ons beside their base code, nor a code
    # on two lines of a day), each pool is its line: its minutes are the pool's sum (none: 0) and whether it has
    # them the pool's count. The look for repeats and that cost a third of the two windows over the text keys (a
    # 250,000-line partition of the 1M-line synthetic file: 5 ms against 14, on one thread).
    if lines.select(_FAMILY_POOL_REPEATS).item():
        return lines.with_columns(*_FAMILY_COLUMNS)
    return lines.with_columns(*_ONE_LINE_POOLS)


# Whether two lines may share a family pool (`key_may_repeat`: a collision only sends the lines to the windows).
_FAMILY_POOL_REPEATS = key_may_repeat(_FAMILY_POOL).any()
# ``_FAMILY_COLUMNS`` over pools of one line each
_ONE_LINE_POOLS = (
    pl.when(_POOL_KEYED).then(pl.col("minutes").fill_null(0)).alias("group_minutes"),
    pl.when(_POOL_KEYED).then(pl.col("minutes").is_not_null()).alias("group_has_minutes"),
)


@cache
def _own_rule_groups(book: CodeBook) -> list[str]:
    """The family pools (``time_group``) a line of a code with a version under `_OWN_TIME_RULES` can fall in,
    whichever version is in force on its date: each version's base code, else its code, and the code itself (a line
    whose code has no version in force has no base code). A constant of the book, built once."""
    codes = codes_frame(book)
    own = codes.filter(pl.col("time_rule").is_in(_OWN_TIME_RULES)).get_column("code").unique()
    versions = codes.filter(pl.col("code").is_in(own.implode()))
    groups = versions.select(pl.coalesce("base_code", "code")).to_series().to_list()
    return sorted({group for group in [*groups, *own.to_list()] if group is not None})


_TIME_BASED = ["timed15", *_OWN_TIME_RULES]  # the 15-minute rule and those that time a code by its own rule
_MISSING = pl.col("time_rule").is_in(_TIME_BASED) & ~pl.col("time_optional") & ~pl.col("group_has_minutes")
_TIME_TEXT = (
    pl.when(pl.col("time_rule") == "timed15").then(pl.lit("15-minute units"))
    .when(pl.col("time_rule") == "addon").then(pl.lit("add-on units depend on total time"))
    .otherwise(pl.lit("its choice depends on time")).alias("time_text")
)
_NO_MISSING_MINUTES = pl.DataFrame(schema={"encounter_id": pl.String, "line": pl.Int32, "code": pl.String,
                                           "time_text": pl.String})


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

    def screen_for(self, tables: Tables) -> Screen | None:
        # A flagged line bills a time-based code and its family pool documents no minutes, so its own minutes are
        # missing; an input that cannot carry minutes is never flagged.
        if not tables.minutes_carried or not _time_rules(tables).intersection(_TIME_BASED):
            return CANNOT_FIRE
        if tables.lines.get_column("minutes").null_count() == 0:
            return CANNOT_FIRE
        pooled = _pooled_lines(tables)
        if pooled is None:
            return None
        for row, key, minutes in pooled:
            if row["time_rule"] in _TIME_BASED and not row["time_optional"] and key is not None and minutes is None:
                return None
        return CANNOT_FIRE

    def check(self, tables: Tables) -> pl.DataFrame | pl.LazyFrame:
        if not tables.minutes_carried:
            # part of the rule, not only a shortcut: when the input cannot carry minutes their absence says nothing
            return _NO_MISSING_MINUTES
        return _family_minutes(tables).lazy().filter(_MISSING).with_columns(_TIME_TEXT).select(*_KEYS, "time_text")


@cache
def _range_members(book: CodeBook) -> pl.DataFrame:
    """Every version of every time-range code (99406/99407, 99408/99409 ...): a constant of the code book."""
    return codes_frame(book).filter(pl.col("time_rule") == "range").select(
        "family", pl.col("code").alias("member_code"), pl.col("min_minutes").alias("member_min"),
        pl.col("max_minutes").alias("member_max"), pl.col("effective").alias("member_effective"),
        pl.col("deleted").alias("member_deleted"),
    )


_MEMBER_IN_FORCE = (
    (pl.col("member_effective").is_null() | (pl.col("date") >= pl.col("member_effective")))
    & (pl.col("member_deleted").is_null() | (pl.col("date") < pl.col("member_deleted")))
)


def _members_in_force(lines: pl.LazyFrame, tables: Tables) -> pl.LazyFrame:
    return lines.join(_range_members(tables.book).lazy(), on="family", how="inner").filter(_MEMBER_IN_FORCE)


_MINIMUM_LINES = pl.col("group_has_minutes") & ~pl.col("time_optional")
_OWN_MINIMUM = ["at_least", "typical", "base", "per_unit"]
_HAS_MINIMUM = frozenset([*_OWN_MINIMUM, "range"])
_OWN_NEEDED = (
    pl.when(pl.col("time_rule") == "per_unit").then(pl.col("unit_minutes") // 2 + 1)
    .otherwise(pl.col("min_minutes")).alias("needed")
)
_RANGE_NEEDED = (
    pl.col("code").first(), pl.col("time_rule").first(), pl.col("typical_minutes").first(),
    pl.col("unit_minutes").first(), pl.col("group_minutes").first(), pl.col("member_min").min().alias("needed"),
)
# A time-range line's own version is in force on its date (``lines_with_codes``) and is a member of its family, so
# the least time of the family's members in force is at most the line's own least time: a line whose pooled minutes
# reach its own ``min_minutes`` cannot fall short. On a large run only those that may (or whose own minimum is not
# known) are crossed with their family's members and grouped back, which was most of the rule's cost on a batch
# (a 250,000-line partition of the 1M-line synthetic file: 17 ms, then 4 ms, on one thread) for no finding.
# This relies on one version of a code in force per date (the code book's versions of a code do not overlap):
# a line joined to two versions of different families could keep one copy and drop the other.
_RANGE_MAY_FALL_SHORT = (pl.col("group_minutes") < pl.col("min_minutes")).fill_null(True)
_MINIMUM_COLUMNS = (
    "encounter_id", "line", "code", "time_rule", "typical_minutes", "unit_minutes", "needed",
    pl.col("group_minutes").alias("minutes"),
)
_RULE_TEXT = (
    pl.when(pl.col("time_rule") == "at_least").then(pl.lit("the full stated time; no midpoint"))
    .when(pl.col("time_rule").is_in(["typical", "base"]))
    .then(pl.format("past the midpoint of its {} minutes", pl.col("typical_minutes")))
    .when(pl.col("time_rule") == "range").then(pl.lit("the lowest time range of its family"))
    .otherwise(pl.format("past the midpoint of a {}-minute unit", pl.col("unit_minutes")))
    .alias("rule_text")
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
        CMS Pub. 100-04 Ch. 5 s20.2 (a 15-minute unit needs at least 8 minutes); NCD 210.4.1 (tobacco counseling
        more than 3 minutes); CY2020 PFS final rule, 84 FR 62568 (HBAI 96156-96171); AMA CPT time rule (a unit is
        attained when the midpoint is passed: 96158 needs 16 minutes).
    """

    id = "CC303"
    slug = "below-minimum-time"
    family = "time and units"
    severity = Severity.ERROR
    message = "{code} needs at least {needed} minutes ({rule_text}); {minutes} minutes are documented"
    fix = ("Do not bill {code} for {minutes} minutes, or document the time actually spent "
           "if it was {needed} minutes or more.")
    references = ("CMS Pub. 100-04 Ch. 5 s20.2 (a 15-minute unit needs at least 8 minutes)",
                  "NCD 210.4.1 (tobacco cessation counseling: more than 3 minutes)",
                  "CY2020 PFS final rule, 84 FR 62568 (HBAI 96156-96171 time thresholds)",
                  "AMA CPT time rule (a unit of time is attained when the midpoint is passed)")

    def screen_for(self, tables: Tables) -> Screen | None:
        # A flagged line's pooled minutes are under what its code needs: under the code's own minimum, or for a
        # time-range code under its family's lowest range in force, which is at most the code's own lowest minutes.
        if not _time_rules(tables).intersection(_HAS_MINIMUM):
            return CANNOT_FIRE
        pooled = _pooled_lines(tables)
        if pooled is None:
            return None
        for row, key, minutes in pooled:
            if row["time_rule"] not in _HAS_MINIMUM or row["time_optional"] or key is None:
                continue
            if minutes is None:
                continue
            needed = row["min_minutes"]
            if row["time_rule"] == "per_unit":
                needed = None if row["unit_minutes"] is None else timing.midpoint_threshold(row["unit_minutes"])
            if needed is None or minutes < needed:  # a code-book gap: the plan decides
                return None
        return CANNOT_FIRE

    def check(self, tables: Tables) -> pl.DataFrame | pl.LazyFrame:
        present = _time_rules(tables)
        lines = _own_rule_minutes(tables).lazy().filter(_MINIMUM_LINES)
        # a code with its own minimum, and (only when the run bills one) a time-range code, whose minimum is the
        # lowest range of its family in force on the date: two branches stacked, rather than a join back
        parts = [lines.filter(pl.col("time_rule").is_in(_OWN_MINIMUM)).with_columns(_OWN_NEEDED)]
        if "range" in present:
            ranged = lines.filter(pl.col("time_rule") == "range")
            if tables.lines.height > SMALL_RUN:
                ranged = ranged.filter(_RANGE_MAY_FALL_SHORT)
            parts.append(_members_in_force(ranged, tables).group_by("encounter_id", "line").agg(*_RANGE_NEEDED))
        return (
            pl.concat([part.select(*_MINIMUM_COLUMNS) for part in parts])
            .filter(pl.col("needed").is_not_null() & (pl.col("minutes") < pl.col("needed")))
            # the text only for the lines flagged: on a batch most lines pass
            .with_columns(_RULE_TEXT)
            .select(*_KEYS, "needed", "rule_text", "minutes")
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
        NCD 210.4.1 (99406 3-10 minutes, 99407 over 10); CMS HCPCS Level II file (G0396 15-30 minutes, G0397 over
        30, G2011 5-14); AMA CPT 99401-99404 time levels; CY2021 PFS final rule, 85 FR 84472 (office E/M times).
    """

    id = "CC307"
    slug = "time-range-mismatch"
    family = "time and units"
    severity = Severity.ERROR
    message = "{code} covers {own_range} minutes, but {minutes} minutes are documented: that time is {member_code}"
    fix = "Bill {member_code} for {minutes} minutes, or correct the documented time."
    references = ("NCD 210.4.1 (tobacco cessation counseling: intermediate 3-10 minutes, intensive over 10)",
                  "CMS HCPCS Level II file: G0396 (15-30 minutes), G0397 (over 30 minutes)",
                  "CY2021 PFS final rule, 85 FR 84472 (office/outpatient E/M times)",
                  "AMA CPT 99401-99404 preventive counseling time levels")

    def screen_for(self, tables: Tables) -> Screen | None:
        # A flagged line is a time-range line whose own minutes fall outside its code's range (``_RANGE_OUTSIDE``).
        if "range" not in _time_rules(tables):
            return CANNOT_FIRE
        rows = _py_lines(tables)
        if rows is None:
            return None
        for row in rows:
            minutes, low, high = row["minutes"], row["min_minutes"], row["max_minutes"]
            if row["time_rule"] == "range" and minutes is not None and (
                    (low is not None and minutes < low) or (high is not None and minutes > high)):
                return None
        return CANNOT_FIRE

    def check(self, tables: Tables) -> pl.DataFrame | pl.LazyFrame:
        outside = lines_with_codes(tables).lazy().filter(_RANGE_OUTSIDE)
        return (
            _members_in_force(outside, tables).filter(_MEMBER_HOLDS)
            .with_columns(*_RANGE_TEXTS)
            .select(*_KEYS, "own_range", "minutes", "member_code", "severity", "fix")
        )


_RANGE_OUTSIDE = (
    (pl.col("time_rule") == "range") & pl.col("minutes").is_not_null()
    & ((pl.col("minutes") < pl.col("min_minutes"))
       | (pl.col("max_minutes").is_not_null() & (pl.col("minutes") > pl.col("max_minutes"))))
)
_MEMBER_HOLDS = (
    (pl.col("minutes") >= pl.col("member_min"))
    & (pl.col("member_max").is_null() | (pl.col("minutes") <= pl.col("member_max")))
)
_RANGE_TEXTS = (
    pl.when(pl.col("max_minutes").is_null())
    .then(pl.format("{} or more", pl.col("min_minutes")))
    .otherwise(pl.format("{}–{}", pl.col("min_minutes"), pl.col("max_minutes"))).alias("own_range"),
    pl.when(pl.col("time_optional")).then(pl.lit(Severity.WARNING.value)).otherwise(None).alias("severity"),
    pl.when(pl.col("time_optional"))
    .then(pl.format("If the level is chosen by time, {} minutes support {}; a level chosen by medical decision "
                    "making is not affected.", pl.col("minutes"), pl.col("member_code")))
    .otherwise(None).alias("fix"),
)
