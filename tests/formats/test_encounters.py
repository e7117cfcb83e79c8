"""Encounter files: the contract's three shapes, and errors that name the file, the line and the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cleanclaim.errors import InputError, is_phi_field
from cleanclaim.formats.encounters import MAX_NESTING, YAML_LOADER, load_encounters, parse_encounters

GOOD = """\
id: E1
date: 2026-03-02
patient: {id: P1}
provider: {npi: "1234567893", discipline: PT}
services:
  - code: "97110"
    minutes: 24
"""


def test_single_encounter_list_and_encounters_key_forms() -> None:
    assert [e.id for e in parse_encounters(GOOD, "one.yaml").encounters] == ["E1"]
    listed = "- " + GOOD.replace("\n", "\n  ").rstrip() + "\n"
    assert [e.id for e in parse_encounters(listed, "list.yaml").encounters] == ["E1"]
    keyed = "encounters:\n  - " + GOOD.replace("\n", "\n    ").rstrip() + "\n"
    assert [e.id for e in parse_encounters(keyed, "keyed.yaml").encounters] == ["E1"]


def test_json_file(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    path.write_text('{"encounters": [{"id": "J1", "date": "2026-03-02", "patient": {"id": "P"}, '
                    '"provider": {"npi": "1234567893", "discipline": "OT"}}]}')
    assert [e.id for e in load_encounters(path).encounters] == ["J1"]


def test_bad_encounter_is_reported_with_line_and_field_and_others_are_kept() -> None:
    text = ("encounters:\n"
            "  - id: E1\n    date: 2026-03-02\n    patient: {id: P1}\n"
            "    provider: {npi: \"1234567893\", discipline: PT}\n"
            "    services:\n      - code: \"97110\"\n        minutes: -3\n"
            "  - id: E2\n    date: 2026-03-02\n    patient: {id: P2}\n"
            "    provider: {npi: \"1234567893\", discipline: PT}\n")
    result = parse_encounters(text, "visits.yaml")
    assert [e.id for e in result.encounters] == ["E2"]
    (error,) = result.errors
    assert (error.file, error.line, error.field, error.encounter) == ("visits.yaml", 8, "services.0.minutes", "E1")
    assert "greater than or equal to 0" in error.message
    assert str(error).startswith("visits.yaml:8: encounter E1, field services.0.minutes:")


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (("date: 2026-03-02\n", ""), "date", "is required"),
        (("minutes: 24", "minutes: 12.5"), "services.0.minutes", "valid integer"),
        (("discipline: PT", "discipline: wizard"), "provider.discipline", "wizard"),
        (("services:", "servics:"), "servics", "not a field"),
    ],
)
def test_field_errors(change: tuple[str, str], field: str, words: str) -> None:
    result = parse_encounters(GOOD.replace(*change), "e.yaml")
    assert result.encounters == []
    assert any(e.field == field and words in e.message for e in result.errors), [str(e) for e in result.errors]


def test_duplicate_ids_are_rejected() -> None:
    text = "- " + GOOD.replace("\n", "\n  ").rstrip() + "\n- " + GOOD.replace("\n", "\n  ").rstrip() + "\n"
    result = parse_encounters(text, "dup.yaml")
    assert len(result.encounters) == 1
    assert "used twice" in result.errors[0].message


def test_malformed_yaml_raises_with_line() -> None:
    with pytest.raises(InputError) as caught:
        parse_encounters("id: E1\ndate: [2026\n  oops: {\n", "broken.yaml")
    assert caught.value.file == "broken.yaml"
    assert caught.value.line is not None
    assert "not valid YAML" in caught.value.message


def test_directory_reads_every_file_and_reports_unreadable_ones(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text("id: [\n")
    result = load_encounters(tmp_path)
    assert [e.id for e in result.encounters] == ["E1"]
    assert result.errors[0].file is not None
    assert result.errors[0].file.endswith("b.yaml")


def test_missing_file() -> None:
    with pytest.raises(InputError, match="file not found"):
        load_encounters("no/such/file.yaml")


def test_locations_point_at_service_fields() -> None:
    result = parse_encounters(GOOD, "one.yaml")
    assert result.line_of("E1", "services.0.minutes") == 7


@pytest.mark.parametrize(
    ("change", "words"),
    [(("    minutes: 24\n", "    minutes: 24\n    assistant_minutes: 40\n"), "cannot exceed"),
     (("services:\n", "lines: [{code: \"97110\", charge: -5}]\nservices:\n"), "charge cannot be negative"),
     # a unit count that is not a finite, non-negative number: a clear error on the field, never a crash
     (("services:\n", "lines: [{code: \"97110\", units: .nan}]\nservices:\n"), "units must be a finite number"),
     (("services:\n", "lines: [{code: \"97110\", units: -.inf}]\nservices:\n"), "units must be a finite number"),
     (("services:\n", "lines: [{code: \"97110\", units: two}]\nservices:\n"), "units must be a number, got 'two'"),
     (("services:\n", "lines: [{code: \"97110\", units: 1}]\nhistory: [{date: 2026-02-02, code: \"97110\", "
       "units: -1}]\nservices:\n"), "units must not be negative")],
)
def test_impossible_values_are_rejected(change: tuple[str, str], words: str) -> None:
    result = parse_encounters(GOOD.replace(*change), "e.yaml")
    assert result.encounters == []
    assert any(words in e.message for e in result.errors), [str(e) for e in result.errors]


def test_claim_files_in_an_encounter_folder_are_reported_not_skipped(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "lines.csv").write_text("encounter_id,date,code,units\n")
    result = load_encounters(tmp_path)
    assert [e.id for e in result.encounters] == ["E1"]
    assert [e.file for e in result.errors] == [str(tmp_path / "lines.csv")]


# A patient's or subscriber's value (PHI) never appears in an input error, in its text or its JSON form; the field and
# what was expected do. Each value below is distinctive, so finding it anywhere in the error is a leak.
@pytest.mark.parametrize(
    ("change", "field", "secret"),
    [
        (("patient: {id: P1}", "patient: {id: P1, birth_date: 19500231}"), "patient.birth_date", "19500231"),
        (("patient: {id: P1}", "patient: {id: P1, birth_date: \"1950-02-31\"}"), "patient.birth_date", "1950-02-31"),
        (("patient: {id: P1}", "patient: {id: 4417.25}"), "patient.id", "4417.25"),
        (("patient: {id: P1}", "patient: {id: P1, sex: 7.5}"), "patient.sex", "7.5"),
        (("patient: {id: P1}", "patient: {id: P1, first_name: 90210.5}"), "patient.first_name", "90210.5"),
        (("patient: {id: P1}", "patient: {id: P1, address: {line1: 5 Elm, city: X, state: 61.5, zip: \"62704\"}}"),
         "patient.address.state", "61.5"),
        (("patient: {id: P1}", "patient: {id: P1}\nsubscriber: {member_id: 1234.5678}"), "subscriber.member_id",
         "1234.5678"),
        (("patient: {id: P1}", "patient: {id: P1}\nsubscriber: {member_id: M1, birth_date: 2031-13-01x}"),
         "subscriber.birth_date", "2031-13-01x"),
    ],
)
def test_input_errors_never_show_a_patient_value(change: tuple[str, str], field: str, secret: str) -> None:
    result = parse_encounters(GOOD.replace(*change), "e.yaml")
    assert result.encounters == []
    (error,) = [e for e in result.errors if e.field == field]
    assert error.line is not None
    assert secret not in str(error)
    assert secret not in str(error.to_dict())


def test_a_birth_date_after_the_visit_is_read_for_its_rule() -> None:
    # readable but wrong: birth-date-after-service reports it (tests/rules/cases), the encounter is not refused
    result = parse_encounters(GOOD.replace("patient: {id: P1}", "patient: {id: P1, birth_date: 2030-07-19}"), "e.yaml")
    assert result.errors == []
    assert [e.id for e in result.encounters] == ["E1"]


@pytest.mark.parametrize(
    ("change", "field", "shown"),
    [
        (("minutes: 24", "minutes: 24.5"), "services.0.minutes", "24.5"),
        (("discipline: PT", "discipline: wizard"), "provider.discipline", "wizard"),
        (("date: 2026-03-02", "date: \"2026-02-30\""), "date", "2026-02-30"),
    ],
)
def test_input_errors_show_values_that_are_not_patient_data(change: tuple[str, str], field: str, shown: str) -> None:
    # the pass side of the edge: a code, minutes or a date of service is shown, so the user can find it
    result = parse_encounters(GOOD.replace(*change), "e.yaml")
    (error,) = [e for e in result.errors if e.field == field]
    assert shown in error.message


@pytest.mark.parametrize(
    ("field", "phi"),
    [("patient.birth_date", True), ("patient.id", True), ("subscriber.member_id", True), ("patient_birth_date", True),
     ("patient_sex", True), ("subscriber_id", True), ("billing_provider.address.zip", True),
     ("patient.address.zip", True), ("lines.0.units", False), ("date", False), ("provider.npi", False),
     ("place_of_service", False), ("claim_id", False), ("encounter_id", False), (None, False)],
)
def test_the_phi_field_list(field: str | None, phi: bool) -> None:
    assert is_phi_field(field) is phi


def _two(second_change: tuple[str, str] = ("", "")) -> str:
    """Two encounters, E1 and E2, under `encounters:`; the change applies to E2's text only."""
    first = "  - " + GOOD.replace("\n", "\n    ").rstrip() + "\n"
    second = "  - " + GOOD.replace("E1", "E2").replace(*second_change).replace("\n", "\n    ").rstrip() + "\n"
    return "encounters:\n" + first + second


