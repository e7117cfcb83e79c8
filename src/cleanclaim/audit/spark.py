"""Pass 2 of ``cleanclaim audit`` inside Apache Spark (``--engine spark``): the same partitions of patients, each
through the same `cleanclaim.audit.run.PartitionCheck` (check's one rule engine, the pricing, the provider
statistics), so that an audit too large for one machine runs on a Spark cluster without a second implementation of
any rule (DESIGN.md, "One implementation per rule"; docs/spark.md says how to run it on a cluster).

How: pass 1 (reading and validating the inputs, the same for both engines) spills each partition of patients into
one Parquet file (`SpilledPartitions`): a row per claim, with the claim's lines nested in it as a list of structs.
Spark reads the files with the schema given (no inference job), one file per task (`_one_file_per_task`), and
hands each task's Arrow batches to `PartitionCheck` through ``mapInArrow``: no shuffle, no sort and no cogroup in
the JVM (1M lines: the job's tasks spend ~8.2 s of JVM CPU, where the cogroup's three stages spent ~10.7 s and the
schema inference 0.5 s more). A task returns its findings rows plus one row per partition carrying the rest of its
outcome (dollars at risk, rejected rows, failures, provider statistics) pickled in a binary column, with the line
and claim counts it received; Spark writes that table as Parquet. The driver checks that each partition's outcome
arrived exactly once with the counts pass 1 spilled (else the audit fails, rather than report wrong findings),
streams the findings rows into findings.parquet in partition order and folds the outcome rows (a few KiB per
partition) into summary.json, providers.parquet and the report exactly as the Polars engine does.

Spark's conversion for ``mapInArrow`` costs per value read, nulls included, so it is not asked to read what the
worker can put back (`SpilledPartitions.read_schema`): columns null in every row, line columns equal to their claim's
on every line, and the input file's path (1M lines: the job's JVM CPU ~8.1 -> ~5.1 s).

pyspark is an optional dependency (``cleanclaim[spark]``) and needs Java 17+; it is imported only here.
"""

from __future__ import annotations

import os
import pickle
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from cleanclaim.audit import localjvm
from cleanclaim.errors import CleanclaimError, InputError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from cleanclaim.audit.run import PartitionCheck, PartitionChecked

__all__ = ["Engine", "SpilledPartitions", "spark_session"]

OUTCOME = "__outcome"
"""The binary column of a partition's outcome row (null on finding rows)."""
KEY = "__p"
"""The partition of patients a spilled row (and a finding row of Spark's output) belongs to."""
KINDS = ("lines", "encounters")
NO_PYSPARK = "the Spark engine needs pyspark: pip install 'cleanclaim[spark]' (and Java 17 or later)"
"""The input error of an audit on Spark where pyspark is not installed (`spark_session` and `Engine` import it)."""
ONE_FILE = str(1 << 40)
"""``spark.sql.files.maxPartitionBytes`` and ``openCostInBytes`` while Spark reads the spilled files (1 TiB): a file
is never split, and a file counted as costing 1 TiB to open fills a task's split alone."""


def spark_session(master: str | None = None, *, app_name: str = "cleanclaim audit") -> SparkSession:
    """The active Spark session, or a new one on ``master`` (default: spark-submit's master, else local[*]).

    The Python workers must run this interpreter (it has cleanclaim and its dependencies), hence PYSPARK_PYTHON,
    unless the caller set it already (a cluster ships its own environment: docs/spark.md). A local master's JVM
    gets the options of `localjvm` (a faster start); a cluster's JVM options are the user's. With no ``master``, the
session is local only if spark-submit finds no master either (`localjvm.submitted`): a driver on a cluster given
SPARK_LOCAL_IP=127.0.0.1 would bind to loopback and tell the cluster its host is localhost."""
    try:
        from pyspark import SparkContext
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise InputError(NO_PYSPARK, field="engine") from exc
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    local = localjvm.submitted().local(master)
    # pyspark launches one JVM per process, the first time: later sessions (and spark-submit's) reuse it
    launching = SparkContext._gateway is None and "PYSPARK_GATEWAY_PORT" not in os.environ
    java = localjvm.local_java_options() if local and launching else localjvm.JavaOptions(localjvm.BASE_OPTIONS)
    if local:
        # one machine: no web UI to serve, and no console progress bar drawn over the audit's own
        builder = builder.config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
    try:
        try:
            with _local_address(local and launching):
                session = _started(builder, java if local else None)
        except Exception:
            if java.archive is None and java.dumping is None:
                raise
            localjvm.discard(java)  # whatever broke the start, it will not be the archive again
            _forget_dead_gateway(SparkContext)
            with _local_address(local and launching):
                session = _started(builder, localjvm.JavaOptions(localjvm.BASE_OPTIONS))
    except Exception as exc:  # the JVM could not start (no Java, a bad master URL): say so, not a Py4J trace
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"cannot start Spark (master {master or 'default'}): {first}", field="master") from exc
    return session


