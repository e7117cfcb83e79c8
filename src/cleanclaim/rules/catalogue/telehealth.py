"""Telehealth coverage: is the code on Medicare's telehealth list on its date, and may the discipline furnish it?

Both answers change by date (the list every year, the therapists' right with each statutory extension), so both live
in dated data files under ``rules/data/`` and the rules only join lines to them.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import polars as pl

from cleanclaim.model import Severity
from cleanclaim.rules.registry import CANNOT_FIRE, Rule, Screen, register
from cleanclaim.rules.tables import Tables

_KEYS = ["encounter_id", "line", "code"]
_MEDICARE = "medicare"


@cache
def telehealth_services() -> pl.DataFrame:
    """Codes on (or known not on) the Medicare Telehealth Services List, with the dates each row holds for
    (``rules/data/telehealth_services.csv``; ``valid_to`` null while still in force)."""
    text = resources.files("cleanclaim.rules").joinpath("data", "telehealth_services.csv").read_bytes()
    return pl.read_csv(text, comment_prefix="#", schema={
        "code": pl.String, "listed": pl.Boolean, "valid_from": pl.Date, "valid_to": pl.Date, "status": pl.String,
        "source": pl.String,
    })


@cache
def telehealth_practitioner_periods() -> pl.DataFrame:
    """Dates on which Medicare lets PTs, OTs and SLPs furnish telehealth, with their status (eligible, restored,
    lapsed), one row per discipline (``rules/data/telehealth_practitioners.csv``)."""
    text = resources.files("cleanclaim.rules").joinpath("data", "telehealth_practitioners.csv").read_bytes()
    return (
        pl.read_csv(text, comment_prefix="#", schema={
            "disciplines": pl.String, "valid_from": pl.Date, "valid_to": pl.Date, "status": pl.String,
            "source": pl.String,
        })
        .with_columns(pl.col("disciplines").str.split(";").alias("discipline"))
        .explode("discipline")
        .with_columns(pl.col("discipline").str.strip_chars().str.to_lowercase())
        .drop("disciplines")
    )


def _telehealth_lines(tables: Tables) -> pl.LazyFrame:
    """Medicare lines furnished by telehealth: a telehealth place of service (02, 10) or modifier (95, 93) of the
    payer's profile. ``how`` says which, for the message."""
    return (
        tables.screen_lines().lazy()
        .filter(pl.col("payer_program") == _MEDICARE)
        .with_columns(
            pl.col("telehealth_pos").list.contains(pl.col("place_of_service")).fill_null(False).alias("_at_place"),
            pl.col("modifiers").list.set_intersection(pl.col("telehealth_modifiers")).alias("_th_modifiers"),
        )
        .filter(pl.col("_at_place") | (pl.col("_th_modifiers").list.len() > 0).fill_null(False))
        .with_columns(
            pl.when(pl.col("_at_place"))
            .then(pl.format("place of service {}", pl.col("place_of_service")))
            .otherwise(pl.format("modifier {}", pl.col("_th_modifiers").list.join("/")))
            .alias("how"),
        )
    )


def _could_be_telehealth_on_medicare(tables: Tables) -> bool:
    medicare = [p for p in tables.payers.values() if p.program == _MEDICARE]
    places = {pos for p in medicare for pos in p.telehealth.places_of_service}
    modifiers = {m for p in medicare for m in p.telehealth.modifiers}
    return bool(medicare) and not (places.isdisjoint(tables.values("place_of_service"))
                                   and modifiers.isdisjoint(tables.values("modifiers")))


