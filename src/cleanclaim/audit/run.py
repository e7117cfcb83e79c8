"""``cleanclaim audit``: months of claims checked at once, in partitions of patients, into files a person or a
notebook can open (DESIGN.md, "Wave-2 outputs").

Why partitions of patients: the rules that look beyond one line (duplicates, visit frequency, KX, progress reports,
the 8-minute day pool) need all of a patient's lines, and nothing else. So the audit runs in two passes:

1. each claim-line file is read and validated by the same reader as ``check`` (`read_claim_table`: a bad row is
   rejected with its file, row and column, every other row kept), a Parquet file in slices of whole encounters
   (blocks of rows read straight from the file when each encounter's rows are one run, as in a file written claim
   by claim; otherwise one pass, a block of rows at a time, writes the rows by a hash of the encounter id, each
   keeping its file row number), and its accepted lines and claims are written to ``N`` partition files by a hash
   of the patient key, so all of a patient's lines, from every file, land in one partition;
2. each partition goes through the one rule engine of ``check`` (`cleanclaim.scrub.check_lines`), two at a time
   in threads (`PARTITIONS_AT_ONCE`: Polars runs most of the rules with the GIL released, and a second partition
   fills the cores while the first runs Python), and their findings are written out in partition order, so the
   outputs are those of one partition at a time.

Memory is therefore bounded by two slices while they are read and spilled (pass 1 reads the next slice while it
spills one) and by two partitions while their rules run (pass 2), never by the whole input. A well-formed CSV is
first converted to Parquet text columns in one streaming pass, then sliced the same way. Two exceptions are read
whole: a malformed CSV (a ragged or short row, bytes that are not UTF-8: the reader's row-by-row fallback needs the
whole file), and an 837P file, checked by ``check`` (one file is one transmission, small beside a table). An input
of up to `IN_MEMORY_ROWS` rows is small enough to hold: each file is read whole (one slice) and the partitions and
findings are kept in memory instead of scratch files, with the same outputs.

The estimated allowed amount of a line is the Medicare Physician Fee Schedule national amount of the line priced
alone (`cleanclaim.pricing.price`: RVUs x conversion factor of its date of service, the therapy MPPR within the
line's own units), whatever the payer: an order of magnitude for ranking what is at risk, not the payer's contract
rate. It is null where the line cannot be priced (no RVUs on file, carrier-priced, bundled, fractional units). A
claim-level finding carries the sum of its claim's priced lines. ``dollars_at_risk`` is the sum over the lines with
an error finding, each line once (all the lines of a claim with a claim-level error).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import math
import os
import shutil
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import polars as pl

import cleanclaim
from cleanclaim.audit.providers import ProviderStats, partition_stats
from cleanclaim.audit.report import Tally, tally, template, write_report
from cleanclaim.errors import InputError
from cleanclaim.formats.claim_table import (
    _ROW,
    CONTRACT_COLUMNS,
    TABLE_SUFFIXES,
    ClaimTable,
    _contiguous,
    _csv_header,
    _repeated_columns,
    _run_starts,
    as_read,
    claim_table_from_raw,
    read_claim_table,
    short_row,
)
from cleanclaim.isolation import Failure
from cleanclaim.payers import PayerProfile
from cleanclaim.rules.catalogue.cloned_notes import flagged_rows, note_records
from cleanclaim.rules.engine import FINDING_SCHEMA, RuleSelection, finding_frame
from cleanclaim.rules.registry import get_rule
from cleanclaim.scrub import (
    X12_SUFFIXES,
    _looks_like_x12,
    _payer_option,
    _Profiles,
    check,
    check_lines,
    payer_rows,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from cleanclaim.audit.spark import SpilledPartitions

__all__ = ["ENGINES", "FINDINGS_SCHEMA", "REJECTED_SCHEMA", "AuditResult", "PartitionCheck", "PartitionChecked",
           "Progress", "audit", "audit_inputs"]

ENGINES = ("polars", "spark")
"""Where pass 2 runs: in this process (Polars), or inside Spark partitions grouped by the same patient key
(`cleanclaim.audit.spark`, docs/spark.md). Both run `PartitionCheck` on each partition: the same rules, the same
pricing, the same provider statistics."""

PARTITION_ROWS = 250_000
"""Lines per partition (about): large enough that the rules' per-call overhead is small, small enough that one
partition's working set (its lines, findings and the rules' joins) stays far below a GiB."""

PARTITIONS_AT_ONCE = 2
"""Partitions checked at the same time, in threads. Polars runs most of a partition's rules on its own thread pool
with the GIL released, but between its plans a partition's Python (the rules' screens and plan building, the
small collects, reading its files) runs on one core, and on two cores that left about a third of the machine idle
in pass 2; a second partition fills those gaps. Each partition in flight holds its working set, so memory grows
with this, not with the input; two are enough to fill two cores."""

IN_MEMORY_ROWS = 2_000_000
"""Inputs of up to this many rows (about) are read a whole file at a time and their partitions held in memory;
larger ones are read in slices and partitioned through scratch files. A million lines read whole, then held as
partitions, take a few hundred MiB beside the ~1 GiB of a partition's rules, while ten million would not (issue
15's memory bound is 3 GiB at 10M lines); and the slices and partition files through disk cost more CPU than most
rules (1M lines: ~2 s of 5 in pass 1)."""

FINDINGS_SCHEMA: dict[str, Any] = {
    **{name: dtype for name, dtype in FINDING_SCHEMA.items() if name != "line"},
    "line": pl.Int32,
    "provider_npi": pl.String,
    "payer": pl.String,
    "date": pl.Date,
    "allowed": pl.Decimal(12, 2),
    "source_file": pl.String,
}
FINDINGS_ORDER = ("rule", "id", "severity", "encounter", "line", "code", "message", "fix", "references",
                  "provider_npi", "payer", "date", "allowed", "source_file")
REJECTED_SCHEMA: dict[str, Any] = {"file": pl.String, "row": pl.Int64, "column": pl.String, "reason": pl.String}
# the claim-table columns handed to the provider analytics (audit-common.md)
PROVIDER_LINE_COLUMNS = ("encounter_id", "date", "payer", "patient_id", "provider_npi", "provider_discipline", "code",
                         "modifiers", "units", "minutes", "charge")
_KEY = "__partition"
_FILE = "source_file"
_ORDER = ("__file_index", "__file_row")
_SLICE = "__slice"
# an 837P's lines and claims in the claim-table shape (the columns the findings and the provider analytics use)
_X12_LINES: dict[str, Any] = {
    "encounter_id": pl.String, "line": pl.Int32, "date": pl.Date, "payer": pl.String, "place_of_service": pl.String,
    "patient_id": pl.String, "provider_npi": pl.String, "provider_discipline": pl.String, "code": pl.String,
    "modifiers": pl.List(pl.String), "units": pl.Float64, "minutes": pl.Int64, "charge": pl.Float64,
    _FILE: pl.String}
_X12_CLAIMS: dict[str, Any] = {"encounter_id": pl.String, "provider_npi": pl.String, "payer": pl.String,
                               "date": pl.Date}

Progress = Callable[[int, int], None]
"""Called with (rows done, rows in all): the command draws its progress bar from it."""


@dataclass
class AuditResult:
    """What an audit wrote and what it met: the files in ``out``, the summary as written, and the input errors and
    internal failures (the command prints them and exits with check's status).

    ``rows_read`` counts the rows of the tables that could be read (a file that cannot be read at all has no rows to
    count: it is named in rejected.parquet with no row) plus the service lines of the 837P files and one row per
    837P claim (or skipped part) its reader rejected; ``rows_rejected`` the distinct table rows and 837P claims
    rejected, so rows_read = rows_checked + rows_rejected. An 837P claim its reader could not read is in
    rejected.parquet with the reader's message and no row."""

    out: Path
    summary: dict[str, Any]
    errors: list[InputError] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    notes: list[InputError] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """check's contract: 3 cleanclaim failed on some records, 2 some input could not be read, 1 error findings,
        0 none (the rest was audited in every case)."""
        if self.failures:
            return 3
        if self.errors:
            return 2
        return 1 if self.summary["findings"]["by_severity"].get("error", 0) else 0


def audit_inputs(paths: Sequence[Path], out: Path | None = None) -> tuple[list[Path], list[InputError]]:
    """The files to audit: each path given, and in a folder every claim-line table and 837P file below it (sorted,
    so a run is reproducible), except those in the output folder ``out`` (a second run over a folder that holds
    the first run's findings.parquet must not audit it). A path that does not exist, or a folder with nothing to
    audit, is an input error."""
    files: list[Path] = []
    errors: list[InputError] = []
    skip = out.resolve() if out is not None else None

    def wanted(p: Path) -> bool:
        return (p.is_file() and p.suffix.lower() in (*TABLE_SUFFIXES, *X12_SUFFIXES)
                and (skip is None or not p.resolve().is_relative_to(skip)))

    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if wanted(p))
            if not found:
                errors.append(InputError("the folder has no claim-line table (.csv, .parquet) or 837P file",
                                         file=str(path)))
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            errors.append(InputError("file not found", file=str(path)))
    return files, errors


