"""A release's table is built once per process, even when several threads (an audit's partitions) ask at once."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator

import polars as pl
import pytest

from cleanclaim import diagnoses
from cleanclaim.diagnoses import DiagnosisStatus, ReleaseInfo, classify_diagnoses, lookup_diagnosis, release_for

IN_FY2026 = dt.date(2026, 5, 4)


@pytest.fixture
def counted_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Empty caches, and every bundled table read recorded (slowed, so that threads overlap inside the read)."""
    _clear_caches()
    reads: list[str] = []
    read = diagnoses._read_bundled

    def slow_read(release: ReleaseInfo) -> pl.DataFrame:
        reads.append(release.name)
        time.sleep(0.05)
        return read(release)

    monkeypatch.setattr(diagnoses, "_read_bundled", slow_read)
    yield reads
    _clear_caches()  # the next test reads the real, unslowed table


def _clear_caches() -> None:
    diagnoses._table.cache_clear()
    diagnoses._release_codes.cache_clear()
    diagnoses._frame_for.cache_clear()


def _at_once(work: list[threading.Thread]) -> None:
    for thread in work:
        thread.start()
    for thread in work:
        thread.join()


def test_threads_asking_for_one_release_read_it_once(counted_reads: list[str]) -> None:
    release, _ = release_for(IN_FY2026)
    start = threading.Barrier(4)
    statuses: list[DiagnosisStatus] = []

    def lookup() -> None:
        start.wait()
        statuses.append(lookup_diagnosis("M62.81", IN_FY2026).status)

    _at_once([threading.Thread(target=lookup) for _ in range(4)])
    assert statuses == [DiagnosisStatus.BILLABLE] * 4
    assert counted_reads.count(release.name) == 1


def test_column_wise_classification_in_threads_reads_each_release_once(counted_reads: list[str]) -> None:
    # more rows than the row-by-row path takes, so the sorted code table is built too (once as well)
    frame = pl.DataFrame({"diagnosis": ["M62.81", "M62", "Q99.XX", "12.3"] * 200,
                          "date": [IN_FY2026] * 800})
    assert frame.height > diagnoses.CLASSIFY_IN_PYTHON_UP_TO
    start = threading.Barrier(3)
    results: list[pl.DataFrame] = []

    def classify() -> None:
        start.wait()
        results.append(classify_diagnoses(frame))

    _at_once([threading.Thread(target=classify) for _ in range(3)])
    assert len(results) == 3
    assert all(result.equals(results[0]) for result in results)
    assert results[0].get_column("dx_status").head(4).to_list() == [
        "billable", "not_billable", "unknown", "invalid_format"]
    release, _ = release_for(IN_FY2026)
    assert counted_reads.count(release.name) == 1


def test_threads_asking_for_the_diagnosis_frame_build_it_once(counted_reads: list[str]) -> None:
    # the frame spans every loaded release: each release's table is read once, and every thread gets the same frame
    start = threading.Barrier(3)
    frames: list[pl.DataFrame] = []

    def frame() -> None:
        start.wait()
        frames.append(diagnoses.diagnosis_frame())

    _at_once([threading.Thread(target=frame) for _ in range(3)])
    assert len(frames) == 3
    assert all(built is frames[0] for built in frames)
    assert sorted(counted_reads) == sorted(set(counted_reads))
    assert counted_reads
