"""Modifiers: does each modifier exist, fit the code it is on, and say what the encounter documents?

Sources are coding-facts.md s7 "Modifiers" and its compatibility summary (25 on E/M only; 59/X{EPSU} and 22 never on
E/M; 52 never to shorten a timed code; GP/GO/GN on therapy codes; CQ only with GP, CO only with GO; KX over the
threshold; 33 not for Medicare).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import cache, lru_cache, partial
from importlib import resources
from typing import Any

import polars as pl

from cleanclaim.errors import DataError
from cleanclaim.model import THERAPY_MODIFIER_BY_DISCIPLINE, Severity
from cleanclaim.rules.registry import CANNOT_FIRE, Rule, Screen, register
from cleanclaim.rules.tables import SMALL_RUN, Tables, collect, lines_with_codes
from cleanclaim.timing import DE_MINIMIS_SHARE

__all__ = ["ASSISTANT_MODIFIERS", "DISTINCT_X_MODIFIERS", "THERAPY_MODIFIERS", "TIME_BASED_RULES",
           "assistant_split", "has", "has_any", "kx_position", "modifier_list", "present", "therapy_bucket"]

_KEYS = ["encounter_id", "line", "code"]
_MODIFIER_SHAPE = re.compile(r"[A-Z0-9]{2}")
_MODIFIER_FORMAT = rf"^{_MODIFIER_SHAPE.pattern}$"
THERAPY_MODIFIERS = ("GP", "GO", "GN")
ASSISTANT_MODIFIERS = ("CQ", "CO")
DISTINCT_X_MODIFIERS = ("XE", "XP", "XS", "XU")
# Every time rule but "untimed": units or the code's choice depend on documented minutes (see codes.csv header).
TIME_BASED_RULES = ("timed15", "per_unit", "typical", "base", "addon", "at_least", "range")
DISCIPLINE_THERAPY_MODIFIER = {d.value: m for d, m in THERAPY_MODIFIER_BY_DISCIPLINE.items()}
# "Well under" the KX threshold, for the early-KX warning: below this share of it. A cleanclaim choice (not a CMS
# figure) that leaves room for the estimate's locality differences.
KX_EARLY_SHARE = 0.8
PT_SLP, OT = "PT+SLP", "OT"


# ---- shared expressions ---------------------------------------------------------------------------------------------
# Every rule returns a plan that the engine collects with every other rule's. The expressions a plan uses that do not
# depend on the tables are built once, at import (the constants after each rule): on one claim, building them would
# cost about as much as running them.
def has(modifier: str) -> pl.Expr:
    """The line carries this modifier."""
    return pl.col("modifiers").list.contains(modifier)


def has_any(modifiers: Iterable[str]) -> pl.Expr:
    """The line carries at least one of these modifiers."""
    wanted = list(modifiers)
    return pl.col("modifiers").list.eval(pl.element().is_in(wanted)).list.any().fill_null(False)


def present(modifiers: Iterable[str]) -> pl.Expr:
    """Those of these modifiers the line carries, in the line's order."""
    wanted = list(modifiers)
    return pl.col("modifiers").list.eval(pl.element().filter(pl.element().is_in(wanted)))


def is_em() -> pl.Expr:
    return pl.col("em").fill_null(False)


def is_time_based() -> pl.Expr:
    return pl.col("time_rule").is_in(TIME_BASED_RULES).fill_null(False)


def therapy_status() -> pl.Expr:
    """always / sometimes / not from the code book; null for a code the book does not know."""
    return pl.col("therapy")


def discipline_modifier() -> pl.Expr:
    """GP/GO/GN for a PT/OT/SLP rendering provider, else null."""
    return _mapped(pl.col("provider_discipline"), DISCIPLINE_THERAPY_MODIFIER)


def _mapped(expr: pl.Expr, mapping: dict[str, str]) -> pl.Expr:
    """``expr.replace_strict(mapping, default=None)`` for a mapping of a few strings, as a when/then chain: on the small
    tables of one claim the chain costs a third of what building the lookup of ``replace_strict`` does."""
    result = pl.lit(None, dtype=pl.String)
    for key, value in reversed(mapping.items()):
        result = pl.when(expr == key).then(pl.lit(value)).otherwise(result)
    return result


def _time_text() -> pl.Expr:
    return (
        pl.when(pl.col("time_rule") == "timed15").then(pl.lit("a timed 15-minute therapy code"))
        .when(pl.col("time_rule").is_in(["per_unit", "addon"])).then(pl.lit("a code billed in units of time"))
        .when(pl.col("time_rule") == "range").then(pl.lit("a code chosen by its time range"))
        .when(pl.col("time_rule") == "at_least").then(pl.lit("a code that needs its full stated time"))
        .otherwise(pl.lit("a code defined by its typical time"))
    )


def _money(amount: float) -> str:
    return f"${amount:,.2f}"


def _whole_money(amount: float) -> str:
    """Thresholds are set in whole dollars ($2,480); show cents only if a profile sets them."""
    return f"${amount:,.0f}" if float(amount).is_integer() else f"${amount:,.2f}"


# ---- data -----------------------------------------------------------------------------------------------------------
@cache
def modifier_list() -> pl.DataFrame:
    """cleanclaim's modifier list (rules/data/modifiers.csv): modifier, level, meaning, source. A broken row is a
    packaging error, reported with its data row number rather than silently skipped."""
    name = "cleanclaim/rules/data/modifiers.csv"
    text = resources.files("cleanclaim.rules").joinpath("data/modifiers.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO("".join(
        line for line in text.splitlines(keepends=True) if not line.startswith("#")))))
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        modifier = row.get("modifier") or ""
        if len(modifier) != 2 or not modifier.isalnum() or modifier != modifier.upper():
            raise DataError(f"{name}: data row {number}: modifier {modifier!r} is not two upper-case letters or "
                            "digits")
        if row.get("level") not in {"cpt", "hcpcs"} or not row.get("meaning"):
            raise DataError(f"{name}: data row {number} ({modifier}): expected level cpt or hcpcs and a meaning")
        if modifier in seen:
            raise DataError(f"{name}: data row {number}: modifier {modifier} is listed twice")
        seen.add(modifier)
        for column in ("effective", "terminated"):
            try:
                row[column] = dt.date.fromisoformat(row[column]) if row.get(column) else None
            except ValueError as exc:
                raise DataError(f"{name}: data row {number} ({modifier}): {column} {row[column]!r} is not a date "
                                "(YYYY-MM-DD)") from exc
    return pl.DataFrame(rows, schema={"modifier": pl.String, "level": pl.String, "meaning": pl.String,
                                      "source": pl.String, "effective": pl.Date, "terminated": pl.Date})


@cache
def _unknown() -> pl.Expr:
    """The (exploded) ``modifier`` is malformed or not in the modifier list. Built once: a check neither re-reads the
    list nor turns it into a new literal."""
    return ~pl.col("well_formed") | ~pl.col("modifier").is_in(modifier_list().get_column("modifier").implode())


@lru_cache(maxsize=64)
def _known_modifiers(first: dt.date, last: dt.date) -> frozenset[str]:
    """The modifiers the rule cannot flag on any date from ``first`` to ``last``: listed, valid on every one of those
    dates and matching ``_MODIFIER_FORMAT`` (``fullmatch`` is the Python form of the anchored pattern). Nearly every
    HCPCS modifier is dated (the CMS file's date added), so the window, not "undated", is what lets a run skip the
    rule; a modifier whose dates fall inside the run's range is left to the rule."""
    valid = modifier_list().filter(
        (pl.col("effective").is_null() | (pl.col("effective") <= first))
        & (pl.col("terminated").is_null() | (pl.col("terminated") > last)))
    return frozenset(m for m in valid.get_column("modifier").to_list() if _MODIFIER_SHAPE.fullmatch(m))


@cache
def _modifier_dates() -> pl.DataFrame:
    """The dated modifiers and their validity window, joined to the exploded line modifiers."""
    return (modifier_list().filter(pl.col("effective").is_not_null() | pl.col("terminated").is_not_null())
            .select("modifier", pl.col("effective").alias("modifier_effective"),
                    pl.col("terminated").alias("modifier_terminated")))


# ---- screens --------------------------------------------------------------------------------------------------------

def _screen_columns(tables: Tables, *names: str) -> list[list[Any]] | None:
    """Columns of ``tables.screen_lines()`` (lines, code-book entry, payer settings) as Python lists, row-aligned;
    None for a batch too large to read that way."""
    frame = tables.screen_lines()
    if frame.height > SMALL_RUN:
        return None
    return [frame.get_column(name).to_list() for name in names]


def _carries_any(modifiers: list[str | None] | None, wanted: Collection[str]) -> bool:
    """`has_any` of one line in Python (a null list carries nothing)."""
    return modifiers is not None and any(m in wanted for m in modifiers)


# ---- simple code/modifier compatibility ------------------------------------------------------------------------------
@register
class UnknownModifier(Rule):
    """A modifier that is malformed or not in cleanclaim's modifier list.

    What it checks:
        Every modifier on every line: it must be exactly two letters or digits (the claim format allows no other
        shape), and it should be one of the CPT or HCPCS Level II modifiers in cleanclaim's list
        (`rules/data/modifiers.csv`). A malformed modifier is an error; a well-formed one missing from the list is a
        warning, because the list is a subset. A listed modifier used outside its dates (XE/XP/XS/XU before
        2015-01-01, GD from 2020-01-01; dates from CMS's HCPCS file) is an error.

    Why it matters:
        A clearinghouse rejects a line whose modifier is not a real modifier, and a typo (OG for GO, 5 for 25) drops the
        modifier the payment depends on: the line is denied or paid as if the modifier were absent.

    Example:
        lines: [{code: "97110", modifiers: [OG], units: 2}]

    Use instead:
        lines: [{code: "97110", modifiers: [GO], units: 2}]

    References:
        CPT Appendix A (modifiers); CMS HCPCS Level II modifier file; X12 837P SV101-3 to SV101-6 (two-character
        procedure modifiers).
    """

    id = "CC401"
    slug = "unknown-modifier"
    family = "modifiers"
    severity = Severity.ERROR
    message = "{code} carries modifier {modifier}, {problem}"
    fix = "{remedy}"
    references = ("CPT Appendix A (modifiers)", "CMS HCPCS Level II modifiers",
                  "X12 837P SV101-3..6 (two-character procedure modifiers)")

    def screen_for(self, tables: Tables) -> Screen | None:
        # Every non-null modifier of the run is well formed, listed and valid on every date of the run: no exploded
        # modifier passes _unknown() or is out of its dates.
        modifiers = tables.values("modifiers")
        if not modifiers:
            return CANNOT_FIRE
        dates = tables.values("date")
        if dates and modifiers <= _known_modifiers(min(dates), max(dates)):
            return CANNOT_FIRE
        return None

    def check(self, tables: Tables) -> pl.LazyFrame:
        return (
            tables.lines.lazy().select(*_KEYS, "date", _MODIFIER)
            .explode("modifier")
            .filter(_MODIFIER_GIVEN)
            .with_columns(_MODIFIER_WELL_FORMED)
            .join(_modifier_dates().lazy(), on="modifier", how="left")
            .with_columns(_OUT_OF_DATES)
            .filter(_unknown() | pl.col("out_of_dates"))
            .with_columns(*_UNKNOWN_MODIFIER_COLUMNS)
            .select(*_KEYS, "modifier", "problem", "remedy", "severity")
        )


_MODIFIER = pl.col("modifiers").alias("modifier")
_MODIFIER_GIVEN = pl.col("modifier").is_not_null()
_MODIFIER_WELL_FORMED = pl.col("modifier").str.contains(_MODIFIER_FORMAT).alias("well_formed")
_WELL_FORMED = pl.col("well_formed")
_BEFORE_EFFECTIVE = pl.col("modifier_effective").is_not_null() & (pl.col("date") < pl.col("modifier_effective"))
_AFTER_TERMINATED = pl.col("modifier_terminated").is_not_null() & (pl.col("date") >= pl.col("modifier_terminated"))
_OUT_OF_DATES = (_BEFORE_EFFECTIVE | _AFTER_TERMINATED).fill_null(False).alias("out_of_dates")
_UNKNOWN_MODIFIER_COLUMNS = (
    pl.when(_WELL_FORMED & _BEFORE_EFFECTIVE)
    .then(pl.format("which is not valid on {}: it took effect on {}", pl.col("date").cast(pl.String),
                    pl.col("modifier_effective").cast(pl.String)))
    .when(_WELL_FORMED & _AFTER_TERMINATED)
    .then(pl.format("which is not valid on {}: it was discontinued on {}", pl.col("date").cast(pl.String),
                    pl.col("modifier_terminated").cast(pl.String)))
    .when(_WELL_FORMED)
    .then(pl.lit("which is not in cleanclaim's list of CPT and HCPCS modifiers"))
    .otherwise(pl.format("which is not two characters long (it has {}): a modifier is exactly two "
                         "letters or digits", pl.col("modifier").str.len_chars()))
    .alias("problem"),
    pl.when(_WELL_FORMED & pl.col("out_of_dates"))
    .then(pl.format("Use the modifier in force on the date of service instead of {} (for 59-type distinctions "
                    "before 2015, 59), or correct the date of service.", pl.col("modifier")))
    .when(_WELL_FORMED)
    .then(pl.format("Check {} against the current CPT Appendix A and HCPCS modifier list; if your payer "
                    "accepts it, add it to your modifier list, otherwise correct or remove it.",
                    pl.col("modifier")))
    .otherwise(pl.format("Correct {} to the two-character modifier meant (e.g. 25, GP, XU) or remove "
                         "it; put each modifier in its own position.", pl.col("modifier")))
    .alias("remedy"),
    pl.when(_WELL_FORMED & ~pl.col("out_of_dates")).then(pl.lit(Severity.WARNING.value)).otherwise(None)
    .alias("severity"),
)


