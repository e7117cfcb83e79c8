"""Runs the registered rules over the tables and turns flagged rows into findings.

Which rules run, and at what severity, is the organisation's choice (``--select``, ``--ignore``, ``--severity``,
``cleanclaim.toml``), like ruff's rule selection.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import polars as pl
from polars._typing import PolarsDataType

from cleanclaim.errors import InputError
from cleanclaim.model import Finding, Severity
from cleanclaim.refdata.imported import one_reading
from cleanclaim.rules.registry import CANNOT_FIRE, Rule, Screen, all_rules
from cleanclaim.rules.tables import Tables, collect_all, large_run

__all__ = ["FINDING_SCHEMA", "RuleSelection", "finding_frame", "findings_from_table", "findings_table",
           "in_encounter_order", "run_rules", "screened"]


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


FINDING_SCHEMA: dict[str, Any] = {
    "rule": pl.String, "id": pl.String, "severity": pl.String, "encounter": pl.String, "line": pl.Int64,
    "code": pl.String, "message": pl.String, "fix": pl.String, "references": pl.List(pl.String),
}
"""The findings of a run as one table, in the column order of the JSON contract's finding object."""


def _text(name: str, schema: pl.Schema) -> pl.Expr:
    """A row value as the template shows it: lists as "GP, CQ", whole floats without ".0", missing values as
    "None" (Python's own rendering, kept so the texts do not depend on which path built them)."""
    if name not in schema:
        return pl.lit("?")
    return _display(pl.col(name), schema[name]).fill_null("None")


def _display(expr: pl.Expr, dtype: PolarsDataType) -> pl.Expr:
    if isinstance(dtype, pl.List):
        return expr.list.eval(_display(pl.element(), dtype.inner).fill_null("None")).list.join(", ")
    if dtype.is_float():
        # whole numbers show as integers (units 2, not 2.0) while they fit one; huge values keep the float form
        whole = expr.is_finite() & (expr == expr.floor()) & (expr.abs() < 1e15)
        return pl.when(whole).then(expr.cast(pl.Int64, strict=False).cast(pl.String)).otherwise(expr.cast(pl.String))
    if dtype == pl.Boolean:
        return pl.when(expr).then(pl.lit("True")).when(~expr).then(pl.lit("False"))
    if dtype == pl.Null:
        return pl.lit(None, dtype=pl.String)
    return expr.cast(pl.String)


def _filled(template: str, schema: pl.Schema) -> pl.Expr:
    parts: list[pl.Expr] = []
    for literal, name, _, _ in string.Formatter().parse(template):
        if literal:
            parts.append(pl.lit(literal))
        if name is not None:
            parts.append(_text(name, schema))
    return pl.concat_str(parts) if parts else pl.lit("")


def _override(column: str, schema: pl.Schema, default: pl.Expr) -> pl.Expr:
    # a per-row text replaces the template where the row sets one (an empty text means "use the template")
    if column not in schema:
        return default
    value = pl.col(column)
    return pl.when(value.is_not_null() & (value != "")).then(value).otherwise(default)


def finding_frame(rule: Rule, rows: pl.DataFrame | pl.LazyFrame, override: Severity | None = None) -> pl.LazyFrame:
    """A rule's flagged rows as findings (one per row): its templates filled from the row's columns, per-row
    severity, message, fix and references respected. Kept as a table: turning a million flagged rows into objects
    would cost more than finding them."""
    frame = rows.lazy()
    schema = frame.collect_schema()
    built = _finding_columns(rule, override, tuple(schema.items()))
    # with_columns, not select: literals must take the height of the flagged rows (none flagged, no findings)
    return frame.with_columns(expr.alias(f"__finding_{name}") for name, expr in built.items()).select(
        pl.col(f"__finding_{name}").alias(name) for name in built)


@cache
def _finding_columns(rule: Rule, override: Severity | None,
                     items: tuple[tuple[str, PolarsDataType], ...]) -> dict[str, pl.Expr]:
    # Built once per rule and shape of its rows: on a single claim, building these expressions costs about as much
    # as running them.
    schema = pl.Schema(items)

    def column(name: str, dtype: PolarsDataType) -> pl.Expr:
        return pl.col(name).cast(dtype) if name in schema else pl.lit(None, dtype=dtype)

    if override is not None:
        severity: pl.Expr = pl.lit(override.value)
    else:
        severity = _override("severity", schema, pl.lit(rule.severity.value))
    references = pl.lit(list(rule.references), dtype=pl.List(pl.String))
    if "references" in schema:
        given = pl.col("references")
        references = pl.when(given.is_not_null() & (given.list.len() > 0)).then(given).otherwise(references)
    return {
        "rule": pl.lit(rule.slug),
        "id": pl.lit(rule.id),
        "severity": severity,
        "encounter": column("encounter_id", pl.String),
        "line": column("line", pl.Int64),
        "code": column("code", pl.String),
        "message": _override("message", schema, _filled(rule.message, schema)),
        "fix": _override("fix", schema, _filled(rule.fix, schema)),
        "references": references,
    }


