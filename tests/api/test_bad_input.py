"""Bad input to /api/v1: every refusal is a 4xx JSON error ``{"error": {"code", "message", "details"}}`` that says
what is wrong, and nothing is half-written (the request's transaction is rolled back whole)."""

from __future__ import annotations

import datetime as dt
import json
import time
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cleanclaim.lifecycle import Role
from cleanclaim.store.remittance_file import PaidClaim, PaidLine, remittance_text
from tests.api.conftest import bearer, create_claim, encounter_json
from tests.web.conftest import Org


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["message"]
    return error


def _counts(client: TestClient, org: Org) -> tuple[int, int, int]:
    headers = bearer(org, Role.AUDITOR)
    return (client.get("/api/v1/claims", headers=headers).json()["total"],
            client.get("/api/v1/encounters", headers=headers).json()["page"]["total"],
            client.get("/api/v1/remittances", headers=headers).json()["page"]["total"])


def _remittance(pcn: str) -> str:
    day = dt.date(2026, 3, 2)
    return remittance_text([PaidClaim(pcn, "4", "CCN-1", [PaidLine(
        "97110", ("GP",), Decimal("90"), Decimal(0), Decimal(2), day, (("CO", "50", Decimal("90")),))])],
        trace_number=f"T{time.time_ns()}", payer_identifier="1234567890", payer_name="Medicare",
        payee_name="Harbor PT", payee_npi="1234567893", paid_on=dt.date(2026, 4, 1))


def test_malformed_json_is_a_422_and_writes_nothing(client: TestClient, org: Org) -> None:
    before = _counts(client, org)
    response = client.post("/api/v1/encounters", content=b'{"id": "E1", "date": ', headers={
        **bearer(org), "Content-Type": "application/json"})
    assert _error(response, 422)["code"] == "validation_error"
    not_json = client.post("/api/v1/encounters", content=b"id: E1", headers={
        **bearer(org), "Content-Type": "application/json"})
    _error(not_json, 422)
    assert _counts(client, org) == before


@pytest.mark.parametrize(("field", "named"), [("patient", "patient"), ("date", "date"), ("provider", "provider")])
def test_a_missing_field_is_named(client: TestClient, org: Org, field: str, named: str) -> None:
    before = _counts(client, org)
    response = client.post("/api/v1/encounters", json=encounter_json(**{field: None}), headers=bearer(org))
    error = _error(response, 422)
    assert error["code"] == "invalid_input"
    assert any(named in (problem.get("field") or "") for problem in error["details"]), error
    assert _counts(client, org) == before


def test_one_bad_encounter_refuses_the_whole_request(client: TestClient, org: Org) -> None:
    before = _counts(client, org)
    good, bad = encounter_json(), encounter_json(date="2026-02-30")
    response = client.post("/api/v1/encounters", json={"encounters": [good, bad]}, headers=bearer(org))
    _error(response, 422)
    assert _counts(client, org) == before
    twice = client.post("/api/v1/encounters", json=[good, good], headers=bearer(org))
    assert "used twice" in _error(twice, 422)["message"]
    assert _counts(client, org) == before


def test_an_encounter_file_keeps_its_good_encounters_and_lists_the_bad_in_problems(client: TestClient,
                                                                                    org: Org) -> None:
    """Unlike one JSON request (one change, all or nothing), an uploaded file's encounters are independent: those
    that read are stored and each that does not is in ``problems`` with its encounter id, field and line."""
    before = _counts(client, org)
    good, late = encounter_json(), encounter_json()
    bad_date = encounter_json(date="2026-02-30")
    bad_shape = encounter_json()
    bad_shape["lines"][0]["place_of_service"] = "1A"  # a place-of-service code is two digits
    text = json.dumps({"encounters": [good, bad_date, bad_shape, late]}, indent=1)
    response = client.post("/api/v1/encounters/import", files={"file": ("four.json", text.encode())},
                           headers=bearer(org))
    assert response.status_code == 201, response.text
    body = response.json()
    assert [c["patient_control_number"] for c in body["claims"]] == [good["claim_id"], late["claim_id"]]
    lines = text.splitlines()
    assert [(p["encounter"], p["field"], p["file"]) for p in body["problems"]] == [
        (bad_date["id"], "date", "four.json"), (bad_shape["id"], "lines.0.place_of_service", "four.json")]
    assert body["problems"][0]["line"] == next(n for n, line in enumerate(lines, 1) if "2026-02-30" in line)
    assert body["problems"][1]["line"] == next(n for n, line in enumerate(lines, 1) if '"1A"' in line)
    assert _counts(client, org) == (before[0] + 2, before[1] + 2, before[2])


