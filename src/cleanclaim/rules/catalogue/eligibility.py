"""Eligibility: may this discipline bill this code, and does this payer cover it at all?"""

from __future__ import annotations

import datetime as dt
from functools import cache, lru_cache
from importlib import resources

import polars as pl

from cleanclaim.codebook import CodeBook, CodeEntry
from cleanclaim.model import Discipline, Severity
from cleanclaim.rules.profile_frames import ProfilesKey
from cleanclaim.rules.registry import CANNOT_FIRE, Rule, Screen, register
from cleanclaim.rules.tables import SMALL_RUN, Tables, codes_frame, collect, lines_with_codes

_KEYS = ["encounter_id", "line", "code"]
_JUDGE_KEYS = ["code", "date", "provider_discipline", "payer"]
_CODE_BOOK_COLUMNS = ["family", "summary", "billers", "code_reference"]
_JUDGED_COLUMNS = ["summary", "discipline_name", "eligibility_text", "remedy", "severity", "references"]

# Keyed by the lower-cased Discipline value, as the code book's billers ("PT", "psychologist", "coach") compare.
_DISCIPLINE_NAMES: dict[str, str] = {key.lower(): name for key, name in {
    Discipline.PT.value: "physical therapist", Discipline.OT.value: "occupational therapist",
    Discipline.SLP.value: "speech-language pathologist", Discipline.MD.value: "physician",
    Discipline.DO.value: "osteopathic physician", Discipline.NP.value: "nurse practitioner",
    Discipline.PA.value: "physician assistant", Discipline.CNS.value: "clinical nurse specialist",
    Discipline.CNM.value: "certified nurse-midwife", Discipline.PSYCHOLOGIST.value: "clinical psychologist",
    Discipline.CSW.value: "clinical social worker", Discipline.MFT.value: "marriage and family therapist",
    Discipline.MHC.value: "mental health counselor", Discipline.RD.value: "registered dietitian",
    Discipline.RN.value: "registered nurse", Discipline.CDCES.value: "diabetes care and education specialist",
    Discipline.COACH.value: "health coach", Discipline.CHW.value: "community health worker",
    Discipline.PEER.value: "peer support specialist", Discipline.OTHER.value: "provider of unstated discipline",
}.items()}


@cache
def unconfirmed_billers() -> pl.DataFrame:
    """Discipline and code-family pairs whose billing right is unconfirmed (data file
    ``rules/data/unconfirmed_billers.csv``): warnings, never errors."""
    text = resources.files("cleanclaim.rules").joinpath("data", "unconfirmed_billers.csv").read_bytes()
    return pl.read_csv(text, comment_prefix="#", schema={
        "family_prefix": pl.String, "discipline": pl.String, "reason": pl.String, "reference": pl.String,
    }).with_columns(pl.col("discipline").str.to_lowercase().alias("discipline_key"))


@cache
def biller_periods() -> pl.DataFrame:
    """One row per code family, discipline and payer program with the dates between which the discipline may bill
    it (data file ``rules/data/biller_periods.csv``; ``valid_to`` null while still in force)."""
    text = resources.files("cleanclaim.rules").joinpath("data", "biller_periods.csv").read_bytes()
    return (
        pl.read_csv(text, comment_prefix="#", schema={
            "families": pl.String, "discipline": pl.String, "program": pl.String, "valid_from": pl.Date,
            "valid_to": pl.Date, "source": pl.String,
        })
        .with_columns(pl.col("families").str.split(";").alias("family"),
                      pl.col("discipline").str.to_lowercase().alias("discipline_key"))
        .explode("family")
        .with_columns(pl.col("family").str.strip_chars())
        .drop("families")
    )


@cache
def biller_sources() -> pl.DataFrame:
    """Per code-family prefix, the public source on who may bill the family (data file
    ``rules/data/biller_sources.csv``)."""
    text = resources.files("cleanclaim.rules").joinpath("data", "biller_sources.csv").read_bytes()
    return pl.read_csv(text, comment_prefix="#", schema={"family_prefix": pl.String, "reference": pl.String})


