"""Frequency: progress reports, plan-of-care recertification and visit limits over the patient's history.

Every rule here reads the batch's lines together with the ``history`` table (earlier billed lines of the same
patients), so one claim and a year of claims are checked the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from functools import cache, lru_cache
from typing import Any

import polars as pl

from cleanclaim.codebook import CodeBook
from cleanclaim.model import Severity
from cleanclaim.rules.catalogue.time_units import _versions
from cleanclaim.rules.profile_frames import ProfilesKey
from cleanclaim.rules.registry import CANNOT_FIRE, Rule, Screen, register
from cleanclaim.rules.tables import SMALL_RUN, Tables, codes_frame, collect, lines_with_codes

_PT_EVALUATIONS = ["97161", "97162", "97163", "97164"]
_OT_EVALUATIONS = ["97165", "97166", "97167", "97168"]
_EVALUATIONS = ["97161", "97162", "97163", "97165", "97166", "97167"]
_RE_EVALUATIONS = ["97164", "97168"]
_PROGRESS_NOTE = r"(?i)\bprogress\s+(report|note)\b"
_THERAPY_DOC_REF = "CMS Pub 100-02 Ch.15 s220.3 (documentation requirements for therapy services)"
_NO_LINE = pl.lit(None, dtype=pl.Int32).alias("line")
_NO_CODE = pl.lit(None, dtype=pl.String).alias("code")




def _event_dates(tables: Tables, codes: Collection[str]) -> set[dt.date | None] | None:
    """The dates on which the batch or the history bills one of ``codes`` (every patient together), or None when the
    run is too large to read in Python."""
    dates: set[dt.date | None] = set()
    for frame in (tables.lines, tables.history):
        if frame.height > SMALL_RUN:
            return None
        if frame.height:
            dates.update(date for code, date in zip(frame.get_column("code").to_list(),
                                                   frame.get_column("date").to_list(), strict=True)
                         if code in codes)
    return dates


def _most_dates(tables: Tables, codes: Collection[str], payer: str | None = None) -> int:
    """The most distinct dates on which one patient's lines and history bill one of ``codes`` (a null patient or
    date counted as one), among the patients with a line of ``payer`` and one of ``codes`` when it is given: on a
    large run, where `_event_dates` is not read in Python, a bound on any patient's count of treatment days or of a
    limit's dates. Memoised per codes and payer (the screens of a run ask for the same ones)."""
    wanted = frozenset(codes)

    def count(tables: Tables) -> int:
        of_payer = pl.lit(True) if payer is None else pl.col("payer").eq(payer)
        frames = [frame.lazy().select("patient_id", "date", "code", counted.alias("of_payer"))
                  for frame, counted in ((tables.lines, of_payer), (tables.history, pl.lit(payer is None)))
                  if frame.height]
        if not frames:
            return 0
        most = collect(
            pl.concat(frames, how="vertical_relaxed")
            .filter(pl.col("code").is_in(pl.lit(pl.Series(sorted(wanted), dtype=pl.String)).implode()))
            .group_by("patient_id").agg(pl.col("date").n_unique(), pl.col("of_payer").any())
            .filter(pl.col("of_payer")).select(pl.col("date").max())
        ).item()
        return int(most or 0)

    return tables.memo(f"frequency_most_dates:{payer}:{sorted(wanted)}", count)


@cache
def _always_therapy(book: CodeBook) -> frozenset[str]:
    """Codes with a version that is always therapy (``_therapy_flags``), built once per code book."""
    return frozenset(code for code, versions in _versions(book).items()
                     if any(entry.therapy == "always" for entry in versions))


@cache
def _therapy_flags(book: CodeBook) -> pl.DataFrame:
    """Per code, whether any version of it is always therapy (built once per code book)."""
    return codes_frame(book).group_by("code").agg((pl.col("therapy") == "always").any().alias("always_therapy"))


