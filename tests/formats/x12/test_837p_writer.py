"""The 837P writer: pyx12 validates every file it makes, and incomplete claims stop it with every problem listed."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from cleanclaim.errors import InputError
from cleanclaim.formats.x12 import Delimiters
from cleanclaim.formats.x12_837p import ClaimFileError, Submitter, write_837p, write_837p_file
from cleanclaim.model import Encounter

from .conftest import BASE_ENCOUNTER, WRITER_OPTIONS, encounter, multi_claim_encounters, pyx12_errors


def segments(text: str) -> list[list[str]]:
    return [s.strip().split("*") for s in text.split("~") if s.strip()]


def test_pt_visit_with_three_lines_and_modifiers_is_valid_837p(pt_encounter: Encounter) -> None:
    text = write_837p([pt_encounter], **WRITER_OPTIONS)
    assert pyx12_errors(text) == []
    rows = segments(text)
    sv1 = [row for row in rows if row[0] == "SV1"]
    assert [row[1] for row in sv1] == ["HC:97110:GP", "HC:97140:GP:59", "HC:97535:GP:KX"]
    assert [(row[2], row[3], row[4], row[7]) for row in sv1] == [
        ("90", "UN", "2", "1"), ("45.5", "UN", "1", "1:2"), ("40", "UN", "1", "2")]
    clm = next(row for row in rows if row[0] == "CLM")
    assert clm[1:3] == ["CLM-0001", "175.5"]  # 90 + 45.50 + 40
    assert clm[5] == "11:B:1"
    assert next(row for row in rows if row[0] == "HI")[1:] == ["ABK:M6281", "ABF:Z9181"]
    assert [row[3] for row in rows if row[0] == "DTP"] == ["20260302"] * 3
    assert ["REF", "EI", "123456789"] in rows
    assert ["PRV", "BI", "PXC", "225100000X"] in rows
    # billing provider renders the service himself: no 2310B
    assert not [row for row in rows if row[:2] == ["NM1", "82"]]


def test_envelope_counts_and_control_numbers(pt_encounter: Encounter) -> None:
    text = write_837p([pt_encounter], **{**WRITER_OPTIONS, "interchange_control_number": 4711,
                                        "group_control_number": 12, "usage": "P"})
    rows = segments(text)
    isa = rows[0]
    assert len(text.split("~")[0]) == 105  # ISA is 106 characters with its terminator
    assert isa[13] == "000004711"
    assert isa[15] == "P"
    assert isa[6].strip() == "HARBORPT"
    assert rows[1][6] == "12"
    st = next(i for i, row in enumerate(rows) if row[0] == "ST")
    se = next(i for i, row in enumerate(rows) if row[0] == "SE")
    assert rows[se][1] == str(se - st + 1)
    assert rows[-2] == ["GE", "1", "12"]
    assert rows[-1] == ["IEA", "1", "000004711"]
    assert pyx12_errors(text) == []


def test_pyx12_check_catches_a_damaged_file(pt_encounter: Encounter) -> None:
    # The validation helper must be able to fail, or the tests above prove nothing.
    text = write_837p([pt_encounter], **WRITER_OPTIONS)
    damaged = text.replace("SV1*HC:97110:GP*90*", "SV1*HC:97110:GP*9X0*")
    assert any("SV1" in error for error in pyx12_errors(damaged))


def test_multi_claim_file_is_valid_and_grouped() -> None:
    text = write_837p(multi_claim_encounters(), **WRITER_OPTIONS)
    assert pyx12_errors(text) == []
    rows = segments(text)
    hl = [row for row in rows if row[0] == "HL"]
    # Harbor (20) -> Ann self (22) with two claims, Robert (22) -> Lily (23); Lakeside (20) -> Ann self (22)
    assert [(row[1], row[2], row[3], row[4]) for row in hl] == [
        ("1", "", "20", "1"), ("2", "1", "22", "0"), ("3", "1", "22", "1"), ("4", "3", "23", "0"),
        ("5", "", "20", "1"), ("6", "5", "22", "0")]
    assert [row[1] for row in rows if row[0] == "CLM"] == ["CLM-0001", "CLM-0002", "CLM-0003", "CLM-0004"]
    assert ["PAT", "19"] in rows
    assert [row[9] for row in rows if row[0] == "SBR"] == ["MB", "CI", "CI"]
    # rendering providers that differ from the billing provider get a 2310B, with their taxonomy when known
    rendering = [row for row in rows if row[:2] == ["NM1", "82"]]
    assert [(row[3], row[9]) for row in rendering] == [("Rivera", "1987654328"), ("Brooks", "1345678902")]
    assert ["PRV", "PE", "PXC", "225100000X"] in rows
    assert ["DTP", "472", "D8", "20260310"] in rows  # a line's own date wins over the encounter's
    assert any(row[0] == "SV1" and row[4] == "1.5" for row in rows)


def test_other_separators_and_no_line_breaks_are_still_valid(pt_encounter: Encounter) -> None:
    delimiters = Delimiters(element="|", component=">", repetition="{", segment="!")
    text = write_837p([pt_encounter], **WRITER_OPTIONS, delimiters=delimiters, line_breaks=False)
    assert "\n" not in text
    assert "SV1|HC>97140>GP>59|45.5|UN|1|||1>2!" in text
    assert pyx12_errors(text) == []


def test_missing_fields_are_all_listed_per_encounter_and_nothing_is_written(tmp_path: Path) -> None:
    incomplete = copy.deepcopy(BASE_ENCOUNTER)
    for key in ("billing_provider", "subscriber", "payer_id", "diagnoses"):
        incomplete.pop(key)
    incomplete["patient"] = {"id": "P9", "first_name": "Ann"}
    incomplete["lines"] = [{"code": "97110", "modifiers": ["GP"], "units": 2, "dx_pointers": [1]},
                           {"code": "97140", "units": 1, "dx_pointers": [1], "charge": 40}]
    no_lines = copy.deepcopy(BASE_ENCOUNTER) | {"id": "E2", "lines": []}
    encounters = [Encounter.model_validate(incomplete), Encounter.model_validate(no_lines), encounter(id="E3")]
    target = tmp_path / "claims.837"

    with pytest.raises(ClaimFileError) as raised:
        write_837p_file(target, encounters, **WRITER_OPTIONS)

    assert not target.exists()
    assert isinstance(raised.value, InputError)
    problems = raised.value.problems
    assert set(problems) == {"E1", "E2"}  # E3 is complete
    e1 = problems["E1"]
    for expected in ("billing_provider.npi", "billing_provider.tax_id", "billing_provider.address",
                     "subscriber.member_id", "payer_id", "patient.last_name", "patient.birth_date", "patient.sex",
                     "patient.address", "diagnoses", "lines[1].charge"):
        assert any(p.startswith(expected) for p in e1), (expected, e1)
    assert not any(p.startswith("lines[2].charge") for p in e1)
    assert not any(p.startswith("patient.first_name") for p in e1)
    assert any(p.startswith("lines") and "at least one" in p for p in problems["E2"])
    assert "E1" in str(raised.value)
    assert "lines[1].charge" in str(raised.value)


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"lines": [{"code": "97110", "units": 1, "dx_pointers": [3], "charge": 45}]}, "points past the 2"),
        ({"lines": [{"code": "97110", "units": 1, "dx_pointers": [1, 2, 1, 2, 1], "charge": 45}]}, "at most 4"),
        ({"lines": [{"code": "97110", "units": 1, "charge": 45}]}, "dx_pointers"),
        ({"lines": [{"code": "97110", "units": 0, "dx_pointers": [1], "charge": 45}]}, "more than 0"),
        ({"total_charge": 100}, "not the sum of the line charges"),
        ({"diagnoses": ["M62.81", "NOTACODE"]}, "not an ICD-10-CM code"),
        ({"subscriber": {"member_id": "X1", "relationship": "spouse"}}, "subscriber.last_name"),
        ({"provider": {"npi": "1987654328", "discipline": "PT"}}, "provider.last_name"),
        ({"patient": {"id": "P1", "birth_date": "1950-01-01", "sex": "F", "first_name": "Ann",
                      "last_name": "Example",
                      "address": {"line1": "5 Elm St~Apt*2", "city": "Springfield", "state": "IL", "zip": "62701"}}},
         "separator"),
        ({"billing_provider": {"name": "Harbor Thérapie", "npi": "1234567893", "tax_id": "123456789",
                               "address": {"line1": "1 Main", "city": "X", "state": "IL", "zip": "627011234"}}},
         "outside the X12 character set"),
        ({"billing_provider": {"name": "Harbor", "npi": "1234567893", "tax_id": "123456789",
                               "address": {"line1": "1 Main", "city": "X", "state": "IL", "zip": "62701"}}},
         "9 digits"),
    ],
)
def test_claims_an_837p_cannot_carry_are_refused(overrides: dict[str, object], problem: str) -> None:
    with pytest.raises(ClaimFileError) as raised:
        write_837p([encounter(**overrides)], **WRITER_OPTIONS)
    assert any(problem in p for p in raised.value.problems["E1"]), raised.value.problems


def test_complete_claim_is_written_to_file(tmp_path: Path, pt_encounter: Encounter) -> None:
    target = write_837p_file(tmp_path / "out.837", [pt_encounter], **WRITER_OPTIONS)
    assert target.read_text().startswith("ISA*00*")


def test_submitter_without_a_way_to_reach_them_is_refused(pt_encounter: Encounter) -> None:
    options = {**WRITER_OPTIONS, "submitter": Submitter("Harbor PT Billing", "Jo Biller")}
    with pytest.raises(ClaimFileError) as raised:
        write_837p([pt_encounter], **options)
    assert "(file)" in raised.value.problems


def test_self_subscriber_with_another_name_is_refused() -> None:
    with pytest.raises(ClaimFileError) as raised:
        write_837p([encounter(subscriber={"member_id": "1EG4TE5MK73", "first_name": "Anne", "last_name": "Example",
                                          "relationship": "self"})], **WRITER_OPTIONS)
    (problem,) = raised.value.problems["E1"]
    assert problem.startswith("subscriber.first_name differs from patient.first_name")
    assert "Anne" not in problem  # names are patient data, not identifiers the user gave


def test_billing_provider_phone_goes_in_2010aa_and_reads_back() -> None:
    from cleanclaim.formats.x12_837p import read_837p

    with_phone = encounter(billing_provider={**BASE_ENCOUNTER["billing_provider"], "phone": "(217) 555-0123"})
    text = write_837p([with_phone], **WRITER_OPTIONS)
    assert pyx12_errors(text) == []
    assert ["PER", "IC", "Harbor Physical Therapy", "TE", "2175550123"] in segments(text)
    (read,) = read_837p(text).encounters
    assert read.billing_provider is not None
    assert read.billing_provider.phone == "2175550123"


@pytest.mark.parametrize("sender_id", ["", "SENDER*ID", "A" * 16])
def test_bad_interchange_ids_are_refused(pt_encounter: Encounter, sender_id: str) -> None:
    with pytest.raises(ClaimFileError) as raised:
        write_837p([pt_encounter], **{**WRITER_OPTIONS, "sender_id": sender_id})
    assert any("sender_id" in p for p in raised.value.problems["(file)"])


def test_payer_name_is_the_encounters_own_then_the_mapping_then_the_profile_id() -> None:
    def payer_row(claim: Encounter, **options: object) -> list[str]:
        text = write_837p([claim], **{**WRITER_OPTIONS, **options})  # type: ignore[arg-type]
        return next(s for s in segments(text) if s[:2] == ["NM1", "PR"])

    named = encounter(payer="commercial", payer_name="Example Health Plan")
    assert payer_row(named)[3] == "EXAMPLE HEALTH PLAN"
    assert payer_row(named, payer_names={"commercial": "Other Name"})[3] == "EXAMPLE HEALTH PLAN"
    unnamed = encounter(payer="commercial")
    assert payer_row(unnamed, payer_names={"commercial": "Mapped Plan"})[3] == "Mapped Plan"
    assert payer_row(unnamed)[3] == "COMMERCIAL"
    assert pyx12_errors(write_837p([named], **WRITER_OPTIONS)) == []  # type: ignore[arg-type]