def test_a_nul_escaped_in_json_is_a_422_naming_the_encounter_and_field(client: TestClient, org: Org) -> None:
    """"\\u0000" in a JSON string is a NUL that PostgreSQL's JSONB and text columns refuse (a 500 there before): the
    body is refused whole with the encounter and field, a file keeps its other encounters, and nothing of the bad
    encounter is stored on either database."""
    before = _counts(client, org)
    bad = encounter_json()
    bad["patient"] = {**bad["patient"], "last_name": "Sam\x00ple"}
    body = client.post("/api/v1/encounters", json={"encounters": [encounter_json(), bad]}, headers=bearer(org))
    error = _error(body, 422)
    assert error["code"] == "invalid_input" and "control character" in error["message"]
    assert [(d["encounter"], d["field"]) for d in error["details"]] == [(bad["id"], "patient.last_name")]
    assert "Sam" not in body.text
    assert _counts(client, org) == before
    alone = client.post("/api/v1/encounters/import", files={"file": ("nul.json", json.dumps([bad]).encode())},
                        headers=bearer(org))
    assert "nothing was imported" in _error(alone, 422)["message"]
    assert _counts(client, org) == before
    mixed = client.post("/api/v1/encounters/import", headers=bearer(org),
                        files={"file": ("two.json", json.dumps([encounter_json(), bad]).encode())})
    assert mixed.status_code == 201, mixed.text
    assert [(p["encounter"], p["field"]) for p in mixed.json()["problems"]] == [(bad["id"], "patient.last_name")]
    assert _counts(client, org) == (before[0] + 1, before[1] + 1, before[2])


def test_an_835_for_unknown_claims_is_refused_and_nothing_is_stored(client: TestClient, org: Org) -> None:
    create_claim(client, org)
    before = _counts(client, org)
    response = client.post("/api/v1/remittances", files={"file": ("era.835", _remittance("NO-SUCH-CLAIM").encode())},
                           headers=bearer(org))
    error = _error(response, 422)
    assert error["code"] == "no_matching_claims"
    assert [u["patient_control_number"] for u in error["details"]["unposted"]] == ["NO-SUCH-CLAIM"]
    assert _counts(client, org) == before


@pytest.mark.parametrize(("content", "status", "says"), [
    (b"/etc/passwd", 415, "starts with its ISA segment"),  # never taken for a path on the server
    (b"\xff\xfe\x00I\x00S\x00A", 415, "not UTF-8"),
    (b"ISA*garbage~", 422, "no payment could be read"),
    (b"", 415, "starts with its ISA segment"),
])
def test_a_file_that_is_not_an_835(client: TestClient, org: Org, content: bytes, status: int, says: str) -> None:
    before = _counts(client, org)
    response = client.post("/api/v1/remittances", files={"file": ("era.835", content)}, headers=bearer(org))
    assert says in _error(response, status)["message"]
    assert _counts(client, org) == before


@pytest.mark.parametrize("path", ["/api/v1/remittances", "/api/v1/encounters/import"])
def test_a_50_mb_upload_is_a_413(client: TestClient, org: Org, path: str) -> None:
    before = _counts(client, org)
    big = b"ISA" + b"x" * (50 * 1024 * 1024)
    response = client.post(path, files={"file": ("big.835", big)}, headers=bearer(org))
    assert _error(response, 413)["code"] == "payload_too_large"
    assert _counts(client, org) == before


