"""Pass 2 of ``cleanclaim audit`` inside Apache Spark (``--engine spark``): the same partitions of patients, each
through the same `cleanclaim.audit.run.PartitionCheck` (check's one rule engine, the pricing, the provider
statistics), so that an audit too large for one machine runs on a Spark cluster without a second implementation of
any rule (DESIGN.md, "One implementation per rule"; docs/spark.md says how to run it on a cluster).

How: pass 1 (reading and validating the inputs, the same for both engines) spills each partition's lines and
claims as a Hive-partitioned Parquet dataset (``lines/p=K``, ``encounters/p=K``). Spark reads both, cogroups them by
``p`` and hands each group to `PartitionCheck` through ``applyInArrow`` (Arrow tables in and out, converted to
Polars without a copy of the values through pandas). A group returns its findings rows plus one row carrying the
rest of its outcome (dollars at risk, rejected rows, failures, provider statistics) pickled in a binary column, so
one Spark job gives everything; Spark writes that table as Parquet, and the driver streams the findings rows into
findings.parquet and folds the outcome rows (a few KiB per partition) into summary.json, providers.parquet and the
report exactly as the Polars engine does.

pyspark is an optional dependency (``cleanclaim[spark]``) and needs Java 17+; it is imported only here.
"""

from __future__ import annotations

import os
import pickle
import re
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from cleanclaim.errors import InputError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from cleanclaim.audit.run import PartitionCheck, PartitionChecked

__all__ = ["Engine", "spark_partition", "spark_session"]

OUTCOME = "__outcome"
"""The binary column of a group's outcome row (null on finding rows)."""
KEY = "p"
"""The partition key column, as Spark discovers it from the ``p=K`` folders of pass 1."""
TASK = "__task"
"""The column Spark groups by: the partition's label (`_task_column`)."""
_MASK = 0xFFFFFFFF