def test_an_impossible_date_is_an_error_at_its_line_and_the_other_encounters_are_read() -> None:
    result = parse_encounters(_two(("date: 2026-03-02", "date: 2026-02-30")), "visits.yaml")
    assert [e.id for e in result.encounters] == ["E1"]
    (error,) = result.errors
    assert (error.line, error.field, error.encounter) == (10, "date", "E2")
    assert "2026-02-30" in error.message


def test_a_folder_with_an_impossible_date_in_one_file_reads_the_others(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD.replace("date: 2026-03-02", "date: 2026-02-29"))  # 2026 is no leap year
    (tmp_path / "b.yaml").write_text(GOOD.replace("E1", "E2"))
    result = load_encounters(tmp_path)
    assert [e.id for e in result.encounters] == ["E2"]
    assert [(e.file, e.field) for e in result.errors] == [(str(tmp_path / "a.yaml"), "date")]


@pytest.mark.parametrize("source", ["e.yaml", "e.json"])
def test_an_integer_past_pythons_4300_digits_is_an_error_at_its_field(source: str) -> None:
    huge = "9" * 5000
    if source.endswith(".json"):
        text = ('{"id": "E1", "date": "2026-03-02", "patient": {"id": "P1"}, "provider": {"npi": "1234567893", '
                f'"discipline": "PT"}}, "services": [{{"code": "97110", "minutes": {huge}}}]}}')
    else:
        text = GOOD.replace("minutes: 24", f"minutes: {huge}")
    (error,) = parse_encounters(text, source).errors
    assert error.field == "services.0.minutes"
    assert len(str(error)) < 300  # the number is not repeated in full


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (("minutes: 24", "minutes: 1441"), "services.0.minutes", "less than or equal to 1440"),
        (("minutes: 24", f"minutes: {2**63}"), "services.0.minutes", "less than or equal to 1440"),
        (("services:\n", "lines: [{code: \"97110\", units: 10000}]\nservices:\n"), "lines.0.units", "at most 9999"),
        (("services:\n", "lines: [{code: \"97110\", units: 10000000}]\nservices:\n"), "lines.0.units", "at most 9999"),
        (("services:\n", "lines: [{code: \"97110\", units: \"2.00000000000000001\"}]\nservices:\n"), "lines.0.units",
         "2.00000000000000001 is not rounded"),
        (("services:\n", "lines: [{code: \"97110\", units: 2.1255}]\nservices:\n"), "lines.0.units", "3 decimal"),
        (("services:\n", "lines: [{code: \"97110\", charge: 10000000.00}]\nservices:\n"), "lines.0.charge",
         "at most 9,999,999.99"),
        (("services:\n", "lines: [{code: \"97110\", charge: 93000000000000000}]\nservices:\n"), "lines.0.charge",
         "at most 9,999,999.99"),
        (("services:\n", "lines: [{code: \"97110\", charge: 45.005}]\nservices:\n"), "lines.0.charge", "cents"),
        (("services:\n", "total_charge: 1.0e+20\nservices:\n"), "total_charge", "at most 9,999,999.99"),
        (("services:\n", "lines: [{code: \"97110\", dx_pointers: [100]}]\nservices:\n"), "lines.0.dx_pointers.0",
         "less than or equal to 99"),
        (("services:\n", "lines: [{code: \"97110\", dx_pointers: [1.0e+20]}]\nservices:\n"),
         "lines.0.dx_pointers.0", "integer"),
        # Arabic-Indic one: int("١") is 1 in Python, but it is no pointer in a claim
        (("services:\n", "lines: [{code: \"97110\", dx_pointers: \"١\"}]\nservices:\n"), "lines.0.dx_pointers.0",
         "valid integer"),
        (("minutes: 24", "minutes: 24\n    group_size: 1001"), "services.0.group_size", "less than or equal to 1000"),
    ],
)
def test_numbers_past_their_bounds_are_errors_at_their_field(change: tuple[str, str], field: str, words: str) -> None:
    result = parse_encounters(GOOD.replace(*change), "e.yaml")
    assert result.encounters == []
    (error,) = result.errors
    assert error.field == field
    assert words in error.message


