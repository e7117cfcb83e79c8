"""Role checks and tenant isolation on the admin pages (users and tokens are the tenant objects of this slice)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from cleanclaim.lifecycle import Role
from cleanclaim.store.database import session_factory
from cleanclaim.store.models import ApiToken, User
from tests.web.conftest import Org, sign_in


@pytest.mark.parametrize("role", [Role.BILLER, Role.CLINICIAN, Role.AUDITOR])
def test_only_an_admin_sees_the_admin_page(client: TestClient, org: Org, role: Role) -> None:
    sign_in(client, org.email(role))
    response = client.get("/admin")
    assert response.status_code == 403
    assert f"you are signed in as {role.value}" in response.text
    assert 'href="/admin"' not in client.get("/rules").text  # nor its link


def test_admin_sees_the_admin_page(admin_client: tuple[TestClient, str], org: Org) -> None:
    client, _ = admin_client
    response = client.get("/admin")
    assert response.status_code == 200
    for role in Role:
        assert org.email(role) in response.text


def test_auditor_changes_nothing_even_where_a_route_would_let_them(client: TestClient, org: Org) -> None:
    csrf = sign_in(client, org.email(Role.AUDITOR))
    refused = client.post("/admin/tokens", data={"csrf_token": csrf, "name": "x", "user_id": "1"})
    assert refused.status_code == 403
    assert "An auditor reads everything and changes nothing" in refused.text


def test_biller_cannot_create_users(client: TestClient, org: Org, engine: Engine) -> None:
    csrf = sign_in(client, org.email(Role.BILLER))
    response = client.post("/admin/users", data={"csrf_token": csrf, "email": "new@example.test",
                                                  "password": "long enough password", "role": "admin"})
    assert response.status_code == 403
    with session_factory(engine)() as session:
        assert session.scalars(select(User).where(User.email == "new@example.test")).first() is None


def test_another_organisations_user_is_a_404(admin_client: tuple[TestClient, str], other_org: Org,
                                             engine: Engine) -> None:
    client, csrf = admin_client
    victim = other_org.user_id(Role.BILLER)
    response = client.post(f"/admin/users/{victim}/deactivate", data={"csrf_token": csrf})
    assert response.status_code == 404
    assert "no such user in your organisation" in response.text
    token = client.post("/admin/tokens", data={"csrf_token": csrf, "name": "steal", "user_id": str(victim)})
    assert token.status_code == 404
    assert other_org.email(Role.BILLER) not in client.get("/admin").text
    with session_factory(engine)() as session:
        assert session.get(User, victim).active  # type: ignore[union-attr]


def test_another_organisations_token_is_a_404(admin_client: tuple[TestClient, str], other_org: Org,
                                              engine: Engine) -> None:
    client, csrf = admin_client
    with session_factory(engine)() as session:
        theirs = session.scalars(select(ApiToken.id).where(ApiToken.organisation_id == other_org.id)).first()
    response = client.post(f"/admin/tokens/{theirs}/revoke", data={"csrf_token": csrf})
    assert response.status_code == 404
    with TestClient(client.app) as api:
        assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {other_org.tokens[Role.BILLER]}"}
                       ).status_code == 200  # still live


def test_admin_creates_a_user_who_can_sign_in(admin_client: tuple[TestClient, str], org: Org) -> None:
    client, csrf = admin_client
    response = client.post("/admin/users", data={"csrf_token": csrf, "email": " New.Biller@Example.TEST ",
                                                  "password": "a long enough password", "role": "biller"})
    assert response.status_code == 303
    assert "new.biller@example.test" in client.get("/admin?notice=user-created").text
    with TestClient(client.app, follow_redirects=False) as other:
        sign_in(other, "new.biller@example.test", "a long enough password")


def test_admin_form_problems_are_shown_and_nothing_is_written(admin_client: tuple[TestClient, str],
                                                             engine: Engine) -> None:
    client, csrf = admin_client
    short = client.post("/admin/users", data={"csrf_token": csrf, "email": "short@example.test",
                                               "password": "elevenchars", "role": "biller"})
    assert short.status_code == 422
    assert "at least 12 characters (it has 11)" in short.text
    assert 'value="short@example.test"' in short.text
    missing = client.post("/admin/users", data={"csrf_token": csrf, "email": "", "password": "", "role": ""})
    assert missing.status_code == 422
    for field in ("email", "password", "role"):
        assert f"{field} is required" in missing.text
    with session_factory(engine)() as session:
        assert session.scalars(select(User).where(User.email == "short@example.test")).first() is None


def test_token_is_shown_once_and_works_until_revoked(admin_client: tuple[TestClient, str], org: Org,
                                                    engine: Engine) -> None:
    client, csrf = admin_client
    created = client.post("/admin/tokens", data={"csrf_token": csrf, "name": "clearinghouse sync",
                                                 "user_id": str(org.user_id(Role.BILLER))})
    assert created.status_code == 201
    secret = created.text.split('id="new-token">')[1].split("<")[0]
    assert secret.startswith("cc_")
    assert secret not in client.get("/admin").text  # only once
    with session_factory(engine)() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.name == "clearinghouse sync",
                                                     ApiToken.organisation_id == org.id)).one()
        assert row.token_hash != secret and secret not in row.token_hash
    bearer = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/me", headers=bearer).json()["email"] == org.email(Role.BILLER)
    assert client.post(f"/admin/tokens/{row.id}/revoke", data={"csrf_token": csrf}).status_code == 303
    assert client.get("/api/v1/me", headers=bearer).status_code == 401


def test_admin_cannot_deactivate_themselves(admin_client: tuple[TestClient, str], org: Org) -> None:
    client, csrf = admin_client
    response = client.post(f"/admin/users/{org.user_id(Role.ADMIN)}/deactivate", data={"csrf_token": csrf})
    assert response.status_code == 409