def _forget_dead_gateway(context: Any) -> None:
    """A JVM that died after pyspark connected to it stays pyspark's gateway for the process, and every later
    session would be tried on it: forgotten, the next session launches a JVM of its own."""
    gateway = context._gateway
    proc = getattr(gateway, "proc", None) if gateway is not None else None
    if proc is not None and proc.poll() is not None:
        context._gateway = None
        context._jvm = None


def _started(builder: Any, java: localjvm.JavaOptions | None) -> SparkSession:
    if java is not None and java.options:  # none: the caller's own (`localjvm.local_java_options`)
        builder = builder.config("spark.driver.extraJavaOptions", java.text)
    session: SparkSession = builder.getOrCreate()
    return session


@contextmanager
def _local_address(local: bool) -> Iterator[None]:
    """While a local session's JVM is launched, SPARK_LOCAL_IP=127.0.0.1 unless set: a local driver's RPC has no
    other host to reach, and Spark would otherwise resolve the machine's name and list its interfaces (warning,
    on most machines, that the name resolves to a loopback address). Put back afterwards: a cluster session
    started later in this process must not bind to loopback."""
    added = _launch_environ(local)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def _launch_environ(local: bool) -> list[str]:
    """The environment a JVM's launch is given (PYSPARK_PYTHON, and SPARK_LOCAL_IP for a ``local`` one), for
    `_local_address` and for `Engine`, which sets it before its launch thread starts: setting a variable (putenv)
    while pass 1's Polars threads read theirs (getenv) is a data race in the C library, where Python's and Rust's
    environment locks do not see each other. Returns the variables to remove once the launch is over
    (SPARK_LOCAL_IP); PYSPARK_PYTHON stays."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if not local or "SPARK_LOCAL_IP" in os.environ:
        return []
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    return ["SPARK_LOCAL_IP"]


class Engine:
    """A Spark session for one audit: the active one when the caller has one (a notebook, a test module, a
    spark-submit job), else one started here and stopped by :meth:`close`.

    A session started here starts in a background thread while pass 1 (Polars, in this process) reads the inputs:
    starting the JVM is seconds of mostly JVM work, and pass 1 does not need it. pyspark's import is checked here,
    synchronously, so a missing pyspark fails before any work; a JVM that cannot start raises its `InputError` where
    the session is first needed (`session`)."""

    def __init__(self, master: str | None = None) -> None:
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:
            raise InputError(NO_PYSPARK, field="engine") from exc
        from pyspark import SparkContext

        self.master = master
        active = SparkSession.getActiveSession()
        if active is None and SparkContext._active_spark_context is not None:
            # the caller's context, started in another thread (a session is active per thread): theirs to stop
            active = SparkSession.builder.getOrCreate()
        self.owned = active is None
        self._started: Future[SparkSession] = Future()
        self._launch_environ: list[str] = []
        if active is not None:
            self._started.set_result(active)
        else:
            self._launch_environ = _launch_environ(localjvm.submitted().local(master))
            threading.Thread(target=self._start, name="cleanclaim-spark-start", daemon=True).start()

    def _start(self) -> None:
        try:
            self._started.set_result(spark_session(self.master))
        except BaseException as exc:  # handed to the thread that needs the session (`session`)
            self._started.set_exception(exc)

    @property
    def session(self) -> SparkSession:
        """The session, once started (waiting for it); the start's error (`spark_session`'s `InputError`) if it
        could not start."""
        try:
            return self._started.result()
        finally:
            self._restore_environ()

    def _restore_environ(self) -> None:
        """Removes what `_launch_environ` set, once the launch is over, from the audit's own thread."""
        for name in self._launch_environ:
            os.environ.pop(name, None)
        self._launch_environ = []

    def close(self) -> None:
        """Stops a session started here, once it has started (a JVM is never left running); one that could not
        start has nothing to stop."""
        if self.owned and self._started.exception() is None:
            self._started.result().stop()
        self._restore_environ()

    def check_partitions(self, spilled: SpilledPartitions,
                         check: PartitionCheck) -> tuple[pl.LazyFrame, list[PartitionChecked]]:
        """Every partition ``spilled`` through ``check`` in Spark: the findings (a scan of the Parquet Spark wrote,
        in the findings.parquet schema, in partition order) and each partition's outcome without its findings."""
        from pyspark.sql.pandas.types import from_arrow_schema

        from cleanclaim.audit.run import FINDINGS_ORDER, FINDINGS_SCHEMA

        self.session  # noqa: B018  # waits for the start (pyspark's functions need its context), or raises its error
        written = spilled.root.parent / "spark-findings"
        expected = spilled.expected()
        if not expected:
            return pl.LazyFrame(schema=FINDINGS_SCHEMA).select(FINDINGS_ORDER), []
        output = pa.schema([*_arrow_fields(FINDINGS_SCHEMA, FINDINGS_ORDER), pa.field(KEY, pa.int32()),
                            pa.field(OUTCOME, pa.binary())])
        schema = from_arrow_schema(_plain_schema(spilled.read_schema()))
        with _one_file_per_task(self.session):
            data = self.session.read.schema(schema).parquet(*[str(path) for path in spilled.files()])
            result = data.mapInArrow(_partition_function(check, spilled.kind_schemas(), output,
                                                         spilled.from_claim(), spilled.file_sources()),
                                     from_arrow_schema(output))
            result.write.mode("overwrite").parquet(str(written))
        return _gathered(written, expected, FINDINGS_ORDER, FINDINGS_SCHEMA)