@pytest.mark.parametrize(
    "change",
    [
        ("minutes: 24", "minutes: 1440"),
        ("services:\n", "lines: [{code: \"97110\", units: 9999}]\nservices:\n"),
        ("services:\n", "lines: [{code: \"97110\", units: 2.125}]\nservices:\n"),  # kept for fractional-units
        ("services:\n", "lines: [{code: \"97110\", units: \"2.000\"}]\nservices:\n"),
        ("services:\n", "lines: [{code: \"97110\", charge: 9999999.99}]\nservices:\n"),
        ("services:\n", "lines: [{code: \"97110\", charge: 45.50}]\nservices:\n"),
        ("services:\n", "lines: [{code: \"97110\", dx_pointers: \"1;99\"}]\nservices:\n"),  # 99: invalid-dx-pointer's
    ],
)
def test_numbers_at_their_bounds_are_read(change: tuple[str, str]) -> None:
    result = parse_encounters(GOOD.replace(*change), "e.yaml")
    assert result.errors == []
    assert [e.id for e in result.encounters] == ["E1"]


def test_a_fractional_unit_within_the_decimals_is_kept_exactly() -> None:
    (encounter,) = parse_encounters(GOOD.replace("services:\n", "lines: [{code: \"97110\", units: \"2.125\"}]\n"
                                                 "services:\n"), "e.yaml").encounters
    assert str(encounter.lines[0].units) == "2.125"


