"""Imported CMS tables on disk: ``data_dir()/refdata/<table>/<period>/<source>.parquet``.

One Parquet file per source file, because CMS splits a quarter's practitioner PTP table into several files by code
range: importing them one at a time must add up, and re-importing a file must replace only its own rows. Each row is
tagged with the source file, period and import time so every lookup can say where a value came from.

An import is all or nothing: every file is parsed before anything is written, each table goes to a temporary file
first, and the temporaries are renamed into place only when all of them were written.
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
from cleanclaim.refdata.cms_files import ParsedTable, RefTable, parse_path, period_bounds

__all__ = ["ImportResult", "StoredTable", "import_files", "import_signature", "imported_frame", "one_reading",
           "stored_tables"]


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
    """What has been imported, one entry per stored file."""
    found: list[StoredTable] = []
    for kind in RefTable:
        for path in sorted((_root() / kind.value).glob("*/*.parquet")):
            frame = pl.read_parquet(path, columns=["source_file", "imported_at"])
            found.append(StoredTable(kind, path.parent.name, frame.height,
                                     frame["source_file"][0] if frame.height else path.stem,
                                     frame["imported_at"][0] if frame.height else "", path))
    return found


_Signature = tuple[tuple[str, int, int], ...]
_READING: ContextVar[dict[tuple[str, RefTable], _Signature] | None] = ContextVar("refdata_reading", default=None)


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
    key = (str(_root()), kind)
    if reading is not None and key in reading:
        return reading[key]
    signature = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size)
                      for p in sorted((_root() / kind.value).glob("*/*.parquet")))
    if reading is not None:
        reading[key] = signature
    return signature


def imported_frame(kind: RefTable, date_of_service: dt.date) -> pl.DataFrame | None:
    """The imported rows of the periods that cover the date, or None when no import covers it."""
    frame = _load(kind, import_signature(kind))
    if frame is None:
        return None
    covering = [p for p in frame["period"].unique().to_list() if _covers(p, date_of_service)]
    if not covering:
        return None
    return frame.filter(pl.col("period").is_in(covering))


def _covers(period: str, date_of_service: dt.date) -> bool:
    first, last = period_bounds(period)
    return first <= date_of_service <= last


@lru_cache(maxsize=16)
def _load(kind: RefTable, signature: tuple[tuple[str, int, int], ...]) -> pl.DataFrame | None:
    if not signature:
        return None
    return pl.concat([pl.read_parquet(path) for path, _, _ in signature], how="diagonal_relaxed")

