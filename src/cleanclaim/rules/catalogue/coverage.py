"""Coverage: what the PFS status indicator, the place of service and the day's other lines say about whether a line
is paid at all. The lists live in ``rules/data/`` (pfs_status_coverage.csv, place_of_service_coverage.csv,
same_day_conflicts.csv), each with its sources and dates."""

from __future__ import annotations

from functools import cache
from importlib import resources

import polars as pl

from cleanclaim.model import Severity
from cleanclaim.refdata import rvus
from cleanclaim.rules.catalogue.eligibility import BILLED_COMBINATIONS, billed_combinations
from cleanclaim.rules.registry import CANNOT_FIRE, Rule, Screen, register
from cleanclaim.rules.tables import SMALL_RUN, Tables, collect, key_may_repeat, lines_with_codes

_KEYS = ["encounter_id", "line", "code"]
_DAY = ["patient_id", "date"]
_THERAPY_MODIFIERS = ["GP", "GO", "GN"]
_IS_THERAPY = (
    (pl.col("therapy") == "always")
    | ((pl.col("therapy") == "sometimes")
       & pl.col("modifiers").list.eval(pl.element().is_in(_THERAPY_MODIFIERS)).list.any())
).fill_null(False)


@cache
def _data(name: str) -> pl.DataFrame:
    text = resources.files("cleanclaim.rules").joinpath("data", name).read_bytes()
    return pl.read_csv(text, comment_prefix="#", infer_schema=False)


def pfs_status_coverage() -> pl.DataFrame:
    """PFS status indicators and the coverage each means (``rules/data/pfs_status_coverage.csv``)."""
    return _data("pfs_status_coverage.csv").with_columns(pl.col("accepted").fill_null("").str.split(";")
                                                         .list.eval(pl.element().filter(pl.element() != "")))


def same_day_conflicts() -> pl.DataFrame:
    """Code pairs kept apart on one day (``rules/data/same_day_conflicts.csv``)."""
    return _data("same_day_conflicts.csv")


def place_of_service_coverage() -> pl.DataFrame:
    """Places of service where a code is not paid (``rules/data/place_of_service_coverage.csv``)."""
    return _data("place_of_service_coverage.csv").with_columns(
        pl.col("places").str.split(";"), pl.col("valid_from").str.to_date())


def _medicare_payers(tables: Tables) -> list[str]:
    return [payer for payer, profile in tables.payers.items() if profile.program == "medicare"]


def _units_text(units: pl.Expr) -> pl.Expr:
    """Units as a person writes them: 2, not 2.0 (fractional units keep their decimals)."""
    return pl.when(units == units.floor()).then(units.cast(pl.Int64).cast(pl.String)).otherwise(units.cast(pl.String))


def status_judged(tables: Tables) -> pl.LazyFrame:
    """Medicare lines whose code has, in the PFS file of their date's year, a status that decides coverage
    (``pfs_status_coverage.csv``), with that status and whether the line's modifiers already acknowledge it.
    code-not-covered leaves these lines to pfs-status-coverage: where the file knows the code, it decides."""
    return tables.memo("pfs-status-judged", _status_judged)


_JUDGED_COLUMNS = ["encounter_id", "line", "code", "year", "status", "meaning", "coverage", "severity",
                   "acknowledged", "gz"]
"""What status_judged keeps of a line: what its two rules read."""