@pytest.mark.parametrize(("source", "text"), [
    ("deep.json", '{"id": "E1", "note": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    ("deep.yaml", "id: E1\nnote: " + "[" * 100_000 + "]" * 100_000 + "\n"),
])
def test_a_document_nested_100k_deep_is_an_input_error(source: str, text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_encounters(text, source)
    assert caught.value.file == source


BILLION_LAUGHS = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True))


def test_a_yaml_alias_bomb_is_refused_at_the_alias_that_crosses_the_bound() -> None:
    assert len(BILLION_LAUGHS.encode()) < 400
    with pytest.raises(InputError) as caught:
        parse_encounters(GOOD + BILLION_LAUGHS, "bomb.yaml")
    assert "aliases" in caught.value.message
    assert caught.value.line is not None and caught.value.line > GOOD.count("\n")


def test_an_anchor_shared_by_encounters_is_read() -> None:
    text = ("encounters:\n"
            "  - id: E1\n    date: 2026-03-02\n    patient: {id: P1}\n"
            "    provider: &rendering {npi: \"1234567893\", discipline: PT}\n"
            "  - id: E2\n    date: 2026-03-02\n    patient: {id: P2}\n    provider: *rendering\n")
    result = parse_encounters(text, "shared.yaml")
    assert result.errors == []
    assert [e.provider.npi for e in result.encounters] == ["1234567893", "1234567893"]


def test_a_key_given_twice_in_an_encounter_is_an_error_there_and_the_others_are_read() -> None:
    result = parse_encounters(_two(("minutes: 24", "minutes: 24\n    minutes: 40")), "dup.yaml")
    assert [e.id for e in result.encounters] == ["E1"]
    (error,) = result.errors
    assert (error.encounter, error.field, error.line) == ("E2", "minutes", 16)
    assert "given twice" in error.message and "line 15" in error.message


def test_a_key_given_twice_outside_the_encounters_refuses_the_file() -> None:
    with pytest.raises(InputError) as caught:
        parse_encounters(_two() + "encounters: []\n", "dup.yaml")
    assert (caught.value.field, caught.value.line) == ("encounters", 16)  # _two() is 15 lines


def test_a_json_key_given_twice_is_an_error() -> None:
    text = ('{"id": "E1", "date": "2026-03-02", "date": "2026-03-03", "patient": {"id": "P1"}, '
            '"provider": {"npi": "1234567893", "discipline": "PT"}}')
    result = parse_encounters(text, "dup.json")
    assert result.encounters == []
    assert [(e.field, e.line) for e in result.errors] == [("date", 1)]


def test_ids_that_differ_only_by_blanks_are_one_id_reported_twice() -> None:
    result = parse_encounters(_two().replace("id: E2", "id: \"E1 \""), "ws.yaml")
    assert [e.id for e in result.encounters] == ["E1"]
    (error,) = result.errors
    assert "used twice" in error.message and error.line == 9


def test_the_same_id_in_two_files_of_a_folder_is_reported_with_both_files_never_merged(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD.replace("minutes: 24", "minutes: 30"))
    result = load_encounters(tmp_path)
    assert [(e.id, e.services[0].minutes) for e in result.encounters] == [("E1", 24)]
    (error,) = result.errors
    assert error.file == str(tmp_path / "b.yaml")
    assert str(tmp_path / "a.yaml") in error.message
    assert (error.field, error.line) == ("id", 1)


