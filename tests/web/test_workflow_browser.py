"""The money half of the billing workflow in Debian's headless chromium: sign in, send a ready claim (made through
the services) in a batch, download its 837P and validate it with pyx12, upload an 835 that denies a line, find the
denial on the worklist, work it (assign, note) and resolve it. The claim pages (enter an encounter, scrub, fix a
finding) are another slice's; their steps join this flow when they land.

A screenshot per step is saved in the test's temp dir (and in ``$CLEANCLAIM_SCREENSHOTS`` when set); the worklist's
is copied to docs/images/denials.png for the README when ``CLEANCLAIM_DOCS_IMAGES=1``."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from cleanclaim.lifecycle import ClaimState, Role
from cleanclaim.store.claims import current_version
from cleanclaim.store.database import make_engine, migrate, session_factory
from cleanclaim.store.tenant import Tenant
from tests.audit.test_report_browser import CHROMIUM, CHROMIUM_ARGS
from tests.formats.x12.conftest import pyx12_errors
from tests.web.conftest import PASSWORD, Org, make_org
from tests.web.money import denial_835, denied, ready
from tests.web.test_browser import live_server

pytestmark = pytest.mark.browser
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


@dataclass
class Served:
    base: str
    engine: Engine
    org: Org
    claim_id: int


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A fresh SQLite workspace with one organisation, one ready claim and two earlier denials (other reasons, so
    the worklist has more than one group), on a real port."""
    engine = make_engine(make_url(f"sqlite:///{tmp_path / 'workspace.db'}"))
    migrate(engine)
    org = make_org(engine)
    denied(engine, org, "EARLIER-1", carc="197")
    denied(engine, org, "EARLIER-2", carc="4")
    (claim_id,) = ready(engine, org, "FLOW-1")
    with live_server(engine) as base:
        yield Served(base, engine, org, claim_id)
    engine.dispose()


def _state(served: Served) -> str:
    with session_factory(served.engine)() as session:
        return current_version(Tenant(session, served.org.id), served.claim_id).state


def test_submit_download_post_835_and_work_the_denial(served: Served, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (`make test` does it on a bare machine)")
    from playwright.sync_api import expect, sync_playwright

    base = served.base
    shots = tmp_path / "screenshots"
    shots.mkdir()
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))

        # 1. sign in as the biller, straight to the submissions page
        page.goto(f"{base}/submissions")
        assert page.url.startswith(f"{base}/sign-in?next=")
        page.fill("#email", served.org.email(Role.BILLER))
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/submissions")
        expect(page.locator("#new-batch")).to_contain_text("FLOW-1")
        page.screenshot(path=shots / "1-ready-claims.png", full_page=True)

        # 2. send the ready claim as a batch
        page.click("#submit-batch")
        page.wait_for_url("**/submissions/*?created=1")
        expect(page.locator("#batch-claims")).to_contain_text("FLOW-1")
        expect(page.locator("#batch-claims")).to_contain_text("submitted")
        page.screenshot(path=shots / "2-batch.png", full_page=True)
        assert _state(served) == ClaimState.SUBMITTED

        # 3. download its 837P; pyx12 finds nothing wrong with it
        with page.expect_download() as waiting:
            page.click("#download-837p")
        download = waiting.value
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        x12 = saved.read_text()
        assert download.suggested_filename == "cleanclaim-837p-000000003.x12"  # after the two earlier batches
        assert "CLM*FLOW-1*" in x12
        assert pyx12_errors(x12) == []

        # 4. the payer's 835 denies the first line (CARC 16, missing information) and pays the rest
        era = tmp_path / "payer.835"
        era.write_text(denial_835(served.engine, served.org, served.claim_id, trace="FLOW-TRN-1", carc="16",
                                  deny_line=1))
        page.click("nav >> text=Remittances")
        page.wait_for_url(f"{base}/remittances")
        page.set_input_files("#file", era)
        page.click("#post-835")
        expect(page.locator(".newly-posted")).to_contain_text("1 claim applied")
        expect(page.locator(".remit-claims")).to_contain_text("CO-16")
        page.screenshot(path=shots / "3-835-posted.png", full_page=True)
        assert _state(served) == ClaimState.PARTIALLY_PAID

        # the same file again changes nothing
        page.click("nav >> text=Remittances")
        page.set_input_files("#file", era)
        page.click("#post-835")
        expect(page.locator(".already-posted")).to_contain_text("nothing changed")
        page.screenshot(path=shots / "4-835-again.png", full_page=True)

        # 5. the denial is on the worklist with the rule that would have caught it; assign and note it (htmx)
        page.click("nav >> text=Denials")
        page.wait_for_url(f"{base}/denials")
        group = page.locator("#carc-16")
        expect(group).to_contain_text("FLOW-1")
        expect(group.locator("a[href='/rules/missing-required-field']")).to_have_count(1)
        task = group.locator("tbody.task").first
        task.locator("select[name=assignee_id]").select_option(label=served.org.email(Role.BILLER))
        task.locator("button", has_text="Assign").click()
        expect(group.locator("tbody.task td.assignee").first).to_have_text(served.org.email(Role.BILLER))
        task = group.locator("tbody.task").first
        task.locator("button", has_text="Add note").click()  # an empty note: refused (422), shown in the row
        expect(group.locator(".task-problem")).to_contain_text("the note is empty")
        problems[:] = [p for p in problems if "status of 422" not in p]  # the browser logs the refused request
        task = group.locator("tbody.task").first
        task.locator("input[name=note]").first.fill("Payer wants the referring provider; added and corrected")
        task.locator("button", has_text="Add note").click()
        expect(group.locator("pre.note").first).to_contain_text("referring provider")
        expect(group.locator(".task-problem")).to_have_count(0)
        assert page.url == f"{base}/denials"  # swapped in place, no page load
        page.screenshot(path=shots / "5-denial-worklist.png", full_page=True)

        # 6. resolve it: the row says so, and the worklist no longer lists it
        task = group.locator("tbody.task").first
        task.locator("form[action$='/resolve'] input[name=note]").fill("corrected claim sent")
        task.locator("button", has_text="Resolve").click()
        expect(group.locator("tbody.task .status").first).to_contain_text("resolved")
        page.screenshot(path=shots / "6-resolved.png", full_page=True)
        page.reload()
        expect(page.locator("#carc-16")).to_have_count(0)
        expect(page.locator("main")).not_to_contain_text("FLOW-1")
        expect(page.locator("#carc-197")).to_contain_text("EARLIER-1")
        page.screenshot(path=shots / "7-worklist-after.png", full_page=True)

        browser.close()
    keep = os.environ.get("CLEANCLAIM_SCREENSHOTS")
    if keep:
        shutil.copytree(shots, keep, dirs_exist_ok=True)
    if os.environ.get("CLEANCLAIM_DOCS_IMAGES") == "1":  # only when asked: a test run leaves the checkout clean
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shots / "5-denial-worklist.png", DOCS_IMAGES / "denials.png")
    assert problems == []  # no CSP violation, no script error, no missing file
