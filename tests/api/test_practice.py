"""``/api/v1/charge-master`` and ``/api/v1/payers``: read and replace the charge master as JSON or CSV (admins only,
all or nothing, the row named), coding through the API with it, and the organisation's payers (list, add, change)."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from fastapi.testclient import TestClient

from cleanclaim.lifecycle import Role
from tests.api.conftest import bearer, create_claim, encounter_json
from tests.web.conftest import Org

CSV = "code,charge,modifier\n97110,44\n97110,50.00,GP\n97140,45.50\n"


def _put_csv(client: TestClient, org: Org, text: str, role: Role = Role.ADMIN) -> httpx.Response:
    return client.put("/api/v1/charge-master", content=text.encode(),
                      headers={**bearer(org, role), "Content-Type": "text/csv"})


def test_replace_from_csv_read_back_as_json_and_csv(client: TestClient, org: Org) -> None:
    replaced = client.put("/api/v1/charge-master", content=CSV.encode(),
                          headers={**bearer(org, Role.ADMIN), "Content-Type": "text/csv"})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json() == {"entries": 3, "added": ["97110", "97110-GP", "97140"], "changed": [], "removed": [],
                               "unchanged": 0}
    read = client.get("/api/v1/charge-master", headers=bearer(org, Role.ADMIN)).json()["entries"]
    assert [(e["code"], e["modifier"], e["unit_charge"]) for e in read] == [
        ("97110", "", "44.00"), ("97110", "GP", "50.00"), ("97140", "", "45.50")]
    as_csv = client.get("/api/v1/charge-master?format=csv", headers=bearer(org, Role.ADMIN))
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text == "code,charge,modifier\n97110,44.00,\n97110,50.00,GP\n97140,45.50,\n"


def test_replace_from_json_and_a_bad_entry_changes_nothing(client: TestClient, org: Org) -> None:
    headers = bearer(org, Role.ADMIN)
    ok = client.put("/api/v1/charge-master", json={"entries": [{"code": "97110", "unit_charge": "44"},
                                                               {"code": "97530", "unit_charge": 45}]},
                    headers=headers)
    assert ok.status_code == 200, ok.text
    assert ok.json()["added"] == ["97110", "97530"]
    bad = client.put("/api/v1/charge-master", json={"entries": [{"code": "97110", "unit_charge": "46"},
                                                                {"code": "97530", "unit_charge": "-1"}]},
                     headers=headers)
    assert bad.status_code == 422
    error = bad.json()["error"]
    assert error["details"]["row"] == 2 and "zero or more" in error["message"]
    read = client.get("/api/v1/charge-master", headers=headers).json()["entries"]
    assert [(e["code"], e["unit_charge"]) for e in read] == [("97110", "44.00"), ("97530", "45.00")]
    csv_bad = _put_csv(client, org, "97110,44\n97530,4x\n")
    assert csv_bad.status_code == 422
    assert csv_bad.json()["error"]["details"] == {
        "message": "charge '4x' is not an amount", "file": "request body (CSV)", "row": 2, "field": "charge"}
    wrong_type = client.put("/api/v1/charge-master", content=b"97110,44", headers={
        **headers, "Content-Type": "application/xml"})
    assert wrong_type.status_code == 415


@pytest.mark.parametrize("role", [Role.BILLER, Role.CLINICIAN, Role.AUDITOR])
def test_only_an_admin_reads_or_changes_the_charge_master(client: TestClient, org: Org, role: Role) -> None:
    assert client.get("/api/v1/charge-master", headers=bearer(org, role)).status_code == 403
    assert _put_csv(client, org, CSV, role).status_code == 403
    added = client.post("/api/v1/payers", json={"payer_id": "87726", "name": "UHC", "profile_id": "commercial"},
                        headers=bearer(org, role))
    assert added.status_code == 403
    create_claim(client, org)  # its encounter adds a payer, which nobody but an admin may change
    (payer,) = client.get("/api/v1/payers", headers=bearer(org, role)).json()["payers"]
    changed = client.put(f"/api/v1/payers/{payer['id']}", json={**payer, "name": "Renamed"},
                         headers=bearer(org, role))
    assert changed.status_code == 403
    assert client.get("/api/v1/payers", headers=bearer(org, role)).json()["payers"] == [payer]


def test_coding_through_the_api_uses_the_charge_master(client: TestClient, org: Org, other_org: Org) -> None:
    assert _put_csv(client, org, CSV).status_code == 200
    assert _put_csv(client, other_org, "97110,999\n97140,999\n").status_code == 200
    documented = encounter_json(lines=None, services=[{"code": "97110", "minutes": 38},
                                                      {"code": "97140", "minutes": 15}])
    claim_id = client.post("/api/v1/encounters", json=documented, headers=bearer(org)).json()["claims"][0][
        "claim_id"]
    coded = client.post(f"/api/v1/claims/{claim_id}/code", headers=bearer(org))
    assert coded.status_code == 200, coded.text
    version = coded.json()["versions"][0]
    # 53 timed minutes -> 97110 3 units (GP row: 3 x 50.00), 97140 1 unit (45.50); the other organisation's 999s
    # are not this one's
    assert [(line["code"], Decimal(line["units"]), line["charge"], line["charge_given"])
            for line in version["lines"]] == [("97110", 3, "150.00", True), ("97140", 1, "45.50", True)]
    assert version["total_charge"] == "195.50"


def test_payers_list_and_add(client: TestClient, org: Org, other_org: Org) -> None:
    client.post("/api/v1/encounters", json=encounter_json(), headers=bearer(org))  # adds the encounter's payer
    listed = client.get("/api/v1/payers", headers=bearer(org, Role.AUDITOR)).json()
    assert [p["payer_id"] for p in listed["payers"]] == [encounter_json()["payer_id"]]
    assert {"medicare", "commercial"} <= set(listed["profiles"])
    added = client.post("/api/v1/payers", json={"payer_id": "87726", "name": "UHC", "profile_id": "commercial"},
                        headers=bearer(org, Role.ADMIN))
    assert added.status_code == 201, added.text
    assert {k: v for k, v in added.json().items() if k != "id"} == {
        "payer_id": "87726", "name": "UHC", "profile_id": "commercial"}
    again = client.post("/api/v1/payers", json={"payer_id": "87726", "name": "UHC", "profile_id": "commercial"},
                        headers=bearer(org, Role.ADMIN))
    assert again.status_code == 422 and again.json()["error"]["details"]["field"] == "payer_id"
    assert client.get("/api/v1/payers", headers=bearer(other_org)).json()["payers"] == []


def _payer_fields(payer: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in payer.items() if key != "id"}


def test_an_admin_changes_a_payer_and_corrects_an_unbilled_payers_id(client: TestClient, org: Org) -> None:
    admin = bearer(org, Role.ADMIN)
    added = client.post("/api/v1/payers", json={"payer_id": "87762", "name": "UHC", "profile_id": "commercial"},
                        headers=admin).json()
    # a typo in the electronic id, caught before any claim bills the payer: corrected in place
    fixed = client.put(f"/api/v1/payers/{added['id']}", json={
        "payer_id": "87726", "name": "UHC  Community Plan", "profile_id": "Medicaid"}, headers=admin)
    assert fixed.status_code == 200, fixed.text
    assert fixed.json() == {"id": added["id"], "payer_id": "87726", "name": "UHC Community Plan",
                            "profile_id": "medicaid"}
    assert client.get("/api/v1/payers", headers=bearer(org, Role.AUDITOR)).json()["payers"] == [fixed.json()]


def test_a_billed_payers_id_is_refused_with_the_claims_named_and_its_name_still_changes(
        client: TestClient, org: Org) -> None:
    admin = bearer(org, Role.ADMIN)
    claim = create_claim(client, org)
    (payer,) = client.get("/api/v1/payers", headers=admin).json()["payers"]
    refused = client.put(f"/api/v1/payers/{payer['id']}", json={**_payer_fields(payer), "payer_id": "NEWID99"},
                         headers=admin)
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "conflict"
    assert claim["patient_control_number"] in error["message"] and "add the new id as a payer" in error["message"]
    assert client.get("/api/v1/payers", headers=admin).json()["payers"] == [payer]  # nothing changed
    renamed = client.put(f"/api/v1/payers/{payer['id']}", json={**_payer_fields(payer), "name": "Medicare Part B"},
                         headers=admin)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json() == {**payer, "name": "Medicare Part B"}


@pytest.mark.parametrize(("change", "status", "field"), [
    ({"profile_id": "gold-plan"}, 422, "profile_id"),
    ({"name": "   "}, 422, "name"),
    ({"payer_id": "1"}, 422, "payer_id"),
    ({"payer_id": "87726"}, 422, "payer_id"),  # the organisation's other payer has that id
    ({"name": None}, 422, None),  # the body itself is wrong: FastAPI's validation error
])
def test_a_wrong_payer_change_is_a_4xx_naming_the_field_and_changes_nothing(
        client: TestClient, org: Org, change: dict[str, object], status: int, field: str | None) -> None:
    admin = bearer(org, Role.ADMIN)
    client.post("/api/v1/payers", json={"payer_id": "87726", "name": "UHC", "profile_id": "commercial"},
                headers=admin)
    payer = client.post("/api/v1/payers", json={"payer_id": "12345", "name": "Aetna", "profile_id": "commercial"},
                        headers=admin).json()
    before = client.get("/api/v1/payers", headers=admin).json()
    response = client.put(f"/api/v1/payers/{payer['id']}", json={**_payer_fields(payer), **change}, headers=admin)
    assert response.status_code == status, response.text
    if field is not None:
        assert response.json()["error"]["details"]["field"] == field
    assert client.get("/api/v1/payers", headers=admin).json() == before
