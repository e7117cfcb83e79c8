"""Tenant isolation over the app's whole route table: for EVERY page route with an id path parameter, a user
of organisation B gets 404 for organisation A's object, on every method the route has, and the answer shows none of
A's claim numbers.

The routes are read from the app, not listed here, so a route added later is covered automatically. A new id
parameter name must be given an object of organisation A in ``_ids`` below: the test fails naming it until it is
(a route cannot slip through untested).

The mounted ``/api/v1`` routes are walked too but checked by ``tests/api/test_isolation.py``, which derives them the
same way and sends each one a valid JSON body (a form body would be refused with 422 before any lookup).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from starlette.routing import Mount

from cleanclaim.lifecycle import Role
from cleanclaim.store import models as m
from cleanclaim.store.database import session_factory
from tests.web.conftest import Org, sign_in
from tests.web.workspace import Workspace, build

_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?}")
OTHER_VALUES = {"fmt": "837p", "slug": "deleted-code"}
"""Path parameters that are not ids get a valid value, so the id is the only thing that can make the 404."""
FORM = {"reason": "isolation test", "note": "isolation test", "assignee_id": "", "due_date": "2026-05-01",
        "name": "isolation test", "profile_id": "commercial"}


def _ids(engine: Engine, org: Org, ws: Workspace) -> dict[str, int]:
    with session_factory(engine)() as session:
        token = session.scalars(select(m.ApiToken.id).where(m.ApiToken.organisation_id == org.id)).first()
        payer = session.scalars(select(m.Payer.id).where(m.Payer.organisation_id == org.id)).first()
    assert token is not None and payer is not None
    return {"claim_id": ws.flagged, "finding_id": ws.finding, "job_id": ws.job, "batch_id": ws.batch,
            "submission_id": ws.batch, "remittance_id": ws.remittance, "task_id": ws.task,
            "user_id": org.user_id(Role.BILLER), "token_id": token, "payer_row_id": payer}


def _walk(routes: list[Any], prefix: str, api: str) -> list[tuple[str, str, str]]:
    """(api prefix, path, method) of every APIRoute under ``routes``, through included routers (FastAPI keeps them
    as branches with the router and its prefix) and mounted apps."""
    found: list[tuple[str, str, str]] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found += [(api, prefix + route.path, method) for method in sorted(route.methods or ())]
        elif isinstance(route, Mount) and isinstance(route.app, FastAPI):
            found += _walk(list(route.app.routes), "", route.path)
        elif hasattr(route, "original_router") and hasattr(route, "include_context"):
            found += _walk(list(route.original_router.routes), prefix + route.include_context.prefix, api)
    return found


def _routes(app: FastAPI) -> list[tuple[str, str, str]]:
    """(prefix, path, method) of every route with a path parameter: the pages' and the mounted API's."""
    return [(api, path, method) for api, path, method in _walk(list(app.routes), "", "") if "{" in path]


def test_every_id_route_answers_404_for_another_organisations_object(
        app: FastAPI, client: TestClient, engine: Engine, org: Org, other_org: Org) -> None:
    ws = build(engine, org)
    ids = _ids(engine, org, ws)
    csrf = sign_in(client, other_org.email(Role.ADMIN))  # admin: no role check can answer before the lookup
    bearer = {"Authorization": f"Bearer {other_org.tokens[Role.ADMIN]}"}
    checked, problems = [], []
    for prefix, path, method in _routes(app):
        if prefix:  # the API's routes: tests/api/test_isolation.py
            continue
        params = _PARAM.findall(path)
        unknown = [p for p in params if p not in ids and p not in OTHER_VALUES]
        if unknown:
            problems.append(f"{method} {prefix}{path}: give parameter(s) {unknown} an object of organisation A in "
                            "_ids (tests/web/test_isolation.py)")
            continue
        if not any(p in ids for p in params):
            continue
        url = prefix + _PARAM.sub(lambda match: str(ids.get(match.group(1), OTHER_VALUES.get(match.group(1)))),
                                  path)
        headers = bearer if prefix else {}
        if method in ("GET", "HEAD"):
            response = client.request(method, url, headers=headers)
        else:
            response = client.request(method, url, headers=headers, data={"csrf_token": csrf, **FORM})
        checked.append(f"{method} {url}")
        if response.status_code != 404:
            problems.append(f"{method} {url}: {response.status_code}, not 404")
        leaked = [number for number in ws.numbers.values() if number in response.text]
        if leaked:
            problems.append(f"{method} {url}: shows organisation A's claim number(s) {leaked}")
    assert problems == [], "\n".join(problems)
    # the table is read, not trusted: the routes of this slice must be among those checked
    for expected in (f"GET /claims/{ws.flagged}", f"POST /claims/{ws.flagged}/scrub",
                     f"POST /claims/{ws.flagged}/findings/{ws.finding}/override",
                     f"GET /claims/{ws.flagged}/export/837p", f"GET /jobs/{ws.job}",
                     f"POST /admin/payers/{ids['payer_row_id']}"):
        assert expected in checked
    # and organisation A's own user still reaches the same objects (the 404s are isolation, not broken routes)
    with TestClient(app, follow_redirects=False) as own:
        sign_in(own, org.email(Role.ADMIN))
        assert own.get(f"/claims/{ws.flagged}").status_code == 200
        assert own.get(f"/jobs/{ws.job}").status_code == 200


@pytest.mark.parametrize("path", ["/claims/{claim}", "/claims/{claim}/export/fhir"])
def test_an_id_that_does_not_exist_is_the_same_404(client: TestClient, org: Org, path: str) -> None:
    sign_in(client, org.email(Role.BILLER))
    response = client.get(path.format(claim=2_000_000_000))
    assert response.status_code == 404
    assert "no such claim in your organisation" in response.text
