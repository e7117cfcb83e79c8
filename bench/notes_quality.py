"""Note reader quality and speed on the labelled set (tests/notes/*.yaml).

Prints precision, recall and F1 per field (the target: F1 >= 0.97 on (code, minutes) pairs) and the time to read
10,000 notes (the labelled set cycled; target <= 20 s on 2 cores). Run: .venv/bin/python bench/notes_quality.py
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from cleanclaim.notes import read_note

SET = Path(__file__).resolve().parent.parent / "tests" / "notes"


def _notes() -> list[dict[str, Any]]:
    return [item for path in sorted(SET.glob("*.yaml"))
            for item in yaml.safe_load(path.read_text(encoding="utf-8"))["notes"]]


def main() -> None:
    notes = _notes()
    tallies: dict[str, list[int]] = {}  # field -> [true positives, predicted, expected]

    def score(field: str, got: Counter[Any], wanted: Counter[Any]) -> None:
        tally = tallies.setdefault(field, [0, 0, 0])
        tally[0] += sum((got & wanted).values())
        tally[1] += sum(got.values())
        tally[2] += sum(wanted.values())

    for item in notes:
        reading, expect = read_note(item["note"]), item["expect"]
        score("(code, minutes)", Counter((i.code, i.minutes) for i in reading.interventions),
              Counter((e["code"], e["minutes"]) for e in expect["interventions"]))
        score("code", Counter(i.code for i in reading.interventions),
              Counter(e["code"] for e in expect["interventions"]))
        score("assistant minutes", Counter((i.code, i.assistant_minutes) for i in reading.interventions
                                           if i.assistant_minutes),
              Counter((e["code"], e["assistant_minutes"]) for e in expect["interventions"] if e["assistant_minutes"]))
        if "not_furnished" in expect:
            score("not furnished", Counter({n.code for n in reading.not_furnished
                                            if n.code and n.reason != "not-separate"}),
                  Counter(set(expect["not_furnished"])))
        for name in ("total_timed_minutes", "total_treatment_minutes", "group_size", "signed_by"):
            if name in expect:
                value = getattr(reading, name)
                score(name, Counter([value] if value is not None else []),
                      Counter([expect[name]] if expect[name] is not None else []))
    print(f"{len(notes)} labelled notes")
    print(f"{'field':<26}{'precision':>10}{'recall':>10}{'F1':>8}{'n':>6}")
    for field, (tp, predicted, expected) in tallies.items():
        precision = tp / predicted if predicted else 1.0
        recall = tp / expected if expected else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        print(f"{field:<26}{precision:>10.3f}{recall:>10.3f}{f1:>8.3f}{expected:>6}")
    texts = [item["note"] for item in notes]
    batch = [texts[i % len(texts)] for i in range(10_000)]
    started = time.perf_counter()
    for text in batch:
        read_note(text)
    elapsed = time.perf_counter() - started
    print(f"10,000 notes read in {elapsed:.2f} s ({elapsed / 10_000 * 1000:.2f} ms a note, one process)")


if __name__ == "__main__":
    main()
