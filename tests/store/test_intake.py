"""store.intake (the form and upload readers, entering and coding) and store.claim_files (downloads, estimate)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from cleanclaim.errors import InputError, UnreadableTextError, WrongKindOfFileError
from cleanclaim.lifecycle import ClaimState
from cleanclaim.store.claim_files import claim_file, claim_price
from cleanclaim.store.claims import NotFoundError, current_version
from cleanclaim.store.intake import (
    FormProblemsError,
    encounter_from_form,
    enter_encounters,
    read_encounter_file,
    read_upload,
)
from cleanclaim.store.uploads import upload_text
from tests.store.services import Office, encounter

FORM = {"encounter_id": "F-1", "date": "2026-03-02", "patient_ref": "P-1", "provider_npi": "1987654328",
        "discipline": "PT", "payer": "Medicare", "diagnoses": "r26.81; M62.81", "code_1": "97110", "minutes_1": "38",
        "code_2": "97535", "minutes_2": ""}


def test_form_becomes_the_contracts_encounter() -> None:
    made = encounter_from_form(FORM)
    assert (made.id, made.payer, made.diagnoses) == ("F-1", "medicare", ["R26.81", "M62.81"])
    assert [(s.code, s.minutes) for s in made.services] == [("97110", 38), ("97535", None)]
    assert made.claim_id is None and made.lines == []


def test_form_optional_fields_are_kept() -> None:
    made = encounter_from_form({**FORM, "claim_id": "CLM-9", "payer_id": "12345", "first_name": "Ann"})
    assert (made.claim_id, made.payer_id, made.patient.first_name) == ("CLM-9", "12345", "Ann")


def test_form_problems_name_every_field_at_once() -> None:
    with pytest.raises(FormProblemsError) as raised:
        encounter_from_form({**FORM, "encounter_id": " ", "discipline": "", "code_1": "", "minutes_1": "20",
                             "minutes_2": "x"})
    assert set(raised.value.problems) == {"encounter_id", "discipline", "code_1", "minutes_2"}


def test_form_without_services_or_with_a_bad_date_is_refused() -> None:
    with pytest.raises(FormProblemsError) as none:
        encounter_from_form({**FORM, "code_1": "", "minutes_1": "", "code_2": ""})
    assert "at least one service" in none.value.problems["code_1"]
    with pytest.raises(FormProblemsError) as bad:
        encounter_from_form({**FORM, "date": "2026-13-01"})
    assert list(bad.value.problems) == ["date"]


def test_upload_yaml_and_json_are_read() -> None:
    one = encounter("U-1").model_dump(mode="json")
    assert [e.id for e in read_upload("a.json", json.dumps([one]).encode())] == ["E-U-1"]
    assert [e.id for e in read_upload("noext", json.dumps({"encounters": [one]}).encode())] == ["E-U-1"]
    yaml_text = "encounters:\n" + "".join(f"  - {json.dumps(one)}\n" for _ in range(1))
    assert [e.claim_id for e in read_upload("a.yaml", yaml_text.encode())] == ["U-1"]


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "empty"), (b"\x00\x01", "not a text file"), (b"\xff\xfe{", "not UTF-8"),
    (b"code,units\n97110,1\n", "claim-line table"), (b"encounters: [{id: 1}]\n", "nothing was imported"),
])
def test_upload_problems_name_the_file(content: bytes, expected: str) -> None:
    with pytest.raises(InputError) as raised:
        read_upload("upload.yaml", content)
    assert expected in str(raised.value) and "upload.yaml" in str(raised.value)


def _three_with_binary_in_the_middle(second: dict[str, object] | None = None) -> bytes:
    items = [{**encounter(f"B-{n}").model_dump(mode="json", exclude_none=True), "note": f"PASTE-{n}"}
             for n in (1, 2, 3)]
    if second is not None:
        items[2].update(second)
    text = "encounters:\n" + "".join(f"  - {json.dumps(item)}\n" for item in items)
    return text.encode().replace(b"PASTE-2", b"TherEx \xff\xfe \x00 15 min")


@pytest.mark.parametrize("name", ["visits.yaml", "visits"])
def test_an_upload_with_binary_in_one_note_imports_the_others_and_names_that_one(name: str) -> None:
    upload = read_encounter_file(name, _three_with_binary_in_the_middle())
    assert [e.id for e in upload.encounters] == ["E-B-1", "E-B-3"]
    (problem,) = upload.problems
    assert isinstance(problem, UnreadableTextError)
    assert (problem.file, problem.encounter, problem.field, problem.line) == (name, "E-B-2", "note", 3)
    assert "not UTF-8 text at byte" in problem.message
    with pytest.raises(InputError, match="nothing was imported"):  # the all-or-nothing reading still refuses it
        read_upload(name, _three_with_binary_in_the_middle())


def test_binary_in_one_encounter_and_an_escaped_nul_in_another_are_both_named() -> None:
    """The encounters read around the binary pass the same control-character check as a clean file's: an escaped
    NUL ("\\0" in YAML) would otherwise reach PostgreSQL, which refuses it."""
    content = _three_with_binary_in_the_middle({"patient": {"id": "P-B-3", "last_name": "Sam\x00ple"}})
    upload = read_encounter_file("visits.yaml", content)
    assert [e.id for e in upload.encounters] == ["E-B-1"]
    assert [(p.encounter, p.field) for p in upload.problems] == [("E-B-2", "note"), ("E-B-3", "patient.last_name")]
    assert all(p.file == "visits.yaml" for p in upload.problems)
    assert "Sam" not in " ".join(str(p) for p in upload.problems)


def test_an_upload_with_binary_and_other_problems_is_refused_as_before() -> None:
    with pytest.raises(WrongKindOfFileError, match="not UTF-8"):
        read_encounter_file("visits.yaml", _three_with_binary_in_the_middle({"date": "2026-02-30"}))
    # binary that is not an encounter file at all stays the wrong kind of file (the API's 415)
    for content in (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "id: E1\n".encode("utf-16"), b"\xff\xfe{"):
        with pytest.raises(WrongKindOfFileError):
            read_encounter_file("visits.yaml", content)


def test_enter_codes_services_and_keeps_billed_lines(session: Session) -> None:
    office = Office(session)
    intake = enter_encounters(office.tenant, office.biller, [encounter_from_form(FORM), encounter("LINES-1")])
    session.commit()
    assert intake.not_coded == {}
    coded, billed = (current_version(office.tenant, item.claim_id) for item in intake.claims)
    assert coded.state == billed.state == ClaimState.CODED
    assert [line.code for line in coded.lines][:1] and coded.explanation  # the coder's arithmetic is kept
    assert [(line.code, line.units) for line in billed.lines] == [
        ("97110", Decimal(2)), ("97140", Decimal(1)), ("97535", Decimal(1))]
    assert billed.explanation is None


def test_claim_files_and_estimate(session: Session) -> None:
    office = Office(session)
    intake = enter_encounters(office.tenant, office.biller, [encounter("DL-1")])
    claim_id = intake.claims[0].claim_id
    x12 = claim_file(office.tenant, claim_id, "837p")
    assert x12.name == "DL-1-837p.txt" and x12.content.startswith(b"ISA*") and b"CLM*DL-1*" in x12.content
    assert b"*HARBORPT" in x12.content  # the organisation's envelope
    assert claim_file(office.tenant, claim_id, "superbill").content.startswith(b"%PDF")
    with pytest.raises(InputError, match="unknown export format"):
        claim_file(office.tenant, claim_id, "docx")
    with pytest.raises(NotFoundError):  # another organisation's id is the same (tests/web/test_isolation.py)
        claim_file(office.tenant, claim_id + 1_000_000, "fhir")
    estimate = claim_price(office.tenant, claim_id)
    assert [line.code for line in estimate.lines] == ["97110", "97140", "97535"]


# --- an encounter file keeps what reads; control characters anywhere ------------------------------------------------

_GOOD = """  - id: GOOD-1
    date: 2026-03-02
    payer: medicare
    patient: {id: P-1, birth_date: 1950-01-01, sex: F}
    provider: {npi: "1987654328", discipline: PT}
    diagnoses: [R26.81]
    services: [{code: "97110", minutes: 30}]