def _plan_of(modifiers: pl.Expr, code: pl.Expr) -> pl.Expr:
    """The discipline's plan a service belongs to: its GP/GO/GN modifier, else the evaluation family's."""
    return pl.coalesce(
        modifiers.list.eval(pl.element().filter(pl.element().is_in(["GP", "GO", "GN"]))).list.first(),
        pl.when(code.is_in(_PT_EVALUATIONS)).then(pl.lit("GP")).when(code.is_in(_OT_EVALUATIONS)).then(pl.lit("GO")),
    )


def _fewest_visits(tables: Tables) -> int:
    """The smallest progress-report interval (treatment days) among the run's payers (0 when none sets one: the
    payer join then leaves nothing to report)."""
    visits = [p.progress_report_visits for p in tables.payers.values() if p.progress_report_visits is not None]
    return min(visits, default=0)


def _patient_days(tables: Tables, fewest: int) -> pl.LazyFrame:
    """One row per patient, discipline plan (GP/GO/GN) and date with what happened that day: an always-therapy
    service, an evaluation, a re-evaluation or progress report (history flag, 97164/97168, or a note that says it is a
    progress report). Each discipline keeps its own reporting periods; an event without a therapy modifier counts for
    every plan of the patient (or for one "therapy" plan when none is known).

    On a large run only patients with at least ``fewest`` dates of an always-therapy service are kept: a plan's
    treatment days are some of them, so a patient with fewer can reach no payer's count (a month of claims: most
    patients). Every window and group below is per patient, so leaving a whole patient out changes nothing for the
    others."""
    history = tables.history.lazy().select("patient_id", "date", "code", "modifiers", _HISTORY_REPORT)
    batch = tables.lines.lazy().select("patient_id", "date", "code", "modifiers", _NOT_A_REPORT)
    noted = tables.encounters.lazy().filter(_NOTED_REPORT).select("patient_id", "date", *_NOTE_EVENT)
    period = ["patient_id", "plan"]
    events = pl.concat([history, batch, noted], how="vertical_relaxed")
    flags = _therapy_flags(tables.book)
    if tables.lines.height + tables.history.height > SMALL_RUN:  # on a claim the pruning costs more than it saves
        always = flags.filter(pl.col("always_therapy")).get_column("code").implode()
        # a group-by of the therapy rows and a semi-join: a third of a window over every line
        enough = (events.filter(pl.col("code").is_in(always)).group_by("patient_id")
                  .agg(pl.col("date").n_unique().alias("dates")).filter(pl.col("dates") >= fewest)
                  .select("patient_id"))
        events = events.join(enough, on="patient_id", how="semi", maintain_order="left")
    return (
        events
        .join(flags.lazy(), on="code", how="left")
        .with_columns(_PLAN)
        .with_columns(_EVERY_PLAN)
        .explode("plan")
        .group_by("patient_id", pl.col("plan").fill_null("therapy"), "date").agg(_DAY_EVENTS)
        .sort(*period, "date")
        .with_columns(pl.col("treatment").cast(pl.Int64).cum_sum().over(period).alias("treatment_days"))
        .with_columns(_PERIOD_START)
        .with_columns((pl.col("treatment_days") - pl.col("base")).alias("count"))
    )


# The progress-report-due plan's expressions, built once (on one claim, building them costs about as much as
# running them).
_HISTORY_REPORT = pl.col("progress_report").fill_null(False).alias("report")
_NOT_A_REPORT = pl.lit(False).alias("report")
_NOTED_REPORT = pl.col("note").fill_null("").str.contains(_PROGRESS_NOTE)
_NOTE_EVENT = [pl.lit(None, dtype=pl.String).alias("code"), pl.lit([], dtype=pl.List(pl.String)).alias("modifiers"),
               pl.lit(True).alias("report")]
_PLAN = _plan_of(pl.col("modifiers"), pl.col("code")).alias("plan")
# An event without a plan of its own counts for each plan of the patient (an evaluation always has its own); with
# none known, for one "therapy" plan (the empty list explodes to a null plan).
_EVERY_PLAN = (pl.when(pl.col("plan").is_null())
               .then(pl.col("plan").drop_nulls().unique(maintain_order=True).implode().over("patient_id"))
               .otherwise(pl.concat_list("plan")).alias("plan"))
