"""Readable but wrong is a finding, not an input error: an encounter with a malformed NPI, an unknown place of
service or no rendering NPI is read, reported by its rule (exit 1) and checked for everything else; a claim writer
refuses it with the same rule's name. Exit 2 stays for what cannot be read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cleanclaim.cli import app

EXAMPLES = Path(__file__).parent.parent / "examples"
runner = CliRunner()

# 96150 was deleted on 2020-01-01: deleted-code fires on this line, whatever else is wrong with the encounter
ENCOUNTER = """\
id: E1
date: 2026-03-02
payer: medicare
place_of_service: "11"
patient: {id: P1, birth_date: 1950-01-01, sex: F}
provider: {npi: "1234567893", discipline: PT}
diagnoses: [M62.81]
lines:
  - {code: "96150", units: 1, dx_pointers: [1]}
"""
NPI = 'provider: {npi: "1234567893", discipline: PT}'


def _check(tmp_path: Path, text: str) -> tuple[int, dict[str, object]]:
    path = tmp_path / "e.yaml"
    path.write_text(text)
    result = runner.invoke(app, ["check", str(path), "--json", "--as-of", "2026-04-01"])
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.parametrize(
    ("change", "slug", "words"),
    [
        ((NPI, 'provider: {npi: "12345678", discipline: PT}'), "invalid-npi", "has 8 characters"),
        ((NPI, 'provider: {npi: "123456789", discipline: PT}'), "invalid-npi", "has 9 characters"),
        (('place_of_service: "11"', 'place_of_service: "ZZ"'), "invalid-place-of-service", "ZZ is not in"),
        ((NPI, "provider: {discipline: PT}"), "missing-required-field", "rendering provider NPI"),
        ((NPI, 'provider: {npi: "", discipline: PT}'), "missing-required-field", "rendering provider NPI"),
        (("birth_date: 1950-01-01", "birth_date: 2030-01-01"), "birth-date-after-service", "after the date of service"),
    ],
)
def test_wrong_claim_data_is_a_finding_and_the_rest_is_checked(tmp_path: Path, change: tuple[str, str], slug: str,
                                                               words: str) -> None:
    assert change[0] in ENCOUNTER
    status, data = _check(tmp_path, ENCOUNTER.replace(*change))
    assert "errors" not in data  # read, not refused
    findings = data["findings"]
    assert isinstance(findings, list)
    flagged = {(f["rule"], f["severity"]) for f in findings}
    assert (slug, "error") in flagged, findings
    assert ("deleted-code", "error") in flagged  # the rest of the encounter was checked
    assert any(f["rule"] == slug and words in f["message"] for f in findings)
    assert status == 1


def test_the_same_encounter_without_the_wrong_value_has_only_the_other_finding(tmp_path: Path) -> None:
    status, data = _check(tmp_path, ENCOUNTER)
    findings = data["findings"]
    assert isinstance(findings, list)
    assert {f["rule"] for f in findings} == {"deleted-code"}
    assert status == 1


def test_what_cannot_be_read_is_still_an_input_error(tmp_path: Path) -> None:
    # a date of service that is not a date cannot be checked at all: exit 2, the field named
    status, data = _check(tmp_path, ENCOUNTER.replace("date: 2026-03-02", "date: next tuesday"))
    errors = data["errors"]
    assert isinstance(errors, list)
    assert [e["field"] for e in errors] == ["date"]
    assert status == 2


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (('npi: "1987654328", discipline: PT', 'npi: "19876543", discipline: PT'), "provider.npi is not a valid NPI"),
        (('npi: "1987654328", discipline: PT', "discipline: PT"), "provider.npi"),
        (('place_of_service: "11"', 'place_of_service: "ZZ"'), "invalid-place-of-service"),
        (('tax_id: "371234567"', 'tax_id: "371-234567"'), "billing provider tax id"),
        (("birth_date: 1948-05-17", "birth_date: 2048-05-17"), "birth-date-after-service"),
    ],
)
@pytest.mark.parametrize("fmt", ["837p", "fhir", "cms1500", "superbill"])
def test_claim_writers_refuse_what_the_rules_report(tmp_path: Path, change: tuple[str, str], named: str,
                                                   fmt: str) -> None:
    source = (EXAMPLES / "pt-visit-97535.yaml").read_text()
    assert change[0] in source
    path = tmp_path / "e.yaml"
    path.write_text(source.replace(*change))
    target = tmp_path / "out"
    result = runner.invoke(app, ["export", str(path), "-f", fmt, "-o", str(target), "--charge-master",
                                 str(EXAMPLES / "practice" / "charge-master.csv")], env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert named in result.output
    assert "2048" not in result.output  # a birth date is PHI: named, never shown
    # nothing written (the PDF formats write into a folder of that name)
    assert not target.exists() or (target.is_dir() and not any(target.iterdir()))


def test_a_subscriber_without_a_member_id_is_a_finding_and_the_rest_is_checked(tmp_path: Path) -> None:
    status, data = _check(tmp_path, ENCOUNTER + "subscriber: {first_name: Ann}\nclaim_id: C1\n")
    assert "errors" not in data
    findings = data["findings"]
    assert isinstance(findings, list)
    assert any(f["rule"] == "missing-required-field" and "subscriber member id" in f["message"] for f in findings)
    assert any(f["rule"] == "deleted-code" for f in findings)
    assert status == 1


@pytest.mark.parametrize(("fmt", "refused"), [("837p", True), ("fhir", True), ("cms1500", True), ("superbill", False)])
def test_claim_writers_refuse_a_subscriber_without_member_id_and_the_superbill_does_not_need_one(
        tmp_path: Path, fmt: str, refused: bool) -> None:
    source = (EXAMPLES / "pt-visit-97535.yaml").read_text()
    assert "member_id: 1EG4TE5MK73" in source
    path = tmp_path / "e.yaml"
    path.write_text(source.replace("member_id: 1EG4TE5MK73", "group_number: G1"))
    target = tmp_path / "out"
    result = runner.invoke(app, ["export", str(path), "-f", fmt, "-o", str(target), "--charge-master",
                                 str(EXAMPLES / "practice" / "charge-master.csv")], env={"COLUMNS": "300"})
    if refused:
        assert result.exit_code == 2, result.output
        assert "subscriber.member_id" in result.output
    else:
        assert result.exit_code == 0, result.output
        assert any(target.iterdir())
