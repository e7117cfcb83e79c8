"""An encounter's billed lines as a FHIR R4 (R4B models) professional Claim, for payers and apps that take FHIR.

The Claim carries its Patient, rendering Practitioner(s), billing Organization, payer Organization and Coverage
either as contained resources (:func:`to_fhir_claim`, one self-sufficient document) or as entries of a
collection Bundle (:func:`to_fhir_bundle`, where one patient or provider seen in several encounters is written
once). Code systems follow the HL7 terminology and the CARIN Blue Button IG:

- ICD-10-CM ``http://hl7.org/fhir/sid/icd-10-cm``, codes written with their dot, as HL7's code system writes them;
- CPT ``http://www.ama-assn.org/go/cpt`` and HCPCS Level II ``http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets``
  (the canonical URL of HL7 THO's CodeSystem hcpcs-Level-II, https://terminology.hl7.org/CodeSystem-hcpcs-Level-II.html:
  http, not https; a receiver matches systems character for character), chosen by the code's shape; modifiers
  from the same two systems, as in CARIN BB's value set AMACPTCMSHCPCSModifiers (https://hl7.org/fhir/us/carin-bb/ValueSet-AMACPTCMSHCPCSModifiers.html):
  two-digit numeric modifiers (25, 59, 95) are CPT's, letter modifiers (GP, KX, CQ, XE) are HCPCS Level II;
- NPI ``http://hl7.org/fhir/sid/us-npi``; tax id ``urn:oid:2.16.840.1.113883.4.4`` with identifier type TAX
  (CARIN BB example Organization-ProviderOrganization2);
- CMS place of service https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set;
- the referring provider (837P 2310A, CMS-1500 item 17) is a Claim.careTeam member with CARIN BB's role
  ``referring`` (CodeSystem C4BBClaimCareTeamRole, http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBClaimCareTeamRole,
  in the value set C4BBClaimProfessionalAndNonClinicianCareTeamRole), not Claim.referral: that element points at
  a ServiceRequest, a referral order the encounter does not hold.

Nothing is invented: every identifier is one the encounter gives (patient id, NPIs, tax id, member id, payer id,
claim id), typed only as far as the encounter says what it is (the patient id is the practice's own id, not
asserted to be a medical record number), and facts the encounter does not state (an organization being active)
are left out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.claim import Claim

from cleanclaim.codebook import CodeKind, kind_from_format
from cleanclaim.diagnoses import format_diagnosis
from cleanclaim.errors import InputError
from cleanclaim.formats.claim_requirements import claim_line_gaps
from cleanclaim.model import Address, ClaimLine, Encounter, Provider

__all__ = [
    "CPT_SYSTEM",
    "HCPCS_SYSTEM",
    "ICD10CM_SYSTEM",
    "NPI_SYSTEM",
    "POS_SYSTEM",
    "TAX_ID_SYSTEM",
    "bundle_json",
    "bundle_of_writable",
    "claim_json",
    "missing_fields",
    "modifier_system",
    "procedure_system",
    "to_fhir_bundle",
    "to_fhir_claim",
    "unit_price",
]

ICD10CM_SYSTEM = "http://hl7.org/fhir/sid/icd-10-cm"
CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"
HCPCS_SYSTEM = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
TAX_ID_SYSTEM = "urn:oid:2.16.840.1.113883.4.4"
POS_SYSTEM = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
_CLAIM_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/claim-type"
_PRIORITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/processpriority"
_CARE_TEAM_ROLE_SYSTEM = "http://terminology.hl7.org/CodeSystem/claimcareteamrole"
_CARIN_CARE_TEAM_ROLE_SYSTEM = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBClaimCareTeamRole"
_RELATIONSHIP_SYSTEM = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
_COVERAGE_CLASS_SYSTEM = "http://terminology.hl7.org/CodeSystem/coverage-class"
_IDENTIFIER_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"
_CURRENCY = "USD"
_CENT = Decimal("0.01")
# Bundle entries get name-based UUIDs so the same encounter always yields the same document.
_UUID_NAMESPACE = uuid.UUID("5d1f3f0e-2b7c-4f5e-9a49-0c1e6b7a3c21")
_GENDER = {"M": "male", "F": "female", "U": "unknown"}
# http://terminology.hl7.org/CodeSystem/subscriber-relationship; anything else the user wrote maps to "other".
_RELATIONSHIPS = {"self", "spouse", "child", "parent", "common", "injured", "other"}
_CPT_KINDS = {CodeKind.CPT1, CodeKind.CPT2, CodeKind.CPT3, CodeKind.PLA}


def procedure_system(code: str) -> str | None:
    """The FHIR code system of a procedure code, by its shape; None when the shape fits no code set."""
    kind = kind_from_format(code)
    if kind is None:
        return None
    return CPT_SYSTEM if kind in _CPT_KINDS else HCPCS_SYSTEM


def modifier_system(modifier: str) -> str:
    return CPT_SYSTEM if re.fullmatch(r"[0-9]{2}", modifier) else HCPCS_SYSTEM


def missing_fields(encounter: Encounter) -> list[str]:
    """Every field a FHIR professional claim needs that the encounter lacks or gets wrong, in encounter order."""
    gaps: list[str] = []
    patient = encounter.patient
    gaps += [f"patient.{name}" for name in ("first_name", "last_name", "birth_date", "sex")
             if getattr(patient, name) is None]
    gaps += [name for name in ("billing_provider", "subscriber", "payer_id", "claim_id")
             if getattr(encounter, name) is None]
    if encounter.subscriber is not None and not encounter.subscriber.member_id:
        gaps.append("subscriber.member_id")  # Coverage.subscriberId
    gaps += claim_line_gaps(encounter, max_pointers=None)
    gaps += [f"lines[{number}].code ({line.code!r} is neither a CPT nor a HCPCS Level II code)"
             for number, line in enumerate(encounter.lines, start=1) if procedure_system(line.code) is None]
    return gaps


def _require_complete(encounter: Encounter) -> None:
    gaps = missing_fields(encounter)
    if gaps:
        raise InputError(
            "cannot write a FHIR Claim: missing or unusable " + "; ".join(gaps),
            encounter=encounter.id,
            field=", ".join(gap.split(" ")[0] for gap in gaps),
        )


def _money(value: Decimal) -> dict[str, Any]:
    return {"value": value, "currency": _CURRENCY}


def _coding(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def _address(address: Address, use: str) -> dict[str, Any]:
    postal = f"{address.zip[:5]}-{address.zip[5:]}" if len(address.zip) == 9 else address.zip
    return {
        "use": use,
        "line": [part for part in (address.line1, address.line2) if part],
        "city": address.city,
        "state": address.state,
        "postalCode": postal,
        "country": "US",
    }


def _name(first: str | None, last: str | None) -> list[dict[str, Any]]:
    name: dict[str, Any] = {}
    if last:
        name["family"] = last
    if first:
        name["given"] = [first]
    return [name] if name else []


def _npi(npi: str) -> dict[str, Any]:
    return {"type": _coding(_IDENTIFIER_TYPE_SYSTEM, "NPI"), "system": NPI_SYSTEM, "value": npi}


@dataclass(frozen=True, slots=True)
class _Part:
    """One resource the Claim points at: ``key`` names what it is across encounters, ``local_id`` inside one."""

    key: str
    local_id: str
    resource: dict[str, Any]


def _practitioners(encounter: Encounter) -> list[tuple[str, Provider | None]]:
    """The rendering NPIs in care-team order: the encounter's provider, then other NPIs named on lines."""
    npis = [encounter.provider.npi or ""]  # never blank here: _require_complete refused an encounter without it
    for line in encounter.lines:
        if line.rendering_npi and line.rendering_npi not in npis:
            npis.append(line.rendering_npi)
    return [(npi, encounter.provider if npi == npis[0] else None) for npi in npis]