def _status_judged(tables: Tables) -> pl.LazyFrame:
    medicare = _medicare_payers(tables)
    lines = tables.lines.lazy().filter(pl.col("payer").is_in(medicare) & pl.col("date").is_not_null()).with_columns(
        pl.col("date").dt.year().cast(pl.Int64).alias("year"))
    # the years on Series (no plan to build: on one claim a plan costs more than the lines)
    dates = tables.lines.get_column("date").filter(tables.lines.get_column("payer").is_in(medicare))
    years = sorted(dates.drop_nulls().dt.year().unique().to_list())
    none = pl.LazyFrame(schema={**tables.lines.select("encounter_id", "line", "code").schema, "year": pl.Int64,
                                **dict.fromkeys(("status", "meaning", "coverage", "severity"), pl.String),
                                "acknowledged": pl.Boolean, "gz": pl.Boolean})
    if not years:
        return none
    # the (code, year) pairs whose status decides coverage: a few rows, joined to the lines once
    deciding = pl.concat([
        rvus(year).filter(pl.col("modifier").fill_null("") == "").select("code", "status")
        .with_columns(pl.lit(year, dtype=pl.Int64).alias("year"))
        for year in years
    ], how="vertical_relaxed").unique(subset=["code", "year"], keep="first").join(
        pfs_status_coverage(), on="status", how="inner")
    if tables.lines.height > SMALL_RUN:
        # on a large run, the lines of a code some year's file decides only (often none: a run of covered codes);
        # where the eligibility screens have listed the run's billed (code, discipline, payer), only the codes a
        # Medicare payer's lines bill (none, when those codes are all billed to other payers)
        deciding_codes = set(deciding.get_column("code").drop_nulls().to_list())
        if tables.has_memo(BILLED_COMBINATIONS):
            billed = sorted({code for code, _, payer in billed_combinations(tables)
                             if code is not None and payer in medicare and code in deciding_codes})
        else:
            billed = sorted(deciding_codes & tables.values("code"))
        if not billed:
            return none
        lines = lines.filter(pl.col("code").is_in(pl.lit(pl.Series(billed, dtype=pl.String)).implode()))
    return (
        lines.join(deciding.lazy(), on=["code", "year"], how="inner", maintain_order="left")
        .with_columns(
            pl.col("modifiers").list.set_intersection(pl.col("accepted")).list.len().gt(0).alias("acknowledged"),
            pl.col("modifiers").list.contains("GZ").alias("gz"),
        )
        .select(_JUDGED_COLUMNS)
        .pipe(collect)
        .lazy()
    )


# ---- PFS status indicator ---------------------------------------------------------------------------------------
@register
class PfsStatusCoverage(Rule):
    """A Medicare line whose PFS status indicator says it is not paid as billed.

    What it checks:
        For payers whose profile program is Medicare, each line's code is looked up in the PFS relative value file
        of its date's year (the bundled CY2025 subset, or an imported PPRRVU file; a year without the code is not
        judged). Status N (non-covered), E (excluded by regulation) or X (statutory exclusion) without GY, GA or GX
        is an error (with only GZ, a warning: GZ is for a reasonable-and-necessary denial, not a non-covered
        service); B or P (bundled) is a warning whatever the modifiers; I (not valid for Medicare) is an error;
        C (contractor-priced) is info. The status meanings are ``rules/data/pfs_status_coverage.csv``.

    Why it matters:
        Medicare denies a non-covered line (CARC 96 or 204) and, without GY (or GA with a signed ABN), the claim
        does not show that the patient may be billed; a bundled line is paid $0 (CARC 97); a status-I code is
        rejected and must be billed with the code Medicare uses; a contractor-priced line has no national amount,
        so its payment is unknown until the MAC prices it.

    Example:
        payer: medicare
        date: 2025-06-02
        lines: [{code: "99401", units: 1, minutes: 15}]

    Use instead:
        payer: medicare
        date: 2025-06-02
        lines: [{code: "99401", modifiers: [GY], units: 1, minutes: 15}]   # the patient is billed; Medicare denies

    References:
        CMS National Physician Fee Schedule Relative Value File (RVU25A) status code definitions; CMS Pub. 100-04
        (Medicare Claims Processing Manual) Ch. 30 s40.3.6 (GA) and s90 (GX, GY, GZ); Ch. 12 s20.
    """

    id = "CC703"
    slug = "pfs-status-coverage"
    family = "eligibility"
    severity = Severity.ERROR
    message = "{code} has PFS status {status} in the CY{year} relative value file ({meaning}){modifier_text}"
    fix = "{remedy}"
    references = ("CMS PFS Relative Value File status codes (RVU25A documentation)",
                  "CMS Pub. 100-04 Ch. 30 s40.3.6, s90 (GA, GX, GY, GZ)")

    def screen_for(self, tables: Tables) -> Screen | None:
        medicare = set(_medicare_payers(tables))
        if not medicare or tables.values("payer").isdisjoint(medicare):
            return CANNOT_FIRE
        return None

    def check(self, tables: Tables) -> pl.DataFrame | pl.LazyFrame:
        judged = status_judged(tables).filter(~pl.col("acknowledged"))
        non_covered = pl.col("coverage") == "non-covered"
        return judged.select(
            *_KEYS, "status", "year", "meaning",
            pl.when(non_covered & pl.col("gz"))
            .then(pl.lit(", and it carries GZ, which is for a service Medicare may find not reasonable and necessary"))
            .when(non_covered).then(pl.lit(", and the line carries no GY, GA or GX"))
            .otherwise(pl.lit("")).alias("modifier_text"),
            pl.when(non_covered & pl.col("gz")).then(pl.lit(Severity.WARNING.value))
            .otherwise(pl.col("severity")).alias("severity"),
            pl.when(non_covered)
            .then(pl.format("Add GY (the service is not a Medicare benefit; Medicare denies it and the patient may be "
                            "billed), or GA if a signed ABN is on file because Medicare might cover it; or do not "
                            "bill {} to Medicare.", pl.col("code")))
            .when(pl.col("coverage") == "bundled")
            .then(pl.format("Do not expect payment for {}: Medicare pays it only within another service of the day. "
                            "Remove the line unless the payer asks for it to be reported.", pl.col("code")))
            .when(pl.col("coverage") == "not-valid")
            .then(pl.format("Bill the code Medicare uses for this service instead of {} (see the HCPCS G-code or the "
                            "MAC's article).", pl.col("code")))
            .otherwise(pl.format("Check the MAC's fee for {} and keep the documentation it may ask for; the amount is "
                                 "decided claim by claim.", pl.col("code"))).alias("remedy"),
        ).sort("encounter_id", "line")


