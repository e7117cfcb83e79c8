"""Claim: what the claim as a whole needs to be accepted: no duplicate lines, valid NPIs and place of service, filed in
time, the required fields present and a total that adds up."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import polars as pl

from cleanclaim.model import Encounter, Severity
from cleanclaim.rules.profile_frames import ProfilesKey
from cleanclaim.rules.registry import CANNOT_FIRE, Rule, Screen, register
from cleanclaim.rules.tables import (
    SMALL_RUN,
    Tables,
    collect,
    distinct_values,
    formatted_claim_fields,
    lines_with_codes,
)

_KEYS = ["encounter_id", "line", "code"]
_NO_LINE = pl.lit(None, dtype=pl.Int32).alias("line")
_NO_CODE = pl.lit(None, dtype=pl.String).alias("code")

def _column(frame: pl.DataFrame, name: str) -> list[Any]:
    return frame.get_column(name).to_list()


def _rows(frame: pl.DataFrame, *names: str) -> list[tuple[Any, ...]]:
    return list(zip(*(_column(frame, name) for name in names), strict=True))



# Modifiers that say a same-day repeat of a code is a separate service, not a duplicate: 76/77 repeat procedure,
# 91 repeat lab test, 59 and X{EPSU} distinct procedural service (CPT Appendix A; NCCI Policy Manual Ch.1 s E).
_REPEAT_MODIFIERS = ["76", "77", "91", "59", "XE", "XS", "XP", "XU"]


def _modifier_key() -> pl.Expr:
    # Modifier order on a line does not change what was billed, so duplicates compare them sorted.
    return pl.col("modifiers").list.sort().list.join(" ")


def _units_text(column: str = "units") -> pl.Expr:
    """Units as written on a claim: "2" for whole units, "1.5" kept as is (never rounded)."""
    units = pl.col(column)
    return (pl.when(units == units.floor()).then(units.cast(pl.Int64).cast(pl.String))
            .otherwise(units.cast(pl.String)))


def _shown_modifiers() -> pl.Expr:
    return (pl.when(pl.col("modifiers").list.len() > 0)
            .then(pl.format(" with {}", pl.col("modifiers").list.join(", ")))
            .otherwise(pl.lit(" without modifiers")))


# The duplicate-line plan's expressions, built once (on one claim, building them costs about as much as running them).
_FILLED_MODIFIERS = pl.col("modifiers").fill_null(pl.lit([], dtype=pl.List(pl.String)))
_NO_REPEAT_MODIFIER = ~pl.col("modifiers").list.eval(pl.element().is_in(_REPEAT_MODIFIERS)).list.any()
_MODIFIER_KEY = _modifier_key().alias("modifier_key")
_SHOWN_MODIFIERS = _shown_modifiers().alias("shown_modifiers")
_FIRST_LINE = pl.col("line").min().over("encounter_id", "code", "modifier_key", "date", "units").alias("first_line")
_NOT_FIRST_LINE = pl.col("line") != pl.col("first_line")
_NO_SEVERITY = pl.lit(None, dtype=pl.String).alias("severity")
_SAME_CLAIM_TEXTS = [
    pl.format("({} unit(s)) repeats line {} exactly", _units_text(), pl.col("first_line")).alias("duplicate_of"),
    pl.format("Delete line {}, or if the service was given twice, add the units to line {} "
              "(timed codes) or mark the repeat with 76/59 and document both.", pl.col("line"),
              pl.col("first_line")).alias("remedy"),
    _NO_SEVERITY,
]
_MATCH = ["patient_id", "date", "code", "modifier_key"]
# across encounters only for a known patient: two claims whose patient is not given are not known to be one patient's
_EARLIER_ENCOUNTER = (pl.col("other_order") < pl.col("encounter_order")) & pl.col("patient_id").is_not_null()
_IN_BATCH_TEXTS = [
    pl.format("is also billed for patient {} in encounter {} of this batch", pl.col("patient_id"),
              pl.col("other_encounter")).alias("duplicate_of"),
    pl.format("Bill the service once: remove it from encounter {} or {}, or mark a separate session "
              "with 76/59 and document both.", pl.col("other_encounter"), pl.col("encounter_id")).alias("remedy"),
    _NO_SEVERITY,
]
_OTHER_HISTORY_ENCOUNTER = (pl.col("history_encounter").is_null()
                            | (pl.col("history_encounter") != pl.col("encounter_id")))
_BILLED_BEFORE_TEXTS = [
    pl.format("was already billed for patient {} ({} unit(s) in the billing history)",
              pl.col("patient_id"), _units_text("history_units")).alias("duplicate_of"),
    pl.lit("If this corrects the earlier claim, send it as a replacement claim (frequency code 7) "
           "instead of a new one; otherwise remove the line.").alias("remedy"),
    pl.lit(Severity.WARNING.value).alias("severity"),
]
_DUPLICATE_COLUMNS = [*_KEYS, "date", "shown_modifiers", "duplicate_of", "remedy", "severity"]
_DAY = ["patient_id", "date", "code"]
_CLAIM_DAY = ["encounter_id", "date", "code"]  # a claim-line table may spell one patient two ways in a claim


@register
class DuplicateLine(Rule):
    """The same service billed twice: on two lines of one claim, in another claim of the batch, or already billed.

    What it checks:
        Two lines of one claim with the same code, modifiers, date and units; the same patient, date, code and
        modifiers in another encounter of the batch or in the patient's billing history. Lines with a repeat or
        distinct-service modifier (76, 77, 91, 59, XE, XS, XP, XU) are left out: they say the repeat is intended.

    Why it matters:
        Payers deny the second occurrence as a duplicate (CARC 18); a duplicate that slips through is an overpayment
        the practice must return, and a pattern of them draws audits.

    Example:
        lines:
          - {code: "97110", modifiers: [GP], units: 2, dx_pointers: [1]}
          - {code: "97110", modifiers: [GP], units: 2, dx_pointers: [1]}

    Use instead:
        lines:
          - {code: "97110", modifiers: [GP], units: 4, dx_pointers: [1]}   # one line with the day's total units

    References:
        CARC 18 (exact duplicate claim/service); CMS Pub 100-04 Ch.5 s20.2 (a timed code's units for the day on one
        line); NCCI Policy Manual Ch.1 s E (modifiers 59/X{EPSU}); CPT Appendix A (modifiers 76, 77, 91).
    """

    id = "CC601"
    slug = "duplicate-line"
    family = "claim"
    severity = Severity.ERROR
    message = "Line {line}: {code}{shown_modifiers} on {date} {duplicate_of}"
    fix = "{remedy}"
    references = ("CARC 18 (duplicate claim/service)", "CMS Pub 100-04 Ch.5 s20.2",
                  "NCCI Policy Manual Ch.1 s E; CPT Appendix A (76, 77, 91)")

    def screen_for(self, tables: Tables) -> Screen | None:
        # Every kind of duplicate needs one patient, date and code twice in the batch, one claim, date and code twice,
        # or the patient, date and code in the history: without any of them nothing can repeat (Python tuples match
        # nulls as equal, as the plan's windows do and its history join does not: never stricter than the plan).
        lines, history = tables.lines, tables.history
        if lines.height > SMALL_RUN or history.height > SMALL_RUN:
            if history.height:
                return None
            # distinct row hashes: a repeat always repeats its hash (nulls hash alike, as the windows match them), and
            # a collision only lets the plan decide; a quarter of what duplicates of structs cost
            repeats = any(lines.select(key).hash_rows().n_unique() < lines.height for key in (_DAY, _CLAIM_DAY))
            return None if repeats else CANNOT_FIRE
        days = _rows(lines, *_DAY)
        claim_days = _rows(lines, *_CLAIM_DAY)
        distinct_days = set(days)
        if len(distinct_days) < len(days) or len(set(claim_days)) < len(claim_days):
            return None
        if history.height and not distinct_days.isdisjoint(_rows(history, *_DAY)):
            return None
        return CANNOT_FIRE

    def check(self, tables: Tables) -> pl.LazyFrame:
        order = tables.encounters.lazy().select("encounter_id").with_row_index("encounter_order")
        billed_days = tables.history.lazy().select(*_DAY).unique().with_columns(pl.lit(True).alias("_in_history"))
        lines = (
            tables.lines.lazy().with_columns(_FILLED_MODIFIERS).filter(_NO_REPEAT_MODIFIER)
            # a duplicate needs the same patient, date and code twice (in the batch or in the history): only those
            # lines get the order-free modifier key, which costs a list sort per line (most of a million-line run)
            .join(billed_days, on=_DAY, how="left")
            .filter((pl.len().over(_DAY) > 1) | (pl.len().over(_CLAIM_DAY) > 1)
                    | pl.col("_in_history").fill_null(False))
            .with_columns(_MODIFIER_KEY, _SHOWN_MODIFIERS)
            .join(order, on="encounter_id", how="left")
        )
        same_claim = lines.with_columns(_FIRST_LINE).filter(_NOT_FIRST_LINE).with_columns(_SAME_CLAIM_TEXTS)
        in_batch = (
            # the earliest encounter billing the same service is quoted; found with windows, not a self-join
            # (on a million lines the join held a row per line and match before filtering)
            lines.with_columns(
                pl.col("encounter_order").min().over(_MATCH).alias("other_order"),
                pl.col("encounter_id").sort_by("encounter_order").first().over(_MATCH).alias("other_encounter"),
            )
            .filter(_EARLIER_ENCOUNTER)
            .with_columns(_IN_BATCH_TEXTS)
        )
        history = tables.history.lazy().with_columns(_FILLED_MODIFIERS).with_columns(_MODIFIER_KEY).select(
            *_MATCH, pl.col("encounter_id").alias("history_encounter"), pl.col("units").alias("history_units"))
        billed_before = (
            lines.join(history, on=_MATCH, how="inner", maintain_order="left_right")
            .filter(_OTHER_HISTORY_ENCOUNTER)
            .group_by("encounter_id", "line", maintain_order=True).first()
            .with_columns(_BILLED_BEFORE_TEXTS)
        )
        return (pl.concat([f.select(_DUPLICATE_COLUMNS) for f in (same_claim, in_batch, billed_before)],
                          how="vertical_relaxed")
                .unique(["encounter_id", "line"], keep="first", maintain_order=True))


def npi_check_digit(npi: pl.Expr) -> pl.Expr:
    """The NPI check digit the first nine digits call for (Luhn over "80840" + the nine digits), as an expression
    (null when the first nine characters are not all digits).

    Doubling every other digit from the right of the nine (positions 1, 3, 5, 7, 9) and adding the constant 24
    for the implied 80840 prefix is CMS's own shortcut for the prefixed Luhn sum. A doubled digit d adds the digits
    of 2d, which is 2d - 9 when d >= 5, i.e. 2d - 9 * ((d + 5) // 10). The nine digits are one list, so the sum is a
    few list operations rather than one slice per digit (on a single claim each operation has a fixed cost).
    """
    digits = (pl.when(npi.str.contains(r"^[0-9]{9}")).then(npi.str.slice(0, 9))
              .str.split("").cast(pl.List(pl.Int64)))
    total = (digits * _LUHN_WEIGHTS - (digits + 5) // 10 * _LUHN_CARRIES).list.sum() + 24
    return (10 - total % 10) % 10


_LUHN_WEIGHTS = pl.lit([2, 1, 2, 1, 2, 1, 2, 1, 2], dtype=pl.List(pl.Int64))
_LUHN_CARRIES = pl.lit([9, 0, 9, 0, 9, 0, 9, 0, 9], dtype=pl.List(pl.Int64))


# Blanks Python strips here, all of which Polars' strip_chars strips too: an NPI Python finds valid the plan does too.
_ASCII_BLANKS = " \t\n\r\x0b\x0c"
_DIGITS = frozenset("0123456789")


@lru_cache(maxsize=4096)
def npi_valid(npi: str) -> bool:
    """Whether invalid-npi accepts the NPI: ten ASCII digits (ASCII blanks around them aside) ending in the Luhn check
    digit over "80840" and the first nine (the same shortcut as :func:`npi_check_digit`). In Python, for screens: one
    claim's two or three NPIs cost microseconds this way, the rule's plan about a millisecond."""
    digits = npi.strip(_ASCII_BLANKS)
    if len(digits) != 10 or not _DIGITS.issuperset(digits):
        return False
    total = 24
    for index, char in enumerate(digits[:9]):
        digit = int(char)
        total += digit if index % 2 else 2 * digit - 9 * ((digit + 5) // 10)
    return (10 - total % 10) % 10 == int(digits[9])


@register
class InvalidNpi(Rule):
    """A National Provider Identifier that cannot be real: not ten digits, or a check digit that does not match.

    What it checks:
        The rendering provider's NPI on the encounter and on each line that names its own, and the billing provider's
        NPI: ten digits whose last digit is the Luhn check digit over "80840" and the first nine digits.

    Why it matters:
        A mistyped NPI is rejected by the clearinghouse or the payer's front end (CARC 16 / RARC N290 for the
        rendering provider, N77); the claim is not even received until it is corrected.

    Example:
        provider: {npi: "1234567890", discipline: PT}

    Use instead:
        provider: {npi: "1234567893", discipline: PT}

    References:
        CMS, "Requirements for the National Provider Identifier (NPI) check digit" (Luhn formula, prefix 80840,
        constant 24); 45 CFR 162.406 (NPI standard).
    """

    id = "CC602"
    slug = "invalid-npi"
    family = "claim"
    severity = Severity.ERROR
    message = "The {role} NPI {npi} is not valid: {reason}"
    fix = ("Copy the {role} NPI from NPPES (npiregistry.cms.hhs.gov); a valid NPI is ten digits ending in its "
           "check digit.")
    references = ("CMS: Requirements for the NPI check digit (Luhn, prefix 80840)", "45 CFR 162.406")

    def screen_for(self, tables: Tables) -> Screen | None:
        # Every NPI the plan judges is a non-null line, encounter or billing NPI: if Python accepts each of them, the
        # plan flags none (Python's test is the plan's, or stricter on blanks). On a large run the plan's own test
        # over the run's distinct NPIs decides instead (thousands of them, each a Python call), and the plan's
        # prefilter reuses its answer.
        if not tables.small:
            return CANNOT_FIRE if _rejected_npis(tables).is_empty() else None
        return CANNOT_FIRE if all(npi_valid(npi) for npi in _run_npis(tables)) else None

    def check(self, tables: Tables) -> pl.LazyFrame:
        judged = _npi_prefilter(tables)
        encounters = tables.encounters.lazy().select("encounter_id", "provider_npi", "billing_npi")
        line_npis = (
            tables.lines.lazy().filter(judged("provider_npi"))
            .join(encounters.select("encounter_id", pl.col("provider_npi").alias("encounter_npi")),
                  on="encounter_id", how="left")
            .filter(_OWN_LINE_NPI)
            .select(*_KEYS, pl.col("provider_npi").alias("npi"), _LINE_ROLE)
        )
        rendering = encounters.filter(judged("provider_npi")).select(
            "encounter_id", _NO_LINE, _NO_CODE, pl.col("provider_npi").alias("npi"), _RENDERING_ROLE)
        billing = encounters.filter(judged("billing_npi")).select(
            "encounter_id", _NO_LINE, _NO_CODE, pl.col("billing_npi").alias("npi"), _BILLING_ROLE)
        return (
            pl.concat([rendering, billing, line_npis], how="vertical_relaxed")
            .filter(pl.col("npi").is_not_null())
            .group_by(*_KEYS, "npi", maintain_order=True).agg(pl.col("role").str.join(" and "))
            .pipe(_invalid)
            .with_columns(_NPI_REASON)
            .select(*_KEYS, "role", "npi", "reason")
        )


def _run_npis(tables: Tables) -> frozenset[str]:
    """The run's distinct line, encounter and billing NPIs (nulls left out: the plan judges none), for the screen of
    a small run."""
    def find(tables: Tables) -> frozenset[str]:
        encounters = tables.encounters
        return (tables.values("provider_npi") | distinct_values(encounters.get_column("provider_npi"))
                | distinct_values(encounters.get_column("billing_npi")))

    return tables.memo("run_npis", find)


def _npi_prefilter(tables: Tables) -> Callable[[str], pl.Expr]:
    """The rows invalid-npi's plan needs to look at, as a filter on an NPI column. On a large run, the rows of the
    NPIs the plan's own test rejects, found among the run's distinct NPIs (a few thousand, most of them valid): the
    line-to-encounter join, the grouping and the texts then see their rows only, not every line and encounter. On a
    claim, every row (finding the NPIs first would cost more than the plan)."""
    if tables.small:
        return lambda _: pl.lit(True)
    rejected = pl.lit(_rejected_npis(tables)).implode()
    return lambda column: pl.col(column).is_in(rejected)


def _rejected_npis(tables: Tables) -> pl.Series:
    """The run's distinct line, encounter and billing NPIs that the plan's own test rejects (`_invalid`), found once
    per large run: its screen and its prefilter both read them."""
    def find(tables: Tables) -> pl.Series:
        encounters = tables.encounters
        distinct = pl.concat([tables.lines.get_column("provider_npi"), encounters.get_column("provider_npi"),
                              encounters.get_column("billing_npi")]).drop_nulls().unique().alias("npi")
        return collect(_invalid(distinct.to_frame().lazy())).get_column("npi")

    return tables.memo("rejected_npis", find)


def _invalid(frame: pl.LazyFrame) -> pl.LazyFrame:
    """The rows of ``frame`` whose ``npi`` is not valid, with its ``digits`` and its ``expected`` and ``actual``
    check digits."""
    return (frame.with_columns(pl.col("npi").str.strip_chars().alias("digits"))
            .with_columns(_EXPECTED_DIGIT.alias("expected"), _ACTUAL_DIGIT.alias("actual"))
            .filter(_NPI_INVALID))


# The invalid-npi plan's expressions, built once: the Luhn check digit is one vectorised expression over the column.
_OWN_LINE_NPI = pl.col("provider_npi").is_not_null() & (
    pl.col("encounter_npi").is_null() | (pl.col("provider_npi") != pl.col("encounter_npi")))
_LINE_ROLE = pl.lit("line's rendering provider").alias("role")
_RENDERING_ROLE = pl.lit("rendering provider").alias("role")
_BILLING_ROLE = pl.lit("billing provider").alias("role")
_WELL_FORMED = pl.col("digits").str.contains(r"^[0-9]{10}$")
_EXPECTED_DIGIT = npi_check_digit(pl.col("digits"))
_ACTUAL_DIGIT = pl.col("digits").str.slice(9, 1).cast(pl.Int64, strict=False)
_NPI_INVALID = ~_WELL_FORMED | (pl.col("expected") != pl.col("actual"))
_NPI_REASON = (
    pl.when(~_WELL_FORMED)
    .then(pl.format("it has {} characters; an NPI is exactly ten digits", pl.col("digits").str.len_chars()))
    .otherwise(pl.format("its check digit is {} but the first nine digits call for {}", pl.col("actual"),
                         pl.col("expected")))
    .alias("reason")
)


@cache
def place_of_service_codes() -> pl.DataFrame:
    """The CMS place-of-service code set with cleanclaim's short names (data file
    ``rules/data/place_of_service.csv``)."""
    text = resources.files("cleanclaim.rules").joinpath("data", "place_of_service.csv").read_bytes()
    return pl.read_csv(text, comment_prefix="#", schema={
        "code": pl.String, "name": pl.String, "effective": pl.Date, "inpatient": pl.String,
    }).with_columns(pl.col("inpatient") == "Y")


@register
class InvalidPlaceOfService(Rule):
    """A place of service that is not in the CMS code set, or one that does not fit the service billed.

    What it checks:
        The encounter's place-of-service code against the CMS POS code set in force on the date of service (an
        unassigned number such as 30 or a code used before it existed is an error), and lines with outpatient therapy
        codes billed at an inpatient place of service (21 inpatient hospital, 51 inpatient psychiatric facility,
        61 inpatient rehabilitation facility), which is a warning.

    Why it matters:
        An invalid POS is rejected before adjudication. The POS also decides facility vs non-facility payment and
        which benefit pays: outpatient therapy billed for a hospital inpatient is denied or recovered because the
        hospital's Part A payment covers it.

    Example:
        place_of_service: "30"
        lines: [{code: "97110", modifiers: [GP], units: 1, dx_pointers: [1]}]

    Use instead:
        place_of_service: "11"
        lines: [{code: "97110", modifiers: [GP], units: 1, dx_pointers: [1]}]

    References:
        CMS Place of Service Code Set (cms.gov, place-of-service codes); CMS Pub 100-04 Ch.26 s10.5; Pub 100-02 Ch.15
        s220 (outpatient therapy is for outpatients); Pub 100-04 Ch.12 s20.4.2 (facility vs non-facility POS).
    """

    id = "CC603"
    slug = "invalid-place-of-service"
    family = "claim"
    severity = Severity.ERROR
    message = "{problem}"
    fix = "{remedy}"
    references = ("CMS Place of Service Code Set", "CMS Pub 100-04 Ch.26 s10.5", "CMS Pub 100-02 Ch.15 s220")

    def screen_for(self, tables: Tables) -> Screen | None:
        # The plan flags an encounter whose place is not in the code set (a null place included) or dated before the
        # place took effect, and a line at an inpatient place: with none of those it has nothing to flag.
        if not _inpatient_codes().isdisjoint(tables.values("place_of_service")):
            return None
        encounters = tables.encounters
        if encounters.height <= SMALL_RUN:
            places: Iterable[tuple[Any, ...]] = _rows(encounters, "place_of_service", "date")
        else:  # each place with its earliest date (a null date is never flagged as too early)
            places = encounters.group_by("place_of_service").agg(pl.col("date").min()).rows()
        effective = _place_effective()
        for place, date in places:
            if place not in effective:
                return None
            since = effective[place]
            if since is not None and date is not None and date < since:
                return None
        return CANNOT_FIRE

    def check(self, tables: Tables) -> pl.LazyFrame:
        encounters = tables.encounters.lazy().select("encounter_id", "date", "place_of_service").join(
            place_of_service_codes().lazy(), left_on="place_of_service", right_on="code", how="left")
        unknown = encounters.filter(pl.col("name").is_null()).select("encounter_id", _NO_LINE, _NO_CODE,
                                                                     *_UNKNOWN_PLACE)
        too_early = encounters.filter(_PLACE_NOT_YET_EFFECTIVE).select("encounter_id", _NO_LINE, _NO_CODE,
                                                                       *_PLACE_TOO_EARLY)
        inpatient = (
            lines_with_codes(tables).lazy().filter(_THERAPY_CODE)
            .join(_inpatient_places().lazy(), left_on="place_of_service", right_on="code", how="inner")
            .select(*_KEYS, *_THERAPY_INPATIENT)
        )
        return pl.concat([unknown, too_early, inpatient], how="vertical_relaxed")


@cache
def _inpatient_places() -> pl.DataFrame:
    return place_of_service_codes().filter(pl.col("inpatient"))


@cache
def _inpatient_codes() -> frozenset[str]:
    return frozenset(_inpatient_places().get_column("code").to_list())


@cache
def _place_effective() -> dict[str, dt.date | None]:
    """Each place-of-service code with the date it takes effect (None: in force for every date)."""
    return {code: since for code, since in place_of_service_codes().select("code", "effective").iter_rows()
            if code is not None}


# The invalid-place-of-service plan's expressions, built once.
_UNKNOWN_PLACE = [
    pl.format("Place of service {} is not in the CMS place-of-service code set", pl.col("place_of_service"))
    .alias("problem"),
    pl.lit("Report the two-digit CMS code for where the service was given: 11 office, 12 home, "
           "22 on-campus outpatient hospital, 10 telehealth at home ...").alias("remedy"),
    pl.lit(None, dtype=pl.String).alias("severity"),
]
_PLACE_NOT_YET_EFFECTIVE = pl.col("effective").is_not_null() & (pl.col("date") < pl.col("effective"))
_PLACE_TOO_EARLY = [
    pl.format("Place of service {} ({}) takes effect on {}; it is not valid on the date of service {}",
              pl.col("place_of_service"), pl.col("name"), pl.col("effective"), pl.col("date")).alias("problem"),
    pl.lit("Check the date of service, or report the place-of-service code in force on it.").alias("remedy"),
    pl.lit(None, dtype=pl.String).alias("severity"),
]
_THERAPY_CODE = pl.col("therapy").is_not_null() & (pl.col("therapy") != "not")
_THERAPY_INPATIENT = [
    pl.format("{} is an outpatient therapy code but the place of service is {} ({})", pl.col("code"),
              pl.col("place_of_service"), pl.col("name")).alias("problem"),
    pl.lit("Therapy for a hospital or facility inpatient is covered by the facility's inpatient payment; "
           "if the patient was an outpatient, correct the place of service (e.g. 11 office, "
           "22 outpatient hospital).").alias("remedy"),
    pl.lit(Severity.WARNING.value).alias("severity"),
]


def _nth_weekday(year: int, month: int, weekday: int, nth: int) -> dt.date:
    """The ``nth`` ``weekday`` (Monday 0) of a month; ``nth`` -1 is the last one."""
    if nth > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))
    last = dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def _legal_holidays(year: int) -> dict[dt.date, str]:
    """The legal public holidays of 5 U.S.C. 6103(a) on their own dates (before Saturday/Sunday observance)."""
    days = {
        dt.date(year, 1, 1): "New Year's Day",
        _nth_weekday(year, 2, 0, 3): "Washington's Birthday (Presidents' Day)",
        _nth_weekday(year, 5, 0, -1): "Memorial Day",
        dt.date(year, 7, 4): "Independence Day",
        _nth_weekday(year, 9, 0, 1): "Labor Day",
        _nth_weekday(year, 10, 0, 2): "Columbus Day",
        dt.date(year, 11, 11): "Veterans Day",
        _nth_weekday(year, 11, 3, 4): "Thanksgiving Day",
        dt.date(year, 12, 25): "Christmas Day",
    }
    if year >= 1986:  # Pub. L. 98-144: Martin Luther King Jr.'s Birthday, observed from 1986
        days[_nth_weekday(year, 1, 0, 3)] = "Birthday of Martin Luther King, Jr."
    if year >= 2021:  # Pub. L. 117-17 (June 17, 2021): Juneteenth National Independence Day
        days[dt.date(year, 6, 19)] = "Juneteenth National Independence Day"
    return days


def federal_holidays(year: int) -> dict[dt.date, str]:
    """The days federal offices are closed for a legal public holiday in ``year``, by the date observed.

    5 U.S.C. 6103(a) names the holidays; 6103(b) and Executive Order 11582 (as OPM's holiday rules state them) move
    one falling on a Saturday to the Friday before and one falling on a Sunday to the Monday after. So New Year's Day
    on a Saturday is observed on December 31 of the year before, which is why the next year's is looked at too.
    Inauguration Day (6103(c)) closes only offices in the Washington area and is left out.
    """
    observed: dict[dt.date, str] = {}
    for source_year in (year, year + 1):
        for day, name in _legal_holidays(source_year).items():
            shift = {5: -1, 6: 1}.get(day.weekday(), 0)
            moved = day + dt.timedelta(days=shift)
            if moved.year == year:
                observed[moved] = name if not shift else f"{name} (observed)"
    return dict(sorted(observed.items()))


def next_workday(day: dt.date) -> tuple[dt.date, str | None]:
    """``day`` itself when it is a workday, else the first Monday-to-Friday day after it that is not a federal
    holiday, with why it moved ("Saturday", "Christmas Day ..."): a deadline on a non-workday moves to the next
    workday (First Coast; Palmetto GBA)."""
    moved_from: str | None = None
    while True:
        holidays = federal_holidays(day.year)
        if day.weekday() >= 5:
            reason = day.strftime("%A")
        elif day in holidays:
            reason = holidays[day]
        else:
            return day, moved_from
        moved_from = moved_from or f"{reason} {day.isoformat()}"
        day += dt.timedelta(days=1)


def nominal_deadline(date: pl.Expr, *, calendar_year: pl.Expr, limit_days: pl.Expr) -> pl.Expr:
    """The deadline before non-workdays are skipped: one calendar year after ``date`` where ``calendar_year``
    (Medicare's rule), else ``limit_days`` days after it."""
    # Medicare's 12 months is a calendar year, not 365 days; offset_by clamps Feb 29 to Feb 28.
    return (pl.when(calendar_year).then(date.dt.offset_by("1y"))
            .otherwise(date + pl.duration(days=limit_days)))


def workday_deadlines(deadlines: pl.Series) -> pl.DataFrame:
    """Each distinct deadline with the workday it moves to (``workday``) and why (``moved_because``, null when it
    stays), from the same holiday calendar the timely-filing rule joins."""
    days = deadlines.drop_nulls().unique().sort()
    if days.is_empty():
        return pl.DataFrame(schema={"nominal": pl.Date, "workday": pl.Date, "moved_because": pl.String})
    years = days.dt.year()  # sorted with the days
    calendar = _holiday_calendar(min(int(years[0]), _CALENDAR_FIRST), max(int(years[-1]), _CALENDAR_LAST))
    frame = pl.LazyFrame({"nominal": days}, schema={"nominal": pl.Date})
    return collect(with_workday(frame, calendar).select("nominal", "workday", "moved_because"))


# The holiday calendar spans these years unless a date asks for more; building it (once) takes a few milliseconds.
# A Medicare deadline before 1900 would only skip weekends, and one after the as-of year is never reported.
_CALENDAR_FIRST = 1900
_CALENDAR_LAST = 2100


@lru_cache(maxsize=8)
def _holiday_calendar(first_year: int, last_year: int) -> pl.DataFrame:
    """Every federal holiday (as observed) from ``first_year`` to ``last_year`` + 1, with its name and the first
    workday after it: what :func:`next_workday` answers for a deadline on a holiday, built once so a check only
    joins it (weekends need no table: the first Monday after one is the day looked up here)."""
    closed: dict[dt.date, str] = {}
    for year in range(first_year, last_year + 3):
        closed.update(federal_holidays(year))
    holidays, names, after = [], [], []
    for day, name in closed.items():
        if day.year > last_year + 1:
            continue
        workday = day + dt.timedelta(days=1)
        while workday.weekday() >= 5 or workday in closed:
            workday += dt.timedelta(days=1)
        holidays.append(day)
        names.append(name)
        after.append(workday)
    return pl.DataFrame({"holiday": holidays, "holiday_name": names, "after_holiday": after},
                        schema={"holiday": pl.Date, "holiday_name": pl.String, "after_holiday": pl.Date})


_NOMINAL = pl.col("nominal")
_NOMINAL_WEEKDAY = _NOMINAL.dt.weekday()  # ISO: Monday 1 ... Sunday 7
_ON_WEEKEND = _NOMINAL_WEEKDAY >= 6
# A weekend deadline moves to Monday, unless Monday is a holiday too: then to the workday after that holiday.
_PROBE = (pl.when(_ON_WEEKEND).then(_NOMINAL + pl.duration(days=8 - _NOMINAL_WEEKDAY)).otherwise(_NOMINAL)
          .alias("__probe"))
_WORKDAY = [
    pl.coalesce("after_holiday", "__probe").alias("workday"),
    pl.when(_ON_WEEKEND).then(pl.format("{} {}", _NOMINAL.dt.strftime("%A"), _NOMINAL))
    .when(pl.col("holiday_name").is_not_null()).then(pl.format("{} {}", pl.col("holiday_name"), _NOMINAL))
    .alias("moved_because"),
]


def with_workday(frame: pl.LazyFrame, calendar: pl.DataFrame) -> pl.LazyFrame:
    """``frame`` with the workday its ``nominal`` deadline moves to (``workday``) and why (``moved_because``, null
    when it stays), as :func:`next_workday` says, by one join with the holiday calendar."""
    return (frame.with_columns(_PROBE)
            .join(calendar.lazy(), left_on="__probe", right_on="holiday", how="left", maintain_order="left")
            .with_columns(_WORKDAY)
            .drop("__probe", "holiday_name", "after_holiday"))


_WARN_DAYS = 30
_MEDICARE_FILING_REFERENCES = ["42 CFR 424.44", "CMS Pub 100-04 Ch.1 s70 (one calendar year)",
                               "First Coast: timely filing (February 29; weekend or holiday deadlines)"]
_CONTRACT_REFERENCE = "The payer contract or provider manual (timely-filing clause)"


@lru_cache(maxsize=16)
def _filing_settings(payers: ProfilesKey) -> pl.DataFrame:
    """Per payer: its name, program, limit, whether the limit is confirmed and what to cite for it."""
    return pl.DataFrame(
        [{"payer": payer_id, "payer_name": profile.name, "program": profile.program,
          "limit_days": profile.timely_filing_days, "limit_reference": profile.timely_filing_reference,
          "confirmed": profile.timely_filing_confirmed} for payer_id, profile in payers.items],
        schema={"payer": pl.String, "payer_name": pl.String, "program": pl.String, "limit_days": pl.Int64,
                "limit_reference": pl.String, "confirmed": pl.Boolean},
    )


@register
class TimelyFiling(Rule):
    """A line whose filing deadline has passed, or falls within the next 30 days.

    What it checks:
        Each line's date of service against the payer profile's timely-filing limit, as of the date the check runs
        (``--as-of``). A Medicare profile's 365 days means one calendar year after the date of service (a February 29
        date of service is due February 28 of the next year), and a deadline on a Saturday, Sunday or federal
        holiday (5 U.S.C. 6103, observed dates) moves to the next workday. Other limits: the profile's number of
        days. Past the deadline is an error; within 30 days of it a warning. A limit the profile does not mark
        ``timely_filing_confirmed`` (the commercial profile's 180 days is an assumption, not a contract term) gives
        warnings only, citing the profile's own reference.

    Why it matters:
        A claim received after the deadline is denied (CARC 29) and, for Medicare, the denial cannot be appealed: the
        service is never paid and cannot be billed to the patient.

    Example:
        date: 2025-03-03
        # checked on 2026-03-04: Medicare's deadline was 2026-03-03

    Use instead:
        date: 2025-03-03
        # filed by 2026-03-03

    References:
        Medicare: 42 CFR 424.44; CMS Pub 100-04 Ch.1 s70 (one calendar year); First Coast and Palmetto GBA
        timely-filing pages (February 29; weekend and holiday deadlines); 5 U.S.C. 6103 and OPM's federal holiday
        rules. Other payers: the reference in their profile (the contract's timely-filing clause).
    """

    id = "CC604"
    slug = "timely-filing"
    family = "claim"
    severity = Severity.ERROR
    message = ("{status}: {payer_name} must receive the claim for {date} by {deadline}{moved_text} ({limit_text}); "
               "{days_text}")
    fix = "{remedy}"
    references = (*_MEDICARE_FILING_REFERENCES, _CONTRACT_REFERENCE)

    def screen_for(self, tables: Tables) -> Screen | None:
        # A deadline is never earlier than the limit's days after the date of service (Medicare's calendar year is
        # 365 or 366 days; moving to a workday only delays it), and only deadlines up to 30 days after the as-of date
        # are reported: every date after as-of + 30 - the shortest limit is safe.
        limits = [profile.timely_filing_days for profile in tables.payers.values()]
        if not limits:
            return CANNOT_FIRE  # the plan joins the dates to the payers' settings: no payer, no row
        try:
            latest = tables.as_of + dt.timedelta(days=_WARN_DAYS - min(limits))
        except OverflowError:
            return None
        for first in (tables.lines.get_column("date").min(), tables.encounters.get_column("date").min()):
            if first is not None and (type(first) is not dt.date or first <= latest):
                return None
        return CANNOT_FIRE

    def check(self, tables: Tables) -> pl.LazyFrame:
        days_left, texts = _filing_expressions(tables.as_of)
        lines = tables.lines.lazy()
        bare = tables.encounters.lazy().join(lines.select("encounter_id"), on="encounter_id", how="anti")
        dated = pl.concat([lines.select(*_KEYS, "payer", "date"),
                           bare.select("encounter_id", _NO_LINE, _NO_CODE, "payer", "date")],
                          how="vertical_relaxed").join(_filing_settings(ProfilesKey(tables.payers)).lazy(),
                                                       on="payer", how="inner")
        # Only a deadline up to 30 days after the as-of date is reported, so the calendar need not go further.
        calendar = _holiday_calendar(_CALENDAR_FIRST, max(_CALENDAR_LAST, tables.as_of.year + 1))
        # the screen's bound, row by row: a date after it cannot be within 30 days of its deadline, so a month of
        # recent claims skips the calendar join
        as_of = pl.lit(tables.as_of, dtype=pl.Date)
        near = pl.col("date") <= as_of + pl.duration(days=_WARN_DAYS - pl.col("limit_days"))
        return (
            with_workday(dated.filter(near).with_columns(_FILING_NOMINAL), calendar)
            .with_columns(_FILING_DEADLINE)
            .with_columns(days_left)
            .filter(pl.col("days_left") <= _WARN_DAYS)
            .with_columns(texts)
            .select(*_KEYS, "status", "payer_name", "date", "deadline", "moved_text", "limit_text", "days_text",
                    "remedy", "severity", "references")
        )


# The timely-filing plan's expressions, built once (those quoting the as-of date once per as-of date).
# A Medicare profile's 365 days is read as Medicare's rule, one calendar year; any other limit counts days.
_FILING_MEDICARE = (pl.col("program") == "medicare") & (pl.col("limit_days") == 365)
_FILING_CONFIRMED = pl.col("confirmed")
_FILING_NOMINAL = nominal_deadline(pl.col("date"), calendar_year=_FILING_MEDICARE,
                                   limit_days=pl.col("limit_days")).alias("nominal")
# The next-workday rule is the Medicare contractors'; a contract's day count is taken as written.
_FILING_DEADLINE = [
    pl.when(_FILING_MEDICARE).then(pl.col("workday")).otherwise(_NOMINAL).alias("deadline"),
    pl.when(_FILING_MEDICARE).then(pl.col("moved_because")).alias("moved_because"),
]


@lru_cache(maxsize=8)
def _filing_expressions(as_of_date: dt.date) -> tuple[pl.Expr, tuple[pl.Expr, ...]]:
    """The days left before the deadline, and the finding's texts, severity and references."""
    medicare, confirmed = _FILING_MEDICARE, _FILING_CONFIRMED
    as_of = pl.lit(as_of_date, dtype=pl.Date)
    limit = (
        pl.when(medicare).then(pl.lit("one calendar year after the date of service"))
        .when(confirmed).then(pl.format("{} days after the date of service", pl.col("limit_days")))
        .otherwise(pl.format("{} days after the date of service is the payer profile's assumed limit, not a "
                             "confirmed one: check the contract", pl.col("limit_days")))
    )
    late = pl.col("days_left") < 0
    return (pl.col("deadline") - as_of).dt.total_days().alias("days_left"), (
        pl.when(late & confirmed).then(pl.lit("Past the timely-filing limit"))
        .when(late).then(pl.lit("Past the assumed timely-filing limit"))
        .otherwise(pl.lit("Timely-filing deadline near")).alias("status"),
        pl.when(pl.col("moved_because").is_not_null())
        .then(pl.format(" (moved from {}, not a workday)", pl.col("moved_because")))
        .otherwise(pl.lit("")).alias("moved_text"),
        # An assumed limit has no source to quote; the contract it points to is in the references.
        pl.when(confirmed & (pl.col("limit_reference").fill_null("") != ""))
        .then(pl.format("{}; {}", limit, pl.col("limit_reference"))).otherwise(limit).alias("limit_text"),
        pl.when(late)
        .then(pl.format("as of {} it is {} day(s) late", as_of, -pl.col("days_left")))
        .when(pl.col("days_left") == 0).then(pl.format("as of {} today is the last day", as_of))
        .otherwise(pl.format("as of {} {} day(s) are left", as_of, pl.col("days_left"))).alias("days_text"),
        pl.when(late & medicare)
        .then(pl.lit("Do not send it as a new claim; file only if an exception applies (administrative error, "
                     "retroactive entitlement) with proof, and do not bill the patient."))
        .when(late & confirmed)
        .then(pl.lit("Check the payer contract for late-filing exceptions (proof of earlier timely filing, "
                     "retroactive coverage); without one the payer will deny it, and the contract decides whether "
                     "the patient may be billed."))
        .when(late)
        .then(pl.format("Look up the timely-filing limit in the {} contract or provider manual: if it is longer "
                        "than {} days, send the claim and set timely_filing_days (and timely_filing_confirmed: "
                        "true) in the payer profile; if not, ask the payer about late-filing exceptions.",
                        pl.col("payer_name"), pl.col("limit_days")))
        .when(confirmed)
        .then(pl.format("Send the claim by {} and keep the clearinghouse acceptance report: a rejected "
                        "claim does not count as filed.", pl.col("deadline")))
        .otherwise(pl.format("Send the claim by {} (the profile's assumed limit; the contract may allow less) "
                             "and keep the clearinghouse acceptance report.", pl.col("deadline")))
        .alias("remedy"),
        pl.when(late & confirmed).then(pl.lit(None, dtype=pl.String))
        .otherwise(pl.lit(Severity.WARNING.value)).alias("severity"),
        pl.when(medicare).then(pl.lit(_MEDICARE_FILING_REFERENCES, dtype=pl.List(pl.String)))
        .when(pl.col("limit_reference").fill_null("").str.strip_chars() != "")
        .then(pl.concat_list(pl.col("limit_reference")))
        .otherwise(pl.lit([_CONTRACT_REFERENCE], dtype=pl.List(pl.String))).alias("references"),
    )


_REQUIRED_FIELDS = {
    "billing_npi": "billing provider (NPI, tax id, address)",
    "subscriber_id": "subscriber member id",
    "payer_id": "payer id",
    "claim_id": "claim id",
}
_RENDERING_NPI = "rendering provider NPI (provider.npi)"
# Optional encounter columns a claim needs; the rule checks them when the tables carry them.
_OPTIONAL_FIELDS = {
    "patient_first_name": "patient first name",
    "patient_last_name": "patient last name",
    "patient_birth_date": "patient birth date",
    "patient_sex": "patient sex",
    "billing_tax_id": "billing provider tax id",
    "billing_address": "billing provider address",
}


@register
class MissingRequiredField(Rule):
    """What a claim file needs that the encounter does not have.

    What it checks:
        Encounters that carry at least one claim-file field (billing provider NPI, subscriber member id, payer id or
        claim id), and so are on their way to a claim file: one finding per encounter listing every missing field a
        professional claim needs: the billing provider (NPI, tax id, address), the subscriber's member id, the
        payer's electronic id, the claim id (patient control number), the patient's name, birth date and sex (where
        the input carries them) and a charge on every line. An encounter with none of the four is documentation for
        ``cleanclaim code`` or ``check`` (where they are optional) and gets no finding. A warning here: ``cleanclaim
        check`` can still judge the coding, and the 837P writer refuses the same gaps as errors when the claim file
        is made. Every encounter of an encounter file must also name its rendering provider's NPI (the contract's
        ``provider.npi``): without it the finding is an error, since no claim can say who furnished the service.
        (A claim-line table may leave ``provider_npi`` out: there it is not judged.)

    Why it matters:
        A claim without these is rejected by the clearinghouse (837P required segments) or returned as unprocessable
        (CARC 16), and a rejected claim does not count as filed for timely filing.

    Example:
        claim_id: CLM-0001
        lines: [{code: "97110", modifiers: [GP], units: 1, dx_pointers: [1]}]   # no charge, no billing provider

    Use instead:
        billing_provider: {name: Harbor PT, npi: "1234567893", tax_id: "123456789",
                           address: {line1: 1 Main St, city: Springfield, state: IL, zip: "62701"}}
        subscriber: {member_id: 1EG4TE5MK73}
        payer_id: "12345"
        claim_id: CLM-0001
        lines: [{code: "97110", modifiers: [GP], units: 1, dx_pointers: [1], charge: 45.00}]

    References:
        ASC X12 837P 005010X222A1 (loops 2010AA billing provider, 2010BA subscriber, 2010BB payer, 2300 CLM01,
        2310B rendering provider NM109 and 2400 SV102); NUCC 1500 instructions (items 1a, 2, 3, 24F, 24J, 25, 33);
        CARC 16.
    """

    id = "CC605"
    slug = "missing-required-field"
    family = "claim"
    severity = Severity.WARNING
    message = "Encounter {encounter_id} lacks what a claim needs: {missing}"
    fix = "Add {missing} to the encounter before making the claim file (837P or CMS-1500)."
    references = ("X12 837P 005010X222A1 required loops 2010AA, 2010BA, 2010BB, 2300, 2400",
                  "NUCC 1500 Claim Form instructions", "CARC 16")

    def screen_for(self, tables: Tables) -> Screen | None:
        # The plan flags an encounter that carries one of the claim fields (claim-bound) and has a blank field or a
        # line without a charge; Python's blank is the plan's or wider (str.strip strips all Polars strips, and
        # more), and any line without a charge counts for every encounter.
        encounters = tables.encounters
        if encounters.height > SMALL_RUN:
            return None
        if _rendering_npi_judged(tables) and encounters.get_column("provider_npi").null_count() > 0:
            return None
        checked, bound = _checked_fields(tables)
        uncharged = tables.lines.get_column("charge").null_count() > 0
        values = {name: _column(encounters, name) for name in {*checked, *bound}}
        for row in range(encounters.height):
            if any(values[name][row] is not None for name in bound) and (
                    uncharged or any(_blank(values[name][row]) for name in checked)):
                return None
        return CANNOT_FIRE

    def check(self, tables: Tables) -> pl.LazyFrame:
        rendering_judged = _rendering_npi_judged(tables)
        claim_bound, missing = _missing_expressions(*_checked_fields(tables), rendering_judged)
        no_charge = (
            tables.lines.lazy().filter(pl.col("charge").is_null())
            .group_by("encounter_id", maintain_order=True)
            .agg(pl.col("line").sort().cast(pl.String).str.join(", ").alias("lines_without_charge"))
        )
        no_rendering = pl.col("provider_npi").is_null() if rendering_judged else pl.lit(False)
        return (
            tables.encounters.lazy().filter(claim_bound | no_rendering).join(no_charge, on="encounter_id", how="left")
            .with_columns(missing)
            .filter(pl.col("missing") != "")
            .select("encounter_id", _NO_LINE, _NO_CODE, "missing",
                    pl.when(no_rendering).then(pl.lit(Severity.ERROR.value)).alias("severity"))
        )


def _rendering_npi_judged(tables: Tables) -> bool:
    """Whether a missing rendering NPI is judged: for encounters (the contract requires ``provider.npi``), not for
    claim-line tables, whose ``provider_npi`` column is optional."""
    return tables.carried is None


def _checked_fields(tables: Tables) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The fields checked for blanks (those the input carries), and those that make an encounter claim-bound."""
    columns = tables.encounters.columns
    carried = tables.carried if tables.carried is not None else frozenset(columns)
    return (tuple(c for c in (*_REQUIRED_FIELDS, *_OPTIONAL_FIELDS) if c in carried and c in columns),
            tuple(c for c in _REQUIRED_FIELDS if c in columns))


def _blank(value: object) -> bool:
    """Whether the plan may read the value as blank: null, a text of blanks, or any type but text and dates (their
    text is never empty), to be safe."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return not isinstance(value, dt.date)


@lru_cache(maxsize=16)
def _missing_expressions(checked: tuple[str, ...], claim_columns: tuple[str, ...],
                         rendering_judged: bool) -> tuple[pl.Expr, pl.Expr]:
    """Whether an encounter is on its way to a claim file, and the list of what it lacks, for the fields the input
    carries (built once per set of columns)."""
    labels = {**_REQUIRED_FIELDS, **_OPTIONAL_FIELDS}

    def blank(column: str) -> pl.Expr:
        value = pl.col(column)
        text = value.cast(pl.String).str.strip_chars()
        return value.is_null() | (text == "")

    # Only an encounter on its way to a claim file is judged: `code` and `check` input may leave all of these out.
    claim_bound = pl.any_horizontal([pl.col(column).is_not_null() for column in claim_columns] or [pl.lit(False)])
    parts = [pl.when(pl.col("provider_npi").is_null()).then(pl.lit(_RENDERING_NPI))] if rendering_judged else []
    parts += [pl.when(claim_bound & blank(column)).then(pl.lit(labels[column])) for column in checked]
    parts.append(pl.when(claim_bound & pl.col("lines_without_charge").is_not_null())
                 .then(pl.format("a charge on line {}", pl.col("lines_without_charge"))))
    return claim_bound, pl.concat_list(parts).list.drop_nulls().list.join(", ").alias("missing")


@dataclass(frozen=True)
class _ClaimFieldFormat:
    """One fixed-format claim field: the encounter column, how a finding names it, the format (ASCII only: ``\\d``
    would take Arabic-Indic or superscript digits), what is expected, whether its value may be shown (never for a
    patient or subscriber field: PHI), and the element of the 837P that carries it."""

    column: str
    label: str
    pattern: str
    expected: str
    shown: bool
    element: str


_CLAIM_FIELD_FORMATS = (
    _ClaimFieldFormat("billing_ein", "billing provider tax id (billing_provider.tax_id)", r"^[0-9]{9}$",
                      "the nine digits of the EIN, without a hyphen", True, "2010AA REF*EI REF02; NUCC item 25"),
    _ClaimFieldFormat("billing_zip", "billing provider ZIP code (billing_provider.address.zip)",
                      r"^[0-9]{5}([0-9]{4})?$", "five digits or nine (ZIP+4), without a hyphen", True,
                      "2010AA N403; NUCC item 33"),
    _ClaimFieldFormat("billing_state", "billing provider state (billing_provider.address.state)", r"^[A-Z]{2}$",
                      "the two-letter USPS state code", True, "2010AA N402; NUCC item 33"),
    _ClaimFieldFormat("billing_phone", "billing provider phone (billing_provider.phone)", r"^[0-9]{10}$",
                      "ten digits (area code and number)", True, "2010AA PER04; NUCC item 33"),
    _ClaimFieldFormat("patient_zip", "patient ZIP code (patient.address.zip)", r"^[0-9]{5}([0-9]{4})?$",
                      "five digits or nine (ZIP+4), without a hyphen", False, "2010BA/2010CA N403; NUCC item 5"),
    _ClaimFieldFormat("patient_state", "patient state (patient.address.state)", r"^[A-Z]{2}$",
                      "the two-letter USPS state code", False, "2010BA/2010CA N402; NUCC item 5"),
    _ClaimFieldFormat("patient_sex", "patient sex (patient.sex)", r"^[MFU]$", "M, F or U", False,
                      "2010BA/2010CA DMG03; NUCC item 3"),
    _ClaimFieldFormat("subscriber_sex", "subscriber sex (subscriber.sex)", r"^[MFU]$", "M, F or U", False,
                      "2010BA DMG03; NUCC item 11a"),
)


@register
class InvalidClaimField(Rule):
    """A claim field with a fixed format that the value given does not have (tax id, ZIP code, state, sex, phone).

    What it checks:
        The billing provider's tax id (nine digits), ZIP code (five or nine digits), state (two capital letters) and
        phone (ten digits), the patient's ZIP code and state, and the patient's and subscriber's sex (M, F or U),
        where the encounter gives them. Only ASCII digits count as digits. A patient's or subscriber's value is never
        repeated in the message (it is PHI); the billing provider's is.

    Why it matters:
        The clearinghouse validates these elements against the 837P implementation guide and rejects the claim
        (999/277CA) before the payer sees it; a rejected claim does not count as filed. These values are readable,
        so the rest of the encounter is still checked: the input is not refused.

    Example:
        billing_provider: {name: Harbor PT, npi: "1234567893", tax_id: "12-3456789",
                           address: {line1: 1 Main St, city: Springfield, state: IL, zip: "62701"}}

    Use instead:
        billing_provider: {name: Harbor PT, npi: "1234567893", tax_id: "123456789",
                           address: {line1: 1 Main St, city: Springfield, state: IL, zip: "62701"}}

    References:
        ASC X12 837P 005010X222A1: 2010AA REF*EI (tax id), N402/N403 (state and postal code), PER04 (telephone),
        DMG03 (gender code F, M, U); NUCC 1500 Claim Form instructions (items 3, 5, 11a, 25, 33).
    """

    id = "CC615"
    slug = "invalid-claim-field"
    family = "claim"
    severity = Severity.ERROR
    message = "The {field} {shown}is not in the claim's format: {expected}"
    fix = "Correct the {field} to {expected} ({element})."
    references = ("X12 837P 005010X222A1 2010AA/2010BA/2010CA (REF*EI, N4, PER, DMG)",
                  "NUCC 1500 Claim Form instructions")

    def screen_for(self, tables: Tables) -> Screen | None:
        # The plan flags a non-null value that its ASCII pattern does not match; Python's re with the same pattern
        # (every class in it is ASCII), matched in full (its "$" would allow a trailing newline), is the same test.
        encounters = tables.encounters
        if encounters.height > SMALL_RUN:
            return None
        for spec in _CLAIM_FIELD_FORMATS:
            matcher = _compiled(spec.pattern)
            if any(value is not None and not matcher.fullmatch(value) for value in _column(encounters, spec.column)):
                return None
        return CANNOT_FIRE

    def check(self, tables: Tables) -> pl.LazyFrame:
        encounters = tables.encounters.lazy()
        parts = [
            encounters.filter(pl.col(spec.column).is_not_null() & ~pl.col(spec.column).str.contains(spec.pattern))
            .select("encounter_id", _NO_LINE, _NO_CODE, pl.lit(spec.label).alias("field"),
                    (pl.format("'{}' ", pl.col(spec.column)) if spec.shown else pl.lit("")).alias("shown"),
                    pl.lit(spec.expected).alias("expected"), pl.lit(spec.element).alias("element"))
            for spec in _CLAIM_FIELD_FORMATS
        ]
        return pl.concat(parts, how="vertical_relaxed")


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    # [0-9] and [A-Z] are ASCII classes whatever the flags; re.ASCII keeps it so should a pattern gain \\d
    return re.compile(pattern, re.ASCII)


@register
class BirthDateAfterService(Rule):
    """A patient born after the date of service: one of the two dates is wrong.

    What it checks:
        The patient's birth date against the encounter's date of service (and each line's own date). The birth date
        is PHI: the finding names the field and the date of service, never the birth date.

    Why it matters:
        The claim's DMG02 (birth date) and DTP*472 (service date) cannot both be right; front-end edits reject it as
        a billing error (CARC 16), and a wrong birth date also fails eligibility matching. It used to stop the whole
        encounter as unreadable input; it is readable, so the rest of the encounter is checked too.

    Example:
        date: 2026-03-02
        patient: {id: P1, birth_date: 2036-01-01}

    Use instead:
        date: 2026-03-02
        patient: {id: P1, birth_date: 1936-01-01}

    References:
        ASC X12 837P 005010X222A1: 2010BA/2010CA DMG02 (date of birth) and 2400 DTP*472 (service date); CARC 16 (claim
        lacks information or has submission/billing error).
    """

    id = "CC616"
    slug = "birth-date-after-service"
    family = "claim"
    severity = Severity.ERROR
    message = "The patient's birth date (patient.birth_date) is after the date of service {date}"
    fix = ("Check the birth date against the patient's insurance card and the date of service against the note; "
           "correct whichever is wrong.")
    references = ("X12 837P 005010X222A1 2010BA/2010CA DMG02, 2400 DTP*472", "CARC 16")

    def screen_for(self, tables: Tables) -> Screen | None:
        # The plan flags a line whose date is before its encounter's birth date: none when no birth date is after the
        # earliest line date.
        births = tables.encounters.get_column("patient_birth_date")
        if births.null_count() == births.len():
            return CANNOT_FIRE
        latest_birth, earliest_service = births.max(), tables.lines.get_column("date").min()
        if earliest_service is None or (isinstance(latest_birth, dt.date) and isinstance(earliest_service, dt.date)
                                        and latest_birth <= earliest_service):
            return CANNOT_FIRE
        return None

    def check(self, tables: Tables) -> pl.LazyFrame:
        births = tables.encounters.lazy().select("encounter_id", "patient_birth_date")
        return (
            tables.lines.lazy().join(births, on="encounter_id", how="inner")
            .filter(pl.col("patient_birth_date") > pl.col("date"))
            .group_by("encounter_id", "date", maintain_order=True).agg(pl.col("line").min())
            .select("encounter_id", pl.col("line").cast(pl.Int32), _NO_CODE, "date")
        )


def claim_document_problems(encounter: Encounter) -> list[str]:
    """What the claim writers (837P, CMS-1500, superbill, FHIR) refuse that the model reads and the rules report: no
    rendering NPI, an invalid NPI, a place of service outside the CMS set, a fixed-format field in the wrong format.
    The same tests as missing-required-field, invalid-npi, invalid-place-of-service and invalid-claim-field, so a
    claim `check` passes is one `export` writes; never a patient's value in the text (PHI)."""
    problems: list[str] = []
    provider, billing = encounter.provider, encounter.billing_provider
    if provider.npi is None:
        problems.append("provider.npi (the rendering provider's NPI; missing-required-field)")
    elif not npi_valid(provider.npi):
        problems.append("provider.npi is not a valid NPI (invalid-npi)")
    if billing is not None and not npi_valid(billing.npi):
        problems.append("billing_provider.npi is not a valid NPI (invalid-npi)")
    problems += [f"lines[{number}].rendering_npi is not a valid NPI (invalid-npi)"
                 for number, line in enumerate(encounter.lines, start=1)
                 if line.rendering_npi is not None and not npi_valid(line.rendering_npi)]
    since = _place_effective()
    if encounter.place_of_service not in since:
        problems.append("place_of_service is not in the CMS place-of-service code set (invalid-place-of-service)")
    elif (effective := since[encounter.place_of_service]) is not None and encounter.date < effective:
        problems.append(f"place_of_service takes effect on {effective}, after the date of service "
                        "(invalid-place-of-service)")
    birth = encounter.patient.birth_date
    service_dates = [encounter.date, *(line.date for line in encounter.lines if line.date is not None)]
    if birth is not None and birth > min(service_dates):
        problems.append("patient.birth_date is after the date of service (birth-date-after-service)")
    row = formatted_claim_fields(encounter)
    problems += [f"{spec.label} must be {spec.expected} (invalid-claim-field)" for spec in _CLAIM_FIELD_FORMATS
                 if (value := row.get(spec.column)) is not None and not _compiled(spec.pattern).fullmatch(value)]
    return problems


@register
class ChargeTotalMismatch(Rule):
    """A claim total that is not the sum of its line charges.

    What it checks:
        The encounter's ``total_charge`` against the sum of its lines' charges, to the cent.

    Why it matters:
        The 837P requires the claim total (CLM02) to equal the sum of the line charges (SV102); a mismatch is rejected
        at the clearinghouse, and on paper it makes the patient statement and the payer's records disagree.

    Example:
        total_charge: 100.00
        lines: [{code: "97110", modifiers: [GP], units: 2, charge: 90.00, dx_pointers: [1]}]

    Use instead:
        total_charge: 90.00
        lines: [{code: "97110", modifiers: [GP], units: 2, charge: 90.00, dx_pointers: [1]}]

    References:
        ASC X12 837P 005010X222A1 CLM02 (total claim charge = sum of SV102); NUCC 1500 instructions, item 28.
    """

    id = "CC606"
    slug = "charge-total-mismatch"
    family = "claim"
    severity = Severity.ERROR
    message = ("The claim total ${total_charge} differs from the sum of the line charges ${line_total} "
               "by ${difference}{uncharged}")
    fix = "Set the total to ${line_total} (the sum of the lines), or correct the line charge that is wrong."
    references = ("X12 837P 005010X222A1 CLM02 and SV102", "NUCC 1500 instructions, item 28")

    def screen_for(self, tables: Tables) -> Screen | None:
        # The plan's sums redone in Python: a null-id line joins no encounter and a null-id encounter's lines count
        # as none, as in the plan; a value whose cents a rounding mode could decide (a tie) or that is not a finite
        # number Python can hold exactly leaves the decision to the plan.
        encounters, lines = tables.encounters, tables.lines
        if encounters.get_column("total_charge").null_count() == encounters.height:
            return CANNOT_FIRE  # the plan compares only the totals given (a claim-line table rarely carries one)
        if encounters.height > SMALL_RUN or lines.height > SMALL_RUN:
            return None
        line_cents: dict[str, int] = {}
        for encounter, charge in _rows(lines, "encounter_id", "charge"):
            if encounter is None or charge is None:
                continue
            cents = _whole_cents(charge)
            if cents is None:
                return None
            line_cents[encounter] = line_cents.get(encounter, 0) + cents
        for encounter, total in _rows(encounters, "encounter_id", "total_charge"):
            if total is None:
                continue
            cents = _whole_cents(total)
            if cents is None or cents != (line_cents.get(encounter, 0) if encounter is not None else 0):
                return None
        return CANNOT_FIRE

    def check(self, tables: Tables) -> pl.LazyFrame:
        cents = tables.lines.lazy().group_by("encounter_id").agg(_LINE_CENTS)
        return (
            tables.encounters.lazy().filter(pl.col("total_charge").is_not_null())
            .join(cents, on="encounter_id", how="left")
            .with_columns(_TOTAL_CENTS)
            .filter(pl.col("total_cents") != pl.col("line_cents"))
            .with_columns(_UNCHARGED_TEXT)
            .select("encounter_id", _NO_LINE, _NO_CODE, *_CHARGE_TEXTS)
        )


# Below 2**52 a float's cents are exact integers, and a thousand of them sum far inside Int64.
_EXACT_CENTS = 2.0**52


def _whole_cents(amount: float) -> int | None:
    """The amount in whole cents as the plan rounds it, or None where Python might round otherwise: a tie (the plan
    rounds half to even as Python does, but a mode must not decide a screen), or a value too large or not finite."""
    cents = amount * 100
    if not math.isfinite(cents) or abs(cents) >= _EXACT_CENTS or cents % 1 == 0.5:
        return None
    return round(cents)


def _money(cents: pl.Expr) -> pl.Expr:
    """Cents as a dollar amount with two decimals ("90.00"), for messages."""
    return pl.format("{}.{}", cents // 100, (cents % 100).cast(pl.String).str.zfill(2))


# The charge-total-mismatch plan's expressions, built once. Whole cents are compared, so 0.1 + 0.2 equals 0.30.
# The lines without a charge are gathered per claim and written out for the mismatched claims only: sorting and
# joining them into a text for every claim cost four times the sums.
_LINE_CENTS = [
    (pl.col("charge") * 100).round(0).cast(pl.Int64).sum().alias("line_cents"),
    pl.col("line").filter(pl.col("charge").is_null()).alias("uncharged_lines"),
]
_UNCHARGED_TEXT = pl.col("uncharged_lines").list.sort().cast(pl.List(pl.String)).list.join(", ")
_TOTAL_CENTS = [pl.col("line_cents").fill_null(0),
                (pl.col("total_charge") * 100).round(0).cast(pl.Int64).alias("total_cents")]
_CHARGE_TEXTS = [
    _money(pl.col("total_cents")).alias("total_charge"),
    _money(pl.col("line_cents")).alias("line_total"),
    _money((pl.col("total_cents") - pl.col("line_cents")).abs()).alias("difference"),
    pl.when(pl.col("uncharged_lines").fill_null("") != "")
    .then(pl.format(" (line {} has no charge)", pl.col("uncharged_lines")))
    .otherwise(pl.lit("")).alias("uncharged"),
]


# What one professional claim can carry: CMS-1500 item 21 (A-L) and 837P HI hold twelve diagnoses; item 24D and
# 837P SV101-3..6 hold four modifiers per line. The export refuses more (formats/claim_requirements.py).
_CLAIM_DIAGNOSES = 12
_LINE_MODIFIERS = 4


@register
class ClaimFormCapacity(Rule):
    """More diagnoses on a claim, or more modifiers on a line, than a professional claim can carry.

    What it checks:
        Encounters with more than 12 diagnoses, and lines with more than 4 modifiers.

    Why it matters:
        The CMS-1500 has twelve diagnosis slots (item 21, A-L) and four modifier slots per line (item 24D); the 837P
        HI segment and SV101 have the same limits. What does not fit is dropped or the claim is rejected, and a
        dropped diagnosis or pricing modifier (GP, KX, CQ) changes how the line pays. ``cleanclaim export`` refuses
        such claims; this rule says so before export.

    Example:
        lines: [{code: "97110", modifiers: [GP, KX, CQ, "59", XU], units: 1}]

    Use instead:
        lines: [{code: "97110", modifiers: [GP, KX, CQ, XU], units: 1}]   # 59 and XU say the same: keep one

    References:
        NUCC 1500 Health Insurance Claim Form reference instruction manual, items 21 and 24D; ASC X12 837P
        005010X222A1 HI (health care diagnosis code) and SV101 (procedure modifiers).
    """

    id = "CC608"
    slug = "claim-form-capacity"
    family = "claim"
    severity = Severity.ERROR
    message = "{problem}"
    fix = "{remedy}"
    references = ("NUCC 1500 instructions, items 21 and 24D", "X12 837P 005010X222A1 HI and SV101")

    def screen_for(self, tables: Tables) -> Screen | None:
        # The plan flags exactly the encounters with over 12 diagnoses and the lines with over 4 modifiers.
        if (_longest(tables.encounters.get_column("diagnoses")) > _CLAIM_DIAGNOSES
                or _longest(tables.lines.get_column("modifiers")) > _LINE_MODIFIERS):
            return None
        return CANNOT_FIRE

    def check(self, tables: Tables) -> pl.LazyFrame:
        count = pl.col("diagnoses").list.len()
        diagnoses = tables.encounters.lazy().filter(count > _CLAIM_DIAGNOSES).select(
            "encounter_id", _NO_LINE, _NO_CODE,
            pl.format("The encounter lists {} diagnoses; a claim holds at most 12 (CMS-1500 item 21 A-L, 837P HI)",
                      count).alias("problem"),
            pl.format("Keep the 12 diagnoses the billed services treat, most relevant first (every line must point "
                      "at one of them); drop the other {}.", count - _CLAIM_DIAGNOSES).alias("remedy"),
        )
        shown = pl.col("modifiers").list.join(", ")
        modifiers = tables.lines.lazy().filter(pl.col("modifiers").list.len() > _LINE_MODIFIERS).select(
            *_KEYS,
            pl.format("Line {} ({}) carries {} modifiers ({}); a line holds at most 4 (CMS-1500 item 24D, 837P SV101)",
                      pl.col("line"), pl.col("code"), pl.col("modifiers").list.len(), shown).alias("problem"),
            pl.format("Keep the 4 modifiers that change payment or coverage first (GP/GO/GN, CQ/CO, KX, 59 or "
                      "XE/XP/XS/XU, 95); drop informational ones or any that repeat another's meaning: {}.", shown)
            .alias("remedy"),
        )
        return pl.concat([diagnoses, modifiers], how="vertical_relaxed")


def _longest(lists: pl.Series) -> int:
    """The length of the longest list in a list column (0 when there is none)."""
    if lists.len() <= SMALL_RUN:
        return max((len(items) for items in lists.to_list() if items is not None), default=0)
    longest = lists.list.len().max()
    return int(longest) if isinstance(longest, int) else 0