@dataclass
class _File:
    """One partition's Parquet file being written: its open writer (``None`` once closed), its Arrow schema, and the
    segments a block that did not fit the schema started (merged into one file by `SpilledPartitions.close`)."""

    schema: pa.Schema
    writer: pq.ParquetWriter | None
    segments: list[Path] = field(default_factory=list)


class SpilledPartitions:
    """Pass 1's partitions of patients for Spark: one Parquet file per partition, a row per claim with its columns
    and its lines as a list of structs (`LINES`), so that Spark reads a partition as one task with no shuffle.

    Nested, not a union of both tables' columns: Spark's cost of turning Parquet into Arrow for ``mapInArrow`` goes
    with the values it converts, null or not, and a union's rows carry the other table's columns as nulls (1M
    lines: 2.2 s of JVM CPU per 250,000-line partition as a union, 1.4 s nested).

    A block of pass 1 is appended to its partition's open file as a row group (10M lines spill 40 blocks per
    partition: one file each, not 40). Every block after the first is cast to the file's schema; a block that cannot
    be (a column the file has not got, or of another type, as two input files with different extra columns give)
    starts a segment, and `close` merges a partition's segments into its one file as the Polars engine's reader
    reconciles parts (``diagonal_relaxed``). `close` also rewrites a file whose schema differs from the other
    files' (Spark reads every file with one schema). Both are rare and cost a rewrite of that partition only.

    The rows each partition received are counted here, so the driver can tell that every partition was checked
    once, whole."""

    def __init__(self, root: Path, *, max_open: int = 1 << 30) -> None:
        self.root = root / "partitions"
        self.root.mkdir(parents=True, exist_ok=True)
        self.columns: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
        """Each kind's columns and Polars types, in the order first spilled (the order the Polars engine's reader
        gives them), each type the supertype of those spilled."""
        self.rows: dict[int, list[int]] = {}
        """The lines and claims spilled into each partition."""
        self.filled: dict[str, set[str]] = {kind: set() for kind in KINDS}
        """Each kind's columns with a value in some row: the others Spark is not asked to read (`read_schema`)."""
        self.unlike_claim: set[str] = set()
        """The line columns seen differing from their claim's column of the same name (or with none to compare
        with): the others are read from the claim only (`from_claim`)."""
        self.sources: dict[int, str] | None = {}
        """Each input file's path (`SOURCE`, the same on every line of a file) by its index, or None once a file's
        lines were seen with two: Spark then reads it from each line (`file_sources`)."""
        self.open: dict[int, _File] = {}
        self.max_open = max_open
        self.writing: dict[int, None] = {}
        """The partitions whose file is open for writing, oldest first: at ``max_open`` the oldest is closed, and its
        partition's next block starts a segment (merged by `close`), so pass 1 never holds more files than the
        process may open (`cleanclaim.audit.run._open_file_budget`)."""
        self.closed = False

    def path(self, key: int, segment: int = 0) -> Path:
        return self.root / (f"{KEY}={key}.parquet" if segment == 0 else f"{KEY}={key}.{segment}.parquet")

    def add(self, key: int, lines: pl.DataFrame | None, encounters: pl.DataFrame | None) -> None:
        """A block's rows of partition ``key`` at the end of its file."""
        parts: list[pl.DataFrame | None] = []
        for index, (kind, part) in enumerate(zip(KINDS, (lines, encounters), strict=True)):
            if part is None or part.height == 0:
                parts.append(None)
                continue
            known = self.columns[kind]
            self.columns[kind] = (dict(pl.concat([pl.DataFrame(schema=known), part.clear()],
                                                 how="diagonal_relaxed").schema) if known else dict(part.schema))
            self.rows.setdefault(key, [0, 0])[index] += part.height
            # a column of nulls (Polars' Null type) in the type the others gave it: the file's, not a new segment
            parts.append(part.cast({name: self.columns[kind][name] for name, dtype in part.schema.items()
                                    if dtype == pl.Null}))
            self.filled[kind].update(name for name, nulls in zip(part.columns, part.null_count().row(0), strict=True)
                                     if nulls < part.height)
        if all(part is None for part in parts):
            return
        if parts[0] is not None:
            self._note_sources(parts[0])
        nested = _nested(key, parts[0], parts[1])
        self._compare_with_claims(nested, parts[0])
        table = nested.to_arrow()
        file = self.open.get(key)
        fitted = None if file is None or file.writer is None else _fitted(table, file.schema)
        if file is None or fitted is None:
            if file is not None and file.writer is not None:
                file.writer.close()
            self.writing.pop(key, None)
            if len(self.writing) >= self.max_open:
                oldest = next(iter(self.writing))
                writer = self.open[oldest].writer
                assert writer is not None
                writer.close()
                self.open[oldest].writer = None
                del self.writing[oldest]
            segment = self.path(key, len(file.segments) if file else 0)
            segments = [*(file.segments if file else []), segment]
            file = self.open[key] = _File(table.schema, pq.ParquetWriter(segment, table.schema, compression="none"),
                                          segments)
            self.writing[key] = None
            fitted = table
        assert file.writer is not None
        file.writer.write_table(fitted)

    def close(self) -> None:
        """The end of pass 1: every file closed (its footer written); a partition's segments merged into one file,
        and a file whose schema differs from the audit's (`schema`) rewritten in it."""
        if self.closed:
            return
        self.closed = True
        for file in self.open.values():
            if file.writer is not None:
                file.writer.close()
                file.writer = None
        if not self.open:  # nothing spilled (no accepted line, or pass 1 failed): nothing to reconcile
            return
        target = self._polars_schema()
        for key, file in self.open.items():
            if len(file.segments) == 1 and dict(pl.read_parquet_schema(file.segments[0])) == target:
                continue
            kinds = [pl.concat([_unnested(pl.scan_parquet(segment), kind, None).collect()
                                for segment in file.segments], how="diagonal_relaxed") for kind in KINDS]
            for segment in file.segments:
                segment.unlink()
            # a kind a partition has no rows of (lines whose claim was not spilled) has none of its columns either
            lines, encounters = (pl.concat([pl.DataFrame(schema=self.columns[kind]), frame], how="diagonal_relaxed")
                                 .select(list(self.columns[kind])).cast(self.columns[kind])  # type: ignore[arg-type]
                                 for frame, kind in zip(kinds, KINDS, strict=True))
            _nested(key, lines, encounters).write_parquet(self.path(key), compression="uncompressed")
            file.segments = [self.path(key)]

    def _compare_with_claims(self, nested: pl.DataFrame, lines: pl.DataFrame | None) -> None:
        """Adds to `unlike_claim` the line columns of a block with a line whose value is not its claim's (the
        claim in its nested row; a line without a claim compares with nulls)."""
        if lines is None:
            return
        kind = nested.schema.get(LINES)
        inner = kind.inner if isinstance(kind, pl.List) else None
        fields = {f.name: f.dtype for f in inner.fields} if isinstance(inner, pl.Struct) else {}
        candidates = [name for name, dtype in fields.items() if name not in self.unlike_claim
                      and nested.schema.get(name) == dtype]
        self.unlike_claim.update(name for name in lines.columns if name not in candidates)
        if not candidates:
            return
        exploded = nested.select(*candidates, pl.col(LINES).alias("__line")).explode("__line")
        same = exploded.select(pl.col(name).eq_missing(pl.col("__line").struct.field(name)).all()
                               for name in candidates).row(0)
        self.unlike_claim.update(name for name, alike in zip(candidates, same, strict=True) if not alike)

    def _note_sources(self, lines: pl.DataFrame) -> None:
        if self.sources is None or SOURCE not in lines.columns or lines.schema[SOURCE] != pl.String:
            self.sources = None
            return
        pairs = lines.select("__file_index", SOURCE).unique()
        for index, source in pairs.iter_rows():
            if self.sources.setdefault(index, source) != source or source is None:
                self.sources = None
                return

    def file_sources(self) -> dict[int, str] | None:
        """Each input file's path by its index when `SOURCE` is one path per input file (as pass 1 writes it):
        Spark then does not read it from every line, and the partition function puts it back from this table
        (`_with_sources`)."""
        return self.sources if self.sources and self.columns["lines"].get(SOURCE) == pl.String else None

    def from_claim(self) -> tuple[str, ...]:
        """The line columns Spark reads from each line's claim only: equal to the claim's column of the same name
        on every line spilled (a claim's payer, place of service, patient and provider repeated on its lines), so
        the partition function puts them back from the claim (`_unnested`)."""
        return tuple(name for name in self.columns["lines"] if name not in self.unlike_claim
                     and name not in {*_CLAIM_KEYS, "__file_row"} and name in self.filled["lines"]
                     and name in self.filled["encounters"])

    def _polars_schema(self) -> dict[str, Any]:
        lines, encounters = (pl.DataFrame(schema=self.columns[kind]) for kind in KINDS)
        return dict(_nested(0, lines, encounters).schema)

    def schema(self) -> pa.Schema:
        """The schema Spark reads every file with."""
        return pl.DataFrame(schema=self._polars_schema()).to_arrow().schema

    def read_schema(self) -> pa.Schema:
        """`schema` without the columns null in every row spilled, claim columns and line fields alike: Spark's
        Parquet reader reads only the columns (and the struct fields) asked for, and its cost of turning Parquet
        into Arrow for ``mapInArrow`` goes with the values it converts, nulls included. The partition function puts
        them back as typed nulls (`_as_spilled`), so the check gets every column."""
        schema = self.schema()
        kept = {KEY, CLAIM, LINES, *_CLAIM_KEYS, "__file_row"}  # what ties and orders the rows: always read
        from_claim = set(self.from_claim()) | ({SOURCE} if self.file_sources() is not None else set())
        fields = []
        for column in schema:
            if column.name == LINES:
                inner = column.type.value_type if pa.types.is_list(column.type) or pa.types.is_large_list(
                    column.type) else None
                if inner is not None and pa.types.is_struct(inner):
                    struct = pa.struct([f for f in inner if f.name in kept or (f.name in self.filled["lines"]
                                        and f.name not in from_claim)])
                    column = pa.field(column.name, pa.large_list(struct) if pa.types.is_large_list(column.type)
                                      else pa.list_(struct))
                fields.append(column)
            elif column.name in kept or column.name in self.filled["encounters"]:
                fields.append(column)
        return pa.schema(fields)

    def kind_schemas(self) -> tuple[dict[str, Any], dict[str, Any]]:
        lines, encounters = (self.columns[kind] for kind in KINDS)
        return lines, encounters

    def files(self) -> list[Path]:
        return [file.segments[0] for _, file in sorted(self.open.items())]

    def expected(self) -> dict[int, tuple[int, int]]:
        """Every partition spilled and its counts: each comes back from Spark with the rows it was given, and one
        without lines or without claims is then left unchecked, as the Polars engine leaves it."""
        return dict(sorted((key, (lines, encounters)) for key, (lines, encounters) in self.rows.items()))

    def scans(self, kind: str, key: int) -> list[pl.LazyFrame]:
        """A partition's rows of one kind, with that kind's columns (those its file has)."""
        file = self.open.get(key)
        if file is None or self.rows[key][KINDS.index(kind)] == 0:
            return []
        return [_unnested(pl.scan_parquet(path), kind, self.columns[kind]) for path in file.segments]


