"""Two API clients post the same 835 at the same moment: one posts it, the other is told it was already posted;
the claim's payments are recorded once (on SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from cleanclaim.lifecycle import Role
from cleanclaim.store.remittance_file import PaidClaim, PaidLine, remittance_text
from tests.api.conftest import bearer, create_claim
from tests.web.conftest import Org


def _submitted(client: TestClient, org: Org) -> dict[str, Any]:
    headers = bearer(org)
    claim = create_claim(client, org)
    client.post(f"/api/v1/claims/{claim['claim_id']}/scrub", headers=headers)
    for finding in client.get(f"/api/v1/claims/{claim['claim_id']}", headers=headers).json()["current_scrub"][
            "findings"]:
        if finding["severity"] == "error":
            client.post(f"/api/v1/findings/{finding['id']}/override", json={"reason": "ok"}, headers=headers)
    assert client.post(f"/api/v1/claims/{claim['claim_id']}/ready", headers=headers).status_code == 200
    assert client.post("/api/v1/submissions", json={"claim_ids": [claim["claim_id"]]},
                       headers=headers).status_code == 201
    return claim


def test_two_concurrent_posts_of_one_835(app: FastAPI, client: TestClient, org: Org) -> None:
    claim = _submitted(client, org)
    day = dt.date(2026, 3, 2)
    text = remittance_text([PaidClaim(claim["patient_control_number"], "1", "CCN-7", [
        PaidLine("97110", ("GP",), Decimal("90"), Decimal("70"), Decimal(2), day, (("CO", "45", Decimal("20")),)),
        PaidLine("97140", ("GP", "59"), Decimal("45.5"), Decimal("40"), Decimal(1), day,
                 (("CO", "45", Decimal("5.5")),)),
        PaidLine("97535", ("GP", "KX"), Decimal("40"), Decimal("30"), Decimal(1), day,
                 (("CO", "45", Decimal("10")),)),
    ])], trace_number=f"T{time.time_ns()}", payer_identifier="1234567890", payer_name="Medicare",
        payee_name="Harbor PT", payee_npi="1234567893", paid_on=dt.date(2026, 4, 1))
    start = threading.Barrier(2)
    answers: list[Any] = []

    def post() -> None:
        with TestClient(app) as own:
            start.wait()
            answers.append(own.post("/api/v1/remittances", files={"file": ("era.835", text.encode())},
                                    headers=bearer(org)))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [answer.status_code for answer in answers] == [200, 200], [answer.text for answer in answers]
    payments = sorted((answer.json()["payments"][0] for answer in answers), key=lambda p: p["already_posted"])
    assert [p["already_posted"] for p in payments] == [False, True]
    assert payments[0]["posted"] == {claim["patient_control_number"]: "paid"}
    headers = bearer(org, Role.AUDITOR)
    assert client.get("/api/v1/remittances", headers=headers).json()["page"]["total"] == 1
    detail = client.get(f"/api/v1/claims/{claim['claim_id']}", headers=headers).json()
    assert len(detail["remittances"]) == 1
    assert detail["remittances"][0]["paid"] == "140.00"
