"""``/api/v1``: bearer-token auth through the same context, JSON errors, rules, me, the OpenAPI document."""

from __future__ import annotations

from fastapi.testclient import TestClient

from cleanclaim.lifecycle import Role
from cleanclaim.rules import all_rules
from tests.web.conftest import Org, sign_in


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_me_with_a_token(client: TestClient, org: Org) -> None:
    response = client.get("/api/v1/me", headers=_bearer(org.tokens[Role.CLINICIAN]))
    assert response.status_code == 200
    assert response.json() == {"id": org.user_id(Role.CLINICIAN), "email": org.email(Role.CLINICIAN),
                               "role": "clinician", "organisation": {"id": org.id, "name": org.name}}


def test_no_token_wrong_token_and_session_cookie_are_401_json(client: TestClient, org: Org) -> None:
    sign_in(client, org.email(Role.ADMIN))  # the API does not take the browser's cookie
    for headers in ({}, _bearer("cc_not-a-real-token"), _bearer(org.tokens[Role.ADMIN] + "x"),
                    {"Authorization": "Basic YWRtaW46YWRtaW4="}):
        response = client.get("/api/v1/me", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        error = response.json()["error"]
        assert error["code"] == "unauthenticated"
        assert "Authorization: Bearer" in error["message"]
        assert set(error) == {"code", "message", "details"}


def test_deactivated_users_token_stops_working(client: TestClient, org: Org) -> None:
    csrf = sign_in(client, org.email(Role.ADMIN))
    token = org.tokens[Role.BILLER]
    assert client.get("/api/v1/me", headers=_bearer(token)).status_code == 200
    client.post(f"/admin/users/{org.user_id(Role.BILLER)}/deactivate", data={"csrf_token": csrf})
    assert client.get("/api/v1/me", headers=_bearer(token)).status_code == 401


def test_token_use_is_recorded(client: TestClient, org: Org) -> None:
    client.get("/api/v1/me", headers=_bearer(org.tokens[Role.BILLER]))
    csrf = sign_in(client, org.email(Role.ADMIN))
    page = client.get("/admin").text
    row = page.split("biller token")[1].split("</tr>")[0]
    assert "never" not in row
    assert csrf


def test_rules_list_and_one_rule(client: TestClient, org: Org) -> None:
    headers = _bearer(org.tokens[Role.AUDITOR])
    listed = client.get("/api/v1/rules", headers=headers).json()["rules"]
    assert [rule["slug"] for rule in listed] == [rule.slug for rule in all_rules()]
    modifiers = client.get("/api/v1/rules", params={"family": "modifiers"}, headers=headers).json()["rules"]
    assert modifiers and {rule["family"] for rule in modifiers} == {"modifiers"}
    one = client.get("/api/v1/rules/deleted-code", headers=headers).json()
    assert one["id"] == "CC103"
    assert one["message"].startswith("‹code› was deleted on ‹last deleted›")
    assert [s["heading"] for s in one["sections"]][:2] == ["What it checks", "Why it matters"]
    assert "seed-article-96152-for-coaching" in [case["name"] for case in one["cases"]]
    assert client.get("/api/v1/rules/CC103", headers=headers).json()["slug"] == "deleted-code"


def test_unknown_rule_is_a_json_404(client: TestClient, org: Org) -> None:
    response = client.get("/api/v1/rules/no-such-rule", headers=_bearer(org.tokens[Role.BILLER]))
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "not_found", "details": {"slug": "no-such-rule"},
                                        "message": "There is no rule 'no-such-rule'; GET /api/v1/rules lists them."}


def test_unknown_api_path_and_method_are_json(client: TestClient, org: Org) -> None:
    headers = _bearer(org.tokens[Role.BILLER])
    assert client.get("/api/v1/nothing", headers=headers).json()["error"]["code"] == "not_found"
    wrong_method = client.delete("/api/v1/me", headers=headers)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


def test_openapi_document(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    assert {"/me", "/rules", "/rules/{slug}"} <= set(document["paths"])
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert client.get("/openapi.json").json() == document