def with_biller_source(lines: pl.LazyFrame, book: CodeBook) -> pl.LazyFrame:
    """``lines`` with ``biller_source``: the source on who may bill the line's code family, else the code book's
    source for the code."""
    return (lines.join(_family_sources(book).lazy(), on="family", how="left", maintain_order="left")
            .with_columns(pl.coalesce("family_source", "code_reference").alias("biller_source"))
            .drop("family_source"))


@cache
def _code_families(book: CodeBook) -> pl.DataFrame:
    return codes_frame(book).select(pl.col("family").drop_nulls().unique(maintain_order=True))


@cache
def _family_sources(book: CodeBook) -> pl.DataFrame:
    """Per code family of the code book, the first source (in file order) whose prefix the family starts with:
    matched once per code book, not once per line."""
    return (
        _code_families(book).join(biller_sources().with_row_index("order"), how="cross")
        .filter(pl.col("family").str.starts_with(pl.col("family_prefix")))
        .sort("family", "order")
        .group_by("family", maintain_order=True).agg(pl.col("reference").first().alias("family_source"))
    )


@cache
def _unconfirmed_pairs(book: CodeBook) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The unconfirmed discipline pairs matched to the code book's families once (not once per line): per family,
    the disciplines whose billing of it is unconfirmed (``unconfirmed_keys``); per family and discipline, the first
    pair's reason and reference in file order."""
    pairs = (
        _code_families(book).join(unconfirmed_billers().with_row_index("order"), how="cross")
        .filter(pl.col("family").str.starts_with(pl.col("family_prefix")))
        .sort("family", "order")
    )
    keys = pairs.group_by("family", maintain_order=True).agg(pl.col("discipline_key").unique(maintain_order=True)
                                                             .alias("unconfirmed_keys"))
    reasons = pairs.group_by("family", "discipline_key", maintain_order=True).agg(
        pl.col("reason").first().alias("unconfirmed_reason"),
        pl.col("reference").first().alias("unconfirmed_reference"))
    return keys, reasons


@cache
def _periods() -> pl.DataFrame:
    return biller_periods().select(
        "family", "discipline_key", "program", pl.col("valid_from").alias("period_from"),
        pl.col("valid_to").alias("period_to"), pl.col("source").alias("period_source"))


def _discipline_name(column: str) -> pl.Expr:
    return pl.col(column).replace_strict(_DISCIPLINE_NAMES, default=pl.col(column), return_dtype=pl.String)


def _names(keys: pl.Expr) -> pl.Expr:
    """A list of lower-cased discipline keys as readable names joined by commas."""
    return keys.list.eval(
        pl.element().replace_strict(_DISCIPLINE_NAMES, default=pl.element(), return_dtype=pl.String)
    ).list.join(", ")


def _period_text() -> pl.Expr:
    """"from 2024-01-01" or "from 2024-01-01 to 2025-12-31": when the discipline may bill the code."""
    return (pl.when(pl.col("period_to").is_null()).then(pl.format("from {}", pl.col("period_from")))
            .otherwise(pl.format("from {} to {}", pl.col("period_from"), pl.col("period_to"))))


def _references(*columns: str) -> pl.Expr:
    """The non-empty sources among ``columns``, each once, in order: the sources for this code and discipline."""
    return pl.concat_list([pl.col(c) for c in columns]).list.drop_nulls().list.unique(maintain_order=True)


_PROGRAM_NAMES = {"medicare": "Medicare", "medicaid": "Medicaid", "commercial": "this payer", "other": "this payer"}
_FALLBACK_REFERENCE = "The payer's provider enrollment and coverage policy for the code"


