"""Issue 12's whole billing flow in Debian's headless chromium, every step through the pages: the admin uploads the
practice's charge master; a biller signs in, imports examples/pt-visit-97535.yaml on /encounters and sees the coded
lines with the coder's arithmetic and their charges; scrubs it; tries to submit it and is refused by the 837P writer
because gait training (97116) has no charge master entry; the admin adds it; the biller codes the claim again (the
finding is fixed), scrubs, overrides any error finding with a reason, marks it ready, submits the batch and downloads
its 837P (pyx12 finds nothing wrong); the payer's 835 denies line 1 (CARC 16) and is posted on /remittances (posting
it again changes nothing); the denial is on /denials with the rule that would have caught it; the biller assigns,
notes and resolves it.

A screenshot per step is saved in the test's temp dir (and in ``$CLEANCLAIM_SCREENSHOTS`` when set); the worklist's
is copied to docs/images/denials.png for the README when ``CLEANCLAIM_DOCS_IMAGES=1``."""

from __future__ import annotations

import os
import re
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
from tests.web.money import denial_835, denied
from tests.web.test_browser import live_server

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "pt-visit-97535.yaml"
CHARGE_MASTER = ROOT / "examples" / "practice" / "charge-master.csv"
DOCS_IMAGES = ROOT / "docs" / "images"


