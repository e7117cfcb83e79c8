"""Diagnosis: is every claim diagnosis a billable ICD-10-CM code on its date of service, does every line point at one,
and does a health-behavior service rest on a physical health problem?"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import polars as pl

from cleanclaim.codebook import CodeBook
from cleanclaim.diagnoses import (
    DiagnosisStatus,
    classify_diagnoses,
    lookup_diagnosis,
    normalized_diagnosis_expr,
    releases_for,
)
from cleanclaim.formats.claim_requirements import ICD9_PREFIX
from cleanclaim.model import Severity
from cleanclaim.rules.registry import CANNOT_FIRE, Rule, Screen, register
from cleanclaim.rules.tables import SMALL_RUN, Tables, collect, distinct_values, encounter_rows, lines_with_codes

_KEYS = ["encounter_id", "line", "code"]
_MAX_POINTERS = 4  # 837P SV107 / CMS-1500 item 24E carry at most four diagnosis pointers per line
"""Rows (lines or encounters) a screen walks in Python: a claim's few cost microseconds; a batch runs the rule."""
_PLAIN = re.compile(r"[ -~\t\n\r\x0b\x0c]*")
"""Printable ASCII and the whitespace Python's ``str.split`` and Polars' ``\\s`` both remove: on such a diagnosis
``normalize_diagnosis`` and ``normalized_diagnosis_expr`` agree (elsewhere their whitespace differs)."""


@cache
def icd10cm_chapters() -> pl.DataFrame:
    """ICD-10-CM chapters by three-character range and whether they count as a physical health problem (data file
    ``rules/data/icd10cm_chapters.csv``)."""
    text = resources.files("cleanclaim.rules").joinpath("data", "icd10cm_chapters.csv").read_bytes()
    return pl.read_csv(text, comment_prefix="#", schema={
        "first": pl.String, "last": pl.String, "chapter": pl.Int64, "title": pl.String, "health_kind": pl.String,
    })


@cache
def _chapters_indexed() -> pl.DataFrame:
    """The chapters sorted by first category, numbered, so a category finds its chapter by binary search."""
    return icd10cm_chapters().sort("first").with_row_index("chapter_index").with_columns(
        pl.col("chapter_index").cast(pl.Int64))


def _chapter_index(category: pl.Expr) -> pl.Expr:
    # The last chapter whose first category sorts at or before this one (a range join without a cross product: on a
    # million diagnoses the cross join with ~22 chapters held over a GiB).
    firsts = _chapters_indexed().get_column("first")
    return (pl.lit(firsts).search_sorted(category, side="right").cast(pl.Int64) - 1)


