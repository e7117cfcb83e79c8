"""``cleanclaim price FILE``: Medicare PFS estimates for the billed lines, each step of the arithmetic shown."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cleanclaim.commands.coding import readable_path
from cleanclaim.commands.output import print_failures
from cleanclaim.errors import CleanclaimError, InputError

if TYPE_CHECKING:
    from cleanclaim.isolation import Failure
    from cleanclaim.pricing import PricedClaim

__all__ = ["register"]


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _print(claim: PricedClaim, console: Console) -> None:
    table = Table(title=f"Medicare PFS estimate ({claim.locality})", show_lines=True)
    for column in ("enc", "line", "code", "units", "status", "charge", "allowed", "patient", "Medicare pays", "how"):
        table.add_column(column, overflow="fold")
    for line in claim.lines:
        code = line.code + "".join("-" + m for m in line.modifiers)
        # the encounter id and codes are the user's text: escaped, so "[/]" prints instead of breaking rich markup
        table.add_row(*(escape(cell) for cell in (
            line.encounter or "", str(line.line), code, str(line.units), line.status.value,
            _money(line.charge), _money(line.allowed) + (" (est.)" if line.estimate else ""),
            _money(line.patient_owes), _money(line.medicare_paid), "\n".join(line.steps))))
    console.print(table)
    console.print(f"allowed {claim.allowed:.2f} | patient {claim.patient_owes:.2f} | Medicare share "
                  f"{claim.medicare_share:.2f} | sequestration {claim.sequestration:.2f} | Medicare pays "
                  f"{claim.medicare_paid:.2f}")
    if claim.unpriced:
        console.print(f"{len(claim.unpriced)} line(s) not priced: see their status; they are not counted as 0.")
    for note in claim.notes:
        console.print(escape(note))


DEDUCTIBLE_CEILING = Decimal(1_000_000)
"""A sanity bound on --deductible, far above any Part B deductible, so a typo is refused rather than carried
through the arithmetic."""


def _deductible(value: str) -> Decimal:
    """--deductible as dollars and cents: a typo such as ``abc``, ``1e9`` or ``NaN`` is an input error, never a
    traceback or an amount silently rounded."""
    # plain digits with at most two decimals: Decimal alone would also take "1_000", "1e3" and "NaN"
    if not re.fullmatch(r"-?[0-9]+(\.[0-9]{1,2})?", value.strip()):
        raise InputError(f"--deductible expects an amount in dollars and cents such as 257.00, got {value!r}",
                         field="--deductible")
    amount = Decimal(value.strip())
    if not Decimal(0) <= amount < DEDUCTIBLE_CEILING:
        raise InputError(f"--deductible must be from 0 to less than {DEDUCTIBLE_CEILING:,}, got {value!r}",
                         field="--deductible")
    return amount


def _price(
    file: Annotated[Path, typer.Argument(help="Encounter file (YAML/JSON) with billed lines.",
                                         callback=readable_path)],
    locality: Annotated[str | None, typer.Option("--locality", help="MAC:LOCALITY, e.g. 01182:18.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    qualifying_apm: Annotated[bool, typer.Option("--qp", help="Use the qualifying APM participant CF.")] = False,
    charge_master: Annotated[Path | None, typer.Option("--charge-master", help="CSV code,charge[,modifier].")] = None,
    no_sequestration: Annotated[bool, typer.Option("--no-sequestration", help="Leave out the 2% cut.")] = False,
    deductible: Annotated[str, typer.Option(
        "--deductible", help="Part B deductible each patient still has to meet (in each calendar year of the file).",
    )] = "0",
) -> None:
    """Estimate Medicare's allowed amount and payment for every billed line."""
    from cleanclaim.isolation import run_without_failing
    from cleanclaim.pricing import load_charge_master, price
    from cleanclaim.scrub import billable_encounters

    try:
        remaining = _deductible(deductible)
        failures: list[Failure] = []
        encounters, errors = billable_encounters(file, failures=failures)
        for error in errors:
            typer.echo(f"input error: {error}", err=True)
        prices = load_charge_master(charge_master) if charge_master else None
        # a patient's day is priced together (therapy MPPR); a day the pricer fails on is left out and named
        claim, unpriced = run_without_failing(
            encounters, lambda part: price(part, locality=locality, qualifying_apm=qualifying_apm,
                                           sequestration=not no_sequestration, deductible_remaining=remaining,
                                           charge_master=prices),
            unit=lambda e: (e.patient.id, e.date), name=lambda e: e.id, stage="pricing")
        failures.extend(unpriced)
    except CleanclaimError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        data = claim.to_dict()
        if failures:
            data["failures"] = [failure.to_dict() for failure in failures]
        typer.echo(json.dumps(data, indent=2))
    else:
        _print(claim, Console())
    print_failures(failures)
    # the contract's status: what could not be read, or what cleanclaim failed on, was not priced, which an exit 0
    # would hide
    raise typer.Exit(3 if failures else 2 if errors else 0)


def register(app: typer.Typer) -> None:
    """Add the ``price`` command to the CLI."""
    app.command("price")(_price)
