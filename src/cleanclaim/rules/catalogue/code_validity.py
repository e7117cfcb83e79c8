"""Code validity: is each billed code a real code, in force on its date of service, and payable as billed?"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cache

import polars as pl

from cleanclaim.codebook import CodeBook
from cleanclaim.model import Severity
from cleanclaim.rules.registry import CANNOT_FIRE, Rule, Screen, register
from cleanclaim.rules.tables import SMALL_RUN, Tables, codes_frame, collect, lines_with_codes

_FORMAT = r"^([0-9]{5}|[0-9]{4}[FTU]|[A-V][0-9]{4})$"
"""ASCII digits only: Polars' (Rust's) ``\\d`` and Python's take other scripts' digits (Arabic-Indic ٩٧١١٠), which no
code set has."""
_WELL_FORMED = re.compile(r"[0-9]{5}|[0-9]{4}[FTU]|[A-V][0-9]{4}")
"""``_FORMAT`` for screens, in Python (the same ASCII classes), so a code it accepts is one ``_FORMAT`` accepts too."""
_KEYS = ["encounter_id", "line", "code"]
_NOT_IN_FORCE = pl.col("kind").is_null()
"""On the screen lines: no code-book version in force on the line's date (unknown, deleted or not yet effective)."""


def code_status(tables: Tables) -> pl.DataFrame:
    """The lines whose code is not valid on their date, with ``status`` deleted / not-yet-effective / unknown /
    invalid-format and the deleted or future version's dates and replacements, computed over whole columns."""
    return tables.memo("code_status", _code_status)


def _code_status(tables: Tables) -> pl.DataFrame:
    lines = lines_with_codes(tables).lazy().select(*tables.lines.columns,
                                                   pl.col("kind").is_not_null().alias("in_force"))
    # A line's status depends only on its code, date and whether a version is in force then: on a large run judged
    # once per distinct combination (a month of claims has a few thousand), and only the lines of an invalid one
    # kept; a claim's few lines are judged as they are.
    large = tables.lines.height > SMALL_RUN
    judged = (
        (lines.select("code", "date", "in_force").unique() if large else lines)
        .join(_versions(tables.book).lazy(), on="code", how="left")
        .with_columns(
            pl.when(~pl.col("code").str.contains(_FORMAT)).then(pl.lit("invalid-format"))
            .when(pl.col("in_force")).then(pl.lit("valid"))
            .when(pl.col("first_effective").is_null() & pl.col("last_deleted").is_null()
                  & pl.col("open_ended").is_null()).then(pl.lit("unknown"))
            .when(pl.col("first_effective").is_not_null() & (pl.col("date") < pl.col("first_effective")))
            .then(pl.lit("not-yet-effective"))
            .otherwise(pl.lit("deleted"))
            .alias("status")
        )
        .filter(pl.col("status") != "valid")
    )
    if not large:
        return collect(judged)
    return collect(lines.join(judged, on=["code", "date", "in_force"], how="inner", nulls_equal=True,
                              maintain_order="left"))


@cache
def _versions(book: CodeBook) -> pl.DataFrame:
    """Per code: the first effective date, last deletion, whether a version is open-ended, the last replacements,
    summary and billers (built once per code book)."""
    return codes_frame(book).group_by("code").agg(
        pl.col("effective").min().alias("first_effective"),
        pl.col("deleted").max().alias("last_deleted"),
        pl.col("deleted").is_null().any().alias("open_ended"),
        pl.col("replaced_by").last().alias("replacements"),
        pl.col("summary").last().alias("last_summary"),
        pl.col("billers").last().alias("last_billers"),
    )


@dataclass(frozen=True)
class _BookFacts:
    """What the code-validity screens ask of the code book about a billed code, built once per code book."""

    ever_deleted: frozenset[str]
    """Codes with a version that has a deletion date: only they can be out of force after their first date."""
    first_effective: dict[str, dt.date]
    """Each code's earliest effective date (codes whose versions all lack one are left out)."""
    medicare_equivalent: frozenset[str]
    """Codes with a version that names a Medicare code."""


