"""Medical necessity: does a claim's diagnosis support its procedure? (CARC 11: the diagnosis is inconsistent with the
procedure; CARC 50: not deemed a medical necessity.) The lists live in ``rules/data/diagnosis_support.csv``."""

from __future__ import annotations

from functools import cache
from importlib import resources

import polars as pl

from cleanclaim.diagnoses import normalized_diagnosis_expr
from cleanclaim.model import Severity
from cleanclaim.rules.catalogue.diagnosis import distinct_diagnoses
from cleanclaim.rules.registry import Rule, register
from cleanclaim.rules.tables import Tables, collect_all, lines_with_codes

_KEYS = ["encounter_id", "line", "code"]
_THERAPY_MODIFIERS = ["GP", "GO", "GN"]


@cache
def diagnosis_support() -> pl.DataFrame:
    """The diagnosis-support lists (data file ``rules/data/diagnosis_support.csv``, sources in its header)."""
    text = resources.files("cleanclaim.rules").joinpath("data", "diagnosis_support.csv").read_bytes()
    return pl.read_csv(text, comment_prefix="#", schema={
        "list": pl.String, "payer": pl.String, "procedures": pl.String, "first": pl.String, "last": pl.String,
        "valid_from": pl.Date, "subsequent": pl.String, "meaning": pl.String,
    }).with_columns(pl.col("procedures").str.split(";"))


def _rows(name: str) -> pl.LazyFrame:
    return diagnosis_support().lazy().filter(pl.col("list") == name)


_APPLIES = ((pl.col("row_payer") == "*") | (pl.col("row_payer") == pl.col("payer"))) & (
    pl.col("valid_from").is_null() | (pl.col("date") >= pl.col("valid_from")))
"""A list row applies to a line of its payer (or of every payer) on or after its start date."""


_IS_THERAPY = (
    (pl.col("therapy") == "always")
    | ((pl.col("therapy") == "sometimes")
       & pl.col("modifiers").list.eval(pl.element().is_in(_THERAPY_MODIFIERS)).list.any())
).fill_null(False)

_INJURY = pl.col("dx_code").str.contains(r"^(S|T[0-7][0-9]|T8[0-8])") & (pl.col("dx_code").str.len_chars() == 7)
"""Chapter 19 (S00-T88) codes of seven characters once the dot is gone: those a 7th character can mark initial."""

_NO_CONDITION_REFS = ["ICD-10-CM Official Guidelines FY2026 s I.C.21.c (Z code categories)",
                      "CMS Pub. 100-02 Ch. 15 s220.1.2, s220.2 (therapy reasonable and necessary for a condition)",
                      "CARC 11"]
_INITIAL_REFS = ["ICD-10-CM Official Guidelines FY2026 s I.C.19.a (7th character A, D, S)", "CARC 11"]
_BMI_REFS = ["NCD 210.12 Intensive Behavioral Therapy for Obesity (Pub. 100-03)",
             "CMS Pub. 100-04 Ch. 18 s200 (G0447/G0473 with Z68.30-Z68.45)", "CARC 11"]


@register
class DiagnosisDoesNotSupportProcedure(Rule):
    """A line whose diagnoses cannot make the procedure medically necessary.

    What it checks:
        Three lists of ``rules/data/diagnosis_support.csv`` (per payer, with dates):
        (1) a therapy line (an always-therapy code, or a line with GP, GO or GN) on a claim whose every diagnosis is a
        Z code naming an encounter reason and no condition (examination and screening Z00-Z13, counseling Z69-Z71,
        lifestyle Z72, Z76): error;
        (2) a therapy line pointing at an injury code (chapter 19, S00-T88) whose 7th character is an initial
        encounter (A; B or C for open fractures): rehab during healing or recovery takes D (E, F): warning;
        (3) intensive behavioral therapy for obesity (G0447, G0473) on a claim without a BMI of 30 or more
        (Z68.30-Z68.45): error.
        Health behavior services without a physical diagnosis are `hbai-needs-physical-diagnosis` (CC205).

    Why it matters:
        The payer denies the line with CARC 11 (diagnosis inconsistent with the procedure) or CARC 50 (not medically
        necessary), and an audit recovers what was paid: a Z71.89 "other counseling" claim for 97110 says no
        condition was treated; an "A" injury code on a rehab visit says active treatment, which a therapist does not
        give; Medicare covers obesity counseling only for a documented BMI of 30 or more.

    Example:
        diagnoses: [S83.511A]
        lines: [{code: "97110", modifiers: [GP], units: 2, dx_pointers: [1]}]

    Use instead:
        diagnoses: [S83.511D]   # subsequent encounter: healing or recovery phase
        lines: [{code: "97110", modifiers: [GP], units: 2, dx_pointers: [1]}]

    References:
        ICD-10-CM Official Guidelines for Coding and Reporting FY2026, s I.C.19.a and s I.C.21.c; CMS Pub. 100-02
        (Medicare Benefit Policy Manual) Ch. 15 s220.1.2 and s220.2; NCD 210.12 (Pub. 100-03); CMS Pub. 100-04
        (Medicare Claims Processing Manual) Ch. 18 s200; CARC 11 and 50.
    """

    id = "CC206"
    slug = "diagnosis-does-not-support-procedure"
    family = "diagnosis"
    severity = Severity.ERROR
    message = "{problem}"
    fix = "{remedy}"
    references = ("ICD-10-CM Official Guidelines FY2026 s I.C.19.a, s I.C.21.c", "CMS Pub. 100-02 Ch. 15 s220.2",
                  "NCD 210.12", "CMS Pub. 100-04 Ch. 18 s200", "CARC 11")

    def check(self, tables: Tables) -> pl.DataFrame | pl.LazyFrame:
        lines = lines_with_codes(tables).lazy()
        encounters = tables.encounters.lazy()
        questionable = _questionable_encounters(tables)
        if questionable is not None:
            # the few questionable encounters' rows, taken once: each of the three checks below reads them again
            lines, encounters = (frame.lazy() for frame in collect_all([
                lines.join(questionable.lazy(), on="encounter_id", how="semi").select(_LINE_COLUMNS),
                encounters.join(questionable.lazy(), on="encounter_id", how="semi")]))
        else:
            lines = lines.select(_LINE_COLUMNS)
        dx = (
            encounters.select("encounter_id", "diagnoses")
            .with_columns(pl.int_ranges(1, pl.col("diagnoses").list.len() + 1).alias("position"))
            .explode("diagnoses", "position")
            .filter(pl.col("diagnoses").is_not_null())
            .with_columns(normalized_diagnosis_expr("diagnoses").alias("dx_code"),
                          pl.col("position").cast(pl.Int64))
            .rename({"diagnoses": "diagnosis"})
        )
        return pl.concat([_no_condition(lines, dx), _initial_encounter(lines, dx), _bmi_missing(lines, dx)],
                         how="vertical_relaxed").sort("encounter_id", "line", maintain_order=True)


