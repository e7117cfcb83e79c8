"""`cleanclaim notes` and `check` end to end on 10,000 encounters with notes (issue 13: <= 20 s on 2 cores).

The encounters are written to a temporary YAML file: the labelled notes of tests/notes/ cycled, each with lines billing
the codes its expectation lists (units from the expected minutes), one patient per 20 encounters. The script times
`cleanclaim.notes.review_notes` (what `cleanclaim notes` runs) and `cleanclaim.check` (all rules) in this process, wall
and CPU, and the reading alone (`read_notes`, parallel for large batches, against one process).
Run: .venv/bin/python bench/notes_speed.py   (knob BENCH_NOTES, default 10000)
"""

from __future__ import annotations

import datetime as dt
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from cleanclaim import check
from cleanclaim.notes import read_note
from cleanclaim.notes.batch import forget_readings, read_notes
from cleanclaim.notes.review import review_notes

SET = Path(__file__).resolve().parent.parent / "tests" / "notes"
THERAPY = {"PT": ("PT", "GP"), "OT": ("OT", "GO"), "SLP": ("SLP", "GN")}


def _encounters(count: int) -> list[dict[str, Any]]:
    items = [item for path in sorted(SET.glob("*.yaml"))
             for item in yaml.safe_load(path.read_text(encoding="utf-8"))["notes"]]
    rows = []
    for number in range(count):
        item = items[number % len(items)]
        discipline, modifier = THERAPY.get(item.get("family", "PT"), ("PT", "GP"))
        lines = [{"code": e["code"], "modifiers": [modifier] if item.get("family") in THERAPY else [],
                  "units": max(1, round((e["minutes"] or 15) / 15))}
                 for e in item["expect"]["interventions"]] or [{"code": "97110", "modifiers": ["GP"], "units": 1}]
        day = dt.date(2026, 3, 2) + dt.timedelta(days=number % 200)
        rows.append({"id": f"E{number:05d}", "date": day.isoformat(),
                     "patient": {"id": f"P{number // 20:05d}"},
                     "provider": {"npi": "1234567893", "discipline": discipline},
                     "diagnoses": ["M62.81"], "lines": lines,
                     # a distinct text per encounter: identical notes would be read once (read_notes keeps readings)
                     "note": f"{item['note']}\nRef {number}."})
    return rows


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _timed(label: str, run: Any) -> None:
    forget_readings()  # each step reads every note itself
    wall, cpu = time.perf_counter(), _cpu()
    run()
    print(f"{label:<44}{time.perf_counter() - wall:>8.2f} s wall{_cpu() - cpu:>8.2f} s CPU")


def main() -> None:
    count = int(os.environ.get("BENCH_NOTES", "10000"))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "encounters.yaml"
        rows = _encounters(count)
        path.write_text(yaml.safe_dump({"encounters": rows}, sort_keys=False), encoding="utf-8")
        texts = [row["note"] for row in rows]
        print(f"{count} encounters with notes, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
        _timed("read_note, one process", lambda: [read_note(t) for t in texts])
        _timed("read_notes (parallel from its threshold)", lambda: read_notes(texts))
        _timed("cleanclaim notes (review_notes)", lambda: review_notes(path, as_of=dt.date(2026, 11, 23)))
        _timed("cleanclaim check (every rule)", lambda: check(path, as_of=dt.date(2026, 11, 23)))


if __name__ == "__main__":
    main()