CLAIM = "__claim"
"""Whether a spilled row has a claim: a block's lines whose claim is not in the block (none, as pass 1 reads whole
claims) would have a row of their own, with this false."""
LINES = "__lines"
"""The list of a claim's lines (structs of the line columns but ``encounter_id``)."""


SOURCE = "source_file"
"""The line column naming the input file a line came from."""
_CLAIM_KEYS = ("encounter_id", "__file_index")
"""What ties a line to its claim: an encounter id can be in two files (the later file's claim is rejected by the
check, `run._one_claim_per_id`, which must see both)."""


def _nested(key: int, lines: pl.DataFrame | None, encounters: pl.DataFrame | None) -> pl.DataFrame:
    """A partition's rows as spilled: a row per claim, with its lines in `LINES` in their order."""
    if lines is None:
        lines = pl.DataFrame(schema={"encounter_id": pl.String, "__file_index": pl.Int64})
    if encounters is None:
        encounters = pl.DataFrame(schema={"encounter_id": pl.String, "__file_index": pl.Int64})
    keys = [name for name in _CLAIM_KEYS if name in lines.columns and name in encounters.columns]
    inner = [name for name in lines.columns if name not in keys]
    nested = lines.group_by(keys, maintain_order=True).agg(
        pl.struct(inner).alias(LINES) if inner else pl.lit(None).alias(LINES))
    return (encounters.with_columns(pl.lit(True).alias(CLAIM))
            .join(nested, on=keys, how="full", coalesce=True, maintain_order="left_right")
            .select(pl.lit(key, pl.Int32).alias(KEY), pl.col(CLAIM).fill_null(False), pl.exclude(CLAIM)))


