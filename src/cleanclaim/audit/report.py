"""The audit's HTML report: one self-contained file a compliance reviewer opens offline, from the files of DIR.

Why a file and not a dashboard: an audit is handed over (mailed, archived with the work papers, opened on a laptop
with no network), so ``report.html`` carries its CSS and its charts inline (SVG drawn here, no JavaScript, no CDN, no
web fonts) and a Content-Security-Policy that forbids the browser any fetch at all.

The report reads only what ``cleanclaim audit`` wrote (``summary.json``, ``findings.parquet``, ``providers.parquet``,
``rejected.parquet``; DESIGN.md "Wave-2 outputs"), or the same tables as the audit still holds them in memory: it
recomputes the totals from the tables and shows, at the top, every place where they do not reconcile with
``summary.json``, rather than trusting either one silently. The findings
table may hold millions of rows: only the ten columns the report needs are read, once, with the repeated strings as
categoricals, and every aggregate is a plan over that one frame, run together (1M findings: about 1.5 s and 0.5 GB on
the 2-core machine).

Every value from the input (file names, encounter ids, payer names, rule messages) is escaped by the template
(autoescape); the charts are built as numbers here and drawn by the template, so their labels are escaped too.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from cleanclaim.errors import InputError

if TYPE_CHECKING:
    import jinja2

__all__ = ["FINDINGS", "PROVIDERS", "REJECTED", "REPORT", "SUMMARY", "Tally", "render_report", "tally", "template",
           "write_report"]

SUMMARY = "summary.json"
FINDINGS = "findings.parquet"
PROVIDERS = "providers.parquet"
REJECTED = "rejected.parquet"
REPORT = "report.html"

SEVERITIES = ("error", "warning", "info")

# The columns of the contract this report reads (audit-common.md); the others (message, fix, references...) are in the
# file for the reader of the Parquet, not needed for totals and rankings.
_FINDINGS_COLUMNS = ("rule", "id", "severity", "encounter", "line", "provider_npi", "payer", "date", "allowed",
                     "source_file")
_PROVIDERS_COLUMNS = ("provider", "discipline", "payer", "metric", "value", "peer_value", "n", "p", "q", "flagged",
                      "claims")
_REJECTED_COLUMNS = ("file", "row", "column", "reason")
_SUMMARY_COUNTS = ("rows_read", "rows_checked", "rows_rejected", "encounters", "lines", "providers_flagged")

TOP_CLAIMS = 25
"""How many encounters "top claims to review" lists: a reviewer's first sitting, not the whole work list (that is
findings.parquet)."""
TOP_PROVIDERS = 25
"""Providers shown in "findings by provider" (a large practice or a payer's input has thousands)."""
MAX_METRIC_CHARTS = 60
"""Flagged metrics drawn against their peers, lowest q first; every flagged row is still in the table."""
FIRST_REJECTED = 10
"""Rejected rows quoted in the report; rejected.parquet has them all."""
_HISTOGRAM_BINS = 20
_LABEL_CHARS = 28


# --------------------------------------------------------------------------------------------------- chart geometry
# The SVG is drawn by the template from these numbers, so every label goes through autoescape.

_CHART_WIDTH = 720
_LABEL_WIDTH = 200
_VALUE_WIDTH = 110
_VALUE_CHAR_WIDTH = 7  # px per character of a value label, a little over a 12 px digit's width
_BAR_HEIGHT = 18
_BAR_GAP = 6
_TOP = 8


@dataclass(frozen=True)
class Bar:
    label: str
    full_label: str
    value_label: str
    y: float
    width: float
    css: str


@dataclass(frozen=True)
class BarChart:
    """A horizontal bar chart: one bar per row of the table beside it."""

    ident: str
    title: str
    description: str
    bars: list[Bar]
    width: int = _CHART_WIDTH
    height: int = 0
    label_width: int = _LABEL_WIDTH


@dataclass(frozen=True)
class Bin:
    x: float
    y: float
    width: float
    height: float
    count: int
    low: str
    high: str
    highlight: bool


@dataclass(frozen=True)
class DistributionChart:
    """One flagged metric: the peer group's distribution (a histogram of every provider's value of the same metric in
    the same discipline and payer) with the flagged provider's value and the peer value marked."""

    ident: str
    title: str
    description: str
    bins: list[Bin]
    value_x: float
    peer_x: float | None
    axis_low: str
    axis_high: str
    max_count: int
    width: int = _CHART_WIDTH
    height: int = 170
    plot_left: int = 40
    plot_right: int = _CHART_WIDTH - 20
    plot_top: int = 30
    plot_bottom: int = 130


def _truncate(text: str, limit: int = _LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bar_chart(ident: str, title: str, rows: Sequence[tuple[str, float, str, str]], description: str) -> BarChart:
    """Rows are (label, value, value label, css class); bars scale to the largest value."""
    largest = max((value for _, value, _, _ in rows), default=0.0)
    # the value label is drawn right of its bar: room for the longest one, or the largest bar's label runs off the
    # chart ("192,531 (0 errors)" needs ~130 px at 12 px type, more than the 110 reserved before)
    longest = max((len(value_label) for _, _, value_label, _ in rows), default=0)
    area = _CHART_WIDTH - _LABEL_WIDTH - max(_VALUE_WIDTH, longest * _VALUE_CHAR_WIDTH + 12)
    bars = [Bar(label=_truncate(label), full_label=label, value_label=value_label,
                y=_TOP + i * (_BAR_HEIGHT + _BAR_GAP),
                width=(max(value, 0.0) / largest * area) if largest > 0 else 0.0, css=css)
            for i, (label, value, value_label, css) in enumerate(rows)]
    height = _TOP * 2 + max(len(bars), 1) * (_BAR_HEIGHT + _BAR_GAP)
    return BarChart(ident=ident, title=title, description=description, bars=bars, height=height)


def distribution_chart(ident: str, title: str, peers: Sequence[float], value: float, peer_value: float | None,
                       ) -> DistributionChart:
    """A histogram of ``peers`` with ``value`` (the flagged provider's) and ``peer_value`` marked on the same axis."""
    finite = [v for v in peers if math.isfinite(v)]
    points = [*finite, value] + ([peer_value] if peer_value is not None and math.isfinite(peer_value) else [])
    low, high = min(points), max(points)
    if high - low <= 0:  # every provider at the same value: centre it on an axis of visible width
        spread = abs(low) * 0.5 or 0.5
        low, high = low - spread, high + spread
    chart = DistributionChart(ident=ident, title=title, description="", bins=[], value_x=0, peer_x=None,
                              axis_low="", axis_high="", max_count=0)
    left, right, top, bottom = chart.plot_left, chart.plot_right, chart.plot_top, chart.plot_bottom
    step = (high - low) / _HISTOGRAM_BINS
    counts = [0] * _HISTOGRAM_BINS
    for v in finite:
        counts[min(int((v - low) / step), _HISTOGRAM_BINS - 1)] += 1
    own = min(int((value - low) / step), _HISTOGRAM_BINS - 1)
    most = max(counts) or 1
    span = right - left
    bins = []
    for i, count in enumerate(counts):
        height = (bottom - top) * count / most
        bins.append(Bin(x=left + span * i / _HISTOGRAM_BINS, y=bottom - height, width=span / _HISTOGRAM_BINS - 1,
                        height=height, count=count, low=fmt_number(low + step * i),
                        high=fmt_number(low + step * (i + 1)), highlight=i == own))

    def x_of(v: float) -> float:
        return left + span * (v - low) / (high - low)

    peer_x = x_of(peer_value) if peer_value is not None and math.isfinite(peer_value) else None
    description = (f"Histogram of {len(finite)} providers' values in the peer group; this provider "
                   f"{fmt_number(value)}, peer value {fmt_number(peer_value)}.")
    return DistributionChart(ident=ident, title=title, description=description, bins=bins, value_x=x_of(value),
                             peer_x=peer_x, axis_low=fmt_number(low), axis_high=fmt_number(high),
                             max_count=max(counts))


# ------------------------------------------------------------------------------------------------------- formatting

def fmt_money(amount: Decimal | None) -> str:
    return "—" if amount is None else f"${amount:,.2f}"


def fmt_number(value: float | None) -> str:
    """Metric values are shares (0-1), means or rates per 100 lines: four significant digits say enough."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.4g}"


def fmt_p(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{value:.1e}" if value < 0.001 else f"{value:.3f}"


# --------------------------------------------------------------------------------------------------------- reading

def _read_summary(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("missing: cleanclaim audit writes it with the other outputs; expected in this folder",
                         file=str(path)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a JSON document ({exc})", file=str(path)) from None
    if not isinstance(data, dict):
        raise InputError("expected a JSON object", file=str(path))
    for key in _SUMMARY_COUNTS:
        value = data.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InputError("expected a count (a whole number, 0 or more)", file=str(path), field=key)
    findings = data.get("findings")
    if not isinstance(findings, dict):
        raise InputError("expected an object with by_rule and by_severity", file=str(path), field="findings")
    for part in ("by_rule", "by_severity"):
        counts = findings.get(part)
        if not isinstance(counts, dict) or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts.values()):
            raise InputError("expected an object of counts", file=str(path), field=f"findings.{part}")
    try:
        data["dollars_at_risk"] = Decimal(str(data.get("dollars_at_risk")))
    except InvalidOperation:
        raise InputError('expected a decimal string such as "123.45"', file=str(path),
                         field="dollars_at_risk") from None
    if not data["dollars_at_risk"].is_finite():
        raise InputError('expected a decimal string such as "123.45"', file=str(path), field="dollars_at_risk")
    for key in ("as_of", "cleanclaim_version"):
        if not isinstance(data.get(key), str):
            raise InputError("expected a string", file=str(path), field=key)
    files = data.get("files", [])
    if not isinstance(files, list):
        raise InputError("expected a list of file names", file=str(path), field="files")
    data["files"] = [str(f) for f in files]
    return data


def _scan(path: Path, columns: Iterable[str]) -> pl.LazyFrame:
    if not path.is_file():
        raise InputError("missing: cleanclaim audit writes it with the other outputs; expected in this folder",
                         file=str(path))
    try:
        schema = pl.read_parquet_schema(path)
    except Exception as exc:  # polars says "not a parquet file" in several exception types
        raise InputError(f"not a Parquet file ({type(exc).__name__})", file=str(path)) from None
    for column in columns:
        if column not in schema:
            raise InputError("column missing (the audit outputs' schema, DESIGN.md \"Wave-2 outputs\")",
                             file=str(path), field=column)
    return pl.scan_parquet(path).select(list(columns))


# -------------------------------------------------------------------------------------------------------- the model

@dataclass
class Reconciliation:
    """Each total as summary.json states it and as the tables count it."""

    checks: list[tuple[str, str, str, bool]] = field(default_factory=list)

    def add(self, what: str, stated: object, counted: object) -> None:
        def shown(value: object) -> str:
            return f"{value:,}" if isinstance(value, int) else str(value)

        self.checks.append((what, shown(stated), shown(counted), stated == counted))

    @property
    def ok(self) -> bool:
        return all(ok for *_, ok in self.checks)


def _money(value: object) -> Decimal:
    return Decimal(0) if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


_LINE = ["source_file", "encounter", "line"]


def _error_lines(findings: pl.LazyFrame, *per: str) -> pl.LazyFrame:
    """The priced lines with at least one error finding, each once (once per ``per`` value: a line with errors from
    two rules is at risk under both): the lines whose allowed amount is at risk. A claim-level error puts the whole
    claim at risk: its finding carries the allowed amount of all the claim's priced lines (`audit.run`), so it
    stands for them, and the claim's line-level errors are not counted a second time. This is how `audit` counts
    summary.json's dollars at risk."""
    errors = findings.filter((pl.col("severity") == "error") & pl.col("allowed").is_not_null())
    claim_keys = ["source_file", "encounter", *per]
    whole = errors.filter(pl.col("line").is_null()).unique(subset=[*_LINE, *per], keep="first")
    lines = (errors.filter(pl.col("line").is_not_null())
             .join(whole.select(claim_keys), on=claim_keys, how="anti", nulls_equal=True)
             .unique(subset=[*_LINE, *per], keep="first"))
    return pl.concat([whole, lines])


def _by_key(findings: pl.LazyFrame, error_lines: pl.LazyFrame, key: str, *extra: pl.Expr) -> pl.LazyFrame:
    """Findings by severity and dollars at risk per value of ``key``, most errors first. ``error_lines`` holds each
    line at risk once per value of ``key`` (line-level keys such as payer need no more than once per line)."""
    counts = findings.group_by(key).agg(
        *(((pl.col("severity") == s).sum().cast(pl.Int64)).alias(s) for s in SEVERITIES),
        pl.len().cast(pl.Int64).alias("total"), *extra)
    at_risk = error_lines.group_by(key).agg(pl.col("allowed").sum().alias("at_risk"))
    return (counts.join(at_risk, on=key, how="left", nulls_equal=True)
            .sort(["error", "total", key], descending=[True, True, False], nulls_last=True))


def _rows(table: pl.DataFrame, key: str, limit: int | None = None) -> list[dict[str, Any]]:
    rows = table.to_dicts() if limit is None else table.head(limit).to_dicts()
    for row in rows:
        row["label"] = "(none)" if row[key] is None else str(row[key])
        row["at_risk"] = _money(row["at_risk"])
    return rows


def _severity_bars(ident: str, title: str, rows: list[dict[str, Any]], description: str) -> BarChart:
    return bar_chart(ident, title, [(row["label"], float(row["total"]),
                                     f"{row['total']:,} ({row['error']:,} errors)",
                                     "bar-error" if row["error"] else "bar-warning" if row["warning"] else "bar-info")
                                    for row in rows], description)


@dataclass(frozen=True)
class Tally:
    """What the report counts in the findings and rejected tables: every total and ranking but the provider tests'
    and summary.json's. Apart from them so that an audit counts the tables it holds in memory while its provider
    tests run (`cleanclaim.audit.run`), instead of reading back the files it has just written once both are done;
    `write_report` on an output folder counts the files the same way."""

    severity_counts: dict[str, int]
    rules: pl.DataFrame
    payers: pl.DataFrame
    providers: pl.DataFrame
    at_risk: Decimal
    top_claims: list[dict[str, Any]]
    rejected_count: int
    rejected_first: list[dict[str, Any]]
    rejected_by_column: list[dict[str, Any]]


def tally(findings: pl.LazyFrame, rejected: pl.LazyFrame) -> Tally:
    """The report's counts of ``findings`` (findings.parquet's rows, in its order) and ``rejected``
    (rejected.parquet's)."""
    # one read of the columns the report needs; every aggregate below is a plan over it, run together
    held = (findings.select(_FINDINGS_COLUMNS)
            .with_columns(pl.col("allowed").cast(pl.Decimal(38, 2)),
                          pl.col("rule", "id", "severity", "payer", "source_file", "provider_npi")
                          .cast(pl.Categorical))
            .collect().lazy())
    rejected = rejected.select(_REJECTED_COLUMNS)
    error_lines = _error_lines(held).collect().lazy()

    (severity_table, rules_table, payers_table, providers_table, at_risk_table, claims_table, rejected_count_table,
     rejected_first, rejected_by_column) = pl.collect_all([
        held.group_by("severity").agg(pl.len()),
        _by_key(held, _error_lines(held, "rule"), "rule", pl.col("id").first(),
                pl.struct("source_file", "encounter").filter(pl.col("encounter").is_not_null()).n_unique()
                .alias("encounters")),
        _by_key(held, error_lines, "payer"),
        _by_key(held, error_lines, "provider_npi"),
        error_lines.select(pl.col("allowed").sum()),
        _claims(held, error_lines),
        rejected.select(pl.len()),
        rejected.head(FIRST_REJECTED),
        rejected.group_by("column").agg(pl.len().alias("n"))
        .sort(["n", "column"], descending=[True, False], nulls_last=True).head(FIRST_REJECTED),
    ])
    severity_counts = dict.fromkeys(SEVERITIES, 0)
    for severity, n in severity_table.iter_rows():
        severity_counts[str(severity)] = int(n)
    return Tally(severity_counts=severity_counts, rules=rules_table, payers=payers_table, providers=providers_table,
                 at_risk=_money(at_risk_table.item()), top_claims=_top_claims(held, claims_table),
                 rejected_count=int(rejected_count_table.item()),
                 rejected_first=rejected_first.to_dicts(), rejected_by_column=rejected_by_column.to_dicts())


def _build_context(out_dir: Path, counted: Tally | None = None,
                   providers: pl.DataFrame | None = None) -> dict[str, Any]:
    summary = _read_summary(out_dir / SUMMARY)
    if counted is None:
        findings = _scan(out_dir / FINDINGS, _FINDINGS_COLUMNS)
        if providers is None:
            providers = _scan(out_dir / PROVIDERS, _PROVIDERS_COLUMNS).collect()
        counted = tally(findings, _scan(out_dir / REJECTED, _REJECTED_COLUMNS))
    elif providers is None:
        providers = _scan(out_dir / PROVIDERS, _PROVIDERS_COLUMNS).collect()
    providers = providers.select(_PROVIDERS_COLUMNS)

    # totals, each recounted from the tables
    severity_counts = counted.severity_counts
    rule_rows = _rows(counted.rules, "rule")
    for row in rule_rows:
        row["id"] = row["id"] or ""
    rejected_count = counted.rejected_count
    at_risk = counted.at_risk
    flagged = providers.filter(pl.col("flagged").fill_null(False))
    flagged_providers = flagged.select(pl.col("provider").n_unique()).item()

    stated_severity = summary["findings"]["by_severity"]
    check = Reconciliation()
    check.add("rows read = rows checked + rows rejected", summary["rows_read"],
              summary["rows_checked"] + summary["rows_rejected"])
    check.add(f"rows rejected (summary.json against {REJECTED})", summary["rows_rejected"], rejected_count)
    for severity in SEVERITIES:
        check.add(f"{severity} findings (summary.json against {FINDINGS})", stated_severity.get(severity, 0),
                  severity_counts[severity])
    counted_rules = {row["rule"]: row["total"] for row in rule_rows}
    check.add(f"findings by rule (summary.json against {FINDINGS})",
              "as counted" if summary["findings"]["by_rule"] == counted_rules else
              _rule_difference(summary["findings"]["by_rule"], counted_rules), "as counted")
    check.add(f"dollars at risk (summary.json against the error lines of {FINDINGS})",
              fmt_money(summary["dollars_at_risk"]), fmt_money(at_risk))
    check.add(f"providers flagged (summary.json against {PROVIDERS})", summary["providers_flagged"],
              flagged_providers)

    payer_rows, payer_total = _rows(counted.payers, "payer"), counted.payers.height
    provider_rows, provider_total = (_rows(counted.providers, "provider_npi", TOP_PROVIDERS),
                                     counted.providers.height)

    return {
        "summary": summary,
        "severity_counts": severity_counts,
        "findings_total": sum(severity_counts.values()),
        "reconciliation": check,
        "rules": rule_rows,
        "rule_chart": _severity_bars("chart-rules", "Findings by rule", rule_rows,
                                     "One bar per rule: its number of findings."),
        "payers": payer_rows,
        "payer_total": payer_total,
        "payer_chart": _severity_bars("chart-payers", "Findings by payer", payer_rows,
                                      "One bar per payer: its number of findings."),
        "providers": provider_rows,
        "provider_total": provider_total,
        "provider_chart": _severity_bars("chart-providers", "Findings by rendering provider", provider_rows,
                                         f"The {len(provider_rows)} providers with the most error findings."),
        "flagged": _flagged(providers, flagged),
        "top_claims": counted.top_claims,
        "rejected_count": rejected_count,
        "rejected_first": counted.rejected_first,
        "rejected_by_column": counted.rejected_by_column,
        "fmt_money": fmt_money,
        "fmt_number": fmt_number,
        "fmt_p": fmt_p,
        "TOP_CLAIMS": TOP_CLAIMS,
        "FIRST_REJECTED": FIRST_REJECTED,
        "MAX_METRIC_CHARTS": MAX_METRIC_CHARTS,
    }


def _rule_difference(stated: Mapping[str, int], counted: Mapping[str, int]) -> str:
    differing = sorted(rule for rule in set(stated) | set(counted) if stated.get(rule, 0) != counted.get(rule, 0))
    shown = ", ".join(f"{rule} {stated.get(rule, 0)} (counted {counted.get(rule, 0)})" for rule in differing[:5])
    return shown + (f" and {len(differing) - 5} more" if len(differing) > 5 else "")


def _flagged(providers: pl.DataFrame, flagged: pl.DataFrame) -> dict[str, Any]:
    rows = flagged.sort(["q", "p", "provider", "metric"], nulls_last=True).to_dicts()
    # the peer groups of the charted rows only: providers.parquet has a row per provider and metric (200,000 for a
    # 1M-line audit), read here as one list per group, not a Python loop over every row
    group = ["discipline", "payer", "metric"]
    charted = pl.DataFrame([{key: row[key] for key in group} for row in rows[:MAX_METRIC_CHARTS]],
                           schema={key: providers.schema[key] for key in group})
    peer_values: dict[tuple[Any, Any, Any], list[float]] = {
        (discipline, payer, metric): values for discipline, payer, metric, values in
        providers.filter(pl.col("value").is_not_null())
        .join(charted.unique(), on=group, how="semi", nulls_equal=True)
        .group_by(group, maintain_order=True).agg(pl.col("value").cast(pl.Float64)).iter_rows()}
    charts = []
    for i, row in enumerate(rows[:MAX_METRIC_CHARTS]):
        if row["value"] is None or not math.isfinite(row["value"]):
            continue
        title = (f"{row['metric']} — provider {row['provider']} ({row['discipline']}, {row['payer']}): "
                 f"{fmt_number(row['value'])} against peer {fmt_number(row['peer_value'])}")
        charts.append((row, distribution_chart(
            f"metric-{i}", title, peer_values.get((row["discipline"], row["payer"], row["metric"]), []),
            float(row["value"]), None if row["peer_value"] is None else float(row["peer_value"]))))
    by_provider: dict[str, list[str]] = {}
    for row in rows:
        by_provider.setdefault(str(row["provider"]), []).append(str(row["metric"]))
    return {"rows": rows, "charts": charts, "providers": by_provider}


def _claims(findings: pl.LazyFrame, error_lines: pl.LazyFrame) -> pl.LazyFrame:
    """The top encounters by error findings, then by the allowed amount of their lines at risk: where a reviewer
    starts. Only counts here: the rules of these few encounters are looked up after (per-group lists over every
    encounter of a million-line audit would cost more than the rest of the report)."""
    keys = ["source_file", "encounter"]
    at_risk = error_lines.group_by(keys).agg(pl.col("allowed").sum().alias("at_risk"))
    return (findings.filter(pl.col("encounter").is_not_null()).group_by(keys)
            .agg(*(((pl.col("severity") == s).sum().cast(pl.Int64)).alias(s) for s in SEVERITIES),
                 pl.col("provider_npi").drop_nulls().first(), pl.col("payer").drop_nulls().first(),
                 pl.col("date").min())
            .join(at_risk, on=keys, how="left", nulls_equal=True)
            .with_columns(pl.col("at_risk").fill_null(Decimal(0)))
            .sort(["error", "at_risk", "warning", *keys], descending=[True, True, True, False, False],
                  nulls_last=True)
            .head(TOP_CLAIMS))


def _top_claims(findings: pl.LazyFrame, top: pl.DataFrame) -> list[dict[str, Any]]:
    keys = ["source_file", "encounter"]
    rules = (findings.filter(pl.col("severity") == "error")
             .join(top.lazy().select(keys), on=keys, how="semi", nulls_equal=True)
             .group_by(keys).agg(pl.col("rule").unique().sort().alias("error_rules")).collect())
    named = {(row["source_file"], row["encounter"]): row["error_rules"] for row in rules.iter_rows(named=True)}
    rows = top.to_dicts()
    for row in rows:
        row["at_risk"] = _money(row["at_risk"])
        row["error_rules"] = named.get((row["source_file"], row["encounter"]), [])
    return rows


# --------------------------------------------------------------------------------------------------------- writing

@functools.cache
def template() -> jinja2.Template:
    """The report's template, compiled once per process (about 70 ms of Python): an audit compiles it beside its
    provider tests, before the report is due. jinja2 is imported here: a Spark worker imports this module (through
    the audit's run) and never renders a report."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("cleanclaim.audit", "templates"),
        autoescape=True,  # every value in the report comes from input files: escape all of it, always
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template("report.html")


def render_report(out_dir: Path, *, counted: Tally | None = None, providers: pl.DataFrame | None = None) -> str:
    """The report's HTML, from the audit outputs in ``out_dir``; ``counted`` and ``providers``, when given, are
    findings, rejected and providers tables already in memory (those the files in ``out_dir`` were written from)."""
    return template().render(**_build_context(out_dir, counted, providers))


def write_report(out_dir: Path, *, counted: Tally | None = None, providers: pl.DataFrame | None = None) -> Path:
    """Write ``out_dir/report.html`` from the other audit outputs there; returns its path. An audit that holds the
    tables it wrote passes them (``counted``: their `tally`, ``providers``) so they are not read back.

    Raises :class:`InputError` naming the file (and the field or column) when an output is missing or not in the
    contract's shape; totals that disagree are not an error but are shown at the top of the report.
    """
    out_dir = Path(out_dir)
    html = render_report(out_dir, counted=counted, providers=providers)
    target = out_dir / REPORT
    partial = target.with_suffix(".html.partial")
    partial.write_text(html, encoding="utf-8")
    partial.replace(target)  # whole or not at all, as the other writers
    return target
