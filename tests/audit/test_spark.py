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
    expected, found = rows(polars_out / "findings.parquet"), rows(spark_out / "findings.parquet")
    assert len(expected) > 900  # the examples alone have hundreds of findings: the comparison is not vacuous
    assert found == expected
    assert pl.read_parquet(spark_out / "findings.parquet").schema == pl.read_parquet(
        polars_out / "findings.parquet").schema
    assert status == 2  # bad rows: check's contract, as with the Polars engine


def test_spark_rejects_the_same_rows_and_counts_them_alike(outputs: tuple[Path, Path, int], inputs: Path) -> None:
    polars_out, spark_out, _ = outputs
    rejected = pl.read_parquet(spark_out / "rejected.parquet")
    assert rows(spark_out / "rejected.parquet") == rows(polars_out / "rejected.parquet")
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
