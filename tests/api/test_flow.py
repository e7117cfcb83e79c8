"""The whole claim lifecycle through ``/api/v1`` only, as an integration would drive it: enter an encounter with
documented services, code it, price it, fix the lines, scrub, override, release, submit, download the 837P (valid
for pyx12), post the payer's 835 that denies a line, see the denial on the worklist, work it and resolve it."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

from fastapi.testclient import TestClient

from cleanclaim.lifecycle import Role
from cleanclaim.store.remittance_file import PaidClaim, PaidLine, remittance_text
from tests.api.conftest import bearer, create_claim, encounter_json
from tests.formats.x12.conftest import pyx12_errors
from tests.web.conftest import Org


def test_full_lifecycle(client: TestClient, org: Org) -> None:
    headers = bearer(org)
    documented = encounter_json(lines=None, services=[{"code": "97110", "minutes": 38},
                                                      {"code": "97140", "minutes": 15}])
    created = client.post("/api/v1/encounters", json=documented, headers=bearer(org, Role.CLINICIAN))
    assert created.status_code == 201, created.text
    claim = created.json()["claims"][0]
    assert claim["state"] == "draft"
    claim_id = claim["claim_id"]

    coded = client.post(f"/api/v1/claims/{claim_id}/code", headers=headers)
    assert coded.status_code == 200, coded.text
    lines = coded.json()["versions"][0]["lines"]
    # 38 + 15 = 53 timed minutes: 4 units by the 8-minute rule, 3 of them for the 38 minutes of 97110
    assert [(line["code"], Decimal(line["units"])) for line in lines] == [("97110", 3), ("97140", 1)]
    assert coded.json()["versions"][0]["state"] == "coded"

    priced = client.get(f"/api/v1/claims/{claim_id}/price", headers=headers)
    assert priced.status_code == 200, priced.text
    assert [line["code"] for line in priced.json()["lines"]] == ["97110", "97140"]
    assert isinstance(priced.json()["totals"]["allowed"], str)

    # the coder writes no charges: the biller enters them (a charge master would fill them)
    charged = [{"code": "97110", "modifiers": ["GP"], "units": 3, "dx_pointers": [1], "charge": "135.00"},
               {"code": "97140", "modifiers": ["GP"], "units": 1, "dx_pointers": [1], "charge": "45.50"}]
    edited = client.put(f"/api/v1/claims/{claim_id}/lines", json={"lines": charged}, headers=headers)
    assert edited.status_code == 200, edited.text
    assert edited.json()["versions"][0]["total_charge"] == "180.50"

    scrubbed = client.post(f"/api/v1/claims/{claim_id}/scrub", headers=headers)
    assert scrubbed.status_code == 200, scrubbed.text
    detail = client.get(f"/api/v1/claims/{claim_id}", headers=headers).json()
    findings = detail["current_scrub"]["findings"]
    assert scrubbed.json()["errors"] == sum(1 for f in findings if f["severity"] == "error")
    for finding in findings:
        assert finding["message"] and finding["fix"]
    for finding in [f for f in findings if f["severity"] == "error"]:
        overridden = client.post(f"/api/v1/findings/{finding['id']}/override",
                                 json={"reason": "payer confirmed by phone"}, headers=headers)
        assert overridden.status_code == 200, overridden.text
        assert overridden.json()["override_reason"] == "payer confirmed by phone"

    ready = client.post(f"/api/v1/claims/{claim_id}/ready", headers=headers)
    assert ready.status_code == 200, ready.text
    assert ready.json()["versions"][0]["state"] == "ready"

    batch = client.post("/api/v1/submissions", json={"claim_ids": [claim_id]}, headers=headers)
    assert batch.status_code == 201, batch.text
    assert [c["claim_id"] for c in batch.json()["claims"]] == [claim_id]
    x12 = client.get(batch.json()["x12_url"], headers=headers)
    assert x12.status_code == 200
    assert x12.headers["content-type"].startswith("application/edi-x12")
    assert pyx12_errors(x12.text) == []
    assert f"CLM*{claim['patient_control_number']}*180.5" in x12.text

    # the payer pays 97110 and denies 97140 (CO-50, not medically necessary)
    service_date = dt.date.fromisoformat(documented["date"])
    trace = f"TRN{time.time_ns()}"
    text = remittance_text([PaidClaim(claim["patient_control_number"], "1", "PAYER-CCN-1", [
        PaidLine("97110", ("GP",), Decimal("135.00"), Decimal("100.00"), Decimal(3), service_date,
                 (("CO", "45", Decimal("35.00")),)),
        PaidLine("97140", ("GP",), Decimal("45.50"), Decimal(0), Decimal(1), service_date,
                 (("CO", "50", Decimal("45.50")),)),
    ])], trace_number=trace, payer_identifier="1234567890", payer_name="Medicare", payee_name="Harbor PT",
        payee_npi="1234567893", paid_on=dt.date(2026, 4, 1))
    posted = client.post("/api/v1/remittances", files={"file": ("era.835", text.encode())}, headers=headers)
    assert posted.status_code == 200, posted.text
    payment = posted.json()["payments"][0]
    assert payment["posted"] == {claim["patient_control_number"]: "partially_paid"}
    assert payment["already_posted"] is False

    again = client.post("/api/v1/remittances", files={"file": ("era.835", text.encode())}, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["payments"][0]["already_posted"] is True
    assert again.json()["payments"][0]["posted"] == {}

    groups = client.get("/api/v1/denials", headers=headers).json()["groups"]
    co50 = [g for g in groups if g["carc"] == "50"]
    assert len(co50) == 1
    task = next(item for item in co50[0]["items"] if item["claim_id"] == claim_id)
    assert task["amount"] == "45.50"

    task_url = f"/api/v1/denials/{task['id']}"
    assert client.post(f"{task_url}/assign", json={"assignee_id": org.user_id(Role.BILLER)},
                       headers=headers).json()["assignee_id"] == org.user_id(Role.BILLER)
    assert client.post(f"{task_url}/due", json={"due_date": "2026-04-15"},
                       headers=headers).json()["due_date"] == "2026-04-15"
    # the worklist page's filters: one assignee's, nobody's, due by a date, overdue (2026-04-15 is long past)
    def listed(query: str) -> set[int]:
        answer = client.get(f"/api/v1/denials?{query}", headers=headers)
        assert answer.status_code == 200, answer.text
        return {item["id"] for group in answer.json()["groups"] for item in group["items"]}
    assert task["id"] in listed(f"assignee_id={org.user_id(Role.BILLER)}") & listed("due_by=2026-04-15") & listed(
        "overdue=true")
    assert task["id"] not in listed("unassigned=true") | listed("due_by=2026-04-14") | listed(
        f"assignee_id={org.user_id(Role.ADMIN)}")
    both = client.get(f"/api/v1/denials?unassigned=true&assignee_id={org.user_id(Role.BILLER)}", headers=headers)
    assert both.status_code == 400
    noted = client.post(f"{task_url}/note", json={"note": "asked the clinic for the plan of care"}, headers=headers)
    assert noted.json()["note"].endswith("asked the clinic for the plan of care")
    resolved = client.post(f"{task_url}/resolve", json={"note": "appealed with notes"}, headers=headers)
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["resolved_at"] is not None
    remaining = client.get("/api/v1/denials", headers=headers).json()["groups"]
    assert all(item["id"] != task["id"] for group in remaining for item in group["items"])
    again_resolved = client.post(f"{task_url}/resolve", json={}, headers=headers)
    assert again_resolved.status_code == 409

    appealed = client.post(f"/api/v1/claims/{claim_id}/appeal", json={"note": "medical records sent"},
                           headers=headers)
    assert appealed.status_code == 200, appealed.text
    assert appealed.json()["versions"][0]["state"] == "appealed"
    trail = client.get(f"/api/v1/claims/{claim_id}/audit", headers=headers).json()
    actions = [entry["action"] for entry in trail]
    for action in ("import", "code", "edit_lines", "scrub", "mark_ready", "submit", "appeal"):
        assert action in actions


def test_listing_and_filters(client: TestClient, org: Org) -> None:
    headers = bearer(org, Role.AUDITOR)
    made = [create_claim(client, org) for _ in range(3)]
    page = client.get("/api/v1/claims", params={"limit": 2, "sort": "created"}, headers=headers).json()
    assert page["total"] == 3
    assert [row["claim_id"] for row in page["rows"]] == [made[2]["claim_id"], made[1]["claim_id"]]
    rest = client.get("/api/v1/claims", params={"limit": 2, "sort": "created", "after": page["next_cursor"]},
                      headers=headers).json()
    assert [row["claim_id"] for row in rest["rows"]] == [made[0]["claim_id"]]
    assert rest["next_cursor"] is None
    one = client.get("/api/v1/claims", params={"q": made[1]["patient_control_number"]}, headers=headers).json()
    assert [row["claim_id"] for row in one["rows"]] == [made[1]["claim_id"]]
    assert client.get("/api/v1/claims", params={"state": "paid"}, headers=headers).json()["total"] == 0
    bad = client.get("/api/v1/claims", params={"state": "lost"}, headers=headers)
    assert bad.status_code == 400
    assert "unknown claim state" in bad.json()["error"]["message"]
    assert client.get("/api/v1/claims", params={"after": "garbage"}, headers=headers).status_code == 400
    encounters = client.get("/api/v1/encounters", headers=headers).json()
    assert encounters["page"]["total"] == 3
    first = encounters["encounters"][0]
    assert first["claim_ids"] == [made[2]["claim_id"]]
    detail = client.get(f"/api/v1/encounters/{first['id']}", headers=headers).json()
    assert detail["data"]["claim_id"] == made[2]["patient_control_number"]
    assert client.get("/api/v1/dashboard", headers=headers).status_code == 200


def test_batch_scrub_is_a_job(client: TestClient, org: Org) -> None:
    headers = bearer(org)
    ids = [create_claim(client, org)["claim_id"] for _ in range(3)]
    started = client.post("/api/v1/claims/scrub", json={"claim_ids": ids}, headers=headers)
    assert started.status_code == 202, started.text
    job_url = started.json()["url"]
    deadline = time.monotonic() + 60
    job = client.get(job_url, headers=headers).json()
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.1)
        job = client.get(job_url, headers=headers).json()
    assert job["state"] == "done", job
    assert job["done"] == job["total"] == 3
    for claim_id in ids:
        assert client.get(f"/api/v1/claims/{claim_id}", headers=headers).json()["versions"][0]["state"] == "scrubbed"


def _state(client: TestClient, org: Org, claim_id: int) -> str:
    state: str = client.get(f"/api/v1/claims/{claim_id}", headers=bearer(org)).json()["versions"][0]["state"]
    return state


def test_releasing_several_claims_is_all_or_none(client: TestClient, org: Org, other_org: Org) -> None:
    headers = bearer(org)
    clean, flagged = (create_claim(client, org)["claim_id"] for _ in range(2))
    for claim_id in (clean, flagged):
        assert client.post(f"/api/v1/claims/{claim_id}/scrub", headers=headers).status_code == 200
    errors = {claim_id: [f["id"] for f in client.get(f"/api/v1/claims/{claim_id}", headers=headers).json()[
        "current_scrub"]["findings"] if f["severity"] == "error"] for claim_id in (clean, flagged)}
    for finding_id in errors[clean]:
        client.post(f"/api/v1/findings/{finding_id}/override", json={"reason": "checked"}, headers=headers)
    if not errors[flagged]:  # the encounter scrubs clean: give the second claim an error the scrub reports
        flagged = create_claim(client, org, lines=[{"code": "96150", "units": 1, "dx_pointers": [1],
                                                    "charge": 60}])["claim_id"]
        client.post(f"/api/v1/claims/{flagged}/scrub", headers=headers)
        errors[flagged] = [f["id"] for f in client.get(f"/api/v1/claims/{flagged}", headers=headers).json()[
            "current_scrub"]["findings"] if f["severity"] == "error"]
    assert errors[flagged]
    refused = client.post("/api/v1/claims/ready", json={"claim_ids": [clean, flagged]}, headers=headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "illegal_transition"
    assert _state(client, org, clean) == "scrubbed"  # none released: the clean one neither
    theirs = create_claim(client, other_org)["claim_id"]
    assert client.post("/api/v1/claims/ready", json={"claim_ids": [clean, theirs]}, headers=headers).status_code == 404
    assert client.post("/api/v1/claims/ready", json={"claim_ids": [clean]},
                       headers=bearer(org, Role.CLINICIAN)).status_code == 403
    for finding_id in errors[flagged]:
        client.post(f"/api/v1/findings/{finding_id}/override", json={"reason": "checked"}, headers=headers)
    released = client.post("/api/v1/claims/ready", json={"claim_ids": [clean, flagged, clean]}, headers=headers)
    assert released.status_code == 200, released.text
    assert released.json() == {"claim_ids": [clean, flagged]}
    assert [_state(client, org, claim_id) for claim_id in (clean, flagged)] == ["ready", "ready"]


def test_exports(client: TestClient, org: Org) -> None:
    headers = bearer(org, Role.AUDITOR)
    claim_id = create_claim(client, org)["claim_id"]
    x12 = client.get(f"/api/v1/claims/{claim_id}/export/837p", headers=headers)
    assert x12.status_code == 200, x12.text
    assert pyx12_errors(x12.text) == []
    fhir = client.get(f"/api/v1/claims/{claim_id}/export/fhir", headers=headers)
    assert fhir.status_code == 200
    assert fhir.json()["resourceType"] == "Bundle"
    for fmt in ("cms1500", "superbill"):
        pdf = client.get(f"/api/v1/claims/{claim_id}/export/{fmt}", headers=headers)
        assert pdf.status_code == 200
        assert pdf.content.startswith(b"%PDF")
    assert client.get(f"/api/v1/claims/{claim_id}/export/docx", headers=headers).status_code == 422
