"""The large batch: a 1M-line claim-line Parquet file checked by ``cleanclaim.check(path)``, plus per-rule timings.

The file is generated into a temporary directory (never committed) from the same seeded generator as the comparison,
claims of 1, 3 and 10 lines in turn. The check runs in a child process so its peak resident memory is its own
(``os.wait4`` reports the child's rusage), not the generator's. The per-rule table times each registered rule's
``check(tables)`` and the conversion of its flagged rows into findings, the two things ``findings_table`` does per rule,
over the same 1M-line tables and over single encounters, so whoever optimises knows which rule dominates.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import child_run, peak_rss_mib, rate
from synthetic import AS_OF, Claim, generate, table_columns, to_encounter_dict

CHUNK_CLAIMS = 20_000
PATTERN = (1, 3, 10)  # claim sizes in turn: 14 lines per 3 claims


def _claims_for(lines: int) -> Iterator[list[Claim]]:
    """Chunks of claims whose line counts add up to exactly ``lines`` (1-line claims fill the remainder)."""
    groups, rest = divmod(lines, sum(PATTERN))
    for size in PATTERN:
        done = 0
        while done < groups:
            count = min(CHUNK_CLAIMS, groups - done)
            yield list(generate(count, size, start=size * 10_000_000 + done))
            done += count
    if rest:
        yield list(generate(rest, 1, start=90_000_000))


def write_batch(path: Path, lines: int) -> int:
    """Write the claim-line Parquet file chunk by chunk; returns the number of claims."""
    writer: pq.ParquetWriter | None = None
    claims = 0
    try:
        for chunk in _claims_for(lines):
            table = pl.DataFrame(table_columns(chunk)).to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
            claims += len(chunk)
    finally:
        if writer is not None:
            writer.close()
    return claims


def _child(args: list[str]) -> tuple[dict[str, Any], float, float]:
    return child_run(__file__, args, label="batch")


# ---- child modes --------------------------------------------------------------------------------------------------
def check_file(path: Path) -> dict[str, Any]:
    from cleanclaim import scrub

    start = time.perf_counter()
    result = scrub.check(path, as_of=AS_OF)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "summary": result.summary.to_dict(), "findings": result.table.height,
            "input_errors": len(result.errors), "peak_rss_mib": peak_rss_mib()}


def captured_tables(source: Any) -> Any:
    """The rule tables ``check(source)`` builds, taken at its call of ``findings_table`` (which is skipped), so the
    per-rule timings see exactly what a real check sees, however ``check`` assembles them."""
    import polars as pl

    from cleanclaim import scrub
    from cleanclaim.rules.engine import FINDING_SCHEMA

    captured: list[Any] = []

    def capture(tables: Any, selection: Any = None) -> pl.DataFrame:
        captured.append(tables)
        return pl.DataFrame(schema=FINDING_SCHEMA)

    namespace = vars(scrub)
    original = namespace["findings_table"]
    namespace["findings_table"] = capture
    try:
        scrub.check(source, as_of=AS_OF)
    finally:
        namespace["findings_table"] = original
    if len(captured) != 1:
        raise SystemExit(f"batch: expected check() to run the rules once, it ran them {len(captured)} times")
    return captured[0]


def rule_timings(make_tables: Callable[[], Any], repeats: int) -> list[dict[str, Any]]:
    """Per rule: mean seconds of ``check(tables)`` collected on its own (the engine collects all rules in one call,
    so these add up to more than a real run) and of turning its rows into the findings table, rows flagged, and on
    how many repeats the rule's screen let it run (a rule screened out counts 0 s, as it costs a real run nothing);
    the screens of all rules are one more row. Each repeat runs the rules in engine order on fresh tables, so a shared
    derived table (``Tables.memo``) is charged to the first rule (or screen) that builds it, as in a real run."""
    from cleanclaim.rules.engine import finding_frame, screened
    from cleanclaim.rules.registry import all_rules
    from cleanclaim.rules.tables import collect

    rules = all_rules()
    checks: dict[str, list[float]] = {r.id: [] for r in rules}
    converts: dict[str, list[float]] = {r.id: [] for r in rules}
    flagged: dict[str, int] = dict.fromkeys(checks, 0)
    ran: dict[str, int] = dict.fromkeys(checks, 0)
    screening: list[float] = []
    rise: dict[str, float] = dict.fromkeys(checks, 0.0)
    for _ in range(repeats):
        tables = make_tables()
        start = time.perf_counter()
        passing = {rule.id for rule in screened(tables, rules)}  # as the engine does: a rule screened out costs nothing
        screening.append(time.perf_counter() - start)
        for rule in rules:
            if rule.id not in passing:
                checks[rule.id].append(0.0)
                converts[rule.id].append(0.0)
                continue
            ran[rule.id] += 1
            peak = peak_rss_mib()
            start = time.perf_counter()
            rows = rule.rows(tables)
            middle = time.perf_counter()
            findings = collect(finding_frame(rule, rows)) if rows.height else None
            checks[rule.id].append(middle - start)
            converts[rule.id].append(time.perf_counter() - middle)
            flagged[rule.id] = rows.height
            rise[rule.id] = max(rise[rule.id], peak_rss_mib() - peak)
            del rows, findings
    return [{"id": r.id, "slug": r.slug, "check": statistics.fmean(checks[r.id]),
             "findings": statistics.fmean(converts[r.id]), "rows": flagged[r.id], "peak_rise_mib": rise[r.id],
             "ran": ran[r.id], "repeats": repeats}
            for r in rules] + [{"id": "-", "slug": "(screens of every rule)", "check": statistics.fmean(screening),
                                "findings": 0.0, "rows": 0, "peak_rise_mib": 0.0, "ran": repeats, "repeats": repeats}]


def rules_on_file(path: Path) -> dict[str, Any]:
    start = time.perf_counter()
    captured_tables(path)
    read = time.perf_counter() - start
    return {"read_seconds": read, "rules": rule_timings(lambda: captured_tables(path), repeats=1)}


def rules_on_one(size: int, repeats: int) -> dict[str, Any]:
    from cleanclaim.model import Encounter

    claims = list(generate(repeats, size, seed=7, fault_share=0.0))
    encounters = iter([Encounter.model_validate(to_encounter_dict(c)) for c in claims] * 2)
    from cleanclaim import scrub

    scrub.check(next(encounters), as_of=AS_OF)  # warm-up: what a process loads once (ICD-10-CM, edit indexes)
    return {"rules": rule_timings(lambda: captured_tables(next(encounters)), repeats=repeats)}


# ---- report -------------------------------------------------------------------------------------------------------
def _print_rules(title: str, rules: list[dict[str, Any]], top: int) -> None:
    total = sum(r["check"] + r["findings"] for r in rules)
    real = [r for r in rules if r["id"] != "-"]
    never = sum(1 for r in real if r.get("ran", 1) == 0)
    print(f"{title}: {len(real)} rules, {never} of them screened out every time, {total * 1000:,.1f} ms in screens "
          "and rules (check + findings)")
    print(f"  {'rule':<6} {'slug':<34} {'ran':>7} {'check ms':>10} {'findings ms':>12} {'share':>6} {'rows':>9} "
          f"{'peak RSS rise MiB':>18}")
    for r in sorted(rules, key=lambda r: -(r["check"] + r["findings"]))[:top]:
        share = (r["check"] + r["findings"]) / total if total else 0.0
        ran = f"{r.get('ran', 1)}/{r.get('repeats', 1)}"
        print(f"  {r['id']:<6} {r['slug']:<34} {ran:>7} {r['check'] * 1000:>10,.1f} {r['findings'] * 1000:>12,.1f} "
              f"{share:>6.1%} {r['rows']:>9,} {r.get('peak_rise_mib', 0.0):>18,.0f}")
    risers = [r for r in rules if r.get("peak_rise_mib", 0.0) >= 1]
    if risers:
        print("  rules that raised the process's peak RSS: " + ", ".join(
            f"{r['slug']} +{r['peak_rise_mib']:,.0f} MiB" for r in sorted(risers, key=lambda r: -r["peak_rise_mib"])))


def run(lines: int, top: int, single_repeats: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="cleanclaim-batch-"))
    try:
        path = workdir / "claims.parquet"
        start = time.perf_counter()
        claims = write_batch(path, lines)
        print(f"batch: generated {lines:,} lines ({claims:,} claims of 1, 3 and 10 lines) in "
              f"{time.perf_counter() - start:.1f} s, {path.stat().st_size / 2**20:.1f} MiB Parquet in a temp dir")
        result, wall, rss = _child(["--check", str(path)])
        seconds = result["seconds"]
        summary = result["summary"]
        print(f"cleanclaim Parquet batch: {rate(lines, seconds)} lines/s, {rate(claims, seconds)} claims/s "
              f"(check({path.name}) {seconds:.1f} s in-process; child process {wall:.1f} s wall with imports), "
              f"peak RSS {rss:,.0f} MiB")
        print(f"cleanclaim Parquet batch: {result['findings']:,} findings; summary {json.dumps(summary)}")
        timing, _, _ = _child(["--rules-file", str(path)])
        print(f"per-rule timings on the {lines:,}-line table (building its tables as check() does: "
              f"{timing['read_seconds']:.1f} s):")
        _print_rules(f"{lines:,}-line table", timing["rules"], top)
        for size in (1, 10):
            single, _, _ = _child(["--rules-one", str(size), "--repeats", str(single_repeats)])
            _print_rules(f"single {size}-line encounter (median of {single_repeats})", single["rules"], top)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lines", type=int, default=int(os.environ.get("BENCH_LINES", "1000000")))
    parser.add_argument("--top", type=int, default=int(os.environ.get("BENCH_TOP_RULES", "15")))
    parser.add_argument("--repeats", type=int, default=int(os.environ.get("BENCH_SINGLE_REPEATS", "30")))
    parser.add_argument("--check", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rules-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rules-one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.check:
        print(json.dumps(check_file(args.check)))
    elif args.rules_file:
        print(json.dumps(rules_on_file(args.rules_file)))
    elif args.rules_one:
        print(json.dumps(rules_on_one(args.rules_one, args.repeats)))
    else:
        run(args.lines, args.top, args.repeats)


if __name__ == "__main__":
    main()