# ---- place of service -------------------------------------------------------------------------------------------
@register
class PlaceOfServiceNotCovered(Rule):
    """A Medicare line billed at a place of service where the code is not paid on a professional claim.

    What it checks:
        ``rules/data/place_of_service_coverage.csv`` (per payer program, with dates): therapy lines (an
        always-therapy code, or a line with GP, GO or GN) with POS 31, a skilled nursing facility Part A stay; and
        alcohol and depression screening, alcohol counseling and intensive behavioral therapy (G0442-G0447, G0473)
        with a place that the NCDs say is not a primary care setting (21 inpatient hospital, 23 emergency room,
        24 ambulatory surgical center, 31 SNF, 34 hospice, 61 inpatient rehabilitation facility).

    Why it matters:
        Therapy for a resident in a Part A SNF stay is under SNF consolidated billing: only the SNF bills Medicare
        and pays the outside therapist, so the therapist's own claim is denied (CARC 109). The preventive
        counseling codes are covered only in a primary care setting; elsewhere they are denied (CARC 58, place of
        service not allowed).

    Example:
        payer: medicare
        place_of_service: "31"
        lines: [{code: "97110", modifiers: [GP], units: 2, minutes: 30}]

    Use instead:
        # bill the SNF for the service under your agreement with it; the SNF puts it on its consolidated claim

    References:
        Social Security Act s1888(e)(2)(A); 42 CFR 411.15(p); CMS Pub. 100-04 Ch. 6 s10, s20 (SNF consolidated
        billing); NCD 210.8, 210.9, 210.11, 210.12 (primary care setting).
    """

    id = "CC704"
    slug = "place-of-service-not-covered"
    family = "eligibility"
    severity = Severity.ERROR
    message = "{code} is billed with place of service {place_of_service}: {reason}"
    fix = "{remedy}"
    references = ("SSA s1888(e)(2)(A); 42 CFR 411.15(p); CMS Pub. 100-04 Ch. 6 s10, s20",
                  "NCD 210.8, 210.9, 210.11, 210.12 (primary care setting)")

    def screen_for(self, tables: Tables) -> Screen | None:
        places = {place for row in place_of_service_coverage().get_column("places").to_list() for place in row}
        if tables.values("place_of_service").isdisjoint(places):
            return CANNOT_FIRE
        return None

    def check(self, tables: Tables) -> pl.DataFrame | pl.LazyFrame:
        programs = pl.DataFrame({"payer": list(tables.payers),
                                 "program": [p.program for p in tables.payers.values()]},
                                schema={"payer": pl.String, "program": pl.String})
        rows = place_of_service_coverage().lazy().explode("places").rename({"places": "place_of_service"})
        lines = (lines_with_codes(tables).lazy().join(programs.lazy(), on="payer", how="inner")
                 .with_columns(_IS_THERAPY.alias("is_therapy")))
        in_range = pl.when(pl.col("first") == "therapy").then(pl.col("is_therapy")).otherwise(
            (pl.col("code") >= pl.col("first")) & (pl.col("code") <= pl.col("last")))
        return (
            lines.join(rows, on=["program", "place_of_service"], how="inner")
            .filter(in_range & (pl.col("valid_from").is_null() | (pl.col("date") >= pl.col("valid_from"))))
            .unique(subset=["encounter_id", "line"], keep="first", maintain_order=True)
            .select(
                *_KEYS, "place_of_service", "reason", pl.col("severity"),
                pl.when(pl.col("first") == "therapy")
                .then(pl.lit("If the patient was in a Part A SNF stay, bill the SNF under your arrangement with it; "
                             "if the stay had ended or the patient lives in a non-certified part of the facility, "
                             "correct the place of service (32 nursing facility, 12 home)."))
                .otherwise(pl.format("Furnish and bill {} in a primary care setting (office 11, clinic 49, FQHC 50, "
                                     "RHC 72), or do not bill it for this visit.", pl.col("code"))).alias("remedy"),
                pl.col("source").str.split("; ").alias("references"),
            )
            .sort("encounter_id", "line")
        )