def _unnested(frame: pl.LazyFrame, kind: str, columns: dict[str, Any] | None,
              from_claim: tuple[str, ...] = ()) -> pl.LazyFrame:
    """A kind's rows out of spilled rows (`_nested`), with ``columns`` (those the rows have), or all of them; the
    line columns ``from_claim`` (not in the rows' lines: `SpilledPartitions.from_claim`) taken from their claims."""
    names = frame.collect_schema().names()
    if kind == "encounters":
        rows = frame.filter(pl.col(CLAIM)).drop(KEY, CLAIM, LINES, strict=False)
    else:
        keys = [name for name in _CLAIM_KEYS if name in names]
        rows = (frame.select(*keys, *from_claim, LINES).filter(pl.col(LINES).is_not_null()).explode(LINES).unnest(LINES)
                if LINES in names else pl.LazyFrame(schema=dict.fromkeys(keys, pl.String)))
    if columns is None:
        return rows
    present = rows.collect_schema().names()
    return rows.select([name for name in columns if name in present])


def _fitted(table: pa.Table, schema: pa.Schema) -> pa.Table | None:
    """``table`` with ``schema``'s columns, or None if their names or types differ (a column of nulls takes the
    file's type)."""
    if table.schema.names != schema.names:
        return None
    columns = []
    for column, target in zip(table.columns, schema, strict=True):
        if column.type == target.type:
            columns.append(column)
        elif pa.types.is_null(column.type):
            columns.append(pa.nulls(table.num_rows, target.type))
        else:
            return None
    return pa.table(columns, schema=schema)


