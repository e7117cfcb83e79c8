"""`cache_built_once`: an entry is built by one thread while the others wait, and hits take no lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from cleanclaim.caching import cache_built_once


def _at_once(threads: int, work: Callable[[], object]) -> list[object]:
    start = threading.Barrier(threads)
    results: list[object] = []

    def run() -> None:
        start.wait()
        results.append(work())

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return results


def test_threads_missing_the_same_entry_build_it_once_and_share_it() -> None:
    builds: list[str] = []

    @cache_built_once
    def table(name: str) -> list[str]:
        builds.append(name)
        time.sleep(0.05)  # long enough that every thread arrives while the first builds
        return [name]

    results = _at_once(6, lambda: table("fy2026"))
    assert builds == ["fy2026"]
    assert len(results) == 6
    assert all(result is results[0] for result in results)


def test_entries_are_per_argument_and_cleared_on_request() -> None:
    builds: list[tuple[int, int]] = []

    @cache_built_once
    def pair(a: int, b: int = 0) -> tuple[int, int]:
        builds.append((a, b))
        return (a, b)

    first = pair(1)
    assert pair(1) is first
    assert pair(1, b=2) == (1, 2)
    assert pair(1, b=2) is pair(1, b=2)
    assert pair(2) == (2, 0)
    assert builds == [(1, 0), (1, 2), (2, 0)]
    pair.cache_clear()
    assert pair(1) == (1, 0)
    assert builds[-1] == (1, 0) and len(builds) == 4


def test_a_hit_does_not_wait_for_another_entrys_build() -> None:
    # the lock is taken on a miss only: while one thread builds "slow", a cached "fast" is answered at once
    building = threading.Event()
    release = threading.Event()

    @cache_built_once
    def value(name: str) -> str:
        if name == "slow":
            building.set()
            release.wait(5)
        return name

    value("fast")
    builder = threading.Thread(target=value, args=("slow",))
    builder.start()
    assert building.wait(5)
    answered: list[str] = []
    reader = threading.Thread(target=lambda: answered.append(value("fast")))
    reader.start()
    reader.join(1)
    assert answered == ["fast"]  # answered while the slow build still holds the lock
    release.set()
    builder.join()
    assert value("slow") == "slow"


def test_a_failed_build_is_not_cached() -> None:
    calls: list[int] = []

    @cache_built_once
    def flaky(n: int) -> int:
        calls.append(n)
        if len(calls) == 1:
            raise OSError("not yet")
        return n

    with pytest.raises(OSError, match="not yet"):
        flaky(3)
    assert flaky(3) == 3
    assert calls == [3, 3]


def test_the_wrapper_keeps_the_functions_name_and_docstring() -> None:
    @cache_built_once
    def named() -> int:
        """Why it is cached."""
        return 1

    assert named.__name__ == "named"
    assert named.__doc__ == "Why it is cached."


def test_keyword_arguments_do_not_share_an_entry_with_positional_ones_that_look_alike() -> None:
    built: list[tuple[object, ...]] = []

    @cache_built_once
    def value(*args: object, **kwargs: object) -> tuple[object, ...]:
        built.append((args, kwargs))
        return (args, tuple(sorted(kwargs.items())))

    assert value(1, b=2) == ((1,), (("b", 2),))
    assert value((1,), (("b", 2),)) == (((1,), (("b", 2),)), ())
    assert len(built) == 2