# ---- same-day conflicts -----------------------------------------------------------------------------------------
def _ranged_codes(codes: frozenset[str]) -> pl.Series:
    """The codes among ``codes`` that some row of ``same_day_conflicts.csv`` names (in either of its ranges)."""
    rows = same_day_conflicts()
    bounds = [(first, last) for side in ("a", "b")
              for first, last in zip(rows.get_column(f"first_{side}").to_list(),
                                     rows.get_column(f"last_{side}").to_list(), strict=True)
              if first is not None and last is not None]
    return pl.Series("code", sorted(code for code in codes if any(first <= code <= last for first, last in bounds)),
                     dtype=pl.String)


_MAY_CONFLICT = key_may_repeat(_DAY) | (pl.col("units") > 1)
"""Among the lines of a listed code, those that can take part in a finding: a pair needs two of them on one patient's
day, and a code once a day either a second line that day or more than one unit on its one line. Whole days are kept
(the day's unit total and line order are the plain plan's). On a large run most days have one listed line of one
unit, and every join after this saw them all; the day is compared by its hash (a collision only keeps a day the
joins then judge)."""


@register
class SameDayFamilyConflict(Rule):
    """Two codes of one family billed for a patient on one day where only one belongs.

    What it checks:
        ``rules/data/same_day_conflicts.csv``: pairs kept apart on one day (99406 with 99407; 0591T with 0592T; a
        PT evaluation 97161-97163 with the re-evaluation 97164, OT 97165-97167 with 97168; two evaluation
        complexities) and codes reported once a day (96156: more than one unit in total on the day, on one line or
        several, on one claim or several).

    Why it matters:
        The second line is denied as mutually exclusive or over the day's limit (CARC 97, 151 or 119), and a pair
        such as an evaluation with a re-evaluation reads to an auditor as billing the same assessment twice.

    Example:
        lines: [{code: "97161", modifiers: [GP], units: 1}, {code: "97164", modifiers: [GP], units: 1}]

    Use instead:
        lines: [{code: "97161", modifiers: [GP], units: 1}]

    References:
        CMS Pub. 100-02 Ch. 15 s220.3.C (evaluation and re-evaluation); NCD 210.4, 210.4.1 (tobacco counseling by
        time); NCCI PTP practitioner edits; AMA CPT 2020 HBAI guidelines (96156 once a day); each row of the data file
        names its source.
    """

    id = "CC706"
    slug = "same-day-family-conflict"
    family = "eligibility"
    severity = Severity.ERROR
    message = "{code} is billed for the patient on {date} with {other_text}: {reason}"
    fix = "{remedy}"
    references = ("CMS Pub. 100-02 Ch. 15 s220.3.C", "NCD 210.4 / 210.4.1", "NCCI PTP practitioner edits",
                  "AMA CPT 2020 HBAI guidelines (96156 once a day)")

    def screen_for(self, tables: Tables) -> Screen | None:
        codes = tables.values("code")
        rows = same_day_conflicts()
        for first, last in zip(rows.get_column("first_a").to_list(), rows.get_column("last_a").to_list(),
                               strict=True):
            if any(first <= code <= last for code in codes):
                return None
        return CANNOT_FIRE

    def check(self, tables: Tables) -> pl.DataFrame | pl.LazyFrame:
        rows = same_day_conflicts().with_row_index("row_no").lazy()
        lines = tables.lines.lazy().select(*_KEYS, *_DAY, "units")
        large = tables.lines.height > SMALL_RUN
        if large:
            # only the lines of a code in some row's range take part: kept first, so the joins below see them only
            ranged = _ranged_codes(tables.values("code"))
            lines = lines.filter(pl.col("code").is_in(pl.lit(ranged).implode())).filter(_MAY_CONFLICT)
            codes = pl.LazyFrame({"code": ranged}, schema={"code": pl.String})

        def within(first: str, last: str, column: str = "code") -> pl.Expr:
            return (pl.col(column) >= pl.col(first)) & (pl.col(column) <= pl.col(last))

        def in_range(kind: pl.LazyFrame, first: str, last: str) -> pl.LazyFrame:
            # each line with the rows whose range holds its code (each line, then its rows by number); on a large
            # run the ranges are compared once per distinct code of the run instead of once per line (Python's
            # string order is Polars': code points, as UTF-8 bytes compare), the same rows in order
            if not large:
                return lines.join(kind, how="cross").filter(within(first, last))
            member = codes.join(kind, how="cross").filter(within(first, last))
            return lines.join(member.sort("row_no"), on="code", how="inner", maintain_order="left_right")

        pairs = rows.filter(pl.col("kind") == "pair")
        a_side = (in_range(pairs, "first_a", "last_a")
                  .select(*_DAY, "row_no", pl.col("encounter_id").alias("a_encounter"), pl.col("line").alias("a_line"),
                          pl.col("code").alias("other_code")))
        same_range = (pl.col("first_a") == pl.col("first_b")) & (pl.col("last_a") == pl.col("last_b"))
        paired = (
            in_range(pairs, "first_b", "last_b")
            .join(a_side, on=[*_DAY, "row_no"], how="inner")
            .filter(~((pl.col("a_encounter") == pl.col("encounter_id")) & (pl.col("a_line") == pl.col("line"))))
            # within one range, flag the later of two different codes once
            .filter(~same_range | ((pl.col("other_code") != pl.col("code"))
                                   & ((pl.col("a_encounter") < pl.col("encounter_id"))
                                      | ((pl.col("a_encounter") == pl.col("encounter_id"))
                                         & (pl.col("a_line") < pl.col("line"))))))
            .group_by(*_KEYS, "date", "row_no", maintain_order=True)
            .agg(pl.col("other_code").unique(maintain_order=True), pl.col("severity").first(),
                 pl.col("reason").first(), pl.col("source").first())
            .select(*_KEYS, "date", "severity", "reason", "source",
                    pl.format("{}", pl.col("other_code").list.join(", ")).alias("other_text"),
                    pl.format("Bill one of {} and {} for the day, the one the record supports; remove line {}.",
                              pl.col("other_code").list.join(", "), pl.col("code"), pl.col("line")).alias("remedy"))
        )
        once = rows.filter(pl.col("kind") == "once_per_day")
        day_units = (
            in_range(once, "first_a", "last_a")
            .with_columns(pl.col("units").sum().over(*_DAY, "row_no").alias("day_units"))
            .filter(pl.col("day_units") > 1)
            # numbered within the days kept (whole days: the filter is per day), not within every day
            .with_columns(pl.int_range(pl.len()).over(*_DAY, "row_no", order_by=["encounter_id", "line"])
                          .alias("order"))
            # flag each line after the first, or the single line that carries more than one unit
            .filter((pl.col("order") > 0) | (pl.col("units") > 1))
            .select(*_KEYS, "date", "severity", "reason", "source",
                    pl.format("{} unit(s) of {} in total that day", _units_text(pl.col("day_units")), pl.col("code"))
                    .alias("other_text"),
                    pl.format("Bill {} once for the day (1 unit); combine the day's assessment time in one line.",
                              pl.col("code")).alias("remedy"))
        )
        return (
            pl.concat([paired, day_units], how="vertical_relaxed")
            .with_columns(pl.col("date").cast(pl.String), pl.col("source").str.split("; ").alias("references"))
            .sort("encounter_id", "line")
        )