def test_a_key_given_twice_in_one_encounter_of_a_one_line_json_file_rejects_that_encounter_only() -> None:
    one = '{{"id": "{}", "date": "2026-03-02", "patient": {{"id": "P1"}}, "provider": {{"npi": "1234567893", ' \
          '"discipline": "PT"}}{}}}'
    text = '{"encounters": [' + one.format("E1", "") + ", " + one.format("E2", ', "date": "2026-03-03"') + "]}"
    assert "\n" not in text
    result = parse_encounters(text, "one-line.json")
    assert [e.id for e in result.encounters] == ["E1"]
    assert [(e.encounter, e.field, e.line) for e in result.errors] == [("E2", "date", 1)]


def test_a_unit_count_of_5000_digits_is_refused_in_a_short_message() -> None:
    result = parse_encounters(GOOD.replace("services:\n", f"lines: [{{code: \"97110\", units: \"{'9' * 5000}\"}}]\n"
                                                          "services:\n"), "e.yaml")
    (error,) = result.errors
    assert error.field == "lines.0.units" and "at most 9999" in error.message
    assert len(error.message) < 300



# --- every error of a file names its line, even when the file cannot be read (fuzz classes of issue 11) ---

@pytest.mark.parametrize(("data", "bad", "line", "encounter"), [
    # first byte of line 3, CRLF endings: inside the one encounter, which is then the error, not the file
    (b"id: E1\r\ndate: 2026-03-02\r\n\xffpatient: {id: P1}\n", 26, 3, "E1"),
    # old Mac endings; \xc3 starts a sequence ( cannot continue: the file's structure breaks there
    (b"id: E1\rdate: 2026-03-02\r\xc3(\n", 24, 3, None),
    (b"id: E\xe9\n", 5, 1, "#1"),  # in the id itself: the encounter is named by its place
    (b"\n\n\n\xa0", 3, 4, None),  # the last byte of the file, alone on its line
])
def test_a_byte_that_is_not_utf8_is_named_by_its_line_and_its_offset(tmp_path: Path, data: bytes, bad: int,
                                                                      line: int, encounter: str | None) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(data)
    if encounter is None:
        with pytest.raises(InputError) as caught:
            load_encounters(path)
        assert (caught.value.line, caught.value.message) == (line, f"not a UTF-8 text file (byte {bad})")
        return
    read = load_encounters(path)
    (error,) = read.errors
    assert read.encounters == []
    assert (error.line, error.encounter) == (line, encounter)
    assert f"not UTF-8 text at byte {bad} of the file" in error.message


def test_crlf_and_cr_files_are_read_with_the_lines_a_text_editor_shows(tmp_path: Path) -> None:
    for ending in ("\r\n", "\r"):
        path = tmp_path / "e.yaml"
        path.write_bytes(GOOD.replace("minutes: 24", "minutes: -1").replace("\n", ending).encode())
        (error,) = load_encounters(path).errors
        assert (error.field, error.line) == ("services.0.minutes", 7)


@pytest.mark.parametrize(("character", "escaped"), [("\x00", "#x0000"), ("\x7f", "#x007f"), ("\x1b", "#x001b")])
def test_a_character_yaml_refuses_is_named_by_its_line_and_column(character: str, escaped: str) -> None:
    # outside every encounter (a comment above it), the file is refused at the reader's own place for it;
    # non-ASCII text before it: libyaml counts its position in UTF-8 bytes, the file is read in characters
    text = f"# Zoë Ødegård {character}\n" + GOOD
    with pytest.raises(InputError) as caught:
        parse_encounters(text, "e.yaml")
    error = caught.value
    assert error.line == 1
    # libyaml says "control characters are not allowed", the pure-Python reader "special characters ..."
    assert error.message.startswith(f"not valid YAML: unacceptable character {escaped}: ")
    assert error.message.endswith("characters are not allowed (column 15)")


@pytest.mark.parametrize(("character", "said"), [("\x00", "a NUL character (0x00)"), ("\x7f", "control character 0x7f"),
                                                 ("\x1b", "control character 0x1b")])
def test_a_character_yaml_refuses_inside_an_encounter_costs_that_encounter_only(character: str, said: str) -> None:
    text = GOOD.replace("{id: P1}", "{id: P1, first_name: Zoë Ødegård}").replace('"97110"', f'"97{character}110"')
    listed = "encounters:\n" + "".join(
        "  - " + part.replace("\n", "\n    ").rstrip() + "\n"
        for part in (GOOD.replace("E1", "E0"), text, GOOD.replace("E1", "E2")))
    read = parse_encounters(listed, "e.yaml")
    assert [e.id for e in read.encounters] == ["E0", "E2"]
    (error,) = read.errors
    assert (error.encounter, error.field, error.line) == ("E1", "services.0.code", 14)
    # the byte offset counts the two-byte UTF-8 letters before it
    assert f"{said} at byte {listed.encode().index(character.encode())} of the file" in error.message