@register
class TelehealthServiceNotOnList(Rule):
    """A service billed to Medicare as telehealth that is not on the Medicare Telehealth Services List on its date.

    What it checks:
        Medicare lines furnished by telehealth (place of service 02 or 10, or modifier 95 or 93) whose code is not on
        the Medicare Telehealth Services List on the date of service, by the dated table
        `rules/data/telehealth_services.csv`: 97140 (manual therapy) has never been on it; 97110, 97112, 97116,
        97530, 97535, 97150 and the PT/OT evaluations 97161-97168 have been on it since the public health emergency
        (temporary, then provisional, permanent from 2026), so a 2019 telehealth 97110 is flagged too. The table is a
        subset of the list: a code it says nothing about is not judged.

    Why it matters:
        Medicare pays a telehealth service only when its code is on the list for that date (SSA s1834(m)(4)(F),
        42 CFR 410.78(f)); anything else is denied (CARC 5 / CARC 96) and, if paid, is an overpayment on audit.

    Example:
        place_of_service: "10"
        lines: [{code: "97140", modifiers: [GP], units: 2}]

    Use instead:
        place_of_service: "10"
        lines: [{code: "97110", modifiers: [GP], units: 2}]   # if the session was therapeutic exercise
        # or furnish manual therapy in person (place of service 11) and bill it there

    References:
        CMS List of Telehealth Services (CY2020-CY2026); SSA s1834(m)(4)(F); 42 CFR 410.78(f); CMS-1744-IFC;
        CMS-1784-F (provisional codes); CMS-1832-F (CY2026: provisional codes made permanent).
    """

    id = "CC711"
    slug = "telehealth-service-not-on-list"
    family = "eligibility"
    severity = Severity.ERROR
    message = "{code} was billed to Medicare as telehealth ({how}) on {date}, but {listing}"
    fix = ("Furnish and bill {code} in person, or bill the telehealth service that was actually furnished if it is on "
           "the list (see the CMS List of Telehealth Services for {year}); do not bill {code} as telehealth.")
    references = ("CMS List of Telehealth Services", "SSA s1834(m)(4)(F)", "42 CFR 410.78(f)")

    def screen_for(self, tables: Tables) -> Screen | None:
        listed = set(telehealth_services().get_column("code").to_list())
        if listed.isdisjoint(tables.values("code")) or not _could_be_telehealth_on_medicare(tables):
            return CANNOT_FIRE
        return None

    def check(self, tables: Tables) -> pl.LazyFrame:
        services = telehealth_services().lazy()
        date = pl.col("date")
        covered = (pl.col("listed") & (pl.col("valid_from") <= date)
                   & (pl.col("valid_to").is_null() | (date <= pl.col("valid_to"))))
        judged = (
            _telehealth_lines(tables)
            .select(*_KEYS, "date", "how")
            .join(services, on="code", how="inner")
            .group_by(*_KEYS, "date", "how")
            .agg(
                covered.any().alias("covered"),
                pl.col("listed").any().alias("ever_listed"),
                pl.col("valid_from").filter(pl.col("listed")).min().alias("first_listed"),
                pl.col("source").filter(~pl.col("listed")).first().alias("not_listed_source"),
            )
            .filter(~pl.col("covered"))
        )
        return judged.with_columns(
            pl.col("date").dt.to_string("%Y-%m-%d").alias("date"),
            pl.col("date").dt.year().alias("year"),
            pl.when(pl.col("ever_listed"))
            .then(pl.format("it is on the Medicare Telehealth Services List only from {}",
                            pl.col("first_listed").dt.to_string("%Y-%m-%d")))
            .otherwise(pl.format("it is not on the Medicare Telehealth Services List ({})",
                                 pl.col("not_listed_source")))
            .alias("listing"),
        ).select(*_KEYS, "how", "date", "year", "listing")


_THERAPISTS = {"pt": "physical therapist", "ot": "occupational therapist", "slp": "speech-language pathologist"}


