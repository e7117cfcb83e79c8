"""``/api/v1/submission-settings``: any role reads the organisation's 837P envelope, an admin sets it, and the next
batch's 837P carries it with the control-number sequence kept; bad bodies are a 422 naming the field with nothing
written, and another organisation's envelope is never read or changed."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from cleanclaim.lifecycle import Role
from cleanclaim.store import models as m
from cleanclaim.store.database import session_factory
from cleanclaim.store.tenant import Tenant
from tests.api.conftest import bearer
from tests.web import conftest as web_fixtures
from tests.web.conftest import Org
from tests.web.money import ready

URL = "/api/v1/submission-settings"
BODY: dict[str, Any] = {"sender_id": "APISENDER", "receiver_id": "APIRECV", "receiver_name": "Acme Clearinghouse",
                        "submitter_name": "Harbor PT Billing", "submitter_contact": "Sam Admin",
                        "submitter_phone": "2175550199", "usage": "P"}


@pytest.fixture
def bare_org(engine: Engine) -> Org:
    """An organisation whose admin has not set the envelope yet (the API conftest's ``org`` has one)."""
    return web_fixtures.make_org(engine)


def _events(engine: Engine, org: Org) -> list[m.AuditEvent]:
    with session_factory(engine)() as session:
        tenant = Tenant(session, org.id)
        return list(session.scalars(tenant.select(m.AuditEvent, m.AuditEvent.entity == "submission_settings")
                                    .order_by(m.AuditEvent.id)))


def _envelope(x12: str) -> tuple[str, str, str, str, str, str, str]:
    segments = [segment.strip() for segment in x12.split("~")]
    isa = next(s for s in segments if s.startswith("ISA")).split("*")
    gs = next(s for s in segments if s.startswith("GS")).split("*")
    return isa[6].strip(), isa[8].strip(), isa[13], isa[15], gs[2], gs[3], gs[6]


def _submit(client: TestClient, org: Org, claim_ids: list[int]) -> str:
    batch = client.post("/api/v1/submissions", json={"claim_ids": claim_ids}, headers=bearer(org))
    assert batch.status_code == 201, batch.text
    return client.get(batch.json()["x12_url"], headers=bearer(org)).text


def test_an_admin_sets_the_envelope_and_the_next_837p_carries_it(client: TestClient, bare_org: Org,
                                                                   engine: Engine) -> None:
    org = bare_org
    missing = client.get(URL, headers=bearer(org, Role.AUDITOR))
    assert missing.status_code == 404 and "PUT /api/v1/submission-settings" in missing.json()["error"]["message"]
    saved = client.put(URL, json=BODY, headers=bearer(org, Role.ADMIN))
    assert saved.status_code == 200, saved.text
    assert saved.json() == {**BODY, "submitter_email": None, "next_control_number": 1}
    for role in Role:  # every role of the organisation reads it
        read = client.get(URL, headers=bearer(org, role))
        assert read.status_code == 200 and read.json()["sender_id"] == "APISENDER"

    (first,) = ready(engine, org, "API-ENV-1")
    assert _envelope(_submit(client, org, [first])) == ("APISENDER", "APIRECV", "000000001", "P", "APISENDER",
                                                        "APIRECV", "1")
    changed = client.put(URL, json={**BODY, "receiver_id": "NEWRECV", "usage": "T", "submitter_phone": None,
                                    "submitter_email": "billing@example.test"}, headers=bearer(org, Role.ADMIN))
    assert changed.status_code == 200, changed.text
    assert changed.json()["next_control_number"] == 2  # the counter is kept
    assert changed.json()["submitter_phone"] is None
    (second,) = ready(engine, org, "API-ENV-2")
    assert _envelope(_submit(client, org, [second])) == ("APISENDER", "NEWRECV", "000000002", "T", "APISENDER",
                                                         "NEWRECV", "2")
    events = _events(engine, org)
    assert len(events) == 2 and events[1].before is not None and events[1].after is not None
    assert (events[1].before["receiver_id"], events[1].after["receiver_id"]) == ("APIRECV", "NEWRECV")
    assert events[1].user_id == org.user_id(Role.ADMIN)


@pytest.mark.parametrize("role", [Role.BILLER, Role.AUDITOR, Role.CLINICIAN])
def test_only_an_admin_sets_it(client: TestClient, bare_org: Org, engine: Engine, role: Role) -> None:
    refused = client.put(URL, json=BODY, headers=bearer(bare_org, role))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert "admin" in refused.json()["error"]["message"]  # an auditor is refused every change before the route
    assert client.get(URL, headers=bearer(bare_org, role)).status_code == 404
    assert _events(engine, bare_org) == []


@pytest.mark.parametrize(("change", "field"), [
    ({"sender_id": ""}, "sender_id"),
    ({"submitter_contact": "   "}, "submitter_contact"),
    ({"submitter_phone": "", "submitter_email": None}, "submitter_phone"),
    ({"submitter_phone": None}, "submitter_phone"),
    ({"receiver_id": "R" * 16}, "receiver_id"),
    ({"usage": "X"}, "usage"),
    ({"receiver_name": None}, "receiver_name"),
    ({"sender_id": "HARBOR/PT"}, "sender_id"),  # the 837P writer's ISA06 rule
    ({"receiver_id": "A~B"}, "receiver_id"),
    ({"submitter_email": "billing~x@example.test"}, "submitter_email"),  # the writer's separators and ASCII
    ({"receiver_name": "Clearinghouse é"}, "receiver_name"),
])
def test_a_bad_body_is_a_422_naming_the_field_and_nothing_is_written(client: TestClient, bare_org: Org,
                                                                     engine: Engine, change: dict[str, Any],
                                                                     field: str) -> None:
    refused = client.put(URL, json={**BODY, **change}, headers=bearer(bare_org, Role.ADMIN))
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert field in error["message"] or field in str(error["details"])
    assert client.get(URL, headers=bearer(bare_org, Role.ADMIN)).status_code == 404
    assert _events(engine, bare_org) == []


def test_another_organisations_envelope_is_never_read_or_changed(client: TestClient, org: Org, bare_org: Org,
                                                                 engine: Engine) -> None:
    before = client.get(URL, headers=bearer(org, Role.ADMIN)).json()
    assert client.get(URL, headers=bearer(bare_org, Role.ADMIN)).status_code == 404  # not org's envelope
    assert client.put(URL, json=BODY, headers=bearer(bare_org, Role.ADMIN)).status_code == 200
    assert client.get(URL, headers=bearer(org, Role.ADMIN)).json() == before
    assert before["sender_id"] == "HARBORPT" and len(_events(engine, org)) == 1