def encounter_diagnoses(tables: Tables, encounters: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """One row per claim diagnosis: its position (the pointer number), the lines that point at it, and the date of
    service it is judged on (the first pointing line's date, else the encounter's). ``encounters`` (ids) narrows it
    to the encounters a rule is about."""
    return _claim_diagnoses(tables.encounters.lazy(), tables.lines.lazy(), encounters)


def _claim_diagnoses(chosen: pl.LazyFrame, lines: pl.LazyFrame, encounters: pl.LazyFrame | None) -> pl.LazyFrame:
    if encounters is not None:
        chosen = chosen.join(encounters, on="encounter_id", how="semi")
        lines = lines.join(encounters, on="encounter_id", how="semi")
    positions = (
        chosen.select("encounter_id", pl.col("date").alias("encounter_date"), "diagnoses")
        .with_columns(pl.int_ranges(1, pl.col("diagnoses").list.len() + 1).alias("position"))
        .explode("diagnoses", "position")
        .filter(pl.col("diagnoses").is_not_null())
        .rename({"diagnoses": "diagnosis"})
        .with_columns(pl.col("position").cast(pl.Int64))
    )
    pointing = (
        lines.select("encounter_id", "line", "date", pl.col("dx_pointers").alias("position"))
        .explode("position")
        .filter(pl.col("position").is_not_null())
        .sort("encounter_id", "line")
        .group_by("encounter_id", "position", maintain_order=True)
        .agg(pl.col("line").unique(maintain_order=True).alias("pointing_lines"),
             pl.col("line").first().alias("first_line"), pl.col("date").first().alias("line_date"))
    )
    return (
        positions.join(pointing, on=["encounter_id", "position"], how="left")
        .with_columns(
            pl.coalesce("line_date", "encounter_date").alias("date"),
            pl.format("diagnosis {} ({})", pl.col("position"), pl.col("diagnosis")).alias("where"),
            pl.when(pl.col("pointing_lines").list.len() > 0)
            .then(pl.format(", pointed to by line {}", pl.col("pointing_lines").cast(pl.List(pl.String))
                            .list.join(", ")))
            .otherwise(pl.lit(", not pointed to by any line")).alias("pointed_text"),
        )
    )


def classified_diagnoses(tables: Tables) -> pl.DataFrame:
    """Claim diagnoses with their ICD-10-CM status in the release for their date of service (computed once per run:
    both diagnosis-validity rules read it). On a large run only the encounters `questionable_encounters` names are
    classified: every other diagnosis is billable in a release that covers its date, which neither rule flags."""
    return tables.memo("classified_diagnoses", _classified_diagnoses)


def _classified_diagnoses(tables: Tables) -> pl.DataFrame:
    encounters = questionable_encounters(tables)
    if encounters is not None and not encounters.height:
        # none to question (a clean batch): the plan over empty tables gives the columns, where the semi joins with
        # no encounter still spread every claim's diagnoses and pointers (~6 ms per 200,000 lines)
        rows = _claim_diagnoses(tables.encounters.clear().lazy(), tables.lines.clear().lazy(), None)
    else:
        rows = encounter_diagnoses(tables, None if encounters is None else encounters.lazy())
    return classify_diagnoses(collect(rows), code="diagnosis", date="date")


def distinct_diagnoses(tables: Tables) -> pl.Series:
    """The batch's distinct claim diagnoses, nulls left out, once per run: the large-run narrowings of
    invalid-diagnosis, hbai-needs-physical-diagnosis and diagnosis-does-not-support-procedure each decide per
    distinct diagnosis (~2 ms each to find them on 200,000 lines)."""
    return tables.memo("distinct_diagnoses",
                       lambda t: t.encounters.get_column("diagnoses").explode().drop_nulls().unique())


def questionable_encounters(tables: Tables) -> pl.DataFrame | None:
    """The ids of the encounters that may hold a diagnosis the validity rules flag (None on a small run: all), once
    per run: the validity rules' screens read it too (none questionable: neither rule can fire).

    A diagnosis is judged on its encounter's date or one of its lines' dates, and its status depends only on the
    release that date picks: so a diagnosis billable in every release the batch's dates pick, on an encounter none
    of whose dates falls outside the loaded releases, cannot be flagged. Deciding that per distinct diagnosis and
    release (a month of claims has a few hundred diagnoses and one or two releases) spares pointing every line at
    its diagnoses, which cost most of the diagnosis rules' time on a million lines."""
    return tables.memo("questionable_encounters", _questionable_encounters)


def _questionable_encounters(tables: Tables) -> pl.DataFrame | None:
    lines, encounters = tables.lines, tables.encounters
    if tables.small or encounters.get_column("encounter_id").has_nulls():
        return None  # a null id joins no narrowed list: such a batch is judged the whole way
    # the lines' distinct dates are the screens' (Tables.values), found once per run
    picks = releases_for(tables.values("date") | distinct_values(encounters.get_column("date")))
    uncovered = [day for day, (_, covers) in picks.items() if not covers]
    # one date of each release the batch's dates pick stands for all of its dates (the status is the release's)
    standing = list({release: day for day, (release, _) in picks.items()}.values())
    diagnoses = distinct_diagnoses(tables)
    judged = classify_diagnoses(
        pl.DataFrame({"diagnosis": diagnoses}).join(pl.DataFrame({"date": standing}, schema={"date": pl.Date}),
                                                    how="cross"),
        code="diagnosis", date="date")
    flagged = judged.filter(pl.col("dx_status").is_in([s.value for s in _FLAGGED])).get_column("diagnosis").unique()
    questionable = pl.concat([
        encounters.filter(pl.col("diagnoses").list.eval(pl.element().is_in(flagged.implode())).list.any()
                          | pl.col("date").is_in(uncovered)).select("encounter_id"),
        lines.filter(pl.col("date").is_in(uncovered)).select("encounter_id"),
    ]) if flagged.len() or uncovered else encounters.clear().select("encounter_id")
    return questionable.unique()


def _none_questionable(tables: Tables) -> bool:
    """Whether a large run has no encounter the diagnosis-validity rules could flag: their classified diagnoses are
    then empty, and the rules need not build their plans over them."""
    questionable = questionable_encounters(tables)
    return questionable is not None and not questionable.height


@dataclass(frozen=True)
class _DiagnosisAnswers:
    """What the diagnosis-validity screens need to know of the batch's ICD-10-CM answers."""

    statuses: frozenset[DiagnosisStatus]
    outside_releases: bool
    """Some diagnosis is judged on a date no loaded release covers."""


def _diagnosis_answers(tables: Tables) -> _DiagnosisAnswers | None:
    """What ``classified_diagnoses`` would say of the batch's diagnoses, from a lookup per distinct diagnosis and
    date (microseconds each, where the table costs milliseconds on one claim); None when the batch is large or the
    answer could differ (a line number given twice makes "the first pointing line" ambiguous; a diagnosis with
    other characters may normalise differently)."""
    return tables.memo("diagnosis_answers", _look_diagnoses_up)


def _look_diagnoses_up(tables: Tables) -> _DiagnosisAnswers | None:
    lines, encounters = tables.lines, tables.encounters
    if not tables.small:
        return None
    # encounter_diagnoses: a diagnosis is judged on the date of the lowest-numbered line pointing at it, else (no
    # such line, or a line without a date) on the encounter's date
    keys = list(zip(lines.get_column("encounter_id").to_list(), lines.get_column("line").to_list(), strict=True))
    if len(set(keys)) != len(keys) or any(number is None for _, number in keys):
        return None
    first: dict[tuple[str, int], tuple[int, dt.date | None]] = {}
    for (encounter, number), day, pointers in zip(keys, lines.get_column("date").to_list(),
                                                  lines.get_column("dx_pointers").to_list(), strict=True):
        for position in pointers or ():
            if encounter is not None and position is not None:
                known = first.get((encounter, position))
                if known is None or number < known[0]:
                    first[(encounter, position)] = (number, day)
    pairs: set[tuple[str, dt.date]] = set()
    for encounter, day, diagnoses in zip(*(encounters.get_column(c).to_list()
                                           for c in ("encounter_id", "date", "diagnoses")), strict=True):
        for position, diagnosis in enumerate(diagnoses or (), start=1):
            if diagnosis is None:
                continue
            if not _PLAIN.fullmatch(diagnosis):
                return None
            pointed = first.get((encounter, position))
            judged_on = pointed[1] if pointed is not None and pointed[1] is not None else day
            if judged_on is not None:  # no date: no release, no status
                pairs.add((diagnosis, judged_on))
    answers = [lookup_diagnosis(diagnosis, day) for diagnosis, day in pairs]
    return _DiagnosisAnswers(frozenset(a.status for a in answers), any(not a.covers_date for a in answers))


def _fiscal_year(date: pl.Expr) -> pl.Expr:
    """The federal fiscal year of a date (October 1 starts the next one), whose ICD-10-CM release applies."""
    return date.dt.year() + (date.dt.month() >= 10).cast(pl.Int32)


def release_gaps(rows: pl.LazyFrame) -> pl.LazyFrame:
    """One row per encounter whose diagnoses are judged on a date no loaded ICD-10-CM release covers: the dates,
    the release used instead (its coverage note) and the order files that would cover them."""
    outside = rows.filter(pl.col("dx_covers_date").eq(False))
    return (
        outside.with_columns(pl.format("icd10cm_order_{}.txt", _fiscal_year(pl.col("date"))).alias("order_file"))
        .sort("date")
        .group_by("encounter_id", maintain_order=True)
        .agg(pl.col("dx_release_note").unique(maintain_order=True).str.join(" ").alias("note"),
             pl.col("order_file").unique(maintain_order=True).alias("order_files"))
        .select(
            "encounter_id", pl.lit(None, dtype=pl.Int32).alias("line"), pl.lit(None, dtype=pl.String).alias("code"),
            pl.format("{} The encounter's diagnoses are judged against that release meanwhile.", pl.col("note"))
            .alias("message"),
            pl.format("Download the ICD-10-CM order file for the date's fiscal year from CMS and import it: {}; "
                      "then check again.",
                      pl.col("order_files").list.eval(pl.format("cleanclaim data import {}", pl.element()))
                      .list.join(", ")).alias("fix"),
            pl.lit(Severity.WARNING.value).alias("severity"),
        )
    )


@register
class InvalidDiagnosis(Rule):
    """A claim diagnosis that is not an ICD-10-CM code on the date of service.

    What it checks:
        Every diagnosis of the encounter against the ICD-10-CM release in force on its date of service (the date of
        the first line that points at it, else the encounter's date): a value without ICD-10-CM's shape, or a code the
        release does not contain (a typo, a deleted code, a code that only exists in a later release). When no loaded
        release covers the date of service, the encounter gets one warning naming the date and the nearest release,
        which then judges its diagnoses as usual (an unknown code stays an error): never a silent pass.

    Why it matters:
        A claim with an invalid diagnosis is rejected before adjudication (CARC 16 with RARC M76, or the
        clearinghouse's front-end edit); nothing on it is paid until it is corrected and resubmitted.

    Example:
        diagnoses: [M62.8X]
        lines: [{code: "97110", modifiers: [GP], units: 1, dx_pointers: [1]}]

    Use instead:
        diagnoses: [M62.81]
        lines: [{code: "97110", modifiers: [GP], units: 1, dx_pointers: [1]}]

    References:
        ICD-10-CM Official Guidelines for Coding and Reporting, Section I.A and I.B (use the code set in force on the
        date of service); CMS/CDC ICD-10-CM annual release (October 1, with April 1 updates); CARC 16 / RARC M76.
    """

    id = "CC201"
    slug = "invalid-diagnosis"
    family = "diagnosis"
    severity = Severity.ERROR
    message = "{where}{pointed_text}: {problem}"
    fix = ("Replace {diagnosis} with the valid ICD-10-CM code from {dx_release} that the record supports "
           "(the dot goes after the third character, e.g. M62.81).")
    references = ("ICD-10-CM Official Guidelines for Coding and Reporting, Section I.A-I.B",
                  "CMS/CDC ICD-10-CM release in force on the date of service", "CARC 16 / RARC M76")

    def screen_for(self, tables: Tables) -> Screen | None:
        # the rule flags a diagnosis of invalid format or unknown, and an encounter judged outside every release
        answers = _diagnosis_answers(tables)
        if answers is None:
            return CANNOT_FIRE if _none_questionable(tables) else None
        if answers.outside_releases or answers.statuses & _INVALID:
            return None
        return CANNOT_FIRE

    def check(self, tables: Tables) -> pl.LazyFrame:
        rows = classified_diagnoses(tables).lazy()
        shape = pl.col("dx_status") == DiagnosisStatus.INVALID_FORMAT.value
        unknown = pl.col("dx_status") == DiagnosisStatus.UNKNOWN.value
        invalid = rows.filter(shape | unknown).with_columns(
            pl.when(shape & pl.col("diagnosis").str.starts_with(ICD9_PREFIX))
            .then(pl.lit("an ICD-9-CM code (837P HI qualifier BK/BF): HIPAA claims take ICD-10-CM for dates of "
                         "service on or after 2015-10-01 (45 CFR 162.1002(b)-(c)), and cleanclaim checks "
                         "ICD-10-CM only"))
            .when(shape)
            .then(pl.lit("not in ICD-10-CM's format (a letter, two characters, then up to four more after the "
                         "dot, e.g. M62.81)"))
            .when(pl.col("dx_covers_date"))
            .then(pl.format("not a code in {} (the release for the date of service {})", pl.col("dx_release"),
                            pl.col("date")))
            .otherwise(pl.format("not a code in {} (the nearest loaded release; none covers the date of service {})",
                                 pl.col("dx_release"), pl.col("date")))
            .alias("problem"),
            pl.col("first_line").alias("line"),
            pl.lit(None, dtype=pl.String).alias("code"),
        ).select(*_KEYS, "where", "pointed_text", "problem", "diagnosis", "dx_release")
        return pl.concat([release_gaps(rows), invalid], how="diagonal_relaxed")


@register
class NonBillableDiagnosis(Rule):
    """A claim diagnosis that is a category or subcategory header, not a billable code.

    What it checks:
        Diagnoses that exist in the ICD-10-CM release for the date of service but need more characters to be valid
        on a claim (M62 needs e.g. M62.81; E11 needs e.g. E11.9). The finding names one billable code under the
        header and how many there are. When no loaded release covers the date of service the nearest release
        judges (``invalid-diagnosis`` warns once per encounter about that) and a header is still an error.

    Why it matters:
        Only codes carried to the highest number of characters available are valid for HIPAA transactions; a header
        code gets the claim rejected (CARC 16 / RARC M76) or the line denied as an invalid diagnosis.

    Example:
        diagnoses: [M62]

    Use instead:
        diagnoses: [M62.81]

    References:
        ICD-10-CM Official Guidelines for Coding and Reporting, Section I.B.2 (code to the highest number of characters
        available); CMS ICD-10-CM order file (flag 0 = header not valid for HIPAA-covered transactions).
    """

    id = "CC202"
    slug = "non-billable-diagnosis"
    family = "diagnosis"
    severity = Severity.ERROR
    message = ("{where}{pointed_text}: a header code in {dx_release}, not billable: it needs more characters "
               "({children} billable codes start with it, e.g. {dx_example_child})")
    fix = ("Report the complete code the record supports, e.g. {dx_example_child} instead of {display}; "
           "pick the one that matches the documented condition.")
    references = ("ICD-10-CM Official Guidelines for Coding and Reporting, Section I.B.2",
                  "CMS ICD-10-CM order file (header flag)")

    def screen_for(self, tables: Tables) -> Screen | None:
        answers = _diagnosis_answers(tables)
        if answers is None:
            return CANNOT_FIRE if _none_questionable(tables) else None
        return None if DiagnosisStatus.NOT_BILLABLE in answers.statuses else CANNOT_FIRE

    def check(self, tables: Tables) -> pl.LazyFrame:
        flagged = classified_diagnoses(tables).lazy().filter(
            pl.col("dx_status") == DiagnosisStatus.NOT_BILLABLE.value)
        return flagged.with_columns(
            pl.col("dx_billable_children").alias("children"),
            pl.col("diagnosis").alias("display"),
            pl.col("first_line").alias("line"),
            pl.lit(None, dtype=pl.String).alias("code"),
        ).select(*_KEYS, "where", "pointed_text", "dx_release", "children", "dx_example_child", "display")


@register
class MissingDiagnosis(Rule):
    """An encounter billed without a diagnosis, or a line that points at none.

    What it checks:
        Encounters with billed lines but no diagnosis at all (encounter-level), and, where the encounter has
        diagnoses, each line without a diagnosis pointer.

    Why it matters:
        Every professional claim line must point at a diagnosis (837P SV107, CMS-1500 item 24E); a claim or line
        without one is rejected as incomplete and must be corrected and resubmitted.

    Example:
        diagnoses: [M62.81]
        lines: [{code: "97110", modifiers: [GP], units: 1}]

    Use instead:
        diagnoses: [M62.81]
        lines: [{code: "97110", modifiers: [GP], units: 1, dx_pointers: [1]}]

    References:
        NUCC 1500 Claim Form Reference Instruction Manual, items 21 and 24E; ASC X12 837P 005010X222A1 HI segment and
        SV107 (diagnosis code pointer).
    """

    id = "CC203"
    slug = "missing-diagnosis"
    family = "diagnosis"
    severity = Severity.ERROR
    message = "{problem}"
    fix = "{remedy}"
    references = ("NUCC 1500 instructions, items 21 and 24E", "X12 837P 005010X222A1 HI and SV107")

    def screen_for(self, tables: Tables) -> Screen | None:
        # a line is flagged when it has no pointer, or (with the encounter-level row) when its encounter lists no
        # diagnosis: a null or empty list, no encounter of that id, or a null id, which joins none
        pointed = _line_pointers(tables)
        if pointed is None:
            # a large run: some line without a pointer, or some encounter without a diagnosis (evaluated beside the
            # other rules' screens, where the rule's plan cost ~2 ms on 250,000 lines). A line with no encounter row
            # (its id in no encounter, or null) counts as one without diagnoses, which no encounter's row shows: then
            # the rule runs
            rows = encounter_rows(tables)
            if rows is None or rows.has_nulls():
                return None
            return Screen(lines=pl.col("dx_pointers").list.len().fill_null(0) == 0,
                          encounters=pl.col("diagnoses").list.len().fill_null(0) == 0)
        line_pointers, counts = pointed
        for encounter, pointers in line_pointers:
            if not pointers or encounter is None or not counts.get(encounter) or 0 in counts[encounter]:
                return None
        return CANNOT_FIRE

    def check(self, tables: Tables) -> pl.LazyFrame:
        lines = _with_dx_count(tables, tables.lines, how="left").with_columns(pl.col("dx_count").fill_null(0))
        no_dx = (
            lines.filter(pl.col("dx_count") == 0)
            .group_by("encounter_id", maintain_order=True).agg(pl.len().alias("line_count"))
            .select(
                "encounter_id", pl.lit(None, dtype=pl.Int32).alias("line"), pl.lit(None, dtype=pl.String).alias("code"),
                pl.format("Encounter {} bills {} line(s) but lists no diagnosis", pl.col("encounter_id"),
                          pl.col("line_count")).alias("problem"),
                pl.lit("Add the ICD-10-CM diagnoses the record supports (the condition treated first), then point "
                       "each line at them with dx_pointers.").alias("remedy"),
            )
        )
        unpointed = pl.col("dx_pointers").list.len().fill_null(0) == 0
        no_pointer = lines.filter((pl.col("dx_count") > 0) & unpointed).select(
            *_KEYS,
            pl.format("Line {} ({}) points at no diagnosis; the encounter lists {} diagnosis(es)", pl.col("line"),
                      pl.col("code"), pl.col("dx_count")).alias("problem"),
            pl.format("Add dx_pointers to line {}: the position (1 to {}) of each diagnosis the service treated, "
                      "most relevant first.", pl.col("line"), pl.col("dx_count")).alias("remedy"),
        )
        return pl.concat([no_dx, no_pointer], how="vertical_relaxed")


@register
class InvalidDxPointer(Rule):
    """A line's diagnosis pointers that do not fit the encounter's diagnoses.

    What it checks:
        Pointers below 1 or above the number of diagnoses, more than four pointers on one line, and a pointer repeated
        on one line. Encounters with no diagnosis at all are left to ``missing-diagnosis``.

    Why it matters:
        A pointer to a diagnosis that is not on the claim, a fifth pointer or a repeated one fails the 837P edits
        (SV107 holds up to four distinct pointers to the HI segment); the clearinghouse rejects the claim.

    Example:
        diagnoses: [M62.81]
        lines: [{code: "97110", modifiers: [GP], units: 1, dx_pointers: [1, 2]}]

    Use instead:
        diagnoses: [M62.81, Z91.81]
        lines: [{code: "97110", modifiers: [GP], units: 1, dx_pointers: [1, 2]}]

    References:
        ASC X12 837P 005010X222A1 SV107 (composite diagnosis code pointer, up to four); NUCC 1500 instructions,
        item 24E (up to four pointers, letters A-L referring to item 21).
    """

    id = "CC204"
    slug = "invalid-dx-pointer"
    family = "diagnosis"
    severity = Severity.ERROR
    message = "Line {line} ({code}) has diagnosis pointers ({pointers}) that do not fit: {problems}"
    fix = ("Point line {line} at up to four different diagnoses numbered 1-{dx_count}, most relevant first "
           "(or add the missing diagnosis to the encounter).")
    references = ("X12 837P 005010X222A1 SV107", "NUCC 1500 instructions, item 24E")

    def screen_for(self, tables: Tables) -> Screen | None:
        # the rule's own filter, line by line; a null pointer in a list may count as a repeat, so it may fire
        pointed = _line_pointers(tables)
        if pointed is None:
            return None
        rows, counts = pointed
        for encounter, pointers in rows:
            if not pointers or encounter is None:
                continue  # never checked: no pointer, or no encounter joined
            for count in counts.get(encounter, ()):
                if not count:
                    continue
                if None in pointers:
                    return None
                if (min(pointers) < 1 or max(pointers) > count or len(pointers) > _MAX_POINTERS
                        or len(set(pointers)) < len(pointers)):
                    return None
        return CANNOT_FIRE

    def check(self, tables: Tables) -> pl.LazyFrame:
        pointers_of = pl.col("dx_pointers")
        # A pointer past the diagnoses needs a pointer above 1 (an encounter without diagnoses is not judged), and a
        # pointer below 1, a fifth or a repeat a list other than [1]: so lines pointing at [1] alone (on a real batch
        # most of them) cannot break the rule whatever their encounter, and are left out by two cheap list reads
        # (the first element and the length) before the list's minimum, maximum and distinct count are taken.
        alone = (pointers_of.list.len() == 1) & (pointers_of.list.first() == 1)
        counted = _with_dx_count(tables, tables.lines.select(*_KEYS, "dx_pointers"), how="inner")
        if not tables.small:
            counted = _suspect_pointer_lines(collect(counted)).lazy()
        lines = (
            counted
            .filter((pointers_of.list.len() > 0) & ~alone)
            .with_columns(pointers_of.list.len().alias("__count"), pointers_of.list.min().alias("__lowest"),
                          pointers_of.list.max().alias("__highest"), pointers_of.list.n_unique().alias("__distinct"))
            # only lines with some problem go on to be exploded pointer by pointer (on a million lines, a few)
            .filter((pl.col("dx_count") > 0) & (pl.col("__count") > 0)
                    & ((pl.col("__lowest") < 1) | (pl.col("__highest") > pl.col("dx_count"))
                       | (pl.col("__count") > _MAX_POINTERS) | (pl.col("__distinct") < pl.col("__count"))))
            .select(*_KEYS, "dx_pointers", "dx_count")
        )
        if tables.lines.height > SMALL_RUN:
            lines = collect(lines).lazy()  # read by three branches, which the optimiser would each join anew
        pointers = lines.select(*_KEYS, "dx_count", pl.col("dx_pointers").alias("pointer")).explode("pointer")
        outside = (
            pointers.filter((pl.col("pointer") < 1) | (pl.col("pointer") > pl.col("dx_count")))
            .group_by(_KEYS, maintain_order=True)
            .agg(pl.col("pointer").unique(maintain_order=True).cast(pl.String).str.join(", ").alias("bad"),
                 pl.col("dx_count").first())
            .select(*_KEYS, pl.format("{} outside 1-{} (the encounter has {} diagnoses)", pl.col("bad"),
                                      pl.col("dx_count"), pl.col("dx_count")).alias("problem"))
        )
        too_many = lines.filter(pl.col("dx_pointers").list.len() > _MAX_POINTERS).select(
            *_KEYS, pl.format("{} pointers, at most 4 allowed", pl.col("dx_pointers").list.len()).alias("problem"))
        repeated = (
            pointers.filter(pl.col("pointer").is_duplicated().over(_KEYS))
            .group_by(_KEYS, maintain_order=True)
            .agg(pl.col("pointer").unique(maintain_order=True).cast(pl.String).str.join(", ").alias("bad"))
            .select(*_KEYS, pl.format("pointer {} repeated", pl.col("bad")).alias("problem"))
        )
        problems = (
            pl.concat([outside, too_many, repeated], how="vertical_relaxed")
            .group_by(_KEYS, maintain_order=True).agg(pl.col("problem").str.join("; ").alias("problems"))
        )
        return problems.join(lines.select(*_KEYS, "dx_count", "dx_pointers"), on=_KEYS, how="left").select(
            *_KEYS, "problems", "dx_count",
            pl.col("dx_pointers").cast(pl.List(pl.String)).list.join(", ").alias("pointers"),
        ).sort("encounter_id", "line")


@register
class HbaiNeedsPhysicalDiagnosis(Rule):
    """A health behavior assessment or intervention line whose primary diagnosis is not a physical health problem.

    What it checks:
        Lines with an HBAI code (96156-96171, code-book families ``hbai-*``): the diagnosis the line points at first
        (or the encounter's first diagnosis when the line has no pointer) must be in an ICD-10-CM chapter for a
        physical disease, injury or symptom. A mental or behavioral diagnosis (chapter 5, F01-F99) is an error. A
        Z-code (or external-cause code) first is an error when the encounter has no physical diagnosis at all, and a
        warning when it has one that should be pointed at first.

    Why it matters:
        HBAI services address the psychological, behavioral and social factors of a physical health problem; they are
        not mental-health treatment or preventive counseling. With an F-code or a Z-code alone as the primary
        diagnosis the payer denies the line as not medically necessary for the code, and an audit recovers it.

    Example:
        provider: {discipline: psychologist}
        diagnoses: [F41.1]
        lines: [{code: "96158", units: 1, minutes: 30, dx_pointers: [1]}]

    Use instead:
        provider: {discipline: psychologist}
        diagnoses: [E11.9, F41.1]   # the physical condition first; anxiety affecting diabetes self-care second
        lines: [{code: "96158", units: 1, minutes: 30, dx_pointers: [1, 2]}]

    References:
        CY2020 PFS final rule, CMS-1715-F (84 FR 62568): HBAI codes 96156-96171; AMA CPT 2020 health behavior
        assessment and intervention guidelines (a physical health problem, not mental-health treatment); secondary:
        APA Services, "Health behavior assessment and intervention codes changing for 2020".
    """

    id = "CC205"
    slug = "hbai-needs-physical-diagnosis"
    family = "diagnosis"
    severity = Severity.ERROR
    message = ("{code} needs a physical health problem as its primary diagnosis, but {where} is {kind_text} "
               "(ICD-10-CM chapter {chapter})")
    fix = "{remedy}"
    references = ("CY2020 PFS final rule, CMS-1715-F (84 FR 62568): HBAI codes 96156-96171",
                  "AMA CPT 2020 HBAI guidelines (physical health problem)")

    def screen_for(self, tables: Tables) -> Screen | None:
        # An HBAI line (a code with an hbai-* version, that version in force) whose primary diagnosis falls in a
        # chapter that is not physical. A diagnosis's chapter contains its first character after normalising, so
        # one whose first character only physical chapters span cannot be it.
        if not tables.values("code") & _hbai_codes(tables.book):
            return CANNOT_FIRE
        encounters = tables.encounters
        if encounters.height <= SMALL_RUN and all(
            _surely_physical(diagnosis)
            for diagnoses in encounters.get_column("diagnoses").to_list() for diagnosis in diagnoses or ()
        ):
            return CANNOT_FIRE
        return Screen(lines=pl.col("family").str.starts_with("hbai-").fill_null(False))

    def check(self, tables: Tables) -> pl.DataFrame | pl.LazyFrame:
        hbai = lines_with_codes(tables).lazy().filter(pl.col("family").str.starts_with("hbai-"))
        if not tables.small:
            questionable = collect(_questionable_hbai(tables, hbai))
            if not questionable.height:
                # no HBAI line leads with a diagnosis outside the physical chapters: nothing to flag, and no plan run
                # (over an empty line set the plan still spread every claim's diagnoses: ~10 ms on 200,000 lines);
                # its schema, resolved without running it, gives the columns
                return pl.DataFrame(schema=_hbai_rows(tables, hbai).collect_schema())
            hbai = hbai.join(questionable.lazy(), on="encounter_id", how="semi")
        return _hbai_rows(tables, hbai)


def _hbai_rows(tables: Tables, hbai: pl.LazyFrame) -> pl.LazyFrame:
    """hbai-needs-physical-diagnosis's rows for the HBAI lines ``hbai``."""
    dx = (
        _with_chapters(encounter_diagnoses(tables, hbai.select("encounter_id").unique()))
        .select("encounter_id", "position", "diagnosis", "where", "chapter", "title", "health_kind")
    )
    has_physical = dx.group_by("encounter_id").agg(
        (pl.col("health_kind") == "physical").any().alias("has_physical"),
        pl.col("diagnosis").filter(pl.col("health_kind") == "physical").first().alias("physical_dx"),
        pl.col("position").filter(pl.col("health_kind") == "physical").first().alias("physical_position"),
    )
    primary = hbai.select(
        *_KEYS, pl.col("dx_pointers").list.first().fill_null(1).alias("position"))
    judged = (
        primary.join(dx, on=["encounter_id", "position"], how="inner")
        .join(has_physical, on="encounter_id", how="left")
        .filter(pl.col("health_kind") != "physical")
    )
    return judged.with_columns(
        pl.when(pl.col("health_kind") == "mental_behavioral")
        .then(pl.lit("a mental or behavioral disorder"))
        .when(pl.col("health_kind") == "health_factor")
        .then(pl.lit("a factor influencing health status (Z code), not a health problem"))
        .otherwise(pl.lit("an external-cause code, which is never a primary diagnosis")).alias("kind_text"),
        pl.when((pl.col("health_kind") != "mental_behavioral") & pl.col("has_physical"))
        .then(pl.lit(Severity.WARNING.value)).otherwise(pl.lit(None, dtype=pl.String)).alias("severity"),
        pl.when(pl.col("has_physical"))
        .then(pl.format("Point line {} at diagnosis {} ({}) first: the physical condition the behavior affects "
                        "must lead.", pl.col("line"), pl.col("physical_position"), pl.col("physical_dx")))
        .when(pl.col("health_kind") == "mental_behavioral")
        .then(pl.format("If the service treated {} itself, it is mental-health treatment (psychiatric services "
                        "90785-90899), not {}; if it addressed a physical condition, list that condition first.",
                        pl.col("diagnosis"), pl.col("code")))
        .otherwise(pl.format("Add the physical health problem the service addressed (e.g. E11.9, I10, M54.50) "
                             "and point line {} at it first; with only Z codes, {} is not billable.",
                             pl.col("line"), pl.col("code")))
        .alias("remedy"),
    ).select(*_KEYS, "where", "kind_text", "chapter", "remedy", "severity")


def _with_chapters(diagnoses: pl.LazyFrame) -> pl.LazyFrame:
    """Diagnoses (column ``diagnosis``) with their ICD-10-CM chapter, in their order; one in no chapter is dropped."""
    return (
        diagnoses.with_columns(normalized_diagnosis_expr("diagnosis").str.slice(0, 3).alias("category"))
        .with_columns(_chapter_index(pl.col("category")).alias("chapter_index"))
        # in diagnosis order: the first physical diagnosis listed is the one the fix points at
        .join(_chapters_indexed().lazy(), on="chapter_index", how="inner", maintain_order="left")
        .filter(pl.col("category") <= pl.col("last"))
    )


def _questionable_hbai(tables: Tables, hbai: pl.LazyFrame) -> pl.LazyFrame:
    """The encounters with an HBAI line whose primary diagnosis (first pointer, else the first diagnosis) lies in a
    chapter that is not physical: the only ones hbai-needs-physical-diagnosis can flag. The chapter is looked up once
    per distinct diagnosis, and the primary one taken from the claim's list, so the other encounters' diagnoses are
    never spread out and pointed at."""
    distinct = pl.LazyFrame({"diagnosis": distinct_diagnoses(tables)})
    not_physical = _with_chapters(distinct).filter(pl.col("health_kind") != "physical").select("diagnosis")
    position = pl.col("dx_pointers").list.first().fill_null(1)
    primary = (
        hbai.select("encounter_id", position.alias("position"))
        .join(tables.encounters.lazy().select("encounter_id", "diagnoses"), on="encounter_id", how="inner")
        .filter((pl.col("position") >= 1) & (pl.col("position") <= pl.col("diagnoses").list.len()))
        .select("encounter_id", pl.col("diagnoses").list.get(pl.col("position") - 1).alias("diagnosis"))
    )
    return primary.join(not_physical, on="diagnosis", how="semi").select("encounter_id").unique()


_INVALID = frozenset({DiagnosisStatus.INVALID_FORMAT, DiagnosisStatus.UNKNOWN})
_FLAGGED = _INVALID | {DiagnosisStatus.NOT_BILLABLE}
"""The statuses invalid-diagnosis and non-billable-diagnosis flag."""


_PointerRows = list[tuple[str | None, list[Any] | None]]  # pointers as Polars gives them (a null may be among them)


def _with_dx_count(tables: Tables, lines: pl.DataFrame, how: Literal["left", "inner"]) -> pl.LazyFrame:
    """``lines`` (columns of ``tables.lines``, row for row) with their encounter's number of diagnoses as
    ``dx_count``: by each line's encounter row where `encounter_rows` has it, else by the join on the encounter id.
    A line without an encounter gets a null count (``how="left"``) or is left out (``"inner"``), as in the join."""
    rows = encounter_rows(tables)
    if rows is None:
        counts = tables.encounters.lazy().select("encounter_id", pl.col("diagnoses").list.len().alias("dx_count"))
        return lines.lazy().join(counts, on="encounter_id", how=how)
    counts_by_row = tables.encounters.get_column("diagnoses").list.len().alias("dx_count")
    with_count = lines.with_columns(counts_by_row.gather(rows))
    if how == "inner" and rows.null_count():
        with_count = with_count.filter(rows.is_not_null())
    return with_count.lazy()


def _suspect_pointer_lines(lines: pl.DataFrame) -> pl.DataFrame:
    """The lines (columns ``dx_pointers`` and ``dx_count``) whose pointers invalid-dx-pointer may flag: a superset,
    which the rule's own filter then judges.

    A line of an encounter with diagnoses whose pointers are at most four, none null, each within 1 to the count and
    each greater than the one before cannot break the rule (rising numbers are distinct). That is read on the
    pointers laid out flat, element beside element, where the rule's per-list minimum, maximum and distinct count
    cost ~12 ms on 250,000 lines (each list walked on its own) and this ~4 ms; a list out of order is only a suspect,
    judged by the rule's filter like any other."""
    pointer, row = pl.col("pointer"), pl.col("row")
    flat = lines.lazy().select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"), "dx_count",
                               pl.col("dx_pointers").alias("pointer")).explode("pointer")
    # a null list explodes to a null pointer: a suspect, which the rule's filter drops; an empty list gives no row
    # (Polars 2 explodes it to nothing) and is no suspect, which the rule's filter would drop as well
    suspects = collect(flat.filter(
        (pl.col("dx_count") > 0)
        & (pointer.is_null() | (pointer < 1) | (pointer > pl.col("dx_count"))
           | ((row == row.shift(1)) & (pointer <= pointer.shift(1))))
    ).select("row")).get_column("row")
    return lines.filter(pl.int_range(pl.len(), dtype=pl.UInt32).is_in(suspects.implode())
                        | (pl.col("dx_pointers").list.len() > _MAX_POINTERS))


