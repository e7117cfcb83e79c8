"""Provider outlier analytics for `cleanclaim audit` (issue 15 item 2): whose billing stands out from their peers.

Each rendering provider is compared with the *other* providers of the same discipline and payer in the same input
(peers never include the provider itself: a provider who dominates a small group would otherwise pull the peer
rate toward their own and hide). The metrics are the patterns auditors look for first (OIG and MAC targeted-probe
reviews of therapy billing): distinct-procedure modifiers (59/XE/XP/XS/XU, NCCI policy manual ch.1 s E), modifier
22 on routine care, 25 on E/M lines, KX (the therapy threshold attestation, CMS Pub 100-04 ch.5 s10.3), timed units
per visit, timed units billed at the fewest minutes that allow them under the CMS 8-minute rule (Pub 100-04 ch.5
s20.2), visits with 97535, and findings per 100 lines.

Statistics, and why:
- Shares are tested with a **beta-binomial** one-sided upper-tail test, not a plain binomial. Providers differ
  among themselves for legitimate reasons (case mix, setting), so the peer rates are overdispersed; a binomial
  against the pooled peer rate treats that spread as zero and, at audit volumes (thousands of lines), flags almost
  every provider a point above the mean. The beta's spread is estimated from the peers' own rates by the method of
  moments (intra-class correlation rho, Kleinman 1973); when the peers show no extra spread (rho <= 0, or a single
  peer) the test is the exact binomial, the beta-binomial's limit. The peer rate in the test is the Jeffreys
  estimate (K + 1/2) / (N + 1), so peers who never used a modifier do not make a single use "impossible" (p = 0).
- Means (timed units per visit, findings per 100 lines) use a **robust z** on the peers' median and MAD (x 1.4826,
  the normal-consistent scale; the mean absolute deviation x 1.2533 when the MAD is 0 because most peers agree),
  so one extreme peer does not widen the yardstick; p is the normal upper tail. With fewer than
  :data:`MIN_PEERS_FOR_SPREAD` peers, or peers that do not differ at all, there is no spread to measure: p is null
  and nothing is flagged.
- A visit is an encounter of the provider; the 8-minute metric pools a patient's timed 15-minute lines of a day
  with the provider (the CMS day pool), using the CMS table for every payer: peers share the payer, so a payer
  that counts per code moves the provider and the peers alike.
- Only upward deviations are tested: billing *more* of a modifier or of units than peers is the audit risk.
- Benjamini-Hochberg over every eligible test of the input (all providers, all metrics) keeps the expected share
  of false flags at :data:`FDR_LEVEL`.

Memory: :class:`ProviderStats` keeps only per-provider sufficient statistics (sums and counts per metric, and the
top :data:`MAX_CLAIMS` driving encounters), so it is bounded by providers, not lines. It assumes, as `audit`'s
partitions guarantee, that an encounter and a patient's day are never split across two partitions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from cleanclaim.codebook import TimeRule, codebook
from cleanclaim.timing import cms_minutes_for_units

__all__ = [
    "FDR_LEVEL",
    "MAX_CLAIMS",
    "METRICS",
    "MIN_LINES",
    "MIN_METRIC_N",
    "MIN_PEERS_FOR_SPREAD",
    "PROVIDERS_SCHEMA",
    "ProviderStats",
    "benjamini_hochberg",
    "partition_stats",
    "provider_outliers",
]

MIN_LINES: Final = 30
"""A provider with fewer lines in the input is never flagged: below about 30 lines a share moves by 3+ points per
line and describes a handful of visits, not a billing pattern, and a review could not be justified on it."""
MIN_METRIC_N: Final = 10
"""Nor on a metric whose own denominator (E/M lines, visits, timed units) is under 10, for the same reason."""
MIN_PEERS_FOR_SPREAD: Final = 3
"""A median and MAD of fewer than 3 peers is not a distribution: the mean metrics are not tested below it."""
FDR_LEVEL: Final = 0.05
"""Benjamini-Hochberg false discovery rate: a flag is raised when q <= this."""
MAX_CLAIMS: Final = 10
"""Encounter ids kept per provider and metric: the claims to pull first when reviewing the flag."""
ROWS_PENDING: Final = 2_000_000
"""Driver rows that `ProviderStats.fold` keeps before merging them into the top MAX_CLAIMS per provider and metric
(about 45 MiB); a 250,000-line partition of the bench file gives about 56,000 (its 23,600 provider rows of counts
are added to the sums at once)."""
BOUNDARY_WINDOW_MINUTES: Final = 2
"""'At the smallest minutes' means the lowest minute of the CMS band for the day's units or the one after
(2 units at 23-24 minutes, 3 at 38-39): a day documented one minute over the threshold is the same pattern."""
DISTINCT_MODIFIERS: Final = ("59", "XE", "XP", "XS", "XU")
SELF_CARE_CODE: Final = "97535"
"""Self-care / home management training: named by the metric itself (issue 15), a frequent target of MAC probes."""

SHARE_METRICS: Final = (
    "modifier_59_x_share",
    "modifier_22_share",
    "modifier_25_em_share",
    "modifier_kx_share",
    "timed_units_at_minimum_minutes_share",
    "visits_with_97535_share",
)
MEAN_METRICS: Final = ("timed_units_per_visit", "findings_per_100_lines")
METRICS: Final = SHARE_METRICS + MEAN_METRICS
_SUMS: Final = ("lines", "visits", "timed_visits", "m59", "m22", "mkx", "em_lines", "em25", "self_care",
               "timed_units", "findings", "boundary_units", "day_units")
"""A provider's sufficient statistics, the columns of `partition_stats`'s counts: every metric is a ratio of two of
them (`_RATIOS`), and sums of partitions are the sums of the whole."""
_VISIT_SUMS: Final = ("lines", "m59", "m22", "mkx", "em_lines", "em25", "self_care", "timed_units", "findings")
"""The sums that add up a provider's visits (the others count visits, and days of the 8-minute pool)."""
_RATIOS: Final = {  # metric: (numerator, denominator); a visit's own numerator is its score as a driver
    "modifier_59_x_share": ("m59", "lines"),
    "modifier_22_share": ("m22", "lines"),
    "modifier_25_em_share": ("em25", "em_lines"),
    "modifier_kx_share": ("mkx", "lines"),
    "timed_units_at_minimum_minutes_share": ("boundary_units", "day_units"),
    "visits_with_97535_share": ("self_care", "visits"),
    # units per visit over the visits that bill timed codes at all: an evaluation-only visit is not "fewer units"
    "timed_units_per_visit": ("timed_units", "timed_visits"),
    "findings_per_100_lines": ("findings", "lines"),
}
_SCALE: Final = {"findings_per_100_lines": 100.0}
_MAD_TO_SD: Final = 1.4826
_MEANAD_TO_SD: Final = 1.2533
KEY: Final = ["provider", "discipline", "payer"]
PROVIDERS_SCHEMA: Final = pl.Schema({
    "provider": pl.String(), "discipline": pl.String(), "payer": pl.String(), "metric": pl.String(),
    "value": pl.Float64(), "peer_value": pl.Float64(), "n": pl.Int64(), "p": pl.Float64(), "q": pl.Float64(),
    "flagged": pl.Boolean(), "claims": pl.List(pl.String),
})
_COUNTS_SCHEMA: Final = pl.Schema({**dict.fromkeys(KEY, pl.String), **dict.fromkeys(_SUMS, pl.Float64)})
"""One row per provider, discipline and payer: its sums (whole numbers, but for units)."""
_DRIVERS_SCHEMA: Final = pl.Schema({"key": pl.UInt32, "metric": pl.UInt8, "encounter": pl.String,
                                   "score": pl.Float64})