@cache
def _book_facts(book: CodeBook) -> _BookFacts:
    first: dict[str, dt.date] = {}
    for entry in book:
        if entry.effective is not None and (entry.code not in first or entry.effective < first[entry.code]):
            first[entry.code] = entry.effective
    return _BookFacts(
        ever_deleted=frozenset(e.code for e in book if e.deleted is not None),
        first_effective=first,
        medicare_equivalent=frozenset(e.code for e in book if e.medicare_code is not None),
    )


def _has_nulls(tables: Tables, column: str) -> bool:
    return tables.lines.get_column(column).null_count() > 0


@register
class InvalidCodeFormat(Rule):
    """A billed code whose shape fits no code set.

    What it checks:
        Every line's procedure code against the code-set formats: CPT Category I (five digits), Category II (four
        digits and F), Category III (four digits and T), PLA (four digits and U) and HCPCS Level II (a letter and four
        digits).

    Why it matters:
        A malformed code is rejected by the clearinghouse before the payer sees the claim; nothing on the line is paid
        and the claim comes back for correction, costing days.

    Example:
        lines: [{code: "9711", units: 1}]

    Use instead:
        lines: [{code: "97110", units: 1}]

    References:
        AMA CPT code-set structure; CMS HCPCS Level II coding procedures.
    """

    id = "CC101"
    slug = "invalid-code-format"
    family = "code validity"
    severity = Severity.ERROR
    message = ("{code} is not a valid procedure code format "
               "(expected 5 digits, 4 digits + F/T/U, or a letter + 4 digits)")
    fix = ("Correct the code: CPT codes are 5 digits (97110), Category II/III end in F/T (1036F, 0592T), "
           "HCPCS is a letter and 4 digits (G0447).")
    references = ("AMA CPT code-set structure", "CMS HCPCS Level II coding procedures")

    def screen_for(self, tables: Tables) -> Screen | None:
        # a code _WELL_FORMED accepts, _FORMAT accepts; a null code is never flagged (its test is null)
        if all(_WELL_FORMED.fullmatch(code) for code in tables.values("code")):
            return CANNOT_FIRE
        return None

    def check(self, tables: Tables) -> pl.LazyFrame:
        return tables.lines.lazy().filter(~pl.col("code").str.contains(_FORMAT)).select(_KEYS)


@register
class UnknownCode(Rule):
    """A well-formed code that is not in cleanclaim's code book, so it could not be checked.

    What it checks:
        Lines whose code has a valid shape but no entry in the bundled code book.

    Why it matters:
        cleanclaim cannot say whether the code exists on the date of service, how its time converts to units or who may
        bill it; a typo that happens to look valid (97351 for 97531) is denied as an invalid procedure code (CARC 181).

    Example:
        lines: [{code: "97531", units: 1}]

    Use instead:
        lines: [{code: "97530", units: 1}]

    References:
        cleanclaim code book (src/cleanclaim/codebook/codes.csv); CARC 181 (procedure code invalid on the date of
        service).
    """

    id = "CC102"
    slug = "unknown-code"
    family = "code validity"
    severity = Severity.WARNING
    message = "{code} is not in cleanclaim's code book: its validity on {date}, time rule and edits were not checked"
    fix = ("Check the code against the current CPT/HCPCS release; if it is right, add it to a local code book "
           "or ignore this rule for it.")
    references = ("cleanclaim code book (codebook/codes.csv)",)

    def screen_for(self, tables: Tables) -> Screen | None:
        # "unknown" is a code with no version in the book at all (a null code, which joins nothing, included)
        if not _has_nulls(tables, "code") and all(code in tables.book for code in tables.values("code")):
            return CANNOT_FIRE
        return None

    def check(self, tables: Tables) -> pl.LazyFrame:
        return code_status(tables).lazy().filter(pl.col("status") == "unknown").select(*_KEYS, "date")