def _line_pointers(tables: Tables) -> tuple[_PointerRows, dict[str, list[int]]] | None:
    """Each line's encounter id and pointers, and each encounter's diagnosis counts, as Python values for the pointer
    screens of a small run (None on a large one: the rules run)."""
    lines = tables.lines
    if not tables.small:
        return None
    rows = list(zip(lines.get_column("encounter_id").to_list(), lines.get_column("dx_pointers").to_list(),
                    strict=True))
    return rows, _diagnosis_counts(tables)


def _diagnosis_counts(tables: Tables) -> dict[str, list[int]]:
    """Per encounter id, the number of diagnoses of each encounter of that id (a null list counts 0)."""
    counts: defaultdict[str, list[int]] = defaultdict(list)
    for encounter, diagnoses in zip(tables.encounters.get_column("encounter_id").to_list(),
                                    tables.encounters.get_column("diagnoses").to_list(), strict=True):
        if encounter is not None:
            counts[encounter].append(len(diagnoses) if diagnoses is not None else 0)
    return counts


@cache
def _hbai_codes(book: CodeBook) -> frozenset[str]:
    """Codes with a health behavior assessment or intervention version (family ``hbai-*``)."""
    return frozenset(entry.code for entry in book if entry.family.startswith("hbai-"))


def _surely_physical(diagnosis: str | None) -> bool:
    """True when the diagnosis cannot fall in a chapter that is not physical (a null one is no diagnosis)."""
    if diagnosis is None:
        return True
    if not _PLAIN.fullmatch(diagnosis):
        return False
    compact = "".join(diagnosis.split()).upper()
    return not compact or _only_physical_chapters(compact[0])


@cache
def _only_physical_chapters(character: str) -> bool:
    """Whether every chapter whose range spans this first character is physical: a category within ``first`` and
    ``last`` starts with a character between theirs."""
    chapters = icd10cm_chapters()
    return all(kind == "physical" for first, last, kind in zip(
        chapters.get_column("first").to_list(), chapters.get_column("last").to_list(),
        chapters.get_column("health_kind").to_list(), strict=True) if first[0] <= character <= last[0])
