"""``cleanclaim denials FILE.835``: the denial worklist of a remittance, by reason, with the rule that prevents it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from cleanclaim.errors import CleanclaimError

if TYPE_CHECKING:
    from cleanclaim.formats.x12_835 import DenialGroup, DenialWorklist

__all__ = ["exit_status", "register"]


def _money(value: object) -> str:
    return f"${value:,.2f}" if value is not None else ""


def _print_worklist(worklist: DenialWorklist, console: Console) -> None:
    console.print(
        f"{worklist.claims} claim(s), charged {_money(worklist.charged)}, paid {_money(worklist.paid)}, "
        f"denied {_money(worklist.denied)}")
    if not worklist.denials:
        console.print("No denials.")
    table = Table(title="Denials by reason (CARC)")
    for column in ("CARC", "reason", "groups", "lines", "claims", "amount", "would have been caught by"):
        table.add_column(column, justify="right" if column in ("lines", "claims", "amount") else "left",
                         overflow="fold")
    for group in worklist.denials:
        caught = "\n".join(group.rule_slugs) or "no cleanclaim rule"
        if group.preventable == "no":
            caught = "not preventable by a scrubber"
        table.add_row(group.carc, group.description, ",".join(group.group_codes), str(group.lines),
                      str(group.claims), _money(group.amount), caught)
    if worklist.denials:
        console.print(table)
    for group in worklist.denials:
        _print_items(group, console)
    if worklist.other_adjustments:
        other = Table(title="Other adjustments (not denials)")
        for column in ("CARC", "kind", "reason", "lines", "amount"):  # "unknown" kind: a code not in our table
            other.add_column(column, justify="right" if column in ("lines", "amount") else "left")
        for group in worklist.other_adjustments:
            other.add_row(f"{','.join(group.group_codes)}-{group.carc}", group.kind, group.description,
                          str(group.lines), _money(group.amount))
        console.print(other)
    unknown = [group for group in worklist.other_adjustments if group.kind == "unknown"]
    if unknown:
        console.print(
            f"{sum(group.lines for group in unknown)} adjustment(s) of {_money(sum(g.amount for g in unknown))} "
            f"carry a reason code cleanclaim does not know ({', '.join(group.carc for group in unknown)}): not "
            "counted as denials; look them up in the X12 CARC list.")
    if worklist.unmatched_claims:
        console.print(f"Claims in the remittance not found in the claim files: {', '.join(worklist.unmatched_claims)}")


def _print_items(group: DenialGroup, console: Console) -> None:
    table = Table(title=f"CARC {group.carc}: {group.description}", title_justify="left")
    for column in ("claim", "line", "service", "date", "adj.", "amount", "remarks", "billed"):
        table.add_column(column, justify="right" if column in ("line", "amount") else "left", overflow="fold")
    for item in group.items:
        service = ":".join([item.code, *item.modifiers]) if item.code else "(claim)"
        billed = ""
        if item.billed is not None:
            line = item.billed.line
            billed = (f"{item.billed.encounter_id} line {item.billed.line_number}: "
                      f"{':'.join([line.code, *line.modifiers])} x{line.units} {_money(line.charge)} "
                      f"dx {','.join(map(str, line.dx_pointers))}")
        table.add_row(item.patient_control_number, str(item.line or ""), service,
                      item.date.isoformat() if item.date else "", f"{item.group_code}-{item.carc}",
                      _money(item.amount), ",".join(item.rarcs), billed)
    console.print(table)
    if group.advice:
        console.print(f"  fix: {group.advice}")


def _denials(
    file: Annotated[Path, typer.Argument(help="The 835 remittance file.", metavar="FILE.835")],
    claims: Annotated[list[Path] | None, typer.Option(
        "--claims", help="837P or encounter files of the billed claims, to show each denied line as billed.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Denials in an 835, grouped by reason with dollars, and the cleanclaim rule that would have caught each.

    Exit status, as for `check`: 0 everything was read and nothing was denied; 1 everything was read and the
    remittance denies some amount (a denial is an error-level finding); 2 some input could not be read (the 835,
    one of its claims or transactions, or a --claims file): each such place is listed and the rest is still
    shown; 3 cleanclaim itself failed (a bug). Warnings (a bad payment date, an 835 that does not balance),
    adjustments that are not denials (deductible, contractual write-off, a $0.00 denial code) and unknown reason
    codes do not change the status.
    """
    from cleanclaim.formats.x12_835 import denials

    try:
        worklist = denials(file, claims or None)
    except CleanclaimError as exc:
        typer.echo(f"input error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(worklist.to_dict(), indent=2))
    else:
        # no markup: claim ids, codes and remarks come from the file, and "[/]" in one must print as it is
        _print_worklist(worklist, Console(markup=False, highlight=False))
    for warning in worklist.warnings:
        typer.echo(f"warning: {warning}", err=True)
    for error in worklist.errors:
        typer.echo(f"input error: {error}", err=True)
    raise typer.Exit(exit_status(worklist))


def exit_status(worklist: DenialWorklist) -> int:
    """The contract's status (DESIGN.md): input errors first, since a claim that was not read may hide a
    denial, then denials."""
    if worklist.errors:
        return 2
    return 1 if worklist.denials else 0


def register(app: typer.Typer) -> None:
    """Add the ``denials`` command to the CLI."""
    app.command("denials")(_denials)
