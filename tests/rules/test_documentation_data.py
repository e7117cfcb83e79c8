"""The documentation requirements file: every entry names its sources, applies to known codes and has valid patterns."""

from __future__ import annotations

import re
from importlib import resources

import yaml

from cleanclaim.rules.catalogue.documentation import requirements
from cleanclaim.rules.tables import codes_frame


def test_every_requirement_has_sources_and_known_codes() -> None:
    text = resources.files("cleanclaim.rules.catalogue").joinpath("documentation.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    assert "source:" in text and "release:" in text
    known = set(codes_frame().get_column("code").to_list())
    for item in raw["requirements"]:
        assert item.get("sources"), item["id"]
        assert set(item.get("codes", [])) <= known, item["id"]


def test_patterns_compile_and_match_their_examples() -> None:
    parsed, minutes = requirements()
    by_id = {r.id: r for r in parsed}
    assert re.search(minutes, "treated for 23 minutes")
    assert not re.search(minutes, "treated twice")
    activity = by_id["self-care-activity"].pattern
    assert activity and re.search(activity, "Meal prep training at the stove")
    assert not re.search(activity, "Pt tolerated treatment well")
    contact = by_id["self-care-one-on-one"].pattern
    assert contact and re.search(contact, "1:1 with the patient")
    group = by_id["group-size"].pattern
    assert group and re.search(group, "Group of 5 for balance")
    assert not re.search(group, "group balance class")