"""Per provider (``key``: the row of the partition's counts) and metric (its index in `METRICS`), the top
MAX_CLAIMS encounters by score (the encounter's own numerator of the metric), in no particular order."""
_SLOTS: Final = pl.Schema({"slot": pl.UInt64, "encounter": pl.String, "score": pl.Float64})


class ProviderStats:
    """Accumulates the providers' sufficient statistics partition by partition; :meth:`result` runs the tests.

    A provider (with its discipline and payer) gets a number when first seen; its sums are a row of a matrix and
    its drivers are kept under a "slot", provider number x metrics + metric: merging and ranking then group and
    sort whole numbers, where text keys cost more than the partition's own statistics (the top-k per group of
    five text keys was most of the analytics' CPU)."""

    def __init__(self, *, min_lines: int = MIN_LINES) -> None:
        self.min_lines = min_lines
        self._keys = pl.DataFrame(schema={**dict.fromkeys(KEY, pl.String), "number": pl.UInt32})
        """Every provider (with discipline and payer) seen, by number: row i is number i."""
        self._sums = np.zeros((0, len(_SUMS)), dtype=np.float64)
        self._drivers = _SLOTS.to_frame()
        self._pending: list[pl.DataFrame] = []
        """Partitions' drivers not yet merged into ``_drivers``: merged when they add up to more than
        `ROWS_PENDING` rows, and in `result`."""
        self._pending_rows = 0

    def add(self, lines: pl.DataFrame, findings: pl.DataFrame) -> None:
        """Fold in one partition: checked lines (claim-table columns) and the findings on them."""
        self.fold(*partition_stats(lines, findings))

    def fold(self, counts: pl.DataFrame, drivers: pl.DataFrame) -> None:
        """Fold in one partition's statistics as `partition_stats` made them (on a Spark executor, say)."""
        known = counts.select(KEY).join(self._keys, on=KEY, how="left", maintain_order="left")
        first_seen = known.get_column("number").is_null()
        if first_seen.any():  # the next numbers, in the counts' order
            number = pl.col("number")
            known = known.with_columns(pl.coalesce(number, number.is_null().cum_sum() - 1 + self._keys.height)
                                       .cast(pl.UInt32))
            self._keys = pl.concat([self._keys, known.filter(first_seen)])
        numbers = known.get_column("number")
        if self._keys.height > self._sums.shape[0]:
            grown = np.zeros((max(self._keys.height, 2 * self._sums.shape[0]), len(_SUMS)), dtype=np.float64)
            grown[: self._sums.shape[0]] = self._sums
            self._sums = grown
        np.add.at(self._sums, numbers.to_numpy(), counts.select(_SUMS).to_numpy().astype(np.float64))
        # Counts are sums (the same whenever they are added); a partition's drivers are already its top MAX_CLAIMS
        # per provider and metric, and the top of the union of tops is the top of the whole (ties broken by
        # encounter id either way), so they wait until they are many.
        slots = (numbers.cast(pl.UInt64).gather(drivers.get_column("key")) * len(METRICS)
                 + drivers.get_column("metric").cast(pl.UInt64))
        self._pending.append(drivers.select(slots.alias("slot"), "encounter", "score"))
        self._pending_rows += drivers.height
        if self._pending_rows > ROWS_PENDING:
            self._merge()

    def _merge(self) -> None:
        if self._pending:
            merged = pl.concat([self._drivers, *self._pending])
            if _may_repeat(merged):  # one encounter in two folds (an 837P claim id also in a table): scores add up
                merged = merged.group_by("slot", "encounter").agg(pl.col("score").sum())
            self._drivers = _top(merged, "slot")
            self._pending, self._pending_rows = [], 0

    def result(self) -> pl.DataFrame:
        """One row per provider, discipline, payer and metric, in the providers.parquet schema."""
        self._merge()
        return _test(self._keys.select(KEY), self._sums[: self._keys.height], self._drivers, self.min_lines)