def findings_table(tables: Tables, selection: RuleSelection | None = None, *, screens: bool = True) -> pl.DataFrame:
    """Every enabled rule over the tables, as one findings table ordered by encounter, line and rule id.

    Every rule's plan runs in one ``collect_all``; rules that return a DataFrame (those that decided early, or need a
    value in Python mid-way) are taken as they are. Imported reference data is listed once for the run."""
    with one_reading(), large_run(tables.lines.height + tables.encounters.height):
        return _findings_table(tables, selection, screens=screens)


def _findings_table(tables: Tables, selection: RuleSelection | None, *, screens: bool) -> pl.DataFrame:
    selection = selection or RuleSelection()
    unknown = selection.unknown_names()
    if unknown:
        raise InputError(f"unknown rule(s) {', '.join(unknown)}: use a slug (deleted-code), an id (CC103) or a family "
                         "(\"code validity\"); `cleanclaim rules` lists them", field="select/ignore/severity")
    # Two passes: every rule's plan in one collect_all, then findings for the rules that flagged something (on a
    # clean claim, none): building the findings plan needs the rows' schema, which costs a plan resolution per rule.
    # ``screens=False`` runs every enabled rule whatever its screen says (the screens' own tests compare the two).
    eager: list[tuple[Rule, pl.DataFrame]] = []
    pending: list[tuple[Rule, pl.LazyFrame]] = []
    enabled = [rule for rule in all_rules() if selection.enabled(rule)]
    for rule in screened(tables, enabled) if screens else enabled:
        rows = rule.check(tables)
        if isinstance(rows, pl.LazyFrame):
            pending.append((rule, rows))
        else:
            eager.append((rule, rows))
    collected = collect_all([rows for _, rows in pending])
    done = [*eager, *zip((rule for rule, _ in pending), collected, strict=True)]
    flagged = [(rule, rows) for rule, rows in done if rows.height]
    frames = collect_all([finding_frame(rule, rows, selection.severity_of(rule)) for rule, rows in flagged])
    if not frames:
        return pl.DataFrame(schema=FINDING_SCHEMA)
    return in_encounter_order(pl.concat(frames, how="vertical"), tables.encounters.get_column("encounter_id"))


def screened(tables: Tables, rules: list[Rule]) -> list[Rule]:
    """The rules whose screen says they may fire on these tables (and every rule without a screen), in order.

    All line screens are evaluated in one ``select`` and all encounter screens in another."""
    every = {rule.slug: rule.screen_for(tables) for rule in rules}
    # rules that decided in Python are settled here, without an expression in either select
    screens = {slug: screen for slug, screen in every.items() if screen is not CANNOT_FIRE}
    rules = [rule for rule in rules if rule.slug in screens]
    on_lines = _any_true(tables.screen_lines, screens, "lines")
    on_encounters = _any_true(tables.screen_encounters, screens, "encounters")
    return [rule for rule in rules
            if screens[rule.slug] is None or on_lines.get(rule.slug, False) or on_encounters.get(rule.slug, False)]


def _any_true(frame: Callable[[], pl.DataFrame], screens: Mapping[str, Screen | None], side: str) -> dict[str, bool]:
    expressions = {slug: getattr(screen, side) for slug, screen in screens.items() if screen is not None}
    wanted = [expr.fill_null(True).any().alias(slug) for slug, expr in expressions.items() if expr is not None]
    if not wanted:
        return {}
    row = frame().select(wanted).row(0, named=True)
    return {slug: bool(value) for slug, value in row.items()}


def in_encounter_order(findings: pl.DataFrame, encounter_ids: pl.Series) -> pl.DataFrame:
    """Findings ordered as users read them: by the encounters' order in the input, then line (encounter-level
    first), then rule id; rows that tie keep their order. An id given twice keeps its first place (and the join
    does not double its findings); findings of an encounter not in the list come last."""
    order = pl.DataFrame({"encounter": encounter_ids}).with_columns(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_order")).unique("encounter", keep="first",
                                                                         maintain_order=True)
    return (
        findings.join(order, on="encounter", how="left", maintain_order="left")
        .sort(pl.col("_order").fill_null(encounter_ids.len()), pl.col("line").fill_null(0), "id",
              maintain_order=True)
        .drop("_order")
    )


def findings_from_table(table: pl.DataFrame) -> list[Finding]:
    """Finding objects for the rows of a findings table (its columns are already the model's, so no validation)."""
    return [
        Finding.model_construct(
            rule=row["rule"], id=row["id"], severity=Severity(row["severity"]), encounter=row["encounter"],
            line=row["line"], code=row["code"], message=row["message"], fix=row["fix"],
            references=row["references"] or [],
        )
        for row in table.iter_rows(named=True)
    ]


def run_rules(tables: Tables, selection: RuleSelection | None = None) -> list[Finding]:
    """Every enabled rule over the tables, findings ordered by encounter, line and rule id."""
    return findings_from_table(findings_table(tables, selection))