@register
class ProviderNotEligible(Rule):
    """A code billed by a discipline that may not bill it, or not on that date of service.

    What it checks:
        The rendering provider's discipline against the code book's ``billers`` for the line's code on its date of
        service: a health coach billing 96158 (HBAI) or 99407 (tobacco counseling), a registered dietitian billing
        97110 (therapeutic exercise), a therapist billing an E/M visit. Some billing rights start (or end) on a date
        (``rules/data/biller_periods.csv``): clinical social workers may bill HBAI 96156-96171 under Medicare only
        from 2024-01-01, so a social worker's 96158 on 2023-06-01 is reported. Pairs the domain facts mark
        UNCONFIRMED (marriage and family therapists or mental health counselors billing HBAI; social workers, MFTs
        and MHCs billing community health integration) are warnings, whatever the code book lists. A provider whose
        discipline is not stated (``other``, e.g. an 837P without a rendering taxonomy) gets one note per encounter
        that eligibility was not checked, not a finding per line.

    Why it matters:
        A service billed under a provider type the payer does not recognise for the code is denied (CARC 185, or
        CARC 170 for the provider type), and billed as if eligible it is an overpayment and a false-claims risk.
        Health coaches are not an enrollable Medicare provider type at all.

    Example:
        provider: {discipline: coach}
        lines: [{code: "96158", units: 1, minutes: 30, dx_pointers: [1]}]

    Use instead:
        provider: {discipline: coach}
        lines: [{code: "0592T", units: 1, minutes: 30, dx_pointers: [1]}]   # where the payer covers coaching

    References:
        Per finding, the sources for the code's family: e.g. the CY2020 and CY2024 PFS final rules (HBAI billers;
        CSW from 2024-01-01), NCD 210.4 / 210.4.1 (tobacco counseling), the CY2024 PFS final rule (community health
        integration and principal illness navigation),
        CMS Pub 100-04 Ch.5 s20.2 (therapy); NBCC and RHIhub for the unconfirmed pairs.
    """

    id = "CC701"
    slug = "provider-not-eligible"
    family = "eligibility"
    severity = Severity.ERROR
    message = "{code} ({summary}) is billed by a {discipline_name}, who {eligibility_text}"
    fix = "{remedy}"
    references = (_FALLBACK_REFERENCE,)

    def screen_for(self, tables: Tables) -> Screen | None:
        # The plan can flag a line only where its code and discipline are one of `_questioned_pairs` (decided per
        # distinct pair of the run, in Python).
        pairs = _questioned_pairs(tables)
        return None if pairs is None or pairs.height else CANNOT_FIRE

    def check(self, tables: Tables) -> pl.LazyFrame:
        programs = tables.payer_frame().lazy().select("payer", pl.col("payer_program").alias("program"))
        billed = lines_with_codes(tables).lazy().filter(pl.col("billers").list.len() > 0)
        pairs = None if tables.small else _questioned_pairs(tables)
        if pairs is not None:
            # on a large run, only the lines of a code and discipline that may be flagged (most lines are billed by
            # someone who may bill them): the distinct combinations and the join back then see those lines only
            billed = billed.join(pairs.lazy(), on=["code", "provider_discipline"], how="semi", maintain_order="left")
        # A line's eligibility depends only on its code (the version in force on its date), date, discipline and
        # payer: judged once per distinct combination (a month of claims has a few thousand), then joined back to
        # the lines it flags (on a million lines, a third of the time of judging every line).
        combos = (
            with_biller_source(billed.select(*_JUDGE_KEYS, *_CODE_BOOK_COLUMNS).unique(_JUDGE_KEYS, keep="any"),
                               tables.book)
            .join(programs, on="payer", how="left")
            .with_columns(_DISCIPLINE_KEY, _BILLER_KEYS, _LISTED)
        )
        flagged = self._judged(combos.filter(~_UNSTATED), tables.book)
        lines = billed.select(*_KEYS, *_JUDGE_KEYS[1:])
        if tables.lines.height > SMALL_RUN:
            # judged first (a few rows), so only the lines of a flagged code are joined back to them
            flagged = collect(flagged).lazy()
            lines = lines.filter(pl.col("code").is_in(flagged.select("code").collect().to_series().implode()))
        judged = lines.join(flagged, on=_JUDGE_KEYS, how="inner", nulls_equal=True, maintain_order="left")
        # the lines of an unstated discipline, when the run may have any (its distinct disciplines say; lower-cased
        # in ASCII only, where Python's and Polars' agree)
        stated = all(value.isascii() and value.lower() != Discipline.OTHER.value
                     for value in tables.values("provider_discipline"))
        unstated = (billed.clear() if stated else billed).filter(
            _LOWER_DISCIPLINE.eq(Discipline.OTHER.value)).with_columns(_BILLER_KEYS)
        return pl.concat([judged.select(*_KEYS, *_JUDGED_COLUMNS), self._unstated(unstated)],
                         how="diagonal_relaxed")

    @staticmethod
    def _judged(combos: pl.LazyFrame, book: CodeBook) -> pl.LazyFrame:
        """The (code, date, discipline, payer) combinations a provider may not bill, with their texts."""
        keys, reasons = _unconfirmed_pairs(book)
        dated = (
            combos.select(*_JUDGE_KEYS, "family", "discipline_key", "program")
            .join(_periods().lazy(), on=["family", "discipline_key", "program"], how="inner")
            .with_columns(_WITHIN)
            .sort("within", descending=True, maintain_order=True)
            .unique(_JUDGE_KEYS, keep="first")  # a date inside any of its periods is eligible
            .select(*_JUDGE_KEYS, "period_from", "period_to", "period_source",
                    (~pl.col("within")).alias("outside_period"))
        )
        return (
            combos.join(keys.lazy(), on="family", how="left")
            .join(reasons.lazy(), on=["family", "discipline_key"], how="left")
            .join(dated, on=_JUDGE_KEYS, how="left", nulls_equal=True)
            .filter(~pl.col("listed") | _IS_UNCONFIRMED | _OUTSIDE)
            .with_columns(_JUDGED_NAMES)
            .with_columns(_JUDGED_TEXTS)
            .select(*_JUDGE_KEYS, *_JUDGED_COLUMNS)
        )

    @staticmethod
    def _unstated(lines: pl.LazyFrame) -> pl.LazyFrame:
        """One note per encounter whose provider's discipline is not stated, for the codes not everyone may bill."""
        return (
            lines.filter(~pl.col("biller_keys").list.contains("*"))
            .group_by("encounter_id", maintain_order=True)
            .agg(pl.col("code").unique(maintain_order=True).str.join(", ").alias("codes"))
            .select("encounter_id", *_UNSTATED_NOTE)
        )


