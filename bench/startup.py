"""Whole-process cost of the CLI: ``cleanclaim check examples/`` against ``cleanclaim --help`` (start-up only), the
help of the commands whose options need the most (``check --help``, ``audit --help``), and what the ``audit`` command
imports before it reads a line.

Each command runs as its own process several times after a warm-up; wall seconds are read around the child, its CPU
seconds (user + sys) and peak resident memory come from ``os.wait4``. CPU is the figure to compare on a shared
machine: wall includes the wait for a core. The difference between the two ``check`` medians is the work of checking
the bundled examples; ``--help`` alone is what importing the CLI costs.

The audit's imports are timed in a child (CPU seconds of each step, in the order the command meets them; a step
counts only what the steps before it did not already load). Python compiles every module it cannot find a cached
``.pyc`` for, in every process when ``PYTHONDONTWRITEBYTECODE`` is set or ``__pycache__`` is not writable: an
installed wheel has them, an editable checkout may not, so the run says which case it measured.
"""

from __future__ import annotations

import json
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
    "cleanclaim check --help": [CLEANCLAIM, "check", "--help"],
    "cleanclaim audit --help": [CLEANCLAIM, "audit", "--help"],
    "cleanclaim check examples/ --as-of 2026-04-01": [CLEANCLAIM, "check", "examples/", "--as-of", "2026-04-01"],
}
AUDIT_IMPORTS = ("cleanclaim.cli", "polars", "pyarrow.parquet", "scipy.special", "pydantic", "jinja2",
                 "cleanclaim.model", "cleanclaim.rules.catalogue", "cleanclaim.audit.run")
"""What `cleanclaim audit` imports: the heavy pieces named on their own, the last step the rest."""


def _once(command: list[str]) -> tuple[float, float, float, int]:
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    return (time.perf_counter() - start, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
            os.waitstatus_to_exitcode(status))


def _import_steps() -> None:
    """Child: CPU seconds of each step of `AUDIT_IMPORTS`, as one JSON line."""
    import importlib

    steps: dict[str, float] = {}
    for name in AUDIT_IMPORTS:
        start = time.process_time()
        importlib.import_module(name)
        steps[name] = time.process_time() - start
    from importlib.util import cache_from_source

    import cleanclaim.cli

    cached = Path(cache_from_source(cleanclaim.cli.__file__)).exists()
    print(json.dumps({"steps": steps, "bytecode_cached": cached}))


def _audit_imports(runs: int) -> None:
    command = [sys.executable, __file__, "--import-steps"]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)  # warm-up (and .pyc written, if allowed)
    results = [json.loads(subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
                          .stdout.splitlines()[-1]) for _ in range(runs)]
    steps = {name: statistics.median(r["steps"][name] for r in results) for name in AUDIT_IMPORTS}
    shown = ", ".join(f"{name} {seconds:.3f}" for name, seconds in steps.items())
    print(f"startup: the audit command's imports: {sum(steps.values()):.3f} s CPU (medians of {runs} runs; {shown}); "
          f"cleanclaim's bytecode {'cached' if results[-1]['bytecode_cached'] else 'NOT cached: compiled every run'}")


def main() -> None:
    runs = int(os.environ.get("BENCH_STARTUP_RUNS", "5"))
    walls, cpus = {}, {}
    for label, command in COMMANDS.items():
        _once(command)
        results = [_once(command) for _ in range(runs)]
        wall = [r[0] for r in results]
        walls[label] = statistics.median(wall)
        cpus[label] = statistics.median(r[1] for r in results)
        print(f"startup: {label}: median {walls[label]:.3f} s wall (min {min(wall):.3f}, max {max(wall):.3f}), "
              f"{cpus[label]:.3f} s CPU, {runs} runs, peak RSS "
              f"{statistics.median(r[2] for r in results):,.0f} MiB, exit {sorted({r[3] for r in results})}, "
              f"load {os.getloadavg()[0]:.1f}")
    help_label, check_label = "cleanclaim --help", "cleanclaim check examples/ --as-of 2026-04-01"
    print(f"startup: checking the examples costs {walls[check_label] - walls[help_label]:.3f} s wall, "
          f"{cpus[check_label] - cpus[help_label]:.3f} s CPU beyond start-up ({walls[help_label]:.3f} s wall, "
          f"{cpus[help_label]:.3f} s CPU)")
    _audit_imports(runs)


if __name__ == "__main__":
    if sys.argv[1:] == ["--import-steps"]:
        _import_steps()
    else:
        main()