_LINE_COLUMNS = [*_KEYS, "payer", "date", "modifiers", "dx_pointers", _IS_THERAPY.alias("is_therapy")]


def _questionable_encounters(tables: Tables) -> pl.DataFrame | None:
    """The ids of the encounters the rule may flag on a large run (None on a small one: all of them), decided per
    distinct diagnosis rather than per line: those whose every diagnosis names an encounter reason (any payer, any
    date), those with an injury diagnosis whose 7th character some list row names, and those billing a code that
    needs a BMI. A real month has a few hundred distinct diagnoses; joining each line to each of its claim's
    diagnoses cost most of the rule's time."""
    lines, encounters = tables.lines, tables.encounters
    if tables.small or encounters.get_column("encounter_id").has_nulls():
        return None  # a null id joins no narrowed list: such a batch is judged the whole way
    distinct = pl.LazyFrame({"diagnosis": distinct_diagnoses(tables)}).with_columns(
        normalized_diagnosis_expr("diagnosis").alias("dx_code"))
    sevenths = _rows("initial_encounter").select(pl.col("first").alias("seventh"))
    reasons, injuries = collect_all([
        _listed(distinct, "no_condition").select("diagnosis").unique(),
        distinct.filter(_INJURY).join(sevenths, left_on=pl.col("dx_code").str.slice(6, 1), right_on="seventh",
                                      how="semi").select("diagnosis"),
    ])
    needs_bmi = _rows("bmi_30_plus").select(pl.col("procedures").explode()).collect().to_series()
    # the lines are read for such a code only when the batch bills one (its distinct codes are the screens')
    billed = ([lines.filter(pl.col("code").is_in(needs_bmi.implode())).select("encounter_id")]
              if tables.values("code") & set(needs_bmi.to_list()) else [])
    diagnoses = pl.col("diagnoses")
    # "some diagnosis is not null" asked element-wise: list.drop_nulls().list.len() builds a copy of every list
    # (~15 ms on 43,000 encounters, against ~1 ms)
    return pl.concat([
        encounters.filter(
            (diagnoses.list.eval(pl.element().is_null() | pl.element().is_in(reasons.to_series().implode()))
             .list.all() & diagnoses.list.eval(pl.element().is_not_null()).list.any())
            | diagnoses.list.eval(pl.element().is_in(injuries.to_series().implode())).list.any()
        ).select("encounter_id"),
        *billed,
    ]).unique()


def _listed(dx: pl.LazyFrame, name: str) -> pl.LazyFrame:
    """Each claim diagnosis with the rows of list ``name`` whose prefix range holds it (any payer: filtered later)."""
    rows = _rows(name).select(pl.col("payer").alias("row_payer"), "first", "last", "valid_from", "meaning")
    return dx.join(rows, how="cross").filter(
        (pl.col("dx_code") >= pl.col("first")) & (pl.col("dx_code").str.slice(0, pl.col("last").str.len_chars())
                                                  <= pl.col("last")))