_DAY_EVENTS = [
    pl.col("always_therapy").fill_null(False).any().alias("treatment"),
    pl.col("code").is_in(_EVALUATIONS).any().alias("evaluation"),
    (pl.col("report") | pl.col("code").is_in(_RE_EVALUATIONS).fill_null(False)).any().alias("report"),
    pl.col("code").filter(pl.col("code").is_in(_EVALUATIONS)).first().alias("eval_code"),
    pl.col("code").filter(pl.col("code").is_in(_RE_EVALUATIONS)).first().alias("reeval_code"),
]
# A report closes its period (the next one starts after it); an evaluation opens one and counts as day 1. Each day
# carries the start of its period and what opened it forward.
_PERIOD_START = [
    pl.when(pl.col("report")).then(pl.col("treatment_days"))
    .when(pl.col("evaluation")).then(pl.col("treatment_days") - pl.col("treatment").cast(pl.Int64))
    .otherwise(None).forward_fill().over("patient_id", "plan").fill_null(0).alias("base"),
    pl.when(pl.col("report")).then(
        pl.format("{} on {}", pl.coalesce(pl.format("re-evaluation {}", pl.col("reeval_code")),
                                          pl.lit("progress report")), pl.col("date").cast(pl.String)))
    .when(pl.col("evaluation")).then(pl.format("evaluation {} on {}", pl.col("eval_code"),
                                               pl.col("date").cast(pl.String)))
    .otherwise(None).forward_fill().over("patient_id", "plan").fill_null("none on file").alias("last_text"),
    pl.col("plan").replace_strict({"GP": "PT plan (GP)", "GO": "OT plan (GO)", "GN": "SLP plan (GN)"},
                                  default="therapy plan").alias("plan_text"),
]


@register
class ProgressReportDue(Rule):
    """A therapy visit on or after the 10th treatment day since the evaluation or the last progress report.

    What it checks:
        For always-therapy services under a payer with a progress-report interval (Medicare: 10 treatment days),
        counts, for each discipline's plan (GP, GO, GN) separately, the days with therapy since the evaluation
        (97161-97163, 97165-97167; the evaluation day is day 1) or since the last progress report or re-evaluation (a
        history line with `progress_report: true`, 97164/97168, or a note that says "progress report"), over the
        history and the batch. The 10th treatment day and later need a progress report.

    Why it matters:
        Medicare requires a progress report by a clinician at least once every 10 treatment days; services in a
        reporting period without one are not supported by the record and are denied on review.

    Example:
        history: 9 treatment days after the evaluation on 2026-02-02, no progress report
        lines: [{code: "97110", modifiers: [GP], units: 2}]   # 10th treatment day

    Use instead:
        note: "Progress report: goals reviewed ..."   # or a 97164 re-evaluation when it is warranted

    References:
        CMS Pub. 100-02 Ch. 15 s220.3.D (progress report: "at least once every 10 treatment days"; the first
        reporting period begins on the first day of the episode, whether that is an evaluation, a re-evaluation or a
        treatment).
    """

    id = "CC801"
    slug = "progress-report-due"
    family = "frequency and documentation"
    severity = Severity.WARNING
    message = ("{date} is treatment day {count} of the {plan_text} since the last report ({last_text}): a progress "
               "report is due at least every {visits} treatment days")
    fix = ("Write a progress report for the {plan_text} (by the therapist) on or before this visit and keep it with "
           "the record.")
    references = (_THERAPY_DOC_REF,
                  "CMS Pub. 100-02 Ch. 15 s220.3.D (progress report at least every 10 treatment days)")

    def screen_for(self, tables: Tables) -> Screen | None:
        # A flagged visit is treatment day ``visits`` or later of a patient's plan, so at least that many dates bill an
        # always-therapy code in the batch or the history (every patient together bounds each patient's count).
        intervals = [p.progress_report_visits for p in tables.payers.values() if p.progress_report_visits is not None]
        therapy = _always_therapy(tables.book)
        if not intervals or therapy.isdisjoint(tables.values("code")):
            return CANNOT_FIRE
        dates = _event_dates(tables, therapy)
        if dates is not None and len(dates) < min(intervals):
            return CANNOT_FIRE
        if dates is None and _most_dates(tables, therapy) < min(intervals):
            return CANNOT_FIRE  # on a large run, each patient's own dates bound their count
        return None

    def check(self, tables: Tables) -> pl.LazyFrame:
        therapy = lines_with_codes(tables).lazy().filter(pl.col("therapy") == "always")
        payers = tables.payer_frame().lazy().filter(pl.col("progress_report_visits").is_not_null()).select(
            "payer", pl.col("progress_report_visits").alias("visits"))
        return (
            tables.encounters.lazy().join(therapy, on="encounter_id", how="semi")
            .join(payers, on="payer", how="inner")
            .join(_patient_days(tables, _fewest_visits(tables)), on=["patient_id", "date"], how="inner")
            .filter(~pl.col("report") & (pl.col("count") >= pl.col("visits")))
            .with_columns(_NO_LINE, _NO_CODE, pl.col("date").cast(pl.String))
            .select("encounter_id", "line", "code", "date", "count", "plan_text", "last_text", "visits")
            .sort("encounter_id", "plan_text")
        )


