"""The FHIR R4 Claim: valid R4B resources, items and diagnoses with the right code systems, gaps reported."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.claim import Claim

from cleanclaim.errors import InputError
from cleanclaim.formats.fhir import bundle_of_writable, claim_json, to_fhir_bundle, to_fhir_claim, unit_price
from cleanclaim.model import Encounter

CPT = "http://www.ama-assn.org/go/cpt"
# HL7 THO CodeSystem hcpcs-Level-II, canonical URL (http, as THO publishes it; https would be another system)
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
NPI = "http://hl7.org/fhir/sid/us-npi"
POS = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
CREATED = dt.date(2026, 3, 5)


def visit(**changes: Any) -> dict[str, Any]:
    """A synthetic visit (fictional people): PT exercise plus Medicare obesity counseling, for the two code sets."""
    data: dict[str, Any] = {
        "id": "E-FHIR-1",
        "date": "2026-03-02",
        "payer": "medicare",
        "place_of_service": "11",
        "patient": {"id": "P-2002", "birth_date": "1961-07-14", "sex": "M", "first_name": "Sam",
                    "last_name": "Sample"},
        "provider": {"npi": "1234567893", "discipline": "PT", "first_name": "Pat", "last_name": "Mover"},
        "diagnoses": ["M6281", "E66.9", "Z68.35"],
        "billing_provider": {"name": "Harbor Physical Therapy", "npi": "1245319599", "tax_id": "123456789",
                             "address": {"line1": "1 Main St", "city": "Springfield", "state": "IL",
                                         "zip": "627011234"}},
        "subscriber": {"member_id": "1EG4TE5MK73", "relationship": "self", "group_number": "G-9"},
        "payer_id": "12345",
        "claim_id": "CLM-0042",
        "lines": [
            {"code": "97110", "modifiers": ["GP", "59"], "units": 2, "dx_pointers": [1], "charge": 90.00},
            {"code": "G0447", "units": 1, "dx_pointers": [2, 3], "charge": 27.50, "date": "2026-03-03"},
        ],
    }
    data.update(changes)
    return data


def claim_dict(encounter: Encounter) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(claim_json(encounter, created=CREATED))
    return result


def contained(claim: dict[str, Any], reference: str) -> dict[str, Any]:
    assert reference.startswith("#")
    return next(r for r in claim["contained"] if r["id"] == reference[1:])


def test_claim_validates_and_round_trips_through_json() -> None:
    claim = to_fhir_claim(Encounter.model_validate(visit()), created=CREATED)
    text = claim.model_dump_json(by_alias=True, exclude_none=True)
    again = Claim.model_validate_json(text)
    assert again.model_dump_json(by_alias=True, exclude_none=True) == text
    parsed = json.loads(text)
    assert parsed["resourceType"] == "Claim"
    assert parsed["status"] == "active"
    assert parsed["use"] == "claim"
    assert parsed["created"] == "2026-03-05"
    assert parsed["type"]["coding"] == [{"system": "http://terminology.hl7.org/CodeSystem/claim-type",
                                         "code": "professional"}]
    assert parsed["priority"]["coding"][0]["code"] == "normal"
    assert parsed["identifier"][0]["value"] == "CLM-0042"


def test_items_carry_code_systems_modifiers_quantity_prices_dates_place_and_pointers() -> None:
    items = claim_dict(Encounter.model_validate(visit()))["item"]
    assert [i["sequence"] for i in items] == [1, 2]
    exercise, counseling = items
    assert exercise["productOrService"]["coding"] == [{"system": CPT, "code": "97110"}]
    assert counseling["productOrService"]["coding"] == [{"system": HCPCS, "code": "G0447"}]
    assert [m["coding"][0] for m in exercise["modifier"]] == [{"system": HCPCS, "code": "GP"},
                                                              {"system": CPT, "code": "59"}]
    assert "modifier" not in counseling
    assert Decimal(str(exercise["quantity"]["value"])) == 2
    assert Decimal(str(exercise["unitPrice"]["value"])) == Decimal("45")
    assert Decimal(str(exercise["net"]["value"])) == Decimal("90")
    assert exercise["net"]["currency"] == "USD"
    assert exercise["servicedDate"] == "2026-03-02"
    assert counseling["servicedDate"] == "2026-03-03"
    assert exercise["locationCodeableConcept"]["coding"] == [{"system": POS, "code": "11"}]
    assert exercise["diagnosisSequence"] == [1]
    assert counseling["diagnosisSequence"] == [2, 3]


def test_diagnoses_in_pointer_order_with_dots() -> None:
    claim = claim_dict(Encounter.model_validate(visit()))
    codes = [(d["sequence"], d["diagnosisCodeableConcept"]["coding"][0]) for d in claim["diagnosis"]]
    assert codes == [(1, {"system": ICD10CM, "code": "M62.81"}), (2, {"system": ICD10CM, "code": "E66.9"}),
                     (3, {"system": ICD10CM, "code": "Z68.35"})]


def test_total_is_the_sum_of_the_lines() -> None:
    claim = claim_dict(Encounter.model_validate(visit()))
    assert Decimal(str(claim["total"]["value"])) == Decimal("117.50")
    assert claim["billablePeriod"] == {"start": "2026-03-02", "end": "2026-03-03"}


def test_contained_parties_and_coverage() -> None:
    claim = claim_dict(Encounter.model_validate(visit()))
    patient = contained(claim, claim["patient"]["reference"])
    assert patient["resourceType"] == "Patient"
    assert patient["name"] == [{"family": "Sample", "given": ["Sam"]}]
    assert (patient["gender"], patient["birthDate"]) == ("male", "1961-07-14")
    billing = contained(claim, claim["provider"]["reference"])
    assert billing["resourceType"] == "Organization"
    assert {(i["system"], i["value"]) for i in billing["identifier"]} == {
        (NPI, "1245319599"), ("urn:oid:2.16.840.1.113883.4.4", "123456789")}
    care_team = claim["careTeam"]
    assert [c["sequence"] for c in care_team] == [1]
    practitioner = contained(claim, care_team[0]["provider"]["reference"])
    assert practitioner["resourceType"] == "Practitioner"
    assert practitioner["identifier"][0]["system"] == NPI
    assert practitioner["identifier"][0]["value"] == "1234567893"
    assert all(item["careTeamSequence"] == [1] for item in claim["item"])
    insurance = claim["insurance"]
    assert insurance[0]["focal"] is True
    coverage = contained(claim, insurance[0]["coverage"]["reference"])
    assert coverage["subscriberId"] == "1EG4TE5MK73"
    assert coverage["beneficiary"]["reference"] == claim["patient"]["reference"]
    payer = contained(claim, coverage["payor"][0]["reference"])
    assert payer["identifier"][0]["value"] == "12345"
    assert coverage["class"][0]["value"] == "G-9"


def test_a_line_rendered_by_another_practitioner_gets_its_own_care_team_member() -> None:
    data = visit()
    data["lines"][1]["rendering_npi"] = "1987654321"
    claim = claim_dict(Encounter.model_validate(data))
    assert [c["sequence"] for c in claim["careTeam"]] == [1, 2]
    assert claim["item"][1]["careTeamSequence"] == [2]
    second = contained(claim, claim["careTeam"][1]["provider"]["reference"])
    assert second["identifier"][0]["value"] == "1987654321"


def test_a_unit_price_that_does_not_divide_exactly_is_left_out_not_rounded() -> None:
    data = visit()
    data["lines"][0]["units"] = 3
    data["lines"][0]["charge"] = 100.00
    item = claim_dict(Encounter.model_validate(data))["item"][0]
    assert "unitPrice" not in item
    assert Decimal(str(item["net"]["value"])) == Decimal("100")


def test_every_missing_field_is_listed_with_the_encounter() -> None:
    data = visit(billing_provider=None, subscriber=None, payer_id=None)
    data["patient"].pop("birth_date")
    data["lines"][0]["charge"] = None
    data["lines"][1]["dx_pointers"] = [4]
    data["lines"].append({"code": "9711", "units": 1, "dx_pointers": [1], "charge": 1})
    with pytest.raises(InputError) as caught:
        to_fhir_claim(Encounter.model_validate(data))
    message = str(caught.value)
    for field in ("billing_provider", "subscriber", "payer_id", "patient.birth_date", "lines[1].charge",
                  "lines[2].dx_pointers (4 outside 1..3)", "lines[3].code ('9711'"):
        assert field in message
    assert "encounter E-FHIR-1" in message
    assert "claim_id" not in message
    assert caught.value.encounter == "E-FHIR-1"


def test_no_lines_is_a_missing_field() -> None:
    with pytest.raises(InputError, match=r"lines"):
        to_fhir_claim(Encounter.model_validate(visit(lines=[])))


def test_bundle_holds_shared_parties_once_and_references_resolve() -> None:
    first = Encounter.model_validate(visit())
    second = Encounter.model_validate(visit(id="E-FHIR-2", claim_id="CLM-0043", date="2026-03-09"))
    bundle = to_fhir_bundle([first, second], created=CREATED)
    parsed = json.loads(bundle.model_dump_json(by_alias=True, exclude_none=True))
    Bundle.model_validate_json(json.dumps(parsed))
    assert parsed["type"] == "collection"
    kinds = [e["resource"]["resourceType"] for e in parsed["entry"]]
    assert sorted(kinds) == sorted(["Patient", "Practitioner", "Organization", "Organization", "Coverage",
                                    "Claim", "Claim"])
    urls = {e["fullUrl"] for e in parsed["entry"]}
    claims = [e["resource"] for e in parsed["entry"] if e["resource"]["resourceType"] == "Claim"]
    for claim in claims:
        assert "contained" not in claim
        references = [claim["patient"], claim["provider"], claim["insurer"], claim["insurance"][0]["coverage"],
                      claim["careTeam"][0]["provider"]]
        assert all(r["reference"] in urls for r in references)
    assert [c["identifier"][0]["value"] for c in claims] == ["CLM-0042", "CLM-0043"]


def test_bundle_refuses_two_different_patients_under_one_id() -> None:
    first = Encounter.model_validate(visit())
    renamed = visit(id="E-FHIR-2", claim_id="CLM-0043")
    renamed["patient"]["first_name"] = "Samuel"
    with pytest.raises(InputError, match=r"Patient.*differs from the one in encounter E-FHIR-1"):
        to_fhir_bundle([first, Encounter.model_validate(renamed)], created=CREATED)


def test_bundle_is_the_same_for_the_same_input() -> None:
    encounter = Encounter.model_validate(visit())
    once = to_fhir_bundle([encounter], created=CREATED).model_dump_json()
    assert to_fhir_bundle([encounter], created=CREATED).model_dump_json() == once


def test_payer_organization_takes_the_payer_name_when_given() -> None:
    unnamed = claim_dict(Encounter.model_validate(visit()))
    assert contained(unnamed, unnamed["insurer"]["reference"])["name"] == visit()["payer"]
    named = claim_dict(Encounter.model_validate({**visit(), "payer_name": "Example Health Plan"}))
    insurer = contained(named, named["insurer"]["reference"])
    assert (insurer["resourceType"], insurer["name"]) == ("Organization", "Example Health Plan")


@pytest.mark.parametrize(("charge", "units", "price"), [
    ("90.00", "2", "45.00"),    # divides into cents
    ("10.00", "4", "2.50"),
    ("0.02", "2", "0.01"),      # the smallest price there is
    ("0.01", "2", None),        # half a cent: no price in cents gives the charge
    ("1.00", "8", None),        # 0.125: exact, but not in cents
    ("100.00", "3", None),      # 33.33 x 3 = 99.99: a rounded price would contradict net
    ("45.00", "1.5", "30.00"),  # fractional units divide too
    ("5.00", "0", None),
])
def test_unit_price_is_in_cents_and_multiplies_back_to_the_charge(charge: str, units: str, price: str | None) -> None:
    got = unit_price(Decimal(charge), Decimal(units))
    assert got == (None if price is None else Decimal(price))
    if got is not None:
        assert got.as_tuple().exponent == -2
        assert got * Decimal(units) == Decimal(charge)


def test_a_sub_cent_unit_price_is_left_out_and_net_keeps_the_charge() -> None:
    data = visit()
    data["lines"][0]["units"] = 8
    data["lines"][0]["charge"] = 1.00
    item = claim_dict(Encounter.model_validate(data))["item"][0]
    assert "unitPrice" not in item
    assert Decimal(str(item["net"]["value"])) == Decimal("1")


def test_identifiers_are_only_those_given_and_not_typed_beyond_what_is_known() -> None:
    claim = claim_dict(Encounter.model_validate(visit()))
    patient = contained(claim, claim["patient"]["reference"])
    assert patient["identifier"] == [{"type": {"text": "patient id"}, "value": "P-2002"}]  # not an MRN (v2 MR)
    billing = contained(claim, claim["provider"]["reference"])
    assert "active" not in billing
    values = {i["value"] for r in claim["contained"] for i in r.get("identifier", [])}
    values |= {i["value"] for i in claim["identifier"]}
    assert values == {"P-2002", "1245319599", "123456789", "1234567893", "12345", "CLM-0042"}


def _billed_by(name: str, tax_id: str, **changes: Any) -> Encounter:
    data = visit(**changes)
    data["billing_provider"] = {**data["billing_provider"], "name": name, "tax_id": tax_id}
    return Encounter.model_validate(data)


def test_two_encounters_billed_under_one_npi_by_different_organizations_keep_their_own() -> None:
    # examples/: Harbor Physical Therapy and Springfield Family Medicine share billing NPI 1234567893
    first = _billed_by("Harbor Physical Therapy", "123456789")
    second = _billed_by("Springfield Family Medicine", "371234567", id="E-FHIR-2", claim_id="CLM-0043")
    same = _billed_by("Harbor Physical Therapy", "123456789", id="E-FHIR-3", claim_id="CLM-0044")
    bundle, errors = bundle_of_writable([first, second, same], created=CREATED)
    assert errors == []
    assert bundle is not None
    parsed = json.loads(bundle.model_dump_json(by_alias=True, exclude_none=True))
    Bundle.model_validate(parsed)
    by_url = {e["fullUrl"]: e["resource"] for e in parsed["entry"]}
    claims = [r for r in by_url.values() if r["resourceType"] == "Claim"]
    names = [by_url[c["provider"]["reference"]]["name"] for c in claims]
    assert names == ["Harbor Physical Therapy", "Springfield Family Medicine", "Harbor Physical Therapy"]
    assert claims[0]["provider"] == claims[2]["provider"]  # identical descriptions are one Organization
    billing = [r for r in by_url.values() if r["resourceType"] == "Organization" and r.get("address")]
    assert len(billing) == 2


def test_bundle_leaves_out_an_incomplete_encounter_and_reports_it() -> None:
    good = Encounter.model_validate(visit())
    incomplete = Encounter.model_validate(visit(id="E-FHIR-2", claim_id="CLM-0043", payer_id=None))
    bundle, errors = bundle_of_writable([incomplete, good], created=CREATED)
    assert [(e.encounter, e.field) for e in errors] == [("E-FHIR-2", "payer_id")]
    assert bundle is not None
    claims = [e.resource for e in bundle.entry or [] if e.resource.get_resource_type() == "Claim"]
    assert [c.identifier[0].value for c in claims] == ["CLM-0042"]


def test_a_conflicting_encounter_adds_none_of_its_resources() -> None:
    first = Encounter.model_validate(visit())
    renamed = visit(id="E-FHIR-2", claim_id="CLM-0043", subscriber={"member_id": "OTHER-1", "relationship": "self"})
    renamed["patient"]["first_name"] = "Samuel"
    bundle, errors = bundle_of_writable([first, Encounter.model_validate(renamed)], created=CREATED)
    assert len(errors) == 1
    assert errors[0].encounter == "E-FHIR-2"
    assert "differs from the one in encounter E-FHIR-1" in errors[0].message
    assert bundle is not None
    text = bundle.model_dump_json()
    assert "OTHER-1" not in text  # its Coverage did not get in either
    assert "CLM-0043" not in text


def test_no_writable_encounter_gives_no_bundle() -> None:
    incomplete = Encounter.model_validate(visit(payer_id=None))
    bundle, errors = bundle_of_writable([incomplete], created=CREATED)
    assert bundle is None
    assert [e.encounter for e in errors] == ["E-FHIR-1"]
    assert bundle_of_writable([], created=CREATED) == (None, [])


def test_a_coverage_conflict_names_the_patient_not_the_member_id() -> None:
    first = Encounter.model_validate(visit())
    other_group = visit(id="E-FHIR-2", claim_id="CLM-0043")
    other_group["subscriber"]["group_number"] = "G-10"
    _, errors = bundle_of_writable([first, Encounter.model_validate(other_group)], created=CREATED)
    (error,) = errors
    assert "Coverage (medicare) of patient P-2002 differs from the one in encounter E-FHIR-1" in str(error)
    assert "1EG4TE5MK73" not in str(error)
