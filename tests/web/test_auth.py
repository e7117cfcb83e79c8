"""Sign-in, sign-out, cookies, CSRF and the sign-in rate limit, through the app as a browser uses it."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from cleanclaim.lifecycle import Role
from cleanclaim.web import create_app
from tests.web.conftest import PASSWORD, Org, csrf_of, sign_in


def _post_sign_in(client: TestClient, email: str, password: str) -> object:
    token = csrf_of(client.get("/sign-in").text)
    return client.post("/sign-in", data={"email": email, "password": password, "csrf_token": token})


def test_sign_in_sets_a_session_cookie_and_opens_the_workspace(client: TestClient, org: Org) -> None:
    token = csrf_of(client.get("/sign-in").text)
    response = client.post("/sign-in", data={"email": org.email(Role.BILLER).upper(), "password": PASSWORD,
                                              "csrf_token": token, "next": "/rules"})
    assert response.status_code == 303
    assert response.headers["location"] == "/rules"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("cc_session="))
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "secure" not in flags  # served over http here; see the https test
    page = client.get("/rules")
    assert page.status_code == 200
    assert org.email(Role.BILLER) in page.text


def test_cookie_is_secure_over_https(app: FastAPI, org: Org) -> None:
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        token = csrf_of(client.get("/sign-in").text)
        response = client.post("/sign-in", data={"email": org.email(Role.ADMIN), "password": PASSWORD,
                                                  "csrf_token": token})
        cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("cc_session="))
        assert "secure" in [part.strip().lower() for part in cookie.split(";")]
        assert response.headers["strict-transport-security"].startswith("max-age=")


def test_wrong_password_and_unknown_email_get_the_same_answer(client: TestClient, org: Org) -> None:
    wrong = _post_sign_in(client, org.email(Role.ADMIN), "not the password at all")
    unknown = _post_sign_in(client, "nobody-here@example.test", "not the password at all")
    for response in (wrong, unknown):
        assert response.status_code == 400  # type: ignore[attr-defined]
        assert "The email or password is not right." in response.text  # type: ignore[attr-defined]
        assert "cc_session" not in response.headers.get("set-cookie", "")  # type: ignore[attr-defined]


def test_deactivated_user_cannot_sign_in(client: TestClient, org: Org) -> None:
    admin_csrf = sign_in(client, org.email(Role.ADMIN))
    assert client.post(f"/admin/users/{org.user_id(Role.BILLER)}/deactivate",
                       data={"csrf_token": admin_csrf}).status_code == 303
    with TestClient(client.app, follow_redirects=False) as other:
        response = _post_sign_in(other, org.email(Role.BILLER), PASSWORD)
        assert response.status_code == 400  # type: ignore[attr-defined]


def test_missing_field_shows_the_form_again_with_422(client: TestClient, org: Org) -> None:
    token = csrf_of(client.get("/sign-in").text)
    response = client.post("/sign-in", data={"email": org.email(Role.ADMIN), "csrf_token": token})
    assert response.status_code == 422
    assert "password is required" in response.text
    assert 'action="/sign-in"' in response.text
    assert f'value="{org.email(Role.ADMIN)}"' in response.text  # what was typed is kept


def test_five_failures_lock_the_email_for_this_client(client: TestClient, org: Org) -> None:
    email = org.email(Role.BILLER)
    for _ in range(5):
        assert _post_sign_in(client, email, "wrong password 123").status_code == 400  # type: ignore[attr-defined]
    locked = _post_sign_in(client, email, PASSWORD)  # even the right password is refused now
    assert locked.status_code == 429  # type: ignore[attr-defined]
    assert "Too many failed sign-ins" in locked.text  # type: ignore[attr-defined]
    assert int(locked.headers["retry-after"]) > 0  # type: ignore[attr-defined]
    # another email from the same client is not locked
    assert _post_sign_in(client, org.email(Role.ADMIN), PASSWORD).status_code == 303  # type: ignore[attr-defined]


def test_four_failures_then_success_resets_the_count(client: TestClient, org: Org) -> None:
    email = org.email(Role.CLINICIAN)
    for _ in range(4):
        _post_sign_in(client, email, "wrong password 123")
    assert _post_sign_in(client, email, PASSWORD).status_code == 303  # type: ignore[attr-defined]
    for _ in range(4):
        assert _post_sign_in(client, email, "wrong password 123").status_code == 400  # type: ignore[attr-defined]


def test_sign_in_without_the_form_token_is_refused(client: TestClient, org: Org) -> None:
    client.get("/sign-in")
    response = client.post("/sign-in", data={"email": org.email(Role.ADMIN), "password": PASSWORD})
    assert response.status_code == 403
    assert "expired or did not come from this site" in response.text


def test_open_redirect_after_sign_in_is_refused(client: TestClient, org: Org) -> None:
    token = csrf_of(client.get("/sign-in").text)
    response = client.post("/sign-in", data={"email": org.email(Role.ADMIN), "password": PASSWORD,
                                              "csrf_token": token, "next": "//evil.example/x"})
    assert response.headers["location"] == "/"


def test_pages_send_a_signed_out_person_to_sign_in(client: TestClient) -> None:
    response = client.get("/rules/deleted-code?x=1")
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=%2Frules%2Fdeleted-code%3Fx%3D1"


def test_sign_out_ends_the_session_on_the_server(client: TestClient, org: Org) -> None:
    csrf = sign_in(client, org.email(Role.AUDITOR))
    old_cookie = client.cookies.get("cc_session")
    assert old_cookie
    assert client.post("/sign-out", data={"csrf_token": csrf}).status_code == 303  # an auditor may sign out
    with TestClient(client.app, follow_redirects=False, cookies={"cc_session": old_cookie}) as replay:
        assert replay.get("/rules").status_code == 303  # the copied cookie no longer works


def test_unsafe_requests_need_the_session_csrf_token(admin_client: tuple[TestClient, str], org: Org) -> None:
    client, csrf = admin_client
    target = f"/admin/users/{org.user_id(Role.CLINICIAN)}/deactivate"
    missing = client.post(target)
    wrong = client.post(target, data={"csrf_token": "not-the-token"})
    for response in (missing, wrong):
        assert response.status_code == 403
        assert "nothing was changed" in response.text
    page = client.get("/admin")
    assert "deactivated" not in page.text.split(org.email(Role.CLINICIAN))[1].split("</tr>")[0]
    # htmx sends the token in a header instead of a field
    assert client.post(target, headers={"X-CSRF-Token": csrf}).status_code == 303


def test_the_limit_holds_across_two_app_processes(engine: Engine, org: Org) -> None:
    """Two apps on one database stand for two uvicorn workers: failures through either count together."""
    email = org.email(Role.AUDITOR)
    with TestClient(create_app(engine), follow_redirects=False) as first, \
            TestClient(create_app(engine), follow_redirects=False) as second:
        for client in (first, first, first, second, second):
            assert _post_sign_in(client, email, "wrong password 123").status_code == 400  # type: ignore[attr-defined]
        for client in (first, second):
            assert _post_sign_in(client, email, PASSWORD).status_code == 429  # type: ignore[attr-defined]
