"""Security headers, caching, upload limits and what an unexpected error shows and logs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from fastapi import UploadFile
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.types import Message

from cleanclaim.lifecycle import Role
from cleanclaim.web import WebSettings, create_app
from cleanclaim.web.context import Context
from tests.web.conftest import Org, sign_in

MEGABYTE = 1024 * 1024


def _assert_security_headers(headers: object) -> None:
    csp = headers["content-security-policy"]  # type: ignore[index]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["x-content-type-options"] == "nosniff"  # type: ignore[index]
    assert headers["x-frame-options"] == "DENY"  # type: ignore[index]
    assert headers["referrer-policy"] == "same-origin"  # type: ignore[index]
    assert headers["x-request-id"]  # type: ignore[index]


@pytest.mark.parametrize("path", ["/sign-in", "/rules", "/no-such-page", "/api/v1/me", "/api/v1/rules/nope"])
def test_every_response_has_the_security_headers_and_is_not_cached(client: TestClient, path: str) -> None:
    response = client.get(path)
    _assert_security_headers(response.headers)
    assert response.headers["cache-control"] == "no-store"


def test_pages_with_data_are_not_cached_but_static_files_are(admin_client: tuple[TestClient, str]) -> None:
    client, _ = admin_client
    assert client.get("/admin").headers["cache-control"] == "no-store"
    static = client.get("/static/htmx.min.js")
    assert static.status_code == 200
    assert static.headers["cache-control"].startswith("public")
    _assert_security_headers(static.headers)


def test_htmx_is_served_from_this_site_with_its_licence(client: TestClient) -> None:
    page = client.get("/sign-in").text
    assert '<script src="/static/htmx.min.js"' in page
    assert "<script>" not in page  # no inline script: the CSP would block it
    assert "Zero-Clause BSD" in client.get("/static/htmx.LICENSE.txt").text


def _body(chunks: int, consumed: list[int]) -> Iterator[bytes]:
    for index in range(chunks):
        consumed.append(index)
        yield b"x" * MEGABYTE


def test_50_mb_upload_with_length_is_refused_before_it_is_read(admin_client: tuple[TestClient, str]) -> None:
    client, csrf = admin_client
    consumed: list[int] = []
    response = client.post("/admin/users", content=_body(50, consumed),
                           headers={"content-length": str(50 * MEGABYTE), "X-CSRF-Token": csrf,
                                    "content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413
    assert "larger than the limit of 20 MB" in response.text
    assert "<html" in response.text  # a page for a page request
    assert len(consumed) <= 1


def test_50_mb_chunked_upload_stops_at_the_limit(engine: Engine, org: Org) -> None:
    """Driven as a server drives the app (ASGI, 1 MB a message, no Content-Length): TestClient would read the whole
    body before calling the app, which would hide whether the app stops reading."""
    app = create_app(engine, settings=WebSettings())

    @app.post("/test-upload")
    async def upload(ctx: Context, file: UploadFile) -> dict[str, int]:  # a multipart file route, as 835 upload
        return {"size": len(await file.read())}

    with TestClient(app, follow_redirects=False) as client:
        csrf = sign_in(client, org.email(Role.BILLER))
        cookie = client.cookies["cc_session"]
        small = client.post("/test-upload", files={"file": ("small.835", b"ISA*00*", "text/plain")},
                            headers={"X-CSRF-Token": csrf})
        assert small.json() == {"size": 7}

    parts = [b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.835"\r\n\r\n',
             *(b"x" * MEGABYTE for _ in range(50)), b"\r\n--b--\r\n"]
    pulled: list[int] = []
    sent: list[Message] = []

    async def receive() -> Message:
        if len(pulled) < len(parts):
            pulled.append(len(parts[len(pulled)]))
            return {"type": "http.request", "body": parts[len(pulled) - 1], "more_body": len(pulled) < len(parts)}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/test-upload", "raw_path": b"/test-upload", "root_path": "", "query_string": b"",
             "server": ("testserver", 80), "client": ("127.0.0.1", 5000),
             "headers": [(b"host", b"testserver"), (b"content-type", b"multipart/form-data; boundary=b"),
                         (b"x-csrf-token", csrf.encode()), (b"cookie", f"cc_session={cookie}".encode())]}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert sum(pulled) <= 21 * MEGABYTE  # stopped at the 20 MB limit; the other 30 MB were never read


def test_api_upload_limit_is_json(client: TestClient, org: Org) -> None:
    response = client.post("/api/v1/rules", content=b"x" * (21 * MEGABYTE),
                           headers={"Authorization": f"Bearer {org.tokens[Role.BILLER]}"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_upload_limit_is_configurable(engine: Engine, org: Org) -> None:
    app = create_app(engine, settings=WebSettings(max_upload_bytes=1000))
    with TestClient(app, follow_redirects=False) as client:
        csrf = sign_in(client, org.email(Role.ADMIN))
        response = client.post("/admin/tokens", data={"csrf_token": csrf, "name": "x" * 2000, "user_id": "1"})
        assert response.status_code == 413
        assert client.post("/admin/tokens", data={"csrf_token": csrf, "name": "", "user_id": ""}).status_code == 422


def test_unexpected_error_is_a_500_page_and_its_text_is_not_logged(
    engine: Engine, org: Org, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(engine, settings=WebSettings())

    @app.get("/explode")
    def explode(ctx: Context) -> None:
        raise RuntimeError("patient Jane Roe, born 1950-01-01")  # what an SQL error could quote

    with TestClient(app, follow_redirects=False) as client:
        sign_in(client, org.email(Role.ADMIN))
        with caplog.at_level(logging.INFO, logger="cleanclaim.web"):
            response = client.get("/explode")
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert request_id in response.text
    assert "Jane" not in response.text
    _assert_security_headers(response.headers)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "RuntimeError" in logged and request_id in logged
    assert "Jane" not in logged and "1950" not in logged


def test_request_log_has_ids_not_query_strings(
    admin_client: tuple[TestClient, str], org: Org, caplog: pytest.LogCaptureFixture
) -> None:
    client, _ = admin_client
    with caplog.at_level(logging.INFO, logger="cleanclaim.web"):
        client.get("/rules?q=Roe%20Jane")
    line = next(r.getMessage() for r in caplog.records if "path=/rules" in r.getMessage())
    assert f"user_id={org.user_id(Role.ADMIN)}" in line
    assert "Roe" not in line and "q=" not in line
