"""``cleanclaim audit PATH… --out DIR``: a batch audit into files (findings, summary, rejected rows, provider
outliers, report), thin over `cleanclaim.audit.run.audit`."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from cleanclaim.commands.checking import ConfigOption, IgnoreOption, SelectOption, SeverityOption, rule_settings
from cleanclaim.commands.coding import AsOfOption, PayerOption, PayersDirOption, parse_as_of, payers_folder
from cleanclaim.commands.output import console, error_console, print_errors, print_failures
from cleanclaim.errors import InputError

if TYPE_CHECKING:
    from cleanclaim.audit.run import Progress

__all__ = ["register"]

SHOWN_ERRORS = 20
"""Input errors printed on the terminal; a batch's thousands of bad rows are all in rejected.parquet instead."""


def _progress_bar() -> tuple[AbstractContextManager[object], Progress]:
    """The terminal's progress bar (rows, rows/s, ETA) and the callback that moves it. rich.progress is imported
    here, on a terminal only: `--quiet`, a pipe, CI and `--help` do not load it."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        ProgressColumn,
        Task,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as Bar
    from rich.table import Column

    class RowsPerSecond(ProgressColumn):
        """rows/s from rich's own speed estimate (None until it has two samples). Its column does not wrap: on a
        narrow terminal rich would break "12,345 rows/s" over two lines and the bar would jump each refresh."""

        def __init__(self) -> None:
            super().__init__(table_column=Column(no_wrap=True))

        def render(self, task: Task) -> Text:
            speed = task.speed
            return Text(f"{speed:,.0f} rows/s" if speed else "… rows/s", style="cyan")

    bar = Bar(TextColumn("auditing"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(), RowsPerSecond(),
              TimeRemainingColumn(), console=error_console, transient=True)
    task = bar.add_task("rows", total=None)

    def progress(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total or None)

    return bar, progress


def _audit(
    paths: Annotated[list[Path], typer.Argument(help="Claim-line CSV/Parquet files, folders of them, 837P files.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write findings.parquet, summary.json, "
                                                    "rejected.parquet, providers.parquet and report.html into.")],
    payer: PayerOption = None,
    as_of: AsOfOption = None,
    payers_dir: PayersDirOption = None,
    select: SelectOption = None,
    ignore: IgnoreOption = None,
    severity: SeverityOption = None,
    config: ConfigOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary line.")] = False,
    engine: Annotated[str, typer.Option("--engine", help="Where the rules run: polars (this process) or spark "
                                                         "(Spark partitions; needs cleanclaim[spark] and Java 17; "
                                                         "docs/spark.md).")] = "polars",
    master: Annotated[str | None, typer.Option("--master", help="Spark master URL for --engine spark, e.g. "
                                                                "local[2] (default: spark-submit's, else local[*]).")]
    = None,
) -> None:
    """Audit months of claims at once: every line through check's rules, in partitions of patients, into files."""
    from cleanclaim.audit.run import audit

    bar: AbstractContextManager[object] = nullcontext()
    progress: Progress | None = None
    if not quiet and error_console.is_terminal:
        bar, progress = _progress_bar()
    try:
        settings, selection = rule_settings(config, select, ignore, severity)
        with bar:
            result = audit(paths, out, as_of=parse_as_of(as_of), payer=payer or settings.payer,
                           payers_dir=payers_folder(payers_dir, settings), selection=selection, progress=progress,
                           engine=engine, master=master)
    except InputError as exc:
        print_errors([exc])
        raise typer.Exit(2) from exc
    for note in result.notes:
        error_console.print(Text(f"note: {note}", style="yellow"))
    print_errors(result.errors[:SHOWN_ERRORS])
    if len(result.errors) > SHOWN_ERRORS:
        error_console.print(Text(f"… and {len(result.errors) - SHOWN_ERRORS:,} more input error(s): every one is in "
                                 f"{result.out / 'rejected.parquet'}", style="bold red"))
    print_failures(result.failures)
    if not quiet:
        s = result.summary
        severities = s["findings"]["by_severity"]
        console.print(Text(
            f"{s['rows_read']} row(s) read, {s['rows_checked']} checked, {s['rows_rejected']} rejected; "
            f"{severities['error']} error(s), {severities['warning']} warning(s), {severities['info']} info; "
            f"dollars at risk {s['dollars_at_risk']}; written to {result.out}: "
            + ", ".join(p.name for p in result.outputs)))
    raise typer.Exit(result.exit_code)


def register(app: typer.Typer) -> None:
    """Add ``audit`` to the CLI."""
    app.command("audit")(_audit)
