"""Reading many notes at once: `read_notes` spreads a large batch over worker processes (each note is read
independently, and the reader is pure Python, so threads would not help), and keeps the recent readings so that a
second pass over the same notes (``cleanclaim notes`` reads them for its output after the rules have read them for
the findings) is a look-up, not a second read.

Readings handed out are shared with the cache: callers read them, never change them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path

from cleanclaim.notes.lexicon import lexicon
from cleanclaim.notes.reading import NoteReading, read_note

__all__ = ["PARALLEL_FROM", "forget_readings", "read_notes", "workers_ahead"]

PARALLEL_FROM = 2_000
"""Notes to read before worker processes pay off: starting one (spawn: a fresh interpreter importing the reader)
costs about the time of reading a few hundred notes."""
_CHUNK = 250
"""Notes per task: large enough that sending them is cheap beside reading them, small enough to balance 2-4 workers."""
_CACHED_NOTES = 20_000
"""Readings kept (then the cache starts over): one run's notes, not a server's lifetime."""
_CACHED_LENGTH = 64_000
"""Longer notes are kept under their SHA-256, not their text (a 5 MB paste would pin its text)."""
_recent: dict[str | bytes, NoteReading] = {}
_ahead: ProcessPoolExecutor | None = None
"""Worker processes started ahead of a large batch (`workers_ahead`), used by `read_notes` while they last."""


def _workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def _read_chunk(texts: list[str]) -> list[NoteReading]:
    return [read_note(text) for text in texts]


def _pool(workers: int) -> ProcessPoolExecutor:
    # spawn, not fork: the parent may hold Polars' thread pool, which a forked child inherits locked
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))


def _ready() -> None:
    lexicon()  # a worker's start-up: the reader imported, the lexicon compiled


def _many_notes(path: Path) -> bool:
    """Whether an encounter file likely holds `PARALLEL_FROM` notes or more (the word counted, not parsed: a note
    that says "note" counts twice, which only starts the workers for a batch a little smaller)."""
    try:
        return path.is_file() and path.read_bytes().count(b"note") >= PARALLEL_FROM
    except OSError:
        return False  # the loader will say why it cannot be read


@contextmanager
def workers_ahead(source: object) -> Iterator[None]:
    """For an encounter file with a large batch of notes, the worker processes started before the file is loaded:
    a spawned worker takes about a second to import the reader, which then overlaps the loading (one process, on
    one core) instead of following it. Stopped when the block ends; anything else does nothing."""
    global _ahead
    workers = _workers()
    if _ahead is not None or workers < 2 or not isinstance(source, str | Path) or not _many_notes(Path(source)):
        yield
        return
    pool = _pool(workers)
    for _ in range(workers):  # one task each: the pool starts a process for each while none is idle
        pool.submit(_ready)
    _ahead = pool
    try:
        yield
    finally:
        _ahead = None
        pool.shutdown(wait=True, cancel_futures=True)


def _key(text: str) -> str | bytes:
    """A note's key among the kept readings: its text, or a long note's digest, so that a pasted 5 MB document is
    read once in a run (the services, the rules and the output each ask for it), not three times, and yet its text
    is not held by the cache after the run."""
    if len(text) <= _CACHED_LENGTH:
        return text
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def read_notes(texts: Sequence[str | None]) -> list[NoteReading]:
    """Each note read (`read_note`); an empty reading for ``None``. Batches of `PARALLEL_FROM` notes or more not
    read recently are read by worker processes (as many as this process may use, at most 4), in input order."""
    keys = {text: _key(text) for text in texts if text is not None}
    wanted = [text for text, key in keys.items() if key not in _recent]
    fresh: dict[str, NoteReading] = {}
    workers = _workers()
    if len(wanted) >= PARALLEL_FROM and workers > 1:
        chunks = [wanted[start:start + _CHUNK] for start in range(0, len(wanted), _CHUNK)]
        if _ahead is not None:
            for chunk, readings in zip(chunks, _ahead.map(_read_chunk, chunks), strict=True):
                fresh.update(zip(chunk, readings, strict=True))
        else:
            with _pool(workers) as pool:
                for chunk, readings in zip(chunks, pool.map(_read_chunk, chunks), strict=True):
                    fresh.update(zip(chunk, readings, strict=True))
    else:
        fresh = {text: read_note(text) for text in wanted}
    if len(_recent) + len(fresh) > _CACHED_NOTES:
        _recent.clear()
    _recent.update((keys[text], reading) for text, reading in fresh.items())
    return [NoteReading() if text is None else _recent.get(keys[text]) or fresh[text] for text in texts]


def forget_readings() -> None:
    """Drop the kept readings (a benchmark timing each pass, or a caller done with a large run)."""
    _recent.clear()