def _referring_local_id(encounter: Encounter) -> str | None:
    """Which part the referring provider's care-team entry points at: a rendering practitioner with the same NPI
    (one NPI is one Practitioner), else a Practitioner of its own."""
    referring = encounter.referring_provider
    if referring is None:
        return None
    rendering = [npi for npi, _ in _practitioners(encounter)]
    return f"practitioner-{referring.npi}" if referring.npi in rendering else "referring-provider"


def _parts(encounter: Encounter) -> list[_Part]:
    patient = encounter.patient
    billing = encounter.billing_provider
    subscriber = encounter.subscriber
    assert billing is not None, "checked by _require_complete"
    assert subscriber is not None, "checked by _require_complete"
    patient_resource: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [{"type": {"text": "patient id"}, "value": patient.id}],
        "name": _name(patient.first_name, patient.last_name),
        "gender": _GENDER[patient.sex or "U"],
        "birthDate": patient.birth_date,
    }
    if patient.address is not None:
        patient_resource["address"] = [_address(patient.address, "home")]
    parts = [_Part(f"Patient/{patient.id}", "patient", patient_resource)]
    for npi, known in _practitioners(encounter):
        practitioner: dict[str, Any] = {"resourceType": "Practitioner", "identifier": [_npi(npi)]}
        if known is not None and (known.first_name or known.last_name):
            practitioner["name"] = _name(known.first_name, known.last_name)
        parts.append(_Part(f"Practitioner/{npi}", f"practitioner-{npi}", practitioner))
    referring = encounter.referring_provider
    if referring is not None and _referring_local_id(encounter) == "referring-provider":
        referrer: dict[str, Any] = {"resourceType": "Practitioner"}
        if referring.npi:
            referrer["identifier"] = [_npi(referring.npi)]
        referrer["name"] = _name(referring.first_name, referring.last_name)
        # without an NPI the referrer has no identifier to be found by: only the same name is the same resource
        key = f"Practitioner/{referring.npi}" if referring.npi else f"Practitioner/referring/{_fingerprint(referrer)}"
        parts.append(_Part(key, "referring-provider", referrer))
    organization: dict[str, Any] = {
        "resourceType": "Organization",
        "identifier": [
            _npi(billing.npi),
            {"type": _coding(_IDENTIFIER_TYPE_SYSTEM, "TAX"), "system": TAX_ID_SYSTEM, "value": billing.tax_id},
        ],
        "name": billing.name,
        "address": [_address(billing.address, "work")],
    }
    # One NPI may bill under different names, tax ids or addresses across encounters (a group's locations, or
    # synthetic data reusing an NPI): each distinct description is its own Organization, identical ones are one.
    parts.append(_Part(f"Organization/{billing.npi}/{_fingerprint(organization)}", "billing-provider", organization))
    parts.append(_Part(f"Organization/payer/{encounter.payer}/{encounter.payer_id}", "payer", {
        "resourceType": "Organization",
        "identifier": [{"type": {"text": "payer id"}, "value": encounter.payer_id}],
        "name": encounter.payer_name or encounter.payer,
    }))
    relationship = subscriber.relationship.strip().lower()
    coverage: dict[str, Any] = {
        "resourceType": "Coverage",
        "status": "active",
        "subscriberId": subscriber.member_id,
        "relationship": _coding(_RELATIONSHIP_SYSTEM, relationship if relationship in _RELATIONSHIPS else "other"),
    }
    if subscriber.group_number:
        coverage["class"] = [{"type": _coding(_COVERAGE_CLASS_SYSTEM, "group"), "value": subscriber.group_number}]
    parts.append(_Part(f"Coverage/{encounter.payer}/{subscriber.member_id}/{patient.id}", "coverage", coverage))
    return parts