def _plain_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with Polars' large and view strings and lists as the plain types Spark's converters take."""
    return pa.schema([pa.field(f.name, _plain(f.type)) for f in schema])


def _plain(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return pa.string()
    if pa.types.is_large_list(kind) or pa.types.is_list(kind) or pa.types.is_list_view(kind):
        return pa.list_(_plain(kind.value_type))
    if pa.types.is_struct(kind):
        return pa.struct([pa.field(f.name, _plain(f.type)) for f in kind])
    return kind


_SETTINGS = {"spark.sql.files.maxPartitionBytes": ONE_FILE, "spark.sql.files.openCostInBytes": ONE_FILE}
"""The session settings of pass 2's one Spark job (`_one_file_per_task`)."""


@contextmanager
def _one_file_per_task(session: SparkSession) -> Iterator[None]:
    """Each spilled file read whole by a task of its own (`ONE_FILE`); the session's own settings are put back
    afterwards. Not relied on alone: a task checks each partition it was given separately, and the driver fails the
    audit if a partition was split over tasks (`_gathered`)."""
    wanted = dict(_SETTINGS)
    before = {name: session.conf.get(name, None) for name in wanted}
    for name, value in wanted.items():
        session.conf.set(name, value)
    try:
        yield
    finally:
        for name, old in before.items():
            if old is None:
                session.conf.unset(name)
            else:
                session.conf.set(name, old)