_FILES_RESERVED = 256
"""Open files left for everything but pass 1's partition files: the inputs being read, Polars' and pyarrow's own,
the report's, a Spark driver's sockets."""


def _open_file_budget(wanted: int) -> int:
    """How many partition files pass 1 may keep open: ``wanted`` (one per partition and kind) when the process may
    open that many, after raising its soft limit of open files towards the hard one (a soft limit of 1,024 is
    common, and 100M lines make 400 partitions x 2 kinds), else what the limit leaves. Raising a soft limit is
    what the limit is for, and it stays raised for the process (lowering it again could strand files opened since).
    Fewer files open than partitions is slower (a partition's parts go into several files), never wrong."""
    try:
        import resource
    except ImportError:  # not a POSIX system: no limit to read
        return max(1, wanted)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + _FILES_RESERVED
    if soft != resource.RLIM_INFINITY and soft < need:
        raised = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):  # a limit this process may not change: work within it
            pass
    if soft == resource.RLIM_INFINITY:
        return max(1, wanted)
    return max(1, min(wanted, soft - _FILES_RESERVED))


def _estimated_rows(path: Path) -> int:
    """A cheap row count to size the partitions: Parquet's metadata, a CSV's newlines."""
    try:
        if path.suffix.lower() == ".csv":
            with path.open("rb") as handle:
                return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
        return int(pl.scan_parquet(path).select(pl.len()).collect().item())
    except (OSError, pl.exceptions.PolarsError, pl.exceptions.PanicException):  # a footer polars panics on
        return 0  # the reader will say what is wrong with the file


def _rejected_rows(errors: Iterable[InputError], fallback_file: str) -> pl.DataFrame:
    """One row per input error. A table's error has its row and column; any other (an 837P claim, a whole file)
    keeps the reader's place in the reason (line, segment, encounter), since rejected.parquet has no column for it."""
    rows = [{"file": e.file or fallback_file, "row": e.row, "column": e.field,
             "reason": e.message if e.row is not None or not _place(e) else f"{e.message} ({_place(e)})"}
            for e in errors]
    return pl.DataFrame(rows, schema=REJECTED_SCHEMA)


def _place(error: InputError) -> str:
    parts = [f"line {error.line}" if error.line is not None else "",
             f"segment {error.segment}" if error.segment else "",
             f"encounter {error.encounter}" if error.encounter else ""]
    return ", ".join(p for p in parts if p)


def _patients_split(lines: pl.DataFrame) -> bool:
    """Whether some claim's rows name more than one patient (the reader keeps them: a claim's patient is its first
    row's). In a file written claim by claim, neighbouring rows are compared (a few ms per 1M lines); in any other
    order, each claim's patients are counted."""
    claim, patient = pl.col("encounter_id"), pl.col("patient_id")
    if _contiguous(lines):
        return bool(lines.select(((claim == claim.shift(1)) & patient.ne_missing(patient.shift(1))).any()).item())
    return bool(lines.group_by("encounter_id").agg(patient.n_unique()).select(pl.col("patient_id").max() > 1)
                .item())


