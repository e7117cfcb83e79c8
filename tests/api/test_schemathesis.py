"""Requests generated from /api/v1's OpenAPI document by schemathesis, with a valid token of a seeded organisation
(claims in every early state, a batch, a posted 835 and its denial task): no request gets a 5xx, and every answer
conforms to the document (a documented status, the documented content type, a body matching the schema).

Bounded (``MAX_EXAMPLES`` per operation, no shrinking deadline) so the whole run stays within a couple of minutes
per backend; it runs on SQLite and on PostgreSQL (the ``engine`` fixture's two backends).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import content_type_conformance, response_schema_conformance, status_code_conformance
from schemathesis.core.failures import Failure, FailureGroup
from sqlalchemy import Engine

from cleanclaim.lifecycle import Role
from tests.api.conftest import bearer
from tests.api.test_isolation import objects_of
from tests.web.conftest import Org

MAX_EXAMPLES = 30
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]

_seeded: dict[int, tuple[FastAPI, Org]] = {}


@pytest.fixture
def seeded(engine: Engine, app: FastAPI, org: Org) -> tuple[FastAPI, Org]:
    """The app with an organisation that has one object of every kind (made once per backend)."""
    key = id(engine)
    if key not in _seeded:
        with TestClient(app) as client:
            objects_of(client, org)
        _seeded[key] = (app, org)
    return _seeded[key]


def test_no_server_errors(seeded: tuple[FastAPI, Org]) -> None:
    """Every operation of the document, ``MAX_EXAMPLES`` generated requests each (hypothesis drives
    schemathesis's strategy per operation; the pytest plugin's parametrisation does not take a fixture that is
    itself parametrised by backend)."""
    app, org = seeded
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    headers = bearer(org, Role.ADMIN)
    failures: list[tuple[Any, ...]] = []
    lost: list[tuple[Any, ...]] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        def run(case: Any) -> None:
            response = case.call(headers=headers)
            if response.status_code == 401:  # the run revoked its own token or user: what follows would prove nothing
                lost.append((case.method, case.formatted_path, case.path_parameters))
            if response.status_code >= 500:
                failures.append((case.method, case.formatted_path, case.path_parameters, case.query,
                                 response.status_code, response.text[:300]))
            try:  # and the answer is what the document says: its status, content type and body schema
                case.validate_response(response, checks=CONFORMANCE)
            except (Failure, FailureGroup) as failure:
                failures.append((case.method, case.formatted_path, str(failure)[:600]))

        run()
    assert operations >= 30
    assert failures == []
    assert lost == [], "generated requests ran without a valid token after these (revoke/deactivate hit the caller)"
