"""cleanclaim against claim-validator 0.3.0 on the same synthetic claims (1, 3 and 10 lines), in one process.

cleanclaim checks the N claims as ONE batch, three ways: ``check(list_of_encounters)`` (the typed API from Encounter
objects already built), ``check(parquet_path)`` and ``check(csv_path)`` (each includes reading the file).
claim-validator is called as documented: ``validate(claim_dict)`` once per claim, and ``validate_batch(dicts)``.
Its ``ClaimData`` model raises pydantic's ValidationError on an NPI that fails the Luhn check and on CPT Category III
codes (0591T: its code pattern is 5 digits or a letter and 4 digits), so ``validate()`` rejects those claims by
exception (counted as flagged and timed like the others) and ``validate_batch`` (which would
stop at the first one) is given only the claims its model accepts.

claim-validator runs with its rule-based validators only: explicit settings with no AI validators, no AI provider and
no clearinghouse, ``CLAIM_VALIDATOR_*`` environment variables removed, and every socket connection refused in this
process, so a call that tried the network would fail loudly instead of being timed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import median_seconds, peak_rss_mib, percentile, rate
from synthetic import AS_OF, FAULTS, Claim, generate, table_columns, to_claim_validator, to_encounter_dict

SIZES = (1, 3, 10)


def _refuse_network() -> None:
    """Make any outgoing connection from this process an error (claim-validator must not call out while timed)."""

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("network disabled by bench/compare.py: claim-validator tried to connect")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse


def _claim_validator() -> _ClaimValidator:
    for name in [n for n in os.environ if n.startswith("CLAIM_VALIDATOR_")]:
        del os.environ[name]
    _refuse_network()
    import claim_validator as cv
    from claim_validator.constants import Severity
    from pydantic import ValidationError

    settings = cv.ClaimValidatorSettings(ai_validators=[], ai_config=None, clearinghouse_config=None,
                                         clearinghouse_configs=None, default_provider=None)
    pipeline = cv.ValidationPipeline.from_settings(settings)
    config = pipeline._base_pipeline.config
    if pipeline._ai_validators or config.ai_interpreter is not None or config.clearinghouse_client is not None:
        raise SystemExit("compare: claim-validator would run AI validators or call a clearinghouse; not timed")

    def has_error(result: Any) -> bool:
        return any(f.severity == Severity.ERROR for pr in result.phase_results for vo in pr.validator_outputs
                   for f in vo.findings)

    return _ClaimValidator(partial(cv.validate, settings=settings), partial(cv.validate_batch, settings=settings),
                           ValidationError, has_error)


def _detection(claims: list[Claim], flagged: set[str]) -> str:
    """Share of claims with an error finding (or rejected), for clean claims and for each fault kind."""
    parts = []
    for kind in (None, *FAULTS):
        ids = [c.id for c in claims if c.fault == kind]
        if ids:
            hit = sum(1 for i in ids if i in flagged)
            parts.append(f"{kind or 'clean'} {hit}/{len(ids)}")
    return ", ".join(parts)


@dataclass(frozen=True)
class _ClaimValidator:
    validate: Callable[[dict[str, Any]], Any]
    validate_batch: Callable[[list[dict[str, Any]]], Any]
    rejected: type[Exception]
    has_error: Callable[[Any], bool]

    def each(self, claims: list[Claim], dicts: list[dict[str, Any]]) -> tuple[set[str], list[dict[str, Any]]]:
        """``validate()`` per claim: the claims flagged (error finding or rejected) and the dicts its model accepts."""
        flagged: set[str] = set()
        accepted: list[dict[str, Any]] = []
        for claim, data in zip(claims, dicts, strict=True):
            try:
                outcome = self.validate(data)
            except self.rejected:
                flagged.add(claim.id)
                continue
            accepted.append(data)
            if self.has_error(outcome):
                flagged.add(claim.id)
        return flagged, accepted

    def accepted_only(self, dicts: list[dict[str, Any]]) -> None:
        for data in dicts:
            self.validate(data)


def _inputs(claims: list[Claim], workdir: Path, size: int) -> tuple[list[Any], Path, Path, float]:
    """Encounter objects, a Parquet and a CSV claim-line file of the same claims, and the seconds building the
    Encounter objects took."""
    from cleanclaim.model import Encounter

    start = time.perf_counter()
    encounters = [Encounter.model_validate(to_encounter_dict(c)) for c in claims]
    parse_seconds = time.perf_counter() - start
    frame = pl.DataFrame(table_columns(claims))
    parquet, csv = workdir / f"claims-{size}.parquet", workdir / f"claims-{size}.csv"
    frame.write_parquet(parquet)
    frame.with_columns(pl.col("diagnoses", "modifiers").list.join(";"),
                       pl.col("dx_pointers").cast(pl.List(pl.String)).list.join(";")).write_csv(csv)
    return encounters, parquet, csv, parse_seconds


def _compare_size(size: int, count: int, repeats: int, latency_runs: int, tool: _ClaimValidator,
                  workdir: Path) -> str:
    from cleanclaim import scrub
    from cleanclaim.model import Severity

    claims = list(generate(count, size))
    encounters, parquet, csv, parse_seconds = _inputs(claims, workdir, size)
    dicts = [to_claim_validator(c) for c in claims]
    lines = count * size

    def batch(source: Any) -> Any:
        return scrub.check(source, as_of=AS_OF)

    t_enc, _, result = median_seconds(partial(batch, encounters), repeats=repeats)
    t_pq, _, _ = median_seconds(partial(batch, parquet), repeats=repeats)
    t_csv, _, _ = median_seconds(partial(batch, csv), repeats=repeats)
    # the ceiling of any check of the Parquet file: reading it into memory and nothing else
    t_read, _, _ = median_seconds(partial(pl.read_parquet, parquet), repeats=repeats)
    cc_flagged = {f.encounter for f in result.findings if f.severity is Severity.ERROR and f.encounter}
    t_cv, _, (cv_flagged, accepted) = median_seconds(partial(tool.each, claims, dicts), repeats=repeats)
    t_cva, _, _ = median_seconds(partial(tool.accepted_only, accepted), repeats=repeats)
    t_cvb, _, _ = median_seconds(partial(tool.validate_batch, accepted), repeats=repeats)
    cv_rate, cva_rate, cvb_rate = count / t_cv, len(accepted) / t_cva, len(accepted) / t_cvb

    print(f"[{size} line(s) per claim: {count:,} claims, {lines:,} lines]")
    print(f"cleanclaim batch (list of Encounter objects): {rate(count, t_enc)} claims/s, "
          f"{rate(lines, t_enc)} lines/s ({t_enc:.3f} s; building the Encounter objects took a further "
          f"{parse_seconds:.3f} s, not timed)")
    print(f"cleanclaim batch (Parquet file, read included): {rate(count, t_pq)} claims/s, "
          f"{rate(lines, t_pq)} lines/s ({t_pq:.3f} s)")
    print(f"cleanclaim batch (CSV file, read included): {rate(count, t_csv)} claims/s, "
          f"{rate(lines, t_csv)} lines/s ({t_csv:.3f} s)")
    print(f"claim-validator validate() per claim, all {count:,} claims: {cv_rate:,.0f} claims/s ({t_cv:.3f} s; "
          f"{count - len(accepted):,} of them rejected early by its model with ValidationError)")
    print(f"claim-validator validate() per claim, the {len(accepted):,} claims its model accepts: "
          f"{cva_rate:,.0f} claims/s ({t_cva:.3f} s)")
    print(f"claim-validator validate_batch(), the same {len(accepted):,} claims: {cvb_rate:,.0f} claims/s "
          f"({t_cvb:.3f} s)")
    print(f"reading the Parquet file alone (pl.read_parquet, nothing checked): {rate(count, t_read)} claims/s, "
          f"{rate(lines, t_read)} lines/s ({t_read:.4f} s) = {count / t_read / cv_rate:.0f}x claim-validator "
          f"validate(): the most any check that reads this file could reach")
    for label, seconds in (("Encounter batch", t_enc), ("Parquet batch", t_pq)):
        print(f"ratio cleanclaim {label} vs claim-validator validate(): {count / seconds / cv_rate:.2f}x "
              f"(accepted claims only: {count / seconds / cva_rate:.2f}x); "
              f"vs validate_batch(): {count / seconds / cvb_rate:.2f}x")
    print(f"claims with an error finding, cleanclaim: {_detection(claims, cc_flagged)}")
    print(f"claims with an error finding or rejected, claim-validator: {_detection(claims, cv_flagged)}")

    # single-encounter latency, in-process, cycling through the claims
    cc_times: list[float] = []
    cv_times: list[float] = []
    batch(encounters[0])
    for index in range(latency_runs):
        encounter, data = encounters[index % count], dicts[index % count]
        begin = time.perf_counter()
        batch(encounter)
        cc_times.append(time.perf_counter() - begin)
        begin = time.perf_counter()
        with contextlib.suppress(tool.rejected):
            tool.validate(data)
        cv_times.append(time.perf_counter() - begin)
    print(f"single-encounter check(encounter), {latency_runs} runs: "
          f"p50 {percentile(cc_times, 0.5) * 1000:.2f} ms, p95 {percentile(cc_times, 0.95) * 1000:.2f} ms; "
          f"claim-validator validate(): p50 {percentile(cv_times, 0.5) * 1000:.3f} ms, "
          f"p95 {percentile(cv_times, 0.95) * 1000:.3f} ms")
    return (f"{size}-line: {count / t_enc / cv_rate:.2f}x (Encounter), {count / t_pq / cv_rate:.2f}x (Parquet); "
            f"reading the Parquet file alone {count / t_read / cv_rate:.0f}x")


def run(count: int, repeats: int, latency_runs: int) -> None:
    tool = _claim_validator()
    print(f"compare: {count:,} claims per size, median of {repeats} runs after a warm-up; as-of {AS_OF}")
    workdir = Path(tempfile.mkdtemp(prefix="cleanclaim-bench-"))
    try:
        summary = [_compare_size(size, count, repeats, latency_runs, tool, workdir) for size in SIZES]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("ratio summary (cleanclaim batch claims/s / claim-validator validate() claims/s): " + "; ".join(summary))
    print(f"compare: peak RSS of this process {peak_rss_mib():,.0f} MiB")
    print(f"rules registered: {len(_rule_ids())} ({_families()})")


def _rule_ids() -> list[tuple[str, str]]:
    from cleanclaim.rules.registry import all_rules

    return [(r.id, r.family) for r in all_rules()]


def _families() -> str:
    counts = Counter(family for _, family in _rule_ids())
    return ", ".join(f"{family} {n}" for family, n in sorted(counts.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--claims", type=int, default=int(os.environ.get("BENCH_CLAIMS", "2000")))
    parser.add_argument("--repeats", type=int, default=int(os.environ.get("BENCH_REPEATS", "3")))
    parser.add_argument("--latency-runs", type=int, default=int(os.environ.get("BENCH_LATENCY_RUNS", "300")))
    args = parser.parse_args()
    run(args.claims, args.repeats, args.latency_runs)


if __name__ == "__main__":
    main()
