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
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from cleanclaim.audit import localjvm
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
    unless the caller set it already (a cluster ships its own environment: docs/spark.md). A local master's JVM
    gets the options of `localjvm` (a faster start); a cluster's JVM options are the user's."""
    try:
        from pyspark import SparkContext
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise InputError("the Spark engine needs pyspark: pip install 'cleanclaim[spark]' (and Java 17 or later)",
                         field="engine") from exc
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    local = (master or "local").startswith("local")
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
    if java is not None:
        builder = builder.config("spark.driver.extraJavaOptions", java.text)
    session: SparkSession = builder.getOrCreate()
    return session


@contextmanager
def _local_address(local: bool) -> Iterator[None]:
    """While a local session's JVM is launched, SPARK_LOCAL_IP=127.0.0.1 unless set: a local driver's RPC has no
    other host to reach, and Spark would otherwise resolve the machine's name and list its interfaces (warning,
    on most machines, that the name resolves to a loopback address). Put back afterwards: a cluster session
    started later in this process must not bind to loopback."""
    if not local or "SPARK_LOCAL_IP" in os.environ:
        yield
        return
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    try:
        yield
    finally:
        os.environ.pop("SPARK_LOCAL_IP", None)


class Engine:
    """A Spark session for one audit: the active one when the caller has one (a notebook, a test module, a
    spark-submit job), else one started here and stopped by :meth:`close`."""

    def __init__(self, master: str | None = None) -> None:
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:
            raise InputError("the Spark engine needs pyspark: pip install 'cleanclaim[spark]' (and Java 17 or "
                             "later)", field="engine") from exc
        active = SparkSession.getActiveSession()
        self.owned = active is None
        self.session = active if active is not None else spark_session(master)

    @property
    def parallelism(self) -> int:
        return int(self.session.sparkContext.defaultParallelism)

    def close(self) -> None:
        if self.owned:
            self.session.stop()

    def check_partitions(self, root: Path, check: PartitionCheck) -> tuple[pl.LazyFrame, list[PartitionChecked]]:
        """Every partition spilled under ``root`` through ``check`` in Spark: the findings (a scan of the Parquet
        Spark wrote, in the findings.parquet schema) and each partition's outcome without its findings."""
        from pyspark.sql.pandas.types import from_arrow_schema

        from cleanclaim.audit.run import FINDINGS_ORDER, FINDINGS_SCHEMA

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
            return output.empty_table()
        line_frame = _as_spilled(lines, line_schema).sort(*_ORDER)
        encounter_frame = _as_spilled(encounters, encounter_schema).sort(*_ORDER)
        checked = check(line_frame, encounter_frame, _Pricer())
        outcome = replace(checked, findings=checked.findings.clear(),
                          failures=[replace(f, exception=None) for f in checked.failures])
        findings = checked.findings.to_arrow()
        rows = pa.table({**{name: findings.column(name) for name in output.names if name != OUTCOME},
                         OUTCOME: pa.nulls(findings.num_rows, pa.binary())})
        outcome_row = pa.table({name: pa.nulls(1, output.field(name).type) for name in output.names
                                if name != OUTCOME} | {OUTCOME: pa.array([pickle.dumps(outcome)], pa.binary())})
        return pa.concat_tables([rows.cast(output), outcome_row.cast(output)])

    return run


def _as_spilled(table: pa.Table, schema: dict[str, Any]) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame.select(list(schema)).cast(schema)  # type: ignore[arg-type]
