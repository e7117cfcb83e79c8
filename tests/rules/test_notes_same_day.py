"""units-not-supported-by-note over a patient's same-day encounters: the notes of the day are one day's minutes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import yaml

from cleanclaim.formats.encounters import parse_encounters
from cleanclaim.rules.engine import RuleSelection
from cleanclaim.scrub import check

BASE: dict[str, Any] = {"date": "2026-03-02", "payer": "medicare", "patient": {"id": "P1", "birth_date": "1950-01-01"},
                        "provider": {"npi": "1234567893", "discipline": "PT"}, "diagnoses": ["M62.81"]}


def _findings(encounters: list[dict[str, Any]]) -> list[tuple[str | None, int | None, str]]:
    read = parse_encounters(yaml.safe_dump({"encounters": encounters}), "day.yaml")
    assert read.errors == []
    result = check(read.encounters, as_of=dt.date(2026, 3, 5),
                   selection=RuleSelection(select=frozenset({"units-not-supported-by-note"})))
    return [(f.encounter, f.line, f.message) for f in result.findings]


def test_the_days_notes_are_pooled_and_held_to_the_days_units() -> None:
    # three visits of 15 minutes each, coded together (3 units on the first), but the second note times nothing (it
    # is left out of the day): 30 documented minutes support 2 units
    notes = {"V1": "TherEx 15 min. Dana Whitlock, PT", "V2": "Pt seen. Dana Whitlock, PT",
             "V3": "TherEx 15 min. Dana Whitlock, PT"}
    visits = [{**BASE, "id": eid, "note": note, "services": [{"code": "97110", "minutes": 15}]}
              for eid, note in notes.items()]
    ((encounter, line, message),) = _findings(visits)
    assert (encounter, line) == ("V1", 1)
    assert "billed for 3 unit(s), but the patient's 2 notes of the day document 30 minute(s)" in message
    assert "V1: TherEx 15 min; V3: TherEx 15 min" in message and "support 2 unit(s)" in message
    # the same three visits, each note timing its 15 minutes: 45 minutes, 3 units, nothing to say
    assert _findings([{**v, "note": "TherEx 15 min. Dana Whitlock, PT"} for v in visits]) == []


def test_another_patients_or_days_notes_are_not_pooled() -> None:
    first = {**BASE, "id": "A", "note": "TherEx 12 min. Dana Whitlock, PT",
             "lines": [{"code": "97110", "modifiers": ["GP"], "units": 2, "minutes": 30, "dx_pointers": [1]}]}
    others = [{**first, "id": "B", "patient": {"id": "P2"}, "lines": [], "note": "TherEx 30 min. Dana Whitlock, PT",
               "services": [{"code": "97110", "minutes": 30}]},
              {**first, "id": "C", "date": "2026-03-03", "lines": [], "note": "TherEx 30 min. Dana Whitlock, PT",
               "services": [{"code": "97110", "minutes": 30}]}]
    assert [(e, line) for e, line, _ in _findings([first, *others])] == [("A", 1)]
