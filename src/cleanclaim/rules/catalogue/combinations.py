"""Code combinations on one day: add-ons need their base code, and CPT keeps some services apart."""

from __future__ import annotations

from functools import cache

import polars as pl

from cleanclaim.codebook import CodeBook
from cleanclaim.model import Severity
from cleanclaim.rules.catalogue.time_units import _time_rules
from cleanclaim.rules.registry import Rule, register
from cleanclaim.rules.tables import Tables, codes_frame, lines_with_codes

_KEYS = ["encounter_id", "line", "code"]
_DAY = ["patient_id", "date"]


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
        APA Services 2020 HBAI guide (96159 with 96158); AMA CPT add-on code convention; CARC 107.
    """

    id = "CC309"
    slug = "addon-without-base"
    family = "time and units"
    severity = Severity.ERROR
    message = "{code} is an add-on to {base_code}, but no {base_code} line is billed for this patient on {date}"
    fix = ("Bill {base_code} for the first {typical_minutes} minutes and {code} only for the time beyond it "
           "(or remove {code}).")
    references = ("APA Services: HBAI billing guide 2020", "AMA CPT add-on codes", "CARC 107")

    def check(self, tables: Tables) -> pl.DataFrame | pl.LazyFrame:
        if "addon" not in _time_rules(tables):
            return _NO_ADDON_ROWS
        lines = lines_with_codes(tables).lazy()
        # every billed code of the patient's day, as a possible base (duplicates do not change an anti join)
        billed = lines.select(*_DAY, pl.col("code").alias("base_code"))
        return (
            lines.filter(pl.col("time_rule") == "addon").drop("typical_minutes")
            .join(billed, on=[*_DAY, "base_code"], how="anti")
            .join(_base_times(tables.book).lazy(), on="base_code", how="left")
            .select(*_KEYS, "base_code", "date", "typical_minutes")
        )


_NO_ADDON_ROWS = pl.DataFrame(schema={"encounter_id": pl.String, "line": pl.Int32, "code": pl.String,
                                      "base_code": pl.String, "date": pl.Date, "typical_minutes": pl.Int64})


@cache
def _base_times(book: CodeBook) -> pl.DataFrame:
    """Each code's typical minutes, as the base of an add-on (a constant of the code book, built once)."""
    return codes_frame(book).select(pl.col("code").alias("base_code"), "typical_minutes").unique("base_code")


# Services CPT keeps apart from health behavior assessment and intervention on the same day (healthcare-wiki summary
# of the 2020 HBAI guidelines): psychiatric services 90785-90899 and adaptive behavior services 97151-97158.
_PSYCHIATRIC = (90785, 90899)
_ADAPTIVE = (97151, 97158)


def _in_range(column: str, bounds: tuple[int, int]) -> pl.Expr:
    number = pl.col(column).cast(pl.Int64, strict=False)
    return number.is_between(*bounds)


_HBAI_BOUNDS = (96156, 96171)


def _hbai_codes(codes: pl.Series) -> pl.Series:
    """The Series twin of ``_HBAI``: which codes are health behavior assessment or intervention (96156-96171)."""
    return codes.cast(pl.Int64, strict=False).is_between(*_HBAI_BOUNDS)


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
        CPT 2020 HBAI guidelines as summarised by healthcare-wiki.com (HBAI with psychiatric and adaptive behavior
        services; HBAI with 99401-99412 by the same provider); APA Services HBAI guide 2020.
    """

    id = "CC705"
    slug = "hbai-same-day-conflict"
    family = "eligibility"
    severity = Severity.WARNING
    message = "{code} (health behavior) is billed on {date} with {other_code} ({other_kind}) for the same patient{who}"
    fix = "Report the predominant service only, or document why both were separate services on that day."
    references = ("healthcare-wiki.com: HBAI assessment codes and rules (2020 CPT guidelines)",
                  "APA Services: HBAI billing guide 2020")

    def check(self, tables: Tables) -> pl.DataFrame | pl.LazyFrame:
        # Most claims have no HBAI line: a test on the code column itself (three Series operations, ~25 us on one
        # claim) returns no rows at once, where the plan's self-join would cost the engine far more. The test is the
        # plan's own first filter, so the answer is exact.
        if not _hbai_codes(tables.lines.get_column("code")).any():
            return _NO_HBAI_ROWS
        lines = tables.lines.lazy().select(*_KEYS, *_DAY, "provider_npi")
        # every line of the day is paired (filtering the conflicting codes first costs more than it saves on one
        # claim); the pairs that are not a conflict get no kind and are dropped
        others = lines.select(*_DAY, pl.col("provider_npi").alias("other_npi"), pl.col("code").alias("other_code"))
        return (
            lines.filter(_HBAI).join(others, on=_DAY, how="inner")
            .with_columns(_OTHER_KIND)
            .filter(pl.col("other_kind").is_not_null())
            .with_columns(_WHO)
            .unique(subset=["encounter_id", "line", "other_code"], maintain_order=True)
            .select(*_KEYS, "date", "other_code", "other_kind", "who")
        )


_HBAI = _in_range("code", _HBAI_BOUNDS)
_NO_HBAI_ROWS = pl.DataFrame(schema={"encounter_id": pl.String, "line": pl.Int32, "code": pl.String, "date": pl.Date,
                                     "other_code": pl.String, "other_kind": pl.String, "who": pl.String})
_PREVENTIVE = (99401, 99412)
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