"""


def test_an_encounter_file_keeps_the_readable_encounters_and_names_each_bad_one() -> None:
    """A missing field, a bad date and a code of the wrong shape each keep only their own encounter out, named by
    its id (or its place in the list when it has none), field and line; the good ones are read."""
    text = ("encounters:\n" + _GOOD                                                            # lines 2-8
            + _GOOD.replace("GOOD-1", "NO-PROVIDER").replace('    provider: {npi: "1987654328", discipline: PT}\n',
                                                             "")                               # lines 9-14
            + _GOOD.replace("GOOD-1", "BAD-DATE").replace("2026-03-02", "2026-02-30")          # lines 15-21
            + _GOOD.replace("  - id: GOOD-1\n", "  - claim_id: NO-ID\n")
                   .replace('services: [{code: "97110", minutes: 30}]', "services: [{code: [97110], minutes: 30}]")
            + _GOOD.replace("GOOD-1", "GOOD-2"))
    upload = read_encounter_file("visits.yaml", text.encode())
    assert [e.id for e in upload.encounters] == ["GOOD-1", "GOOD-2"]
    named = {(p.encounter, p.field, p.line) for p in upload.problems}
    assert named == {("NO-PROVIDER", "provider", 9), ("BAD-DATE", "date", 16), ("#4", "id", 22),
                     ("#4", "services.0.code", 28)}
    assert all(p.file == "visits.yaml" for p in upload.problems)
    with pytest.raises(InputError, match="nothing was imported"):  # all-or-nothing callers are refused, named
        read_upload("visits.yaml", text.encode())


def test_a_file_with_no_readable_encounter_imports_nothing_and_names_every_problem() -> None:
    text = "encounters:\n" + _GOOD.replace("2026-03-02", "2026-02-30") + _GOOD.replace("GOOD-1", "G2").replace(
        "2026-03-02", "someday")
    with pytest.raises(InputError) as raised:
        read_encounter_file("bad.yaml", text.encode())
    assert str(raised.value).startswith("bad.yaml: 2 problem(s), nothing was imported")
    assert "encounter GOOD-1, field date" in str(raised.value) and "encounter G2, field date" in str(raised.value)


@pytest.mark.parametrize("escape", ["\\u0000", "\\u001f", "\\b"])
def test_a_control_character_escaped_in_a_json_string_is_named_by_encounter_and_field(escape: str) -> None:
    """JSON's "\\u0000" makes a NUL without a NUL byte in the file; PostgreSQL's JSONB refuses it (a 500 before)."""
    good = encounter("CC-1").model_dump(mode="json")
    bad = encounter("CC-2").model_dump(mode="json")
    bad["patient"]["last_name"] = "Sam@ple"
    text = json.dumps({"encounters": [good, bad]}, indent=1).replace("Sam@ple", f"Sam{escape}ple")
    upload = read_encounter_file("visits.json", text.encode())
    assert [e.id for e in upload.encounters] == ["E-CC-1"]
    [problem] = upload.problems
    assert (problem.encounter, problem.field) == ("E-CC-2", "patient.last_name")
    assert problem.line == text.splitlines().index(next(line for line in text.splitlines() if "Sam" in line)) + 1
    assert "control character" in problem.message and "Sam" not in str(problem)  # the value is never quoted


def test_a_yaml_escape_or_binary_value_with_a_control_character_is_named() -> None:
    text = ("encounters:\n" + _GOOD + _GOOD.replace("GOOD-1", "ESC").replace("{id: P-1,", '{id: "P\\0-1",')
            + _GOOD.replace("GOOD-1", "BIN").replace("{id: P-1,", "{id: !!binary AAE=,"))
    upload = read_encounter_file("visits.yaml", text.encode())
    assert [e.id for e in upload.encounters] == ["GOOD-1"]
    assert {(p.encounter, p.field) for p in upload.problems} == {("ESC", "patient.id"), ("BIN", "patient.id")}


def test_a_plain_backslash_is_not_a_control_character() -> None:
    text = "encounters:\n" + _GOOD.replace("{id: P-1,", '{id: "P\\\\b-1",')  # the text P\b-1, escaped backslash
    assert [e.patient.id for e in read_encounter_file("visits.yaml", text.encode()).encounters] == ["P\\b-1"]


@pytest.mark.parametrize(("byte", "says"), [(b"\x00", "NUL bytes, the first at byte"),
                                             (b"\x01", "control character, U+0001")])
def test_nul_and_control_bytes_are_found_anywhere_in_the_file(byte: bytes, says: str) -> None:
    """Past the first 64 KiB too (the check once sniffed only the head): every upload kind, the whole content."""
    padding = b"# " + b"x" * 70_000 + b"\n"
    content = b"encounters:\n" + padding + _GOOD.encode().replace(b"P-1", b"P" + byte + b"1")
    with pytest.raises(WrongKindOfFileError) as raised:
        read_encounter_file("late.yaml", content)
    assert says in str(raised.value) and "late.yaml" in str(raised.value)
    if byte != b"\x00":
        assert raised.value.line == 6  # the patient line of the encounter after the 70 KB comment
    with pytest.raises(WrongKindOfFileError, match="NUL bytes"):
        upload_text(b"ISA*00*" + b"x" * 70_000 + b"\x00~", "late.835", expected="an 835")
