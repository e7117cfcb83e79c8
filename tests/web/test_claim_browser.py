"""The claim pages in Debian's headless chromium on the first-started demo workspace: the dashboard's charts, a bulk
scrub whose progress htmx polls until it is finished (under the CSP: no inline script), a claim page and an entered
encounter's coded lines. A screenshot per step is saved in the test's temp dir (and in ``$CLEANCLAIM_SCREENSHOTS``
when set) to be looked at."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cleanclaim.web.start import DEMO_ADMIN_EMAIL
from tests.audit.test_report_browser import CHROMIUM, CHROMIUM_ARGS
from tests.web.test_browser import served

pytestmark = pytest.mark.browser
__all__ = ["served"]  # the fixture, imported to be used here


def test_dashboard_bulk_scrub_claim_and_encounter_in_chromium(served: tuple[str, str], tmp_path: Path) -> None:
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
        page.goto(f"{base}/sign-in")
        page.fill("#email", DEMO_ADMIN_EMAIL)
        page.fill("#password", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/")
        assert page.locator("svg.bars").count() == 4
        page.screenshot(path=shots / "1-dashboard.png", full_page=True)

        page.goto(f"{base}/claims?state=coded&state=scrubbed&state=ready")
        boxes = page.locator("input[name=claim_ids]")
        chosen = min(boxes.count(), 3)
        assert chosen >= 1
        for index in range(chosen):
            boxes.nth(index).check()
        page.click("button[value=scrub]")
        page.wait_for_url("**/jobs/*")
        expect(page.locator(".progress-box")).to_contain_text("Finished", timeout=30_000)  # htmx polled it
        expect(page.locator(".progress-label")).to_contain_text(f"{chosen} of {chosen}")
        page.screenshot(path=shots / "2-scrub-job.png", full_page=True)

        page.click("text=Back to the claims")
        page.locator("table.data tbody a").first.click()
        page.wait_for_url("**/claims/*")
        expect(page.locator("h2", has_text="Findings of the latest scrub")).to_have_count(1)
        page.screenshot(path=shots / "3-claim.png", full_page=True)

        page.goto(f"{base}/encounters/new")
        for field, value in {"#encounter_id": "BROWSER-1", "#date": "2026-03-02", "#patient_ref": "P-BR-1",
                             "#provider_npi": "1987654328", "#diagnoses": "R26.81", "#code_1": "97110",
                             "#minutes_1": "38"}.items():
            page.fill(field, value)
        page.select_option("#discipline", "PT")
        page.click("text=Save and code")
        page.wait_for_url("**/claims/*?notice=coded")
        expect(page.locator("ol.arithmetic li").first).to_be_visible()
        page.screenshot(path=shots / "4-entered-encounter.png", full_page=True)
        browser.close()
        keep = os.environ.get("CLEANCLAIM_SCREENSHOTS")
        if keep:
            shutil.copytree(shots, keep, dirs_exist_ok=True)
    assert problems == []  # no CSP violation, no script error, no missing file