@dataclass
class Served:
    base: str
    engine: Engine
    org: Org


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A fresh SQLite workspace with one organisation (its submission settings saved) and two earlier denials for
    other reasons (so the worklist has more than one group and two batches were sent before), on a real port."""
    engine = make_engine(make_url(f"sqlite:///{tmp_path / 'workspace.db'}"))
    migrate(engine)
    org = make_org(engine)
    denied(engine, org, "EARLIER-1", carc="197")
    denied(engine, org, "EARLIER-2", carc="4")
    with live_server(engine) as base:
        yield Served(base, engine, org)
    engine.dispose()


def _state(served: Served, claim_id: int) -> str:
    with session_factory(served.engine)() as session:
        return current_version(Tenant(session, served.org.id), claim_id).state


def test_the_whole_billing_flow_in_chromium(served: Served, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (`make test` does it on a bare machine)")
    from playwright.sync_api import Page, expect, sync_playwright

    base = served.base
    shots = tmp_path / "screenshots"
    shots.mkdir()
    problems: list[str] = []
    without_gait = tmp_path / "charge-master-2026.csv"  # the practice's first file: no 97116 (gait training)
    without_gait.write_text("".join(line for line in CHARGE_MASTER.read_text().splitlines(keepends=True)
                                    if not line.startswith("97116,")))

    def sign_in(page: Page, role: Role, target: str) -> None:
        page.goto(f"{base}{target}")
        assert page.url.startswith(f"{base}/sign-in?next=")
        page.fill("#email", served.org.email(role))
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}{target}")

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=shots / f"{name}.png", full_page=True)

    def lines_of(page: Page) -> list[list[str]]:
        rows = page.locator("section.card", has=page.locator("h2", has_text="Billed lines")).locator("tbody tr")
        return [[cell.strip() for cell in row.locator("td").all_inner_texts()] for row in rows.all()]

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        admin = browser.new_page(viewport={"width": 1280, "height": 900})
        page = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True).new_page()
        for watched in (admin, page):
            watched.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
            watched.on("pageerror", lambda error: problems.append(str(error)))

        # 1. the admin uploads the practice's charge master (this year's file lacks 97116)
        sign_in(admin, Role.ADMIN, "/admin/charge-master")
        admin.set_input_files("#file", without_gait)
        admin.click("#upload-charge-master")
        expect(admin.locator("#charge-master-replaced")).to_contain_text("12 entries (12 added")
        expect(admin.locator("#charge-master")).to_contain_text("97535")
        shot(admin, "01-admin-charge-master")
        admin.click("nav.tabs >> text=Payers")  # the payer the earlier claims were imported with, and its profile
        admin.wait_for_url(f"{base}/admin/payers")
        expect(admin.locator("#payers tbody tr")).to_have_count(1)
        expect(admin.locator("#payers tbody tr select[name=profile_id]")).to_have_value("medicare")
        shot(admin, "01b-admin-payers")
        admin.click("nav.tabs >> text=Charge master")

        # 2. the biller signs in and imports the example encounter; the claim page shows the coded lines
        sign_in(page, Role.BILLER, "/encounters")
        page.set_input_files("#file", EXAMPLE)
        page.click("button:text-is('Import')")
        page.wait_for_url(re.compile(r".*/claims/\d+\?notice=coded$"))
        claim_id = int(page.url.rsplit("/", 1)[1].split("?", 1)[0])
        # 53 timed minutes -> 4 units (8-minute rule): 97535 (23 min) 2 x 48.00, 97116 (12) 1, 97110 (18) 1 x 44.00
        # (each line points at the visit's three diagnoses)
        assert lines_of(page) == [["1", "97535", "GP", "2", "23", "1, 2, 3", "$96.00"],
                                  ["2", "97116", "GP", "1", "12", "1, 2, 3", "no charge"],
                                  ["3", "97110", "GP", "1", "18", "1, 2, 3", "$44.00"]]
        expect(page.locator("ol.arithmetic li").first).to_contain_text("53")
        expect(page.locator("#no-charge")).to_contain_text("lines[2].charge")
        shot(page, "02-coded-lines")

        # 3. scrub: the missing charge is a finding on the page
        page.click("button:text-is('Scrub')")
        page.wait_for_url(f"{base}/claims/{claim_id}?notice=scrubbed")
        findings = page.locator("#findings")
        expect(findings).to_contain_text("a charge on line 2")
        shot(page, "03-scrubbed")

        def override_errors() -> None:
            """Each error finding of the latest scrub overridden with a reason (none as of 2026-12: the example is
            a clean claim; timely filing turns into one after 2027-03-02)."""
            while page.locator("form.override").count():
                page.locator("form.override input[name=reason]").first.fill("Reviewed with the clinician: correct")
                page.locator("form.override button").first.click()
                page.wait_for_url(f"{base}/claims/{claim_id}?notice=overridden")

        override_errors()
        page.click("button:text-is('Mark ready')")
        page.wait_for_url(f"{base}/claims/{claim_id}?notice=ready")

        # 4. submitting it is refused by the 837P writer, naming the line without a charge; nothing is sent
        page.click("nav >> text=Submissions")
        page.wait_for_url(f"{base}/submissions")
        expect(page.locator("#new-batch")).to_contain_text("CLM-0001")
        page.click("#submit-batch")
        expect(page.locator("#batch-error")).to_contain_text("cannot be written as an 837P")
        expect(page.locator("#batch-error")).to_contain_text("lines[2].charge")
        shot(page, "04-submit-refused")
        assert _state(served, claim_id) == ClaimState.READY

        # 5. the admin uploads the full charge master: 97116 is added
        admin.set_input_files("#file", CHARGE_MASTER)
        admin.click("#upload-charge-master")
        expect(admin.locator("#charge-master-replaced")).to_contain_text("1 added, 0 changed, 0 removed")
        shot(admin, "05-admin-charge-master-fixed")

        # 6. the biller codes the claim again (the finding is fixed), scrubs, and marks it ready
        page.goto(f"{base}/claims/{claim_id}")
        page.click("#recode")
        page.wait_for_url(f"{base}/claims/{claim_id}?notice=coded")
        assert [row[-1] for row in lines_of(page)] == ["$96.00", "$46.00", "$44.00"]
        expect(page.locator("#no-charge")).to_have_count(0)
        page.click("button:text-is('Re-scrub')")
        page.wait_for_url(f"{base}/claims/{claim_id}?notice=scrubbed")
        expect(page.locator("#findings")).not_to_contain_text("a charge on line")
        override_errors()
        page.click("button:text-is('Mark ready')")
        page.wait_for_url(f"{base}/claims/{claim_id}?notice=ready")
        expect(page.locator(".summary")).to_contain_text("186.00")
        shot(page, "06-fixed-and-ready")

        # 7. send it as a batch and download its 837P; pyx12 finds nothing wrong with it
        page.click("nav >> text=Submissions")
        page.click("#submit-batch")
        page.wait_for_url("**/submissions/*?created=1")
        expect(page.locator("#batch-claims")).to_contain_text("CLM-0001")
        shot(page, "07-batch")
        assert _state(served, claim_id) == ClaimState.SUBMITTED
        with page.expect_download() as waiting:
            page.click("#download-837p")
        download = waiting.value
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        x12 = saved.read_text()
        # the third batch: the refused attempt took no control number
        assert download.suggested_filename == "cleanclaim-837p-000000003.x12"
        assert "CLM*CLM-0001*186*" in x12 and "SV1*HC:97116:GP*46*UN*1" in x12
        assert pyx12_errors(x12) == []

        # 8. the payer's 835 denies line 1 (CARC 16) and pays the rest; posted once, the second time nothing changes
        era = tmp_path / "payer.835"
        era.write_text(denial_835(served.engine, served.org, claim_id, trace="FLOW-TRN-1", carc="16", deny_line=1))
        page.click("nav >> text=Remittances")
        page.set_input_files("#file", era)
        page.click("#post-835")
        expect(page.locator(".newly-posted")).to_contain_text("1 claim applied")
        expect(page.locator(".remit-claims")).to_contain_text("CO-16")
        shot(page, "08-835-posted")
        assert _state(served, claim_id) == ClaimState.PARTIALLY_PAID
        page.click("nav >> text=Remittances")
        page.set_input_files("#file", era)
        page.click("#post-835")
        expect(page.locator(".already-posted")).to_contain_text("nothing changed")
        shot(page, "09-835-again")

        # 9. the denial is on the worklist with the rule that would have caught it; assign and note it (htmx)
        page.click("nav >> text=Denials")
        page.wait_for_url(f"{base}/denials")
        group = page.locator("#carc-16")
        expect(group).to_contain_text("CLM-0001")
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
        assert page.url == f"{base}/denials"  # swapped in place, no page load
        shot(page, "10-denial-worklist")

        # 10. resolve it: the row says so, and the worklist no longer lists it
        task = group.locator("tbody.task").first
        task.locator("form[action$='/resolve'] input[name=note]").fill("corrected claim sent")
        task.locator("button", has_text="Resolve").click()
        expect(group.locator("tbody.task .status").first).to_contain_text("resolved")
        shot(page, "11-resolved")
        page.reload()
        expect(page.locator("#carc-16")).to_have_count(0)
        expect(page.locator("main")).not_to_contain_text("CLM-0001")
        expect(page.locator("#carc-197")).to_contain_text("EARLIER-1")
        shot(page, "12-worklist-after")
        browser.close()
    keep = os.environ.get("CLEANCLAIM_SCREENSHOTS")
    if keep:
        shutil.copytree(shots, keep, dirs_exist_ok=True)
    if os.environ.get("CLEANCLAIM_DOCS_IMAGES") == "1":  # only when asked: a test run leaves the checkout clean
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shots / "10-denial-worklist.png", DOCS_IMAGES / "denials.png")
    assert problems == []  # no CSP violation, no script error, no missing file
