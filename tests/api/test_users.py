"""``/api/v1/users``: an admin lists, creates and deactivates the organisation's users as the Admin page does; a
wrong field is a 422 naming it, a deactivated user's token stops working, and nobody but an admin may do any of it."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from cleanclaim.lifecycle import Role
from tests.api.conftest import bearer
from tests.web.conftest import PASSWORD, Org


def test_an_admin_creates_a_user_and_deactivates_another(client: TestClient, org: Org) -> None:
    admin = bearer(org, Role.ADMIN)
    email = f"new-{uuid.uuid4().hex[:8]}@example.test"
    made = client.post("/api/v1/users", json={"email": email.upper(), "password": PASSWORD, "role": "biller"},
                       headers=admin)
    assert made.status_code == 201, made.text
    assert {k: made.json()[k] for k in ("email", "role", "active")} == {"email": email, "role": "biller",
                                                                        "active": True}
    assert "password" not in made.text and "argon2" not in made.text
    listed = client.get("/api/v1/users", headers=admin).json()["users"]
    assert email in [user["email"] for user in listed] and len(listed) == len(Role) + 1
    clinician = org.user_id(Role.CLINICIAN)
    gone = client.post(f"/api/v1/users/{clinician}/deactivate", headers=admin)
    assert gone.status_code == 200 and gone.json()["active"] is False
    assert client.get("/api/v1/me", headers=bearer(org, Role.CLINICIAN)).status_code == 401  # their token stops
    own = client.post(f"/api/v1/users/{org.user_id(Role.ADMIN)}/deactivate", headers=admin)
    assert own.status_code == 409 and "your own account" in own.json()["error"]["message"]


@pytest.mark.parametrize(("change", "field"), [
    ({"email": "not-an-email"}, "email"),
    ({"role": "owner"}, "role"),
    ({"password": "short"}, "password"),
])
def test_a_user_that_cannot_be_created_is_a_422_naming_the_field(client: TestClient, org: Org,
                                                                 change: dict[str, str], field: str) -> None:
    admin = bearer(org, Role.ADMIN)
    body = {"email": f"x-{uuid.uuid4().hex[:8]}@example.test", "password": PASSWORD, "role": "biller", **change}
    made = client.post("/api/v1/users", json=body, headers=admin)
    assert made.status_code == 422, made.text
    assert made.json()["error"]["details"] == {"field": field}
    assert len(client.get("/api/v1/users", headers=admin).json()["users"]) == len(Role)


def test_an_email_with_an_account_is_refused(client: TestClient, org: Org, other_org: Org) -> None:
    taken = client.post("/api/v1/users", json={"email": other_org.email(Role.BILLER), "password": PASSWORD,
                                               "role": "admin"}, headers=bearer(org, Role.ADMIN))
    assert taken.status_code == 422 and taken.json()["error"]["details"] == {"field": "email"}


@pytest.mark.parametrize("role", [Role.BILLER, Role.CLINICIAN, Role.AUDITOR])
def test_only_an_admin_lists_creates_or_deactivates_users(client: TestClient, org: Org, role: Role) -> None:
    headers = bearer(org, role)
    assert client.get("/api/v1/users", headers=headers).status_code == 403
    made = client.post("/api/v1/users", json={"email": f"y-{uuid.uuid4().hex[:8]}@example.test",
                                              "password": PASSWORD, "role": "admin"}, headers=headers)
    assert made.status_code == 403
    target = org.user_id(Role.BILLER if role is not Role.BILLER else Role.CLINICIAN)
    assert client.post(f"/api/v1/users/{target}/deactivate", headers=headers).status_code == 403
    users = client.get("/api/v1/users", headers=bearer(org, Role.ADMIN)).json()["users"]
    assert len(users) == len(Role) and all(user["active"] for user in users)