@register
class DeletedCode(Rule):
    """A code that was deleted before the date of service, with its replacement.

    What it checks:
        Lines whose code existed but was no longer valid on the line's date of service (96150 and 96152 were deleted on
        2020-01-01; 99201 on 2021-01-01).

    Why it matters:
        The payer denies the line as invalid for the date of service (CARC 181) and the time spent is not paid. Articles
        still recommend 96150/96152 to health coaches: they are gone, and their replacements are not coaching codes.

    Example:
        date: 2026-03-02
        lines: [{code: "96152", units: 2}]

    Use instead:
        date: 2026-03-02
        lines: [{code: "96158", units: 1}]   # by a clinical psychologist or CSW, for a physical health problem

    References:
        The AMA CPT code set of the year (deleted codes and their replacements); for HBAI, CY2020 PFS final rule,
        CMS-1715-F (84 FR 62568): 96156-96171 replace 96150-96155 from 2020-01-01; CARC 181.
    """

    id = "CC103"
    slug = "deleted-code"
    family = "code validity"
    severity = Severity.ERROR
    message = "{code} was deleted on {last_deleted}; it is not valid on the date of service {date}"
    fix = "Report {replacements} instead ({replacement_summary}).{who_may_bill}"
    references = ("AMA CPT code set (deletions by year)",
                  "CY2020 PFS final rule, CMS-1715-F (84 FR 62568): HBAI 96156-96171 replace 96150-96155",
                  "CARC 181 (invalid procedure code for the date)")

    def screen_for(self, tables: Tables) -> Screen | None:
        # Versions without a deletion date stay in force from their first date on, so a code none of whose versions
        # was deleted is out of force only before that date (not-yet-effective). A line without a date is in force
        # nowhere and counts as deleted. Either way the line has no version in force.
        if not _has_nulls(tables, "date") and not tables.values("code") & _book_facts(tables.book).ever_deleted:
            return CANNOT_FIRE
        return Screen(lines=_NOT_IN_FORCE)

    def check(self, tables: Tables) -> pl.DataFrame:
        status = code_status(tables)
        if not (status.get_column("status") == "deleted").any():
            return status.clear().select(_KEYS)
        deleted = status.filter(pl.col("status") == "deleted")
        versions = _versions(tables.book)
        summary_of = dict(versions.select("code", "last_summary").iter_rows())
        billers_of = {code: set(billers) for code, billers in versions.select("code", "last_billers").iter_rows()}

        def who_may_bill(codes: list[str], discipline: str | None) -> str:
            # The replacement of a deleted code is often not the biller's own code (a coach's 96150 -> 96156).
            allowed = sorted(set().union(*(billers_of.get(c, set()) for c in codes))) if codes else []
            if not allowed or "*" in allowed or (discipline or "").lower() in {a.lower() for a in allowed}:
                return ""
            text = f" Note: {' + '.join(codes)} may be billed only by {', '.join(allowed)}, not by a {discipline}"
            return text + (": coaching is reported with 0591T-0593T." if discipline == "coach" else ".")

        # the replacements are the code's (its last version's), so on many lines the texts are written once per
        # code and discipline, not once per line
        by = ["code", "provider_discipline"]
        many = deleted.height > SMALL_RUN
        texts = (deleted.select(*by, "replacements").unique(subset=by, keep="first") if many else deleted).select(
            *by,
            pl.col("replacements").map_elements(
                lambda codes: "; ".join(f"{c}: {summary_of.get(c, 'see the current code book')}" for c in codes),
                return_dtype=pl.String,
            ).alias("replacement_summary"),
            pl.struct("replacements", "provider_discipline").map_elements(
                lambda row: who_may_bill(row["replacements"], row["provider_discipline"]), return_dtype=pl.String,
            ).alias("who_may_bill"),
        )
        rows = deleted.with_columns(pl.col("replacements").list.join(" + ").alias("replacements"))
        rows = (rows.join(texts, on=by, how="left", nulls_equal=True, maintain_order="left") if many
                else rows.hstack(texts.drop(by)))
        return rows.with_columns(
            pl.when(pl.col("replacements") == "")
            .then(pl.lit("No direct replacement: choose the current code that describes the service."))
            .otherwise(pl.lit(None, dtype=pl.String)).alias("fix")
        ).select(*_KEYS, "date", "last_deleted", "replacements", "replacement_summary", "who_may_bill", "fix")


