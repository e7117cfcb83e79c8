"""`cleanclaim notes` and `check` end to end on 10,000 encounters with notes (issue 13: <= 20 s on 2 cores).

The encounters are written to a temporary YAML file: the labelled notes of tests/notes/ cycled, each with lines billing
the codes its expectation lists (units from the expected minutes), one patient per 20 encounters. The script times
`cleanclaim.notes.review_notes` (what `cleanclaim notes` runs) and `cleanclaim.check` (all rules) in this process, wall
and CPU, and the reading alone (`read_notes`, parallel for large batches, against one process).

Then the command itself, as a user runs it: `cleanclaim notes FILE --json` in a fresh process (start-up, loading,
reading, rules, JSON written), BENCH_CLI_RUNS times, wall and CPU (the process and its worker processes). With
BENCH_BASELINE=/path/to/another/checkout/src the same command of that checkout runs alternately with this one on the
same file (same load on the machine: the ratio is the honest figure), and the outputs are compared byte for byte:
on the timed file, and (`notes --json` and `check --json`) on a smaller varied file whose encounters over-bill units,
bill codes the note does not name, leave documented services unbilled, lack signatures, state contradictory totals,
carry services or no note, and use a per-code payer, so that every note rule has findings to compare.

Run: .venv/bin/python bench/notes_speed.py   (knobs BENCH_NOTES 10000, BENCH_CLI_RUNS 3, BENCH_BASELINE unset,
BENCH_VARIED 2000, BENCH_IN_PROCESS 1: 0 skips the in-process timings)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import resource
import statistics
import subprocess
import sys
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


def _varied(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The encounters with faults planted in turn (by position, so the file is the same in every run)."""
    varied = []
    for number, row in enumerate(rows):
        row = {**row, "lines": [dict(line) for line in row["lines"]]}
        kind = number % 9
        if kind == 1:  # more units than the note's minutes support, and minutes on the line that say more
            row["lines"][0]["units"] += 1
            row["lines"][0]["minutes"] = row["lines"][0]["units"] * 15
        elif kind == 2 and len(row["lines"]) > 1:  # a documented service left unbilled
            row["lines"].pop()
        elif kind == 3:  # a billed code the note does not name
            row["lines"].append({"code": "97530", "modifiers": ["GP"], "units": 1})
        elif kind == 4:  # a payer that counts each code on its own
            row["payer"] = "commercial"
        elif kind == 5:  # services given: the note's minutes are not taken
            row["services"] = [{"code": line["code"], "minutes": 15 * line["units"]} for line in row["lines"]]
        elif kind == 6:  # unsigned, and totals that contradict each other
            note = row["note"].rsplit("\n", 2)[0]
            row["note"] = f"{note}\nTotal timed minutes: 50. Total treatment time: 20 min."
        elif kind == 7 and number % 2:
            del row["note"]
        varied.append(row)
    return varied


def _command(source: str | None, *args: str) -> list[str]:
    """The `cleanclaim` command of this checkout, or of the checkout whose src folder is ``source``."""
    prefix = f"import sys; sys.path.insert(0, {source!r}); " if source else ""
    return [sys.executable, "-c", f"{prefix}from cleanclaim.cli import main; main()", *args]


def _run_cli(source: str | None, *args: str) -> tuple[float, float, str]:
    """Wall and CPU seconds (the process and its worker processes) of one run, and the SHA-256 of its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(_command(source, *args), capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if done.returncode not in (0, 1):
        raise SystemExit(f"cleanclaim {' '.join(args)} exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    return wall, cpu, hashlib.sha256(done.stdout).hexdigest()


def _cli(path: Path, varied: Path | None) -> None:
    runs = int(os.environ.get("BENCH_CLI_RUNS", "3"))
    baseline = os.environ.get("BENCH_BASELINE")
    sources: dict[str, str | None] = {"this checkout": None}
    if baseline:
        sources = {"baseline": str(Path(baseline).resolve()), **sources}
    args = ("notes", str(path), "--json", "--as-of", "2026-11-23")
    times: dict[str, list[tuple[float, float]]] = {label: [] for label in sources}
    outputs: dict[str, set[str]] = {label: set() for label in sources}
    for run in range(1, runs + 1):
        for label, source in sources.items():  # alternated, so both see the same load
            wall, cpu, digest = _run_cli(source, *args)
            times[label].append((wall, cpu))
            outputs[label].add(digest)
            print(f"run {run} {label:<14}{wall:>8.2f} s wall{cpu:>8.2f} s CPU  load {os.getloadavg()[0]:.1f}",
                  flush=True)
    medians = {label: (statistics.median(w for w, _ in found), statistics.median(c for _, c in found))
               for label, found in times.items()}
    for label, (wall, cpu) in medians.items():
        print(f"cleanclaim notes --json, {label}: median {wall:.2f} s wall, {cpu:.2f} s CPU over {runs} run(s)")
    if baseline:
        (old_wall, old_cpu), (new_wall, new_cpu) = medians["baseline"], medians["this checkout"]
        print(f"this checkout / baseline: {new_wall / old_wall:.2f} wall, {new_cpu / old_cpu:.2f} CPU")
        same = len(outputs["baseline"] | outputs["this checkout"]) == 1
        print(f"--json output on the timed file: {'byte-identical' if same else 'DIFFERS'} (every run)")
        if varied is not None:
            for command in ("notes", "check"):
                found = {label: _run_cli(source, command, str(varied), "--json", "--as-of", "2026-11-23")[2]
                         for label, source in sources.items()}
                print(f"{command} --json on the varied file: "
                      f"{'byte-identical' if len(set(found.values())) == 1 else 'DIFFERS'}")


def main() -> None:
    count = int(os.environ.get("BENCH_NOTES", "10000"))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "encounters.yaml"
        rows = _encounters(count)
        path.write_text(yaml.safe_dump({"encounters": rows}, sort_keys=False), encoding="utf-8")
        texts = [row["note"] for row in rows]
        print(f"{count} encounters with notes, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
        if os.environ.get("BENCH_IN_PROCESS", "1") != "0":
            _timed("read_note, one process", lambda: [read_note(t) for t in texts])
            _timed("read_notes (parallel from its threshold)", lambda: read_notes(texts))
            _timed("cleanclaim notes (review_notes)", lambda: review_notes(path, as_of=dt.date(2026, 11, 23)))
            _timed("cleanclaim check (every rule)", lambda: check(path, as_of=dt.date(2026, 11, 23)))
        varied = None
        if os.environ.get("BENCH_BASELINE"):
            varied = Path(folder) / "varied.yaml"
            size = int(os.environ.get("BENCH_VARIED", "2000"))
            varied.write_text(yaml.safe_dump({"encounters": _varied(_encounters(size))}, sort_keys=False),
                              encoding="utf-8")
        _cli(path, varied)


if __name__ == "__main__":
    main()
