"""`cache_built_once`: a process cache whose entries are built once even when threads ask for them at the same time.

Why not ``functools.cache``: an audit checks partitions in threads, and two partitions reaching the same missing entry
(an ICD-10-CM release's table, ~0.1 s of CPU) each built it. Why not a lock around the whole call: the entries are
read on every diagnosis lookup, so a hit must not wait for a lock (or for another thread's miss). So the lock is
taken on a miss only, and the entry looked up again under it (double-checked): the first thread builds, the others
wait for it and get the same object.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from functools import update_wrapper
from typing import Generic, ParamSpec, TypeVar

__all__ = ["BuiltOnce", "cache_built_once"]

P = ParamSpec("P")
R = TypeVar("R")
_KEYWORDS = object()
"""Separates positional from keyword arguments in a cache key."""


class BuiltOnce(Generic[P, R]):
    """A function's results by arguments (hashable, as for ``functools.cache``)."""

    def __init__(self, build: Callable[P, R]) -> None:
        self._build = build
        self._values: dict[Hashable, R] = {}
        # re-entrant: a build that asks its own cache for another entry must not wait for itself
        self._lock = threading.RLock()
        update_wrapper(self, build)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        # a marker between the two parts, as functools does: f(1, b=2) and f((1,), (("b", 2),)) are two entries
        key: Hashable = (*args, _KEYWORDS, *sorted(kwargs.items())) if kwargs else args
        try:
            return self._values[key]  # a hit: no lock (a dict read is atomic)
        except KeyError:
            pass
        with self._lock:
            if key not in self._values:  # another thread may have built it while this one waited
                self._values[key] = self._build(*args, **kwargs)
            return self._values[key]

    def cache_clear(self) -> None:
        """Forget every entry (after the data behind them changed, or in tests)."""
        with self._lock:
            self._values.clear()


def cache_built_once(build: Callable[P, R]) -> BuiltOnce[P, R]:
    """Cache ``build``'s results for the process, each built by one thread while the others wait for it."""
    return BuiltOnce(build)
