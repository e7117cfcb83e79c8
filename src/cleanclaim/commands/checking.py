"""``cleanclaim check FILE``: scrub claims with the rule catalogue; ``rules`` and ``rule SLUG`` document it."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from cleanclaim.commands.coding import (
    AsOfOption,
    PayerOption,
    PayersDirOption,
    parse_as_of,
    payers_folder,
    readable_path,
)
from cleanclaim.commands.output import SEVERITY_STYLE, console, error_console, finish, print_errors, print_finding
from cleanclaim.commands.selection import ConfigOption, IgnoreOption, SelectOption, SeverityOption, rule_settings
from cleanclaim.errors import InputError

if TYPE_CHECKING:
    from cleanclaim.scrub import CheckResult

__all__ = ["ConfigOption", "IgnoreOption", "SelectOption", "SeverityOption", "register", "rule_settings"]


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    NDJSON = "ndjson"


def _print(result: CheckResult) -> None:
    from cleanclaim.model import Severity

    current: str | None = None
    for finding in result.findings:
        if finding.encounter != current:
            current = finding.encounter
            console.print(f"\n[bold]Encounter {escape(str(current))}[/bold]" if current is not None
                          else "\n[bold]The file[/bold]")
        print_finding(finding)
    summary = result.summary
    console.print(
        f"\n{summary.encounters} encounter(s), {summary.lines} line(s): "
        f"[{SEVERITY_STYLE[Severity.ERROR]}]{summary.errors} error(s)[/], "
        f"[{SEVERITY_STYLE[Severity.WARNING]}]{summary.warnings} warning(s)[/], "
        f"[{SEVERITY_STYLE[Severity.INFO]}]{summary.info} info[/]"
        + (f"; rows read {summary.rows_read}, rejected {summary.rows_rejected}" if summary.rows_read is not None
           else "")
    )


def _check(
    file: Annotated[Path, typer.Argument(
        help="Encounter YAML/JSON (file or folder), claim-line CSV/Parquet, or 837P.", callback=readable_path)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON of the interchange contract.")] = False,
    output_format: Annotated[OutputFormat, typer.Option(
        "--format", help="text, json (same as --json) or ndjson: one finding a line, written as it is printed.")
    ] = OutputFormat.TEXT,
    payer: PayerOption = None,
    as_of: AsOfOption = None,
    payers_dir: PayersDirOption = None,
    select: SelectOption = None,
    ignore: IgnoreOption = None,
    severity: SeverityOption = None,
    config: ConfigOption = None,
) -> None:
    """Check claims before the payer does: every finding says what is wrong, how to fix it and where the rule is."""
    from cleanclaim.scrub import check

    try:
        settings, selection = rule_settings(config, select, ignore, severity)
        result = check(file, payer=payer or settings.payer, as_of=parse_as_of(as_of),
                       payers_dir=payers_folder(payers_dir, settings), selection=selection)
    except InputError as exc:
        print_errors([exc])
        raise typer.Exit(2) from exc
    for note in result.notes:
        error_console.print(Text(f"note: {note}", style="yellow"))
    if output_format is OutputFormat.NDJSON:
        finish(result, as_json=False, show=_print_ndjson)
    finish(result, as_json=as_json or output_format is OutputFormat.JSON, show=_print)


def _print_ndjson(result: CheckResult) -> None:
    """One finding (the contract's finding object) a line, written row by row from the findings table: a million
    findings never become one JSON document in memory. Input errors still go to standard error."""
    out = sys.stdout
    for row in result.table.iter_rows(named=True):
        out.write(json.dumps(row, default=str, separators=(",", ":")) + "\n")
    out.flush()


def _rules() -> None:
    """List every rule: id, slug, family, default severity and what it checks."""
    from cleanclaim.rules.registry import all_rules

    table = Table(show_edge=False)
    for column in ("id", "slug", "family", "severity", "summary"):
        table.add_column(column)
    for rule in all_rules():
        table.add_row(rule.id, rule.slug, rule.family,
                      f"[{SEVERITY_STYLE[rule.severity]}]{rule.severity.value}[/]", rule.doc().summary)
    console.print(table)


def _rule(slug: Annotated[str, typer.Argument(help="Rule slug or id, e.g. deleted-code or CC103.")]) -> None:
    """Print one rule's documentation."""
    from rich.markdown import Markdown

    from cleanclaim.rules.registry import get_rule, readable_template

    try:
        rule = get_rule(slug)
    except KeyError as exc:
        console.print(f"[red]no rule {escape(repr(slug))}; `cleanclaim rules` lists them[/red]")
        raise typer.Exit(2) from exc
    doc = rule.doc()
    parts = [f"# {rule.id} {rule.slug}", f"*{rule.family}*, default severity **{rule.severity.value}**", doc.summary]
    for heading, body in doc.sections.items():
        fenced = heading in {"Example", "Use instead"}
        parts.append(f"## {heading}\n" + (f"```yaml\n{body}\n```" if fenced else body))
    parts.append(f"## Message\n{readable_template(rule.message)}\n\n## Fix\n{readable_template(rule.fix)}\n\n"
                 "*Words in ‹angle quotes› are filled in from the flagged claim: its codes, minutes, units, dates "
                 "and the payer's settings.*")
    console.print(Markdown("\n\n".join(parts)))


def register(app: typer.Typer) -> None:
    """Add ``check``, ``rules`` and ``rule`` to the CLI."""
    app.command("check")(_check)
    app.command("rules")(_rules)
    app.command("rule")(_rule)
