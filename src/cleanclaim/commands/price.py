"""``cleanclaim price FILE``: Medicare PFS estimates for the billed lines, each step of the arithmetic shown."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cleanclaim.commands.output import plain
from cleanclaim.errors import CleanclaimError
from cleanclaim.pricing import PricedClaim, load_charge_master, price
from cleanclaim.scrub import billable_encounters

__all__ = ["register"]


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _print(claim: PricedClaim, console: Console) -> None:
    table = Table(title=plain(f"Medicare PFS estimate ({claim.locality})"), show_lines=True)
    for column in ("enc", "line", "code", "units", "status", "charge", "allowed", "patient", "Medicare pays", "how"):
        table.add_column(column, overflow="fold")
    for line in claim.lines:
        code = line.code + "".join("-" + m for m in line.modifiers)
        table.add_row(*map(plain, (line.encounter or "", str(line.line), code, str(line.units), line.status.value,
                                   _money(line.charge), _money(line.allowed) + (" (est.)" if line.estimate else ""),
                                   _money(line.patient_owes), _money(line.medicare_paid), "\n".join(line.steps))))
    console.print(table)
    console.print(f"allowed {claim.allowed:.2f} | patient {claim.patient_owes:.2f} | Medicare share "
                  f"{claim.medicare_share:.2f} | sequestration {claim.sequestration:.2f} | Medicare pays "
                  f"{claim.medicare_paid:.2f}")
    if claim.unpriced:
        console.print(f"{len(claim.unpriced)} line(s) not priced: see their status; they are not counted as 0.")
    for note in claim.notes:
        console.print(plain(note))


def _price(
    file: Annotated[Path, typer.Argument(help="Encounter file (YAML/JSON) with billed lines.")],
    locality: Annotated[str | None, typer.Option("--locality", help="MAC:LOCALITY, e.g. 01182:18.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    qualifying_apm: Annotated[bool, typer.Option("--qp", help="Use the qualifying APM participant CF.")] = False,
    charge_master: Annotated[Path | None, typer.Option("--charge-master", help="CSV code,charge[,modifier].")] = None,
    no_sequestration: Annotated[bool, typer.Option("--no-sequestration", help="Leave out the 2% cut.")] = False,
    deductible: Annotated[str, typer.Option("--deductible", help="Part B deductible still to meet.")] = "0",
) -> None:
    """Estimate Medicare's allowed amount and payment for every billed line."""
    try:
        encounters, errors = billable_encounters(file)
        for error in errors:
            typer.echo(f"input error: {error}", err=True)
        prices = load_charge_master(charge_master) if charge_master else None
        claim = price(list(encounters), locality=locality, qualifying_apm=qualifying_apm,
                      sequestration=not no_sequestration, deductible_remaining=Decimal(deductible),
                      charge_master=prices)
    except CleanclaimError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(claim.to_dict(), indent=2))
    else:
        _print(claim, Console())


def register(app: typer.Typer) -> None:
    """Add the ``price`` command to the CLI."""
    app.command("price")(_price)