def test_both_yaml_readers_place_a_refused_character_alike() -> None:
    from yaml.reader import ReaderError

    from cleanclaim.formats.encounters import _reader_error_place
    text = "a: ü\u2028b: €\nc: \U0001f600 \x85d: \x7f\n"  # YAML breaks lines at U+2028 and U+0085 as well
    places = set()
    for loader in {yaml.SafeLoader, YAML_LOADER}:  # the pure-Python reader, and libyaml's where PyYAML has it
        with pytest.raises(ReaderError) as caught:
            yaml.load(text, Loader=loader)
        places.add(_reader_error_place(text, caught.value))
    assert places == {(4, 4)}


def _deep_yaml(depth: int) -> str:
    """An encounter whose `note` holds lists inside lists, one more on each line: line k opens level k."""
    return "id: E1\nnote: [\n" + " [\n" * (depth - 2) + " " + \
        "]" * (depth - 1) + "\n"


def _deep_json(depth: int) -> str:
    return '{"id": "E1", "note":\n' + "[\n" * (depth - 1) + "]" * (depth - 1) + "}\n"


@pytest.mark.parametrize("deep", [_deep_yaml, _deep_json])
def test_nesting_at_the_bound_is_read_and_past_it_is_refused_at_the_line_that_passes_it(deep: Any) -> None:
    source = "deep.json" if deep is _deep_json else "deep.yaml"
    result = parse_encounters(deep(MAX_NESTING), source)  # read: the encounter's own errors are reported
    assert ("note", 2) in [(e.field, e.line) for e in result.errors]
    # past our bound only; past Python's recursion limit (JSON) or libyaml's 1,000 levels (YAML)
    for depth in (MAX_NESTING + 1, 1_000, 100_000):
        with pytest.raises(InputError) as caught:
            parse_encounters(deep(depth), source)
        assert (caught.value.file, caught.value.line) == (source, MAX_NESTING + 1)
        assert f"nested more than {MAX_NESTING} levels deep" in caught.value.message


def test_a_json_file_yaml_cannot_read_has_every_error_at_its_line() -> None:
    # a DEL in a string, a tab between tokens, escapes in keys: JSON, but not the YAML that PyYAML reads
    text = ('{"encounters": [\n'
            '\t{"id": "E1", "date": "2026-03-02", "patient": {"id": "P\x7f1"},\n'
            '\t "provider": {"npi": "1234567893", "discipline": "PT"}},\n'
            '\t{"id": "E2", "date": "2026-03-02", "patient": {"id": "P2",\n'
            '\t  "a\\u0025dress": {}, "id": "P3"},\n'
            '\t "provider": {"npi": "1234567893", "discipline": "PT"}, "services": [{"code": "97110",\n'
            '\t  "minutes": -1, "m\\/x": 2}]}\n'
            ']}\n')
    with pytest.raises(yaml.YAMLError):
        yaml.compose(text, Loader=YAML_LOADER)
    result = parse_encounters(text, "tabs.json")
    assert [e.id for e in result.encounters] == ["E1"]
    assert result.line_of("E1", "provider.npi") == 3
    (twice,) = result.errors  # a key given twice is found before the fields are checked
    assert (twice.encounter, twice.field, twice.line) == ("E2", "id", 5)
    fields = parse_encounters(text.replace('"id": "P3"', '"sex": "M"'), "tabs.json")
    assert sorted((e.field, e.line) for e in fields.errors) == [
        ("patient.a%dress", 5), ("services.0.m/x", 7), ("services.0.minutes", 7)]


@pytest.mark.parametrize("example", sorted((Path(__file__).parents[2] / "examples").glob("*.yaml")),
                         ids=lambda path: path.stem)
@pytest.mark.parametrize("indent", [None, 2])
def test_json_is_located_as_the_yaml_reader_locates_the_same_text(example: Path, indent: int | None) -> None:
    """Where YAML can read a JSON text, both locators give every node the same line and column and every key the
    same text."""
    from cleanclaim.formats.encounters import _compose_json
    text = json.dumps(yaml.safe_load(example.read_text()), default=str, indent=indent, ensure_ascii=False)

    def nodes(root: yaml.Node | None) -> list[tuple[str, int, int, object]]:
        found, pending = [], [root]
        while pending:
            node = pending.pop()
            assert node is not None
            value = node.value if isinstance(node, yaml.ScalarNode) else None
            found.append((type(node).__name__, node.start_mark.line, node.start_mark.column, value))
            if isinstance(node, yaml.MappingNode):
                pending.extend(part for pair in reversed(node.value) for part in reversed(pair))
            elif isinstance(node, yaml.SequenceNode):
                pending.extend(reversed(node.value))
        return found

    expected = nodes(yaml.compose(text, Loader=yaml.SafeLoader))
    assert len(expected) > 20
    assert nodes(_compose_json(text, "e.json")) == expected