@register
class Modifier25NonEm(Rule):
    """Modifier 25 on a code that is not an E/M visit.

    What it checks:
        Lines carrying 25 whose code the code book does not mark as evaluation and management (E/M). 25 says that an
        E/M visit was significant and separately identifiable from a procedure or other service the same day, so it
        belongs on the E/M line only.

    Why it matters:
        A payer ignores or denies 25 on a procedure, health-behavior or therapy code, and the E/M line that needed it
        is then bundled into the other service and not paid.

    Example:
        lines:
          - {code: "99213", units: 1}
          - {code: "99406", modifiers: ["25"], units: 1}

    Use instead:
        lines:
          - {code: "99213", modifiers: ["25"], units: 1}
          - {code: "99406", units: 1}

    References:
        AMA CPT code set, Appendix A, modifier 25 (a significant, separately identifiable E/M service); for
        Medicare, CMS Pub. 100-04 ch. 12 s30.6.6 (modifier 25 on E/M services; section not verified here).
        Secondary: AHIMA Code Write Sept 2016; ACEP and HBMA behavior-change intervention notes.
    """

    id = "CC402"
    slug = "modifier-25-non-em"
    family = "modifiers"
    severity = Severity.ERROR
    message = "{code} carries modifier 25, but {code} is not an E/M code: 25 goes only on a separately identifiable E/M"
    fix = ("Remove 25 from {code}. If a significant, separate E/M visit was done the same day, bill the E/M code "
           "with 25 (e.g. 99213-25).")
    references = ("AMA CPT Appendix A: modifier 25 (E/M only)",
                  "CMS Pub. 100-04 ch. 12 s30.6.6 (modifier 25; not verified here)",
                  "secondary: AHIMA Code Write Sept 2016; ACEP and HBMA behavior-change intervention notes")

    def screen_for(self, tables: Tables) -> Screen | None:
        # the rule's own filter, on the same lines and code-book columns; no 25 anywhere: it cannot hold
        return _MODIFIER_25_SCREEN if "25" in tables.values("modifiers") else CANNOT_FIRE

    def check(self, tables: Tables) -> pl.LazyFrame:
        return lines_with_codes(tables).lazy().filter(_MODIFIER_25_NON_EM).select(_KEYS)


_MODIFIER_25_NON_EM = has("25") & (pl.col("em") == False)  # noqa: E712
_MODIFIER_25_SCREEN = Screen(lines=_MODIFIER_25_NON_EM)


@register
class DistinctModifierOnEm(Rule):
    """59 or XE/XP/XS/XU on an E/M code.

    What it checks:
        E/M lines (code book `em`) carrying 59 or one of its X{EPSU} subsets. These modifiers mark a distinct
        procedure; a separately identifiable E/M is shown with 25 instead.

    Why it matters:
        Payers deny E/M lines with 59/X modifiers, and using them to get an E/M past a bundling edit is a frequent audit
        finding.

    Example:
        lines:
          - {code: "99213", modifiers: ["59"], units: 1}
          - {code: "99406", units: 1}

    Use instead:
        lines:
          - {code: "99213", modifiers: ["25"], units: 1}
          - {code: "99406", units: 1}

    References:
        CPT modifier 59 (via Glaucoma Physician, Dec 2020); CMS CR 8863 (X{EPSU}, Transmittal 1422); IBX and HMSA
        modifier 59/X{EPSU} policies.
    """

    id = "CC403"
    slug = "distinct-modifier-on-em"
    family = "modifiers"
    severity = Severity.ERROR
    message = "{code} is an E/M code but carries {distinct}: 59 and XE/XP/XS/XU are never used on E/M"
    fix = "Remove {distinct} from {code}; to show a separately identifiable E/M visit on the same day use 25."
    references = ("CPT modifier 59 guidance", "CMS CR 8863 (Transmittal 1422): XE, XP, XS, XU",
                  "IBX and HMSA modifier 59/X{EPSU} policies")

    def screen_for(self, tables: Tables) -> Screen | None:
        # the rule's own filter; none of 59/XE/XP/XS/XU anywhere: it cannot hold
        return CANNOT_FIRE if tables.values("modifiers").isdisjoint(_DISTINCT) else _DISTINCT_SCREEN

    def check(self, tables: Tables) -> pl.LazyFrame:
        return (
            lines_with_codes(tables).lazy()
            .filter(_DISTINCT_ON_EM)
            .with_columns(_DISTINCT_ON_LINE)
            .select(*_KEYS, "distinct")
        )


_DISTINCT = ("59", *DISTINCT_X_MODIFIERS)
_DISTINCT_ON_EM = is_em() & has_any(_DISTINCT)
_DISTINCT_ON_LINE = present(_DISTINCT).alias("distinct")
_DISTINCT_SCREEN = Screen(lines=_DISTINCT_ON_EM)


@register
class Modifier59WithX(Rule):
    """59 and an X{EPSU} modifier on the same line.

    What it checks:
        Lines carrying both 59 and one of XE, XP, XS or XU. The X modifiers are the specific forms of 59; a line takes
        one or the other.

    Why it matters:
        Payers that follow CMS reject or deny a line with both, and some NCCI edits accept only the specific X modifier.

    Example:
        lines: [{code: "97140", modifiers: [GP, "59", XU], units: 1}]

    Use instead:
        lines: [{code: "97140", modifiers: [GP, XU], units: 1}]

    References:
        CMS CR 8863 (Transmittal 1422, effective 2015-01-01); HMSA and IBX policies: 59 not on the same line as an
        X{EPSU} modifier.
    """

    id = "CC404"
    slug = "modifier-59-with-x"
    family = "modifiers"
    severity = Severity.ERROR
    message = "{code} carries both 59 and {x_modifiers}: an X modifier replaces 59, it is never added to it"
    fix = "Keep {x_modifiers} (the specific modifier CMS prefers) and remove 59 from {code}."
    references = ("CMS CR 8863 (Transmittal 1422)", "HMSA: modifier codes XE, XP, XS, XU and 59",
                  "IBX modifier 59 policy")

    def screen_for(self, tables: Tables) -> Screen | None:
        # the rule's own filter (screen_lines has the same lines); a run without 59 or without any X{EPSU} cannot
        # have a line with both
        present_here = tables.values("modifiers")
        if "59" not in present_here or present_here.isdisjoint(DISTINCT_X_MODIFIERS):
            return CANNOT_FIRE
        return _MODIFIER_59_WITH_X_SCREEN

    def check(self, tables: Tables) -> pl.LazyFrame:
        return (
            tables.lines.lazy().filter(_MODIFIER_59_WITH_X)
            .with_columns(_X_ON_LINE)
            .select(*_KEYS, "x_modifiers")
        )


_MODIFIER_59_WITH_X = has("59") & has_any(DISTINCT_X_MODIFIERS)
_X_ON_LINE = present(DISTINCT_X_MODIFIERS).alias("x_modifiers")
_MODIFIER_59_WITH_X_SCREEN = Screen(lines=_MODIFIER_59_WITH_X)


@register
class Modifier22Misuse(Rule):
    """Modifier 22 on an E/M code or on a time-based code.

    What it checks:
        Lines carrying 22 (increased procedural services) whose code is E/M, or whose units or choice depend on time:
        15-minute therapy codes, per-unit, typical-time, add-on, "at least" and time-range codes.

    Why it matters:
        22 is for procedures whose work was substantially greater than usual, shown by an operative report; it is not
        appropriate for E/M, and extra time alone does not justify it. On a time-based code the extra time is reported
        with more units or an add-on code. A line with 22 is held for review and usually paid at the normal rate or
        denied.

    Example:
        services: [{code: "97110", minutes: 40}]
        lines: [{code: "97110", modifiers: [GP, "22"], units: 2}]

    Use instead:
        services: [{code: "97110", minutes: 40}]
        lines: [{code: "97110", modifiers: [GP], units: 3}]

    References:
        WPS Medicare: modifier 22 (2009); Regence modifier 22 policy.
    """

    id = "CC405"
    slug = "modifier-22-misuse"
    family = "modifiers"
    severity = Severity.ERROR
    message = "{code} carries 22 (increased procedural services), but {code} is {why}"
    fix = "{remedy}"
    references = ("WPS Medicare: modifier 22 increased procedural services", "Regence: modifier 22 policy")

    def screen_for(self, tables: Tables) -> Screen | None:
        # the rule's own filter; no 22 anywhere: it cannot hold
        return _MODIFIER_22_SCREEN if "22" in tables.values("modifiers") else CANNOT_FIRE

    def check(self, tables: Tables) -> pl.LazyFrame:
        return (
            lines_with_codes(tables).lazy()
            .filter(_MODIFIER_22_MISUSED)
            .with_columns(*_MODIFIER_22_COLUMNS)
            .select(*_KEYS, "why", "remedy")
        )


_MODIFIER_22_MISUSED = has("22") & (is_em() | is_time_based())
_MODIFIER_22_SCREEN = Screen(lines=_MODIFIER_22_MISUSED)
_MODIFIER_22_COLUMNS = (
    pl.when(is_em()).then(pl.lit("an E/M code: 22 is never used on E/M"))
    .when(pl.col("time_rule") == "range")
    .then(pl.format("{}: more time is reported with the family's higher-time code, not 22", _time_text()))
    .otherwise(pl.format("{}: extra time is reported with units or an add-on code, not 22", _time_text()))
    .alias("why"),
    pl.when(is_em())
    .then(pl.format("Remove 22 from {}; choose the E/M level (or a prolonged-service code) that the "
                    "documented decision making or time supports.", pl.col("code")))
    .otherwise(pl.format("Remove 22 from {} and bill the units or add-on code that the documented "
                         "minutes support.", pl.col("code")))
    .alias("remedy"),
)


@register
class Modifier52OnTimedCode(Rule):
    """Modifier 52 used to shorten a time-based code.

    What it checks:
        Lines carrying 52 (reduced services) whose code's units or choice depend on documented time (15-minute
        therapy codes, per-unit, typical-time, add-on, "at least" and time-range codes). Office E/M levels, which may
        rest on medical decision making, are not checked.

    Why it matters:
        Less time on a time-based code is reported with fewer units or the lower-time code, not with 52; payers such
        as Premera deny time-based lines billed with 52.

    Example:
        services: [{code: "96158", minutes: 20}]
        lines: [{code: "96158", modifiers: ["52"], units: 1}]

    Use instead:
        # 20 minutes is past the midpoint of 96158's 30: bill it without 52
        services: [{code: "96158", minutes: 20}]
        lines: [{code: "96158", units: 1}]

    References:
        Premera: billing for time (52 not for reduced time); CMS Pub. 100-04 Ch. 5 s20.2 (a timed code's units
        follow the documented minutes).
    """

    id = "CC406"
    slug = "modifier-52-on-timed-code"
    family = "modifiers"
    severity = Severity.WARNING
    message = ("{code} carries 52 (reduced services) with {units} unit(s) for {minutes_text}, but {code} is "
               "{time_text}: less time is billed with fewer units or the lower-time code, not 52")
    fix = ("Remove 52 from {code} and bill the units (or the code of the time range) that the documented minutes "
           "support; if the time does not reach the code's minimum, do not bill it.")
    references = ("Premera: billing for time",
                  "CMS Pub. 100-04 Ch. 5 s20.2 (a timed code's units follow the documented minutes)")

    def screen_for(self, tables: Tables) -> Screen | None:
        # the rule's own filter; no 52 anywhere: it cannot hold
        return _MODIFIER_52_SCREEN if "52" in tables.values("modifiers") else CANNOT_FIRE

    def check(self, tables: Tables) -> pl.LazyFrame:
        return (
            lines_with_codes(tables).lazy()
            .filter(_MODIFIER_52_ON_TIMED)
            .with_columns(*_MODIFIER_52_COLUMNS)
            .select(*_KEYS, "units", "minutes_text", "time_text")
        )