def _arrow_fields(schema: dict[str, Any], order: tuple[str, ...]) -> list[pa.Field]:
    """Arrow fields Spark reads back as the findings' types (plain strings and lists, not Polars' large ones)."""
    empty = pl.DataFrame(schema=schema).select(order).to_arrow()
    return [pa.field(f.name, _plain(f.type)) for f in empty.schema]


def _partition_function(check: PartitionCheck, schemas: tuple[dict[str, Any], dict[str, Any]],
                        output: pa.Schema, from_claim: tuple[str, ...] = (),
                        sources: dict[int, str] | None = None) -> Any:
    """The function Spark calls once per task with its rows (in a Python worker): each partition among them checked
    alone, in key order; its findings rows, then its outcome row with the rows it was given."""
    line_schema, encounter_schema = schemas

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from cleanclaim.audit.run import _ORDER, _Pricer

        received = list(batches)
        if not received or not any(batch.num_rows for batch in received):
            return
        frame = pl.from_arrow(pa.Table.from_batches(received))
        del received
        assert isinstance(frame, pl.DataFrame)
        keys = frame.get_column(KEY).unique().sort().to_list()
        parts = ({keys[0]: frame} if len(keys) == 1 else  # two files in one task: each partition checked alone
                 {group[0]: rows for group, rows in frame.partition_by(KEY, as_dict=True).items()})
        del frame
        pricer = _Pricer()
        for key in keys:
            part = parts.pop(key).lazy()
            lines = _with_sources(_unnested(part, "lines", line_schema, from_claim).collect(), sources)
            encounters = _unnested(part, "encounters", encounter_schema).collect()
            outcome = None
            findings = pa.Table.from_arrays([pa.nulls(0, kind) for kind in output.types], schema=output)
            if lines.height and encounters.height:
                checked = check(_as_spilled(lines, line_schema).sort(*_ORDER),
                                _as_spilled(encounters, encounter_schema).sort(*_ORDER), pricer)
                outcome = replace(checked, findings=checked.findings.clear(),
                                  failures=[replace(f, exception=None) for f in checked.failures])
                found = checked.findings.to_arrow()
                findings = pa.table({**{name: found.column(name) for name in output.names[:-2]},
                                     KEY: _int32(key, found.num_rows),
                                     OUTCOME: pa.nulls(found.num_rows, pa.binary())}).cast(output)
            blob = pickle.dumps((key, lines.height, encounters.height, outcome))
            row = pa.table({name: pa.nulls(1, output.field(name).type) for name in output.names[:-2]}
                           | {KEY: _int32(key, 1), OUTCOME: _binary(blob)})
            yield from findings.to_batches()
            yield from row.cast(output).to_batches()

    return run


