"""The workspace in Debian's headless chromium: sign in, search the rule catalogue (htmx swap under the CSP), open
a rule page, create an API token on the Admin page. A screenshot per step is saved in the test's temp dir (and in
``$CLEANCLAIM_SCREENSHOTS`` when set) to be looked at."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from cleanclaim.store.database import make_engine, migrate, session_factory
from cleanclaim.web import WebSettings, create_app
from cleanclaim.web.start import DEMO_ADMIN_EMAIL, first_start
from tests.audit.test_report_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def live_server(engine: Engine) -> Iterator[str]:
    """The app on ``engine`` served by uvicorn on a free port in a thread, for the browser; its base URL."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(engine, settings=WebSettings()), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The app on a fresh SQLite file, first-started like `cleanclaim serve`, on a real port."""
    url = make_url(f"sqlite:///{tmp_path / 'workspace.db'}")
    engine = make_engine(url)
    migrate(engine)
    created = first_start(session_factory(engine), claims=10)
    assert created is not None
    with live_server(engine) as base:
        yield base, created.password
    engine.dispose()


def test_sign_in_rules_and_admin_in_chromium(served: tuple[str, str], tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (`make test` does it on a bare machine)")
    from playwright.sync_api import expect, sync_playwright

    base, password = served
    shots = tmp_path / "screenshots"
    shots.mkdir()
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))

        page.goto(f"{base}/rules")
        assert page.url.startswith(f"{base}/sign-in?next=")
        page.screenshot(path=shots / "1-sign-in.png")

        page.fill("#email", DEMO_ADMIN_EMAIL)
        page.fill("#password", "wrong password!!")
        page.click("button[type=submit]")
        assert "The email or password is not right." in page.content()
        assert all("status of 400" in problem for problem in problems)  # the refused sign-in itself
        problems.clear()
        page.fill("#password", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/rules")

        everything = page.locator("#rule-table tbody tr").count()
        page.fill("#q", "modifier")
        page.wait_for_url("**/rules?q=modifier**")  # hx-push-url: the search is in the address once swapped
        expect(page.locator("#rule-table tbody tr").first).to_contain_text("modifier", ignore_case=True)
        rows = page.locator("#rule-table tbody tr")
        assert 0 < rows.count() < everything
        assert all("modifier" in text.lower() for text in rows.all_inner_texts())
        page.screenshot(path=shots / "2-rules-search.png")

        page.fill("#q", "deleted")
        page.wait_for_url("**/rules?q=deleted**")
        page.click("#rule-table a:text-is('deleted-code')")
        page.wait_for_url(f"{base}/rules/deleted-code")
        assert page.locator("h2", has_text="Why it matters").count() == 1
        page.screenshot(path=shots / "3-rule-page.png", full_page=True)

        page.click("nav >> text=Admin")
        page.fill("#token-name", "clearinghouse sync")
        page.click("text=Create token")
        token = page.locator("#new-token").inner_text()
        assert token.startswith("cc_")
        page.screenshot(path=shots / "4-admin-token.png", full_page=True)

        page.click("text=Sign out")
        page.wait_for_url(f"{base}/sign-in")
        browser.close()
        keep = os.environ.get("CLEANCLAIM_SCREENSHOTS")
        if keep:
            shutil.copytree(shots, keep, dirs_exist_ok=True)
    assert problems == []  # no CSP violation, no script error, no missing file