_MODIFIER_52_ON_TIMED = has("52") & is_time_based() & ~pl.col("time_optional").fill_null(False)
_MODIFIER_52_SCREEN = Screen(lines=_MODIFIER_52_ON_TIMED)
_MODIFIER_52_COLUMNS = (
    _time_text().alias("time_text"),
    pl.when(pl.col("minutes").is_null()).then(pl.lit("no documented minutes"))
    .otherwise(pl.format("{} documented minutes", pl.col("minutes"))).alias("minutes_text"),
)


# ---- therapy and assistant modifiers ---------------------------------------------------------------------------------
@register
class MissingTherapyModifier(Rule):
    """An always-therapy code without GP, GO or GN where the payer requires them.

    What it checks:
        Lines whose code is "always therapy" in the code book (97110-97546, 97161-97168, modalities ...) and carry
        none of GP, GO, GN, for payers whose profile says `therapy_modifiers: required` (Medicare). The fix names the
        modifier of the rendering discipline (PT -> GP, OT -> GO, SLP -> GN) or of the code, where known.

    Why it matters:
        Always-therapy codes must be furnished under a PT, OT or SLP plan of care whoever furnishes them; without the
        plan-of-care modifier Medicare returns the line as unprocessable.

    Example:
        provider: {discipline: PT}
        lines: [{code: "97110", units: 2}]

    Use instead:
        provider: {discipline: PT}
        lines: [{code: "97110", modifiers: [GP], units: 2}]

    References:
        CMS CR 10176 (Transmittal 3814, effective 2018-01-01); WPS therapy modifiers; Billing and Coding article
        A57067.
    """

    id = "CC407"
    slug = "missing-therapy-modifier"
    family = "modifiers"
    severity = Severity.ERROR
    message = ("{code} is an always-therapy code but has no GP/GO/GN modifier; {payer_name} requires one on every "
               "always-therapy line")
    fix = "Add {expected} to {code} ({expected_reason})."
    references = ("CMS CR 10176 (Transmittal 3814)", "WPS: therapy modifiers GN, GO, GP", "Billing and Coding A57067")

    def screen_for(self, tables: Tables) -> Screen | None:
        if not any(p.therapy_modifiers == "required" for p in tables.payers.values()):
            return CANNOT_FIRE  # the payer flag is false on every line (null, filled false, for an unknown payer)
        columns = _screen_columns(tables, "therapy", "therapy_modifiers_required", "modifiers")
        if columns is None:
            return _MISSING_THERAPY_SCREEN
        # _THERAPY_MODIFIER_MISSING line by line, on the same lines and columns
        flagged = any(therapy == "always" and required and not _carries_any(modifiers, THERAPY_MODIFIERS)
                      for therapy, required, modifiers in zip(*columns, strict=True))
        return None if flagged else CANNOT_FIRE

    def check(self, tables: Tables) -> pl.LazyFrame:
        return (
            tables.screen_lines().lazy().filter(_THERAPY_MODIFIER_MISSING)
            .with_columns(_BY_DISCIPLINE)
            .with_columns(*_MISSING_THERAPY_COLUMNS)
            .select(*_KEYS, "expected", "expected_reason", "payer_name")
        )


_THERAPY_MODIFIER_MISSING = (
    (therapy_status() == "always")
    & pl.col("therapy_modifiers_required").fill_null(False)
    & ~has_any(THERAPY_MODIFIERS)
)
# a batch: the two comparisons of _THERAPY_MODIFIER_MISSING that need no list operation (a null counts as true)
_MISSING_THERAPY_SCREEN = Screen(lines=(therapy_status() == "always") & pl.col("therapy_modifiers_required"))
_BY_DISCIPLINE = discipline_modifier().alias("by_discipline")
_TAKES = pl.col("therapy_modifiers")
_BY_DISCIPLINE_FITS = pl.col("by_discipline").is_not_null() & _TAKES.list.contains(pl.col("by_discipline"))
_MISSING_THERAPY_COLUMNS = (
    pl.when(_BY_DISCIPLINE_FITS)
    .then(pl.col("by_discipline"))
    .when(_TAKES.list.len() == 1).then(_TAKES.list.first())
    .otherwise(pl.format("the modifier of the plan of care ({})", _TAKES.list.join(", ")))
    .alias("expected"),
    pl.when(_BY_DISCIPLINE_FITS)
    .then(pl.format("the rendering provider's discipline is {}", pl.col("provider_discipline")))
    .when(_TAKES.list.len() == 1).then(pl.format("{} takes only {}", pl.col("code"), _TAKES.list.first()))
    .otherwise(pl.lit("GP for a PT plan, GO for OT, GN for SLP"))
    .alias("expected_reason"),
)


@register
class TherapyModifierMismatch(Rule):
    """GP/GO/GN that does not fit the code or the rendering discipline.

    What it checks:
        Lines with more than one of GP/GO/GN; a therapy modifier on a code that is never therapy; a therapy modifier
        the code does not take (97161-97164 take GP only, 97165-97168 GO only); and, as a warning, a PT's, OT's or
        SLP's line carrying another discipline's modifier (a PT's line with GO).

    Why it matters:
        The modifier says which plan of care the service is under, and it sorts the dollars into the PT+SLP or the OT
        KX threshold. A discipline-locked evaluation code with the wrong modifier is denied; a wrong discipline
        modifier counts the service against the wrong threshold.

    Example:
        provider: {discipline: OT}
        lines: [{code: "97165", modifiers: [GP], units: 1}]

    Use instead:
        provider: {discipline: OT}
        lines: [{code: "97165", modifiers: [GO], units: 1}]

    References:
        CMS CR 10176 (Transmittal 3814); WPS therapy modifiers (discipline-locked evaluation codes); coding-facts.md
        s7.
    """

    id = "CC408"
    slug = "therapy-modifier-mismatch"
    family = "modifiers"
    severity = Severity.ERROR
    message = "{code} carries {therapy_modifiers_on_line}: {problem}"
    fix = "{remedy}"
    references = ("CMS CR 10176 (Transmittal 3814)", "WPS: therapy modifiers GN, GO, GP")

    def screen_for(self, tables: Tables) -> Screen | None:
        if tables.values("modifiers").isdisjoint(THERAPY_MODIFIERS):
            return CANNOT_FIRE  # only lines carrying GP/GO/GN are judged
        names = ("modifiers", "therapy", "therapy_modifiers", "provider_discipline")
        columns = _screen_columns(tables, *names)
        if columns is None:
            # a large run: the filter reads only these four columns, so it is asked once per distinct combination of
            # them (a dozen on a partition of a quarter of a million lines, where the plan's list operations ran
            # on every line carrying GP/GO/GN)
            combinations = tables.screen_lines().select(names).unique()
            columns = [combinations.get_column(name).to_list() for name in names]
        return None if any(_therapy_mismatch(*row) for row in zip(*columns, strict=True)) else CANNOT_FIRE

    def check(self, tables: Tables) -> pl.LazyFrame:
        return (
            lines_with_codes(tables).lazy()
            .filter(_HAS_THERAPY_MODIFIER)
            .with_columns(*_THERAPY_PARTS)
            .filter(_SEVERAL | _NEVER | _WRONG_CODE | _WRONG_DISCIPLINE)
            .with_columns(*_THERAPY_MISMATCH_COLUMNS)
            .select(*_KEYS, "therapy_modifiers_on_line", "problem", "remedy", "severity")
        )


# The pieces every test and text of therapy-modifier-mismatch reads, computed once per line as columns (a filter
# does not share repeated sub-expressions, and on one claim each evaluation costs more than the data it reads).
_HAS_THERAPY_MODIFIER = has_any(THERAPY_MODIFIERS)
_THERAPY_PARTS = (
    present(THERAPY_MODIFIERS).alias("therapy_modifiers_on_line"),
    pl.col("therapy_modifiers").fill_null(pl.lit([], dtype=pl.List(pl.String))).alias("_allowed"),
    discipline_modifier().alias("_expected"),
)
_ON_LINE, _ALLOWED, _EXPECTED = pl.col("therapy_modifiers_on_line"), pl.col("_allowed"), pl.col("_expected")
_SEVERAL = _ON_LINE.list.len() > 1
_NEVER = therapy_status() == "not"
_WRONG_CODE = (_ALLOWED.list.len() > 0) & (_ON_LINE.list.set_difference(_ALLOWED).list.len() > 0)
# only where the code takes the discipline's modifier: a PT billing an OT-only evaluation is a billing-eligibility
# problem, not a modifier one
_WRONG_DISCIPLINE = _EXPECTED.is_not_null() & _ALLOWED.list.contains(_EXPECTED) & ~_ON_LINE.list.contains(_EXPECTED)
_THERAPY_MISMATCH_COLUMNS = (
    pl.when(_SEVERAL)
    .then(pl.lit("a line is under one plan of care and takes one therapy modifier"))
    .when(_NEVER)
    .then(pl.lit("it is never a therapy service, so GP/GO/GN do not belong on it"))
    .when(_WRONG_CODE)
    .then(pl.format("{} takes {} only", pl.col("code"), _ALLOWED.list.join(" or ")))
    .otherwise(pl.format("the rendering provider's discipline is {}, whose plan-of-care modifier is {}",
                         pl.col("provider_discipline"), _EXPECTED))
    .alias("problem"),
    pl.when(_NEVER)
    .then(pl.format("Remove {} from {}.", _ON_LINE.list.join(", "), pl.col("code")))
    .when(_WRONG_CODE & (_ALLOWED.list.len() == 1))
    .then(pl.format("Use {} on {}.", _ALLOWED.list.first(), pl.col("code")))
    .when(_SEVERAL & _EXPECTED.is_not_null())
    .then(pl.format("Keep only {} (the {} plan of care), or correct the rendering provider if another "
                    "discipline's plan covers this service.", _EXPECTED, pl.col("provider_discipline")))
    .when(_SEVERAL)
    .then(pl.lit("Keep the one modifier of the plan of care the service is under (GP PT, GO OT, GN SLP)."))
    .when(_EXPECTED.is_not_null())
    .then(pl.format("Use {} (the {} plan of care) instead of {}, or correct the rendering provider if "
                    "another discipline's plan covers this service.", _EXPECTED,
                    pl.col("provider_discipline"), _ON_LINE.list.join(", ")))
    .otherwise(pl.format("Use one of {} on {}.", _ALLOWED.list.join(", "), pl.col("code")))
    .alias("remedy"),
    pl.when(~_SEVERAL & ~_NEVER & ~_WRONG_CODE).then(pl.lit(Severity.WARNING.value)).otherwise(None)
    .alias("severity"),
)


def _therapy_mismatch(modifiers: list[str | None] | None, therapy: str | None, allowed: list[str] | None,
                      discipline: str | None) -> bool:
    """therapy-modifier-mismatch's filter for one line in Python (its screen on a claim): a line with GP/GO/GN
    and several of them, or a never-therapy code, or one the code does not take, or a missing discipline modifier
    the code takes. Where the expressions would give null (an unknown code), this errs towards True."""
    on_line = [m for m in modifiers or () if m in THERAPY_MODIFIERS]
    if not on_line:
        return False
    takes = allowed or []
    expected = DISCIPLINE_THERAPY_MODIFIER.get(discipline) if discipline is not None else None
    return (len(on_line) > 1 or therapy not in ("always", "sometimes")
            or (bool(takes) and any(m not in takes for m in on_line))
            or (expected is not None and expected in takes and expected not in on_line))


def assistant_split(tables: Tables) -> pl.DataFrame:
    """Per encounter and therapy code: the billed units, the documented minutes and the assistant's own minutes (from
    ``services``), how many units need CQ/CO (``needed``: the arithmetic of
    ``cleanclaim.timing.split_assistant_units``, see `units_with_assistant`) and how many carry it.

    ``needed`` is null where the arithmetic cannot be done (no documented minutes, fractional units, assistant minutes
    over the total). Shared by assistant-modifier-mismatch and missing-assistant-modifier, so it is built once per
    check, as one plan collected once.
    """
    return tables.memo("assistant_split", _assistant_split)


def _assistant_split(tables: Tables) -> pl.DataFrame:
    lines = lines_with_codes(tables)
    if not tables.services.height:
        # No documented services (every claim-line table): the split is empty, and its empty table is built once
        # per input schema instead of running the plan.
        return _empty_split(tuple(lines.schema.items()), tuple(tables.services.schema.items()))
    return collect(_assistant_split_plan(lines.lazy(), tables.services.lazy()))


@cache
def _empty_split(lines: tuple[tuple[str, Any], ...], services: tuple[tuple[str, Any], ...]) -> pl.DataFrame:
    return collect(_assistant_split_plan(pl.LazyFrame(schema=dict(lines)), pl.LazyFrame(schema=dict(services))))


