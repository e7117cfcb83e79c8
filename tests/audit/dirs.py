"""Audit output folders (the four files of DESIGN.md "Wave-2 outputs", in the schema of audit-common) built by hand.

The summary is counted here from the rows given, in plain Python, independently of the report's own Polars
recounting, so a test that compares the two compares two computations. Synthetic providers, payers and encounters
only.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from cleanclaim.rules.registry import get_rule

FINDINGS_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "rule": pl.String, "id": pl.String, "severity": pl.String, "encounter": pl.String, "line": pl.Int32,
    "code": pl.String, "message": pl.String, "fix": pl.String, "references": pl.List(pl.String),
    "provider_npi": pl.String, "payer": pl.String, "date": pl.Date, "allowed": pl.Decimal(12, 2),
    "source_file": pl.String,
}
PROVIDERS_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "provider": pl.String, "discipline": pl.String, "payer": pl.String, "metric": pl.String, "value": pl.Float64,
    "peer_value": pl.Float64, "n": pl.Int64, "p": pl.Float64, "q": pl.Float64, "flagged": pl.Boolean,
    "claims": pl.List(pl.String),
}
REJECTED_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "file": pl.String, "row": pl.Int64, "column": pl.String, "reason": pl.String,
}


def finding(rule: str, encounter: str | None, line: int | None, *, npi: str = "1234567893", payer: str = "medicare",
            allowed: str | None = "50.00", date: dt.date = dt.date(2026, 3, 2), source_file: str = "claims.parquet",
            message: str = "synthetic finding", code: str | None = "97110") -> dict[str, Any]:
    """One findings.parquet row for the registered rule ``rule`` (its id and severity come from the catalogue)."""
    registered = get_rule(rule)
    return {"rule": rule, "id": registered.id, "severity": registered.severity.value, "encounter": encounter,
            "line": line, "code": code, "message": message, "fix": "synthetic fix",
            "references": ["CMS IOM 100-04 ch. 5"], "provider_npi": npi, "payer": payer, "date": date,
            "allowed": None if allowed is None else Decimal(allowed), "source_file": source_file}


def provider_row(provider: str, metric: str, value: float, *, peer: float, flagged: bool = False,
                 discipline: str = "PT", payer: str = "medicare", n: int = 200, p: float = 0.5, q: float = 0.6,
                 claims: list[str] | None = None) -> dict[str, Any]:
    return {"provider": provider, "discipline": discipline, "payer": payer, "metric": metric, "value": value,
            "peer_value": peer, "n": n, "p": p, "q": q, "flagged": flagged, "claims": claims or []}


def write_audit_dir(out: Path, findings: list[dict[str, Any]], providers: list[dict[str, Any]],
                    rejected: list[dict[str, Any]], *, rows_checked: int, encounters: int, lines: int,
                    files: list[str] | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write summary.json (counted from the rows; ``overrides`` replace any key), findings.parquet,
    providers.parquet and rejected.parquet into ``out``; returns the summary written."""
    out.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(findings, schema=FINDINGS_SCHEMA).write_parquet(out / "findings.parquet")
    pl.DataFrame(providers, schema=PROVIDERS_SCHEMA).write_parquet(out / "providers.parquet")
    pl.DataFrame(rejected, schema=REJECTED_SCHEMA).write_parquet(out / "rejected.parquet")
    at_risk: dict[tuple[str, str, int], Decimal] = {}
    for f in findings:
        if f["severity"] == "error" and f["line"] is not None and f["allowed"] is not None:
            at_risk.setdefault((f["source_file"], f["encounter"], f["line"]), f["allowed"])
    summary: dict[str, Any] = {
        "rows_read": rows_checked + len(rejected), "rows_checked": rows_checked, "rows_rejected": len(rejected),
        "encounters": encounters, "lines": lines,
        "findings": {"by_rule": dict(Counter(f["rule"] for f in findings)),
                     "by_severity": {s: sum(f["severity"] == s for f in findings)
                                     for s in ("error", "warning", "info")}},
        "dollars_at_risk": str(sum(at_risk.values(), Decimal("0.00"))),
        "providers_flagged": len({p["provider"] for p in providers if p["flagged"]}),
        "files": files if files is not None else sorted({f["source_file"] for f in findings}),
        "as_of": "2026-04-01", "cleanclaim_version": "0.1.0",
    }
    summary.update(overrides or {})
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def demo_audit_dir(out: Path, *, seed: int = 15) -> dict[str, Any]:
    """A plausible month of a few practices' claims: enough rows for every section and chart of the report to show
    something (the README's picture and the browser test)."""
    rng = random.Random(seed)
    payers = ["medicare", "commercial", "medicaid"]
    providers = [f"1{n:08d}" for n in rng.sample(range(10**7, 10**8), 24)]
    # NPIs need not pass the Luhn check here: the report does not validate them, the audit does
    rules = ["units-exceed-time", "modifier-59-with-x", "mue-exceeded", "missing-kx", "duplicate-line",
             "ncci-ptp-conflict", "modifier-22-misuse", "progress-report-due", "missing-minutes"]
    weights = [30, 14, 6, 12, 5, 9, 3, 18, 10]
    heavy = set(providers[:3])
    findings = []
    for i in range(900):
        npi = rng.choice(providers[:3] if rng.random() < 0.35 else providers)
        rule = rng.choices(rules, weights)[0]
        line = None if rule == "progress-report-due" else rng.randint(1, 4)
        encounter = f"E-{rng.randint(1, 600 if npi not in heavy else 120):05d}-{npi[-3:]}"
        findings.append(finding(rule, encounter, line, npi=npi, payer=rng.choice(payers),
                                allowed=None if i % 17 == 0 else f"{rng.uniform(18, 140):.2f}",
                                date=dt.date(2026, 3, 1) + dt.timedelta(days=rng.randint(0, 30)),
                                source_file=rng.choice(["march/claims-a.parquet", "march/claims-b.csv"])))
    metrics = {"share_59_x": (0.08, 0.05), "mean_timed_units": (2.6, 0.4), "share_units_at_boundary": (0.12, 0.06),
               "findings_per_100_lines": (4.0, 2.0)}
    rows = []
    for npi in providers:
        for metric, (centre, spread) in metrics.items():
            value = max(0.0, rng.gauss(centre, spread))
            flagged = npi in heavy and metric in ("share_59_x", "share_units_at_boundary", "mean_timed_units")
            if flagged:
                value = centre + spread * rng.uniform(4, 7)
            rows.append(provider_row(npi, metric, round(value, 4), peer=centre, flagged=flagged,
                                     n=rng.randint(80, 900), p=1e-7 if flagged else rng.uniform(0.02, 1),
                                     q=4e-6 if flagged else rng.uniform(0.2, 1),
                                     claims=[f"E-{k:05d}-{npi[-3:]}" for k in range(1, 11)] if flagged else []))
    rejected = [{"file": "march/claims-b.csv", "row": 40 + 13 * k, "column": column, "reason": reason}
                for k, (column, reason) in enumerate([
                    ("date", "expected a date YYYY-MM-DD"), ("units", "expected a number of units, 0 or more"),
                    ("code", "missing: every line needs a code"), ("date", "expected a date YYYY-MM-DD"),
                    ("charge", "expected an amount such as 120.00")])]
    return write_audit_dir(out, findings, rows, rejected, rows_checked=24_816, encounters=6_402, lines=24_816,
                           files=["march/claims-a.parquet", "march/claims-b.csv"])