class _Writer:
    """The audit's scratch: partition files of pass 1 and finding parts of pass 2 (in a scratch folder), or, for an
    input small enough to hold (``in_memory``), pass 1's partitions kept as frames: writing a million lines to disk
    and reading them back cost more CPU than the rules of a partition's screens."""

    def __init__(self, out: Path, partitions: int, *, in_memory: bool = False, spark: bool = False) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=".audit-", dir=out))
        self.partitions = partitions
        self.parts = 0
        self.more: list[pl.LazyFrame] = []
        """Findings written elsewhere (by Spark), scanned beside the parts."""
        self.in_memory = in_memory and not spark
        self.spilled: SpilledPartitions | None = None
        """Spark's partitions: a Parquet file each, its claims with their lines nested, read a file per task
        (`cleanclaim.audit.spark.SpilledPartitions`). This process reads its own as Arrow IPC files, which are
        written and read back at memory speed (uncompressed: they live for one audit)."""
        self.max_open = 0 if self.in_memory else _open_file_budget(partitions if spark else 2 * partitions)
        """How many partition files pass 1 keeps open at once: one per partition (and kind) unless the process may
        not open that many (`_open_file_budget`); then the oldest is closed and its partition goes on in a new file."""
        if spark:
            from cleanclaim.audit.spark import SpilledPartitions

            self.spilled = SpilledPartitions(self.root, max_open=self.max_open)
        self.held: dict[tuple[str, int], list[pl.DataFrame]] = {}
        self.found: list[pl.DataFrame] = []
        self.noted: set[int] = set()
        """The partitions with an encounter that has a note: cloned-note reads only those (most tables have no note
        column, and scanning every partition's files for none cost ~0.4 s per 1M lines through scratch files)."""
        self.open: dict[tuple[str, int], tuple[pa.ipc.RecordBatchFileWriter, pa.Schema]] = {}
        """Each partition's scratch file, open through pass 1: a block's part is appended to it as record batches
        (10M lines make 40 blocks x 40 partitions x 2 kinds: 3,200 small files, which cost ~8.6 s CPU to write and
        read back where 80 files of those parts cost ~3.2 s). At most one handle per partition and kind is open (80
        at 10M lines; 800 at 100M lines, near the common soft limit of 1,024: `max_open`)."""

    def spill(self, table: ClaimTable, source: str, name: str, file_index: int) -> None:
        """A file's accepted lines and claims, split by the hash of the patient key, each with its place in the
        input (file, row), so that a partition is put back in input order: rules that tell a first occurrence from
        a repeat (duplicate-line flags the later line) must see the lines in the order check sees them."""
        order = pl.lit(file_index, dtype=pl.Int64).alias(_ORDER[0])
        # the key as a small integer: partition_by groups a UInt32 key in about half the time of the UInt64 hash
        partition = (pl.col("patient_id").hash(seed=15) % self.partitions).cast(pl.UInt32).alias(_KEY)
        lines = table.lines.with_columns(pl.lit(source).alias(_FILE), order,
                                         table.line_rows.cast(pl.Int64).alias(_ORDER[1]), partition)
        encounters = table.encounters.with_columns(order, table.encounter_rows.cast(pl.Int64).alias(_ORDER[1]),
                                                   partition)
        if _patients_split(table.lines):
            # a claim whose rows name two patients goes whole to its encounter's partition (its first row's
            # patient): by each row's own patient, a row landed where its claim is not, and was checked by no rule
            claim = encounters.select("encounter_id", pl.col(_KEY).alias("__claim_key")).unique("encounter_id")
            lines = (lines.join(claim, on="encounter_id", how="left", maintain_order="left")
                     .with_columns(pl.coalesce("__claim_key", _KEY).alias(_KEY)).drop("__claim_key"))
        if encounters.get_column("note").null_count() < encounters.height:
            self.noted.update(encounters.filter(pl.col("note").is_not_null()).get_column(_KEY).unique().to_list())
        if self.spilled is not None:  # one file per partition holding both kinds (`spark.SpilledPartitions`)
            lines_by_key, encounters_by_key = (
                {key: part for (key,), part in frame.partition_by(_KEY, as_dict=True, include_key=False).items()}
                for frame in (lines, encounters))
            for key in sorted(lines_by_key.keys() | encounters_by_key.keys()):
                self.spilled.add(key, lines_by_key.get(key), encounters_by_key.get(key))
            return
        for kind, frame in (("lines", lines), ("encounters", encounters)):
            for (key,), part in frame.partition_by(_KEY, as_dict=True, include_key=False).items():
                if self.in_memory:
                    self.held.setdefault((kind, key), []).append(part)
                    continue
                folder = self.partition_folder(kind, key)
                folder.mkdir(parents=True, exist_ok=True)
                self.append(kind, key, part, folder / f"{name}.arrow")

    def append(self, kind: str, key: int, part: pl.DataFrame, path: Path) -> None:
        """A block's part at the end of its partition's open file; a part whose schema differs from the file's (a
        column all null in one block) starts a new file, named for the part, so that the files' names keep the
        input order and `read` reconciles them as it did the parts."""
        import pyarrow as pa  # only the scratch path writes with it: kept off start-up

        batches = part.to_arrow()
        stream, schema = self.open.get((kind, key), (None, batches.schema))
        if stream is not None and not schema.equals(batches.schema):
            self.open.pop((kind, key))
            stream.close()
            stream = None
        if stream is None:
            if len(self.open) >= self.max_open:  # the oldest file closed; its partition's next part starts another
                self.open.pop(next(iter(self.open)))[0].close()
            stream = pa.ipc.new_file(str(path), batches.schema)
            self.open[(kind, key)] = (stream, batches.schema)
        stream.write_table(batches)

    def close(self) -> None:
        """The end of pass 1: every partition's file is closed (its footer written), so it can be read."""
        for stream, _ in self.open.values():
            stream.close()
        self.open.clear()
        if self.spilled is not None:
            self.spilled.close()

    def partition_folder(self, kind: str, key: int) -> Path:
        """``kind/p=KEY``: a partitioned dataset (Hive layout) that Spark reads with the key as column ``p``."""
        return self.root / kind / f"p={key}"

    def scans(self, kind: str, key: int) -> list[pl.LazyFrame]:
        """A partition's parts as lazy frames, wherever they are kept (held in memory, Arrow IPC or Parquet files),
        so that a reader of a few columns or rows (`_noted_encounters`) lets the scan skip the rest."""
        if self.in_memory:
            return [frame.lazy() for frame in self.held.get((kind, key), [])]
        if self.spilled is not None:
            return self.spilled.scans(kind, key)
        folder = self.partition_folder(kind, key)
        if not folder.exists():
            return []
        return [pl.scan_parquet(p) if p.suffix == ".parquet" else pl.scan_ipc(p) for p in sorted(folder.iterdir())]

    def read(self, kind: str, key: int) -> pl.DataFrame | None:
        frames = [scan.collect() for scan in self.scans(kind, key)]
        if not frames:
            return None
        parts = pl.concat(frames, how="diagonal_relaxed")
        del frames
        # a file read whole gives each partition its rows in input order already (no sort: it moved every column)
        file, row = pl.col(_ORDER[0]), pl.col(_ORDER[1])
        ordered = (file.shift(1) < file) | ((file.shift(1) == file) & (row.shift(1) < row))
        if not parts.select(row.is_not_null().all() & ordered.all()).item():
            return parts.sort(*_ORDER)  # the sort's output is one chunk already
        # one chunk per column: a partition's file holds a batch of each slice spilled into it, and Polars groups
        # and joins over chunked columns at up to twice the cost (the provider statistics' group-bys of a
        # 250,000-line partition in two chunks: 30 ms against 15, where the copy costs 6)
        return parts.rechunk() if max(parts.n_chunks("all"), default=1) > 1 else parts

    def findings_part(self, frame: pl.DataFrame) -> None:
        if self.in_memory:  # a held input's findings are a fraction of its lines
            self.found.append(frame)
            return
        folder = self.root / "findings"
        folder.mkdir(exist_ok=True)
        # Arrow IPC, uncompressed, as the partitions: they live until findings.parquet is written from them (1M
        # lines through scratch files: ~0.3 s CPU less than compressed Parquet parts)
        frame.write_ipc(folder / f"{self.parts:06d}.arrow", compression="uncompressed")
        self.parts += 1

    def findings(self) -> pl.LazyFrame:
        folder = self.root / "findings"
        scans = [*self.more, *([pl.scan_ipc(sorted(folder.iterdir()))] if self.parts else []),
                 *(frame.lazy() for frame in self.found)]
        if not scans:
            return pl.LazyFrame(schema=FINDINGS_SCHEMA).select(FINDINGS_ORDER)
        return pl.concat(scans)


class _Pricer:
    """The estimated allowed amount of lines, each priced alone (`cleanclaim.pricing.national_allowed`: each
    distinct line priced once, kept across the partitions of the audit).

    The amounts of the distinct lines already priced are kept too (``_known``): the partitions of an input share
    most of their distinct lines (the bench's 250,000-line partitions: ~2,100 each, nearly all seen before), and
    `national_allowed` costs about 8 ms a partition even when its own memo has every group, where finding the new
    lines by a join costs about 1. A line's amount depends on its key alone (each is priced alone), so a kept one is
    the one a new call would give."""

    KEPT_LINES = 200_000
    """Distinct priced lines kept before starting over (about 16 MiB): a bound, as a decade of dates is not."""

    def __init__(self) -> None:
        self._known: pl.DataFrame | None = None
        self._lock = threading.Lock()  # two partitions are priced at once

    def allowed(self, lines: pl.DataFrame) -> pl.Series:
        """The allowed amount of each line: the distinct keys are priced, then joined back, so a million lines cost
        a few thousand pricer calls, not a million. Units that are not a positive whole number are not priced."""
        from cleanclaim.pricing import national_allowed

        key = list(_PRICE_KEY)
        keyed = lines.select(key)
        whole = (pl.col("units") > 0) & (pl.col("units") == pl.col("units").floor())
        distinct = keyed.unique(maintain_order=True).filter(whole.fill_null(False))
        if distinct.schema != _PRICE_KEY:  # not the claim table's types: priced alone, not kept
            known = distinct.with_columns(national_allowed(distinct).get_column("allowed"))
        else:
            seen = self._known
            new = distinct if seen is None else distinct.join(seen, on=key, how="anti", nulls_equal=True)
            priced = new.with_columns(national_allowed(new).get_column("allowed"))
            known = priced if seen is None else pl.concat([seen, priced])  # all of ``distinct``, each once
            if new.height:
                with self._lock:  # the other partition may have kept some of them meanwhile
                    kept = self._known
                    # kept in one chunk: it is joined against every partition
                    self._known = priced if kept is None or kept.height + priced.height > self.KEPT_LINES else \
                        pl.concat([kept, priced.join(kept, on=key, how="anti", nulls_equal=True)], rechunk=True)
        return keyed.join(known, on=key, how="left", nulls_equal=True, maintain_order="left").get_column("allowed")


