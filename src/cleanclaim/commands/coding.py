"""``cleanclaim code FILE``: documented services to claim lines, with the arithmetic in plain words."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cleanclaim.codebook import codebook
from cleanclaim.commands.output import console, finish, plain, print_errors, print_finding
from cleanclaim.errors import InputError
from cleanclaim.scrub import CodeResult, code
from cleanclaim.settings import find_settings

__all__ = ["register"]

PayerOption = Annotated[str | None, typer.Option("--payer", help="Payer profile id; overrides the encounters' payer.")]
AsOfOption = Annotated[str | None, typer.Option("--as-of", help="Run as of this date (YYYY-MM-DD); default today.")]
PayersDirOption = Annotated[Path | None, typer.Option("--payers-dir", help="Directory of your own payer profiles.")]


def parse_as_of(value: str | None) -> dt.date:
    if value is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise InputError(f"--as-of expects a date as YYYY-MM-DD, got {value!r}", field="--as-of") from exc


def _print(result: CodeResult) -> None:
    book = codebook()
    for coded in result.encounters:
        encounter = coded.encounter
        title = (f"Encounter {plain(coded.id)} · {encounter.date} · {plain(encounter.payer)} · "
                 f"{encounter.provider.discipline.value} · POS {plain(encounter.place_of_service)}")
        table = Table(title=title, title_justify="left", show_edge=True)
        for column in ("#", "code", "modifiers", "units", "minutes", "dx", "what it is (our summary)"):
            table.add_column(column)
        for number, line in enumerate(coded.lines, start=1):
            entry = book.get(line.code, encounter.date)
            table.add_row(str(number), plain(line.code), plain(" ".join(line.modifiers)), str(line.units),
                          "" if line.minutes is None else str(line.minutes),
                          ",".join(str(p) for p in line.dx_pointers), plain(entry.summary) if entry else "")
        if coded.lines:
            console.print(table)
        else:
            console.print(f"[bold]{title}[/bold]\n  nothing billable from the documented services")
        for step in coded.explanation:
            console.print(f"  • {plain(step)}")
        for finding in coded.findings:
            print_finding(finding)
        console.print()


def _code(
    file: Annotated[Path, typer.Argument(help="Encounter file (YAML/JSON) or a folder of them.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON of the interchange contract.")] = False,
    payer: PayerOption = None,
    as_of: AsOfOption = None,
    payers_dir: PayersDirOption = None,
) -> None:
    """Code what was documented into claim lines: codes, units, modifiers and diagnosis pointers."""
    settings = find_settings()
    try:
        result = code(file, payer=payer or settings.payer, as_of=parse_as_of(as_of),
                      payers_dir=payers_dir or settings.payers_dir, selection=settings.selection())
    except InputError as exc:
        print_errors([exc])
        raise typer.Exit(2) from exc
    finish(result, as_json=as_json, show=_print)


def register(app: typer.Typer) -> None:
    """Add the ``code`` command to the CLI."""
    app.command("code")(_code)
