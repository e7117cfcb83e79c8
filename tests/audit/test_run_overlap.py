"""`cleanclaim audit` keeps both cores busy (partitions checked two at a time, the next slice read while one is
spilled, the provider tests beside the findings' writing) and still writes the same rows in the same order as one
step at a time."""

from __future__ import annotations

import contextvars
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import cleanclaim.audit.run as run
from cleanclaim.audit.run import PartitionChecked, _in_order, _read_ahead, audit
from tests.audit.test_run import AS_OF, claim_rows, write_table

_CALLER: contextvars.ContextVar[str] = contextvars.ContextVar("test_caller", default="unset")


def _checked(key: int) -> PartitionChecked:
    """A stand-in result that names its key (only the order of the results is under test)."""
    return PartitionChecked(pl.DataFrame({"key": [key]}), run.Decimal(key), [], [], key, key, pl.DataFrame(),
                            pl.DataFrame())


def test_partitions_come_back_in_key_order_whichever_finishes_first() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def check(key: int) -> PartitionChecked | None:
        with lock:
            started.append(key)
        time.sleep(0.05 if key % 2 == 0 else 0.0)  # the even keys finish after the odd key started beside them
        return None if key == 3 else _checked(key)  # a key without lines (no partition file) gives nothing

    assert [c.lines for c in _in_order(check, range(6), 2)] == [0, 1, 2, 4, 5]
    assert sorted(started) == list(range(6))
    assert [c.lines for c in _in_order(check, range(6), 1)] == [0, 1, 2, 4, 5]


def test_no_more_than_the_partitions_at_once_are_in_flight() -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def check(key: int) -> PartitionChecked:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.01)
        with lock:
            running -= 1
        return _checked(key)

    assert len(list(_in_order(check, range(8), 2))) == 8
    assert most == 2


def test_a_slow_partition_does_not_hold_back_the_next_ones_nor_their_order() -> None:
    finished: list[int] = []
    lock = threading.Lock()
    first_done = threading.Event()

    def check(key: int) -> PartitionChecked:
        if key == 0:
            first_done.wait(5)  # partition 0 is slow: it ends only once partitions 1 and 2 have ended beside it
        with lock:
            finished.append(key)
            if finished == [1, 2]:
                first_done.set()
        return _checked(key)

    assert [c.lines for c in _in_order(check, range(5), 2)] == [0, 1, 2, 3, 4]
    # 1 and 2 ended while 0 was still running (had 2 waited for 0, 0 would have timed out first); 3 may end
    # before 0 takes the lock once the event is set, so only 0's place after 1 and 2 is asserted
    assert finished[:2] == [1, 2]
    assert finished.index(0) > 1


def test_one_core_checks_one_partition_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert run._partitions_at_once() == 1
    monkeypatch.setattr(run.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert run._partitions_at_once() == run.PARTITIONS_AT_ONCE


def test_a_partition_that_raises_stops_the_audit_after_the_partitions_before_it() -> None:
    def check(key: int) -> PartitionChecked:
        if key == 2:
            raise RuntimeError("partition 2")
        return _checked(key)

    results = _in_order(check, range(6), 2)
    assert [next(results).lines, next(results).lines] == [0, 1]
    with pytest.raises(RuntimeError, match="partition 2"):
        next(results)


def test_partitions_run_in_the_callers_context_variables() -> None:
    def check(key: int) -> PartitionChecked:
        assert _CALLER.get() == "audit"
        return _checked(key)

    token = _CALLER.set("audit")
    try:
        assert len(list(_in_order(check, range(3), 2))) == 3
    finally:
        _CALLER.reset(token)


def test_read_ahead_yields_every_item_in_order_and_raises_where_the_iterator_did() -> None:
    def items() -> Iterator[str]:
        assert _CALLER.get() == "audit"
        yield from ("a", "b", "c")
        raise OSError("disk")

    token = _CALLER.set("audit")
    try:
        ahead = _read_ahead(items())
        assert [next(ahead), next(ahead), next(ahead)] == ["a", "b", "c"]
        with pytest.raises(OSError, match="disk"):
            next(ahead)
        assert list(_read_ahead(iter([]))) == []
    finally:
        _CALLER.reset(token)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_overlapped_audit_writes_the_same_rows_in_the_same_order_as_one_step_at_a_time(
        tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # several files (a read-ahead across files), several slices and partitions (two partitions at once)
    files = [write_table(tmp_path / f"claims{n}{suffix}", claim_rows(120, seed=n)) for n in range(3)]
    rows = sum(pl.read_csv(f).height if suffix == ".csv" else pl.read_parquet(f).height for f in files)
    overlapped = audit(files, tmp_path / "overlapped", as_of=AS_OF, partition_rows=rows // 9)
    monkeypatch.setattr(run, "PARTITIONS_AT_ONCE", 1)
    monkeypatch.setattr(run, "_read_ahead", lambda items: items)
    serial = audit(files, tmp_path / "serial", as_of=AS_OF, partition_rows=rows // 9)
    assert overlapped.summary["findings"]["by_rule"]
    for name in ("findings.parquet", "rejected.parquet"):
        assert pl.read_parquet(tmp_path / "overlapped" / name).equals(pl.read_parquet(tmp_path / "serial" / name))
    # the same rows in the same order; a p value may differ in its last bits between any two runs, serial ones too
    # (a float sum whose order Polars' threads decide)
    assert_frame_equal(pl.read_parquet(tmp_path / "overlapped" / "providers.parquet"),
                       pl.read_parquet(tmp_path / "serial" / "providers.parquet"), check_exact=False, rel_tol=1e-9)
    assert overlapped.summary == serial.summary
    assert json.loads((tmp_path / "overlapped" / "summary.json").read_text()) == serial.summary
    assert overlapped.exit_code == serial.exit_code
