"""Every labelled note (tests/notes/*.yaml) read into exactly its expected extraction."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from cleanclaim.notes import read_note

HERE = Path(__file__).parent


def _labelled() -> list[Any]:
    params = []
    for path in sorted(HERE.glob("*.yaml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8"))["notes"]:
            params.append(pytest.param(item, id=item["id"]))
    return params


def test_the_set_covers_every_family_and_has_200_notes() -> None:
    notes = [p.values[0] for p in _labelled()]
    assert len(notes) >= 200
    assert {n["family"] for n in notes} >= {"PT", "OT", "SLP", "HBAI", "tobacco", "alcohol", "coaching"}


@pytest.mark.parametrize("item", _labelled())
def test_note_reads_as_expected(item: dict[str, Any]) -> None:
    reading = read_note(item["note"])
    expect = item["expect"]
    got = Counter((i.code, i.minutes, i.assistant_minutes) for i in reading.interventions)
    wanted = Counter((e["code"], e["minutes"], e["assistant_minutes"]) for e in expect["interventions"])
    assert got == wanted
    if "not_furnished" in expect:
        assert sorted({n.code for n in reading.not_furnished if n.code and n.reason != "not-separate"}) == \
            sorted(set(expect["not_furnished"]))
    for name in ("total_timed_minutes", "total_treatment_minutes", "group_size", "signed_by"):
        if name in expect:
            assert getattr(reading, name) == expect[name], name
    if expect.get("one_on_one") is not None:
        assert reading.one_on_one is expect["one_on_one"]
    if "goals" in expect:
        assert len(reading.goals) == expect["goals"], [g.text for g in reading.goals]
    if "caregiver_present" in expect:
        assert reading.caregiver_present is expect["caregiver_present"]
    if "capacity_to_learn" in expect:
        assert (reading.capacity_to_learn is not None) is expect["capacity_to_learn"]
    for intervention in reading.interventions:  # every span is the note's own text
        assert item["note"][intervention.start:intervention.end] == intervention.text