@register
class CodeNotYetEffective(Rule):
    """A code billed for a date of service before the code existed.

    What it checks:
        Lines dated before the code's first valid date (97550 caregiver training before 2024-01-01; 0591T before
        2020-01-01; G0019 before 2024-01-01).

    Why it matters:
        The payer denies the line as invalid on the date of service; usually the date or the code is a typo.

    Example:
        date: 2023-11-02
        lines: [{code: "97550", units: 1}]

    Use instead:
        date: 2024-01-15
        lines: [{code: "97550", units: 1}]

    References:
        CPT annual release (new codes take effect January 1); CARC 181.
    """

    id = "CC104"
    slug = "code-not-yet-effective"
    family = "code validity"
    severity = Severity.ERROR
    message = "{code} takes effect on {first_effective}; it is not valid on the date of service {date}"
    fix = "Check the date of service, or report the code that was in force on {date}."
    references = ("CPT annual release", "CARC 181 (invalid procedure code for the date)")

    def screen_for(self, tables: Tables) -> Screen | None:
        # a line dated before its code's first effective date: at least the batch's earliest date is (null dates
        # never compare as earlier), and the line has no version in force
        dates = tables.values("date")
        first = _book_facts(tables.book).first_effective
        earliest = min(dates, default=None)
        if earliest is None or not any(earliest < first[code] for code in tables.values("code") if code in first):
            return CANNOT_FIRE
        return Screen(lines=_NOT_IN_FORCE)

    def check(self, tables: Tables) -> pl.LazyFrame:
        return (code_status(tables).lazy().filter(pl.col("status") == "not-yet-effective")
                .select(*_KEYS, "date", "first_effective"))


@register
class CategoryIINotPayable(Rule):
    """A CPT Category II (quality tracking) code billed with a charge.

    What it checks:
        Lines with a Category II code (four digits and F, e.g. 1036F) that carry a charge above $0.01.

    Why it matters:
        Category II codes track quality measures and are never paid. A charge on them inflates the claim total and the
        patient's statement, and some payers reject the claim.

    Example:
        lines: [{code: "4004F", units: 1, charge: 25.00}]

    Use instead:
        lines: [{code: "4004F", units: 1, charge: 0.00}]   # beside the payable service it tracks

    References:
        AMA CPT Category II codes (performance measurement, not payable); CMS National Physician Fee Schedule Relative
        Value File status code definitions (status M: measurement codes, used for reporting only, no payment).
    """

    id = "CC105"
    slug = "category-ii-not-payable"
    family = "code validity"
    severity = Severity.WARNING
    message = "{code} is a Category II tracking code and is never paid, but carries a charge of ${charge}"
    fix = "Report {code} with a $0.00 (or $0.01) charge, beside the payable service it tracks."
    references = ("AMA CPT Category II codes",
                  "CMS PFS Relative Value File status M (measurement codes: reporting only, not paid)")

    def screen_for(self, tables: Tables) -> Screen | None:
        # ^[0-9]{4}F$ ends in F (``$`` is the end of the text in Polars); the charge test is the rule's own
        if not any(code.endswith("F") for code in tables.values("code")):
            return CANNOT_FIRE
        return Screen(lines=pl.col("code").str.ends_with("F") & (pl.col("charge").fill_null(0) > 0.01))

    def check(self, tables: Tables) -> pl.LazyFrame:
        return tables.lines.lazy().filter(
            pl.col("code").str.contains(r"^[0-9]{4}F$") & (pl.col("charge").fill_null(0) > 0.01)
        ).select(*_KEYS, pl.col("charge").round(2))


@register
class CategoryIIICode(Rule):
    """A Category III (emerging service) code: payable only where the payer covers it.

    What it checks:
        Lines with a Category III code (four digits and T, e.g. 0591T-0593T for health and well-being coaching).

    Why it matters:
        Category III codes have no national Medicare payment and many commercial payers do not cover them. Billing one
        without checking coverage leads to denials (CARC 96/204) and patient balances nobody agreed to.

    Example:
        payer: medicare
        lines: [{code: "0592T", units: 1}]   # coverage not checked

    Use instead:
        payer: commercial   # a payer whose policy covers 0592T; keep the policy with the claim file

    References:
        AMA CPT Category III codes; CMS National Physician Fee Schedule Relative Value File (PPRRVU25_JAN): 0591T-0593T
        have status C (contractor-priced: no national amount, the MAC prices each claim).
    """

    id = "CC106"
    slug = "category-iii-code"
    family = "code validity"
    severity = Severity.INFO
    message = ("{code} is a Category III code: payment is decided by each payer "
               "(Medicare prices it claim by claim)")
    fix = "Confirm the payer covers {code} and keep its policy with the claim; expect to send documentation."
    references = ("AMA CPT Category III codes",
                  "CMS PFS Relative Value File PPRRVU25_JAN: 0591T-0593T status C (contractor-priced)")

    def screen_for(self, tables: Tables) -> Screen | None:
        # ^[0-9]{4}T$ ends in T
        return None if any(code.endswith("T") for code in tables.values("code")) else CANNOT_FIRE

    def check(self, tables: Tables) -> pl.LazyFrame:
        return tables.lines.lazy().filter(pl.col("code").str.contains(r"^[0-9]{4}T$")).select(_KEYS)