@register
class PlanOfCareRecertDue(Rule):
    """A therapy visit after the plan of care's certification ends, or close to it.

    What it checks:
        The encounter's plan of care (`plan_of_care: {start, certified_through}`): the date of service against the
        certified-through date and against the start plus the payer's recertification interval (Medicare: 90 days),
        whichever comes first. After that deadline it is an error; within 7 days before it, a warning.

    Why it matters:
        Medicare pays outpatient therapy only under a certified plan of care; the physician or NPP must recertify at
        least every 90 days. Visits outside a certified period are denied.

    Example:
        date: 2026-04-10
        plan_of_care: {start: 2026-01-05, certified_through: 2026-04-04}

    Use instead:
        plan_of_care: {start: 2026-04-04, certified_through: 2026-07-02}   # recertified before the visit

    References:
        42 CFR 424.24(c); CMS Pub. 100-02 Ch. 15 s220.1.3 (certification and recertification of the plan of care,
        at least every 90 days).
    """

    id = "CC802"
    slug = "plan-of-care-recert-due"
    family = "frequency and documentation"
    severity = Severity.ERROR
    message = "{date} is {when_text} the plan of care's certification ends ({deadline}: {deadline_text})"
    fix = "{fix_text}"
    references = ("42 CFR 424.24(c) (outpatient therapy plan certification and recertification)",
                  "CMS Pub. 100-02 Ch. 15 s220.1.3 (recertification at least every 90 days)")

    def screen_for(self, tables: Tables) -> Screen | None:
        # A flagged encounter has a plan of care whose deadline (the earlier of certified-through and start plus the
        # payer's interval) is at most 7 days after the date of service: worked out per encounter in Python.
        encounters = tables.encounters
        if encounters.get_column("plan_start").null_count() == encounters.height:
            return CANNOT_FIRE
        if encounters.height > SMALL_RUN:
            return None
        rows = encounters.select("payer", "date", "plan_start", "plan_certified_through").rows()
        return None if any(_recert_may_be_due(tables, *row) for row in rows) else CANNOT_FIRE

    def check(self, tables: Tables) -> pl.LazyFrame:
        payers = tables.payer_frame().lazy().select("payer", pl.col("plan_of_care_recert_days").alias("recert_days"))
        return (
            tables.encounters.lazy().filter(pl.col("plan_start").is_not_null())
            .join(payers, on="payer", how="left")
            .with_columns(_RECERT_DEADLINE)
            .with_columns(_RECERT_DEADLINE_DATE)
            .filter(pl.col("deadline_date").is_not_null())
            .with_columns(_RECERT_DAYS_LEFT)
            .filter(pl.col("days_left") <= 7)
            .with_columns(_RECERT_TEXTS)
            .select("encounter_id", "line", "code", "date", "when_text", "deadline", "deadline_text", "severity",
                    "fix_text")
        )


