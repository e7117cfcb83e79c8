"""Bad notes never crash the reader or cost the other encounters: each is a finding naming its encounter."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from cleanclaim.notes import MAX_NOTE_CHARS, read_note
from cleanclaim.notes.review import review_notes

BASE = {"date": "2026-03-02", "payer": "medicare", "patient": {"id": "P1", "birth_date": "1950-01-01", "sex": "F"},
        "provider": {"npi": "1234567893", "discipline": "PT"}, "diagnoses": ["M62.81"],
        "lines": [{"code": "97110", "modifiers": ["GP"], "units": 1, "minutes": 15, "dx_pointers": [1]}]}


def test_a_5_mb_note_is_read_up_to_the_limit_and_said_so() -> None:
    note = "TherEx 15 min. " + "Pt tolerated treatment well. " * (5_000_000 // 29)
    reading = read_note(note)
    assert [p.kind for p in reading.problems] == ["too-long"]
    assert f"{len(note):,}" in reading.problems[0].message
    assert [(i.code, i.minutes) for i in reading.interventions] == [("97110", 15)]


def test_markup_is_skipped_and_spans_still_index_the_note() -> None:
    note = "<div><b>GT</b>: 12 minutes</div>&nbsp;<p>Dana Whitlock, PT</p>"
    reading = read_note(note)
    assert [p.kind for p in reading.problems] == ["html"]
    (gait,) = reading.interventions
    assert (gait.code, gait.minutes) == ("97116", 12)
    assert note[gait.start:gait.end] == gait.text


def test_every_encounter_is_reviewed_whatever_its_neighbours_note(tmp_path: Path) -> None:
    notes = {"EMPTY": "", "BINARY": "\x00\x01\x02\x03PK\x03\x04", "BIG": "x" * (MAX_NOTE_CHARS + 10),
             "RTF": "{\\rtf1\\ansi TherEx 15 min\\par}", "CJK": "患者は運動療法を十五分行った。",
             "GOOD": "TherEx 15 min. Dana Whitlock, PT"}
    encounters = [{**BASE, "id": eid, "note": note} for eid, note in notes.items()]
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump({"encounters": encounters}, allow_unicode=True), encoding="utf-8")
    result = review_notes(path, as_of=dt.date(2026, 3, 5))
    assert [r.encounter.id for r in result.encounters] == list(notes)
    unreadable = {r.encounter.id for r in result.encounters for f in r.findings if f.rule == "note-unreadable"}
    assert unreadable == {"EMPTY", "BINARY", "BIG", "RTF", "CJK"}
    good = next(r for r in result.encounters if r.encounter.id == "GOOD")
    assert [(i.code, i.minutes) for i in good.reading.interventions] == [("97110", 15)]
    assert not [f for f in good.findings if f.severity.value != "info"]
    assert result.exit_code == 0


def test_a_5_mb_html_or_mixed_language_note_in_a_file_is_a_finding_on_its_encounter(tmp_path: Path) -> None:
    # through the file and the command's whole path (load, read, rules), not only the reader
    notes = {"BIG": "TherEx 15 min. " + "Pt tolerated treatment well. " * (5_000_000 // 29),
             "HTML": "<html><body><p><b>TherEx</b> 15 min</p><p>Dana Whitlock, PT</p></body></html>",
             "MIXED": "Paciente realizó ejercicios terapéuticos por veinte minutos con la terapeuta para la marcha. "
                      "TherEx 15 min. Dana Whitlock, PT",
             "GOOD": "TherEx 15 min. Dana Whitlock, PT"}
    encounters = [{**BASE, "id": eid, "note": note} for eid, note in notes.items()]
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump({"encounters": encounters}, allow_unicode=True, width=10_000_000),
                    encoding="utf-8")
    result = review_notes(path, as_of=dt.date(2026, 3, 5))
    assert result.errors == [] and result.failures == []
    problems = {r.encounter.id: [p.kind for p in r.reading.problems] for r in result.encounters}
    assert problems == {"BIG": ["too-long"], "HTML": ["html"], "MIXED": ["language"], "GOOD": []}
    unreadable = {f.encounter for r in result.encounters for f in r.findings if f.rule == "note-unreadable"}
    assert unreadable == {"BIG", "HTML", "MIXED"}
    # the English that is there is still read, in every one of them
    assert {r.encounter.id: [(i.code, i.minutes) for i in r.reading.interventions] for r in result.encounters} == {
        eid: [("97110", 15)] for eid in notes}
