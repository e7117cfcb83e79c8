"""``cleanclaim sample`` and ``cleanclaim extrapolate``: the statistical sampling of an overpayment review (CMS Pub
100-08 ch. 8 §8.4), thin over `cleanclaim.sampling`."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer
from rich.table import Table
from rich.text import Text

from cleanclaim.commands.coding import readable_path
from cleanclaim.commands.output import console, error_console, print_json
from cleanclaim.errors import CleanclaimError
from cleanclaim.sampling.methods import Allocation, DegreesOfFreedom

if TYPE_CHECKING:
    from cleanclaim.sampling.draw import SampleDraw
    from cleanclaim.sampling.extrapolation import Extrapolation

__all__ = ["companion_paths", "register", "write_sample"]


def companion_paths(out: Path) -> tuple[Path, Path]:
    """Where the population frame (with each claim's stratum) and the method are written beside the sample."""
    return out.with_name(out.stem + ".population.csv"), out.with_name(out.stem + ".method.json")


def _replace(path: Path, write: Callable[[TextIO], None]) -> None:
    """Write beside the target, then rename: a file appears whole or not at all."""
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8", newline="") as handle:
        write(handle)
    partial.replace(path)


def write_sample(draw: SampleDraw, out: Path) -> list[Path]:
    """The sample (one row per drawn claim, with its random number), the population with strata, the method."""
    population_path, method_path = companion_paths(out)

    def sample(handle: TextIO) -> None:
        writer = csv.writer(handle)
        writer.writerow(["sample_order", "stratum", "position", "random_number", "claim_id", "paid"])
        for claim in draw.claims:
            writer.writerow([claim.sample_order, claim.stratum, claim.position, repr(claim.random_number),
                             claim.unit.claim_id, f"{claim.unit.paid:.2f}"])

    def population(handle: TextIO) -> None:
        writer = csv.writer(handle)
        writer.writerow(["claim_id", "paid", "stratum"])
        for unit, stratum in draw.population:
            writer.writerow([unit.claim_id, f"{unit.paid:.2f}", stratum])

    def method(handle: TextIO) -> None:
        json.dump(draw.method(), handle, indent=2)

    for path, write in ((out, sample), (population_path, population), (method_path, method)):
        _replace(path, write)
    return [out, population_path, method_path]


def _sample(
    file: Annotated[Path, typer.Argument(help="Claims CSV/Parquet (claim_id, paid[, stratum]) or a claim-line table.",
                                         callback=readable_path)],
    size: Annotated[int, typer.Option("--size", "-n", help="Claims to draw (in all strata together).")],
    seed: Annotated[str, typer.Option("--seed", help="A whole number, or three Wichmann-Hill seeds s1,s2,s3.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV to write the sample to; NAME.population.csv and "
                                                          "NAME.method.json are written beside it.")],
    strata: Annotated[str | None, typer.Option("--strata", help="paid:100,500 (upper bounds of paid) or "
                                                                "column:NAME.")] = None,
    allocation: Annotated[Allocation, typer.Option("--allocation", help="How --size is shared among strata.")]
    = Allocation.PROPORTIONAL,
    as_json: Annotated[bool, typer.Option("--json", help="Print the method as JSON.")] = False,
) -> None:
    """Draw a reproducible simple or stratified random sample of claims (Wichmann-Hill AS 183), with the random
    numbers used."""
    # the sampling engine is imported when the command runs: its frames reader brings Polars, which `--help` and
    # every other command's start-up would otherwise load
    from cleanclaim.sampling.draw import draw_sample, parse_strata
    from cleanclaim.sampling.frames import read_population
    from cleanclaim.sampling.wichmann_hill import parse_seed

    try:
        generator = parse_seed(seed)
        spec = parse_strata(strata)
        frame = read_population(file, stratum_column=spec.column)
        draw = draw_sample(frame, size=size, generator=generator, strata=spec, allocation=allocation)
        written = write_sample(draw, out)
    except CleanclaimError as exc:
        error_console.print(Text(f"input error: {exc}", style="bold red"))
        raise typer.Exit(2) from exc
    except OSError as exc:
        error_console.print(Text(f"input error: cannot write {out}: {exc.strerror or type(exc).__name__}",
                                 style="bold red"))
        raise typer.Exit(2) from exc
    if as_json:
        print_json({**draw.method(), "files": [str(p) for p in written]})
        raise typer.Exit(0)
    table = Table(title=f"sample of {len(draw.claims)} claims, seeds {draw.seeds} (Wichmann-Hill AS 183)")
    for column in ("stratum", "which claims", "N", f"{draw.amount_column} total", "n", "numbers skipped"):
        table.add_column(column)
    for s in draw.strata:
        table.add_row(s.stratum, s.label, str(s.population_size), f"{s.population_paid:.2f}", str(s.sample_size),
                      str(s.numbers_skipped))
    console.print(table)
    if len(draw.claims) > size:
        console.print(f"{len(draw.claims)} claims drawn for --size {size}: every sampled stratum gets at least 2.")
    if draw.amount_column != "paid":
        console.print(f"note: the table has no paid column; each claim's amount is the sum of its {draw.amount_column}")
    console.print("wrote " + ", ".join(str(p) for p in written))


def _print_estimate(result: Extrapolation) -> None:
    from cleanclaim.sampling.extrapolation import money

    if result.stratified:
        table = Table(title="by stratum")
        for column in ("stratum", "N", "n", "overpaid in sample", "mean", "estimate", "SE"):
            table.add_column(column, justify="right")
        for s in result.strata:
            table.add_row(s.stratum, str(s.population_size), str(s.n), money(s.sample_overpaid), money(s.mean),
                          money(s.point_estimate), money(s.variance_of_total.sqrt()))
        console.print(table)
    df = "none" if result.degrees_of_freedom is None else f"{float(result.degrees_of_freedom):.4g}"
    t_value = "-" if result.t_value is None else f"{float(result.t_value):.6f}"
    precision = "undefined (estimate is 0)" if result.precision_percent is None else \
        f"{float(result.precision_percent):.2f}%"
    console.print(f"sample {result.n} of {result.population_size} claims (mean per unit, finite population "
                  "correction)")
    console.print(f"point estimate        {money(result.point_estimate)}")
    console.print(f"standard error        {money(result.standard_error)}")
    console.print(f"t (90%, one-sided)    {t_value}  (degrees of freedom {df}: {result.degrees_of_freedom_method})")
    console.print(f"lower limit, 90%      {money(result.lower_limit)}  (the amount a contractor demands: CMS Pub "
                  "100-08 ch. 8 §8.4.5.1)")
    console.print(f"upper limit, 90%      {money(result.upper_limit)}")
    console.print(f"precision             {precision}")


def _extrapolate(
    file: Annotated[Path, typer.Argument(help="Audit results CSV/Parquet: claim_id, paid, overpayment[, stratum].",
                                         callback=readable_path)],
    population_size: Annotated[int | None, typer.Option("--population-size", help="Claims in the population.")]
    = None,
    population: Annotated[Path | None, typer.Option("--population", help="Population CSV/Parquet: claim_id, paid"
                                                                         "[, stratum].")] = None,
    degrees_of_freedom: Annotated[DegreesOfFreedom, typer.Option("--df", help="Stratified degrees of freedom.")]
    = DegreesOfFreedom.N_MINUS_STRATA,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Project the sample's audited overpayments onto the population: point estimate, standard error and the
    one-sided 90% confidence limits (mean per unit, finite population correction, Student's t)."""
    from cleanclaim.sampling.extrapolation import extrapolate
    from cleanclaim.sampling.frames import read_population, read_results

    try:
        results = read_results(file)
        units = read_population(population).units if population is not None else None
        estimate = extrapolate(results, results_file=str(file), population_size=population_size, population=units,
                               population_file=str(population) if population else None,
                               degrees_of_freedom=degrees_of_freedom)
    except CleanclaimError as exc:
        error_console.print(Text(f"input error: {exc}", style="bold red"))
        raise typer.Exit(2) from exc
    if as_json:
        print_json(estimate.to_json())
    else:
        _print_estimate(estimate)
    for doubt in estimate.warnings:
        error_console.print(Text(f"warning: {doubt}", style="yellow"))
    raise typer.Exit(0)


def register(app: typer.Typer) -> None:
    """Add the ``sample`` and ``extrapolate`` commands to the CLI."""
    app.command("sample")(_sample)
    app.command("extrapolate")(_extrapolate)