def _assistant_split_plan(lines: pl.LazyFrame, services: pl.LazyFrame) -> pl.LazyFrame:
    billed = lines.filter(_THERAPY_CODE).group_by("encounter_id", "code").agg(*_BILLED)
    documented = services.group_by("encounter_id", "code").agg(*_DOCUMENTED)
    joined = (
        billed.join(documented, on=["encounter_id", "code"], how="inner")
        .with_columns(*_SPLIT_SETTINGS)
        .with_columns(*_SPLIT_INPUTS)
    )
    # ``needed``: null where the arithmetic cannot be done, else the units that need CQ/CO
    return _staged(joined, _assistant_unit_stages("computable", "needed")).drop("computable")


def units_with_assistant(frame: pl.LazyFrame) -> pl.LazyFrame:
    """``frame`` with ``units_with_assistant``: what ``split_assistant_units(billed_units, service_minutes,
    assistant_minutes, unit_minutes=split_unit_minutes).units_with_assistant`` answers, over whole columns of whole
    numbers (``split_unit_minutes`` null: an untimed service, judged as one).

    The same CMS arithmetic as `cleanclaim.timing.split_assistant_units` (which also writes the explanation): full
    units the therapist furnished alone need no modifier, full units the assistant furnished alone need it, the mixed
    units need it when the assistant's own minutes are more than 10% of their minutes, and two mixed units of 9-14
    minutes each split one with and one without (CY2022 PFS final rule). Done as expressions so that a batch with many
    assistant services needs no Python call per row; tests/rules/test_assistant_units.py holds the two to the same
    answers.
    """
    return _staged(frame, _assistant_unit_stages(None, "units_with_assistant"))


def _staged(frame: pl.LazyFrame, stages: tuple[tuple[pl.Expr, ...], ...]) -> pl.LazyFrame:
    for stage in stages:
        frame = frame.with_columns(*stage)
    return frame.drop(_SPLIT_TEMPORARIES)


_SPLIT_TEMPORARIES = ("_therapist_full", "_assistant_full", "_mixed", "_left_therapist", "_left_assistant")


