"""``cleanclaim lookup CODE [--date D]``: one code-book entry as of a date of service."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cleanclaim.commands.coding import parse_date_option
from cleanclaim.commands.output import console, print_errors
from cleanclaim.errors import InputError

if TYPE_CHECKING:
    from cleanclaim.codebook import CodeEntry

__all__ = ["register"]


def _describe(entry: CodeEntry) -> Table:
    table = Table(show_header=False, show_edge=False)
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("code", f"{entry.code} ({entry.kind.label})"),
        ("summary", entry.summary + "  [dim](cleanclaim's own words, not the CPT descriptor)[/dim]"),
        ("family", entry.family),
        ("time", entry.minutes_text()),
        ("therapy", entry.therapy + (f" ({'/'.join(entry.therapy_modifiers)})" if entry.therapy_modifiers else "")),
        ("who may bill", ", ".join(entry.billers) if "*" not in entry.billers else "any provider type"),
        ("valid", f"{entry.effective or 'long-standing'} to "
                  f"{entry.deleted - dt.timedelta(days=1) if entry.deleted else 'now'}"),
    ]
    if entry.replaced_by:
        rows.append(("replaced by", ", ".join(entry.replaced_by)))
    if entry.medicare_code:
        rows.append(("Medicare uses", entry.medicare_code))
    if entry.em:
        rows.append(("E/M", "yes"))
    if entry.lab:
        rows.append(("laboratory", "yes"))
    rows.append(("source", entry.reference))
    if entry.notes:
        rows.append(("notes", entry.notes))
    for key, value in rows:
        table.add_row(key, value)
    return table


def _lookup(
    code: Annotated[str, typer.Argument(help="CPT or HCPCS code, e.g. 97535 or G0447.")],
    date: Annotated[str | None, typer.Option("--date", help="Date of service (YYYY-MM-DD); default today.")] = None,
) -> None:
    """Show a code as of a date of service, including "deleted on …, use …"."""
    from cleanclaim.codebook import LookupStatus, codebook

    try:
        day = parse_date_option(date, "--date") if date is not None else dt.date.today()
    except InputError as exc:
        print_errors([exc])
        raise typer.Exit(2) from exc
    book = codebook()
    if book.covers_through and day > book.covers_through:
        console.print(f"[yellow]note: cleanclaim's code book release {book.release.split(' (')[0]} was checked for "
                      f"dates of service through {book.covers_through}; changes after that are unknown[/yellow]")
    found = book.lookup(code, day)
    if found.status is LookupStatus.INVALID_FORMAT:
        console.print(f"[red]{escape(found.code)} is not a valid code format[/red] (5 digits, 4 digits + F/T/U, "
                      "or a letter and 4 digits)")
        raise typer.Exit(1)
    if found.status is LookupStatus.UNKNOWN:
        console.print(f"[yellow]{escape(found.code)} is not in cleanclaim's code book "
                      f"(release {book.release})[/yellow]")
        raise typer.Exit(1)
    assert found.entry is not None
    if found.status is LookupStatus.DELETED:
        replacement = ", ".join(found.entry.replaced_by) or "no direct replacement"
        console.print(f"[bold red]{found.code} was deleted on {found.entry.deleted}[/bold red]: not valid on {day}; "
                      f"use {replacement}.")
    elif found.status is LookupStatus.NOT_YET_EFFECTIVE:
        console.print(f"[bold red]{found.code} takes effect on {found.entry.effective}[/bold red]: not valid on {day}.")
    else:
        console.print(f"[bold green]{found.code} is valid on {day}[/bold green]")
    console.print(_describe(found.entry))
    later = [v for v in book.versions(found.code) if v.effective and v.effective > day]
    for version in later:
        console.print(f"[dim]From {version.effective}: {version.summary}[/dim]")
    raise typer.Exit(0 if found.valid else 1)


def register(app: typer.Typer) -> None:
    """Add the ``lookup`` command to the CLI."""
    app.command("lookup")(_lookup)