def _recert_may_be_due(tables: Tables, payer: Any, date: dt.date | None, start: dt.date | None,
                       certified_through: dt.date | None) -> bool:
    """Whether the plan-of-care-recert-due plan could flag this encounter (True when in doubt)."""
    if start is None or date is None:
        return False
    profile = tables.payers.get(payer) if payer is not None else None
    days = profile.plan_of_care_recert_days if profile is not None else None
    deadlines = [certified_through] if certified_through is not None else []
    if days is not None:
        try:
            deadlines.append(start + dt.timedelta(days=days))
        except OverflowError:
            return True
    return bool(deadlines) and (min(deadlines) - date).days <= 7


# The plan-of-care-recert-due plan's expressions, built once.
_RECERT_DEADLINE = (pl.col("plan_start") + pl.duration(days=pl.col("recert_days"))).alias("recert_deadline")
_RECERT_DEADLINE_DATE = [
    pl.min_horizontal("plan_certified_through", "recert_deadline").alias("deadline_date"),
    pl.when(pl.col("recert_deadline").is_null()
            | (pl.col("plan_certified_through").is_not_null()
               & (pl.col("plan_certified_through") <= pl.col("recert_deadline"))))
    .then(pl.lit("certified through"))
    .otherwise(pl.format("{} days after the plan's start on {}", pl.col("recert_days"),
                         pl.col("plan_start").cast(pl.String))).alias("deadline_text"),
]
_RECERT_DAYS_LEFT = (pl.col("deadline_date") - pl.col("date")).dt.total_days().alias("days_left")
_RECERT_LATE = pl.col("days_left") < 0
_RECERT_TEXTS = [
    pl.when(pl.col("days_left") == 0).then(pl.lit("the day"))
    .otherwise(pl.format("{} day{} {}", pl.col("days_left").abs(),
                         pl.when(pl.col("days_left").abs() == 1).then(pl.lit("")).otherwise(pl.lit("s")),
                         pl.when(_RECERT_LATE).then(pl.lit("after")).otherwise(pl.lit("before"))))
    .alias("when_text"),
    pl.when(_RECERT_LATE).then(pl.lit(None, dtype=pl.String)).otherwise(pl.lit(Severity.WARNING.value))
    .alias("severity"),
    pl.when(_RECERT_LATE).then(pl.lit("Get the plan of care recertified (signed and dated by the physician or NPP) for "
                                      "this date of service, or do not bill the visit under the expired plan."))
    .otherwise(pl.format("Send the updated plan of care for recertification before {}.",
                         pl.col("deadline_date").cast(pl.String))).alias("fix_text"),
    pl.col("deadline_date").cast(pl.String).alias("deadline"),
    pl.col("date").cast(pl.String),
    _NO_LINE,
    _NO_CODE,
]


@lru_cache(maxsize=16)
def _limits(payers: ProfilesKey) -> pl.DataFrame:
    """One row per payer frequency limit and code it counts."""
    rows = [
        {"payer": payer_id, "limit_no": number, "code": code, "max": float(limit.max), "days": limit.days,
         "window": limit.window, "months": limit.months, "measure": limit.measure,
         "first_year_max": limit.first_year_max,
         "limit_severity": limit.severity.value, "reason": limit.reason or "payer frequency limit",
         "limit_reference": limit.reference or profile.name, "codes_text": "/".join(limit.codes)}
        for payer_id, profile in payers.items
        for number, limit in enumerate(profile.frequency_limits)
        for code in limit.codes
    ]
    return pl.DataFrame(rows, schema={"payer": pl.String, "limit_no": pl.Int64, "code": pl.String,
                                      "max": pl.Float64, "days": pl.Int64, "window": pl.String,
                                      "months": pl.Int64, "measure": pl.String, "first_year_max": pl.Float64,
                                      "limit_severity": pl.String, "reason": pl.String,
                                      "limit_reference": pl.String, "codes_text": pl.String})