_Periods = dict[tuple[str, str, str], list[tuple[dt.date | None, dt.date | None]]]


def billed_combinations(tables: Tables) -> frozenset[tuple[str | None, str | None, str | None]]:
    """The run's distinct (code, provider_discipline, payer) of its lines: the eligibility screens decide per
    combination actually billed (a run's codes, disciplines and payers taken apart always have one that fails).
    Memoised as `BILLED_COMBINATIONS`: another rule may read them once they are built (``tables.has_memo``)."""
    def find(tables: Tables) -> frozenset[tuple[str | None, str | None, str | None]]:
        lines = tables.lines
        if lines.height <= SMALL_RUN:
            return frozenset(zip(*(lines.get_column(c).to_list() for c in _BILLED), strict=True))
        return frozenset(lines.select(_BILLED).unique().iter_rows())

    return tables.memo(BILLED_COMBINATIONS, find)


_BILLED = ["code", "provider_discipline", "payer"]
BILLED_COMBINATIONS = "eligibility_billed"


def _questioned_pairs(tables: Tables) -> pl.DataFrame | None:
    """The run's distinct (code, provider_discipline) pairs whose lines provider-not-eligible's plan may flag (a
    superset: judged per code version in force within the run's dates, against every payer program of the run), or
    None when a discipline is not ASCII (lower-casing is compared in ASCII only, where Python's and Polars' agree).

    It exists because a run's codes and disciplines alone say little (a health coach's coaching codes and a
    therapist's exercise codes: each code has a discipline that may not bill it), while the pairs actually billed
    are usually all eligible: the rule is then skipped, or judges only the lines of a questionable pair."""
    return tables.memo("eligibility_pairs", _find_questioned_pairs)


