"""A damaged file in the imported-data folder (issue 11): ``data status`` lists it with the reason and the fix, and a
run that needs it stops with an input error naming it (exit 2) instead of a traceback or a check with edits missing.
A damaged file of a period the run does not need stops nothing. See the docstring of refdata/imported.py for why a
run stops rather than falling back to the bundled subset."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from cleanclaim.cli import app
from cleanclaim.refdata import CorruptImportError, RefTable, import_files, mue_values, status, stored_tables
from tests.refdata.cms_layouts import mue_csv, write

EXAMPLE = Path(__file__).parents[2] / "examples" / "pt-visit-97535.yaml"  # date of service 2026-03-02: 2026Q1


def _import_mue(tmp_path: Path, quarter_start: str, value: str = "6") -> Path:
    """Import a one-code MUE file for the quarter starting ``quarter_start`` (MM-DD-YYYY); the stored file's path."""
    source = write(tmp_path / f"MCR_MUE_PractitionerServices_Eff_{quarter_start}.csv",
                   mue_csv(f"97110,{value},3 Clinical,x"))
    [result] = import_files([source])
    return result.path


def _damage(path: Path, how: str) -> None:
    frame = pl.read_parquet(path)
    if how == "garbage":
        path.write_bytes(b"not parquet at all")
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif how == "missing-column":
        frame.drop("mue").write_parquet(path)
    elif how == "wrong-type":
        frame.with_columns(pl.col("mue").cast(pl.String)).write_parquet(path)
    elif how == "empty":
        frame.clear().write_parquet(path)
    elif how == "other-period":
        frame.with_columns(pl.lit("2024Q1").alias("period")).write_parquet(path)


@pytest.mark.parametrize(("how", "reason"), [
    ("garbage", "not a readable Parquet file"),
    ("truncated", "not a readable Parquet file"),
    ("missing-column", "missing column(s) mue"),
    ("wrong-type", "wrong type in column(s) mue"),
    ("empty", "holds no rows"),
    ("other-period", "tagged 2024Q1 but it is filed under 2026Q1"),
])
def test_damaged_file_is_listed_and_stops_the_lookups_of_its_period(tmp_path: Path, how: str, reason: str) -> None:
    stored = _import_mue(tmp_path, "01-01-2026")
    _damage(stored, how)

    [entry] = stored_tables()
    assert (entry.kind, entry.period, entry.path, entry.rows) == (RefTable.MUE, "2026Q1", stored, 0)
    assert entry.problem is not None and reason in entry.problem
    [listed] = [s for s in status() if s.origin == "imported"]
    assert listed.problem is not None
    assert reason in listed.problem and "Re-import" in listed.problem and f"delete {stored}" in listed.problem

    with pytest.raises(CorruptImportError) as raised:
        mue_values(dt.date(2026, 2, 1))
    assert raised.value.file == str(stored)
    assert reason in raised.value.message
    # a date the damaged period does not cover is answered as before (here: from the bundled table)
    assert mue_values(dt.date(2025, 6, 1)).get_column("source").str.starts_with("imported").sum() == 0


def test_sound_files_of_other_periods_still_answer(tmp_path: Path) -> None:
    sound = _import_mue(tmp_path, "10-01-2025", value="4")
    _damage(_import_mue(tmp_path, "01-01-2026"), "garbage")
    values = mue_values(dt.date(2025, 11, 3)).filter(pl.col("code") == "97110")
    assert values.get_column("mue").to_list() == [4]
    assert [s.problem is None for s in stored_tables()] == [True, False]
    assert sound.exists()


def test_a_file_in_a_folder_that_names_no_period_stops_every_lookup_of_its_table(tmp_path: Path,
                                                                               data_dir: Path) -> None:
    stored = _import_mue(tmp_path, "01-01-2026")
    stray = data_dir / "refdata" / "mue" / "old copy" / stored.name
    stray.parent.mkdir()
    stored.rename(stray)
    [entry] = stored_tables()
    assert entry.problem is not None and "'old copy' is not a year" in entry.problem
    with pytest.raises(CorruptImportError):
        mue_values(dt.date(2019, 5, 1))


def test_re_import_repairs_it(tmp_path: Path) -> None:
    stored = _import_mue(tmp_path, "01-01-2026")
    _damage(stored, "garbage")
    assert _import_mue(tmp_path, "01-01-2026", value="7") == stored  # the same source replaces the damaged file
    assert [s.problem for s in stored_tables()] == [None]
    assert mue_values(dt.date(2026, 2, 1)).filter(pl.col("code") == "97110").get_column("mue").to_list() == [7]


def test_commands(tmp_path: Path, data_dir: Path) -> None:
    runner = CliRunner()
    # PTP for 2026Q1: the example's date of service. A damaged PTP table is what `check` needs for NCCI edits.
    ptp = data_dir / "refdata" / "ptp" / "2026Q1" / "ccipra-v320r0-f1.TXT.parquet"
    ptp.parent.mkdir(parents=True)
    ptp.write_bytes(b"PAR1 cut short")

    result = runner.invoke(app, ["data", "status"])
    assert result.exit_code == 1, result.output
    assert "damaged" in result.output and "not a readable Parquet file" in result.output
    as_json = runner.invoke(app, ["data", "status", "--json"])
    assert as_json.exit_code == 1
    [damaged] = [t for t in json.loads(as_json.output)["tables"] if t.get("problem")]
    assert (damaged["table"], damaged["period"], damaged["source"]) == ("ptp", "2026Q1", str(ptp))

    checked = runner.invoke(app, ["check", str(EXAMPLE)])
    assert checked.exit_code == 2, checked.output
    assert isinstance(checked.exception, SystemExit)  # a handled error, not a traceback
    assert str(ptp) in checked.output and "damaged" in checked.output and "Re-import" in checked.output

    ptp.unlink()
    assert runner.invoke(app, ["data", "status"]).exit_code == 0
    assert runner.invoke(app, ["check", str(EXAMPLE)]).exit_code in (0, 1)  # findings or none: it ran


def test_damaged_icd10cm_import_is_listed_and_stops_check(data_dir: Path) -> None:
    damaged = data_dir / "icd10cm" / "icd10cm_order_2027.parquet"
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"junk")
    runner = CliRunner()
    listed = runner.invoke(app, ["data", "status", "--json"])
    assert listed.exit_code == 1
    [entry] = [t for t in json.loads(listed.output)["tables"] if t.get("problem")]
    assert entry["table"] == "icd10cm" and entry["source"] == str(damaged)
    checked = runner.invoke(app, ["check", str(EXAMPLE)])
    assert checked.exit_code == 2 and isinstance(checked.exception, SystemExit)
    assert str(damaged) in checked.output and "ICD-10-CM release file is damaged" in checked.output