def _no_condition(lines: pl.LazyFrame, dx: pl.LazyFrame) -> pl.LazyFrame:
    therapy = lines.filter(pl.col("is_therapy"))
    per_line = therapy.select(*_KEYS, "payer", "date").join(dx, on="encounter_id", how="inner")
    reasons = _listed(dx, "no_condition")
    judged = (
        per_line.join(reasons.select("encounter_id", "position", "row_payer", "valid_from", "meaning"),
                      on=["encounter_id", "position"], how="left")
        .with_columns((pl.col("meaning").is_not_null() & _APPLIES).alias("no_condition"))
        .group_by(*_KEYS, "position", maintain_order=True)
        .agg(pl.col("diagnosis").first(), pl.col("no_condition").any(),
             pl.col("meaning").filter(pl.col("no_condition")).first())
        .group_by(*_KEYS, maintain_order=True)
        .agg(pl.col("no_condition").all().alias("all_reasons"), pl.col("diagnosis"), pl.col("meaning").unique())
        .filter(pl.col("all_reasons"))
    )
    return judged.select(
        *_KEYS,
        pl.format("{} is therapy, but every diagnosis on the claim ({}) is a Z code for an encounter reason ({}), "
                  "not a condition the therapy treats", pl.col("code"), pl.col("diagnosis").list.join(", "),
                  pl.col("meaning").list.drop_nulls().list.join("; ")).alias("problem"),
        pl.format("Add the condition the plan of care treats (the impairment, e.g. M62.81 muscle weakness, R26.81 "
                  "unsteady gait, or the injury or disease) and point line {} at it first; the Z code may follow.",
                  pl.col("line")).alias("remedy"),
        pl.lit(Severity.ERROR.value).alias("severity"),
        pl.lit(_NO_CONDITION_REFS, dtype=pl.List(pl.String)).alias("references"),
    )


def _initial_encounter(lines: pl.LazyFrame, dx: pl.LazyFrame) -> pl.LazyFrame:
    characters = _rows("initial_encounter").select(
        pl.col("payer").alias("row_payer"), pl.col("first").alias("seventh"), "valid_from", "subsequent", "meaning")
    pointed = (
        lines.filter(pl.col("is_therapy"))
        .with_columns(pl.when(pl.col("dx_pointers").list.len() > 0).then(pl.col("dx_pointers"))
                      .otherwise(pl.lit([1], dtype=pl.List(pl.Int64))).alias("position"))
        .explode("position")
        .join(dx, on=["encounter_id", "position"], how="inner")
        .filter(_INJURY)
        .with_columns(pl.col("dx_code").str.slice(6, 1).alias("seventh"))
        .join(characters, on="seventh", how="inner")
        .filter(_APPLIES)
    )
    return pointed.select(
        *_KEYS,
        pl.format("{} is rehabilitation, but it points at {} whose 7th character {} means {}; therapy during healing "
                  "or recovery is a subsequent encounter", pl.col("code"), pl.col("diagnosis"), pl.col("seventh"),
                  pl.col("meaning")).alias("problem"),
        pl.format("Report {} (7th character {}, subsequent encounter) unless the record shows the therapist gave "
                  "active treatment of the injury.",
                  pl.col("diagnosis").str.slice(0, pl.col("diagnosis").str.len_chars() - 1) + pl.col("subsequent"),
                  pl.col("subsequent")).alias("remedy"),
        pl.lit(Severity.WARNING.value).alias("severity"),
        pl.lit(_INITIAL_REFS, dtype=pl.List(pl.String)).alias("references"),
    ).unique(subset=[*_KEYS, "problem"], maintain_order=True)


def _bmi_missing(lines: pl.LazyFrame, dx: pl.LazyFrame) -> pl.LazyFrame:
    needs = (
        _rows("bmi_30_plus").select(pl.col("payer").alias("row_payer"), "procedures", "valid_from")
        .explode("procedures").rename({"procedures": "code"})
        .group_by("code", "row_payer").agg(pl.col("valid_from").min())
    )
    candidates = lines.join(needs, on="code", how="inner").filter(_APPLIES).select(*_KEYS, "payer", "date")
    bmi = _listed(dx, "bmi_30_plus").select("encounter_id", "row_payer", "valid_from")
    covered = candidates.join(bmi, on="encounter_id", how="inner").filter(_APPLIES).select(_KEYS).unique()
    diagnoses = dx.group_by("encounter_id").agg(pl.col("diagnosis"))
    return (
        candidates.join(covered, on=_KEYS, how="anti")
        .join(diagnoses, on="encounter_id", how="left")
        .select(
            *_KEYS,
            pl.format("{} (intensive behavioral therapy for obesity) needs a BMI of 30 or more on the claim "
                      "(Z68.30-Z68.45), but its diagnoses are {}", pl.col("code"),
                      pl.col("diagnosis").list.join(", ").fill_null("none")).alias("problem"),
            pl.format("Add the patient's measured BMI code (Z68.30-Z68.45) and point line {} at it; below a BMI of "
                      "30 Medicare does not cover {}.", pl.col("line"), pl.col("code")).alias("remedy"),
            pl.lit(Severity.ERROR.value).alias("severity"),
            pl.lit(_BMI_REFS, dtype=pl.List(pl.String)).alias("references"),
        )
    )