@pytest.mark.parametrize(("extra", "line"), [
    ("diagnoses: &dx [F41.1, *dx]\n", 5),  # a list that holds itself: str() of it was one diagnosis, then a walk of
    ("note: x\nprovider2: &p {a: [b, {c: *p}]}\n", 6),  # it recursed without end; deeper inside, the same
])
def test_a_yaml_alias_inside_what_it_names_is_refused_at_the_alias(extra: str, line: int) -> None:
    with pytest.raises(InputError) as caught:
        parse_encounters(GOOD.replace("services:", extra.rstrip("\n") + "\nservices:"), "self.yaml")
    assert caught.value.line == line
    assert "inside the list or mapping it names" in caught.value.message


def test_an_alias_after_its_anchor_is_complete_is_read() -> None:
    result = parse_encounters(GOOD.replace("services:", "diagnoses: [&dx F41.1, *dx]\nservices:"), "ok.yaml")
    assert result.errors == []
    assert result.encounters[0].diagnoses == ["F41.1", "F41.1"]


def test_an_anchor_given_twice_says_so_with_both_lines() -> None:
    with pytest.raises(InputError) as caught:
        parse_encounters(GOOD.replace("patient: {id: P1}", "patient: &p {id: P1}\nnote: &p x"), "anchors.yaml")
    assert caught.value.line == 4
    assert caught.value.message == "not valid YAML: found duplicate anchor (first at line 3)"


@pytest.mark.parametrize(("change", "field"), [
    (("services:", "diagnoses: [F41.1, [F32.0, F33.1]]\nservices:"), "diagnoses.1"),
    (("services:", "diagnoses: [{code: F32.0}]\nservices:"), "diagnoses.0"),
    (("minutes: 24", "minutes: 24\n    modifiers: [GP, [59]]"), "services.0.modifiers.1"),
])
def test_a_list_inside_a_list_of_codes_is_an_error_at_its_item(change: tuple[str, str], field: str) -> None:
    # never one code spelt "['F32.0', 'F33.1']"
    result = parse_encounters(GOOD.replace(*change), "nested.yaml")
    assert result.encounters == []
    (error,) = result.errors
    assert error.field == field and "valid string" in error.message


def test_a_key_spelt_like_yamls_merge_key_is_still_a_key_that_cannot_be_given_twice() -> None:
    for text, source in (('{"id": "E1",\n"<<": 1,\n"<<": 2}', "merge.json"),
                         ('id: E1\n"<<": 1\n"<<": 2\n', "merge.yaml")):
        (error,) = parse_encounters(text, source).errors
        assert (error.field, error.line) == ("<<", 3) and "given twice" in error.message
    merged = "id: E1\nbase: &b {x: 1}\nother: &o {y: 2}\npatient:\n  <<: *b\n  <<: *o\n"
    assert not any("twice" in e.message for e in parse_encounters(merged, "merge.yaml").errors)


def test_a_merge_key_and_a_key_it_overrides_are_not_one_key_given_twice() -> None:
    # the data is constructed from the nodes the lines are read from, and constructing a merge rewrites its mapping's
    # node: the lines and the check for repeated keys must still see the file as written
    text = ("defaults: &pt {id: P0, first_name: Ann}\n"
            "encounters:\n"
            "  - id: E1\n"
            "    date: 2026-03-02\n"
            "    patient:\n"
            "      <<: *pt\n"
            "      id: P1\n"
            "    provider: {npi: '1234567893', discipline: PT}\n"
            "    services: [{code: '97110', minutes: 'x'}]\n")
    (error,) = parse_encounters(text, "merged.yaml").errors
    assert (error.field, error.line) == ("services.0.minutes", 9) and "twice" not in error.message
    fixed = parse_encounters(text.replace("'x'", "23"), "merged.yaml")
    assert fixed.errors == [] and fixed.encounters[0].patient.id == "P1"
    assert fixed.line_of("E1", "patient.id") == 7


