"""Imported CMS tables on disk: ``data_dir()/refdata/<table>/<period>/<source>.parquet``.

One Parquet file per source file, because CMS splits a quarter's practitioner PTP table into several files by code
range: importing them one at a time must add up, and re-importing a file must replace only its own rows. Each row is
tagged with the source file, period and import time so every lookup can say where a value came from.

An import is all or nothing: every file is parsed before anything is written, each table goes to a temporary file
first, and the temporaries are renamed into place only when all of them were written.

A stored file can still be damaged later (a disk error, a copy cut short, a file put there by hand). ``data status``
lists such a file as corrupt, with the reason and the fix. A run that needs the table for a date the damaged file's
period covers (or for any date, when its folder does not name a period) stops with a :class:`CorruptImportError`
(exit 2) instead of checking with what is left: the imported table replaced the bundled subset for its period, so
checking without it would miss edits and report a batch clean that is not, which is worse for a biller than a clear
stop with a one-command fix (re-import the CMS file, or delete the damaged one). Damaged files of other periods do
not stop runs that do not need them.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl

from cleanclaim.errors import DataError, InputError
from cleanclaim.paths import data_dir
from cleanclaim.refdata.cms_files import TABLE_SCHEMAS, ParsedTable, RefTable, parse_path, period_bounds

__all__ = ["CorruptImportError", "ImportResult", "StoredTable", "import_files", "import_signature", "imported_frame",
           "one_reading", "stored_tables"]


class CorruptImportError(InputError):
    """An imported table on disk that cannot be used: names the file, what is wrong and how to fix it."""

    def __init__(self, path: Path, what: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"imported {what} file is damaged: {problem}. {fix_for(path)} (`cleanclaim data "
                         "status` lists every imported file)", file=str(path))


def fix_for(path: Path) -> str:
    """What to do about a damaged stored file."""
    return f"Re-import the CMS file it came from (cleanclaim data import FILE), or delete {path}"


@dataclass(frozen=True)
class ImportResult:
    kind: RefTable
    period: str
    rows: int
    source_file: str
    path: Path


@dataclass(frozen=True)
class StoredTable:
    kind: RefTable
    period: str
    rows: int
    source_file: str
    imported_at: str
    path: Path
    problem: str | None = None
    """Why the stored file cannot be used (`CorruptImportError`), None when it is sound."""


def _root() -> Path:
    return data_dir() / "refdata"


def _safe_name(source_file: str) -> str:
    base = source_file.split(":")[-1]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", Path(base).name) + ".parquet"


def _display_name(source_file: str) -> str:
    """``/downloads/RVU25A.zip:PPRRVU25_JAN.csv`` -> ``RVU25A.zip:PPRRVU25_JAN.csv`` (no user directories kept)."""
    outer, sep, member = source_file.partition(":")
    return Path(outer).name + sep + member


def _tagged(table: ParsedTable, imported_at: str) -> pl.DataFrame:
    return table.frame.with_columns(
        pl.lit(_display_name(table.source_file)).alias("source_file"),
        pl.lit(table.period).alias("period"),
        pl.lit(imported_at).alias("imported_at"),
    )


def import_files(paths: Iterable[Path], *, kind: RefTable | None = None, period: str | None = None,
                 now: dt.datetime | None = None) -> list[ImportResult]:
    """Parse every file, then store every table; on any error nothing is written."""
    tables = [table for path in paths for table in parse_path(Path(path), kind=kind, period=period)]
    if not tables:
        raise InputError("no files given to import")
    imported_at = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    planned: list[tuple[ParsedTable, Path, Path]] = []
    for table in tables:
        target = _root() / table.kind.value / table.period / _safe_name(table.source_file)
        planned.append((table, target, target.with_name(target.name + ".tmp")))
    try:
        for table, target, temporary in planned:
            target.parent.mkdir(parents=True, exist_ok=True)
            _tagged(table, imported_at).write_parquet(temporary)
    except OSError as exc:
        for _, _, temporary in planned:
            temporary.unlink(missing_ok=True)
        raise DataError(f"cannot write imported data under {_root()}: {exc}") from exc
    for _, target, temporary in planned:
        os.replace(temporary, target)
    return [ImportResult(t.kind, t.period, t.frame.height, t.source_file, target) for t, target, _ in planned]


def stored_tables() -> list[StoredTable]:
    """What has been imported, one entry per stored file; a damaged file is listed with its ``problem``."""
    found: list[StoredTable] = []
    for kind in RefTable:
        for path, _, _ in _files(kind):
            frame, problem = _read_stored(kind, Path(path))
            if frame is None:
                found.append(StoredTable(kind, Path(path).parent.name, 0, Path(path).name, "", Path(path), problem))
                continue
            found.append(StoredTable(kind, Path(path).parent.name, frame.height, str(frame["source_file"][0]),
                                     str(frame["imported_at"][0]), Path(path)))
    return found


_TAGS: dict[str, pl.DataType] = {"source_file": pl.String(), "period": pl.String(), "imported_at": pl.String()}
_ADDED_LATER = {"qualifying_apm"}
"""Columns a file stored by an earlier version may lack; the lookups fill them in."""


def _read_stored(kind: RefTable, path: Path) -> tuple[pl.DataFrame | None, str | None]:
    """A stored table, or None and what is wrong with it: its folder must name a period, and the file must be
    Parquet with the columns and types import writes, at least one row, and every row tagged with that period."""
    period = path.parent.name
    try:
        period_bounds(period)
    except InputError:
        return None, f"its folder {period!r} is not a year (2025) or a quarter (2025Q4)"
    try:
        frame = pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, f"not a readable Parquet file ({reason[:200]})"
    expected = {**TABLE_SCHEMAS[kind], **_TAGS}
    missing = [name for name in expected if name not in frame.schema and name not in _ADDED_LATER]
    wrong = [name for name, dtype in expected.items() if name in frame.schema and frame.schema[name] != dtype]
    if missing or wrong:
        parts = ([f"missing column(s) {', '.join(missing)}"] if missing else []) + (
            [f"wrong type in column(s) {', '.join(wrong)}"] if wrong else [])
        return None, f"not a cleanclaim {kind.label} table: {'; '.join(parts)}"
    if frame.is_empty():
        return None, "it holds no rows (an import never writes an empty table)"
    periods = frame["period"].unique().to_list()
    if periods != [period]:
        return None, f"its rows are tagged {', '.join(sorted(str(p) for p in periods))} but it is filed under {period}"
    return frame, None


_Signature = tuple[tuple[str, int, int], ...]
_READING: ContextVar[dict[tuple[str | None, str | None, str | None, RefTable], _Signature] | None] = ContextVar(
    "refdata_reading", default=None)


@contextmanager
def one_reading() -> Iterator[None]:
    """Within the block, the data folder is listed once per table: a check run looks edits and rates up several
    times per claim (each listing is a glob and a stat per file, ~30 us), and an import that lands mid-run is taken
    by the next run, never half-way through one."""
    token = _READING.set({})
    try:
        yield
    finally:
        _READING.reset(token)


def import_signature(kind: RefTable) -> _Signature:
    """What is imported for a table (paths, modification times, sizes): a cache key that changes with any import."""
    reading = _READING.get()
    if reading is None:
        return _files(kind)
    # keyed by what `paths.data_dir` reads (a run that changes them lists the new folder), not by the folder
    # itself: building the path (Path.home() and all) cost more than the look-up it keyed
    key = (os.environ.get("CLEANCLAIM_DATA_DIR"), os.environ.get("XDG_DATA_HOME"), os.environ.get("HOME"), kind)
    if key in reading:
        return reading[key]
    signature = _files(kind)
    reading[key] = signature
    return signature


def _files(kind: RefTable) -> _Signature:
    found = []
    for path in sorted((_root() / kind.value).glob("*/*.parquet")):
        try:
            stat = path.stat()
        except OSError:  # removed since the listing: not there
            continue
        found.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(found)


def imported_frame(kind: RefTable, date_of_service: dt.date) -> pl.DataFrame | None:
    """The imported rows of the periods that cover the date, or None when no import covers it.

    Raises :class:`CorruptImportError` when a damaged stored file of this table may cover the date (its period
    covers it, or its folder names no period): the answer would be missing that file's rows."""
    frame, damaged = _load(kind, import_signature(kind))
    for path, period, problem in damaged:
        if period is None or _covers(period, date_of_service):
            raise CorruptImportError(Path(path), kind.label, problem)
    if frame is None:
        return None
    covering = [p for p in frame["period"].unique().to_list() if _covers(p, date_of_service)]
    if not covering:
        return None
    return frame.filter(pl.col("period").is_in(covering))


def _covers(period: str, date_of_service: dt.date) -> bool:
    first, last = period_bounds(period)
    return first <= date_of_service <= last


_Damaged = tuple[tuple[str, str | None, str], ...]
"""(path, period or None when the folder names none, problem) of each damaged stored file."""


@lru_cache(maxsize=16)
def _load(kind: RefTable, signature: _Signature) -> tuple[pl.DataFrame | None, _Damaged]:
    """The sound stored files of a table in one frame (None when there is none), and the damaged ones."""
    frames: list[pl.DataFrame] = []
    damaged: list[tuple[str, str | None, str]] = []
    for path, _, _ in signature:
        frame, problem = _read_stored(kind, Path(path))
        if frame is None:
            folder = Path(path).parent.name
            damaged.append((path, folder if _is_period(folder) else None, problem or "unreadable"))
        else:
            frames.append(frame)
    return (pl.concat(frames, how="diagonal_relaxed") if frames else None), tuple(damaged)


def _is_period(text: str) -> bool:
    try:
        period_bounds(text)
    except InputError:
        return False
    return True

