"""``cleanclaim notes FILE``: what each encounter's note says was furnished, with spans, and the findings of the
rules that hold the claim to it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cleanclaim.commands.coding import AsOfOption, PayerOption, PayersDirOption, parse_as_of, readable_path
from cleanclaim.commands.output import console, finish, print_errors, print_finding
from cleanclaim.errors import InputError
from cleanclaim.gcpause import collector_paused

if TYPE_CHECKING:
    from cleanclaim.notes.review import NotesResult

__all__ = ["register"]


def _yes_no(value: bool | None) -> str:
    return "not stated" if value is None else ("yes" if value else "no")


def _print(result: NotesResult) -> None:
    for review in result.encounters:
        reading = review.reading
        table = Table(title=escape(f"Encounter {review.encounter.id} · {review.encounter.date}"),
                      title_justify="left")
        for column in ("code", "service", "minutes", "assistant", "units", "span", "note text"):
            table.add_column(column)
        for item in reading.interventions:
            table.add_row(*(escape(cell) for cell in (
                item.code or "", item.name, "" if item.minutes is None else str(item.minutes),
                str(item.assistant_minutes or ""), "" if item.units is None else str(item.units),
                f"{item.start}-{item.end}", item.text)))
        for other in reading.not_furnished:
            table.add_row(*(escape(cell) for cell in (
                other.code or "", f"{other.name} (not billed: {other.reason})", "", "", "",
                f"{other.start}-{other.end}", other.text)), style="dim")
        if reading.interventions or reading.not_furnished:
            console.print(table)
        else:
            console.print(f"[bold]{escape(f'Encounter {review.encounter.id}')}[/bold]: no services read from the note")
        timed, treatment = reading.total_timed_minutes, reading.total_treatment_minutes
        group = f" (group of {reading.group_size})" if reading.group_size else ""
        facts = [
            f"total timed minutes: {timed if timed is not None else 'not stated'}",
            f"total treatment time: {treatment if treatment is not None else 'not stated'}",
            f"one-on-one: {_yes_no(reading.one_on_one)}{group}",
            f"goals: {'; '.join(g.text for g in reading.goals) or 'none found'}",
            f"ADLs/skills trained: {', '.join(a.text for a in reading.adls) or 'none found'}",
            f"caregiver present: {_yes_no(reading.caregiver_present)}",
            f"capacity to learn: {reading.capacity_to_learn.text if reading.capacity_to_learn else 'not stated'}",
            f"signed by: {reading.signed_by or 'no signature found'}",
        ]
        for fact in facts:
            console.print(f"  • {escape(fact)}")
        for finding in review.findings:
            print_finding(finding)
        console.print()


def _notes(
    file: Annotated[Path, typer.Argument(help="Encounter YAML/JSON (file or folder) with `note:`.",
                                         callback=readable_path)],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: per encounter the interventions with their "
                                                        "spans, totals, goals, signature and findings.")] = False,
    payer: PayerOption = None,
    as_of: AsOfOption = None,
    payers_dir: PayersDirOption = None,
) -> None:
    """Read each encounter's clinical note: services furnished and their minutes (with the note text and span),
    totals, one-on-one or group, goals, ADLs, signature; and what the claim bills that the note does not support."""
    from cleanclaim.notes.review import review_notes

    # one batch to the end: the output of 10,000 encounters is built from objects that live until the process exits
    with collector_paused():
        try:
            result = review_notes(file, payer=payer, as_of=parse_as_of(as_of), payers_dir=payers_dir)
        except InputError as exc:
            print_errors([exc])
            raise typer.Exit(2) from exc
        finish(result, as_json=as_json, show=_print)


def register(app: typer.Typer) -> None:
    """Add the ``notes`` command to the CLI."""
    app.command("notes")(_notes)