def test_lines_of_a_file_with_aliases_are_those_of_the_file_as_written() -> None:
    text = ("encounters:\n"
            "  - id: E1\n"
            "    date: 2026-03-02\n"
            "    patient: &p {id: P1}\n"
            "    provider: &v {npi: '1234567893', discipline: PT}\n"
            "  - id: E2\n"
            "    date: 2026-03-03\n"
            "    patient: *p\n"
            "    provider: *v\n"
            "    services:\n"
            "      - code: '97110'\n"
            "        minutes: 20\n")
    read = parse_encounters(text, "aliases.yaml")
    assert [e.id for e in read.encounters] == ["E1", "E2"] and read.encounters[1].patient.id == "P1"
    # counted by hand from the text above
    assert [read.line_of("E2", path) for path in ("id", "patient", "services.0.minutes")] == [6, 4, 12]


# --- binary pasted into one encounter costs that encounter only (issue 13, "Bad input") ---

PASTED = b"TherEx 15 min \xff\xfe then \x00 more"
"""Bytes that are not UTF-8 (a UTF-16 byte-order mark) and a NUL, as a copy from a binary document leaves them."""


def _encounter_data(encounter_id: str, note: str) -> dict[str, Any]:
    return {"id": encounter_id, "date": "2026-03-02", "patient": {"id": "P1"},
            "provider": {"npi": "1234567893", "discipline": "PT"}, "note": note,
            "services": [{"code": "97110", "minutes": 15}]}


def _three_encounter_files() -> dict[str, bytes]:
    """The same three encounters in each form the contract takes; the middle note holds PASTED."""
    marker = "PASTE-HERE"
    items = [_encounter_data("E1", "TherEx 15 min"), _encounter_data("E2", marker), _encounter_data("E3", "GT 8 min")]
    block = yaml.safe_dump({"encounters": items}, sort_keys=False)
    listed = yaml.safe_dump(items, sort_keys=False)
    files = {"encounters.yaml": block, "list.yaml": listed,
             "crlf.yaml": block.replace("\n", "\r\n"),
             "pretty.json": json.dumps({"encounters": items}, indent=2),
             "one-line.json": json.dumps(items)}
    return {name: text.encode().replace(marker.encode(), PASTED) for name, text in files.items()}


@pytest.mark.parametrize("name", list(_three_encounter_files()))
def test_binary_in_one_note_names_that_encounter_and_the_others_are_read(tmp_path: Path, name: str) -> None:
    data = _three_encounter_files()[name]
    path = tmp_path / name
    path.write_bytes(data)
    read = load_encounters(path)
    assert [e.id for e in read.encounters] == ["E1", "E3"]
    (error,) = read.errors
    bad = data.index(b"\xff")
    # the line a text editor shows for the byte (\r\n, \r and \n each end a line)
    line = data[:bad].replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n") + 1
    assert (error.file, error.encounter, error.field, error.line) == (str(path), "E2", "note", line)
    assert f"byte 0xff is not UTF-8 text at byte {bad:,} of the file" in error.message
    assert "and 2 more characters that cannot be read" in error.message  # 0xfe and the NUL
    assert "\ufffd" not in str(error) and "\x00" not in str(error)  # nothing of the pasted bytes is repeated


def test_binary_outside_every_encounter_refuses_the_file(tmp_path: Path) -> None:
    data = b"# exported \xff\xfe\nencounters:\n" + yaml.safe_dump([_encounter_data("E1", "x")]).encode()
    path = tmp_path / "e.yaml"
    path.write_bytes(data)
    with pytest.raises(InputError) as caught:
        load_encounters(path)
    assert (caught.value.line, caught.value.message) == (1, "not a UTF-8 text file (byte 11)")


@settings(max_examples=25, derandomize=True, deadline=None, database=None)
@given(data=st.binary(max_size=400), at=st.integers(min_value=0, max_value=2_000))
def test_random_bytes_in_a_file_are_an_input_error_never_a_crash(tmp_path_factory: pytest.TempPathFactory,
                                                                 data: bytes, at: int) -> None:
    good = _three_encounter_files()["encounters.yaml"].replace(PASTED, b"x")
    at = min(at, len(good))
    for name, content in (("spliced.yaml", good[:at] + data + good[at:]), ("alone.yaml", data),
                          ("spliced.json", _three_encounter_files()["pretty.json"].replace(PASTED, data))):
        path = tmp_path_factory.mktemp("random") / name
        path.write_bytes(content)
        try:
            read = load_encounters(path)
        except InputError as error:
            refused: InputError | None = error
        else:
            refused = None
        if refused is not None:
            assert refused.file == str(path)
            continue
        # whatever was read is text: no surrogate escape of a bad byte reaches an encounter
        for encounter in read.encounters:
            encounter.model_dump_json()
        assert len(read.encounters) + len({e.encounter for e in read.errors}) >= 1
