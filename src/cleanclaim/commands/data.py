"""``cleanclaim data status`` and ``cleanclaim data import``: what reference data is loaded, and loading CMS files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cleanclaim.commands.coding import FIRST_RUN_DATE, LAST_RUN_DATE
from cleanclaim.errors import CleanclaimError, InputError
from cleanclaim.refdata.kinds import RefTable

__all__ = ["register"]


def _effective(valid_from: object, data_effective: object) -> str:
    """A mid-year update (January, April) answers from its own date when the year's October file is loaded too."""
    return "" if data_effective == valid_from else f"; file in effect from {data_effective}"


def _status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False) -> None:
    """Show the reference data available: the bundled subset and every imported CMS file, per table and period.
    A damaged imported file is listed with what is wrong and how to fix it, and the exit status is then 1."""
    from cleanclaim.diagnoses import releases as icd10cm_releases
    from cleanclaim.refdata import CorruptImportError, TableStatus, status

    entries = status()
    try:
        diagnoses: list[dict[str, object]] = [
            {"table": "icd10cm", "origin": "bundled" if r.bundled else "imported",
             "period": f"{r.name} ({r.valid_from} to {r.valid_to}{_effective(r.valid_from, r.data_effective)})",
             "rows": r.codes, "source": r.source_file}
            for r in icd10cm_releases()
        ]
    except CorruptImportError as exc:
        entries.append(TableStatus("icd10cm", "imported", "", 0, str(exc.path), exc.message))
        diagnoses = []
    damaged = [e for e in entries if e.problem]
    if as_json:
        typer.echo(json.dumps({"tables": [vars(e) for e in entries] + diagnoses}, indent=2, default=str))
        if damaged:
            raise typer.Exit(1)
        return
    table = Table(title="cleanclaim reference data")
    for column in ("table", "origin", "period", "rows", "source"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for entry in entries:
        table.add_row(entry.table, entry.origin, entry.period, str(entry.rows),
                      "[red]DAMAGED[/red] " + escape(entry.source) if entry.problem else escape(entry.source))
    for row in diagnoses:
        table.add_row(str(row["table"]), str(row["origin"]), str(row["period"]), str(row["rows"]), str(row["source"]))
    console = Console()
    console.print(table)
    for entry in damaged:
        console.print(f"[red]damaged[/red] {escape(entry.table)} {escape(entry.period)} {escape(entry.source)}: "
                      f"{escape(str(entry.problem))}", soft_wrap=True)
    if damaged:
        raise typer.Exit(1)


def _check_period(period: str) -> None:
    """--period within the years cleanclaim runs for: 9999Q4 ends in year 10000, which no date can hold."""
    from cleanclaim.refdata import period_bounds

    try:
        first, last = period_bounds(period)
        inside = first >= FIRST_RUN_DATE and last <= LAST_RUN_DATE
    except ValueError:  # the day after the period's last is past year 9999
        inside = False
    if not inside:
        raise InputError(f"--period {period} is outside the years cleanclaim handles ({FIRST_RUN_DATE.year} to "
                         f"{LAST_RUN_DATE.year})", field="--period")


def _import(
    files: Annotated[list[Path], typer.Argument(help="CMS files or zips (PPRRVU, GPCI, LOCCO, NCCI PTP, NCCI MUE).")],
    kind: Annotated[RefTable | None, typer.Option("--kind", help="Table type, when detection is not wanted.")] = None,
    period: Annotated[str | None, typer.Option(
        "--period", help="Year (2025) or quarter (2025Q4) when the file name does not say.")] = None,
    fiscal_year: Annotated[int | None, typer.Option(
        "--fiscal-year", help="ICD-10-CM fiscal year when the order file's name does not say.")] = None,
) -> None:
    """Import official CMS reference files (PFS, GPCI, NCCI PTP and MUE, ICD-10-CM order files); all or nothing
    per file: on any error nothing of that file is written."""
    from cleanclaim.diagnoses import import_order_file
    from cleanclaim.refdata import import_files

    icd = [f for f in files if "icd10cm" in f.name.lower()]
    others = [f for f in files if f not in icd]
    try:
        if period is not None:
            _check_period(period)
        for path in icd:
            info = import_order_file(path, fiscal_year=fiscal_year)
            typer.echo(f"imported {info.name}: {info.codes} codes ({info.billable} billable) from {path}")
        results = import_files(others, kind=kind, period=period) if others else []
    except CleanclaimError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    for result in results:
        typer.echo(f"imported {result.kind.label} {result.period}: {result.rows} rows from {result.source_file}")


def register(app: typer.Typer) -> None:
    """Add the ``data`` command group to the CLI."""
    group = typer.Typer(help="Reference data: what is loaded, and importing CMS files.", no_args_is_help=True)
    group.command("status")(_status)
    group.command("import")(_import)
    app.add_typer(group, name="data")