def provider_outliers(lines: pl.DataFrame, findings: pl.DataFrame, *, min_lines: int = MIN_LINES) -> pl.DataFrame:
    """The whole input at once: :class:`ProviderStats` with a single partition."""
    acc = ProviderStats(min_lines=min_lines)
    acc.add(lines, findings)
    return acc.result()


def benjamini_hochberg(p: Sequence[float] | npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Benjamini-Hochberg adjusted p-values (q): q_(i) = min over j >= i of p_(j) * m / j, capped at 1."""
    values = np.asarray(p, dtype=np.float64)
    m = values.size
    if m == 0:
        return values.copy()
    order = np.argsort(values, kind="stable")
    scaled = values[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    out = np.empty(m, dtype=np.float64)
    out[order] = adjusted
    return out


# -- one partition -> sufficient statistics ------------------------------------------------------------------------

@lru_cache(maxsize=1 << 16)  # (code, date) pairs: bounded, as a decade of dates times codes is not
def _code_flags(code: str, date: object) -> tuple[bool, bool]:
    """(E/M, timed in 15-minute units) for the code's version in force on the date, from the code book."""
    entry = codebook().get(code, date) if isinstance(date, dt.date) else None
    if entry is None:
        return (False, False)
    return (entry.em, entry.time_rule is TimeRule.TIMED15)


def _with_code_flags(lines: pl.DataFrame) -> pl.DataFrame:
    """``lines`` with ``em`` and ``timed`` (`_code_flags` of each line's code and date), in the lines' order.

    Why not a join on (code, date): a code's flags change only where one of its versions starts or ends, so each
    distinct code is cut at those dates (`_flag_spans`) and a flag is "the code is one of these, on a date in this
    span": a few membership tests over the lines, where the distinct (code, date) pairs and the join back on two
    columns cost about three times as much (about 20 ms of a 250,000-line partition)."""
    codes = lines.get_column("code").unique().drop_nulls().to_list()
    spans = [span for code in codes for span in _flag_spans(code)]
    date = pl.col("date")

    def flag(index: int) -> pl.Expr:
        by_span: dict[tuple[dt.date | None, dt.date | None], list[str]] = {}
        for code, start, end, flags in spans:
            if flags[index]:
                by_span.setdefault((start, end), []).append(code)
        within = [pl.col("code").is_in(members)
                  & (date >= start if start is not None else pl.lit(True))
                  & (date < end if end is not None else pl.lit(True))
                  for (start, end), members in sorted(by_span.items(), key=str)]
        return (date.is_not_null() & pl.any_horizontal(within)).fill_null(False) if within else pl.lit(False)

    return lines.with_columns(flag(0).alias("em"), flag(1).alias("timed"))


@lru_cache(maxsize=1 << 14)  # codes: a few thousand at most
def _flag_spans(code: str) -> tuple[tuple[str, dt.date | None, dt.date | None, tuple[bool, bool]], ...]:
    """The code's `_code_flags` as spans of dates [start, end) (None: unbounded) over which they hold, cut where
    one of its versions starts or ends (the version in force, and so its flags, is the same between two cuts)."""
    cuts = sorted({day for entry in codebook().versions(code) for day in (entry.effective, entry.deleted)
                   if day is not None})
    starts: list[dt.date | None] = [None, *cuts]
    ends: list[dt.date | None] = [*cuts, None]
    return tuple((code, start, end, _code_flags(code, start or dt.date.min))
                 for start, end in zip(starts, ends, strict=True))


def _cms_band_low(units: pl.Series) -> pl.DataFrame:
    """The lowest day total of timed minutes for each unit count, from cleanclaim.timing (not restated here)."""
    unique = units.unique().drop_nulls().to_list()
    return pl.DataFrame({"units": unique, "low": [cms_minutes_for_units(int(u))[0] for u in unique]},
                        schema={"units": units.dtype, "low": pl.Int64})


def partition_stats(lines: pl.DataFrame, findings: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One partition's sufficient statistics (`_COUNTS_SCHEMA`, `_DRIVERS_SCHEMA`): small, so a distributed engine
    computes them where the partition is and the driver only folds them."""
    base = (
        lines.select(
            pl.col("provider_npi").cast(pl.String).alias("provider"),
            pl.col("provider_discipline").cast(pl.String).fill_null("").alias("discipline"),
            pl.col("payer").cast(pl.String).fill_null("").alias("payer"),
            pl.col("encounter_id").cast(pl.String).alias("encounter"),
            pl.coalesce(pl.col("patient_id").cast(pl.String), pl.col("encounter_id").cast(pl.String)).alias("patient"),
            "date", pl.col("code").cast(pl.String), "modifiers", "units", "minutes",
        )
        # a line without a rendering provider cannot be attributed to anyone: it is outside these analytics
        .filter(pl.col("provider").is_not_null())
    )
    base = _with_code_flags(base)
    modifiers = pl.col("modifiers")
    # one pass over the lines down to one row per provider's encounter (a visit); everything else is built from it.
    # The lines' flags first, so that the group-by only adds them up.
    lined = base.with_columns(
        modifiers.list.eval(pl.element().is_in(DISTINCT_MODIFIERS)).list.any().alias("m59"),
        modifiers.list.contains("22").alias("m22"),
        modifiers.list.contains("KX").alias("mkx"),
        (pl.col("em") & modifiers.list.contains("25")).alias("em25"),
        pl.when(pl.col("timed")).then(pl.col("units")).otherwise(0.0).alias("timed_units"),
        (pl.col("code") == SELF_CARE_CODE).alias("self_care"),
        _RUN,
    )
    runs = lined.group_by("run", maintain_order=True).agg(pl.col(*KEY, "encounter", "patient").first(),
                                                          *_LINES_TO_VISIT)
    # the providers of the partition, numbered over the runs (a row each, not a line each): the drivers below group
    # and sort by the number, not the text
    keys = runs.select(KEY).unique().with_row_index("key")
    runs = runs.join(keys, on=KEY, how="left", maintain_order="left")
    if runs.height == runs.get_column("encounter").n_unique():  # each encounter one run: a run is a visit
        visits = runs
    else:  # an encounter in several runs (its lines of two providers in turn): its visits summed from its lines
        visits = lined.group_by([*KEY, "encounter"]).agg(*_LINES_TO_VISIT).join(keys, on=KEY)
    # a finding belongs to its encounter's provider (the smallest key, should an encounter name two)
    per_encounter = (findings.select(pl.col("encounter").cast(pl.String)).group_by("encounter")
                     .agg(pl.len().alias("findings")))
    visits = visits.join(per_encounter, on="encounter", how="left").with_columns(
        pl.col("findings").fill_null(0),
        pl.when(pl.col("has_timed")).then(pl.col("timed_units")).otherwise(0.0).alias("timed_units"),
    )
    if visits.height != visits.get_column("encounter").n_unique():  # an encounter with lines of two providers
        owner_key = pl.concat_str(KEY, separator="\x1f", ignore_nulls=True)
        visits = visits.with_columns(
            pl.when(owner_key == owner_key.min().over("encounter")).then(pl.col("findings")).otherwise(0))

    # the CMS 8-minute day pool: all timed 15-minute lines of a patient's day with this provider. A day with a line
    # of undocumented minutes, or a fractional unit total, cannot be placed in the table and is left out.
    # A day's runs are its smallest and largest: one visit when they agree (nearly every day), and only the days of
    # more runs are looked up again below. Each timed line reads its provider's number and patient from its run
    timed = lined.lazy().filter(pl.col("timed")).select("run", "encounter", "date", "units", "minutes").collect()
    timed = timed.with_columns(runs.select(pl.col("key", "patient").gather(timed.get_column("run"))))
    day = ["key", "patient", "date"]
    days = (
        timed.group_by(day)
        .agg(pl.col("units").sum().alias("day_units"), pl.col("minutes").sum().alias("day_minutes"),
             pl.col("minutes").null_count().alias("missing"), pl.col("run").min().alias("first"),
             pl.col("run").max().alias("last"))
        .filter((pl.col("missing") == 0) & (pl.col("day_units") > 0)
                & (pl.col("day_units") == pl.col("day_units").floor()))
    )
    bands = _cms_band_low(days["day_units"]).rename({"units": "day_units"})
    days = days.join(bands, on="day_units", how="left").with_columns(
        pl.col("day_minutes").is_between(pl.col("low"), pl.col("low") + BOUNDARY_WINDOW_MINUTES - 1)
        .alias("at_boundary"))

    # row i of the counts is provider number i: the drivers name their provider by it
    counts = (
        keys.join(visits.group_by("key").agg(pl.col(_VISIT_SUMS).sum(), pl.len().alias("visits"),
                                             pl.col("has_timed").sum().alias("timed_visits")),
                  on="key", how="left", maintain_order="left")
        .join(days.group_by("key").agg(pl.col("day_units").filter(pl.col("at_boundary")).sum()
                                       .alias("boundary_units"), pl.col("day_units").sum()),
              on="key", how="left", maintain_order="left")
        .select(*KEY, *(pl.col(name).cast(pl.Float64).fill_null(0.0) for name in _SUMS))
    )
    at_boundary = days.filter(pl.col("at_boundary"))
    one = at_boundary.filter(pl.col("first") == pl.col("last"))
    several = at_boundary.filter(pl.col("first") != pl.col("last"))
    boundary_visits = pl.concat([
        one.select("key", runs.get_column("encounter").gather(one.get_column("first")), "day_units"),
        timed.join(several.select(*day, "day_units"), on=day, nulls_equal=True)
        .unique([*day, "encounter"]).select("key", "encounter", "day_units"),
    ]).group_by("key", "encounter").agg(pl.col("day_units").sum().alias("boundary_units"))
    drivers = pl.concat([
        (boundary_visits if numerator == "boundary_units" else visits)
        .select("key", pl.lit(metric, pl.UInt8).alias("metric"), "encounter",
                pl.col(numerator).cast(pl.Float64).alias("score"))
        .filter(pl.col("score") > 0)
        for metric, numerator in enumerate(_RATIOS[name][0] for name in METRICS)
    ])
    return counts, _top(drivers, "key", "metric", ordered=False).select(_DRIVERS_SCHEMA.names()).cast(_DRIVERS_SCHEMA)


_RUN = pl.struct("encounter", *KEY, "patient").rle_id().alias("run")
"""Each line's run: the number of the run of neighbouring lines with its encounter, provider (with discipline and
payer) and patient. A partition keeps each encounter's lines together, and they name one provider and patient on
nearly every claim, so a run is a visit: the visits are grouped by this whole number, found by comparing each line
with the one before it, and the providers are numbered over the runs, where the group-bys on four and five text
columns built hash tables of every line's text (the 1M-line bench file's four partitions: partition_stats 440-480
-> 340-350 ms CPU)."""
_LINES_TO_VISIT: Final = (
    pl.len().alias("lines"),
    pl.col("m59", "m22", "mkx", "em25").sum(),
    pl.col("em").sum().alias("em_lines"),
    pl.col("timed_units").sum(),
    pl.col("timed").any().alias("has_timed"),
    pl.col("self_care").any().cast(pl.Int64),
)
"""A visit's sums of its lines' flags (a run's, or an encounter's with one provider when its lines are in several
runs)."""


def _may_repeat(drivers: pl.DataFrame) -> bool:
    """Whether an encounter may be in a slot twice, so that its scores must be added up: screened on a hash of the
    pair, about half the CPU of comparing the pairs themselves (11 ms against 26 for the 225,000 driver rows of a
    1M-line audit, serial after pass 2). A collision only says "may" of distinct pairs, and summing them leaves
    them as they are (`_top` then orders the rows completely, so the order they come out in does not matter)."""
    return bool(drivers.select(pl.struct("slot", "encounter").hash().n_unique()).item() < drivers.height)


def _top(drivers: pl.DataFrame, *group: str, ordered: bool = True) -> pl.DataFrame:
    """Per ``group``, the MAX_CLAIMS rows with the highest score, ties to the smallest encounter id (deterministic,
    so per-partition tops merge into exactly the one-shot top), best first unless not ``ordered``. A sort and a
    run count: a top-k per group in a group-by cost about ten times as much. Unordered, only the groups with more
    than MAX_CLAIMS rows are sorted (a partition has a few visits of most providers)."""
    if not ordered:
        crowded = pl.len().over(group) > MAX_CLAIMS
        return pl.concat([drivers.filter(~crowded), _top(drivers.filter(crowded), *group)])
    columns = [*group, "score", "encounter"]
    # nulls last only when there are nulls: the same order without them, and Polars' multi-column sort took twice
    # as long when asked to place nulls (0.14 s against 0.07 for the 225,000 driver rows of a 1M-line audit)
    ranked = drivers.sort(columns, descending=[False] * len(group) + [True, False],
                          nulls_last=bool(drivers.select(pl.any_horizontal(pl.col(columns).has_nulls())).item()))
    runs = ranked.select(pl.struct(group).rle_id()).to_series().to_numpy()
    first = np.searchsorted(runs, runs, side="left")  # run ids are sorted: each row's run's first row
    return ranked.filter(pl.Series(np.arange(runs.size) - first < MAX_CLAIMS))


# -- sufficient statistics -> tests --------------------------------------------------------------------------------

def _test(keys: pl.DataFrame, sums: npt.NDArray[np.float64], drivers: pl.DataFrame, min_lines: int) -> pl.DataFrame:
    """The providers.parquet rows from the providers (``keys``, by number), their sums and their drivers by slot.

    Every metric is tested over all providers at once, numbered in the output's order (discipline, payer, then
    provider), so a peer group is a run of rows and the rows come out in order with a stable sort by group."""
    if keys.height == 0:
        return PROVIDERS_SCHEMA.to_frame()
    order = keys.select(pl.arg_sort_by(["discipline", "payer", "provider"])).to_series().to_numpy()
    ranked, sums = keys[order], sums[order]
    peers = ranked.select(pl.struct("discipline", "payer").rle_id()).to_series().to_numpy().astype(np.int64)
    lines = sums[:, _SUMS.index("lines")]
    names = sorted(METRICS)
    parts: list[tuple[npt.NDArray[np.int64], int, npt.NDArray[np.float64], npt.NDArray[np.float64],
                      npt.NDArray[np.float64], npt.NDArray[np.float64]]] = []
    for rank, name in enumerate(names):
        numerator, denominator = _RATIOS[name]
        n = sums[:, _SUMS.index(denominator)]
        rows = np.flatnonzero(n > 0)
        k, n, group = sums[rows, _SUMS.index(numerator)], n[rows], peers[rows]
        if name in SHARE_METRICS:
            value, peer_value, p = _share_tests(k, n, group)
        else:
            value, peer_value, p = _mean_tests(k / n * _SCALE.get(name, 1.0), group)
        parts.append((rows, rank, value, peer_value, n, p))
    rows = np.concatenate([part[0] for part in parts])
    metric = np.concatenate([np.full(part[0].size, part[1]) for part in parts])
    value, peer_value, n, p = (np.concatenate([part[i] for part in parts]) for i in range(2, 6))
    # the output's order: peer group, metric, provider (rows are already by provider within each metric)
    out = np.argsort(peers[rows], kind="stable")
    rows, metric, value, peer_value, n, p = rows[out], metric[out], value[out], peer_value[out], n[out], p[out]
    eligible = ~np.isnan(p) & (lines[rows] >= min_lines) & (n >= MIN_METRIC_N)
    q = np.full(p.size, np.nan)
    q[eligible] = benjamini_hochberg(p[eligible])
    slots = order[rows].astype(np.uint64) * len(METRICS) + np.array([METRICS.index(m) for m in names])[metric]
    claims = drivers.group_by("slot", maintain_order=True).agg(pl.col("encounter").alias("claims"))
    table = ranked[rows].with_columns(
        pl.Series("metric", names, dtype=pl.String).gather(metric),
        pl.Series("value", value, dtype=pl.Float64),
        pl.Series("peer_value", peer_value, dtype=pl.Float64).fill_nan(None),
        pl.Series("n", n).cast(pl.Int64),
        pl.Series("p", p, dtype=pl.Float64).fill_nan(None),
        pl.Series("q", q, dtype=pl.Float64).fill_nan(None),
        pl.Series("flagged", eligible & (q <= FDR_LEVEL)),
        pl.Series("slot", slots, dtype=pl.UInt64),
    )
    return (table.join(claims, on="slot", how="left", maintain_order="left")
            .with_columns(pl.col("claims").fill_null(pl.lit([], pl.List(pl.String))))
            .select(PROVIDERS_SCHEMA.names()).cast(PROVIDERS_SCHEMA))


def _share_tests(k: npt.NDArray[np.float64], n: npt.NDArray[np.float64], group: npt.NDArray[np.int64]) -> tuple[
        npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(value, peer value, p): leave-one-out peer sums by subtraction from the group's totals, then the
    beta-binomial upper tail. The group totals are Polars window sums, as before providers were numbered: their
    totals of k^2 / n did not move when the rows were shuffled (a running sum, such as a bincount, moves in the last
    digit), and the rows' order here is not the order of the base's."""
    frame = pl.DataFrame({"group": group, "k": k, "n": n})
    ck, cn = pl.col("k"), pl.col("n")
    pk, pn, pn2, pq, pm = (frame.select(
        (ck.sum().over("group") - ck).alias("pk"),
        (cn.sum().over("group") - cn).alias("pn"),
        ((cn * cn).sum().over("group") - cn * cn).alias("pn2"),
        ((ck * ck / cn).sum().over("group") - ck * ck / cn).alias("pq"),
        (pl.len().over("group") - 1).cast(pl.Float64).alias("pm"),
    ).to_numpy().T)
    with np.errstate(divide="ignore", invalid="ignore"):
        has_peers = pn > 0
        raw = np.where(has_peers, pk / pn, np.nan)
        rate = (pk + 0.5) / (pn + 1.0)  # Jeffreys
        spread = pq - pn * raw * raw  # sum over peers of n_j (r_j - r)^2
        denominator = pn - pm - pn2 / pn + 1.0
        rho = (spread / (raw * (1.0 - raw)) - (pm - 1.0)) / denominator
    rho = np.where(has_peers & (pm >= 2) & (denominator > 0) & (raw > 0) & (raw < 1) & np.isfinite(rho), rho, 0.0)
    rho = np.clip(rho, 0.0, 0.999)
    nn = n.astype(np.int64)
    p = np.full(k.shape, np.nan)
    binomial = has_peers & (rho == 0)
    p[binomial] = _binom_sf(k[binomial] - 1, nn[binomial], rate[binomial])
    beta = has_peers & (rho > 0)
    precision = 1.0 / rho[beta] - 1.0
    p[beta] = _betabinom_sf(k[beta] - 1, nn[beta], rate[beta] * precision, (1.0 - rate[beta]) * precision)
    return k / n, raw, np.clip(p, 0.0, 1.0)


