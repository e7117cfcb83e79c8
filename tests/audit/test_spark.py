"""``cleanclaim audit --engine spark``: Spark (local[2]) runs the same partition check as the Polars engine, so the
two give the same finding rows, the same rejected rows, the same summary and the same provider analytics.

One Spark session for the module (starting a JVM is the slow part) and one audit per engine over the same inputs:
the 3,000 example claim lines, a file with bad rows, and a file reusing an encounter id of another file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from cleanclaim.audit.run import audit
from cleanclaim.cli import app
from cleanclaim.errors import InputError
from tests.audit.test_run import claim_rows, write_csv

pytestmark = pytest.mark.spark

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "claims" / "synthetic-claims-q3-2026.csv"
AS_OF = dt.date(2026, 9, 30)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    pyspark_sql = pytest.importorskip("pyspark.sql", reason="the dev extra installs pyspark")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (pyspark_sql.SparkSession.builder.master("local[2]").appName("cleanclaim tests")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false").getOrCreate())
    yield session
    session.stop()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    shutil.copy(EXAMPLES, folder / "a-examples.csv")
    rows = claim_rows(40, seed=11)
    rows[3] = {**rows[3], "code": ""}
    rows[7] = {**rows[7], "units": "-2"}
    rows[8] = {**rows[8], "date": "2026-02-30"}
    write_csv(folder / "b-bad-rows.csv", rows)
    clash = {**rows[20], "code": "96150"}  # an encounter id of b-bad-rows.csv again, in a later file
    write_csv(folder / "c-reused-id.csv", [clash, {**rows[21], "encounter_id": "NEW1"}])
    return folder


@pytest.fixture(scope="module")
def outputs(spark: Any, inputs: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    """Both engines' output folders and the Spark command's exit status. The Spark audit goes through the command
    (its --engine and --master options); the session it finds is the module's, which it leaves running."""
    polars_out, spark_out = tmp_path_factory.mktemp("polars"), tmp_path_factory.mktemp("spark")
    audit([inputs], polars_out, as_of=AS_OF)
    run = CliRunner().invoke(app, ["audit", str(inputs), "--out", str(spark_out), "--as-of", AS_OF.isoformat(),
                                   "--engine", "spark", "--master", "local[2]", "--quiet"])
    assert run.exception is None or isinstance(run.exception, SystemExit), run.output
    assert not spark.sparkContext._jsc.sc().isStopped()  # the caller's session is not stopped by the audit
    return polars_out, spark_out, run.exit_code


def rows(path: Path) -> list[tuple[Any, ...]]:
    """A table's rows as a sorted list: the same multiset of rows, whatever order each engine wrote them in."""
    frame = pl.read_parquet(path)
    return sorted(frame.rows(), key=repr)


def test_spark_gives_the_polars_engine_s_finding_rows(outputs: tuple[Path, Path, int]) -> None:
    polars_out, spark_out, status = outputs
    expected, found = (pl.read_parquet(out / "findings.parquet") for out in (polars_out, spark_out))
    assert expected.height > 900  # the examples alone have hundreds of findings: the comparison is not vacuous
    # row for row and in order, at the default partition size (3,000 lines: one partition on both engines, where
    # the Spark engine once made one per core and wrote the same rows in another order)
    assert found.equals(expected)
    assert pl.read_parquet(spark_out / "findings.parquet").schema == pl.read_parquet(
        polars_out / "findings.parquet").schema
    assert status == 2  # bad rows: check's contract, as with the Polars engine


def test_spark_rejects_the_same_rows_and_counts_them_alike(outputs: tuple[Path, Path, int], inputs: Path) -> None:
    polars_out, spark_out, _ = outputs
    rejected = pl.read_parquet(spark_out / "rejected.parquet")
    assert rejected.equals(pl.read_parquet(polars_out / "rejected.parquet"))
    bad = str(inputs / "b-bad-rows.csv")
    # CSV rows count the header as row 1
    assert {(r["file"], r["row"], r["column"]) for r in rejected.to_dicts()} >= {
        (bad, 5, "code"), (bad, 9, "units"), (bad, 10, "date"), (str(inputs / "c-reused-id.csv"), 2, "encounter_id")}
    summary = json.loads((spark_out / "summary.json").read_text())
    assert summary == json.loads((polars_out / "summary.json").read_text())
    assert summary["rows_read"] == summary["rows_checked"] + summary["rows_rejected"]
    assert summary["rows_rejected"] == 4


def test_spark_gives_the_same_provider_analytics(outputs: tuple[Path, Path, int]) -> None:
    polars_out, spark_out = outputs[:2]
    assert rows(spark_out / "providers.parquet") == rows(polars_out / "providers.parquet")
    assert (spark_out / "report.html").stat().st_size > 10_000
    assert (spark_out / "report.html").read_bytes() == (polars_out / "report.html").read_bytes()


