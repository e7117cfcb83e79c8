"""Timing and memory helpers shared by the benchmark scripts: medians of repeated runs and peak resident memory."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["child_run", "median_seconds", "peak_rss_mib", "percentile", "rate"]


def median_seconds(run: Callable[[], T], *, repeats: int, warmup: int = 1) -> tuple[float, list[float], T]:
    """Median wall seconds of ``repeats`` runs after ``warmup`` uncounted ones, every run's seconds, the last result."""
    result = run()
    for _ in range(warmup - 1):
        result = run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: the value at or below which ``share`` of the runs fall."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))
    return ordered[index]


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}" if seconds > 0 else "inf"


def peak_rss_mib(children: bool = False) -> float:
    """Peak resident set size of this process (or of its waited-for children) in MiB; Linux reports KiB."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF)
    return usage.ru_maxrss / (1024 * 1024) if sys.platform == "darwin" else usage.ru_maxrss / 1024


def child_run(script: str, args: list[str], *, label: str) -> tuple[dict[str, Any], float, float]:
    """``script`` run in a child process: the JSON on its last output line, wall seconds and the child's own peak
    RSS in MiB (via wait4, so the parent's memory is not counted)."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, script, *args], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{label}: child {' '.join(args)} failed with status {status}")
    return json.loads(output.strip().splitlines()[-1]), wall, usage.ru_maxrss / 1024