def _mean_tests(value: npt.NDArray[np.float64], group: npt.NDArray[np.int64]) -> tuple[
        npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(value, peer value, p): the robust z of each provider's mean against the median and MAD of the other
    providers of its group (a run of rows: ``group`` is sorted)."""
    peer, p = np.full(value.size, np.nan), np.full(value.size, np.nan)
    bounds = np.flatnonzero(np.diff(group)) + 1
    for start, stop in zip(np.r_[0, bounds], np.r_[bounds, value.size], strict=True):
        peer[start:stop], p[start:stop] = _robust_z(value[start:stop])
    return value, peer, p


def _mean_deviation_of_others(ranked: npt.NDArray[np.float64], own: npt.NDArray[np.float64],
                              centre: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """For each row, the mean of |x - centre| over the sorted values ``ranked`` less the row's own value ``own``:
    from prefix sums (the values below the centre add centre - x, those above x - centre, those equal to it
    nothing), O(log m) a row, where a matrix of each row's others was O(m) a row and m x m for a group. A row whose
    others all equal its centre gets exactly 0 (no rounding left over from the sums), as the mean of zeros is."""
    m = ranked.size
    prefix = np.concatenate(([0.0], np.cumsum(ranked)))
    low = np.searchsorted(ranked, centre, side="left")  # values below the centre
    high = np.searchsorted(ranked, centre, side="right")  # values up to the centre
    own_below, own_above = own < centre, own > centre
    below = centre * low - prefix[low] - np.where(own_below, centre - own, 0.0)
    above = prefix[m] - prefix[high] - centre * (m - high) - np.where(own_above, own - centre, 0.0)
    spread = (low - own_below) + (m - high - own_above)  # others not equal to the centre
    return np.where(spread > 0, np.maximum(below + above, 0.0) / (m - 1), 0.0)


def _robust_z(values: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(peer median, one-sided p) for each value against all the others.

    Leave-one-out without a matrix: the others of the value at sorted rank r are the sorted values with index r
    skipped, so their median is read off the sorted values, and their MAD is the middle of two sorted runs (the
    distances to the median of the others below it, and of those above it), selected by a vectorised binary search:
    O(m log m) per group. Only the rows whose MAD is 0 fall back to the mean absolute deviation of their others
    (`_mean_deviation_of_others`, from prefix sums).
    """
    m = values.size
    peer = np.full(m, np.nan)
    z = np.full(m, np.nan)
    if m < 2:
        return peer, z
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    rank = np.empty(m, dtype=np.int64)
    rank[order] = np.arange(m)

    def other(j: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """The j-th smallest of each row's others (j clipped into range; callers mask what they do not use)."""
        j = np.clip(j, 0, m - 2)
        return ranked[j + (j >= rank)]

    n = m - 1
    # the median of the others: the middle of m - 1 values, skipping rank r
    peer[:] = (other(np.full(m, (n - 1) // 2)) + other(np.full(m, n // 2))) / 2
    if n < MIN_PEERS_FOR_SPREAD:
        return peer, z
    below = np.searchsorted(ranked, peer, side="left") - (values < peer)  # others below their median

    def distance(k: int) -> npt.NDArray[np.float64]:
        """The k-th smallest |other - median| of each row: the k+1 smallest take i from the run below (distances
        median - other[below-1-t], increasing in t) and k+1-i from the run above (other[below+t] - median)."""
        lo = np.maximum(0, k + 1 - (n - below))
        hi = np.minimum(k + 1, below)
        while np.any(lo < hi):
            mid = (lo + hi) // 2
            more = (lo < hi) & ((peer - other(below - 1 - mid)) < (other(below + k - mid) - peer))
            lo = np.where(more, mid + 1, lo)
            hi = np.where((lo < hi) & ~more, mid, hi)
        from_below = np.where(lo > 0, peer - other(below - lo), -np.inf)
        from_above = np.where(k - lo >= 0, other(below + k - lo) - peer, -np.inf)
        return np.maximum(from_below, from_above)

    mad = (distance((n - 1) // 2) + distance(n // 2)) / 2
    scale = _MAD_TO_SD * mad
    flat = np.flatnonzero(scale == 0.0)
    if flat.size:
        scale[flat] = _MEANAD_TO_SD * _mean_deviation_of_others(ranked, values[flat], peer[flat])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(scale > 0.0, (values - peer) / scale, np.nan)
    p = np.where(np.isnan(z), np.nan, _norm_sf(np.nan_to_num(z)))
    return peer, p


# -- the tails of scipy.stats, from scipy.special ------------------------------------------------------------------
# Importing scipy.stats cost every `cleanclaim audit` (and every Spark worker, which imports audit.run) about 0.6 s of
# CPU and 46 MiB more than scipy.special alone, for the three tails below. These are scipy.stats' own values, bit for
# bit, so providers.parquet does not move (held against scipy.stats in tests/audit/test_providers.py).



def _special() -> Any:
    """scipy.special (not scipy.stats: see above), imported by the tests that need it: a Spark worker imports this
    module for `partition_stats` and never tests a provider (scipy cost each worker ~0.1 s of CPU and 66 modules)."""
    from scipy import special  # type: ignore[import-untyped]

    return special


_BETABINOM_TERMS: Final = 1 << 20
"""Terms of the beta-binomial's pmf computed at once (8 MiB a temporary): rows of one length are taken in chunks of
about this many terms, so that providers who share a large count do not make one matrix of all of them."""


def _binom_sf(k: npt.NDArray[np.float64], n: npt.NDArray[np.float64] | npt.NDArray[np.int64],
              p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``scipy.stats.binom.sf(k, n, p)`` bit for bit: scipy's binomial tail is Boost's, the regularised incomplete
    beta I_p(k + 1, n - k) inside the support, and `rv_discrete.sf` makes it 1 below the support, 0 from n on and
    NaN for invalid parameters. (``special.bdtrc`` is Cephes': on a random grid it differs in about half the values,
    by more than 1e-12 relative in one in ten, and by up to 69% below 1e-290, so it would move p and q in
    providers.parquet.)"""
    kk, nn, pp = (np.asarray(v, dtype=np.float64) for v in np.broadcast_arrays(k, n, p))
    valid = (nn >= 0) & (nn == np.round(nn)) & (pp >= 0) & (pp <= 1)
    out = np.where(valid & (kk < 0), 1.0, 0.0)
    out[~valid | np.isnan(kk)] = np.nan
    inside = valid & (kk >= 0) & (kk < nn)
    below = np.floor(kk[inside])
    out[inside] = np.clip(_special().betainc(below + 1.0, nn[inside] - below, pp[inside]), 0.0, 1.0)
    return out


def _betabinom_sf(k: npt.NDArray[np.float64], n: npt.NDArray[np.float64] | npt.NDArray[np.int64],
                  a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``scipy.stats.betabinom.sf(k, n, a, b)`` bit for bit. scipy has no closed form for it: `rv_discrete` sums
    the pmf over 0..k in one Python call per value and returns 1 minus the sum. The same terms here (the same
    betaln expression of the pmf), summed with np.sum along rows of equal length: numpy reduces each row of a
    C-contiguous matrix pairwise exactly as it reduces the row alone, so the sums are scipy's to the last bit
    (held against scipy.stats on a grid in the tests), at one vectorised step per distinct k instead of a Python
    call per provider."""
    special = _special()
    kk, nn, aa, bb = (np.asarray(v, dtype=np.float64) for v in np.broadcast_arrays(k, n, a, b))
    valid = (nn >= 0) & (nn == np.round(nn)) & (aa > 0) & (bb > 0)
    out = np.where(valid & (kk < 0), 1.0, 0.0)
    out[~valid | np.isnan(kk)] = np.nan
    inside = np.flatnonzero(valid & (kk >= 0) & (kk < nn))
    terms = np.floor(kk[inside]).astype(np.int64) + 1
    order = np.argsort(terms, kind="stable")
    inside, terms = inside[order], terms[order]
    lengths, starts, counts = np.unique(terms, return_index=True, return_counts=True)
    for length, start, count in zip(lengths, starts, counts, strict=True):
        m = np.arange(length, dtype=np.float64)
        step = max(1, _BETABINOM_TERMS // int(length))
        for first in range(start, start + count, step):
            rows = inside[first:min(first + step, start + count)]
            rn, ra, rb = nn[rows, None], aa[rows, None], bb[rows, None]
            # scipy's betabinom._logpmf, operation for operation (its order of additions fixes the last bit)
            log_pmf = ((-np.log(rn + 1) - special.betaln(rn - m + 1, m + 1)) + special.betaln(m + ra, rn - m + rb)
                       - special.betaln(ra, rb))
            out[rows] = np.clip(1.0 - np.sum(np.exp(log_pmf), axis=1), 0.0, 1.0)
    return out


def _norm_sf(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``scipy.stats.norm.sf(z)`` bit for bit: scipy computes it as the normal CDF of -z."""
    return np.asarray(_special().ndtr(-np.asarray(z, dtype=np.float64)), dtype=np.float64)