def test_an_encounter_file_import(client: TestClient, org: Org) -> None:
    yaml_text = ("encounters:\n  - id: E-YAML-1\n    claim_id: CLM-YAML-" + str(time.time_ns()) + "\n"
                 "    date: 2026-03-02\n    payer: medicare\n    patient: {id: P9, birth_date: 1950-01-01, sex: F}\n"
                 "    provider: {npi: '1234567893', discipline: PT}\n    diagnoses: [M62.81]\n"
                 "    services: [{code: '97110', minutes: 30}]\n")
    response = client.post("/api/v1/encounters/import", files={"file": ("visit.yaml", yaml_text.encode())},
                           headers=bearer(org, Role.CLINICIAN))
    assert response.status_code == 201, response.text
    assert [c["state"] for c in response.json()["claims"]] == ["draft"]
    before = _counts(client, org)
    wrong_type = client.post("/api/v1/encounters/import", files={"file": ("visit.docx", b"PK\x03\x04")},
                             headers=bearer(org))
    assert _error(wrong_type, 415)["details"] == {"file": "visit.docx"}
    broken = client.post("/api/v1/encounters/import", files={"file": ("visit.yaml", b"encounters: [\n  {id: ")},
                         headers=bearer(org))
    _error(broken, 422)
    assert _counts(client, org) == before


def test_roles_and_illegal_transitions(client: TestClient, org: Org) -> None:
    claim_id = create_claim(client, org)["claim_id"]
    auditor = client.post(f"/api/v1/claims/{claim_id}/scrub", headers=bearer(org, Role.AUDITOR))
    assert "auditor" in _error(auditor, 403)["message"]
    clinician = client.post(f"/api/v1/claims/{claim_id}/ready", headers=bearer(org, Role.CLINICIAN))
    assert "biller" in _error(clinician, 403)["message"]
    # a clinician codes the encounter; changing what is billed afterwards is the billing office's
    lines = {"lines": [{"code": "97110", "units": 9, "dx_pointers": [1], "charge": "1.00"}]}
    edit = client.put(f"/api/v1/claims/{claim_id}/lines", json=lines, headers=bearer(org, Role.CLINICIAN))
    assert "Editing a claim's lines needs the role admin or biller" in _error(edit, 403)["message"]
    not_scrubbed = client.post(f"/api/v1/claims/{claim_id}/ready", headers=bearer(org))
    assert _error(not_scrubbed, 409)["code"] == "illegal_transition"
    not_ready = client.post("/api/v1/submissions", json={"claim_ids": [claim_id]}, headers=bearer(org))
    assert "cannot be submitted" in _error(not_ready, 409)["message"]
    no_reason = client.post(f"/api/v1/claims/{claim_id}/write-off", json={"reason": ""}, headers=bearer(org))
    _error(no_reason, 422)
    state = client.get(f"/api/v1/claims/{claim_id}", headers=bearer(org)).json()["versions"][0]["state"]
    assert state == "coded"


@pytest.mark.parametrize("where", ["query", "body"])
def test_a_nul_in_any_parameter_or_body_is_a_422_naming_it_on_both_databases(client: TestClient, org: Org,
                                                                            where: str) -> None:
    """PostgreSQL compares and stores no text with a NUL (a claim search with ``q=%00`` and an override reason with
    ``"\\u0000"`` were 500s there; SQLite would have kept the NUL): every query/path parameter and every JSON body
    of the API is refused before the route runs, naming the parameter or field, and nothing is written."""
    create_claim(client, org)  # a claim the search would find, were the query usable
    headers = bearer(org)
    if where == "query":
        error = _error(client.get("/api/v1/claims", params={"q": "Sam\x00ple"}, headers=headers), 422)
        assert "'q'" in error["message"] and "NUL" in error["message"]
        assert client.get("/api/v1/claims", params={"q": "Sample"}, headers=headers).status_code == 200
        return
    reason = client.post("/api/v1/findings/1/override", json={"reason": "payer agreed\x00"}, headers=headers)
    assert reason.status_code == 422 and "reason" in reason.text and "NUL" in reason.text  # before any lookup
    admin = bearer(org, Role.ADMIN)
    before = client.get("/api/v1/payers", headers=admin).json()
    response = client.post("/api/v1/payers", json={"name": "Acme\x00 Health", "payer_id": "ACME1",
                                                   "profile_id": "commercial"}, headers=admin)
    assert response.status_code == 422, response.text
    assert "name" in response.text and "NUL" in response.text
    assert client.get("/api/v1/payers", headers=admin).json() == before
