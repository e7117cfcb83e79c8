"""Runs the registered rules over the tables and turns flagged rows into findings.

Which rules run, and at what severity, is the organisation's choice (``--select``, ``--ignore``, ``--severity``,
``cleanclaim.toml``), like ruff's rule selection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from cleanclaim.errors import InputError
from cleanclaim.model import Finding, Severity
from cleanclaim.rules.registry import Rule, all_rules
from cleanclaim.rules.tables import Tables

__all__ = ["RuleSelection", "findings_from_rows", "run_rules"]


@dataclass(frozen=True)
class RuleSelection:
    """Which rules run. Entries are slugs, ids (CC103) or family names; ``select`` empty means all."""

    select: frozenset[str] = frozenset()
    ignore: frozenset[str] = frozenset()
    severity: Mapping[str, Severity] = field(default_factory=dict)

    @staticmethod
    def _matches(rule: Rule, names: Iterable[str]) -> bool:
        keys = {rule.slug, rule.id, rule.family, "ALL"}
        return any(name in keys or name.upper() in keys for name in names)

    def enabled(self, rule: Rule) -> bool:
        if self.select and not self._matches(rule, self.select):
            return False
        return not self._matches(rule, self.ignore)

    def unknown_names(self) -> list[str]:
        """Names in select, ignore or severity that match no rule, id or family: a typo must not silently turn
        rules off (or leave them on)."""
        known = {"ALL"}
        for rule in all_rules():
            known.update({rule.slug, rule.id, rule.family})
        names = [*self.select, *self.ignore, *self.severity]
        return sorted({n for n in names if n not in known and n.upper() not in known})

    def severity_of(self, rule: Rule) -> Severity | None:
        for key in (rule.slug, rule.id, rule.family):
            if key in self.severity:
                return self.severity[key]
        return None


def findings_from_rows(rule: Rule, rows: pl.DataFrame, override: Severity | None = None) -> list[Finding]:
    """One finding per flagged row: templates filled from the row, per-row overrides respected."""
    findings: list[Finding] = []
    for row in rows.iter_rows(named=True):
        values: dict[str, Any] = {k: _display(v) for k, v in row.items() if k != "references"}
        row_severity = row.get("severity")
        severity = override or (Severity(row_severity) if row_severity else None)
        line = row.get("line")
        findings.append(
            rule.finding(
                values,
                encounter=row.get("encounter_id"),
                line=int(line) if line is not None else None,
                code=row.get("code"),
                severity=severity,
                message=row.get("message") or None,
                fix=row.get("fix") or None,
                references=row.get("references") or None,
            )
        )
    return findings


def run_rules(tables: Tables, selection: RuleSelection | None = None) -> list[Finding]:
    """Every enabled rule over the tables, findings ordered by encounter, line and rule id."""
    selection = selection or RuleSelection()
    unknown = selection.unknown_names()
    if unknown:
        raise InputError(f"unknown rule(s) {', '.join(unknown)}: use a slug (deleted-code), an id (CC103) or a family "
                         "(\"code validity\"); `cleanclaim rules` lists them", field="select/ignore/severity")
    findings: list[Finding] = []
    for rule in all_rules():
        if not selection.enabled(rule):
            continue
        rows = rule.check(tables)
        if rows.height:
            findings.extend(findings_from_rows(rule, rows, selection.severity_of(rule)))
    order = {e: i for i, e in enumerate(tables.encounters.get_column("encounter_id").to_list())}
    findings.sort(key=lambda f: (order.get(f.encounter or "", len(order)), f.line or 0, f.id))
    return findings


def _display(value: Any) -> Any:
    # Lists show as "GP, CQ"; floats that are whole numbers show without ".0" (units, minutes).
    if isinstance(value, list):
        return ", ".join(str(_display(v)) for v in value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