@register
class VisitFrequencyLimit(Rule):
    """More dates of service with a code than the payer's frequency limit allows in its window.

    What it checks:
        The payer profile's `frequency_limits`, over the patient's history and the batch: the number of distinct dates
        with any of the limit's codes (or, with `measure: hours`, the hours their units make) in the limit's window
        ending on the date of service. Windows: `days` (the last N days, e.g. 22 IBT-for-obesity sessions in 365
        days); `full_months` (CMS's "annual" claims edit: the service is allowed again once 11 full months have passed
        after the month of the last one, so a January 2026 screening allows the next from January 2027, not 365 days
        later; Medicare's tobacco counseling counts its 8 sessions the same way); `calendar_year`, with
        `first_year_max` for the first calendar year the patient has the service (MNT: 3 hours, then 2; DSMT: 10
        hours, then 2). More than the limit is flagged at the limit's severity (warnings by default); the message
        names the limit's own source.

    Why it matters:
        Payers deny services beyond their frequency limits (Medicare: two tobacco quit attempts of four sessions a
        year, one alcohol screening a year ...); the patient may be liable only with a valid ABN.

    Example:
        history: 8 dates of 99406/99407 from April 2025 (11 full months have not passed since the first)
        lines: [{code: "99406", units: 1}]   # the 9th, on 2026-03-02

    Use instead:
        # check eligibility before the visit; bill only within the limit or with the payer's documented exception

    References:
        Payer profile frequency limits and the sources they name: for Medicare NCD 210.4.1 (tobacco counseling),
        NCD 210.8 and CMS CR 7633 (alcohol misuse screening, G0442/G0443), NCD 210.9 (depression screening),
        NCD 210.11 (IBT for cardiovascular disease), NCD 210.12 (IBT for obesity, G0447/G0473), 42 CFR
        410.132(b)(5) (MNT hours), 42 CFR 410.141(c) (DSMT hours).
    """

    id = "CC803"
    slug = "visit-frequency-limit"
    family = "frequency and documentation"
    severity = Severity.WARNING
    message = ("{code}: {count_text} {what} {codes_text} in the {window_text} {date}, above the limit of {max_text} "
               "({reason}; {limit_reference})")
    fix = ("Check the patient's eligibility for {code} on {date}; bill it only within the limit of {max_text} "
           "({window_text} the date of service) or with the payer's documented exception.")
    references = ("Payer profile frequency_limits (each names its source)",
                  "NCD 210.8, 210.9, 210.11, 210.12 (preventive counseling frequencies); 42 CFR 410.132(b)(5) (MNT); "
                  "42 CFR 410.141(c) (DSMT)")

    def screen_for(self, tables: Tables) -> Screen | None:
        # A flagged line bills a code of one of its payer's limits, and more than ``max`` distinct dates bill one of
        # the limit's codes in its window: at most the dates that bill them anywhere in the batch or the history.
        codes = tables.values("code")
        payers = tables.values("payer")
        limits = [(payer, limit) for payer, profile in tables.payers.items() if payer in payers
                  for limit in profile.frequency_limits if not codes.isdisjoint(limit.codes)]
        if not limits:
            return CANNOT_FIRE
        for payer, limit in limits:
            if limit.measure == "hours":  # one date may hold more hours than the limit: no cheap bound
                return None
            allowed = min(limit.max, limit.first_year_max or limit.max)
            dates = _event_dates(tables, frozenset(limit.codes))
            # on a large run, the dates of each patient who has a line the limit applies to (its payer's, of one of
            # its codes) bound the count of each of their lines
            if (len(dates) if dates is not None else _most_dates(tables, limit.codes, payer)) > allowed:
                return None
        return CANNOT_FIRE

    def check(self, tables: Tables) -> pl.LazyFrame:
        limit_frame = _limits(ProfilesKey(tables.payers))
        limits = limit_frame.lazy()
        unit_minutes = codes_frame(tables.book).group_by("code").agg(pl.col("unit_minutes").max()).lazy()
        # only lines of a limit's codes take part: kept before anything else, they are a few of a run's lines (on a
        # claim the filter costs more than it saves)
        limited = (pl.col("code").is_in(limit_frame.get_column("code").unique().implode())
                   if tables.lines.height + tables.history.height > SMALL_RUN else pl.lit(True))
        # an event is a billed line (history or batch); the same line in both counts once
        events = pl.concat([
            tables.history.lazy().filter(limited).select("patient_id", "date", "code", "units"),
            tables.lines.lazy().filter(limited).select("patient_id", "date", "code", "units"),
        ]).unique().join(limits.select("limit_no", "payer", "code"), on="code", how="inner").join(
            unit_minutes, on="code", how="left").select(
            "patient_id", "payer", "limit_no", pl.col("date").alias("event_date"),
            (pl.col("units").fill_null(1) * pl.col("unit_minutes").fill_null(0) / 60).alias("event_hours"),
        )
        flagged = tables.lines.lazy().filter(limited).join(limits, on=["payer", "code"], how="inner")
        paired = flagged.join(events, on=["patient_id", "payer", "limit_no"], how="inner")
        counted = (
            paired.filter(_IN_WINDOW)
            .group_by("encounter_id", "line", "limit_no")
            .agg(pl.col("event_date").n_unique().cast(pl.Float64).alias("dates"), pl.col("event_hours").sum())
        )
        # the first calendar year of a first_year_max limit: no event of the limit in an earlier year
        earlier_years = (
            paired.filter(pl.col("event_date").dt.year() < pl.col("date").dt.year())
            .select("encounter_id", "line", "limit_no").unique().with_columns(pl.lit(True).alias("seen_before"))
        )
        return (
            flagged.join(counted, on=["encounter_id", "line", "limit_no"], how="inner")
            .join(earlier_years, on=["encounter_id", "line", "limit_no"], how="left")
            .with_columns(
                pl.when(pl.col("first_year_max").is_not_null() & pl.col("seen_before").is_null())
                .then(pl.col("first_year_max")).otherwise(pl.col("max")).alias("allowed"),
                pl.when(pl.col("measure") == "hours").then(pl.col("event_hours")).otherwise(pl.col("dates"))
                .alias("count"),
            )
            .filter(pl.col("count") > pl.col("allowed") + 1e-9)
            .with_columns(
                pl.col("date").cast(pl.String), pl.col("limit_severity").alias("severity"),
                _number_text("count").alias("count_text"), _number_text("allowed").alias("max_text"),
                pl.when(pl.col("measure") == "hours").then(pl.lit("hours of")).otherwise(pl.lit("dates with"))
                .alias("what"),
                _WINDOW_TEXT.alias("window_text"),
            )
            .select("encounter_id", "line", "code", "count_text", "what", "codes_text", "window_text", "date",
                    "max_text", "reason", "limit_reference", "severity")
            .sort("encounter_id", "line")
        )