def _find_questioned_pairs(tables: Tables) -> pl.DataFrame | None:
    disciplines = tables.values("provider_discipline")
    if not all(d.isascii() for d in disciplines):
        return None
    lines = tables.lines
    billed = {(code, discipline) for code, discipline, _ in billed_combinations(tables)}
    dates = lines.get_column("date")
    first, last = dates.min(), dates.max()
    span = (first, last) if type(first) is dt.date and type(last) is dt.date else None
    programs: set[str] = {profile.program for profile in tables.payers.values()}
    unconfirmed, periods = _screen_facts(tables.book)
    questioned = [
        (code, discipline) for code, discipline in billed
        # a null code takes no code-book version, and a null discipline is neither judged nor unstated
        if code is not None and discipline is not None and any(
            entry.billers and _may_flag(entry.family, entry.billers, {discipline.lower()}, programs, span,
                                        unconfirmed, periods)
            for entry in tables.book.versions(code)
            # in force on no date of the run (a deleted code): no line takes its billers
            if span is None or _in_force_within(entry, span))
    ]
    return pl.DataFrame(sorted(questioned), schema={"code": pl.String, "provider_discipline": pl.String},
                        orient="row")


def _in_force_within(entry: CodeEntry, span: tuple[dt.date, dt.date]) -> bool:
    """Whether the code version is in force on some day from the first to the last date of the span."""
    first, last = span
    return (entry.effective is None or entry.effective <= last) and (entry.deleted is None or entry.deleted > first)


def _may_flag(family: str, billers: tuple[str, ...], keys: set[str], programs: set[str],
              span: tuple[dt.date, dt.date] | None, unconfirmed: frozenset[tuple[str, str]], periods: _Periods) -> bool:
    """Whether the plan may flag a line of a code version with these billers for one of these disciplines."""
    if not all(b.isascii() for b in billers):
        return True
    allowed = {b.lower() for b in billers}
    for key in keys:
        if key == Discipline.OTHER.value:
            if "*" not in allowed:
                return True
            continue
        if ("*" not in allowed and key not in allowed) or (family, key) in unconfirmed:
            return True
        for program in programs:
            windows = periods.get((family, key, program))
            if windows is not None and not (span is not None and any(
                    start is not None and start <= span[0] and (end is None or span[1] <= end)
                    for start, end in windows)):
                return True
    return False


@cache
def _screen_facts(book: CodeBook) -> tuple[frozenset[tuple[str, str]], _Periods]:
    """The (family, discipline key) pairs whose billing is unconfirmed, and the billing periods by family,
    discipline key and program: what the plan joins, as Python objects for the screen."""
    _, reasons = _unconfirmed_pairs(book)
    unconfirmed = frozenset(reasons.select("family", "discipline_key").iter_rows())
    periods: _Periods = {}
    for family, key, program, start, end in _periods().select(
            "family", "discipline_key", "program", "period_from", "period_to").iter_rows():
        periods.setdefault((family, key, program), []).append((start, end))
    return unconfirmed, periods


# The provider-not-eligible plan's expressions, built once (on one claim, building them costs about as much as
# running them).
_LOWER_DISCIPLINE = pl.col("provider_discipline").str.to_lowercase()
_LOWER_BILLERS = pl.col("billers").list.eval(pl.element().str.to_lowercase())
_DISCIPLINE_KEY = _LOWER_DISCIPLINE.alias("discipline_key")
_BILLER_KEYS = _LOWER_BILLERS.alias("biller_keys")
_LISTED = (_LOWER_BILLERS.list.contains("*") | _LOWER_BILLERS.list.contains(_LOWER_DISCIPLINE)).alias("listed")
_UNSTATED = pl.col("discipline_key") == Discipline.OTHER.value
_WITHIN = ((pl.col("date") >= pl.col("period_from"))
           & (pl.col("period_to").is_null() | (pl.col("date") <= pl.col("period_to")))).alias("within")
