"""Tenant isolation of the API: for EVERY route of /api/v1 that takes an object's id (the list is read from the
app's routes, so a route added later is covered or fails this test until it is), organisation B's token gets the
same 404 for organisation A's object as for an id that does not exist, and A's objects are unchanged after B tried
every action on them. Run on SQLite and PostgreSQL (the ``engine`` fixture's two backends)."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from cleanclaim.lifecycle import Role
from cleanclaim.store.remittance_file import PaidClaim, PaidLine, remittance_text
from tests.api.conftest import bearer, create_claim
from tests.web.conftest import Org

# A valid body for each route that takes one, so that B's request is refused for the id, not for its body.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PUT", "/claims/{claim_id}/lines"): {"lines": [{"code": "97110", "units": 1, "dx_pointers": [1],
                                                      "charge": "45.00"}]},
    ("POST", "/findings/{finding_id}/override"): {"reason": "stolen override"},
    ("POST", "/claims/{claim_id}/appeal"): {"note": "x"},
    ("POST", "/claims/{claim_id}/write-off"): {"reason": "x"},
    ("POST", "/denials/{task_id}/assign"): {"assignee_id": None},
    ("POST", "/denials/{task_id}/note"): {"note": "x"},
    ("POST", "/denials/{task_id}/due"): {"due_date": "2030-01-01"},
    ("POST", "/denials/{task_id}/resolve"): {"note": "x"},
    ("PUT", "/payers/{payer_row_id}"): {"payer_id": "99999", "name": "Stolen", "profile_id": "commercial"},
}
# path parameters that name no tenant object
FIXED = {"format": "837p"}
NOT_TENANT_OBJECTS = {"/rules/{slug}"}  # the rule catalogue is the same for every organisation


def api_of(app: FastAPI) -> FastAPI:
    mounted = next(route for route in app.routes if getattr(route, "path", "") == "/api/v1")
    api = mounted.app  # type: ignore[attr-defined]
    assert isinstance(api, FastAPI)
    return api


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every route of the API app, through the routers it includes (FastAPI keeps an included router as one
    entry of ``routes``; the API's routers have no prefix of their own)."""
    found: list[APIRoute] = []
    pending: list[Any] = list(api_of(app).routes)
    while pending:
        route = pending.pop(0)
        included = getattr(route, "original_router", None)
        if included is not None:
            pending.extend(included.routes)
        elif isinstance(route, APIRoute):
            found.append(route)
    return found


def id_routes(app: FastAPI) -> list[tuple[str, str]]:
    routes = sorted((method, route.path) for route in api_routes(app)
                    if "{" in route.path and route.path not in NOT_TENANT_OBJECTS for method in route.methods)
    # the OpenAPI document is made from the same routes: every documented id route is in the list
    documented = {(method.upper(), path) for path, operations in api_of(app).openapi()["paths"].items()
                  for method in operations if "{" in path and path not in NOT_TENANT_OBJECTS}
    assert documented <= set(routes), documented - set(routes)
    return routes


def _wait(client: TestClient, url: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    job: dict[str, Any] = client.get(url, headers=headers).json()
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.1)
        job = client.get(url, headers=headers).json()
    return job


def objects_of(client: TestClient, org: Org) -> dict[str, int]:
    """One object of every kind an id names, made through the API by ``org``'s biller."""
    headers = bearer(org)
    claim = create_claim(client, org)
    claim_id = claim["claim_id"]
    flagged = create_claim(client, org, lines=[{"code": "96150", "units": 1, "dx_pointers": [1], "charge": 60}])
    assert client.post(f"/api/v1/claims/{flagged['claim_id']}/scrub", headers=headers).json()["errors"] >= 1
    finding_id = client.get(f"/api/v1/claims/{flagged['claim_id']}", headers=headers).json()[
        "current_scrub"]["findings"][0]["id"]
    client.post(f"/api/v1/claims/{claim_id}/scrub", headers=headers)
    for finding in client.get(f"/api/v1/claims/{claim_id}", headers=headers).json()["current_scrub"]["findings"]:
        if finding["severity"] == "error":
            client.post(f"/api/v1/findings/{finding['id']}/override", json={"reason": "ok"}, headers=headers)
    assert client.post(f"/api/v1/claims/{claim_id}/ready", headers=headers).status_code == 200
    batch = client.post("/api/v1/submissions", json={"claim_ids": [claim_id]}, headers=headers).json()
    day = dt.date(2026, 3, 2)
    text = remittance_text([PaidClaim(claim["patient_control_number"], "4", "CCN-9", [
        PaidLine("97110", ("GP",), Decimal("90"), Decimal(0), Decimal(2), day, (("CO", "50", Decimal("90")),)),
        PaidLine("97140", ("GP", "59"), Decimal("45.5"), Decimal(0), Decimal(1), day,
                 (("CO", "50", Decimal("45.5")),)),
        PaidLine("97535", ("GP", "KX"), Decimal("40"), Decimal(0), Decimal(1), day, (("CO", "50", Decimal("40")),)),
    ])], trace_number=f"T{time.time_ns()}", payer_identifier="1234567890", payer_name="Medicare",
        payee_name="Harbor PT", payee_npi="1234567893", paid_on=dt.date(2026, 4, 1))
    posted = client.post("/api/v1/remittances", files={"file": ("era.835", text.encode())}, headers=headers)
    assert posted.status_code == 200, posted.text
    remittance_id = client.get("/api/v1/remittances", headers=headers).json()["remittances"][0]["id"]
    task_id = client.get("/api/v1/claims/" + str(claim_id), headers=headers).json()["denial_tasks"][0]["id"]
    job = client.post("/api/v1/claims/scrub", json={"claim_ids": [flagged["claim_id"]]}, headers=headers).json()
    assert _wait(client, job["url"], headers)["state"] == "done"
    encounter_id = client.get("/api/v1/encounters", headers=headers).json()["encounters"][0]["id"]
    payer_row_id = client.get("/api/v1/payers", headers=headers).json()["payers"][0]["id"]
    token_id = client.get("/api/v1/tokens", headers=bearer(org, Role.ADMIN)).json()["tokens"][0]["id"]
    return {"claim_id": claim_id, "encounter_id": encounter_id, "finding_id": finding_id, "batch_id": batch["id"],
            "remittance_id": remittance_id, "task_id": task_id, "job_id": job["job_id"], "payer_row_id": payer_row_id,
            "token_id": token_id, "user_id": org.user_id(Role.CLINICIAN)}


