"""Many encounters of one patient on one day through ``cleanclaim check`` (issue 11, "Scale"), in a child process each:
seconds and peak RSS per size, so growth with the square of the lines shows as memory quadrupling when the size
doubles. Every encounter bills 97110 GP x1 (timed) and 97161 GP x1 (untimed, once a day) to Medicare on 2026-03-02:
untimed-code-multiple-units flags every 97161 line, and missing-kx prices the whole day.

Measured on the development machine (2 shared cores), before and after the linear missing-kx and untimed-lines text:
4,000 encounters 18.7 s / 3.0 GB before, 5.8 s / 0.5 GB after; 20,000 encounters (killed at 24 GB in the issue)
35 s / 0.6 GB after.

Knob: BENCH_SAME_DAY (sizes, comma-separated; default 1000,2000,4000).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COLUMNS = ["encounter_id", "date", "payer", "place_of_service", "patient_id", "provider_npi", "provider_discipline",
           "diagnoses", "code", "modifiers", "units", "minutes", "dx_pointers", "charge"]


def write_batch(path: Path, encounters: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for number in range(encounters):
            common = [f"E{number:06d}", "2026-03-02", "medicare", "11", "P1", "1234567893", "PT", "M62.81"]
            writer.writerow([*common, "97161", "GP", 1, "", "1", "100.00"])
            writer.writerow([*common, "97110", "GP", 1, 15, "1", "40.00"])


def run(path: Path) -> tuple[float, float, int]:
    """Seconds, peak RSS (MiB) and exit status of one ``cleanclaim check`` in a fresh child process."""
    code = ("import sys, datetime as dt, resource; from cleanclaim.scrub import check; "
            "check(sys.argv[1], as_of=dt.date(2026, 4, 1)); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    words = done.stdout.split()
    rss = float(words[-1]) / 1024 if done.returncode == 0 and words else float("nan")  # Linux reports KiB
    return seconds, rss, done.returncode


def main() -> None:
    sizes = [int(s) for s in os.environ.get("BENCH_SAME_DAY", "1000,2000,4000").split(",") if s.strip()]
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            path = Path(folder) / f"same_day_{size}.csv"
            write_batch(path, size)
            seconds, rss, status = run(path)
            print(f"same-day: {size:,} encounters ({2 * size:,} lines) of one patient: {seconds:.1f} s, peak RSS "
                  f"{rss:,.0f} MiB{'' if status == 0 else f', exit {status}'}")


if __name__ == "__main__":
    main()