def spark_session(master: str | None = None, *, app_name: str = "cleanclaim audit") -> SparkSession:
    """The active Spark session, or a new one on ``master`` (default: spark-submit's master, else local[*]).

    The Python workers must run this interpreter (it has cleanclaim and its dependencies), hence PYSPARK_PYTHON,
    unless the caller set it already (a cluster ships its own environment: docs/spark.md)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise InputError("the Spark engine needs pyspark: pip install 'cleanclaim[spark]' (and Java 17 or later)",
                         field="engine") from exc
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    if (master or "local").startswith("local"):
        # one machine: no web UI to serve, and no console progress bar drawn over the audit's own
        builder = builder.config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
        # the JVM of a local session lives for one audit: its optimising (C2) compiler spent more CPU than it
        # saved (session start on 2 cores: ~10.5 s of JVM CPU with C2, ~5.8 s with C1 alone)
        builder = builder.config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1")
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # the JVM could not start (no Java, a bad master URL): say so, not a Py4J trace
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"cannot start Spark (master {master or 'default'}): {first}", field="master") from exc
    return session


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
            raise InputError("the Spark engine needs pyspark: pip install 'cleanclaim[spark]' (and Java 17 or "
                             "later)", field="engine") from exc
        self.master = master
        active = SparkSession.getActiveSession()
        self.owned = active is None
        self._started: Future[SparkSession] = Future()
        if active is not None:
            self._started.set_result(active)
        else:
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
        return self._started.result()

    @property
    def parallelism(self) -> int:
        """Spark's default parallelism, which pass 1 needs before the session it starts is up: a local master's
        task slots (`_local_cores`, what Spark's local backend reports), else the session's own (waiting for it).
        Always the former for a local session started here, so the partitions never depend on which came first."""
        cores = _local_cores(self.master) if self.owned else None
        return cores if cores is not None else int(self.session.sparkContext.defaultParallelism)

    def close(self) -> None:
        """Stops a session started here, once it has started (a JVM is never left running); one that could not
        start has nothing to stop."""
        if self.owned and self._started.exception() is None:
            self._started.result().stop()

    def check_partitions(self, root: Path, check: PartitionCheck) -> tuple[pl.LazyFrame, list[PartitionChecked]]:
        """Every partition spilled under ``root`` through ``check`` in Spark: the findings (a scan of the Parquet
        Spark wrote, in the findings.parquet schema) and each partition's outcome without its findings."""
        from pyspark.sql.pandas.types import from_arrow_schema

        from cleanclaim.audit.run import FINDINGS_ORDER, FINDINGS_SCHEMA

        self.session  # noqa: B018  # waits for the start (pyspark's functions need its context), or raises its error
        lines_path, encounters_path = root / "lines", root / "encounters"
        written = root / "spark-findings"
        output = pa.schema([*_arrow_fields(FINDINGS_SCHEMA, FINDINGS_ORDER), pa.field(OUTCOME, pa.binary())])
        if lines_path.exists():
            # the Polars schemas of the spilled files, restored in the workers (Spark's own types may differ:
            # an unsigned or a large string column comes back in Spark's nearest type)
            schemas = (_schema_of(lines_path), _schema_of(encounters_path))
            tasks = max([*_keys(lines_path), *_keys(encounters_path)], default=0) + 1
            task = _task_column(tasks)
            reader = self.session.read.option("basePath", str(lines_path))
            lines = reader.parquet(str(lines_path)).withColumn(TASK, task)
            encounters = (self.session.read.option("basePath", str(encounters_path)).parquet(str(encounters_path))
                          .withColumn(TASK, task))
            grouped = lines.groupBy(TASK).cogroup(encounters.groupBy(TASK))
            result = grouped.applyInArrow(_group_function(check, schemas, output), from_arrow_schema(output))
            with _one_group_per_task(self.session, tasks):
                result.write.mode("overwrite").parquet(str(written))
        if not written.exists() or not any(written.glob("*.parquet")):
            return pl.LazyFrame(schema=FINDINGS_SCHEMA).select(FINDINGS_ORDER), []
        scan = pl.scan_parquet(written / "*.parquet")
        outcomes = [pickle.loads(blob) for blob in  # written by this audit's own workers
                    scan.filter(pl.col(OUTCOME).is_not_null()).select(OUTCOME).collect().get_column(OUTCOME)]
        findings = (scan.filter(pl.col(OUTCOME).is_null()).select(FINDINGS_ORDER)
                    .cast(FINDINGS_SCHEMA))  # type: ignore[arg-type]
        return findings, outcomes


_LOCAL = re.compile(r"local(?:\[(\*|\d+)(?:,\s*\d+)?\])?")


def _local_cores(master: str | None) -> int | None:
    """The task slots of a local master URL (``local``, ``local[N]``, ``local[*]``, ``local[N,F]``), as Spark's
    local backend counts them (``*``: the cores this process may run on, as the JVM's availableProcessors sees
    them); None for any other master, or when spark.default.parallelism is set where this process can see it (then
    only the session knows)."""
    match = _LOCAL.fullmatch(master.strip()) if master else None
    if match is None or "spark.default.parallelism" in os.environ.get("PYSPARK_SUBMIT_ARGS", ""):
        return None
    slots = match.group(1)
    if slots == "*":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return 1 if slots is None else int(slots)


def _keys(folder: Path) -> list[int]:
    """The partition keys of pass 1's ``p=K`` folders under ``folder``."""
    prefix = f"{KEY}="
    if not folder.exists():
        return []
    return [int(entry.name.removeprefix(prefix)) for entry in folder.iterdir()
            if entry.is_dir() and entry.name.startswith(prefix)]


def _task_column(tasks: int) -> Any:
    """The group of each row: a label that Spark's shuffle sends to task K for the rows of partition K.

    Spark puts a group in task ``pmod(murmur3(key), tasks)``, which sent keys 0, 1 and 3 of 1M lines' 4 partitions
    of 250,000 lines to task 3 and none to tasks 0 and 1 (one core idle for most of pass 2). Grouped by
    `_labels` instead, each partition is the one group of its own task. The labels are a column, not renamed
    folders: the folders keep the names the rest of the audit reads them by (cloned-note reads them afterwards)."""
    from pyspark.sql import functions as sf

    labels = sf.array(*[sf.lit(label) for label in _labels(tasks)])
    return sf.element_at(labels, sf.col(KEY) + 1)


def _labels(tasks: int) -> list[int]:
    """The smallest non-negative ints whose Spark shuffle partition among ``tasks`` is 0, 1, ... ``tasks - 1``."""
    labels: list[int | None] = [None] * tasks
    missing, value = tasks, 0
    while missing:
        slot = spark_partition(value, tasks)
        if labels[slot] is None:
            labels[slot] = value
            missing -= 1
        value += 1
    return [label for label in labels if label is not None]


def spark_partition(value: int, tasks: int) -> int:
    """The shuffle partition Spark gives an int key among ``tasks`` (HashPartitioning: pmod of Murmur3Hash, seed
    42, of the int, as ``org.apache.spark.unsafe.hash.Murmur3_x86_32.hashInt``)."""

    def rotl(x: int, r: int) -> int:
        return ((x << r) | (x >> (32 - r))) & _MASK

    k1 = rotl((value & _MASK) * 0xCC9E2D51 & _MASK, 15) * 0x1B873593 & _MASK
    h1 = (rotl(42 ^ k1, 13) * 5 + 0xE6546B64) & _MASK
    h1 ^= 4
    h1 ^= h1 >> 16
    h1 = h1 * 0x85EBCA6B & _MASK
    h1 ^= h1 >> 13
    h1 = h1 * 0xC2B2AE35 & _MASK
    h1 ^= h1 >> 16
    signed = h1 - (1 << 32) if h1 & 0x80000000 else h1
    return signed % tasks


@contextmanager
def _one_group_per_task(session: SparkSession, tasks: int) -> Iterator[None]:
    """As many shuffle partitions as partitions of patients (`_task_column`: one group each), none merged by adaptive
    execution (it merges small shuffle partitions, which would put two groups in one task again); the session's
    own settings are put back afterwards."""
    wanted = {"spark.sql.shuffle.partitions": str(tasks), "spark.sql.adaptive.coalescePartitions.enabled": "false"}
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


def _schema_of(folder: Path) -> dict[str, Any]:
    first = next(folder.rglob("*.parquet"))
    return dict(pl.read_parquet_schema(first))


def _arrow_fields(schema: dict[str, Any], order: tuple[str, ...]) -> list[pa.Field]:
    """Arrow fields Spark reads back as the findings' types (plain strings and lists, not Polars' large ones)."""
    empty = pl.DataFrame(schema=schema).select(order).to_arrow()
    fields = []
    for f in empty.schema:
        kind = f.type
        if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            kind = pa.string()
        elif pa.types.is_large_list(kind):
            kind = pa.list_(pa.string())
        fields.append(pa.field(f.name, kind))
    return fields


def _group_function(check: PartitionCheck, schemas: tuple[dict[str, Any], dict[str, Any]],
                    output: pa.Schema) -> Any:
    """The function Spark calls once per partition key with its lines and claims (runs in a Python worker)."""
    line_schema, encounter_schema = schemas

    def run(lines: pa.Table, encounters: pa.Table) -> pa.Table:
        from cleanclaim.audit.run import _ORDER, _Pricer

        if lines.num_rows == 0 or encounters.num_rows == 0:  # a key with claims but no lines cannot occur
            return pa.Table.from_arrays([pa.nulls(0, kind) for kind in output.types], schema=output)
        line_frame = _as_spilled(lines, line_schema).sort(*_ORDER)
        encounter_frame = _as_spilled(encounters, encounter_schema).sort(*_ORDER)
        checked = check(line_frame, encounter_frame, _Pricer())
        outcome = replace(checked, findings=checked.findings.clear(),
                          failures=[replace(f, exception=None) for f in checked.failures])
        findings = checked.findings.to_arrow()
        rows = pa.table({**{name: findings.column(name) for name in output.names if name != OUTCOME},
                         OUTCOME: pa.nulls(findings.num_rows, pa.binary())})
        outcome_row = pa.table({name: pa.nulls(1, output.field(name).type) for name in output.names
                                if name != OUTCOME} | {OUTCOME: _binary(pickle.dumps(outcome))})
        return pa.concat_tables([rows.cast(output), outcome_row.cast(output)])

    return run


def _binary(value: bytes) -> pa.Array:
    """``value`` as a one-row Arrow binary array, made without pyarrow's conversion of Python objects: that
    (``pa.array``, ``Schema.empty_table``) imports pandas to ask whether its input is a pandas object, and in a
    Python worker that import was most of the first partition's extra cost (1.2 s of CPU under load, of 2.6 s)."""
    return pl.Series(OUTCOME, [value], pl.Binary).to_arrow().cast(pa.binary())


def _as_spilled(table: pa.Table, schema: dict[str, Any]) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.select(list(schema)).cast(schema)  # type: ignore[arg-type]
