"""Code combinations on one day: add-ons need their base code, and CPT keeps some services apart."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from functools import cache

import polars as pl

from cleanclaim.codebook import CodeBook
from cleanclaim.model import Severity
from cleanclaim.rules.catalogue.time_units import _time_rules
from cleanclaim.rules.registry import CANNOT_FIRE, Rule, Screen, register
from cleanclaim.rules.tables import SMALL_RUN, Tables, codes_frame, collect, lines_with_codes

_KEYS = ["encounter_id", "line", "code"]
_DAY = ["patient_id", "date"]
"""Lines a screen walks in Python (a claim's few lines cost microseconds; a batch runs the rule anyway)."""


@register
class AddonWithoutBase(Rule):
    """An add-on code billed without its base code on the same day.

    What it checks:
        Add-on codes of the code book (96159, 96165, 96168, 96171, 97551, G0022, G0024, G0146) on a patient's day with
        no line of their base code (96158, 96164, 96167, 96170, 97550, G0019, G0023, G0140) for that patient and date.

    Why it matters:
        An add-on only extends its base service ("each additional 15 minutes"); billed alone it is denied (CARC 107,
        the related or qualifying service was not identified), and it usually means the base line was dropped or
        the wrong code was keyed.

    Example:
        lines: [{code: "96159", units: 2, minutes: 45}]

    Use instead:
        lines: [{code: "96158", units: 1, minutes: 45}, {code: "96159", units: 1}]

    References:
        AMA CPT add-on code convention; CY2020 PFS final rule, CMS-1715-F (84 FR 62568) (96159 is the add-on to
        96158); CARC 107.
    """

    id = "CC309"
    slug = "addon-without-base"
    family = "time and units"
    severity = Severity.ERROR
    message = "{code} is an add-on to {base_code}, but no {base_code} line is billed for this patient on {date}"
    fix = ("Bill {base_code} for the first {typical_minutes} minutes and {code} only for the time beyond it "
           "(or remove {code}).")
    references = ("CY2020 PFS final rule, CMS-1715-F (84 FR 62568): 96159 add-on to 96158", "AMA CPT add-on codes",
                  "CARC 107")

    def screen_for(self, tables: Tables) -> Screen | None:
        # only a line whose version in force is an add-on is looked at, and it is flagged only when its base code is
        # missing from its patient's day: with every base of every add-on version of its code billed that day, and
        # the day's keys not null (a null key matches no line), it cannot be
        if "addon" not in _time_rules(tables):
            return CANNOT_FIRE
        lines = tables.lines
        if lines.height > SMALL_RUN:
            return None
        bases = _addon_bases(tables.book)
        days = list(zip(*(lines.get_column(c).to_list() for c in _DAY), strict=True))
        codes = lines.get_column("code").to_list()
        billed: defaultdict[tuple[object, ...], set[str]] = defaultdict(set)
        for day, code in zip(days, codes, strict=True):
            if code is not None:  # a null code is no base: a null base_code matches nothing
                billed[day].add(code)
        for day, code in zip(days, codes, strict=True):
            if code in bases and (None in day or not bases[code] <= billed[day]):
                return None
        return CANNOT_FIRE

    def check(self, tables: Tables) -> pl.DataFrame | pl.LazyFrame:
        lines = lines_with_codes(tables).lazy()
        # every billed code of the patient's day, as a possible base (duplicates do not change an anti join)
        billed = lines.select(*_DAY, pl.col("code").alias("base_code"))
        return (
            lines.filter(pl.col("time_rule") == "addon").drop("typical_minutes")
            .join(billed, on=[*_DAY, "base_code"], how="anti")
            .join(_base_times(tables.book).lazy(), on="base_code", how="left")
            .select(*_KEYS, "base_code", "date", "typical_minutes")
        )


@cache
def _addon_bases(book: CodeBook) -> Mapping[str, frozenset[str | None]]:
    """Per code with an add-on version: the base codes of its add-on versions (None where one names no base)."""
    bases: defaultdict[str, set[str | None]] = defaultdict(set)
    for entry in book:
        if entry.time_rule.value == "addon":
            bases[entry.code].add(entry.base_code)
    return {code: frozenset(found) for code, found in bases.items()}


@cache
def _base_times(book: CodeBook) -> pl.DataFrame:
    """Each code's typical minutes, as the base of an add-on (a constant of the code book, built once)."""
    return codes_frame(book).select(pl.col("code").alias("base_code"), "typical_minutes").unique("base_code")


# Services CPT keeps apart from health behavior assessment and intervention on the same day (AMA CPT 2020 HBAI
# guidelines): psychiatric services 90785-90899 and adaptive behavior services 97151-97158.
_PSYCHIATRIC = (90785, 90899)
_ADAPTIVE = (97151, 97158)


def _in_range(column: str, bounds: tuple[int, int]) -> pl.Expr:
    number = pl.col(column).cast(pl.Int64, strict=False)
    return number.is_between(*bounds)


_HBAI_BOUNDS = (96156, 96171)
_INTEGER = re.compile(r"[+-]?[0-9]+")
_LETTERS_AND_DIGITS = re.compile(r"[0-9A-Za-z]+")


def _numbers(codes: Iterable[str]) -> list[int] | None:
    """The codes as ``_in_range`` reads them (a lenient Int64 cast: an optional sign and ASCII digits; a code with a
    letter is no number), or None when a code has a shape whose reading this does not foresee."""
    numbers = []
    for code in codes:
        if _INTEGER.fullmatch(code):
            if len(code.lstrip("+-").lstrip("0")) <= 19:  # past Int64 the cast gives null, int() a 4,300-digit error
                numbers.append(int(code))
        elif not _LETTERS_AND_DIGITS.fullmatch(code):
            return None
    return numbers


def _within(numbers: list[int], bounds: tuple[int, int]) -> bool:
    return any(bounds[0] <= number <= bounds[1] for number in numbers)


def _codes_within(codes: frozenset[str], ranges: Iterable[tuple[int, int]]) -> pl.Series | None:
    """The codes among ``codes`` within one of ``ranges`` as ``_in_range`` reads them, or None when a code has a
    shape whose reading `_numbers` does not foresee."""
    kept = []
    for code in sorted(codes):
        numbers = _numbers([code])
        if numbers is None:
            return None
        if any(_within(numbers, bounds) for bounds in ranges):
            kept.append(code)
    return pl.Series("code", kept, dtype=pl.String)


@register
class HbaiSameDayConflict(Rule):
    """Health behavior assessment or intervention on the same day as a service CPT keeps apart from it.

    What it checks:
        An HBAI line (96156-96171) for a patient and date that also has a psychiatric service (90785-90899) or an
        adaptive behavior service (97151-97158), or, by the same provider, preventive medicine counseling
        (99401-99412). CPT says to report the predominant service.

    Why it matters:
        Payers deny the second service as not separately reportable, and an audit reads the pair as unbundling: HBAI
        addresses the behavioural side of a physical illness, so a psychiatric or preventive counseling service the
        same day usually covers the same time.

    Example:
        lines: [{code: "96156", units: 1}, {code: "90791", units: 1}]

    Use instead:
        lines: [{code: "90791", units: 1}]   # report the predominant service only

    References:
        AMA CPT 2020 health behavior assessment and intervention guidelines (HBAI not with psychiatric services
        90785-90899 or adaptive behavior services 97151-97158 on the same day; not with 99401-99412 by the same
        provider); secondary: APA Services HBAI guide 2020.
    """

    id = "CC705"
    slug = "hbai-same-day-conflict"
    family = "eligibility"
    severity = Severity.WARNING
    message = "{code} (health behavior) is billed on {date} with {other_code} ({other_kind}) for the same patient{who}"
    fix = "Report the predominant service only, or document why both were separate services on that day."
    references = ("AMA CPT 2020 health behavior assessment and intervention guidelines",
                  "CY2020 PFS final rule, CMS-1715-F (84 FR 62568): HBAI codes 96156-96171")

    def screen_for(self, tables: Tables) -> Screen | None:
        # a conflict needs an HBAI code and a code of one of the kinds kept apart from it (the ranges do not
        # overlap, so these are two lines); null codes are in no range
        numbers = _numbers(tables.values("code"))
        if numbers is None:
            return None
        if not _within(numbers, _HBAI_BOUNDS) or not any(_within(numbers, kind) for kind in _KEPT_APART):
            return CANNOT_FIRE
        return None

    def check(self, tables: Tables) -> pl.DataFrame | pl.LazyFrame:
        lines = tables.lines.lazy().select(*_KEYS, *_DAY, "provider_npi")
        # every line of the day is paired (filtering the conflicting codes first costs more than it saves on one
        # claim); the pairs that are not a conflict get no kind and are dropped
        others = lines.select(*_DAY, pl.col("provider_npi").alias("other_npi"), pl.col("code").alias("other_code"))
        codes = tables.values("code")
        kept_apart = None if tables.small else _codes_within(codes, _KEPT_APART)
        if kept_apart is None:
            hbai = lines.filter(_HBAI)
        else:
            # on a large run, the run's codes are read once each, not once per line: the HBAI lines, paired with the
            # lines of a kept-apart code only (the rest would be paired and dropped)
            hbai = lines.filter(pl.col("code").is_in(pl.lit(_codes_within(codes, (_HBAI_BOUNDS,))).implode()))
            kept = collect(others.filter(pl.col("other_code").is_in(pl.lit(kept_apart).implode())))
            # and only the HBAI lines of a patient with such a line, the only ones the join pairs (a 250,000-line
            # partition of the 1M-line synthetic file: ~49,000 HBAI lines and ~48,000 others, no pair; ~11 -> ~8 ms)
            hbai = hbai.filter(pl.col("patient_id").is_in(kept.get_column("patient_id").implode()))
            others = kept.lazy()
        return (
            hbai.join(others, on=_DAY, how="inner")
            .with_columns(_OTHER_KIND)
            .filter(pl.col("other_kind").is_not_null())
            .with_columns(_WHO)
            .unique(subset=["encounter_id", "line", "other_code"], maintain_order=True)
            .select(*_KEYS, "date", "other_code", "other_kind", "who")
        )


_HBAI = _in_range("code", _HBAI_BOUNDS)
_PREVENTIVE = (99401, 99412)
_KEPT_APART = (_PSYCHIATRIC, _ADAPTIVE, _PREVENTIVE)
_OTHER_KIND = (
    pl.when(_in_range("other_code", _PSYCHIATRIC)).then(pl.lit("a psychiatric service"))
    .when(_in_range("other_code", _ADAPTIVE)).then(pl.lit("an adaptive behavior service"))
    .when(_in_range("other_code", _PREVENTIVE) & (pl.col("provider_npi") == pl.col("other_npi")))
    .then(pl.lit("preventive medicine counseling"))
    .otherwise(None).alias("other_kind")
)
_WHO = (
    pl.when(pl.col("other_kind") == "preventive medicine counseling")
    .then(pl.lit(" by the same provider")).otherwise(pl.lit("")).alias("who")
)
