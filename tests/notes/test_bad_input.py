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


def test_binary_bytes_in_one_note_of_a_file_cost_only_that_encounter(tmp_path: Path) -> None:
    # raw bytes in the file (not an escaped string): 0xff 0xfe (not UTF-8) and a NUL, in the middle encounter's note
    from cleanclaim.scrub import check

    encounters = [{**BASE, "id": eid, "note": "TherEx 15 min. Dana Whitlock, PT" if eid != "E2" else "PASTE"}
                  for eid in ("E1", "E2", "E3")]
    data = yaml.safe_dump({"encounters": encounters}).encode().replace(b"PASTE", b"TherEx \xff\xfe\x00 15 min")
    path = tmp_path / "e.yaml"
    path.write_bytes(data)
    bad = data.index(b"\xff")
    line = data[:bad].count(b"\n") + 1
    result = review_notes(path, as_of=dt.date(2026, 3, 5))
    assert [r.encounter.id for r in result.encounters] == ["E1", "E3"]
    assert all([(i.code, i.minutes) for i in r.reading.interventions] == [("97110", 15)] for r in result.encounters)
    (error,) = result.errors
    assert (error.encounter, error.field, error.line) == ("E2", "note", line)
    assert f"at byte {bad:,} of the file" in error.message
    assert result.exit_code == 2  # some input could not be read; the rest was audited
    assert result.to_json()["errors"][0]["encounter"] == "E2"
    checked = check(path, as_of=dt.date(2026, 3, 5))
    assert checked.summary.encounters == 2 and [e.encounter for e in checked.errors] == ["E2"]
    assert checked.exit_code == 2
