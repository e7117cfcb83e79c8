"""``cleanclaim audit`` on the synthetic 1M-line Parquet file: lines/s end to end (Parquet in, findings.parquet,
summary.json, rejected.parquet, and providers.parquet / report.html when those modules are installed), its ratio to a
bare ``pl.read_parquet`` + group-by of the same file, ``check`` on the same file, and peak RSS, each in a child
process of its own.

The file comes from `batch.write_batch` (the same seeded claims of 1, 3 and 10 lines as bench/batch.py), written into
a temporary directory that is removed afterwards. ``--partition-rows`` sets the audit's partition size (default: the
audit's own). Stage timings (pass 1: read and validate, spill; pass 2: the rules per partition) come from the audit's
progress callback.

``--spark`` also runs the same audit with ``--engine spark`` on local[2] (issue 15: Spark local[2] on the 1M-line
file, identical findings, wall time against the Polars engine, aim <= 4x): both runs print their finding count and an
order-free checksum of the finding rows (the sum of Polars row hashes), and the two wall times side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from batch import write_batch
from measure import child_run, peak_rss_mib, rate
from synthetic import AS_OF


def _child(args: list[str]) -> tuple[dict[str, Any], float, float]:
    return child_run(__file__, args, label="audit bench")


def findings_checksum(path: Path) -> tuple[int, int]:
    """The finding count and a checksum of the finding rows that does not depend on their order: two engines that
    write the same multiset of rows in different orders give the same figure."""
    import polars as pl

    frame = pl.read_parquet(path).with_columns(pl.col("references").list.join("\n"))
    return frame.height, int((frame.hash_rows(seed=15) % (1 << 32)).cast(pl.Int64).sum())


def run_audit(path: Path, out: Path, partition_rows: int | None, engine: str = "polars") -> dict[str, Any]:
    from cleanclaim.audit.run import PARTITION_ROWS, audit

    marks: list[tuple[float, int]] = []
    start = time.perf_counter()
    result = audit([path], out, as_of=AS_OF, partition_rows=partition_rows or PARTITION_ROWS,
                   progress=lambda done, total: marks.append((time.perf_counter() - start, done)),
                   engine=engine, master="local[2]" if engine == "spark" else None)
    seconds = time.perf_counter() - start
    count, checksum = findings_checksum(out / "findings.parquet")
    return {"seconds": seconds, "summary": result.summary, "outputs": [p.name for p in result.outputs],
            "marks": marks, "peak_rss_mib": peak_rss_mib(), "findings": count, "checksum": checksum}


def run_baseline(path: Path) -> dict[str, Any]:
    import polars as pl

    start = time.perf_counter()
    frame = pl.read_parquet(path)
    grouped = frame.group_by("patient_id").agg(pl.len(), pl.col("units").sum(), pl.col("code").n_unique())
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "groups": grouped.height, "peak_rss_mib": peak_rss_mib()}


def run_check(path: Path) -> dict[str, Any]:
    from cleanclaim.scrub import check

    start = time.perf_counter()
    result = check(path, as_of=AS_OF)
    return {"seconds": time.perf_counter() - start, "findings": result.table.height, "peak_rss_mib": peak_rss_mib()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lines", type=int, default=int(os.environ.get("BENCH_LINES", "1000000")))
    parser.add_argument("--partition-rows", type=int, default=None)
    parser.add_argument("--audit-only", action="store_true",
                        help="skip the bare read and check (both hold the whole file: ~6 GiB and ~20 GiB at 10M lines)")
    parser.add_argument("--spark", action="store_true", help="also run the audit with --engine spark on local[2]")
    parser.add_argument("--engine", default="polars", help=argparse.SUPPRESS)
    parser.add_argument("--audit", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--baseline", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--check", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.audit:
        print(json.dumps(run_audit(args.audit[0], args.audit[1], args.partition_rows, args.engine)))
        return
    if args.baseline:
        print(json.dumps(run_baseline(args.baseline)))
        return
    if args.check:
        print(json.dumps(run_check(args.check)))
        return
    workdir = Path(tempfile.mkdtemp(prefix="cleanclaim-audit-bench-"))
    try:
        path = workdir / "claims.parquet"
        claims = write_batch(path, args.lines)
        print(f"audit: {args.lines:,} lines ({claims:,} claims), {path.stat().st_size / 2**20:.1f} MiB Parquet")
        extra = ["--partition-rows", str(args.partition_rows)] if args.partition_rows else []
        result, wall, rss = _child(["--audit", str(path), str(workdir / "out"), *extra])
        seconds = result["seconds"]
        summary = result["summary"]
        pass1 = next((t for t, done in result["marks"] if done >= args.lines // 2 - 1000), 0.0)
        print(f"cleanclaim audit: {rate(args.lines, seconds)} lines/s end to end ({seconds:.1f} s in-process, "
              f"{wall:.1f} s wall with imports; pass 1 read+validate+spill {pass1:.1f} s, pass 2 rules "
              f"{seconds - pass1:.1f} s), peak RSS {rss:,.0f} MiB; outputs {', '.join(result['outputs'])}")
        print(f"cleanclaim audit findings: {result['findings']:,} rows, checksum {result['checksum']}")
        if args.spark:
            _spark(path, workdir, args.lines, result, wall, extra)
        if not args.audit_only:
            _compare(path, args.lines, seconds)
        print(f"audit summary: rows read {summary['rows_read']:,}, findings {summary['findings']['by_severity']}, "
              f"dollars at risk {summary['dollars_at_risk']}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _spark(path: Path, workdir: Path, lines: int, polars: dict[str, Any], polars_wall: float,
           extra: list[str]) -> None:
    """The same audit on Spark local[2] (a child process of its own: JVM start-up and Python workers included in
    its wall time)."""
    spark, wall, _ = _child(["--audit", str(path), str(workdir / "out-spark"), "--engine", "spark", *extra])
    same = (spark["findings"], spark["checksum"]) == (polars["findings"], polars["checksum"])
    print(f"spark local[2] audit: {rate(lines, spark['seconds'])} lines/s ({spark['seconds']:.1f} s in-process, "
          f"{wall:.1f} s wall with imports and JVM start); findings {spark['findings']:,} rows, checksum "
          f"{spark['checksum']}: {'IDENTICAL to' if same else 'DIFFERENT from'} the Polars engine's")
    print(f"polars vs spark local[2], wall: {polars_wall:.1f} s vs {wall:.1f} s = {wall / polars_wall:.1f}x "
          f"(in-process {polars['seconds']:.1f} s vs {spark['seconds']:.1f} s = "
          f"{spark['seconds'] / polars['seconds']:.1f}x); summaries equal: {spark['summary'] == polars['summary']}")


def _compare(path: Path, lines: int, seconds: float) -> None:
    """The audit's time beside a bare read + group-by and ``check`` of the same file (each holds the whole file)."""
    base, _, base_rss = _child(["--baseline", str(path)])
    print(f"bare pl.read_parquet + group_by(patient_id): {base['seconds']:.2f} s "
          f"({rate(lines, base['seconds'])} lines/s), peak RSS {base_rss:,.0f} MiB; "
          f"audit / bare = {seconds / base['seconds']:,.0f}x")
    checked, _, check_rss = _child(["--check", str(path)])
    print(f"cleanclaim check on the same file (whole, in memory, findings not written): "
          f"{rate(lines, checked['seconds'])} lines/s ({checked['seconds']:.1f} s), peak RSS "
          f"{check_rss:,.0f} MiB; {checked['findings']:,} findings")

if __name__ == "__main__":
    main()