_IS_UNCONFIRMED = pl.col("unconfirmed_reason").is_not_null()
_OUTSIDE = pl.col("outside_period").fill_null(False)
_JUDGED_NAMES = [
    _discipline_name("discipline_key").alias("discipline_name"),
    _names(pl.col("biller_keys")).alias("billers_text"),
    _names(pl.col("biller_keys").list.set_difference(
        pl.concat_list(pl.col("unconfirmed_keys").fill_null([]), pl.col("discipline_key")))).alias("confirmed_text"),
]
_PROGRAM_NAME = pl.col("program").replace_strict(_PROGRAM_NAMES, default="this payer", return_dtype=pl.String)
_JUDGED_TEXTS = [
    pl.when(_OUTSIDE & pl.col("listed"))
    .then(pl.format("may bill it under {} only for dates of service {}, not on {}", _PROGRAM_NAME,
                    _period_text(), pl.col("date")))
    .when(_IS_UNCONFIRMED)
    .then(pl.format("may or may not bill it (unconfirmed): {}", pl.col("unconfirmed_reason")))
    .otherwise(pl.format("is not among those who may bill it ({})", pl.col("billers_text")))
    .alias("eligibility_text"),
    pl.when(_OUTSIDE & pl.col("listed"))
    .then(pl.format("Check the date of service; a service on {} must be furnished and billed by a provider "
                    "who could bill {} then ({}).", pl.col("date"), pl.col("code"), pl.col("confirmed_text")))
    .when(_IS_UNCONFIRMED)
    .then(pl.format("Confirm with the payer that a {} may bill {} (keep the policy with the claim), or have "
                    "it furnished and billed by a provider whose eligibility is confirmed ({}).",
                    pl.col("discipline_name"), pl.col("code"), pl.col("confirmed_text")))
    .when(pl.col("discipline_key") == Discipline.COACH.value)
    .then(pl.format("A health coach cannot bill {}: bill the coaching codes 0591T-0593T where the payer covers "
                    "them, or bill it incident-to a supervising physician or other practitioner who may bill "
                    "{} ({}), under that practitioner's NPI and the payer's incident-to supervision rules.",
                    pl.col("code"), pl.col("code"), pl.col("billers_text")))
    .otherwise(pl.format("Have {} be billed by a provider who may bill it ({}), or bill the code that "
                         "describes what a {} does.", pl.col("code"), pl.col("billers_text"),
                         pl.col("discipline_name")))
    .alias("remedy"),
    pl.when(_IS_UNCONFIRMED & ~(_OUTSIDE & pl.col("listed")))
    .then(pl.lit(Severity.WARNING.value)).otherwise(pl.lit(None, dtype=pl.String)).alias("severity"),
    _references("biller_source", "period_source", "unconfirmed_reference").alias("references"),
]
_UNSTATED_NOTE = [
    pl.lit(None, dtype=pl.Int32).alias("line"), pl.lit(None, dtype=pl.String).alias("code"),
    pl.format("Discipline not stated: eligibility not checked for {} (the rendering provider's discipline "
              "is 'other')", pl.col("codes")).alias("message"),
    pl.lit("Record the rendering provider's discipline (provider.discipline, or the taxonomy code on the "
           "837P's rendering provider) so who may bill each code can be checked.").alias("fix"),
    pl.lit(Severity.INFO.value).alias("severity"),
]