def test_an_audit_in_another_thread_uses_the_caller_s_session_and_leaves_it_running(
        spark: Any, tmp_path: Path) -> None:
    """A session is active per thread: an audit run from a worker thread saw none, started "its own" (the
    caller's, from getOrCreate) and stopped it at the end. A running context is the caller's, whatever the thread."""
    import threading

    from cleanclaim.audit.spark import Engine

    seen: list[Any] = []
    thread = threading.Thread(target=lambda: seen.append(Engine("local[2]")))
    thread.start()
    thread.join()
    engine = seen[0]
    assert not engine.owned and engine.session.sparkContext is spark.sparkContext
    engine.close()
    assert not spark.sparkContext._jsc.sc().isStopped()


def test_a_scratch_folder_that_cannot_be_made_stops_the_session_started_for_the_audit(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The session starts (in the background) before the scratch folder is made: when that fails, the session is
    stopped, not left running for the process's life."""
    import tempfile

    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    import cleanclaim.audit.spark as spark_engine

    session = _Session()
    monkeypatch.setattr(SparkSession, "getActiveSession", staticmethod(lambda: None))
    monkeypatch.setattr(SparkContext, "_active_spark_context", None)  # no session in any thread
    monkeypatch.setattr(spark_engine, "spark_session", lambda master=None: session)

    def no_folder(*args: Any, **kwargs: Any) -> str:
        raise PermissionError("no scratch folder here")

    monkeypatch.setattr(tempfile, "mkdtemp", no_folder)
    with pytest.raises(PermissionError):
        audit([EXAMPLES], tmp_path, as_of=AS_OF, engine="spark", master="local[2]")
    assert session.stopped


def test_an_unknown_engine_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown engine 'dask'"):
        audit([EXAMPLES], tmp_path, as_of=AS_OF, engine="dask")


def test_spark_compares_notes_across_partitions_as_the_polars_engine_does(spark: Any, tmp_path: Path) -> None:
    """cloned-note reads pass 1's partition folders after Spark has checked them: each patient in a partition of
    their own, the Spark engine finds the clones the Polars engine finds (a folder renamed for Spark's sake once
    hid every partition but one)."""
    from tests.audit.test_cloned_notes import _rows

    table = tmp_path / "claims.csv"
    pl.DataFrame(_rows()).write_csv(table)
    found = {}
    for engine in ("polars", "spark"):
        audit([table], tmp_path / engine, as_of=AS_OF, partition_rows=1, engine=engine)
        flagged = pl.read_parquet(tmp_path / engine / "findings.parquet").filter(pl.col("rule") == "cloned-note")
        found[engine] = sorted(flagged.get_column("encounter").to_list())
    assert found["spark"] == found["polars"] == ["E02", "E07", "E11"]


def test_partitions_sharing_a_task_give_the_polars_engine_s_findings_in_order(
        spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Spark packing every spilled file into one task (no open cost counted: the files fill one split) still checks
    each partition of patients alone: the same findings as the Polars engine, row for row and in order."""
    from cleanclaim.audit import spark as spark_engine

    monkeypatch.setattr(spark_engine, "_SETTINGS", {"spark.sql.files.maxPartitionBytes": spark_engine.ONE_FILE,
                                                    "spark.sql.files.openCostInBytes": "0",
                                                    "spark.sql.files.minPartitionNum": "1"})
    keys_per_task = []
    real = spark_engine._gathered

    def gathered(written: Path, *args: Any) -> Any:
        outcomes = (pl.scan_parquet(written / "*.parquet", include_file_paths="file")
                    .filter(pl.col(spark_engine.OUTCOME).is_not_null()).group_by("file").agg(pl.len()).collect())
        keys_per_task.extend(outcomes.get_column("len").to_list())
        return real(written, *args)

    monkeypatch.setattr(spark_engine, "_gathered", gathered)
    for engine in ("polars", "spark"):
        audit([EXAMPLES], tmp_path / engine, as_of=AS_OF, partition_rows=600, engine=engine)
    expected, found = (pl.read_parquet(tmp_path / engine / "findings.parquet") for engine in ("polars", "spark"))
    assert keys_per_task == [6]  # the 3,000 lines' 6 partitions in one task
    assert expected.height > 900
    assert found.equals(expected)
    assert json.loads((tmp_path / "spark" / "summary.json").read_text())["findings"] == json.loads(
        (tmp_path / "polars" / "summary.json").read_text())["findings"]


def test_a_partition_split_over_two_tasks_fails_the_audit_clearly(
        spark: Any, inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files split into byte ranges (three input files: a row group each in every partition's file, read by
    different tasks) would check parts of partitions: the driver sees the rows each task was given and fails the
    audit instead of writing findings."""
    from cleanclaim.audit import spark as spark_engine
    from cleanclaim.errors import CleanclaimError

    monkeypatch.setattr(spark_engine, "_SETTINGS", {"spark.sql.files.maxPartitionBytes": "4096",
                                                    "spark.sql.files.openCostInBytes": "0"})
    with pytest.raises(CleanclaimError, match="did not check each partition of patients once, whole: partition"):
        audit([inputs], tmp_path, as_of=AS_OF, partition_rows=1000, engine="spark")
    assert not (tmp_path / "findings.parquet").exists()


class _Session:
    """A stand-in for a SparkSession started by `spark_session`: records its stop."""

    stopped = False

    def stop(self) -> None:
        self.stopped = True


def test_the_session_starts_while_pass_1_runs_and_is_stopped_when_pass_1_fails(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The session's start waits (in its thread) until pass 1 has begun: a start made before pass 1, in the audit's
    own thread, would find pass 1 not begun. Pass 1 then fails, and the audit stops the session it started (after
    waiting for the start to end: a JVM is never left running)."""
    import threading

    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    import cleanclaim.audit.run as run
    import cleanclaim.audit.spark as spark_engine

    pass_1_began, seen = threading.Event(), []
    session = _Session()

    def start(master: str | None = None) -> _Session:
        seen.append(pass_1_began.wait(timeout=30))
        return session

    def failing_pass_1(*args: Any) -> Iterator[Any]:
        pass_1_began.set()
        raise RuntimeError("pass 1 failed")
        yield  # a generator, as `_tables_read` is

    monkeypatch.setattr(SparkSession, "getActiveSession", staticmethod(lambda: None))
    monkeypatch.setattr(SparkContext, "_active_spark_context", None)  # no session in any thread
    monkeypatch.setattr(spark_engine, "spark_session", start)
    monkeypatch.setattr(run, "_tables_read", failing_pass_1)
    with pytest.raises(RuntimeError, match="pass 1 failed"):
        audit([EXAMPLES], tmp_path, as_of=AS_OF, engine="spark", master="local[2]")
    assert seen == [True]
    assert session.stopped


def test_the_launch_environment_is_set_before_the_start_thread_and_removed_in_the_audit_s_thread(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables a local JVM's launch needs are set by the audit's own thread before the start thread runs
    (putenv racing Polars' getenv in pass 1 is a data race in the C library), and SPARK_LOCAL_IP is removed once the
    session is there, so a cluster session started later in the process does not bind to loopback."""
    import threading

    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    import cleanclaim.audit.spark as spark_engine

    seen = []

    def start(master: str | None = None) -> _Session:
        seen.append((threading.current_thread().name, os.environ.get("SPARK_LOCAL_IP")))
        return _Session()

    monkeypatch.delenv("SPARK_LOCAL_IP", raising=False)
    monkeypatch.setattr(SparkSession, "getActiveSession", staticmethod(lambda: None))
    monkeypatch.setattr(SparkContext, "_active_spark_context", None)  # no session in any thread
    monkeypatch.setattr(spark_engine, "spark_session", start)
    engine = spark_engine.Engine("local[2]")
    engine.session  # noqa: B018
    assert seen == [("cleanclaim-spark-start", "127.0.0.1")]
    assert "SPARK_LOCAL_IP" not in os.environ
    engine.close()
    seen.clear()
    cluster = spark_engine.Engine("spark://host:7077")
    cluster.session  # noqa: B018
    assert seen == [("cleanclaim-spark-start", None)]


def test_a_session_that_cannot_start_is_the_same_input_error_after_pass_1(tmp_path: Path) -> None:
    """No Java where JAVA_HOME says: the background start's error is the command's input error (exit 2), as when
    the session started first. A fresh interpreter: this one may hold the module's session."""
    script = "from cleanclaim.cli import app; app()"
    env = {**os.environ, "JAVA_HOME": str(tmp_path / "no-java")}
    env.pop("PYSPARK_SUBMIT_ARGS", None)
    done = subprocess.run([sys.executable, "-c", script, "audit", str(EXAMPLES), "--out", str(tmp_path / "out"),
                           "--engine", "spark", "--master", "local[2]", "--quiet"],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 2, done.stderr
    assert "input error: field master: cannot start Spark (master local[2]): " in " ".join(done.stderr.split())
    assert not (tmp_path / "out" / "findings.parquet").exists()


def _spilled_examples(tmp_path: Path) -> tuple[Any, Any]:
    """The example claims through pass 1 as the Spark engine spills them (one partition), and their check."""
    from cleanclaim.audit.run import PartitionCheck, _resolve_payers, _Writer
    from cleanclaim.formats.claim_table import read_claim_table
    from cleanclaim.scrub import _Profiles

    table = read_claim_table(EXAMPLES)
    payers: dict[str, Any] = {}
    table, _ = _resolve_payers(table, _Profiles(None), payers, str(EXAMPLES))
    writer = _Writer(tmp_path, 1, spark=True)
    writer.spill(table, str(EXAMPLES), "000000-000000", 0)
    writer.close()
    check = PartitionCheck(payers, AS_OF, None, frozenset(table.carried), table.minutes_carried)
    assert writer.spilled is not None
    return check, writer.spilled


def test_a_python_worker_checks_a_partition_without_importing_pandas(tmp_path: Path) -> None:
    """The partition function in a fresh interpreter, as in a Python worker: its Arrow batches in and out are made
    without pandas (pyarrow imports it to convert Python objects; in a worker that import was most of the first
    partition's extra cost)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark import cloudpickle  # what pyspark ships a function to its workers with

    from cleanclaim.audit.run import FINDINGS_ORDER, FINDINGS_SCHEMA
    from cleanclaim.audit.spark import KEY, OUTCOME, _arrow_fields, _partition_function

    check, spilled = _spilled_examples(tmp_path)
    output = pa.schema([*_arrow_fields(FINDINGS_SCHEMA, FINDINGS_ORDER), pa.field(KEY, pa.int32()),
                        pa.field(OUTCOME, pa.binary())])
    function = _partition_function(check, spilled.kind_schemas(), output)
    (tmp_path / "function.pickle").write_bytes(cloudpickle.dumps(function))
    table = pq.read_table(spilled.files()[0])
    with pa.ipc.new_file(str(tmp_path / "partition.arrow"), table.schema) as sink:  # as Spark streams it to a worker
        sink.write_table(table)
    script = f"""
import pickle, sys
import pyarrow as pa
function = pickle.loads(open({str(tmp_path / "function.pickle")!r}, "rb").read())
batches = pa.ipc.open_file({str(tmp_path / "partition.arrow")!r}).read_all().to_batches()
print(sum(batch.num_rows for batch in function(iter(batches))), "pandas" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    rows, pandas = done.stdout.split()
    assert int(rows) > 900  # the examples' findings and the outcome row: the partition was checked
    assert pandas == "False"


def test_a_partition_read_without_its_null_columns_reaches_the_check_whole(spark: Any, tmp_path: Path) -> None:
    """Spark reads a spilled file with `SpilledPartitions.read_schema` (the example claims' columns null in every
    row left out, claim columns and line struct fields alike, the line fields equal to their claim's on every line,
    and the input file's path), and the partition function gives the check the same lines and claims, every column
    typed and in order, as when it is given the whole file."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from polars.testing import assert_frame_equal
    from pyspark.sql.pandas.types import from_arrow_schema

    from cleanclaim.audit.run import FINDINGS_ORDER, FINDINGS_SCHEMA
    from cleanclaim.audit.spark import KEY, LINES, OUTCOME, _arrow_fields, _partition_function, _plain_schema

    check, spilled = _spilled_examples(tmp_path)
    whole, read = spilled.schema(), spilled.read_schema()
    assert {"note", "claim_id", "total_charge"} <= set(whole.names) - set(read.names)
    assert "ndc" not in {f.name for f in read.field(LINES).type.value_type}
    assert {"payer", "patient_id", "provider_npi"} <= set(spilled.from_claim())
    line_fields = {f.name for f in read.field(LINES).type.value_type}
    assert "code" in line_fields and not {"payer", "patient_id", "provider_npi"} & line_fields
    file = pq.read_table(spilled.files()[0])
    pruned = spark.read.schema(from_arrow_schema(_plain_schema(read))).parquet(str(spilled.files()[0])).toArrow()
    assert pruned.schema.names == read.names and pruned.num_rows == file.num_rows
    assert "ndc" not in {f.name for f in pruned.schema.field(LINES).type.value_type}
    given: list[tuple[pl.DataFrame, pl.DataFrame]] = []

    def recording(lines: pl.DataFrame, encounters: pl.DataFrame, pricer: Any) -> Any:
        given.append((lines, encounters))
        return check(lines, encounters, pricer)

    output = pa.schema([*_arrow_fields(FINDINGS_SCHEMA, FINDINGS_ORDER), pa.field(KEY, pa.int32()),
                        pa.field(OUTCOME, pa.binary())])
    assert spilled.file_sources() == {0: str(EXAMPLES)} and "source_file" not in line_fields
    for table, from_claim, sources in ((pruned, spilled.from_claim(), spilled.file_sources()), (file, (), None)):
        function = _partition_function(recording, spilled.kind_schemas(), output, from_claim, sources)
        list(function(iter(table.to_batches())))
    (pruned_lines, pruned_claims), (lines, claims) = given
    assert pruned_lines["ndc"].null_count() == pruned_lines.height and pruned_claims["note"].dtype == pl.String
    assert_frame_equal(pruned_lines, lines)
    assert_frame_equal(pruned_claims, claims)
