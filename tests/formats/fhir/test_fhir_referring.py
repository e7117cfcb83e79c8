"""The referring provider an 837P claim names (2310A, Encounter.referring_provider) reaches the FHIR Claim as a
care-team member with CARIN BB's ``referring`` role, instead of being dropped (issue 11)."""

from __future__ import annotations

import json
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.claim import Claim

from cleanclaim.formats.fhir import to_fhir_bundle
from cleanclaim.formats.x12_837p import read_837p
from cleanclaim.model import Encounter

from .test_fhir_claim import CREATED, NPI, claim_dict, contained, visit

REFERRING_ROLE = {"coding": [{"system": "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBClaimCareTeamRole",
                              "code": "referring"}]}
RITA = {"npi": "1245319599", "last_name": "Referrer", "first_name": "Rita"}


def referring(claim: dict[str, Any]) -> list[dict[str, Any]]:
    return [member for member in claim["careTeam"] if member["role"] == REFERRING_ROLE]


def test_the_referring_provider_is_a_care_team_member_with_the_referring_role() -> None:
    claim = claim_dict(Encounter.model_validate(visit(referring_provider=RITA)))
    Claim.model_validate_json(json.dumps(claim))
    assert [member["sequence"] for member in claim["careTeam"]] == [1, 2]
    (member,) = referring(claim)
    assert member["sequence"] == 2
    practitioner = contained(claim, member["provider"]["reference"])
    assert practitioner["resourceType"] == "Practitioner"
    assert practitioner["identifier"] == [{"type": {"coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NPI"}]}, "system": NPI,
        "value": "1245319599"}]
    assert practitioner["name"] == [{"family": "Referrer", "given": ["Rita"]}]
    # the referrer renders nothing: the items stay with the rendering provider
    assert all(item["careTeamSequence"] == [1] for item in claim["item"])


def test_a_claim_without_a_referring_provider_has_no_referring_member() -> None:
    claim = claim_dict(Encounter.model_validate(visit()))
    assert referring(claim) == []
    assert len(claim["careTeam"]) == 1


def test_a_referrer_without_an_npi_gets_no_invented_identifier() -> None:
    claim = claim_dict(Encounter.model_validate(visit(referring_provider={"last_name": "Referrer"})))
    (member,) = referring(claim)
    practitioner = contained(claim, member["provider"]["reference"])
    assert "identifier" not in practitioner
    assert practitioner["name"] == [{"family": "Referrer"}]


def test_a_referrer_who_is_also_the_rendering_provider_is_one_practitioner() -> None:
    claim = claim_dict(Encounter.model_validate(
        visit(referring_provider={"npi": "1234567893", "last_name": "Mover", "first_name": "Pat"})))
    practitioners = [r for r in claim["contained"] if r["resourceType"] == "Practitioner"]
    assert len(practitioners) == 1
    (member,) = referring(claim)
    assert member["provider"] == claim["careTeam"][0]["provider"]


def test_a_bundle_holds_a_referrer_of_two_claims_once_and_its_references_resolve() -> None:
    first = Encounter.model_validate(visit(referring_provider=RITA))
    second = Encounter.model_validate(visit(id="E-FHIR-2", claim_id="CLM-0043", referring_provider=RITA))
    parsed = json.loads(to_fhir_bundle([first, second], created=CREATED).model_dump_json(
        by_alias=True, exclude_none=True))
    Bundle.model_validate_json(json.dumps(parsed))
    resources = {e["fullUrl"]: e["resource"] for e in parsed["entry"]}
    referrers = [r for r in resources.values() if r["resourceType"] == "Practitioner"
                 and r["identifier"][0]["value"] == "1245319599"]
    assert len(referrers) == 1
    for claim in (r for r in resources.values() if r["resourceType"] == "Claim"):
        (member,) = referring(claim)
        assert resources[member["provider"]["reference"]] == referrers[0]


def test_the_referrer_read_from_an_837p_reaches_the_fhir_claim() -> None:
    from tests.formats.x12.test_837p_reexport import _rich

    read = read_837p(_rich())
    assert read.errors == []
    with_referrer = next(e for e in read.encounters if e.referring_provider is not None)
    claim = claim_dict(with_referrer)
    (member,) = referring(claim)
    practitioner = contained(claim, member["provider"]["reference"])
    assert practitioner["name"] == [{"family": "Referrer", "given": ["Rita"]}]
    assert practitioner["identifier"][0]["value"] == "1245319599"
