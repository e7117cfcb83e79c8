"""Fixtures of the API tests: the web tests' app, organisations and clients (imported, not copied), each
organisation with its 837P submission settings, and helpers to drive ``/api/v1`` as a client would."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from cleanclaim.lifecycle import Role
from cleanclaim.store.claims import Actor
from cleanclaim.store.database import session_factory
from cleanclaim.store.submissions import SubmissionSettingsInput, save_submission_settings
from cleanclaim.store.tenant import Tenant
from tests.formats.x12.conftest import BASE_ENCOUNTER
from tests.web import conftest as web_fixtures
from tests.web.conftest import Org

postgres_databases = web_fixtures.postgres_databases
empty_url = web_fixtures.empty_url
engine = web_fixtures.engine
settings = web_fixtures.settings
app = web_fixtures.app
client = web_fixtures.client


def with_settings(engine: Engine, org: Org) -> Org:
    with session_factory(engine)() as session, session.begin():
        tenant = Tenant(session, org.id)
        save_submission_settings(tenant, Actor(org.user_id(Role.ADMIN), Role.ADMIN), SubmissionSettingsInput(
            sender_id="HARBORPT", receiver_id="CLEARHOUSE", receiver_name="Example Clearinghouse",
            submitter_name="Harbor PT Billing", submitter_contact="Jo Biller", submitter_phone="2175550100"))
    return org


@pytest.fixture
def org(engine: Engine) -> Org:
    return with_settings(engine, web_fixtures.make_org(engine))


@pytest.fixture
def other_org(engine: Engine) -> Org:
    return with_settings(engine, web_fixtures.make_org(engine))


def bearer(org: Org, role: Role = Role.BILLER) -> dict[str, str]:
    return {"Authorization": f"Bearer {org.tokens[role]}"}


def encounter_json(claim_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    """The complete PT encounter of the X12 tests (three billed lines with charges) under a fresh claim id."""
    data = copy.deepcopy(BASE_ENCOUNTER)
    claim_id = claim_id or f"CLM-{uuid.uuid4().hex[:10]}"
    data["id"] = f"E-{claim_id}"
    data["claim_id"] = claim_id
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def create_claim(client: TestClient, org: Org, **overrides: Any) -> dict[str, Any]:
    """POST one encounter; the claim it made (id, version, patient control number, state)."""
    response = client.post("/api/v1/encounters", json=encounter_json(**overrides), headers=bearer(org))
    assert response.status_code == 201, response.text
    claims: list[dict[str, Any]] = response.json()["claims"]
    assert len(claims) == 1
    return claims[0]