@register
class MedicareUsesGCode(Rule):
    """A CPT code Medicare does not pay because it has its own HCPCS code for the service.

    What it checks:
        Lines billed to a payer whose profile uses Medicare's codes (``use_medicare_codes``) with a code that has a
        Medicare equivalent in the code book: 99408/99409 (alcohol/drug screening and brief intervention) are
        G0396/G0397 for Medicare; 97014 (unattended electrical stimulation) is G0283.

    Why it matters:
        Medicare denies the CPT code as not payable; the service is payable under the G-code.

    Example:
        payer: medicare
        lines: [{code: "99408", units: 1}]

    Use instead:
        payer: medicare
        lines: [{code: "G0396", units: 1}]

    References:
        CMS National Physician Fee Schedule Relative Value File (PPRRVU25_JAN): 99408 and 99409 status N (not
        covered), G0396 and G0397 status A (active); CMS HCPCS Level II G0396, G0397, G0283.
    """

    id = "CC107"
    slug = "medicare-uses-g-code"
    family = "code validity"
    severity = Severity.ERROR
    message = "{payer_name} does not pay {code}; it pays {medicare_code} for this service"
    fix = "Report {medicare_code} instead of {code} (same documentation; check the time range of {medicare_code})."
    references = ("CMS PFS Relative Value File PPRRVU25_JAN: 99408/99409 status N, G0396/G0397 status A",
                  "CMS HCPCS Level II G0396, G0397, G0283")

    def screen_for(self, tables: Tables) -> Screen | None:
        # a payer that uses Medicare's codes and a billed code with a Medicare equivalent in some version; then the
        # rule's own filter, on the same lines
        if (not any(payer.use_medicare_codes for payer in tables.payers.values())
                or not tables.values("code") & _book_facts(tables.book).medicare_equivalent):
            return CANNOT_FIRE
        return Screen(lines=_USES_MEDICARE_CODE.fill_null(False))

    def check(self, tables: Tables) -> pl.LazyFrame:
        # the screen lines are the lines with their code-book version and payer settings, joined once per run; a
        # line whose payer has no profile has a null setting and is left out, as an inner join would leave it
        return (
            tables.screen_lines().lazy()
            .filter(_USES_MEDICARE_CODE)
            .with_columns(
                # cite the source of this code's Medicare equivalent, not every equivalent's
                pl.when(pl.col("code").is_in(["99408", "99409"]))
                .then(pl.lit(["CMS PFS Relative Value File PPRRVU25_JAN: 99408/99409 status N, G0396/G0397 "
                              "status A"]))
                .otherwise(pl.concat_list(pl.format("CMS HCPCS Level II {}", pl.col("medicare_code"))))
                .alias("references")
            )
            .select(*_KEYS, "payer_name", "medicare_code", "references")
        )


_USES_MEDICARE_CODE = pl.col("use_medicare_codes") & pl.col("medicare_code").is_not_null()


def _ascii_digits(text: str) -> bool:
    # str.isdigit() is true for "²" and "٣" too; an NDC is ASCII digits
    return text.isascii() and text.isdigit()


