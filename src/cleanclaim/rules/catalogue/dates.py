"""Dates of service that cannot be billed as they stand: in the future, or past what the code book was checked for."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import polars as pl

from cleanclaim.model import Severity
from cleanclaim.rules.registry import CANNOT_FIRE, Rule, Screen, register
from cleanclaim.rules.tables import Tables


@register
class FutureDateOfService(Rule):
    """A line dated after the day the check runs, or after the dates the code book release was checked for.

    What it checks:
        Line dates of service later than ``--as-of`` (default today): an error, since a service is billed after it is
        furnished. Dates after the last date of service the bundled code book release covers: a warning, because
        codes added, deleted or redefined after that date are unknown to cleanclaim.

    Why it matters:
        A claim for a future date is rejected (and a pattern of them is an audit flag for billing before services are
        rendered); usually the year or month is a typo. Checking a date past the code book's release can pass a code
        that was deleted in the meantime.

    Example:
        date: 2027-05-01   # checked on 2026-11-23

    Use instead:
        date: 2026-05-01

    References:
        42 CFR 424.32 (a claim is filed for services furnished); CMS Pub 100-04 Ch.1 s70 (filing after the date of
        service); cleanclaim code book release header (codes.csv).
    """

    id = "CC607"
    slug = "future-date-of-service"
    family = "claim"
    severity = Severity.ERROR
    message = "The date of service {date} is after {limit_text}"
    fix = "{remedy}"
    references = ("42 CFR 424.32", "CMS Pub 100-04 Ch.1 s70")

    def screen_for(self, tables: Tables) -> Screen | None:
        # The plan flags exactly the lines dated after the limit: none when the latest date is not.
        latest = tables.lines.get_column("date").max()
        limit = _last_date(tables.as_of, tables.book.covers_through)
        if latest is None or (type(latest) is dt.date and latest <= limit):
            return CANNOT_FIRE
        return None

    def check(self, tables: Tables) -> pl.LazyFrame:
        return (
            tables.lines.lazy().filter(pl.col("date") > pl.lit(_last_date(tables.as_of, tables.book.covers_through)))
            .with_columns(*_texts(tables.as_of, tables.book.covers_through))
            .select("encounter_id", "line", "code", "date", "limit_text", "remedy", "severity")
        )


def _last_date(as_of: dt.date, covers: dt.date | None) -> dt.date:
    """The latest date a line may carry without a finding: the run date, or the code book's last covered date if
    that is earlier (a line after either is flagged)."""
    return min(as_of, covers) if covers else as_of


@lru_cache(maxsize=64)
def _texts(as_of: dt.date, covers: dt.date | None) -> tuple[pl.Expr, ...]:
    """The per-row texts, built once per run date and code book (they only depend on the two dates)."""
    after_today = pl.col("date") > pl.lit(as_of)
    return (
        pl.when(after_today).then(pl.lit(f"the day this check runs ({as_of})"))
        .otherwise(pl.lit(f"the last date cleanclaim's code book release covers ({covers})"))
        .alias("limit_text"),
        pl.when(after_today)
        .then(pl.lit("Correct the date of service (a service is billed after it is furnished), or run the "
                     "check with --as-of set to the billing date."))
        .otherwise(pl.lit("Check the codes against the current CPT/HCPCS release, or update cleanclaim to a "
                          "code book release that covers this date."))
        .alias("remedy"),
        pl.when(after_today).then(pl.lit(None, dtype=pl.String))
        .otherwise(pl.lit(Severity.WARNING.value)).alias("severity"),
    )