def _number_text(column: str) -> pl.Expr:
    value = pl.col(column).round(2)
    return pl.when(value == value.floor()).then(value.cast(pl.Int64).cast(pl.String)).otherwise(value.cast(pl.String))


_WINDOW_TEXT = (
    pl.when(pl.col("window") == "full_months")
    .then(pl.format("calendar months {} through the month of", pl.col("months")))
    .when(pl.col("window") == "calendar_year").then(pl.lit("calendar year up to"))
    .otherwise(pl.format("{} days ending", pl.col("days")))
)

_MONTH_INDEX = pl.col("date").dt.year() * 12 + pl.col("date").dt.month()
_EVENT_MONTH_INDEX = pl.col("event_date").dt.year() * 12 + pl.col("event_date").dt.month()
_IN_WINDOW = (pl.col("event_date") <= pl.col("date")) & (
    pl.when(pl.col("window") == "full_months")
    # "11 full months after the month of the last one": an event counts while fewer than `months` months separate
    # the two months (January's screening blocks until the next January)
    .then(pl.col("months") > _MONTH_INDEX - _EVENT_MONTH_INDEX)
    .when(pl.col("window") == "calendar_year")
    .then(pl.col("event_date").dt.year() == pl.col("date").dt.year())
    .otherwise(pl.col("event_date") > pl.col("date") - pl.duration(days=pl.col("days")))
)
