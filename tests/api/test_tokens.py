"""``/api/v1/tokens``: an admin lists, makes and revokes the organisation's API tokens as the Admin page does; the
secret is in the answer that makes the token only, a revoked token is refused, and nobody else may touch them."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cleanclaim.lifecycle import Role
from tests.api.conftest import bearer
from tests.web.conftest import Org


def test_an_admin_makes_a_token_that_acts_as_its_user_and_revokes_it(client: TestClient, org: Org) -> None:
    admin = bearer(org, Role.ADMIN)
    biller = org.user_id(Role.BILLER)
    made = client.post("/api/v1/tokens", json={"name": "clearinghouse sync", "user_id": biller}, headers=admin)
    assert made.status_code == 201, made.text
    issued = made.json()
    assert issued["secret"].startswith("cc_") and issued["secret"].startswith(issued["token"]["prefix"])
    assert {k: issued["token"][k] for k in ("name", "user_id", "revoked_at")} == {
        "name": "clearinghouse sync", "user_id": biller, "revoked_at": None}
    new = {"Authorization": f"Bearer {issued['secret']}"}
    assert client.get("/api/v1/me", headers=new).json()["role"] == "biller"  # the token acts as its user
    listed = client.get("/api/v1/tokens", headers=admin).json()["tokens"]
    assert listed[0]["id"] == issued["token"]["id"] and "secret" not in listed[0]  # newest first; never the secret
    assert len(listed) == len(Role) + 1  # the fixture's token per role, and the new one
    revoked = client.post(f"/api/v1/tokens/{issued['token']['id']}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert client.get("/api/v1/me", headers=new).status_code == 401
    again = client.post(f"/api/v1/tokens/{issued['token']['id']}/revoke", headers=admin)
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]  # the first revocation stands


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"name": "   ", "user_id": None}, 422, "name"),  # blank after trimming: the service's refusal, named
    ({"name": "x" * 101, "user_id": None}, 422, None),  # longer than the schema allows
    ({"name": "sync", "user_id": 2 ** 31 - 1}, 404, None),  # no such user in the organisation
])
def test_a_token_that_cannot_be_made_is_a_4xx_and_none_is_made(client: TestClient, org: Org,
                                                               body: dict[str, object], status: int,
                                                               field: str | None) -> None:
    admin = bearer(org, Role.ADMIN)
    before = client.get("/api/v1/tokens", headers=admin).json()
    made = client.post("/api/v1/tokens", json={**body, "user_id": body["user_id"] or org.user_id(Role.BILLER)},
                       headers=admin)
    assert made.status_code == status, made.text
    if field is not None:
        assert made.json()["error"]["details"] == {"field": field}
    after = client.get("/api/v1/tokens", headers=admin).json()
    assert [t["id"] for t in after["tokens"]] == [t["id"] for t in before["tokens"]]


def test_another_organisations_user_gets_no_token(client: TestClient, org: Org, other_org: Org) -> None:
    made = client.post("/api/v1/tokens", json={"name": "steal", "user_id": other_org.user_id(Role.ADMIN)},
                       headers=bearer(org, Role.ADMIN))
    assert made.status_code == 404
    assert made.json()["error"]["message"] == f"user {other_org.user_id(Role.ADMIN)} not found"


@pytest.mark.parametrize("role", [Role.BILLER, Role.CLINICIAN, Role.AUDITOR])
def test_only_an_admin_lists_makes_or_revokes_tokens(client: TestClient, org: Org, role: Role) -> None:
    headers = bearer(org, role)
    assert client.get("/api/v1/tokens", headers=headers).status_code == 403
    made = client.post("/api/v1/tokens", json={"name": "mine", "user_id": org.user_id(role)}, headers=headers)
    assert made.status_code == 403
    token_id = client.get("/api/v1/tokens", headers=bearer(org, Role.ADMIN)).json()["tokens"][0]["id"]
    assert client.post(f"/api/v1/tokens/{token_id}/revoke", headers=headers).status_code == 403
    assert client.get("/api/v1/tokens", headers=bearer(org, Role.ADMIN)).json()["tokens"][0]["revoked_at"] is None


def test_the_token_of_the_request_cannot_revoke_itself(client: TestClient, org: Org) -> None:
    """As an admin cannot deactivate themselves: the request's own token is a 409 and still works; another admin
    token revokes it."""
    admin = bearer(org, Role.ADMIN)
    mine = next(t for t in client.get("/api/v1/tokens", headers=admin).json()["tokens"]
                if t["user_id"] == org.user_id(Role.ADMIN) and t["revoked_at"] is None)
    refused = client.post(f"/api/v1/tokens/{mine['id']}/revoke", headers=admin)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "conflict"
    assert "token of this request" in refused.json()["error"]["message"]
    assert client.get("/api/v1/me", headers=admin).status_code == 200
    other = client.post("/api/v1/tokens", json={"name": "rotation", "user_id": org.user_id(Role.ADMIN)},
                        headers=admin).json()["secret"]
    revoked = client.post(f"/api/v1/tokens/{mine['id']}/revoke", headers={"Authorization": f"Bearer {other}"})
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert client.get("/api/v1/me", headers=admin).status_code == 401