@cache
def _assistant_unit_stages(where: str | None, name: str) -> tuple[tuple[pl.Expr, ...], ...]:
    """The arithmetic of `units_with_assistant` in steps, each reading the columns the one before computed (an
    expression repeated inside one big expression would be evaluated again each time); null where the boolean
    column ``where`` is false."""
    units, minutes = pl.col("billed_units"), pl.col("service_minutes")
    assistant, unit_minutes = pl.col("assistant_minutes"), pl.col("split_unit_minutes")
    therapist_full, assistant_full = pl.col("_therapist_full"), pl.col("_assistant_full")
    mixed, left_therapist, left_assistant = pl.col("_mixed"), pl.col("_left_therapist"), pl.col("_left_assistant")
    pool = left_therapist + left_assistant
    # the mixed units: none (mixed == 0 adds 0), one of two 9-14 minute units, or all when over 10%
    timed = assistant_full + (
        pl.when((mixed == 2) & left_therapist.is_between(9, 14) & left_assistant.is_between(9, 14)).then(1)
        .when(pl.when(pool != 0).then(left_assistant / pool).otherwise(pl.lit(0.0)) > DE_MINIMIS_SHARE).then(mixed)
        .otherwise(0)
    )
    untimed = (pl.when(pl.when(minutes != 0).then(assistant / minutes).otherwise(pl.lit(1.0)) > DE_MINIMIS_SHARE)
               .then(units).otherwise(0))
    answer = (pl.when((units == 0) | (assistant == 0)).then(pl.lit(0, dtype=pl.Int64))
              .when(unit_minutes.is_null() | (minutes == 0)).then(untimed)
              .otherwise(timed))
    if where is not None:
        answer = pl.when(pl.col(where)).then(answer)
    return (
        (pl.min_horizontal(units, (minutes - assistant) // unit_minutes).alias("_therapist_full"),),
        (pl.min_horizontal(units - therapist_full, assistant // unit_minutes).alias("_assistant_full"),),
        ((units - therapist_full - assistant_full).alias("_mixed"),
         (minutes - assistant - therapist_full * unit_minutes).alias("_left_therapist"),
         (assistant - assistant_full * unit_minutes).alias("_left_assistant")),
        (answer.cast(pl.Int64).alias(name),),
    )


_THERAPY_CODE = therapy_status().is_in(["always", "sometimes"])
_BILLED = (
    pl.col("units").sum().alias("billed_units"),
    pl.col("units").filter(has_any(ASSISTANT_MODIFIERS)).sum().alias("units_with_modifier"),
    has("GO").any().alias("any_go"),
    has("GP").any().alias("any_gp"),
    has("GN").any().alias("any_gn"),
    pl.col("provider_discipline").first(),
    pl.col("time_rule").first(),
    pl.col("unit_minutes").first(),
)
_DOCUMENTED = (
    pl.col("minutes").sum().alias("service_minutes"),
    pl.col("minutes").is_null().any().alias("minutes_missing"),
    pl.col("assistant_minutes").fill_null(0).sum().alias("assistant_minutes"),
)
_SPLIT_SETTINGS = (
    pl.when(pl.col("any_go") | (~pl.col("any_gp") & (pl.col("provider_discipline") == "OT")))
    .then(pl.lit("CO"))
    .when(pl.col("any_gp") | (pl.col("provider_discipline") == "PT")).then(pl.lit("CQ"))
    .when(pl.col("any_gn") | (pl.col("provider_discipline") == "SLP")).then(pl.lit(None, dtype=pl.String))
    .otherwise(pl.lit("CQ or CO"))
    .alias("assistant_modifier"),
    pl.when(pl.col("time_rule") == "timed15").then(pl.lit(15, dtype=pl.Int64))
    .when(pl.col("time_rule").is_in(["per_unit", "addon"])).then(pl.col("unit_minutes"))
    .otherwise(None).alias("split_unit_minutes"),
)
_WHOLE_UNITS = pl.col("billed_units") == pl.col("billed_units").floor()
_SPLIT_INPUTS = (
    pl.when(_WHOLE_UNITS).then(pl.col("billed_units").cast(pl.Int64)).otherwise(None).alias("billed_units"),
    pl.col("units_with_modifier").round(0).cast(pl.Int64),
    (_WHOLE_UNITS & ~pl.col("minutes_missing") & (pl.col("assistant_minutes") <= pl.col("service_minutes")))
    .alias("computable"),
)


@register
class AssistantModifierMismatch(Rule):
    """CQ or CO that does not fit the line or the documented services.

    What it checks:
        CQ without GP, CO without GO, CQ/CO on a speech-language pathology (GN) line (there is no SLP-assistant
        modifier), and, as a warning, CQ/CO on a code whose documented services give no unit to the assistant: the
        therapist furnished everything (`furnished_by: therapist` or `together`, `assistant_minutes: 0`) or the
        assistant's own minutes are 10% of a unit or less. A payer that does not use CQ/CO (profile
        `assistant_modifiers: false`) raises nothing merely because CQ/CO is present.

    Why it matters:
        CQ/CO lines are paid at 85% by Medicare; a CQ/CO the record does not support cuts payment for nothing and
        misstates who furnished the service, and a CQ/CO without its GP/GO partner is rejected.

    Example:
        services: [{code: "97110", minutes: 30, furnished_by: therapist}]
        lines: [{code: "97110", modifiers: [GP, CQ], units: 2}]

    Use instead:
        services: [{code: "97110", minutes: 30, furnished_by: therapist}]
        lines: [{code: "97110", modifiers: [GP], units: 2}]

    References:
        CMS: billing examples using CQ/CO modifiers (services furnished in whole or in part by PTAs and OTAs); CY2020
        PFS final rule (84 FR 62702-07); CMS Pub 100-04 Ch.5 s20.1.
    """

    id = "CC409"
    slug = "assistant-modifier-mismatch"
    family = "modifiers"
    severity = Severity.ERROR
    message = "{code} carries {assistant_on_line}: {problem}"
    fix = "{remedy}"
    references = ("CMS: billing examples using CQ/CO modifiers", "CY2020 PFS final rule, 84 FR 62702-07",
                  "CMS Pub 100-04 Ch.5 s20.1")

    def screen_for(self, tables: Tables) -> Screen | None:
        # only lines carrying CQ/CO are judged; with one, whether a unit needs it takes the split: the rule runs
        return CANNOT_FIRE if tables.values("modifiers").isdisjoint(ASSISTANT_MODIFIERS) else None

    def check(self, tables: Tables) -> pl.LazyFrame:
        split = assistant_split(tables).lazy().select(
            "encounter_id", "code", "service_minutes", "assistant_minutes", "needed")
        return (
            tables.lines.lazy().filter(_HAS_ASSISTANT_MODIFIER)
            .join(split, on=["encounter_id", "code"], how="left")
            .with_columns(*_ASSISTANT_PARTS)
            .filter(_ASSISTANT_MISMATCHED)
            .with_columns(*_ASSISTANT_MISMATCH_COLUMNS)
            .select(*_KEYS, "assistant_on_line", "problem", "remedy", "severity")
        )


_HAS_ASSISTANT_MODIFIER = has_any(ASSISTANT_MODIFIERS)
# computed once per line as columns: the filter and the texts read them (each evaluation of an expression has a fixed
# cost that, on one claim, outweighs the data it reads)
_ASSISTANT_PARTS = (
    present(ASSISTANT_MODIFIERS).alias("assistant_on_line"),
    has("GN").alias("_gn_line"),
    (has("CQ") & ~has("GP")).alias("_cq_alone"),
    (has("CO") & ~has("GO")).alias("_co_alone"),
)
_GN_LINE, _CQ_ALONE, _CO_ALONE = pl.col("_gn_line"), pl.col("_cq_alone"), pl.col("_co_alone")
_ASSISTANT_MISMATCHED = (
    _GN_LINE | _CQ_ALONE | _CO_ALONE | (pl.col("needed").is_not_null() & (pl.col("needed") == 0))
)
_ASSISTANT_MISMATCH_COLUMNS = (
    pl.when(_GN_LINE)
    .then(pl.lit("it is a speech-language pathology (GN) line, and there is no SLP-assistant modifier"))
    .when(_CQ_ALONE).then(pl.lit("CQ marks a PT assistant's part in a PT-plan service and goes with GP"))
    .when(_CO_ALONE).then(pl.lit("CO marks an OT assistant's part in an OT-plan service and goes with GO"))
    .when(pl.col("assistant_minutes") == 0)
    .then(pl.format("the documented services say the therapist furnished all {} minutes of {} (alone or "
                    "together with the assistant), so no unit needs it",
                    pl.col("service_minutes"), pl.col("code")))
    .otherwise(pl.format("the assistant furnished {} of {} minutes of {} on their own, 10% of a unit or "
                         "less, so no unit needs it", pl.col("assistant_minutes"),
                         pl.col("service_minutes"), pl.col("code")))
    .alias("problem"),
    pl.when(_GN_LINE).then(pl.lit("Remove CQ/CO from the GN line."))
    .when(_CQ_ALONE)
    .then(pl.lit("Add GP with CQ, or use CO with GO if an OT assistant furnished an OT-plan service."))
    .when(_CO_ALONE)
    .then(pl.lit("Add GO with CO, or use CQ with GP if a PT assistant furnished a PT-plan service."))
    .otherwise(pl.format("Remove {} from {}, or correct the documented assistant minutes if the assistant "
                         "furnished part of the service alone.", pl.col("assistant_on_line").list.join(", "),
                         pl.col("code")))
    .alias("remedy"),
    pl.when(~_GN_LINE & ~_CQ_ALONE & ~_CO_ALONE).then(pl.lit(Severity.WARNING.value)).otherwise(None)
    .alias("severity"),
)


@register
class MissingAssistantModifier(Rule):
    """An assistant furnished more than 10% of a unit, but no line of the code carries CQ or CO.

    What it checks:
        For payers whose profile has `assistant_modifiers: true` (Medicare): per encounter and therapy code, the
        documented minutes and the assistant's own minutes (`assistant_minutes`, or every minute of a service
        `furnished_by: assistant`) are split into units with `cleanclaim.timing.split_assistant_units` (per unit for
        timed codes, per service for untimed ones). When more units need CQ (with GP) or CO (with GO) than the lines
        of that code carry, the lines without the modifier are flagged.

    Why it matters:
        Since 2020 Medicare requires CQ/CO on services furnished in whole or in part by a PTA/OTA and since 2022 pays
        them at 85%; billing them without the modifier is an overpayment that a review recovers.

    Example:
        services: [{code: "97535", minutes: 23, assistant_minutes: 10}]
        lines: [{code: "97535", modifiers: [GP], units: 2}]

    Use instead:
        services: [{code: "97535", minutes: 23, assistant_minutes: 10}]
        lines: [{code: "97535", modifiers: [GP, CQ], units: 2}]

    References:
        CMS: billing examples using CQ/CO modifiers (de minimis 10% per unit); CY2020 PFS final rule (84 FR
        62702-07); BBA 2018 s53107; CMS Pub 100-04 Ch.5 s20.1.
    """

    id = "CC410"
    slug = "missing-assistant-modifier"
    family = "modifiers"
    severity = Severity.ERROR
    message = ("assistant furnished {assistant_minutes} of {service_minutes} minutes of {code} on their own: "
               "{needed} of {billed_units} units {need_word} {assistant_modifier}; {with_modifier}")
    fix = "{remedy}"
    references = ("CMS: billing examples using CQ/CO modifiers", "CY2020 PFS final rule, 84 FR 62702-07",
                  "BBA 2018 s53107", "CMS Pub 100-04 Ch.5 s20.1")

    def screen_for(self, tables: Tables) -> Screen | None:
        if not any(p.assistant_modifiers for p in tables.payers.values()):
            return CANNOT_FIRE  # flagged lines are those of payers that use CQ/CO (the semi join)
        # A flagged line's (encounter, code) needs a unit with CQ/CO: assistant minutes summing to non-zero there,
        # so a service of that code with non-zero assistant minutes (and, as before, one with positive minutes).
        assisted = _assisted_codes(tables)
        if assisted is None or assisted.isdisjoint(tables.values("code")):
            return CANNOT_FIRE
        columns = _screen_columns(tables, "code", "assistant_modifiers", "modifiers", "therapy")
        if columns is None:
            return None
        # the flagged line: its payer uses CQ/CO and it carries neither; a line of its code is a therapy code (the
        # split counts only those)
        rows = [row for row in zip(*columns, strict=True) if row[0] in assisted]
        unmodified = any(uses and not _carries_any(modifiers, ASSISTANT_MODIFIERS) for _, uses, modifiers, _ in rows)
        therapy = any(status in ("always", "sometimes") for *_, status in rows)
        return None if unmodified and therapy else CANNOT_FIRE

    def check(self, tables: Tables) -> pl.LazyFrame:
        assistant_payers = tables.payer_frame().lazy().filter(_USES_ASSISTANT_MODIFIERS).select("payer")
        short = (
            assistant_split(tables).lazy()
            .filter(_SHORT_OF_MODIFIER)
            .select("encounter_id", "code", "service_minutes", "assistant_minutes", "needed", "billed_units",
                    "units_with_modifier", "assistant_modifier")
        )
        return (
            tables.lines.lazy().filter(~_HAS_ASSISTANT_MODIFIER)
            .join(assistant_payers, on="payer", how="semi")
            .join(short, on=["encounter_id", "code"], how="inner")
            .with_columns(*_MISSING_ASSISTANT_COLUMNS)
            .select(*_KEYS, "assistant_minutes", "service_minutes", "needed", "billed_units", "need_word",
                    "assistant_modifier", "with_modifier", "remedy")
        )


_USES_ASSISTANT_MODIFIERS = pl.col("assistant_modifiers")
_SHORT_OF_MODIFIER = (
    pl.col("needed").is_not_null() & pl.col("assistant_modifier").is_not_null()
    & (pl.col("needed") > pl.col("units_with_modifier"))
)
_MISSING_ASSISTANT_COLUMNS = (
    pl.when(pl.col("needed") == 1).then(pl.lit("needs")).otherwise(pl.lit("need")).alias("need_word"),
    pl.when(pl.col("units_with_modifier") == 0).then(pl.lit("none carries it"))
    .otherwise(pl.format("only {} carry it", pl.col("units_with_modifier"))).alias("with_modifier"),
    pl.when((pl.col("needed") >= pl.col("billed_units")) & (pl.col("billed_units") == 1))
    .then(pl.format("Add {} to {}.", pl.col("assistant_modifier"), pl.col("code")))
    .when(pl.col("needed") >= pl.col("billed_units"))
    .then(pl.format("Add {} to {} (all {} units).", pl.col("assistant_modifier"), pl.col("code"),
                    pl.col("billed_units")))
    .otherwise(pl.format("Bill {} on two lines: {} unit(s) with {} and {} without.", pl.col("code"),
                         pl.col("needed"), pl.col("assistant_modifier"),
                         pl.col("billed_units") - pl.col("needed")))
    .alias("remedy"),
)


def _assisted_codes(tables: Tables) -> frozenset[str] | None:
    """The codes of services with non-zero assistant minutes; None when no service has positive ones (the rule's
    former early exit, kept as it was)."""
    services = tables.services
    if services.height <= SMALL_RUN:
        minutes = services.get_column("assistant_minutes").to_list()
        if not any(m is not None and m > 0 for m in minutes):
            return None
        return frozenset(code for code, m in zip(services.get_column("code").to_list(), minutes, strict=True) if m)
    if not (services.get_column("assistant_minutes") > 0).any():
        return None
    return frozenset(services.filter(pl.col("assistant_minutes") != 0).get_column("code").drop_nulls().to_list())


# ---- KX -------------------------------------------------------------------------------------------------------------
def therapy_bucket() -> pl.Expr:
    """Which KX amount a line counts toward: OT (GO) apart, PT and SLP (GP, GN) together; null if not therapy."""
    return (
        pl.when(has("GO")).then(pl.lit(OT))
        .when(has_any(["GP", "GN"])).then(pl.lit(PT_SLP))
        .otherwise(None)
    )


_ESTIMATE_SCHEMA: dict[str, Any] = {"row_id": pl.Int64, "estimate": pl.Float64}


def _paid_nothing() -> frozenset[str]:
    from cleanclaim.pricing import LineStatus

    return frozenset({LineStatus.BUNDLED, LineStatus.NOT_COVERED, LineStatus.NOT_VALID, LineStatus.EXCLUDED})


# Lines Medicare pays nothing for under the PFS (bundled, non-covered, not valid, excluded) add $0 to the year's
# therapy amount; unpriced and contractor-priced (status C) lines have an amount nobody knows here: null, unknown.
_PAID_NOTHING = _paid_nothing()


def _line_estimates(rows: pl.DataFrame) -> pl.DataFrame:
    """Medicare allowed estimate (``cleanclaim.pricing.price``, national amounts) of each row, keyed by ``row_id``;
    null where the row cannot be priced.

    ``rows`` has ``row_id``, ``patient_id``, ``date``, ``code``, ``modifiers``, ``units`` and ``place_of_service``
    (null: office, non-facility), and ``mppr_provider`` where the provider is known (`_with_mppr_provider`). The
    lines of one provider, patient and date are priced together, the key the pricer ranks a day's units by: the
    therapy MPPR reduces the PE of every always-therapy unit one provider furnishes a patient in a day but the
    highest, and it is the allowed amount after the MPPR that counts toward the threshold, so one provider's lines of
    a day are priced together, as on the original claim, and another provider's apart. History rows carry no
    provider: a patient's day of history is one provider. The pricer is the one place the PFS arithmetic lives;
    `national_allowed` calls it once per distinct group, not once per group.
    """
    from cleanclaim.pricing import national_allowed

    keys = [*(["mppr_provider"] if "mppr_provider" in rows.columns else []), "patient_id", "date"]
    priced = national_allowed(rows, by=keys)
    paid_nothing = [str(status) for status in _PAID_NOTHING]
    return pl.DataFrame({"row_id": rows.get_column("row_id")}).with_columns(
        pl.when(priced.get_column("allowed").is_not_null()).then(priced.get_column("allowed").cast(pl.Float64))
        .when(priced.get_column("status").is_in(paid_nothing)).then(pl.lit(0.0))
        .alias("estimate")).cast(_ESTIMATE_SCHEMA)  # type: ignore[arg-type]


def _with_mppr_provider(tables: Tables, batch: pl.DataFrame) -> pl.DataFrame:
    """``batch`` with ``mppr_provider``: the provider the pricer's MPPR groups a claim's lines by
    (`cleanclaim.pricing`, ``_billed_by``): the claim's billing NPI, else its rendering NPI, else one unnamed
    provider."""
    providers = tables.encounters.select(
        "encounter_id",
        pl.coalesce(pl.lit("billing:") + pl.col("billing_npi"), pl.lit("rendering:") + pl.col("provider_npi"),
                    pl.lit("")).alias("mppr_provider"),
    ).unique("encounter_id", keep="first")
    return batch.join(providers, on="encounter_id", how="left")


def _price_days(rows: pl.DataFrame, wanted: pl.DataFrame, done: pl.DataFrame | None = None) -> pl.DataFrame:
    """Estimates for every row of the (patient, date) groups in ``wanted`` that ``done`` has not priced yet."""
    days = wanted.select("patient_id", "date").unique()
    if done is not None:
        days = days.join(rows.join(done, on="row_id", how="semi").select("patient_id", "date").unique(),
                         on=["patient_id", "date"], how="anti")
    return _line_estimates(rows.join(days, on=["patient_id", "date"], how="semi"))


def _kx_threshold_items(tables: Tables) -> tuple[tuple[str, int, float], ...]:
    return tuple((payer_id, year, float(amount))
                 for payer_id, p in tables.payers.items() for year, amount in p.kx.thresholds.items())


@cache
def _threshold_frame(items: tuple[tuple[str, int, float], ...]) -> pl.DataFrame:
    """The payers' KX thresholds as a table, built once per set of thresholds rather than on every check."""
    return pl.DataFrame(list(items), schema={"payer": pl.String, "year": pl.Int32, "threshold": pl.Float64},
                        orient="row")


# Up to this many (payer, year) thresholds are looked up by a chain of comparisons rather than joined: the join
# cost ~6 ms on the ~99,000 therapy lines of a 250,000-line partition of the 1M-line synthetic file, the chain of
# its 3 thresholds ~3 ms; a long chain would cost more than the join.
_THRESHOLD_CHAIN_MAX = 8


@cache
def _threshold_chain(items: tuple[tuple[str, int, float], ...]) -> pl.Expr:
    """``threshold``: the KX threshold of the line's payer and year, null when there is none (the rows the inner join
    to `_threshold_frame` drops); ``items`` has one amount per payer and year (`_kx_threshold_items`)."""
    threshold = pl.lit(None, dtype=pl.Float64)
    for payer, year, amount in reversed(items):
        threshold = (pl.when((pl.col("payer") == payer) & (pl.col("year") == year))
                     .then(pl.lit(amount, dtype=pl.Float64)).otherwise(threshold))
    return threshold.alias("threshold")


def _claim_bucket() -> pl.Expr:
    """A claim line's KX bucket: its therapy modifier, else (always-therapy codes) the rendering discipline."""
    return pl.coalesce(
        therapy_bucket(),
        pl.when(therapy_status() == "always").then(
            _mapped(pl.col("provider_discipline"), {"OT": OT, "PT": PT_SLP, "SLP": PT_SLP})),
    )


_THERAPY_BUCKET = therapy_bucket()
_CLAIM_BUCKET = _claim_bucket()
_YEAR = pl.col("date").dt.year().cast(pl.Int32).alias("year")


def _valued_history(tables: Tables, patients: pl.DataFrame) -> pl.DataFrame:
    """The ``history:`` rows of these patients with their bucket, year and ``estimate`` (national PFS amount) where
    ``allowed`` is missing; a (patient, date) is priced whole, and only when one of its therapy rows lacks
    ``allowed``."""
    history = (
        tables.history.join(patients, on="patient_id", how="semi")
        .with_row_index("row_id").with_columns(
            pl.col("row_id").cast(pl.Int64), therapy_bucket().alias("bucket"),
            pl.col("date").dt.year().cast(pl.Int32).alias("year"),
            pl.lit(None, dtype=pl.String).alias("place_of_service"),
        )
    )
    missing = history.filter(pl.col("allowed").is_null() & pl.col("bucket").is_not_null())
    estimates = _price_days(history, missing) if missing.height else pl.DataFrame(schema=_ESTIMATE_SCHEMA)
    return history.join(estimates, on="row_id", how="left").with_columns(
        pl.when(pl.col("allowed").is_null()).then(pl.col("estimate")).alias("estimate"))


@dataclass(frozen=True)
class _Bounds:
    """Upper-bound rates (`_upper_bound_rates`) in the three shapes the KX rule reads them."""

    rates: pl.DataFrame
    """Per code and year: ``code``, ``unit_bound``, ``year``."""
    by_code: pl.DataFrame
    """Per code, the largest over the years: ``code``, ``unit_bound``."""
    of_code: dict[str, float]
    """``by_code`` as a dict, for the Python arithmetic of `_far_under_every_threshold`."""
    largest: float
    """The largest of all (0 when no year has rates)."""
    rated: frozenset[tuple[str, int]] = frozenset()
    """The (code, year) pairs that have a rate: a line of any other pair cannot be priced, so cannot be bounded."""


def _upper_bound_rates(years: Iterable[int]) -> _Bounds:
    """Per code and year, the most a unit can be allowed nationally: full (unreduced) PE, the larger of facility
    and non-facility PE, and the year's larger conversion factor. It bounds the pricer's result from above, so a
    patient whose bounded total stays under the threshold needs no line-by-line pricing.

    Computed once per set of years and state of the imported RVU files (an import changes the key), not per check.
    """
    from cleanclaim.refdata.cms_files import RefTable
    from cleanclaim.refdata.imported import import_signature

    return _upper_bounds_for(tuple(sorted(set(years))), import_signature(RefTable.RVU))


@lru_cache(maxsize=16)
def _upper_bounds_for(years: tuple[int, ...], rvu_imports: tuple[tuple[str, int, int], ...]) -> _Bounds:
    # ``rvu_imports`` is only the cache key: rvus() and conversion_factor() read the imported files themselves
    rates = _rates_of_years(years)
    largest = rates.get_column("unit_bound").max()
    by_code = rates.group_by("code").agg(pl.col("unit_bound").max())
    rated = frozenset((code, year) for code, bound, year in rates.iter_rows() if bound is not None)
    return _Bounds(rates, by_code, dict(by_code.iter_rows()),
                   float(largest) if isinstance(largest, int | float) else 0.0, rated)


def _rates_of_years(years: tuple[int, ...]) -> pl.DataFrame:
    from cleanclaim.refdata import conversion_factor, rvus

    frames = []
    for year in years:
        factors = [f for f in (conversion_factor(dt.date(year, 7, 1), qp) for qp in (False, True)) if f is not None]
        if not factors:
            continue
        # status C has no national amount (the contractor prices it): no rate, so no bound
        frames.append(rvus(year).filter(pl.col("status").fill_null("") != "C").group_by("code").agg(
            (pl.col("work_rvu").fill_null(0) + pl.max_horizontal(pl.col("nf_pe_rvu").fill_null(0),
                                                               pl.col("f_pe_rvu").fill_null(0))
             + pl.col("mp_rvu").fill_null(0)).max().alias("unit_bound"),
        ).with_columns((pl.col("unit_bound") * float(max(factors))).alias("unit_bound"),
                       pl.lit(year, dtype=pl.Int32).alias("year")))
    schema = {"code": pl.String, "unit_bound": pl.Float64, "year": pl.Int32}
    return pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame(schema=schema)


_KX_GROUP = ["patient_id", "payer", "bucket", "year"]
_KX_LINE_COLUMNS = ["encounter_id", "line", "date", "payer", "place_of_service", "patient_id", "code", "modifiers",
                    "units"]


def _settled_groups(batch: pl.LazyFrame, history: pl.LazyFrame, rates: pl.LazyFrame) -> pl.LazyFrame:
    """(patient, payer, bucket, year) groups of ``batch`` in which nothing can be flagged, so none of their lines need
    pricing. One group-by of the claim lines (and the patients' history) answers both tests:

    Surely under the threshold: the group's whole year of therapy, valued at the upper-bound rates (or at the
    history's own ``allowed``), cannot reach it, and no line of the group carries KX (the early-KX warning needs
    exact amounts). A code without a rate cannot be bounded: its null bound makes the group "unbounded", never surely
    under (issue 14 item 4: an unpriced line used to count as $0 here and settle the group silently).

    Untracked and under: the patient's year is not tracked here (no history rows, and one claim in the batch: nothing
    comes "before" its claim) and the claim, its rated lines valued at the upper-bound rates plus a cent a unit (the
    pricer rounds each unit half up), cannot reach the threshold. Why this holds with unrated lines: the claim's
    total is the sum of its priced lines (an unpriced line adds nothing and is "unknown"), which the bound of its
    rated lines caps, so it is not over; KX well under the threshold is judged only with history; and "KX status
    unknown" is said only where the year is tracked (history, or the patient's earlier claims in the batch), which it
    is not here. A batch of one claim per patient for a year whose RVUs are not on file (every line unrated) priced
    every day before this test.

    Groups with a null key are never settled (the caller's anti-join matches no null)."""
    unit_bound, units = pl.col("unit_bound"), pl.col("units").fill_null(0)
    claim_rows = batch.join(rates, on=["code", "year"], how="left").select(
        *_KX_GROUP, (unit_bound * units).alias("bound"), ((unit_bound + 0.01) * units.abs()).alias("alone_bound"),
        "threshold", has("KX").alias("kx"), "encounter_id", pl.lit(True).alias("claim_row"))
    earlier = (
        history.join(batch.select("patient_id", "payer").unique(), on="patient_id", how="inner")
        .with_columns(_THERAPY_BUCKET.alias("bucket"), _YEAR)
        .filter(pl.col("bucket").is_not_null())
        .join(rates, on=["code", "year"], how="left")
        .select(*_KX_GROUP, pl.coalesce("allowed", unit_bound * units).alias("bound"),
                pl.lit(False).alias("claim_row"))
    )
    claims = pl.col("encounter_id").filter(pl.col("claim_row"))
    groups = pl.concat([claim_rows, earlier], how="diagonal_relaxed").group_by(_KX_GROUP).agg(
        pl.col("bound").sum(), pl.col("bound").is_null().any().alias("unbounded"),
        pl.col("alone_bound").sum(), pl.col("threshold").drop_nulls().first(), pl.col("kx").any(),
        claims.n_unique().alias("claims"), claims.first().alias("claim"),
    ).join(history.select("patient_id").unique().with_columns(pl.lit(True).alias("tracked")), on="patient_id",
           how="left")
    surely = ~pl.col("unbounded") & (pl.col("bound") <= pl.col("threshold")) & ~pl.col("kx")
    # the patient's claim lines are of one claim (every group of the patient has one, the same), and no history row
    one_claim = ((pl.col("claims") == 1).all().over("patient_id") & (pl.col("claim").n_unique().over("patient_id") == 1)
                 & pl.col("patient_id").is_not_null() & pl.col("tracked").is_null())
    untracked = one_claim & (pl.col("alone_bound") <= pl.col("threshold"))
    return groups.filter(surely | untracked).select(_KX_GROUP)


def _unrated(tables: Tables, bounds: _Bounds) -> bool:
    """Whether a claim line, or a history line without ``allowed``, has no rate for its code and year."""
    frames = [tables.lines.select("code", "date")]
    if tables.history.height:
        frames.append(tables.history.filter(pl.col("allowed").is_null()).select("code", "date"))
    for frame in frames:
        for code, date in zip(frame.get_column("code").to_list(), frame.get_column("date").to_list(), strict=True):
            if code is not None and date is not None and (code, date.year) not in bounds.rated:
                return True
    return False


def _far_under_every_threshold(tables: Tables, items: tuple[tuple[str, int, float], ...], bounds: _Bounds) -> bool:
    """missing-kx's screen: True only when the rule surely finds nothing, decided in Python on a claim or a few
    (microseconds, where a plan costs a millisecond).

    Every line, therapy or not, valued at an upper-bound rate, plus every history amount (``allowed``, or an
    upper-bound rate per unit where it is missing), stays under the smallest threshold of any payer and year. Then
    each (patient, payer, bucket, year) total, a part of that sum, is under its threshold at upper-bound rates, so no
    line can be over it (the pricer's estimate stays under the bound: see `_upper_bound_rates`). The early-KX
    warning is the one finding below the threshold, and it needs history (``history_rows > 0``): with history, a
    line carrying KX always takes the full path.

    First every unit at the largest rate of any code (settles a claim of a few units, and one with no lines); then
    each at its own code's largest rate. Null units count as none, as in the plan's sums.
    """
    if not items:
        return True  # no payer has a KX threshold: there is nothing to compare
    if tables.lines.height > SMALL_RUN:
        return False  # a batch of many patients: the sum of all of them says nothing, the plan decides
    limit = min(threshold for _, _, threshold in items) - 1.0  # a dollar of margin for the order of additions
    lines = tables.lines
    valued = [(code, abs(units)) for code, units in zip(lines.get_column("code").to_list(),
                                                         lines.get_column("units").to_list(), strict=True)
              if units is not None]
    allowed = 0.0
    history = tables.history
    if history.height:
        if "KX" in tables.values("modifiers"):
            return False
        amounts = history.get_column("allowed").to_list()
        allowed = sum(abs(amount) for amount in amounts if amount is not None)
        valued.extend((code, abs(units)) for code, units, amount in zip(
            history.get_column("code").to_list(), history.get_column("units").to_list(), amounts, strict=True)
            if amount is None and units is not None)
    if _unrated(tables, bounds):
        return False  # a line without a rate cannot be bounded: the plan says whether its KX status is unknown
    if bounds.largest * sum(units for _, units in valued) + allowed < limit:  # NaN units fail both tests
        return True
    total = sum(units * bounds.of_code.get(code, 0.0) for code, units in valued)
    return bool(total + allowed < limit)


def _kx_batch(tables: Tables, items: tuple[tuple[str, int, float], ...], bounds: _Bounds) -> pl.LazyFrame:
    """Therapy lines of payers with a KX threshold for their year (with ``bucket``, ``year`` and ``threshold``),
    less the patients settled without pricing: far from the threshold at upper-bound rates and carrying no KX (the
    early-KX warning needs exact amounts). A plan, collected with every other rule's; nothing in it is priced."""
    # the columns the pricing and the findings read, chosen first: the plan ends in a Python callback, which the
    # optimiser cannot see into, and filtering all of the lines' forty columns cost more than the rest
    therapy = lines_with_codes(tables).lazy().select(*_KX_LINE_COLUMNS, _CLAIM_BUCKET.alias("bucket"), _YEAR)
    if len(items) <= _THRESHOLD_CHAIN_MAX:
        batch = (therapy.with_columns(_threshold_chain(items))
                 .filter(pl.col("bucket").is_not_null() & pl.col("threshold").is_not_null()))
    else:
        batch = (therapy.filter(pl.col("bucket").is_not_null())
                 .join(_threshold_frame(items).lazy(), on=["payer", "year"], how="inner"))
    if not tables.small:
        # Most patients of a large run are settled whole by one group-by on the patient alone; the groups of the
        # others are then settled as before (patients are taken away whole: what is left settles alike). The lines
        # are collected first: the plans below read them several times.
        lines = collect(batch)
        settled = collect(_settled_patients(lines.lazy(), tables.history.lazy(), bounds.rates.lazy()))
        batch = lines.join(settled, on="patient_id", how="anti").lazy()
    return batch.join(_settled_groups(batch, tables.history.lazy(), bounds.rates.lazy()), on=_KX_GROUP, how="anti")


def _settled_patients(batch: pl.LazyFrame, history: pl.LazyFrame, rates: pl.LazyFrame) -> pl.LazyFrame:
    """Patients of ``batch`` every group of whom `_settled_groups` settles as surely under its threshold, found with
    one group-by on the patient rather than on (patient, payer, bucket, year): no history (the patient's year is
    all in the batch), no line with KX, every line rated, and the sum over all the patient's lines of their
    upper-bound amounts, taken as absolute values, a dollar under the smallest threshold of the patient's lines (the
    margin covers the order of the additions). Each group of the patient sums part of those lines, so its own bound
    is at most that sum and its threshold at least that smallest one: the group is surely under. A null patient is
    never settled here (nor by the groups' test)."""
    amount = (pl.col("unit_bound") * pl.col("units").fill_null(0)).abs()
    return (
        batch.join(rates, on=["code", "year"], how="left")
        .group_by("patient_id").agg(
            amount.sum().alias("bound"), pl.col("unit_bound").is_null().any().alias("unbounded"),
            has("KX").any().alias("kx"), pl.col("threshold").min())
        .filter(pl.col("patient_id").is_not_null() & ~pl.col("unbounded") & ~pl.col("kx")
                & (pl.col("bound") <= pl.col("threshold") - 1.0))
        .join(history.select("patient_id"), on="patient_id", how="anti")
        .select("patient_id")
    )


def kx_position(tables: Tables) -> pl.DataFrame:
    """Therapy lines of payers with a KX threshold for their year, with the patient's amount that year before the
    claim, this claim's estimate for the same bucket and the total (patients settled far under the threshold without
    pricing are left out).

    "Before the claim" is the patient's ``history`` up to the date of service (its ``allowed`` amounts, or the
    national PFS estimate of a line without one) plus the same patient's earlier encounters in the batch (earlier
    dates, same payer, same calendar year and bucket), valued at national PFS amounts the same way. A batch line that
    is also in the history (same patient, date and code) counts once, from the history.
    """
    items = _kx_threshold_items(tables)
    bounds = _upper_bound_rates(year for _, year, _ in items)
    return _kx_position(tables, collect(_kx_batch(tables, items, bounds)))


def _kx_position(tables: Tables, batch: pl.DataFrame) -> pl.DataFrame:
    """`kx_position` of the unsettled lines ``batch`` (`_kx_batch` collected). Eager: the amounts come from the
    Python pricer, and which claims to price depends on the amounts already known."""
    batch = batch.sort("encounter_id", "line").with_row_index("row_id").with_columns(pl.col("row_id").cast(pl.Int64))
    if batch.is_empty():
        return batch
    batch = _with_mppr_provider(tables, batch)
    claims = batch.group_by("encounter_id").agg(
        pl.col("patient_id").first(), pl.col("payer").first(),
        pl.col("date").min().alias("claim_start"), pl.col("date").max().alias("claim_date"),
    )
    history = _valued_history(tables, claims.select("patient_id").unique())
    earlier_batch = _earlier_batch_rows(batch, history, claims)
    priced = _price_days(batch, earlier_batch)
    lines = (
        batch.join(_amounts_before(batch, claims, history, earlier_batch.join(priced, on="row_id", how="left")),
                   on=["encounter_id", "bucket", "year"], how="left")
        .join(_history_rows(claims, history), on="encounter_id", how="left")
        .with_columns(
            pl.col("before").fill_null(0.0),
            *(pl.col(c).fill_null(0) for c in ("history_unknown", "history_estimated", "batch_counted",
                                                "history_rows")),
        )
    )
    # Price only the claims whose finding depends on this claim's amount: history alone already over the threshold
    # decides a missing KX, and an early KX is judged only where every amount is known.
    history_known = (pl.col("history_unknown") == 0) & (pl.col("history_rows") > 0)
    undecided = (
        (~has("KX") & (pl.col("before") <= pl.col("threshold")))
        | (has("KX") & history_known & (pl.col("before") < pl.col("threshold") * KX_EARLY_SHARE))
    )
    to_price = lines.filter(undecided).select("encounter_id").unique()
    own = batch.join(to_price, on="encounter_id", how="semi")
    estimates = pl.concat([priced, _price_days(batch, own, done=priced)]).join(
        own.select("row_id"), on="row_id", how="semi")
    lines = lines.join(estimates, on="row_id", how="left").with_columns(
        pl.col("encounter_id").is_in(to_price.get_column("encounter_id").implode()).alias("estimated"))
    lines = lines.with_columns((pl.col("estimated") & pl.col("estimate").is_null()).alias("line_unpriced"))
    current = lines.group_by("encounter_id", "bucket", "year").agg(
        pl.col("estimate").sum().alias("estimate"),
        pl.col("estimate").is_null().sum().alias("unpriced"),
        pl.len().alias("bucket_lines"),
    )
    return (
        lines.drop("estimate", "row_id", "mppr_provider")
        .join(current, on=["encounter_id", "bucket", "year"], how="left")
        .with_columns((pl.col("before") + pl.col("estimate")).alias("total"))
    )


def _earlier_batch_rows(batch: pl.DataFrame, history: pl.DataFrame, claims: pl.DataFrame) -> pl.DataFrame:
    """Batch lines that count as "before" for some claim: a date before the first date of a claim of the same
    patient and payer, i.e. before the latest such first date. A line the history also holds (same patient, date and
    code) counts once, from the history. Keyed by patient and payer, never by claim: a join to every claim of the
    patient grew with the square of the claims (20,000 same-day encounters of one patient ran out of memory)."""
    latest = (claims.filter(pl.col("patient_id").is_not_null() & pl.col("payer").is_not_null())
              .group_by("patient_id", "payer").agg(pl.col("claim_start").max().alias("latest_start")))
    return (
        batch.select("row_id", "patient_id", "payer", "bucket", "year", "date", "code")
        .join(history.select("patient_id", "date", "code").unique(), on=["patient_id", "date", "code"], how="anti")
        .join(latest, on=["patient_id", "payer"], how="inner")
        .filter(pl.col("date") < pl.col("latest_start"))
        .drop("latest_start")
    )


def _running_totals(events: pl.DataFrame, by: list[str], values: list[str]) -> pl.DataFrame:
    """Per ``by`` group and date, the sums of ``values`` over the group's events on that date and before it, sorted
    by date for `_totals_at`. Events with a null key or date never count (an inner join would not match them)."""
    keyed = events.filter(pl.all_horizontal(pl.col(c).is_not_null() for c in [*by, "date"]))
    return (
        keyed.group_by([*by, "date"]).agg(pl.col(v).sum() for v in values)
        .sort("date")
        .with_columns(pl.col(v).cum_sum().over(by) for v in values)
    )


def _totals_at(queries: pl.DataFrame, at: str, running: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Each query row with the running totals of its ``by`` group at the date in column ``at`` (the last event date
    on or before it; null when there is none): an as-of join, linear where a join on the group and a date filter
    is a cross product."""
    joined = queries.sort(at).join_asof(running.rename({"date": "event_date"}), left_on=at, right_on="event_date",
                                        by=by, strategy="backward", check_sortedness=False)
    return joined.drop("event_date", strict=False)


def _amounts_before(batch: pl.DataFrame, claims: pl.DataFrame, history: pl.DataFrame,
                    earlier_batch: pl.DataFrame) -> pl.DataFrame:
    """Per claim, bucket and year of its lines: the amounts before the claim (``before``) and how they were known.

    History counts up to the claim's last date (same patient, any payer), earlier batch lines (``earlier_batch``,
    with their ``estimate``) before its first date (same patient and payer). Unknown amounts (no allowed, no
    estimate) of both are counted in ``history_unknown``."""
    keys = batch.select("encounter_id", "bucket", "year").unique().join(
        claims.select("encounter_id", "patient_id", "payer", "claim_start", "claim_date"), on="encounter_id")
    history_by = ["patient_id", "bucket", "year"]
    from_history = _running_totals(
        history.filter(pl.col("bucket").is_not_null()).select(
            *history_by, "date",
            pl.coalesce("allowed", "estimate").alias("history_amount"),
            (pl.col("allowed").is_null() & pl.col("estimate").is_null()).alias("history_unknown"),
            (pl.col("allowed").is_null() & pl.col("estimate").is_not_null()).alias("history_estimated")),
        history_by, ["history_amount", "history_unknown", "history_estimated"])
    batch_by = ["patient_id", "payer", "bucket", "year"]
    from_batch = _running_totals(
        earlier_batch.select(
            *batch_by, "date", pl.col("estimate").alias("batch_amount"),
            pl.col("estimate").is_null().alias("batch_unknown"),
            pl.col("estimate").is_not_null().alias("batch_counted")),
        batch_by, ["batch_amount", "batch_unknown", "batch_counted"])
    # "before the first date" is "on or before the day before it": dates are whole days
    keys = keys.with_columns((pl.col("claim_start") - pl.duration(days=1)).alias("day_before_start"))
    with_history = _totals_at(keys, "claim_date", from_history, history_by)
    both = _totals_at(with_history, "day_before_start", from_batch, batch_by)
    zero = {c: pl.col(c).fill_null(0) for c in ("history_amount", "batch_amount", "history_unknown",
                                                "batch_unknown", "history_estimated", "batch_counted")}
    return both.select(
        "encounter_id", "bucket", "year",
        (zero["history_amount"] + zero["batch_amount"]).alias("before"),
        (zero["history_unknown"] + zero["batch_unknown"]).alias("history_unknown"),
        zero["history_estimated"].alias("history_estimated"),
        zero["batch_counted"].alias("batch_counted"),
    )


def _history_rows(claims: pl.DataFrame, history: pl.DataFrame) -> pl.DataFrame:
    """Per claim, how many history rows of its patient (any bucket) are dated on or before its last date: whether
    history was supplied at all, which the early-KX warning needs."""
    counts = _running_totals(history.select("patient_id", "date", pl.lit(1, dtype=pl.UInt32).alias("history_rows")),
                             ["patient_id"], ["history_rows"])
    return _totals_at(claims.select("encounter_id", "patient_id", "claim_date"), "claim_date", counts,
                      ["patient_id"]).select("encounter_id", "history_rows")


def _kx_text(row: dict[str, Any]) -> str:
    """The arithmetic behind a KX finding, in words: history before the claim, this claim's estimate, the total."""
    before, estimate, total = row["before"], row["estimate"], row["total"]
    unpriced, priced = row["unpriced"], row["bucket_lines"] - row["unpriced"]
    text = f"{row['bucket']} therapy this year: {_money(before)} before this claim"
    if not row["estimated"]:
        text += " alone"  # already over on history: the claim was not priced
    valued = []
    if row["history_estimated"]:
        valued.append(f"{row['history_estimated']} earlier therapy line(s) without an allowed amount")
    if row["batch_counted"]:
        valued.append(f"{row['batch_counted']} line(s) of this patient's earlier encounters in this batch")
    if valued:
        text += f" (valued at national Medicare rates: {'; '.join(valued)})"
    if row["history_unknown"]:
        text += (f" ({row['history_unknown']} earlier therapy line(s) have no allowed amount and could not be "
                 f"priced: unknown, not counted)")
    if not row["estimated"]:
        return text
    if unpriced == 0:
        return text + f" + ~{_money(estimate)} = {_money(total)}"
    if priced == 0:
        return text + " (this claim's lines could not be priced: history alone)"
    return text + (f" + ~{_money(estimate)} for the {priced} line(s) that could be priced ({unpriced} could not) "
                   f"= at least {_money(total)}")


@register
class MissingKx(Rule):
    """Therapy over the annual KX threshold without KX (and, as a warning, KX well under it).

    What it checks:
        The patient's therapy amounts for the calendar year: the `allowed` amounts of earlier lines in `history` up to
        the date of service (PT and SLP together by GP/GN, OT apart by GO), with history lines that have no `allowed`
        and the same patient's earlier encounters in the batch (earlier dates, same payer) valued at national
        Medicare amounts (`cleanclaim.pricing.price`, each provider's day with the patient priced whole so the MPPR
        applies as the pricer applies it: per billing provider, else rendering provider), plus this
        claim's lines in the same group, estimated the same way. When the total passes the payer profile's KX
        threshold for the year, every therapy line of the group without KX is flagged; the message says how many
        lines were valued at national rates. Lines that cannot be priced (no RVUs for the year, or PFS status C:
        contractor-priced) count as unknown, never as $0: over the threshold on the known amounts, the message says
        so; under it, where the year is tracked (history supplied, or the patient's earlier encounters in the
        batch), a warning "KX status unknown: N line(s) unpriced" names them, since the unknown amount may take the
        year over. Bundled, non-covered and not-valid lines (status B, P, N, I, E) add $0. As
        a warning: KX appended when every amount is known (history supplied, each of its lines allowed or priced,
        every claim line priced) and the total is under 80% of the threshold (a cleanclaim margin, not a CMS
        figure).

    Why it matters:
        Medicare denies therapy lines over the threshold that lack KX. KX attests that the services above the
        threshold are medically necessary, so appending it long before the threshold is an attestation the record
        does not need and invites review; above $3,000 claims are subject to targeted medical review.

    Example:
        history: [{date: 2026-02-20, code: "97110", modifiers: [GP], units: 2, allowed: 2470.00}]
        lines: [{code: "97110", modifiers: [GP], units: 2}]

    Use instead:
        history: [{date: 2026-02-20, code: "97110", modifiers: [GP], units: 2, allowed: 2470.00}]
        lines: [{code: "97110", modifiers: [GP, KX], units: 2}]

    References:
        Social Security Act s1833(g)(7) (BBA 2018 s50202); CMS Pub. 100-04 Ch. 5 s10.3 (KX); CY2025 PFS final rule
        CMS-1807-F ($2,410) and CY2026 PFS final rule CMS-1832-F ($2,480).
    """

    id = "CC411"
    slug = "missing-kx"
    family = "modifiers"
    severity = Severity.ERROR
    message = "{amounts}, over the {year} KX threshold of {threshold_text}; {code} has no KX"
    fix = ("Add KX to {code} if the services are medically necessary and documented as such; "
           "otherwise do not bill them as covered therapy (issue an ABN and use GA).")
    references = ("Social Security Act s1833(g)(7) (BBA 2018 s50202: the KX threshold and its modifier)",
                  "CMS Pub. 100-04 Ch. 5 s10.3 (KX modifier for therapy above the threshold)",
                  "CY2025 PFS final rule CMS-1807-F ($2,410); CY2026 PFS final rule CMS-1832-F ($2,480)")

    def screen_for(self, tables: Tables) -> Screen | None:
        # Cheap, in Python: no claim here can be near a threshold (most claims: no therapy lines, or a few units).
        # Without a KX-threshold payer the plan's inner join to the thresholds keeps no line.
        items = _kx_threshold_items(tables)
        if not items or _far_under_every_threshold(tables, items, _kx_bounds(tables, items)):
            return CANNOT_FIRE
        return None

    def check(self, tables: Tables) -> pl.LazyFrame:
        # The amounts come from the Python pricer, so the lines the plan leaves undecided (see _kx_batch) are
        # handed to it inside the plan; the engine collects the plan with every other rule's.
        items = _kx_threshold_items(tables)
        return (_kx_batch(tables, items, _kx_bounds(tables, items))
                .map_batches(partial(_kx_findings, tables), schema=_KX_SCHEMA))


def _kx_bounds(tables: Tables, items: tuple[tuple[str, int, float], ...]) -> _Bounds:
    """The upper-bound rates of the years of ``items`` (`_kx_threshold_items` of these tables), looked up once per
    run: the screen and the plan both read them, and the look-up checks the imported RVU files."""
    return tables.memo("missing-kx:bounds", lambda _: _upper_bound_rates(year for _, year, _ in items))


_KX_SCHEMA = pl.Schema({"encounter_id": pl.String, "line": pl.Int32, "code": pl.String, "amounts": pl.String,
                        "year": pl.Int32, "threshold_text": pl.String, "severity": pl.String, "message": pl.String,
                        "fix": pl.String})
_NO_KX_ROWS = pl.DataFrame(schema=_KX_SCHEMA)
_KX_KNOWN = (pl.col("unpriced") == 0) & (pl.col("history_unknown") == 0) & (pl.col("history_rows") > 0)
_KX_OVER = pl.col("total") > pl.col("threshold")
_KX_EARLY = _KX_KNOWN & (pl.col("total") < pl.col("threshold") * KX_EARLY_SHARE)
_KX_FLAGGED = (_KX_OVER & ~has("KX")) | (_KX_EARLY & has("KX"))
# Under the threshold on what is known, but some amount is not: the claim's unpriced lines (or, when they are all
# priced, every line) of the group without KX say "KX status unknown" instead of counting the unknown as $0.
# Only where the year is being tracked (history supplied, or earlier encounters of the patient in the batch): without
# either, "before this claim" is already an assumption and the warning would sit on every claim of an unrated code.
_KX_UNKNOWN = (pl.col("estimated") & ~_KX_OVER.fill_null(False) & ~has("KX")
               & ((pl.col("history_rows") > 0) | (pl.col("batch_counted") > 0))
               & ((pl.col("unpriced") > 0) | (pl.col("history_unknown") > 0))
               & (pl.col("line_unpriced") | (pl.col("unpriced") == 0)))


def _kx_findings(tables: Tables, batch: pl.DataFrame) -> pl.DataFrame:
    """missing-kx's rows for the unsettled lines ``batch``: priced, then the flagged lines' arithmetic in words (a
    few rows: only lines over the threshold without KX, or well under it with KX)."""
    if batch.is_empty():
        return _NO_KX_ROWS
    position = _kx_position(tables, batch)
    flagged = position.filter(_KX_FLAGGED | _KX_UNKNOWN).with_columns(_KX_OVER.alias("over"),
                                                                      _KX_UNKNOWN.alias("unknown"))
    unpriced_codes = dict(flagged.filter(pl.col("line_unpriced")).group_by("encounter_id", "bucket", "year").agg(
        pl.col("code").unique(maintain_order=True).str.join(", ")).select(
        pl.concat_str("encounter_id", "bucket", pl.col("year").cast(pl.String), separator="|"), "code").iter_rows())
    rows: list[dict[str, Any]] = []
    for row in flagged.sort("encounter_id", "line").iter_rows(named=True):
        amounts, threshold = _kx_text(row), _whole_money(row["threshold"])
        entry = {"encounter_id": row["encounter_id"], "line": row["line"], "code": row["code"],
                 "amounts": amounts, "year": row["year"], "threshold_text": threshold,
                 "severity": None, "message": None, "fix": None}
        if row["unknown"]:
            unknown = row["unpriced"] + row["history_unknown"]
            codes = unpriced_codes.get(f"{row['encounter_id']}|{row['bucket']}|{row['year']}")
            what = f"import the {row['year']} PFS RVU file (cleanclaim data import) so {codes} can be valued" \
                if codes else "give the earlier therapy lines their allowed amounts (history: allowed)"
            entry["severity"] = Severity.WARNING.value
            entry["message"] = (f"KX status unknown: {unknown} line(s) unpriced; {amounts}, under the {row['year']} "
                                f"KX threshold of {threshold} on the amounts known, but the unpriced lines may "
                                f"take it over; {row['code']} has no KX")
            entry["fix"] = (f"To decide, {what}; if the patient's {row['bucket']} therapy for {row['year']} passes "
                            f"{threshold}, add KX to {row['code']} (medically necessary and documented).")
        elif not row["over"]:
            entry["severity"] = Severity.WARNING.value
            entry["message"] = (f"{amounts}, well under the {row['year']} KX threshold of {threshold}, "
                                f"but {row['code']} carries KX")
            entry["fix"] = (f"Remove KX from {row['code']} until the {row['bucket']} amount for "
                            f"{row['year']} passes {threshold}.")
        rows.append(entry)
    return pl.DataFrame(rows, schema=_KX_SCHEMA)


# ---- telehealth and 33 -----------------------------------------------------------------------------------------------
@register
class TelehealthPlaceMismatch(Rule):
    """Telehealth modifier and place of service that disagree.

    What it checks:
        Lines carrying a telehealth modifier of the payer's profile (95 audio-video, 93 audio only) whose place of
        service is not one of the profile's telehealth places (02, 10); and lines whose place of service is a
        telehealth place but carry no telehealth modifier, for payers whose profile has `modifier_required: true`.
        Commercial findings are warnings: contracts differ.

    Why it matters:
        A telehealth modifier with an in-person place of service (or the reverse) is paid at the wrong rate or
        denied; Medicare professional claims identify telehealth by POS 02 or 10 since 2024, while most commercial
        telehealth policies also require 95.

    Example:
        place_of_service: "11"
        lines: [{code: "97110", modifiers: [GP, "95"], units: 2}]

    Use instead:
        place_of_service: "10"
        lines: [{code: "97110", modifiers: [GP, "95"], units: 2}]

    References:
        CY2024 PFS final rule CMS-1784-F (FR Doc 2023-24184: Medicare telehealth claims use POS 02 or 10 from
        2024-01-01); First Coast (a MAC): telehealth service modifiers; AMA CPT Appendix A modifier 95; the payer
        profile's telehealth reference. Secondary: AAFP Medicare telehealth 2025.
    """

    id = "CC412"
    slug = "telehealth-place-mismatch"
    family = "modifiers"
    severity = Severity.ERROR
    message = ("{code} carries {telehealth_on_line} (telehealth), but the place of service is {place_of_service}, "
               "not a telehealth place ({telehealth_places})")
    fix = ("If the service was furnished by telehealth, use place of service {telehealth_places_or}; if it was in "
           "person, remove {telehealth_on_line}.")
    references = ("CY2024 PFS final rule CMS-1784-F (POS 02 / 10 for telehealth from 2024-01-01)",
                  "First Coast (MAC): telehealth service modifiers", "AMA CPT Appendix A: modifier 95")

    def screen_for(self, tables: Tables) -> Screen | None:
        # A flagged line carries one of its payer's telehealth modifiers or has one of its payer's telehealth places
        # (a line of a payer without a profile is not judged): none of any payer's on any line, nothing to flag.
        places = {pos for p in tables.payers.values() for pos in p.telehealth.places_of_service}
        modifiers = {m for p in tables.payers.values() for m in p.telehealth.modifiers}
        if places.isdisjoint(tables.values("place_of_service")) and modifiers.isdisjoint(tables.values("modifiers")):
            return CANNOT_FIRE
        return None

    def check(self, tables: Tables) -> pl.LazyFrame:
        return (
            tables.screen_lines().lazy()
            .filter(_TELEHEALTH_SET)
            .with_columns(*_TELEHEALTH_PARTS)
            .filter(_TELEHEALTH_MISMATCHED)
            .with_columns(*_TELEHEALTH_COLUMNS)
            .select(*_KEYS, "telehealth_on_line", "place_of_service", "telehealth_places", "telehealth_places_or",
                    "message", "fix", "severity")
        )


_TELEHEALTH_SET = pl.col("telehealth_modifiers").is_not_null() & pl.col("place_of_service").is_not_null()
# computed once per line as columns: the filter and the texts read them
_TELEHEALTH_PARTS = (
    pl.col("modifiers").list.set_intersection(pl.col("telehealth_modifiers")).alias("telehealth_on_line"),
    pl.col("telehealth_pos").list.contains(pl.col("place_of_service")).fill_null(False).alias("_telehealth_place"),
)
_TELEHEALTH_ON_LINE = pl.col("telehealth_on_line")
_TELEHEALTH_PLACE = pl.col("_telehealth_place")
_TELEHEALTH_MODIFIER_MISSING = (
    _TELEHEALTH_PLACE & ~(_TELEHEALTH_ON_LINE.list.len() > 0) & pl.col("telehealth_modifier_required")
)
_TELEHEALTH_MISMATCHED = (
    ((_TELEHEALTH_ON_LINE.list.len() > 0) & ~_TELEHEALTH_PLACE) | _TELEHEALTH_MODIFIER_MISSING
)
_TELEHEALTH_COLUMNS = (
    pl.col("telehealth_pos").list.join(", ").alias("telehealth_places"),
    pl.col("telehealth_pos").list.join(" or ").alias("telehealth_places_or"),
    pl.when(_TELEHEALTH_MODIFIER_MISSING)
    .then(pl.format("Place of service {} is a telehealth place, but {} carries no telehealth modifier "
                    "({}), which {} requires", pl.col("place_of_service"), pl.col("code"),
                    pl.col("telehealth_modifiers").list.join(" or "), pl.col("payer_name")))
    .otherwise(None).alias("message"),
    pl.when(_TELEHEALTH_MODIFIER_MISSING)
    .then(pl.format("Add 95 (audio-video) or 93 (audio only) to {}, or correct the place of service if "
                    "the service was in person.", pl.col("code")))
    .otherwise(None).alias("fix"),
    pl.when(pl.col("payer_program") != "medicare").then(pl.lit(Severity.WARNING.value)).otherwise(None)
    .alias("severity"),
)


@register
class Modifier33Medicare(Rule):
    """Modifier 33 on a claim to a payer that does not use it (Medicare).

    What it checks:
        Lines carrying 33 (ACA preventive service) when the payer profile says `modifier_33_allowed: false`.

    Why it matters:
        33 tells a commercial plan to waive cost sharing for a USPSTF A/B, ACIP or HRSA preventive service. Medicare
        does not use it (with narrow exceptions): it waives cost sharing by code, for its own preventive G-codes, so
        33 there is at best ignored and can get the line rejected.

    Example:
        payer: medicare
        lines: [{code: "G0444", modifiers: ["33"], units: 1}]

    Use instead:
        payer: medicare
        lines: [{code: "G0444", units: 1}]

    References:
        CMS (Medicaid.gov) FAQ on ACA s4106 (modifier 33 marks a preventive service for Medicaid cost sharing);
        Medicare waives preventive cost sharing by code under 42 CFR 410.152(l), not by modifier; the payer
        profile's modifier_33_reference. Secondary: AAPC note that Medicare does not use 33.
    """

    id = "CC413"
    slug = "modifier-33-medicare"
    family = "modifiers"
    severity = Severity.WARNING
    message = "{code} carries 33 (ACA preventive service), but {payer_name} does not use modifier 33"
    fix = ("Remove 33 from {code}; for Medicare bill the preventive G-code, whose cost sharing is waived by code "
           "({modifier_33_reference}).")
    references = ("CMS Medicaid.gov FAQ: ACA s4106 and modifier 33",
                  "42 CFR 410.152(l) (Medicare waives preventive cost sharing by code)")

    def screen_for(self, tables: Tables) -> Screen | None:
        # the rule's own filter; without a 33, or a payer whose profile refuses it, it cannot hold
        if "33" not in tables.values("modifiers") or all(p.modifier_33_allowed for p in tables.payers.values()):
            return CANNOT_FIRE
        return _MODIFIER_33_SCREEN

    def check(self, tables: Tables) -> pl.LazyFrame:
        return (
            tables.screen_lines().lazy()
            .filter(_MODIFIER_33_NOT_USED)
            .with_columns(_MODIFIER_33_REFERENCE)
            .select(*_KEYS, "payer_name", "modifier_33_reference")
        )


_MODIFIER_33_NOT_USED = has("33") & (pl.col("modifier_33_allowed") == False)  # noqa: E712
_MODIFIER_33_REFERENCE = pl.col("modifier_33_reference").replace("", "see the payer profile")
_MODIFIER_33_SCREEN = Screen(lines=_MODIFIER_33_NOT_USED)

