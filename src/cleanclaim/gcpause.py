"""`collector_paused`: Python's cyclic garbage collector held off while a batch is built.

Why: reading 10,000 encounters builds millions of small objects (YAML nodes, dicts, pydantic models, rule rows) that
all live until the run ends. The collector is triggered by allocations, so it walked that growing heap again and
again and freed nothing: two thirds of loading a 10,000-encounter file, and a quarter of checking it
(bench/notes_speed.py, bench/README.md). While it is paused, reference counting still frees every object that is
not part of a cycle; the collector resumes when the outermost batch ends.

Process-wide (as the collector is): a pause in one thread covers the others until every pause has ended. Nested and
concurrent pauses count, so the collector is enabled again only after the last one, and only if it was enabled
before the first.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]

_lock = threading.Lock()
_pauses = 0
_resume = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Hold off the cyclic collector for the block (usable as a decorator too)."""
    global _pauses, _resume
    with _lock:
        if _pauses == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _resume:
                gc.enable()