_PRICE_KEY = pl.Schema({"code": pl.String(), "modifiers": pl.List(pl.String()), "units": pl.Float64(),
                        "date": pl.Date(), "place_of_service": pl.String()})
"""What a line's estimated allowed amount depends on (in the claim table's types)."""


def _enrich(found: pl.DataFrame, lines: pl.DataFrame, encounters: pl.DataFrame,
            pricer: _Pricer) -> tuple[pl.DataFrame, Decimal]:
    """The findings of a partition with their line's provider, payer, date, estimated allowed amount and file, and
    the partition's dollars at risk."""
    # a line is named by one whole number, its claim's number among the partition's encounter ids and its line
    # (`_LINE_KEY`): the text ids are hashed twice (the lines', the findings') and every join and group below is on
    # whole numbers, where each on (encounter, line) hashed the text again (the joins were most of this function)
    ids, claims = _claim_numbers(lines)
    at = found.select(pl.col("encounter").alias("encounter_id"), pl.col("line").cast(pl.Int32)) \
        .join(ids, on="encounter_id", how="left", maintain_order="left") \
        .select("claim", "line", _LINE_KEY.alias("key"))
    # the lines with a finding and all the lines of a claim with a claim-level finding: priced, and (a line-level
    # finding takes its own line's rendering NPI, payer and date; a claim-level one the claim's) where a line's
    # NPI, payer and date come from, so that the findings meet one table of these few lines, not every line
    claims_at_risk = at.filter(pl.col("line").is_null()).get_column("claim").drop_nulls().unique()
    keyed = lines.select("line", claims).select("claim", _LINE_KEY.alias("key"))
    wanted = (keyed.get_column("key").is_in(at.get_column("key").drop_nulls().unique().implode())
              | keyed.get_column("claim").is_in(claims_at_risk.implode()))
    priced = (pl.concat([lines.select("code", "modifiers", "units", "date", "place_of_service", "provider_npi",
                                      "payer", _FILE), keyed], how="horizontal")
              .filter(wanted.fill_null(False)).unique("key", keep="first", maintain_order=True))
    priced = priced.with_columns(pricer.allowed(priced)).select(
        "claim", "key", "allowed", _FILE, "date", pl.col("provider_npi").alias("line_npi"),
        pl.col("payer").alias("line_payer"))
    risk = _at_risk(found, at, priced)
    per_claim = (priced.group_by("claim")
                 .agg(pl.col("allowed").sum().alias("claim_allowed"), pl.col("allowed").is_not_null().any()
                      .alias("any_priced"), pl.col(_FILE).first().alias("claim_file")))
    # the columns the findings gain are found for a narrow frame (each finding's encounter, claim and line key) and
    # set beside the findings: each join on the findings themselves copied their text (messages, fixes, references)
    claim = encounters.select(pl.col("encounter_id").alias("encounter"), "provider_npi", "payer",
                              pl.col("date").alias("claim_date"))
    found = found.with_columns(pl.col("line").cast(pl.Int32))
    keys = at.select("claim", "key")
    if ids.get_column("encounter_id").equals(encounters.get_column("encounter_id")):
        # the claims are numbered in the encounters' order (pass 1 spills both in file order): a claim's row is its
        # number, so its NPI, payer and date are gathered, not joined on the text ids
        gained = pl.concat([keys, claim.drop("encounter").select(pl.all().gather(keys.get_column("claim")))],
                           how="horizontal")
    else:
        gained = pl.concat([found.select("encounter"), keys], how="horizontal") \
            .join(claim, on="encounter", how="left", maintain_order="left").drop("encounter")
    if gained.height != found.height:  # an id on two claims: each finding on it once per claim, as a join gives
        gained = pl.concat([found, keys], how="horizontal").join(claim, on="encounter", how="left",
                                                                 maintain_order="left")
        found, gained = gained.select(found.columns), gained.drop(found.columns)
    gained = (gained.join(priced.drop("claim"), on="key", how="left", maintain_order="left")
              .join(per_claim, on="claim", how="left", maintain_order="left"))
    out = pl.concat([found, gained], how="horizontal").with_columns(
        pl.col("date").fill_null(pl.col("claim_date")),
        pl.coalesce("line_npi", "provider_npi").alias("provider_npi"),
        pl.coalesce("line_payer", "payer").alias("payer"),
        pl.when(pl.col("line").is_null() & pl.col("any_priced")).then(pl.col("claim_allowed"))
        .otherwise(pl.col("allowed")).cast(pl.Decimal(12, 2)).alias("allowed"),
        pl.col(_FILE).fill_null(pl.col("claim_file")))
    return out.select(FINDINGS_ORDER).cast(FINDINGS_SCHEMA), risk  # type: ignore[arg-type]


def _claim_numbers(lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series]:
    """The partition's encounter ids numbered (``encounter_id``, ``claim``) and each line's claim number. Where each
    claim's lines are one run (as pass 1 spills a file written claim by claim), a claim is numbered by its run:
    neighbours are compared and only the runs' first ids hashed, where numbering any other order hashes every
    line's id twice (unique, then a join back: about 25 ms of a 250,000-line partition against 7). The runs' first ids
    are taken from the id column alone: filtering the lines, then choosing the column, copied every column of the
    first rows (4.1 ms of a 250,000-line partition against 0.5)."""
    if _contiguous(lines):
        ids = lines.select(pl.col("encounter_id").filter(_run_starts())).with_row_index("claim")
        return ids, lines.select(pl.col("encounter_id").rle_id().alias("claim")).to_series()
    ids = lines.select(pl.col("encounter_id").unique()).with_row_index("claim")
    return ids, lines.select("encounter_id").join(ids, on="encounter_id", how="left",
                                                  maintain_order="left").get_column("claim")


_LINE_KEY = pl.col("claim").cast(pl.Int64) * (1 << 32) + pl.col("line").cast(pl.Int64)
"""A line's (claim number, line) as one whole number: distinct lines of Int32 numbers never share it, and it is null
when either is (a finding without a line, an encounter id no line has)."""


def _at_risk(found: pl.DataFrame, at: pl.DataFrame, priced: pl.DataFrame) -> Decimal:
    """The estimated allowed amount of the lines with an error finding, each line once: a line-level error marks its
    line, a claim-level error every line of its claim (``priced`` holds all those lines, once each; ``at`` is the
    findings' claim, line and key, row for row)."""
    errors = at.filter(found.get_column("severity") == "error")
    claims = errors.filter(pl.col("line").is_null()).get_column("claim").drop_nulls().unique()
    marked = errors.get_column("key").drop_nulls().unique()
    risky = priced.filter(pl.col("claim").is_in(claims.implode()) | pl.col("key").is_in(marked.implode()))
    total = risky.get_column("allowed").sum()
    return Decimal(total or 0).quantize(Decimal("0.01"))