def normalize_ndc(raw: str) -> tuple[str | None, str]:
    """(11-digit 5-4-2 NDC, explanation), or (None, why not) for a value that cannot be normalised.

    Labeler-product-package segments in the 10-digit forms 4-4-2, 5-3-2 and 5-4-1 get a leading zero in the short
    segment; an 11-digit 5-4-2 value is already in billing form. Ten digits without hyphens are ambiguous.
    """
    text = raw.strip().upper().removeprefix("N4").strip()
    if _ascii_digits(text):
        if len(text) == 11:
            return text, "already 11 digits (5-4-2)"
        return None, f"{len(text)} digits without hyphens: cannot tell which segment needs the leading zero"
    parts = text.split("-")
    if len(parts) != 3 or not all(_ascii_digits(p) for p in parts):
        return None, "expected three hyphen-separated groups of digits (e.g. 12345-678-90)"
    shape = tuple(len(p) for p in parts)
    padded = {(5, 4, 2): parts, (4, 4, 2): ["0" + parts[0], parts[1], parts[2]],
              (5, 3, 2): [parts[0], "0" + parts[1], parts[2]], (5, 4, 1): [parts[0], parts[1], "0" + parts[2]]}
    if shape not in padded:
        shown = "-".join(map(str, shape))
        return None, f"segments of {shown} digits; valid forms are 4-4-2, 5-3-2, 5-4-1, 5-4-2"
    return "".join(padded[shape]), f"{'-'.join(map(str, shape))} form padded to 5-4-2"


@register
class InvalidNdc(Rule):
    """A National Drug Code on a line that is not a valid 10- or 11-digit NDC.

    What it checks:
        The NDC reported with a line: the 10-digit FDA forms 4-4-2, 5-3-2 and 5-4-1 (hyphenated), or the 11-digit 5-4-2
        billing form. A valid 10-digit form is reported as a warning with its 11-digit billing form.

    Why it matters:
        Claims carry NDCs in the 11-digit 5-4-2 form (837P LIN03 with qualifier N4). A malformed NDC gets the drug line
        rejected; a 10-digit one sent without the leading zero in the right place identifies the wrong product.

    Example:
        lines: [{code: "J3301", units: 1, ndc: "1234-5678-9"}]

    Use instead:
        lines: [{code: "J3301", units: 1, ndc: "01234567809"}]

    References:
        FDA National Drug Code directory (labeler-product-package segments); CMS/NUCC 837P and CMS-1500 NDC reporting
        (11-digit 5-4-2 with the N4 qualifier).
    """

    id = "CC108"
    slug = "invalid-ndc"
    family = "code validity"
    severity = Severity.ERROR
    message = "NDC {ndc} on the {code} line is not valid: {reason}"
    fix = "Report the 11-digit 5-4-2 NDC from the package label{normalized_hint}."
    references = ("FDA National Drug Code directory", "NUCC 1500 instructions, item 24 shaded area (N4 + 11-digit NDC)")

    def screen_for(self, tables: Tables) -> Screen | None:
        # the rule's own test on each distinct NDC (most claims carry none); a blank NDC the rule skips may pass
        if not any(_ndc_problem(ndc) for ndc in tables.values("ndc")):
            return CANNOT_FIRE
        return None

    def check(self, tables: Tables) -> pl.DataFrame:
        # NDCs are normalised in Python (a handful of drug lines)
        with_ndc = tables.lines.filter(pl.col("ndc").is_not_null() & (pl.col("ndc").str.strip_chars() != ""))
        rows = []
        for row in with_ndc.select(*_KEYS, "ndc").iter_rows(named=True):
            problem = _ndc_problem(row["ndc"])
            if problem is not None:
                rows.append({**row, **problem})
        return pl.DataFrame(rows, schema={"encounter_id": pl.String, "line": pl.Int32, "code": pl.String,
                                          "ndc": pl.String, "reason": pl.String, "normalized_hint": pl.String,
                                          "severity": pl.String, "message": pl.String})


def _ndc_problem(ndc: str) -> dict[str, str | None] | None:
    """The finding's columns for an NDC that is invalid or in a 10-digit form, else None."""
    normalized, reason = normalize_ndc(ndc)
    if normalized is None:
        return {"reason": reason, "normalized_hint": "", "severity": None, "message": None}
    if len(re.sub(r"\D", "", ndc.strip().upper().removeprefix("N4"))) != 11:
        return {"reason": reason, "normalized_hint": f": {normalized}", "severity": Severity.WARNING.value,
                "message": f"NDC {ndc} is a 10-digit form; claims need 11 digits: {normalized}"}
    return None
