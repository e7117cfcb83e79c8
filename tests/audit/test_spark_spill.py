"""Pass 1's spill for the Spark engine (`cleanclaim.audit.spark.SpilledPartitions`): one Parquet file per partition
of patients, whatever the number of blocks spilled into it, with one schema, so that Spark reads each partition as
one task with one schema; the rows read back per kind are the rows spilled. No Spark needed."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
from polars.testing import assert_frame_equal

from cleanclaim.audit.spark import LINES, SpilledPartitions

ORDER = {"__file_index": pl.Int64, "__file_row": pl.Int64}


def lines(file: int, rows: range, extra: dict[str, pl.Series] | None = None) -> pl.DataFrame:
    return pl.DataFrame({
        "encounter_id": [f"E{row // 2}" for row in rows],
        "code": ["97110"] * len(rows),
        "modifiers": [["GP"] if row % 3 else None for row in rows],
        "units": [1.0] * len(rows),
        "__file_index": [file] * len(rows),
        "__file_row": list(rows),
    }, schema={"encounter_id": pl.String, "code": pl.String, "modifiers": pl.List(pl.String), "units": pl.Float64,
               **ORDER}).with_columns(**(extra or {}))


def encounters(file: int, rows: range) -> pl.DataFrame:
    return pl.DataFrame({
        "encounter_id": [f"E{row // 2}" for row in rows],
        "diagnoses": [["M54.50"]] * len(rows),
        "note": [None] * len(rows),
        "__file_index": [file] * len(rows),
        "__file_row": list(rows),
    }, schema={"encounter_id": pl.String, "diagnoses": pl.List(pl.String), "note": pl.String, **ORDER})


def read(spilled: SpilledPartitions, kind: str, key: int) -> pl.DataFrame:
    return pl.concat([scan.collect() for scan in spilled.scans(kind, key)], how="diagonal_relaxed")


def test_a_two_block_spill_gives_one_file_per_partition_with_one_schema(tmp_path: Path) -> None:
    """The second block's extra column is all null (Polars' Null type there): cast to the file's type, not a second
    file."""
    spilled = SpilledPartitions(tmp_path)
    blocks = []
    for block, extra in enumerate(({"payer_ref": pl.Series(["A1", None] * 3)},
                                   {"payer_ref": pl.Series([None] * 6)})):
        for key in (0, 1):
            rows = range(100 * block + 10 * key, 100 * block + 10 * key + 6)
            blocks.append((key, lines(0, rows, extra), encounters(0, rows[::2])))
            spilled.add(key, blocks[-1][1], blocks[-1][2])
    assert spilled.columns["lines"]["payer_ref"] == pl.String
    spilled.close()
    files = sorted(spilled.root.iterdir())
    assert files == spilled.files() and len(files) == 2  # one per partition, not one per block
    assert len({pq.read_schema(file).remove_metadata() for file in files}) == 1
    assert all(pq.ParquetFile(file).metadata.num_row_groups == 2 for file in files)  # a row group per block
    for key in (0, 1):
        assert_frame_equal(read(spilled, "lines", key),
                           pl.concat([b[1] for b in blocks if b[0] == key], how="diagonal_relaxed"))
        assert_frame_equal(read(spilled, "encounters", key), pl.concat([b[2] for b in blocks if b[0] == key]))
    assert spilled.expected() == {0: (12, 6), 1: (12, 6)}
    # a row per claim, its lines nested in it: no column of one table held as nulls in the other's rows
    stored = pl.read_parquet(files[0])
    assert stored.height == 6 and stored.get_column(LINES).list.len().to_list() == [2] * 6


def test_a_block_with_a_new_column_is_merged_into_the_partition_s_one_file(tmp_path: Path) -> None:
    """A second input file with a column the first lacked, and a third with it in another type: still one file per
    partition (the segments merged as the Polars engine's reader concatenates parts), and one type per column in
    every file (Spark reads them all with one schema)."""
    spilled = SpilledPartitions(tmp_path)
    first = (lines(0, range(4)), encounters(0, range(0, 4, 2)))
    second = (lines(1, range(4), {"room": pl.Series([1, 2, 3, 4])}), encounters(1, range(0, 4, 2)))
    third = (lines(2, range(4), {"room": pl.Series(["A", "B", None, "D"])}), encounters(2, range(0, 4, 2)))
    spilled.add(0, *first)
    spilled.add(0, *second)
    spilled.add(1, *third)
    spilled.close()
    files = sorted(spilled.root.iterdir())
    assert files == spilled.files() and len(files) == 2
    assert len({pq.read_schema(file).remove_metadata() for file in files}) == 1
    assert spilled.columns["lines"]["room"] == pl.String
    assert_frame_equal(read(spilled, "lines", 0), pl.concat([first[0], second[0]], how="diagonal_relaxed")
                       .with_columns(pl.col("room").cast(pl.String)))
    assert_frame_equal(read(spilled, "encounters", 0), pl.concat([first[1], second[1]]))
    assert_frame_equal(read(spilled, "lines", 1), third[0])


def test_a_spill_with_nothing_in_it_closes_with_nothing_to_check(tmp_path: Path) -> None:
    """Every row rejected, or pass 1 failing before its first block: closing the spill (the audit's ``finally``)
    must not raise over the error that got there, and leaves no partition to check."""
    spilled = SpilledPartitions(tmp_path)
    spilled.close()
    assert spilled.files() == []
    assert spilled.expected() == {}


def test_a_spill_allowed_fewer_open_files_than_partitions_gives_the_same_partitions(tmp_path: Path) -> None:
    """Three partitions, one file open at a time (a process that may not open one per partition): each block after
    the first reopens its partition in a new segment, and `close` merges them, so each partition is still one file
    with its rows in order."""
    spilled = SpilledPartitions(tmp_path, max_open=1)
    blocks = []
    for block in range(3):
        for key in (0, 1, 2):
            rows = range(100 * block + 10 * key, 100 * block + 10 * key + 4)
            blocks.append((key, lines(block, rows), encounters(block, rows[::2])))
            spilled.add(key, blocks[-1][1], blocks[-1][2])
            assert sum(file.writer is not None for file in spilled.open.values()) == 1
    spilled.close()
    files = sorted(spilled.root.iterdir())
    assert files == spilled.files() and len(files) == 3
    for key in (0, 1, 2):
        assert_frame_equal(read(spilled, "lines", key), pl.concat([b[1] for b in blocks if b[0] == key]))
        assert_frame_equal(read(spilled, "encounters", key), pl.concat([b[2] for b in blocks if b[0] == key]))


def test_a_partition_with_lines_and_no_claims_is_spilled_and_expected_with_its_counts(tmp_path: Path) -> None:
    """Lines whose claim was not spilled (a reader that dropped the claim but kept its lines) alone in a partition:
    the partition's file is still rewritten into the audit's schema (it lacked every claim column, and `close`
    raised), and the partition is expected back from Spark with the rows it holds (the driver failed the audit
    with 'not spilled by pass 1' when the task said what it had been given)."""
    spilled = SpilledPartitions(tmp_path)
    spilled.add(0, lines(0, range(4)), encounters(0, range(0, 4, 2)))
    spilled.add(1, lines(0, range(10, 13)), None)
    spilled.close()
    assert len(spilled.files()) == 2
    assert len({pq.read_schema(file).remove_metadata() for file in spilled.files()}) == 1
    assert_frame_equal(read(spilled, "lines", 1), lines(0, range(10, 13)))
    assert spilled.scans("encounters", 1) == []
    assert spilled.expected() == {0: (4, 2), 1: (3, 0)}


def test_spark_is_not_asked_to_read_a_column_null_in_every_row_spilled(tmp_path: Path) -> None:
    """A claim column (``note``) and a line field (``payer_ref``) null in every row of every file are left out of
    the schema Spark reads with; a column null in one file but not another (``room``) and what ties and orders the
    rows are read. The kinds' schemas (what the check gets) keep them all."""
    spilled = SpilledPartitions(tmp_path)
    nothing = {"payer_ref": pl.Series([None] * 4, dtype=pl.String)}
    spilled.add(0, lines(0, range(4), {**nothing, "room": pl.Series([None] * 4, dtype=pl.Int64)}),
                encounters(0, range(0, 4, 2)))
    spilled.add(1, lines(1, range(4), {**nothing, "room": pl.Series([None, 2, None, None])}),
                encounters(1, range(0, 4, 2)))
    spilled.close()
    read_schema = spilled.read_schema()
    line_fields = {f.name for f in read_schema.field(LINES).type.value_type}
    assert "note" not in read_schema.names and "payer_ref" not in line_fields
    assert {"room", "code", "modifiers", "units", "__file_row"} <= line_fields
    assert {"encounter_id", "__file_index", "__file_row", "diagnoses", "__p", "__claim"} <= set(read_schema.names)
    lines_schema, encounters_schema = spilled.kind_schemas()
    assert lines_schema["payer_ref"] == pl.String and encounters_schema["note"] == pl.String


def test_a_line_column_equal_to_its_claim_s_on_every_line_is_read_from_the_claim_only(tmp_path: Path) -> None:
    """``payer`` on every line equal to its claim's: read from the claim only, and put back on each line by
    `_unnested`; ``room`` equal to its claim's in one partition but not on one line of another: read from the lines;
    so is a line column its claim has not got (``code``)."""
    from cleanclaim.audit.spark import _unnested

    spilled = SpilledPartitions(tmp_path)
    blocks = []
    for key in (0, 1):
        rows = range(10 * key, 10 * key + 6)
        claims = encounters(0, rows[::2]).with_columns(payer=pl.lit(f"P{key}"), room=pl.Series([1, 2, 3]))
        room = [1, 1, 2, 2, 3, 3] if key == 0 else [1, 1, 2, 9, 3, 3]
        blocks.append((key, lines(0, rows, {"payer": pl.Series([f"P{key}"] * 6), "room": pl.Series(room)}), claims))
        spilled.add(*blocks[-1])
    spilled.close()
    assert spilled.from_claim() == ("payer",)
    line_fields = {f.name for f in spilled.read_schema().field(LINES).type.value_type}
    assert "payer" not in line_fields and {"room", "code"} <= line_fields
    columns = spilled.kind_schemas()[0]
    for key, (_, spilled_lines, _) in enumerate(blocks):
        frame = pl.read_parquet(spilled.files()[key]).with_columns(
            pl.col(LINES).list.eval(pl.element().struct.field(*sorted(line_fields)).pipe(pl.struct)))
        assert "payer" not in [f.name for f in frame.schema[LINES].inner.fields]  # type: ignore[attr-defined]
        assert_frame_equal(_unnested(frame.lazy(), "lines", columns, spilled.from_claim()).collect(), spilled_lines)


def test_the_input_file_s_path_is_read_from_a_table_by_file_index_not_from_each_line(tmp_path: Path) -> None:
    """``source_file``, one path per input file, is left out of Spark's read schema and put back from the file
    index (`_with_sources`); a file whose lines name two paths leaves it read from every line."""
    from cleanclaim.audit.spark import _with_sources

    spilled = SpilledPartitions(tmp_path)
    for key, file in ((0, 0), (1, 1), (1, 0)):
        rows = range(10 * key + 100 * file, 10 * key + 100 * file + 4)
        spilled.add(key, lines(file, rows, {"source_file": pl.lit(f"/in/{file}.csv")}), encounters(file, rows[::2]))
    spilled.close()
    assert spilled.file_sources() == {0: "/in/0.csv", 1: "/in/1.csv"}
    assert "source_file" not in {f.name for f in spilled.read_schema().field(LINES).type.value_type}
    read_back = read(spilled, "lines", 1)
    assert_frame_equal(_with_sources(read_back.drop("source_file"), spilled.file_sources()).select(read_back.columns),
                       read_back)
    twice = SpilledPartitions(tmp_path / "twice")
    twice.add(0, lines(0, range(4), {"source_file": pl.Series(["/a", "/a", "/b", "/b"])}),
              encounters(0, range(0, 4, 2)))
    twice.close()
    assert twice.file_sources() is None
    assert "source_file" in {f.name for f in twice.read_schema().field(LINES).type.value_type}
