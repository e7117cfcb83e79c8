"""``cleanclaim denials FILE.835``: the denial worklist of a remittance, by reason, with the rule that prevents it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cleanclaim.commands.output import plain
from cleanclaim.errors import CleanclaimError
from cleanclaim.formats.x12_835 import DenialGroup, DenialWorklist, denials

__all__ = ["register"]


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
        table.add_row(*map(plain, (group.carc, group.description, ",".join(group.group_codes), str(group.lines),
                                   str(group.claims), _money(group.amount), caught)))
    if worklist.denials:
        console.print(table)
    for group in worklist.denials:
        _print_items(group, console)
    if worklist.other_adjustments:
        other = Table(title="Other adjustments (not denials)")
        for column in ("CARC", "kind", "reason", "lines", "amount"):
            other.add_column(column, justify="right" if column in ("lines", "amount") else "left")
        for group in worklist.other_adjustments:
            other.add_row(*map(plain, (f"{','.join(group.group_codes)}-{group.carc}", group.kind,
                                       group.description, str(group.lines), _money(group.amount))))
        console.print(other)
    if worklist.unmatched_claims:
        console.print("Claims in the remittance not found in the claim files: "
                      + plain(", ".join(worklist.unmatched_claims)))


def _print_items(group: DenialGroup, console: Console) -> None:
    table = Table(title=plain(f"CARC {group.carc}: {group.description}"), title_justify="left")
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
        table.add_row(*map(plain, (item.patient_control_number, str(item.line or ""), service,
                                   item.date.isoformat() if item.date else "", f"{item.group_code}-{item.carc}",
                                   _money(item.amount), ",".join(item.rarcs), billed)))
    console.print(table)
    if group.advice:
        console.print(f"  fix: {plain(group.advice)}")


def _denials(
    remit: Annotated[Path, typer.Argument(help="The 835 remittance file.")],
    claims: Annotated[list[Path] | None, typer.Option(
        "--claims", help="837P or encounter files of the billed claims, to show each denied line as billed.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Denials in an 835, grouped by reason with dollars, and the cleanclaim rule that would have caught each.

    Exit status: 0 the file was read, 1 parts of it (or of the claim files) could not be read and are listed,
    2 nothing could be read.
    """
    try:
        worklist = denials(remit, claims or None)
    except CleanclaimError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(worklist.to_dict(), indent=2))
    else:
        _print_worklist(worklist, Console())
    for error in worklist.errors:
        typer.echo(f"error: {error}", err=True)
    if worklist.errors:
        raise typer.Exit(2 if worklist.claims == 0 else 1)


def register(app: typer.Typer) -> None:
    """Add the ``denials`` command to the CLI."""
    app.command("denials")(_denials)
