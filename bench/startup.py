"""Whole-process cost of the CLI: ``cleanclaim check examples/`` against ``cleanclaim --help`` (start-up only).

Each command runs as its own process several times after a warm-up; wall seconds are read around the child and its
peak resident memory comes from ``os.wait4``. The difference between the two medians is the work of checking the
bundled examples; ``--help`` alone is what importing the CLI costs.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLEANCLAIM = str(Path(sys.executable).parent / "cleanclaim")
COMMANDS = {
    "cleanclaim --help": [CLEANCLAIM, "--help"],
    "cleanclaim check examples/ --as-of 2026-04-01": [CLEANCLAIM, "check", "examples/", "--as-of", "2026-04-01"],
}


def _once(command: list[str]) -> tuple[float, float, int]:
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def main() -> None:
    runs = int(os.environ.get("BENCH_STARTUP_RUNS", "5"))
    medians = {}
    for label, command in COMMANDS.items():
        _once(command)
        results = [_once(command) for _ in range(runs)]
        walls = [r[0] for r in results]
        medians[label] = statistics.median(walls)
        print(f"startup: {label}: median {medians[label]:.3f} s wall (min {min(walls):.3f}, max {max(walls):.3f}, "
              f"{runs} runs), peak RSS {statistics.median(r[1] for r in results):,.0f} MiB, "
              f"exit {sorted({r[2] for r in results})}")
    help_s, check_s = medians.values()
    print(f"startup: checking the examples costs {check_s - help_s:.3f} s beyond start-up ({help_s:.3f} s)")


if __name__ == "__main__":
    main()
