"""read_notes: the batch reader gives exactly read_note's readings, in worker processes or not (issue 13 speed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cleanclaim.notes import batch, read_note
from cleanclaim.notes.batch import forget_readings, read_notes

SET = Path(__file__).parent


def _texts(count: int) -> list[str]:
    notes = [item["note"] for path in sorted(SET.glob("*.yaml"))
             for item in yaml.safe_load(path.read_text(encoding="utf-8"))["notes"]]
    return [f"{notes[i % len(notes)]}\nRef {i}." for i in range(count)]


def test_worker_processes_read_exactly_what_one_process_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    forget_readings()
    monkeypatch.setattr(batch, "PARALLEL_FROM", 20)
    monkeypatch.setattr(batch, "_CHUNK", 7)
    monkeypatch.setattr(batch, "_workers", lambda: 2)
    texts = _texts(45)
    parallel = read_notes([*texts, None])
    assert len(parallel) == 46
    assert [r.to_json() for r in parallel[:-1]] == [read_note(t).to_json() for t in texts]
    assert parallel[-1].interventions == [] and parallel[-1].signed_by is None
    forget_readings()


def test_a_note_read_again_is_the_kept_reading_and_repeats_are_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    forget_readings()
    calls: list[str] = []

    def counting(text: str) -> object:
        calls.append(text)
        return read_note(text)

    monkeypatch.setattr(batch, "read_note", counting)
    texts = _texts(3)
    first = read_notes([texts[0], texts[1], texts[0]])
    assert first[0] is first[2]
    assert len(calls) == 2
    again = read_notes([texts[1], texts[2]])
    assert again[0] is first[1]
    assert len(calls) == 3
    forget_readings()
    read_notes([texts[1]])
    assert len(calls) == 4
    forget_readings()


def test_a_long_note_is_read_once_and_its_text_is_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    forget_readings()
    monkeypatch.setattr(batch, "_CACHED_LENGTH", 10)
    calls: list[str] = []

    def counting(text: str) -> object:
        calls.append(text)
        return read_note(text)

    monkeypatch.setattr(batch, "read_note", counting)
    long_note = "Therapeutic exercise 25 min. " * 3
    [reading] = read_notes([long_note])
    assert [(i.code, i.minutes) for i in reading.interventions] == [(i.code, i.minutes)
                                                                    for i in read_note(long_note).interventions]
    [again] = read_notes([long_note])
    assert again is reading and len(calls) == 1  # the services, the rules and the output ask for it: read once
    assert long_note not in batch._recent  # kept under its digest, not its text
    assert read_notes([long_note + " "])[0] is not reading and len(calls) == 2
    forget_readings()


def test_workers_started_ahead_of_a_file_with_many_notes_do_the_reading(monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path) -> None:
    forget_readings()
    monkeypatch.setattr(batch, "PARALLEL_FROM", 20)
    monkeypatch.setattr(batch, "_CHUNK", 7)
    monkeypatch.setattr(batch, "_workers", lambda: 2)
    started: list[int] = []
    real_pool = batch._pool
    monkeypatch.setattr(batch, "_pool", lambda workers: started.append(workers) or real_pool(workers))
    texts = _texts(30)
    many, few = tmp_path / "many.yaml", tmp_path / "few.yaml"
    many.write_text(yaml.safe_dump({"encounters": [{"id": f"E{i}", "note": t} for i, t in enumerate(texts)]}))
    few.write_text(yaml.safe_dump({"encounters": [{"id": "E1", "note": texts[0]}]}))
    with batch.workers_ahead(few):
        assert batch._ahead is None and started == []
    with batch.workers_ahead(many):
        assert batch._ahead is not None and started == [2]
        parallel = read_notes(texts)
        assert started == [2]  # read by the workers started ahead, no second pool
    assert batch._ahead is None
    assert [r.to_json() for r in parallel] == [read_note(t).to_json() for t in texts]
    forget_readings()
