"""``cleanclaim export FILE --format 837p|fhir|cms1500|superbill -o OUT``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from cleanclaim.commands.coding import PayerOption, PayersDirOption, readable_path
from cleanclaim.commands.output import console, error_console, print_errors, print_failures
from cleanclaim.errors import InputError

__all__ = ["register"]


def _export(
    file: Annotated[Path, typer.Argument(help="Encounter file (YAML/JSON) or a folder of them.",
                                         callback=readable_path)],
    fmt: Annotated[str, typer.Option("--format", "-f", help="837p, fhir, cms1500 or superbill.")],
    out: Annotated[Path, typer.Option("--output", "-o", help=(
        "Output file, replaced if it exists; for PDFs a folder (created in an existing folder), one PDF per claim "
        "named after its claim id, replacing a PDF of that name there, or a .pdf name for one claim."))],
    charge_master: Annotated[Path | None, typer.Option(
        "--charge-master", help="CSV code,charge[,modifier] per unit.")] = None,
    payer: PayerOption = None,
    payers_dir: PayersDirOption = None,
    sender_id: Annotated[str | None, typer.Option("--sender-id", help="837P ISA06/GS02.")] = None,
    receiver_id: Annotated[str | None, typer.Option("--receiver-id", help="837P ISA08/GS03.")] = None,
    receiver_name: Annotated[str | None, typer.Option("--receiver-name", help="837P 1000B name.")] = None,
    submitter_phone: Annotated[str | None, typer.Option("--submitter-phone", help="837P 1000A PER phone.")] = None,
    control_number: Annotated[int, typer.Option("--control-number", help="837P ISA13/GS06.")] = 1,
    production: Annotated[bool, typer.Option("--production", help="837P usage P instead of T (test).")] = False,
) -> None:
    """Write claims as an X12 837P, a FHIR R4 Claim bundle, CMS-1500 PDFs or superbill PDFs.

    Encounters with services but no billed lines are coded first; --charge-master fills missing charges."""
    from cleanclaim.formats.export import FORMATS, X12Options, export_encounters, with_charges
    from cleanclaim.model import Severity
    from cleanclaim.pricing import load_charge_master
    from cleanclaim.scrub import billable_encounters, check

    if fmt not in FORMATS:
        console.print(f"[red]--format must be one of {', '.join(FORMATS)}[/red]")
        raise typer.Exit(2)
    try:
        prices = load_charge_master(charge_master) if charge_master else None
        claims, errors = billable_encounters(file, payer=payer, payers_dir=payers_dir)
        print_errors(errors)
        encounters = [with_charges(encounter, prices) for encounter in claims]
        result = export_encounters(
            encounters, fmt, out,
            x12=X12Options(sender_id=sender_id, receiver_id=receiver_id, receiver_name=receiver_name,
                           submitter_phone=submitter_phone, control_number=control_number, production=production),
        )
    except InputError as exc:
        print_errors([exc])
        raise typer.Exit(2) from exc
    print_errors(result.errors)
    errors += result.errors
    for written in result.written:
        console.print(Text(f"wrote {written.describe()}"))
    if errors:
        error_console.print(Text(f"{len(errors)} encounter(s) not written: see the input errors above",
                                 style="yellow"))
    encounters = [e for written in result.written for e in written.encounters]
    # Writing is not checking: say when the claims written would fail the scrub, so nobody sends them unknowingly.
    scrub = check(encounters)
    scrub_errors = [f for f in scrub.findings if f.severity is Severity.ERROR]
    if scrub_errors:
        # Text, not markup: an encounter id or path may hold "[", which rich would read as a style tag
        error_console.print(Text(f"warning: these claims have {len(scrub_errors)} error finding(s) "
                                 f"(first: {scrub_errors[0].rule} on {scrub_errors[0].encounter}); run "
                                 f"`cleanclaim check {file}` before sending them", style="yellow"))
    # the claims were written, but the check behind that warning failed on some: never "all clear" then
    print_failures(scrub.failures)
    raise typer.Exit(3 if scrub.failures else 2 if errors else 0)


def register(app: typer.Typer) -> None:
    """Add the ``export`` command to the CLI."""
    app.command("export")(_export)