@register
class CodeNotCovered(Rule):
    """A code the payer profile lists as not covered or not separately paid.

    What it checks:
        Lines whose code is in the payer profile's ``not_covered`` list (Medicare: 97010 hot/cold packs, preventive
        counseling 99401-99412, self-management education 98960-98962, coaching 0591T-0593T). The severity, reason
        and reference come from the profile entry, so an organisation can tighten or relax each one.

    Why it matters:
        A non-covered line is denied (CARC 96 or 204) or bundled into another service (CARC 97), and the patient can
        only be billed if they were told in advance (an ABN for Medicare) that the payer would not pay.

    Example:
        payer: medicare
        lines: [{code: "97010", modifiers: [GP], units: 1, dx_pointers: [1]}]

    Use instead:
        payer: medicare
        lines: [{code: "97110", modifiers: [GP], units: 1, dx_pointers: [1]}]   # the packs are bundled: not billed

    References:
        The payer profile's not_covered entries (each with its own reference: CMS PFS status indicators, payer
        policies); CMS Pub 100-04 Ch.30 (advance beneficiary notice).
    """

    id = "CC702"
    slug = "code-not-covered"
    family = "eligibility"
    severity = Severity.WARNING
    message = "{payer_name} does not cover {code}: {reason} ({reference})"
    fix = ("Check the patient's {payer_name} coverage for {code}; if it is not covered, tell the patient in advance "
           "(ABN for Medicare) before billing them, or do not bill the payer for it.")
    references = ("The payer's coverage policy for the code (each profile entry names its source)",
                  "42 CFR 411.15 (services excluded from Medicare coverage)",
                  "CMS Pub. 100-04 Ch. 30 s40 (ABN) and s90 (GA, GX, GY, GZ)")

    def screen_for(self, tables: Tables) -> Screen | None:
        # The plan flags a line whose (payer, code) a profile lists: none when no line's payer lists its code.
        not_covered = _not_covered_codes(ProfilesKey(tables.payers))
        if not any(not_covered.values()):
            return CANNOT_FIRE
        if any(payer is not None and code in not_covered.get(payer, ())
               for code, _, payer in billed_combinations(tables)):
            return None
        return CANNOT_FIRE

    def check(self, tables: Tables) -> pl.LazyFrame:
        from cleanclaim.rules.catalogue.coverage import status_judged

        # where the PFS file of the line's year gives its code a coverage status, pfs-status-coverage decides
        # (and a GY there is not flagged again here); the profile's list answers for the other lines. The lines of
        # a listed (payer, code) are found first (a few), then those of a PFS status left out.
        listed = tables.lines.lazy().join(_not_covered(ProfilesKey(tables.payers)).lazy(), on=["payer", "code"],
                                          how="inner", maintain_order="left")
        return listed.join(status_judged(tables).select("encounter_id", "line"), on=["encounter_id", "line"],
                           how="anti").select(
            *_KEYS, "payer_name", "reason", "reference", "severity", _NOT_COVERED_REFERENCES)


@lru_cache(maxsize=16)
def _not_covered(payers: ProfilesKey) -> pl.DataFrame:
    """Per payer and code, the profile's first not-covered entry for it."""
    return pl.DataFrame(
        [{"payer": payer_id, "payer_name": profile.name, "code": code, "reason": entry.reason,
          "reference": entry.reference or "payer profile", "severity": entry.severity.value}
         for payer_id, profile in payers.items for entry in profile.not_covered for code in entry.codes],
        schema={"payer": pl.String, "payer_name": pl.String, "code": pl.String, "reason": pl.String,
                "reference": pl.String, "severity": pl.String},
    ).unique(["payer", "code"], keep="first", maintain_order=True)


@lru_cache(maxsize=16)
def _not_covered_codes(payers: ProfilesKey) -> dict[str, frozenset[str]]:
    """Per payer, the codes its profile lists as not covered."""
    return {payer_id: frozenset(code for entry in profile.not_covered for code in entry.codes)
            for payer_id, profile in payers.items}


# Each entry's own source is cited for its lines; an entry without one falls back to the rule's references.
_NOT_COVERED_REFERENCES = pl.when(pl.col("reference") != "payer profile").then(
    pl.concat_list(pl.col("reference"), pl.lit("CMS Pub 100-04 Ch.30 (ABN)"))).alias("references")