def _x12_lines(path: Path, payer: str | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """An 837P's lines and claims in the claim-table shape, for the findings' provider, payer and date and for the
    provider analytics (the file is read a second time: 837P files are small beside the tables)."""
    from cleanclaim.formats.x12_837p import read_837p

    rows: list[dict[str, Any]] = []
    claims: list[dict[str, Any]] = []
    for e in read_837p(path).encounters:
        chosen = payer or e.payer
        claims.append({"encounter_id": e.id, "provider_npi": e.provider.npi, "payer": chosen, "date": e.date})
        for number, line in enumerate(e.lines, start=1):
            rows.append({"encounter_id": e.id, "line": number, "date": line.date or e.date, "payer": chosen,
                         "place_of_service": line.place_of_service or e.place_of_service, "patient_id": e.patient.id,
                         "provider_npi": line.rendering_npi or e.provider.npi,
                         "provider_discipline": str(e.provider.discipline), "code": line.code,
                         "modifiers": list(line.modifiers), "units": float(line.units), "minutes": line.minutes,
                         "charge": float(line.charge) if line.charge is not None else None, _FILE: str(path)})
    return pl.DataFrame(rows, schema=_X12_LINES), pl.DataFrame(claims, schema=_X12_CLAIMS)


@dataclass
class PartitionChecked:
    """What one partition of patients gives: its findings (findings.parquet rows), dollars at risk, the rows
    rejected because their encounter id was used in an earlier file, rule failures, counts, and the provider
    statistics to fold (small: per provider and metric)."""

    findings: pl.DataFrame
    risk: Decimal
    clashes: list[InputError]
    failures: list[Failure]
    encounters: int
    lines: int
    counts: pl.DataFrame
    drivers: pl.DataFrame


@dataclass(frozen=True)
class PartitionCheck:
    """Pass 2 on one partition of patients, whichever engine runs it: a picklable value (Spark ships it to its
    executors) holding what pass 1 settled for the whole input (payer profiles, the columns the files carry)."""

    payers: dict[str, PayerProfile]
    as_of: dt.date
    selection: RuleSelection | None
    carried: frozenset[str]
    minutes_carried: bool

    def __call__(self, lines: pl.DataFrame, encounters: pl.DataFrame, pricer: _Pricer) -> PartitionChecked:
        """``lines`` and ``encounters`` as spilled by pass 1 (with their file and place in it), in input order."""
        clashes: list[InputError] = []
        if encounters.get_column(_ORDER[0]).n_unique() > 1:  # an id can only be in two files if there are two
            lines, encounters, clashes = _one_claim_per_id(lines, encounters)
        lines, encounters = lines.drop(*_ORDER), encounters.drop(*_ORDER)
        found, failed = check_lines(lines.drop(_FILE), encounters, self.payers, as_of=self.as_of,
                                    selection=self.selection, carried=self.carried,
                                    minutes_carried=self.minutes_carried)
        enriched, risk = _enrich(found, lines, encounters, pricer)
        counts, drivers = partition_stats(lines.select(PROVIDER_LINE_COLUMNS), enriched)
        return PartitionChecked(enriched, risk, clashes, failed, encounters.height, lines.height, counts, drivers)


def _one_claim_per_id(lines: pl.DataFrame, encounters: pl.DataFrame) -> tuple[
        pl.DataFrame, pl.DataFrame, list[InputError]]:
    """One encounter id in two files (two claims, or one claim sent twice) cannot be told apart in the findings, and
    merged it would be one claim with two line 1s: the first file's claim is audited, and each row of the same id
    in a later file is rejected naming the first file (all of a patient's lines are in one partition, so an id
    used for one patient in two files is always seen here)."""
    first = encounters.group_by("encounter_id").agg(pl.col(_ORDER[0]).min().alias("__first"))
    later = lines.join(first, on="encounter_id").filter(pl.col(_ORDER[0]) > pl.col("__first"))
    if not later.height:
        return lines, encounters, []
    source = dict(lines.select(_ORDER[0], _FILE).unique(_ORDER[0]).iter_rows())
    errors = [InputError(f"encounter id also used in {source[first_file]}; one id for two claims cannot be told "
                         "apart: give each claim its own id (only the first file's claim was audited)",
                         file=file, row=row, field="encounter_id", encounter=encounter)
              for encounter, file, row, first_file in later.select("encounter_id", _FILE, _ORDER[1], "__first")
              .iter_rows()]
    keep = first.rename({"__first": _ORDER[0]})
    return (lines.join(keep, on=["encounter_id", _ORDER[0]], how="semi", maintain_order="left"),
            encounters.join(keep, on=["encounter_id", _ORDER[0]], how="semi", maintain_order="left"), errors)


def _csv_as_parquet(path: Path, scratch: Path) -> Path | None:
    """A well-formed CSV as a Parquet file of text columns, written in one streaming pass (memory bounded by
    Polars' streaming batches, not the file), for `_read_slices` to slice like any Parquet table; its rows keep
    the CSV's numbering (header = row 1). None when the CSV reader would take its row-by-row path (a ragged or short
    row, bytes that are not UTF-8, a stray quote): that path reads the file whole, as check does, so a malformed
    file is judged exactly as check judges it."""
    header = _csv_header(path)  # the reader's own header checks, raising its own errors
    _repeated_columns(header, path)
    target = Path(tempfile.mkdtemp(prefix="csv-", dir=scratch)) / "table.parquet"
    try:
        if path.stat().st_size == 0:
            return None
        short = (pl.scan_lines(path).slice(1).select(short_row(pl.col("line"), len(header)).any())
                 .collect(engine="streaming").item())
        if short:
            return None
        pl.scan_csv(path, infer_schema=False).sink_parquet(target)
    except (OSError, UnicodeDecodeError, pl.exceptions.PolarsError, pl.exceptions.PanicException):
        return None
    return target


def _claim_runs(lazy: pl.LazyFrame, key: pl.Expr, slices: int) -> list[int] | None:
    """Where to cut a file into about ``slices`` blocks of whole encounters read straight from it, when each
    encounter's rows are one run (a file written claim by claim, as most are): the row offsets of the blocks'
    starts and the file's end, each start the first row of a run of ``key`` (the encounter id as the reader strips
    it). None when some encounter's rows are in two runs: only the slices by a hash of the id keep it whole then.
    One column is read (1M lines: ~0.1 s CPU, against ~2 s to write the whole file to scratch slices and read it
    back)."""
    ids = lazy.select(key.alias("encounter_id")).collect()
    rows = ids.height
    starts = ids.with_row_index("row").filter(_run_starts())
    del ids
    if not starts.get_column("encounter_id").is_unique().all():
        return None
    first = starts.get_column("row").cast(pl.Int64)
    block = max(1, math.ceil(rows / slices))
    # each block starts at the first run that starts at or after its even share of the rows
    at = first.search_sorted(pl.Series(range(0, rows, block), dtype=pl.Int64), side="left")
    return [*sorted({int(first[i]) for i in at.to_list() if i < first.len()}), rows]


def _blocks(lazy: pl.LazyFrame, contract: list[str], first_row: int, cuts: list[int]) -> Iterator[pl.DataFrame]:
    """The file's rows between each two ``cuts`` (`_claim_runs`), numbered, read straight from the file (a slice
    before the numbering reads only the row groups it needs). One chunk, as `_slices_spilled` gives: the reader's
    row checks ran slower over a frame of many chunks."""
    for start, end in pairwise(cuts):
        yield (lazy.slice(start, end - start).select(contract).with_row_index(_ROW, offset=first_row + start)
               .collect().rechunk())


def _slices_spilled(lazy: pl.LazyFrame, contract: list[str], key: pl.Expr, first_row: int, slices: int,
                    scratch: Path) -> Iterator[pl.DataFrame]:
    """The file's rows, numbered, written to one folder per slice (Arrow IPC files, uncompressed: they live for one
    audit; one file per block of rows, named so that their order is the rows' order), then read back a slice at a
    time. One pass over the file a block of rows at a time (a streaming sink partitioned by key buffered the whole
    file); each block is sliced before it is numbered: a slice of the numbered file read the file from its start
    for every block (0.83 s CPU against 0.26 s for 1M lines in 4 blocks, and growing with the square of the
    blocks)."""
    target = Path(tempfile.mkdtemp(prefix="slices-", dir=scratch))
    rows = int(lazy.select(pl.len()).collect().item())
    block = max(1, math.ceil(rows / slices))
    for offset in range(0, rows, block):
        part = (lazy.slice(offset, block).select(contract).with_row_index(_ROW, offset=first_row + offset)
                .with_columns(key.alias(_SLICE)).collect())
        for (number,), frame in part.partition_by(_SLICE, as_dict=True, include_key=False).items():
            folder = target / f"{number:06d}"
            folder.mkdir(exist_ok=True)
            frame.write_ipc(folder / f"{offset:012d}.arrow", compression="uncompressed")
        del part
    for folder in sorted(target.iterdir()):
        raw = pl.concat([pl.read_ipc(p) for p in sorted(folder.glob("*.arrow"))])
        shutil.rmtree(folder, ignore_errors=True)
        # the blocks' files, read in the order of their offsets, are already in row order: the sort is a check. One
        # chunk, as the sort made it: the reader's row checks ran ~0.8 s slower per 1M lines over the files' chunks.
        yield raw.rechunk() if raw.get_column(_ROW).is_sorted() else raw.sort(_ROW)


def _read_slices(path: Path, slices: int, default_payer: str, scratch: Path) -> Iterator[ClaimTable]:
    """A claim-line table read and validated by check's reader, in ``slices`` slices of whole encounters (the
    encounter id as the reader strips it) so that only one slice is in memory, and an encounter's rows, line numbers
    and patient are the same as in the whole file. A file whose encounters are each one run of rows (written claim
    by claim) is read straight from the file in blocks cut where a run starts (`_claim_runs`, `_blocks`), in input
    order; any other goes through scratch files: one pass over the file, a block of rows at a time, numbers the
    file's rows and writes each slice's rows to ``scratch`` by a hash of the id (`_slices_spilled`). Each slice is
    then brought to text and validated. A CSV is first converted to Parquet text columns in one streaming pass
    (`_csv_as_parquet`); a malformed CSV, and a table small enough for one slice, is read whole (the CSV reader's
    row-by-row fallback for ragged rows needs the whole file)."""
    if slices == 1:
        yield read_claim_table(path, default_payer=default_payer)
        return
    source, first_row = path, 1
    if path.suffix.lower() == ".csv":
        converted = _csv_as_parquet(path, scratch)
        if converted is None:
            yield read_claim_table(path, default_payer=default_payer)
            return
        source, first_row = converted, 2
    problem = "cannot read the table: {}"
    try:
        lazy = pl.scan_parquet(source)
        schema = lazy.collect_schema()
    except (OSError, pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:  # a footer polars panics on
        raise InputError(problem.format(_first_line(exc)), file=str(path)) from exc
    if "encounter_id" not in schema:
        yield read_claim_table(path, default_payer=default_payer)  # the reader names the missing columns
        return
    contract = [name for name in schema.names() if name in CONTRACT_COLUMNS]
    texts = as_read(schema, path)
    key = pl.col("encounter_id").cast(pl.String).fill_null("").str.strip_chars()
    try:
        cuts = _claim_runs(lazy, key, slices)
        frames = (_slices_spilled(lazy, contract, key.hash(seed=15) % slices, first_row, slices, scratch)
                  if cuts is None else _blocks(lazy, contract, first_row, cuts))
        for frame in frames:
            raw = frame.with_columns(*texts)
            yield claim_table_from_raw(raw, path, offset=first_row, default_payer=default_payer)
    except (OSError, pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
        raise InputError(problem.format(_first_line(exc)), file=str(path)) from exc
    if source != path:
        shutil.rmtree(source.parent, ignore_errors=True)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _is_x12(path: Path) -> bool:
    return path.suffix.lower() in X12_SUFFIXES or (path.suffix.lower() not in TABLE_SUFFIXES and _looks_like_x12(path))


def _resolve_payers(table: ClaimTable, profiles: _Profiles, payers: dict[str, PayerProfile],
                    source: str) -> tuple[ClaimTable, list[InputError]]:
    """A payer id without a profile (not a plain name, a broken profile file) rejects its rows, as in check."""
    errors: list[InputError] = []
    bad: list[str] = []
    unchecked = pl.repeat(False, table.lines.height, eager=True)
    for key in table.lines.get_column("payer").unique(maintain_order=True).to_list():
        try:
            payers[key] = profiles.get(key)
        except InputError as exc:
            bad.append(key)
            at = payer_rows(table.lines, table.encounters, key) & ~unchecked  # each row rejected once
            unchecked = unchecked | at
            own = table.lines.get_column("payer").eq_missing(key)
            for row, its_own in zip(table.line_rows.filter(at), own.filter(at), strict=True):
                reason = exc.message if its_own else f"its claim's payer (on the claim's first row): {exc.message}"
                errors.append(InputError(reason, file=source, row=int(row), field="payer"))
    if not bad:
        return table, errors
    keep = ~pl.col("payer").is_in(bad)
    kept_rows = table.line_rows.filter(~unchecked)
    table.lines = table.lines.filter(~unchecked)
    table.rows_rejected += int(unchecked.sum())
    table.encounter_rows = table.encounter_rows.filter(table.encounters.select(keep.fill_null(False)).to_series())
    table.encounters = table.encounters.filter(keep)
    table.line_rows = kept_rows
    return table, errors


def audit(paths: Sequence[str | Path], out: str | Path, *, as_of: dt.date | None = None, payer: str | None = None,
          payers_dir: Path | None = None, selection: RuleSelection | None = None, progress: Progress | None = None,
          partition_rows: int = PARTITION_ROWS, engine: str = "polars", master: str | None = None) -> AuditResult:
    """Audit claim-line tables and 837P files into ``out`` (findings.parquet, summary.json, rejected.parquet,
    providers.parquet and report.html). Never raises for bad input: unreadable files and rejected rows are in
    ``errors`` and rejected.parquet, and everything else is audited. ``engine`` "spark" runs pass 2 in Spark
    (``master``: a Spark master URL, default the session's own or local[*])."""
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}", field="engine")
    as_of = as_of or dt.date.today()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _payer_option(payer, payers_dir)
    profiles = _Profiles(payers_dir)
    files, errors = audit_inputs([Path(p) for p in paths], out)
    tables = [f for f in files if not _is_x12(f)]
    x12 = [f for f in files if _is_x12(f)]
    sizes = [_estimated_rows(f) for f in tables]
    total = sum(sizes)
    partitions = max(1, math.ceil(total / max(1, partition_rows)))
    stats = ProviderStats()
    pricer = _Pricer()
    # cloned-note compares a provider's notes across patients, whom the partitions separate: it runs once over
    # every partition's notes after pass 2 instead of inside each partition
    chosen = selection or RuleSelection()
    clones = get_rule("cloned-note")
    compare_notes = chosen.enabled(clones)
    selection = replace(chosen, ignore=chosen.ignore | {clones.slug})
    held = total <= IN_MEMORY_ROWS
    spark = None
    if engine == "spark":
        from cleanclaim.audit import spark as spark_engine

        # before any work (the inputs were only listed and their sizes read): a missing pyspark fails here. The
        # session starts in the background while pass 1 runs; a JVM that cannot start raises its error where pass 2
        # needs the session, and the finally stops it. The partitions are the Polars engine's, not one per core at
        # least: findings.parquet is written partition by partition, so another count would order it otherwise
        spark = spark_engine.Engine(master)
    # the scratch folder: from here on, removed whatever happens (below)
    try:
        writer = _Writer(out, partitions, in_memory=held, spark=spark is not None)
    except BaseException:  # no scratch folder (out not writable): the session starting in the background is stopped
        if spark is not None:
            spark.close()
        raise
    rejected: list[pl.DataFrame] = [_rejected_rows(errors, "")]  # paths not found, folders with nothing to audit
    notes: list[InputError] = []
    failures: list[Failure] = []
    payers: dict[str, PayerProfile] = {}
    counts = {"rows_read": 0, "rows_rejected": 0, "encounters": 0, "lines": 0}
    at_risk = Decimal(0)
    carried: set[str] = set()
    minutes_carried = [True]
    done = 0

    def fold(checked: PartitionChecked) -> None:
        nonlocal at_risk
        if checked.clashes:
            errors.extend(checked.clashes)
            rejected.append(_rejected_rows(checked.clashes, ""))
            counts["rows_rejected"] += len(checked.clashes)
        failures.extend(checked.failures)
        at_risk += checked.risk
        counts["encounters"] += checked.encounters
        counts["lines"] += checked.lines
        stats.fold(checked.counts, checked.drivers)

    def spill(table: ClaimTable, source: str, name: str, file_index: int) -> None:
        nonlocal done
        if payer:
            table.lines = table.lines.with_columns(pl.lit(payer).alias("payer"))
            table.encounters = table.encounters.with_columns(pl.lit(payer).alias("payer"))
        table, payer_errors = _resolve_payers(table, profiles, payers, source)
        row_errors = [*table.errors, *payer_errors]
        errors.extend(row_errors)
        rejected.append(_rejected_rows(row_errors, source))
        notes.extend(table.notes)
        counts["rows_read"] += table.rows_read
        counts["rows_rejected"] += table.rows_rejected
        carried.update(table.carried)
        minutes_carried[0] = minutes_carried[0] and table.minutes_carried
        writer.spill(table, source, name, file_index)
        if progress is not None:
            done += table.rows_read // 2
            progress(min(done, total), total)

    try:
        # pass 1: read and validate each table (a slice of whole encounters at a time), spill its accepted lines
        # into partitions of patients; the next slice (or file) is read while one is spilled. An input small enough
        # to hold is read whole, a file at a time (one slice: no slicing through disk)
        slices = [1 if held else max(1, math.ceil(size / max(1, partition_rows))) for size in sizes]
        for index, path, part, table in _read_ahead(_tables_read(tables, slices, payer or "medicare", writer.root)):
            if isinstance(table, InputError):  # the file is named in rejected.parquet; the other files are audited
                errors.append(table)
                rejected.append(_rejected_rows([table], str(path)))
            else:
                spill(table, str(path), f"{index:06d}-{part:06d}", index)  # names in input order
        writer.close()
        notes = list({str(note): note for note in notes}.values())  # a file's slices say one note once
        # pass 2: the rule engine of check over each partition, here or in Spark
        check_partition = PartitionCheck(payers, as_of, selection, frozenset(carried), minutes_carried[0])
        if spark is not None and writer.spilled is not None:
            findings, outcomes = spark.check_partitions(writer.spilled, check_partition)
            writer.more.append(findings)
            for checked in outcomes:
                fold(checked)
            if progress is not None:
                progress(total, total)

        def check_key(key: int) -> PartitionChecked | None:
            lines = writer.read("lines", key)
            encounters = writer.read("encounters", key)
            if lines is None or encounters is None:
                return None
            return check_partition(lines, encounters, pricer)

        for checked in _in_order(check_key, range(partitions if spark is None else 0), _partitions_at_once()):
            writer.findings_part(checked.findings)
            fold(checked)
            if progress is not None:
                done += checked.lines - checked.lines // 2
                progress(min(done, total), total)
        # the provider tests (mostly Python) run beside the rest (mostly Polars), once the 837P files are counted;
        # the report's template is compiled beside them, and its counts of the findings are taken from the tables
        # as held (`_write_outputs`) while the tests run
        with ThreadPoolExecutor(2, thread_name_prefix="cleanclaim-providers") as pool:
            tested = None if x12 else pool.submit(contextvars.copy_context().run, stats.result)
            pool.submit(template)
            if compare_notes:
                at_risk += _cloned_notes(writer, pricer, chosen)
            for path in x12:
                at_risk += _audit_x12(path, payer, as_of, payers_dir, selection, writer, pricer, stats, counts, errors,
                                      rejected, failures)
            if tested is None:
                tested = pool.submit(contextvars.copy_context().run, stats.result)
            result_summary, counted = _write_outputs(out, writer, rejected, counts, at_risk, files, as_of)
            providers = tested.result()
        outputs = [out / "findings.parquet", out / "summary.json", out / "rejected.parquet"]
        providers.write_parquet(out / "providers.parquet")
        outputs.append(out / "providers.parquet")
        # providers, not metrics: one provider flagged on three metrics is one provider to review (the report counts
        # the same way and shows any disagreement)
        result_summary["providers_flagged"] = providers.filter(pl.col("flagged")).get_column("provider").n_unique()
        (out / "summary.json").write_text(json.dumps(result_summary, indent=2) + "\n", encoding="utf-8")
        outputs.append(write_report(out, counted=counted, providers=providers))
    finally:
        if spark is not None:
            spark.close()
        writer.close()
        shutil.rmtree(writer.root, ignore_errors=True)
    return AuditResult(out, result_summary, errors, failures, notes, outputs)


def _tables_read(tables: Sequence[Path], slices: Sequence[int], default_payer: str,
                 scratch: Path) -> Iterator[tuple[int, Path, int, ClaimTable | InputError]]:
    """Each table's slices in turn as (file index, path, slice number, slice), and a table that cannot be read as
    its error, after the slices it gave (one iterator over every file, for `_read_ahead`)."""
    for index, path in enumerate(tables):
        try:
            for part, table in enumerate(_read_slices(path, slices[index], default_payer, scratch)):
                yield index, path, part, table
        except InputError as exc:
            yield index, path, -1, exc


_T = TypeVar("_T")
_END = object()


def _read_ahead(items: Iterator[_T]) -> Iterator[_T]:
    """``items`` in order, each next one computed in a thread while the caller uses the one before: reading and
    validating a slice (Polars, then the reader's Python) overlaps the spill of the one before it (Parquet writes).
    At most two items are alive at once. The iterator runs in a copy of the caller's context variables."""
    context = contextvars.copy_context()

    def step() -> object:
        return context.run(next, items, _END)

    with ThreadPoolExecutor(1, thread_name_prefix="cleanclaim-read") as pool:
        ahead = pool.submit(step)
        while (item := ahead.result()) is not _END:
            ahead = pool.submit(step)
            yield cast(_T, item)


def _partitions_at_once() -> int:
    """`PARTITIONS_AT_ONCE`, but one on a single core (where a second partition would only hold memory): the cores
    this process may run on (its affinity, as a container's cpuset or taskset sets it), not the machine's."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(PARTITIONS_AT_ONCE, cores))


def _in_order(check: Callable[[int], PartitionChecked | None], keys: range,
              at_once: int) -> Iterator[PartitionChecked]:
    """Each key's result (those not None) in key order, up to ``at_once`` keys checked at the same time in threads:
    findings.parquet and the folded statistics are then the same rows in the same order as one partition at a time.

    No more than ``at_once`` run at once (each holds a partition's working set). A key that finishes before an
    earlier one is kept until that one is handed back, and the next key starts at once, so a slow partition does
    not leave a core idle; at most ``at_once`` finished results wait like this (they are small beside a working
    set). While the caller writes one result, the next keys' rules run. Each key runs in a copy of the caller's
    context variables, as in the caller's thread."""
    if at_once <= 1 or len(keys) <= 1:
        yield from (checked for key in keys if (checked := check(key)) is not None)
        return
    waiting = iter(keys)
    with ThreadPoolExecutor(at_once, thread_name_prefix="cleanclaim-partition") as pool:
        pending: deque[Future[PartitionChecked | None]] = deque()  # in key order
        try:
            while True:
                while (len(pending) < 2 * at_once and sum(not f.done() for f in pending) < at_once
                       and (key := next(waiting, None)) is not None):
                    pending.append(pool.submit(contextvars.copy_context().run, check, key))
                if not pending:
                    return
                if pending[0].done():
                    if (checked := pending.popleft().result()) is not None:
                        yield checked
                else:
                    wait([f for f in pending if not f.done()], return_when=FIRST_COMPLETED)
        finally:  # a partition that raised (or a consumer that stopped): start no more
            for future in pending:
                future.cancel()


def _cloned_notes(writer: _Writer, pricer: _Pricer, selection: RuleSelection) -> Decimal:
    """cloned-note over the notes of every partition at once (a claim-line table carries them in its optional
    ``note`` column), its findings enriched partition by partition as pass 2's are; the dollars they put at risk.
    Only the partitions with a note are read (`_Writer.noted`), their encounters with a note, and those partitions
    again only when a note was flagged."""
    noted = sorted(writer.noted)  # in partition order, as pass 2 writes its findings
    notes = [record for key in noted for record in note_records(_noted_encounters(writer, key))]
    if len(notes) < 2:
        return Decimal(0)
    rule = get_rule("cloned-note")
    found = finding_frame(rule, flagged_rows(notes), selection.severity_of(rule)).collect()
    risk = Decimal(0)
    for key in noted if found.height else []:
        lines, encounters = writer.read("lines", key), writer.read("encounters", key)
        if lines is None or encounters is None:
            continue
        part = found.filter(pl.col("encounter").is_in(encounters.get_column("encounter_id").implode()))
        if part.height:
            enriched, part_risk = _enrich(part, lines.drop(*_ORDER), encounters.drop(*_ORDER), pricer)
            writer.findings_part(enriched)
            risk += part_risk
    return risk


def _noted_encounters(writer: _Writer, key: int) -> pl.DataFrame:
    """The encounters of a partition that have a note, in input order, with the columns `note_records` reads."""
    columns = ["encounter_id", "patient_id", "provider_npi", "note", "date", "patient_first_name", "patient_last_name"]
    scans = writer.scans("encounters", key)
    if not scans:
        return pl.DataFrame(schema={name: pl.Date if name == "date" else pl.String for name in columns})
    return (pl.concat(scans, how="diagonal_relaxed").select(*columns, *_ORDER).filter(pl.col("note").is_not_null())
            .sort(*_ORDER).drop(*_ORDER).collect())


def _audit_x12(path: Path, payer: str | None, as_of: dt.date, payers_dir: Path | None,
               selection: RuleSelection | None, writer: _Writer, pricer: _Pricer, stats: ProviderStats,
               counts: dict[str, int], errors: list[InputError], rejected: list[pl.DataFrame],
               failures: list[Failure]) -> Decimal:
    """An 837P checked whole by ``check``; its unreadable claims are rejected with the file and the reader's place."""
    result = check(path, payer=payer, as_of=as_of, payers_dir=payers_dir, selection=selection)
    errors.extend(result.errors)
    failures.extend(result.failures)
    rejected.append(_rejected_rows(result.errors, str(path)))
    try:
        lines, claims = _x12_lines(path, payer)
    except InputError:  # the file's errors are already reported by check
        lines, claims = _x12_lines_empty()
    unread = _x12_rejected(result.errors)
    counts["rows_read"] += lines.height + unread
    counts["rows_rejected"] += unread
    counts["encounters"] += result.summary.encounters
    counts["lines"] += result.summary.lines
    enriched, risk = _enrich(result.table, lines, claims, pricer)
    enriched = enriched.with_columns(pl.col(_FILE).fill_null(str(path)))  # the file's own (envelope) findings too
    writer.findings_part(enriched)
    stats.add(lines.select(PROVIDER_LINE_COLUMNS), enriched)
    return risk


def _x12_rejected(errors: Iterable[InputError]) -> int:
    """The rows an 837P's reader rejected, for rows read = rows checked + rows rejected: one per claim it could not
    read (however many of its segments are wrong; its service lines cannot be counted, since the claim was not
    read), and one per other part of the file it skipped (a damaged loop, a transaction that is not an 837P). A
    file that cannot be read at all has no rows, as for a table."""
    claims = {e.encounter for e in errors if e.encounter}
    skipped = sum(1 for e in errors if not e.encounter and (e.segment or e.line is not None))
    return len(claims) + skipped


def _x12_lines_empty() -> tuple[pl.DataFrame, pl.DataFrame]:
    return pl.DataFrame(schema=_X12_LINES), pl.DataFrame(schema=_X12_CLAIMS)


def _write_outputs(out: Path, writer: _Writer, rejected: list[pl.DataFrame], counts: dict[str, int],
                   at_risk: Decimal, files: list[Path], as_of: dt.date) -> tuple[dict[str, Any], Tally]:
    """findings.parquet and rejected.parquet, the summary (its findings counted from the findings as held, not read
    back from the file just written), and the report's tally of the same tables (`cleanclaim.audit.report.tally`)."""
    findings = writer.findings()
    findings.sink_parquet(out / "findings.parquet")
    table = pl.concat(rejected) if rejected else pl.DataFrame(schema=REJECTED_SCHEMA)
    table = table.sort("file", "row", "column", nulls_last=True)
    table.write_parquet(out / "rejected.parquet")
    by_rule_table, by_severity_table = pl.collect_all([findings.group_by("rule").len().sort("rule"),
                                                       findings.group_by("severity").len()])
    by_rule = dict(by_rule_table.iter_rows())
    by_severity = {"error": 0, "warning": 0, "info": 0}
    by_severity.update(dict(by_severity_table.iter_rows()))
    summary = {
        "rows_read": counts["rows_read"],
        "rows_checked": counts["rows_read"] - counts["rows_rejected"],
        "rows_rejected": counts["rows_rejected"],
        "encounters": counts["encounters"],
        "lines": counts["lines"],
        "findings": {"by_rule": by_rule, "by_severity": by_severity},
        "dollars_at_risk": f"{at_risk:.2f}",
        "providers_flagged": 0,
        "files": [str(f) for f in files],
        "as_of": as_of.isoformat(),
        "cleanclaim_version": cleanclaim.__version__,
    }
    return summary, tally(findings, table.lazy())