@register
class TelehealthPractitionerNotEligible(Rule):
    """A PT, OT or SLP telehealth service to Medicare on a date the statute did not let therapists furnish telehealth.

    What it checks:
        Medicare lines furnished by telehealth (place of service 02 or 10, or modifier 95 or 93) whose rendering
        provider is a physical therapist, occupational therapist or speech-language pathologist, against the dated
        table `rules/data/telehealth_practitioners.csv`: therapists may furnish Medicare telehealth only under the
        public-health-emergency waiver and the statutory extensions that followed it (from 2020-03-01; currently
        through 2027-12-31). A date outside every period is an error; a date in a lapse whose retroactive restoration
        is unconfirmed (2026-01-31 to 2026-02-02) is a warning; the 2025-10-01 lapse was restored retroactively.

    Why it matters:
        Outside those periods PTs, OTs and SLPs are not distant-site practitioners (SSA s1834(m)(4)(E)), so the
        claim is denied whatever the code (CARC 5 or 185) and the visit cannot be billed to the patient without an
        ABN.

    Example:
        date: 2028-01-10
        place_of_service: "10"
        lines: [{code: "97110", modifiers: [GP], units: 2}]

    Use instead:
        date: 2028-01-10
        place_of_service: "11"                      # furnished in person
        lines: [{code: "97110", modifiers: [GP], units: 2}]

    References:
        SSA s1834(m)(4)(E); CARES Act s3703 and CMS-1744-IFC; Consolidated Appropriations Act, 2023; American Relief
        Act, 2025 (H.R. 10545, Division C s3207); Full-Year Continuing Appropriations and Extensions Act, 2025
        (H.R. 1968, s2207); Continuing Appropriations, Agriculture, Legislative Branch, Military Construction and
        Veterans Affairs, and Extensions Act, 2026 (H.R. 5371, Division F s6208) and CMS CY2026 Telehealth FAQ;
        Consolidated Appropriations Act, 2026 (H.R. 7148: through 2027-12-31).
    """

    id = "CC712"
    slug = "telehealth-practitioner-not-eligible"
    family = "eligibility"
    severity = Severity.ERROR
    message = "{code} was furnished by a {discipline_name} by telehealth ({how}) on {date}: {reason}"
    fix = ("Bill the service only if it was furnished in person (and then with its in-person place of service); a "
           "telehealth session on this date is not payable by Medicare for a {discipline_name}{after}.")
    references = ("SSA s1834(m)(4)(E)", "CMS Telehealth FAQ CY2026",
                  "Consolidated Appropriations Act, 2026, H.R. 7148 (telehealth extension through 2027-12-31)")

    def screen_for(self, tables: Tables) -> Screen | None:
        disciplines = {str(d).lower() for d in tables.values("provider_discipline")}
        if disciplines.isdisjoint(_THERAPISTS) or not _could_be_telehealth_on_medicare(tables):
            return CANNOT_FIRE
        return None

    def check(self, tables: Tables) -> pl.LazyFrame:
        periods = telehealth_practitioner_periods()
        eligible = periods.filter(pl.col("status") == "eligible")
        first, last = eligible.select(pl.col("valid_from").min().dt.to_string("%Y-%m-%d"),
                                      pl.col("valid_to").max().dt.to_string("%Y-%m-%d")).row(0)
        lines = (
            _telehealth_lines(tables)
            .with_columns(pl.col("provider_discipline").str.to_lowercase().alias("discipline"))
            .filter(pl.col("discipline").is_in(list(_THERAPISTS)))
            .select(*_KEYS, "date", "how", "discipline")
        )
        date = pl.col("date")
        in_period = (pl.col("valid_from") <= date) & (date <= pl.col("valid_to"))
        matched = (
            lines.join(periods.lazy(), on="discipline", how="left")
            .with_columns(pl.when(in_period).then(pl.col("status")).otherwise(None).alias("status"),
                          pl.when(in_period).then(pl.col("source")).otherwise(None).alias("source"),
                          pl.when(in_period).then(pl.col("valid_from")).otherwise(None).alias("valid_from"),
                          pl.when(in_period).then(pl.col("valid_to")).otherwise(None).alias("valid_to"))
            .group_by(*_KEYS, "date", "how", "discipline")
            .agg(pl.col("status").drop_nulls().first(), pl.col("source").drop_nulls().first(),
                 pl.col("valid_from").drop_nulls().first(), pl.col("valid_to").drop_nulls().first())
            .filter(pl.col("status").is_null() | (pl.col("status") == "lapsed"))
        )
        span = f"{first} to {last}"
        return matched.with_columns(
            pl.col("discipline").replace_strict(_THERAPISTS, default=None).alias("discipline_name"),
            pl.col("date").dt.to_string("%Y-%m-%d").alias("date"),
            pl.when(pl.col("status") == "lapsed")
            .then(pl.format("the statutory telehealth flexibility had lapsed ({} to {}; {}), so Medicare pays it only "
                            "if the extension reached back to that date", pl.col("valid_from").dt.to_string("%Y-%m-%d"),
                            pl.col("valid_to").dt.to_string("%Y-%m-%d"), pl.col("source")))
            .otherwise(pl.lit(f"Medicare lets therapists furnish telehealth only from {span} (the PHE waiver and "
                              "the statutory extensions after it); this date is outside that span"))
            .alias("reason"),
            pl.when(pl.col("status") == "lapsed")
            .then(pl.lit(" unless the extension is retroactive; hold the claim until CMS says so"))
            .otherwise(pl.lit("")).alias("after"),
            pl.when(pl.col("status") == "lapsed").then(pl.lit(Severity.WARNING.value)).otherwise(None)
            .alias("severity"),
        ).select(*_KEYS, "discipline_name", "how", "date", "reason", "after", "severity")