def _url(path: str, ids: dict[str, int]) -> str:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    unknown = [name for name in names if name not in ids and name not in FIXED]
    assert not unknown, f"{path}: add an object for {unknown} to objects_of() so its isolation is tested"
    return "/api/v1" + path.format(**{**FIXED, **ids})


def _snapshot(client: TestClient, org: Org, ids: dict[str, int]) -> list[Any]:
    headers = bearer(org, Role.AUDITOR)
    return [client.get(f"/api/v1/claims/{ids['claim_id']}", headers=headers).json(),
            client.get(f"/api/v1/denials/{ids['task_id']}", headers=headers).json(),
            client.get("/api/v1/claims", headers=headers).json()["total"],
            client.get("/api/v1/payers", headers=headers).json()["payers"],
            [(token["id"], token["revoked_at"]) for token in client.get(  # last_used_at moves with every request
                "/api/v1/tokens", headers=bearer(org, Role.ADMIN)).json()["tokens"]],
            client.get("/api/v1/users", headers=bearer(org, Role.ADMIN)).json()["users"]]


def test_every_id_route_is_a_404_for_another_organisation(client: TestClient, org: Org, other_org: Org) -> None:
    routes = id_routes(client.app)  # type: ignore[arg-type]
    assert len(routes) >= 20  # the resources are all there (a broken route table would pass vacuously)
    ids = objects_of(client, org)
    before = _snapshot(client, org, ids)
    missing = dict.fromkeys(ids, 2 ** 31 - 1)
    intruder = bearer(other_org, Role.ADMIN)
    for method, path in routes:
        body = BODIES.get((method, path))
        if method in ("POST", "PUT") and body is None:
            route = next(r for r in api_routes(client.app)  # type: ignore[arg-type]
                         if r.path == path and method in r.methods)
            assert route.body_field is None, f"{method} {path}: add a valid body to BODIES"
        # the owner reaches the object (so a 404 below is about the organisation, not a wrong url)
        if method == "GET":
            owner = client.request(method, _url(path, ids), headers=bearer(org, Role.AUDITOR))
            assert owner.status_code == 200, (method, path, owner.text)
        theirs = client.request(method, _url(path, ids), json=body, headers=intruder)
        nothing = client.request(method, _url(path, missing), json=body, headers=intruder)
        assert theirs.status_code == 404, (method, path, theirs.status_code, theirs.text)
        assert nothing.status_code == 404, (method, path, nothing.text)
        assert theirs.json()["error"]["code"] == "not_found"
        # the same answer as for an id that does not exist: the id reveals nothing
        assert (theirs.json()["error"]["message"].replace(str(ids.get(_first(path), "")), "ID")
                == nothing.json()["error"]["message"].replace(str(missing.get(_first(path), "")), "ID"))
    assert _snapshot(client, org, ids) == before


def _first(path: str) -> str:
    return next(part[1:-1] for part in path.split("/") if part.startswith("{"))


@pytest.mark.parametrize("listing", ["/claims", "/encounters", "/submissions", "/remittances", "/denials"])
def test_lists_show_only_the_own_organisation(client: TestClient, org: Org, other_org: Org, listing: str) -> None:
    create_claim(client, org)
    response = client.get(f"/api/v1{listing}", headers=bearer(other_org, Role.AUDITOR))
    assert response.status_code == 200
    body = response.json()
    assert body.get("total", body.get("page", {}).get("total", 0)) == 0
    assert not body.get("rows") and not body.get("encounters") and not body.get("groups")


def test_a_batch_naming_another_organisations_claim_is_refused_whole(client: TestClient, org: Org,
                                                                     other_org: Org) -> None:
    mine = create_claim(client, other_org)["claim_id"]
    theirs = create_claim(client, org)["claim_id"]
    response = client.post("/api/v1/claims/scrub", json={"claim_ids": [mine, theirs]},
                           headers=bearer(other_org))
    assert response.status_code == 404
    assert client.get(f"/api/v1/claims/{mine}", headers=bearer(other_org)).json()["versions"][0]["state"] == "coded"
    submit = client.post("/api/v1/submissions", json={"claim_ids": [theirs]}, headers=bearer(other_org))
    assert submit.status_code == 404
