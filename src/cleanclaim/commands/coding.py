"""``cleanclaim code FILE``: documented services to claim lines, with the arithmetic in plain words."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cleanclaim.commands.output import console, finish, print_errors, print_finding
from cleanclaim.commands.selection import ConfigOption, IgnoreOption, SelectOption, SeverityOption, rule_settings
from cleanclaim.errors import InputError

if TYPE_CHECKING:
    from cleanclaim.scrub import CodeResult
    from cleanclaim.settings import Settings

__all__ = ["register"]

def readable_path(path: Path) -> Path:
    """A file argument the system can look up at all: a name too long or a folder without permission is refused
    here, naming the path, rather than as an OSError from deep in a reader. A missing file is left to the reader,
    which reports it in the same words for every format."""
    try:
        path.stat()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from exc
    return path


PayerOption = Annotated[str | None, typer.Option("--payer", help="Payer profile id; overrides the encounters' payer.")]
AsOfOption = Annotated[str | None, typer.Option("--as-of", help="Run as of this date (YYYY-MM-DD); default today.")]
PayersDirOption = Annotated[Path | None, typer.Option(
    "--payers-dir", exists=True, file_okay=False, help="Directory of your own payer profiles.")]


FIRST_RUN_DATE = dt.date(1990, 1, 1)
LAST_RUN_DATE = dt.date(2199, 12, 31)
"""The dates a run (``--as-of``) or a code look-up (``--date``) may be as of. Not yearly data but a sanity bound: no
electronic claim or code set cleanclaim knows is older, and the filing-deadline calendar is built from 1900 to the
year after the run, so year 9999 crashed it; a date outside is a typo, reported as one."""


def parse_date_option(value: str, option: str) -> dt.date:
    """A date option as YYYY-MM-DD within the run-date bounds, or an input error naming the option."""
    try:
        day = dt.date.fromisoformat(value.strip())
        if len(value.strip()) != 10:  # fromisoformat also takes 20260302 and 2026-W10-1
            raise ValueError
    except ValueError as exc:
        raise InputError(f"{option} expects a date as YYYY-MM-DD, got {value!r}", field=option) from exc
    if not FIRST_RUN_DATE <= day <= LAST_RUN_DATE:
        raise InputError(f"{option} {day} is outside the dates cleanclaim can run as of ({FIRST_RUN_DATE} to "
                         f"{LAST_RUN_DATE}); check the year", field=option)
    return day


def payers_folder(given: Path | None, settings: Settings) -> Path | None:
    """--payers-dir (typer checks it is a folder), else the settings file's ``payers_dir``, which must be one too: a
    folder that is not there would leave the user's own profiles silently unused."""
    if given is not None or settings.payers_dir is None:
        return given
    if not settings.payers_dir.is_dir():
        raise InputError(f"payers_dir {settings.payers_dir} is not a folder", file=settings.source,
                         field="payers_dir")
    return settings.payers_dir


def parse_as_of(value: str | None) -> dt.date:
    return dt.date.today() if value is None else parse_date_option(value, "--as-of")


def _print(result: CodeResult) -> None:
    from cleanclaim.codebook import codebook

    book = codebook()
    for coded in result.encounters:
        encounter = coded.encounter
        # ids and codes are the user's text: escaped, so "[/]" in an id prints instead of breaking rich markup
        title = escape(f"Encounter {coded.id} · {encounter.date} · {encounter.payer} · "
                       f"{encounter.provider.discipline.value} · POS {encounter.place_of_service}")
        table = Table(title=title, title_justify="left", show_edge=True)
        for column in ("#", "code", "modifiers", "units", "minutes", "dx", "what it is (our summary)"):
            table.add_column(column)
        for number, line in enumerate(coded.lines, start=1):
            entry = book.get(line.code, encounter.date)
            table.add_row(*(escape(cell) for cell in (
                str(number), line.code, " ".join(line.modifiers), str(line.units),
                "" if line.minutes is None else str(line.minutes),
                ",".join(str(p) for p in line.dx_pointers), entry.summary if entry else "")))
        if coded.lines:
            console.print(table)
        else:
            console.print(f"[bold]{title}[/bold]\n  nothing billable from the documented services")
        for step in coded.explanation:
            console.print(f"  • {escape(step)}")
        for finding in coded.findings:
            print_finding(finding)
        console.print()


def _code(
    file: Annotated[Path, typer.Argument(help="Encounter file (YAML/JSON) or a folder of them.",
                                         callback=readable_path)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON of the interchange contract.")] = False,
    payer: PayerOption = None,
    as_of: AsOfOption = None,
    payers_dir: PayersDirOption = None,
    select: SelectOption = None,
    ignore: IgnoreOption = None,
    severity: SeverityOption = None,
    config: ConfigOption = None,
) -> None:
    """Code what was documented into claim lines: codes, units, modifiers and diagnosis pointers."""
    from cleanclaim.scrub import code

    try:
        # the same selection as `check`: a rule ignored or re-graded there is ignored or re-graded here too
        settings, selection = rule_settings(config, select, ignore, severity)
        result = code(file, payer=payer or settings.payer, as_of=parse_as_of(as_of),
                      payers_dir=payers_folder(payers_dir, settings), selection=selection)
    except InputError as exc:
        print_errors([exc])
        raise typer.Exit(2) from exc
    finish(result, as_json=as_json, show=_print)


def register(app: typer.Typer) -> None:
    """Add the ``code`` command to the CLI."""
    app.command("code")(_code)