def _with_sources(lines: pl.DataFrame, sources: dict[int, str] | None) -> pl.DataFrame:
    """``lines`` with `SOURCE` from the input files' paths by index (`SpilledPartitions.file_sources`), when Spark
    did not read it."""
    if sources is None or SOURCE in lines.columns:
        return lines
    return lines.with_columns(pl.col("__file_index").replace_strict(sources, return_dtype=pl.String).alias(SOURCE))


def _binary(value: bytes) -> pa.Array:
    """``value`` as a one-row Arrow binary array, made without pyarrow's conversion of Python objects: that
    (``pa.array``, ``Schema.empty_table``) imports pandas to ask whether its input is a pandas object, and in a
    Python worker that import was most of the first partition's extra cost (1.2 s of CPU under load, of 2.6 s)."""
    return pl.Series(OUTCOME, [value], pl.Binary).to_arrow().cast(pa.binary())


def _int32(value: int, rows: int) -> pa.Array:
    """``value`` repeated ``rows`` times as an Arrow int32 array, made without pyarrow's conversion of Python objects
    (`_binary` says why)."""
    return pl.repeat(value, rows, dtype=pl.Int32, eager=True).to_arrow()


def _as_spilled(frame: pl.DataFrame, schema: dict[str, Any]) -> pl.DataFrame:
    """``frame`` with ``schema``'s columns in its order and types; those Spark did not read (null in every row
    spilled, `SpilledPartitions.read_schema`) as nulls."""
    missing = [pl.lit(None, dtype).alias(name) for name, dtype in schema.items() if name not in frame.columns]
    return frame.with_columns(missing).select(list(schema)).cast(schema)  # type: ignore[arg-type]


def _gathered(written: Path, expected: dict[int, tuple[int, int]], order: tuple[str, ...],
              schema: dict[str, Any]) -> tuple[pl.LazyFrame, list[PartitionChecked]]:
    """The findings Spark wrote, in partition order, and the partitions' outcomes, once each partition is known to
    have been checked once, whole (the rows pass 1 spilled into it): a partition split over two tasks would give
    each half's findings, wrong ones, so it fails the audit instead."""
    files = sorted(written.glob("*.parquet"))
    rows = (pl.scan_parquet(files, include_file_paths="__file").filter(pl.col(OUTCOME).is_not_null())
            .select(OUTCOME, "__file").collect()) if files else pl.DataFrame(schema={OUTCOME: pl.Binary,
                                                                                     "__file": pl.String})
    got: dict[int, tuple[int, int]] = {}
    outcomes: dict[int, PartitionChecked] = {}
    where: dict[str, list[int]] = {}
    problems = []
    for blob, path in rows.iter_rows():
        key, lines, encounters, outcome = pickle.loads(blob)  # written by this audit's own workers
        if key in got:
            problems.append(f"partition {key} was checked in more than one task")
        got[key] = (lines, encounters)
        where.setdefault(path, []).append(key)
        if outcome is not None:
            outcomes[key] = outcome
    problems += [f"partition {key} was given {got.get(key, (0, 0))[0]} of its {lines} lines and "
                 f"{got.get(key, (0, 0))[1]} of its {encounters} claims"
                 for key, (lines, encounters) in expected.items() if got.get(key) != (lines, encounters)]
    problems += [f"partition {key} was not spilled by pass 1" for key in got if key not in expected]
    if problems:
        raise CleanclaimError("the Spark engine did not check each partition of patients once, whole: "
                              + "; ".join(problems[:5]))
    # each task's output holds its partitions in key order: files in the order of their first key are in key
    # order unless a task held keys around another task's (never with one file per task), then sorted
    ranked = sorted(where.items(), key=lambda item: item[1][0])
    keys = [key for _, held in ranked for key in held]
    findings = pl.scan_parquet([path for path, _ in ranked]) if ranked else pl.LazyFrame(schema=schema)
    if keys != sorted(keys):
        findings = findings.sort(KEY, maintain_order=True)
    findings = findings.filter(pl.col(OUTCOME).is_null()).select(order).cast(schema)  # type: ignore[arg-type]
    return findings, [outcomes[key] for key in sorted(outcomes)]