def _fingerprint(resource: dict[str, Any]) -> str:
    """A short stable digest of a resource's content, to tell apart two descriptions under one identifier."""
    text = json.dumps(resource, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _wire(parts: Sequence[_Part], ref: Callable[[str], str]) -> list[_Part]:
    """Fill the references between parts (Coverage names its beneficiary and payer) once we know their form."""
    by_local = {part.local_id: part for part in parts}
    coverage = by_local["coverage"]
    wired = {**coverage.resource, "beneficiary": {"reference": ref("patient")},
             "payor": [{"reference": ref("payer")}]}
    return [_Part(p.key, p.local_id, wired) if p is coverage else p for p in parts]


def _item(sequence: int, line: ClaimLine, encounter: Encounter, care_team: dict[str, int]) -> dict[str, Any]:
    system = procedure_system(line.code)
    assert system is not None, "checked by _require_complete"
    assert line.charge is not None, "checked by _require_complete"
    item: dict[str, Any] = {
        "sequence": sequence,
        "careTeamSequence": [care_team[line.rendering_npi or encounter.provider.npi or ""]],
        "diagnosisSequence": list(line.dx_pointers),
        "productOrService": _coding(system, line.code),
        "servicedDate": line.date or encounter.date,
        "locationCodeableConcept": _coding(POS_SYSTEM, encounter.place_of_service),
        "quantity": {"value": line.units},
        "net": _money(line.charge),
    }
    if line.modifiers:
        item["modifier"] = [_coding(modifier_system(m), m) for m in line.modifiers]
    price = unit_price(line.charge, line.units)
    if price is not None:
        item["unitPrice"] = _money(price)
    return item


def unit_price(charge: Decimal, units: Decimal) -> Decimal | None:
    """The price of one unit in whole cents, or None when no such price times the units gives the charge.

    FHIR defines Claim.item.net as quantity x unitPrice: a price rounded to cents that does not multiply back to
    the charge would make the claim contradict itself, so it is left out (net carries the charge) rather than
    rounded; a price with fractions of a cent is not a price a payer's system takes either.
    """
    if units <= 0:
        return None
    try:
        cents = (charge / units).quantize(_CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:  # more digits than a Decimal context holds: no price to state
        return None
    return cents if cents * units == charge else None


def _claim(encounter: Encounter, created: dt.date, parts: Sequence[_Part], ref: Callable[[str], str]) -> dict[str, Any]:
    care_team_npis = [p.local_id.removeprefix("practitioner-") for p in parts if p.local_id.startswith("practitioner-")]
    care_team = {npi: number for number, npi in enumerate(care_team_npis, start=1)}
    service_dates = [line.date or encounter.date for line in encounter.lines]
    care_team_entries = [
        {"sequence": number, "provider": {"reference": ref(f"practitioner-{npi}")},
         "role": _coding(_CARE_TEAM_ROLE_SYSTEM, "primary" if number == 1 else "other")}
        for npi, number in care_team.items()
    ]
    referring = _referring_local_id(encounter)
    if referring is not None:
        care_team_entries.append({"sequence": len(care_team_entries) + 1, "provider": {"reference": ref(referring)},
                                  "role": _coding(_CARIN_CARE_TEAM_ROLE_SYSTEM, "referring")})
    charges = [line.charge for line in encounter.lines if line.charge is not None]
    return {
        "resourceType": "Claim",
        "identifier": [{"type": {"text": "patient control number"}, "value": encounter.claim_id}],
        "status": "active",
        "type": _coding(_CLAIM_TYPE_SYSTEM, "professional"),
        "use": "claim",
        "patient": {"reference": ref("patient")},
        "billablePeriod": {"start": min(service_dates), "end": max(service_dates)},
        "created": created,
        "insurer": {"reference": ref("payer")},
        "provider": {"reference": ref("billing-provider")},
        "priority": _coding(_PRIORITY_SYSTEM, "normal"),
        "careTeam": care_team_entries,
        "diagnosis": [
            {"sequence": number, "diagnosisCodeableConcept": _coding(ICD10CM_SYSTEM, format_diagnosis(code))}
            for number, code in enumerate(encounter.diagnoses, start=1)
        ],
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": ref("coverage")}}],
        "item": [_item(number, line, encounter, care_team) for number, line in enumerate(encounter.lines, start=1)],
        "total": _money(sum(charges, Decimal(0))),
    }


def to_fhir_claim(encounter: Encounter, *, created: dt.date | None = None) -> Claim:
    """The encounter as one Claim with its Patient, Practitioner, Organizations and Coverage contained.

    ``created`` is the claim's creation date (default today). Raises :class:`InputError` listing every field the
    claim needs and the encounter lacks.
    """
    _require_complete(encounter)
    parts = _wire(_parts(encounter), lambda local_id: f"#{local_id}")
    claim = _claim(encounter, created or dt.date.today(), parts, lambda local_id: f"#{local_id}")
    claim["contained"] = [{**part.resource, "id": part.local_id} for part in parts]
    return Claim.model_validate(claim)


def _entry_uuid(key: str) -> str:
    return str(uuid.uuid5(_UUID_NAMESPACE, key))


def to_fhir_bundle(encounters: Iterable[Encounter], *, created: dt.date | None = None) -> Bundle:
    """A collection Bundle: one Claim per encounter and each Patient, Practitioner, Organization and Coverage once.

    Raises :class:`InputError` for the first encounter that lacks a field (listing all its gaps), and when two
    encounters describe the same patient, provider or coverage differently (which one is right is the user's call).
    """
    bundle, errors = bundle_of_writable(encounters, created=created)
    if errors:
        raise errors[0]
    return bundle or Bundle.model_validate({"resourceType": "Bundle", "type": "collection"})


def _describe(key: str) -> str:
    """A resource named for a message by the identifiers the user gave, never a member id (PHI)."""
    kind, _, identity = key.partition("/")
    if kind == "Coverage":  # Coverage/<payer>/<member id>/<patient id>
        payer, _, rest = identity.partition("/")
        return f"Coverage ({payer}) of patient {rest.rpartition('/')[2]}"
    if kind == "Organization" and identity.startswith("payer/"):
        return f"payer Organization {identity.removeprefix('payer/')}"
    return f"{kind} {identity}"


def bundle_of_writable(encounters: Iterable[Encounter], *, created: dt.date | None = None,
                       ) -> tuple[Bundle | None, list[InputError]]:
    """The Bundle of every encounter that can be written, and one error per encounter that cannot.

    An encounter is left out whole (none of its resources enter the bundle) when it lacks a field or describes a
    patient, practitioner or coverage already in the bundle differently; the others are still written, as a batch
    with one bad record is. None instead of a Bundle when no encounter can be written: an empty Bundle would read
    as "these claims were written".
    """
    when = created or dt.date.today()
    entries: dict[str, dict[str, Any]] = {}
    first_seen: dict[str, str] = {}
    errors: list[InputError] = []
    for encounter in encounters:
        try:
            _require_complete(encounter)
        except InputError as exc:
            errors.append(exc)
            continue
        raw = _parts(encounter)
        local_to_key = {part.local_id: part.key for part in raw}

        def ref(local_id: str, keys: dict[str, str] = local_to_key) -> str:
            return f"urn:uuid:{_entry_uuid(keys[local_id])}"

        parts = _wire(raw, ref)
        claim_key = f"Claim/{encounter.id}/{encounter.claim_id}"
        parts.append(_Part(claim_key, "claim", _claim(encounter, when, parts, ref)))
        resources = {part.key: {**part.resource, "id": _entry_uuid(part.key)} for part in parts}
        conflicts = [key for key, resource in resources.items() if key in entries and entries[key] != resource]
        if conflicts:
            errors.append(InputError(
                f"{_describe(conflicts[0])} differs from the one in encounter {first_seen[conflicts[0]]}; "
                "make them agree before writing one bundle",
                encounter=encounter.id,
            ))
            continue
        for key, resource in resources.items():
            entries.setdefault(key, resource)
            first_seen.setdefault(key, encounter.id)
    if not entries:
        return None, errors
    return Bundle.model_validate({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource} for resource in entries.values()],
    }), errors


def claim_json(encounter: Encounter, *, created: dt.date | None = None) -> str:
    """The contained-resources Claim as FHIR JSON."""
    return to_fhir_claim(encounter, created=created).model_dump_json(by_alias=True, exclude_none=True)


def bundle_json(encounters: Iterable[Encounter], *, created: dt.date | None = None) -> str:
    """The collection Bundle as FHIR JSON."""
    return to_fhir_bundle(encounters, created=created).model_dump_json(by_alias=True, exclude_none=True)
