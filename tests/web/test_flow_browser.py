"""Issue 12's whole billing flow in Debian's headless chromium, every step through the pages: the admin uploads the
practice's charge master (this year's file lacks gait training, 97116); a biller signs in, imports a PT visit
(tests/web/data/pt-visit-over-kx-filed-late.yaml) on /encounters and sees the coded lines with the coder's arithmetic
and their charges; scrubs it and meets two error findings on each line (no KX over the year's therapy threshold; past
Medicare's filing limit) besides the missing charge, and is refused "Mark ready"; the admin adds 97116 and the biller
codes the claim again (the charge is fixed); the biller FIXES the KX finding on the line editor and re-scrubs, then
OVERRIDES each timely-filing error with its reason (the administrative-error exception) and marks the claim ready;
the overrides are in the claim's audit trail; the biller submits the batch and downloads its 837P (pyx12 finds
nothing wrong); the payer's 835 denies line 1 (CARC 16) and is posted on /remittances (posting it again changes
nothing); the denial is on /denials with the rule that would have caught it; the biller assigns, notes and resolves
it.

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
from cleanclaim.store.queries import claim_audit_trail
from cleanclaim.store.tenant import Tenant
from tests.audit.test_report_browser import CHROMIUM, CHROMIUM_ARGS
from tests.formats.x12.conftest import pyx12_errors
from tests.web.conftest import PASSWORD, Org, make_org
from tests.web.money import denial_835, denied
from tests.web.test_browser import live_server

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
ENCOUNTER = Path(__file__).parent / "data" / "pt-visit-over-kx-filed-late.yaml"
OVERRIDE_REASON = ("Administrative error exception, 42 CFR 424.44(b)(1): the contractor confirmed in writing that the "
                   "claim sent on 2025-10-20 was lost; its letter is on file")
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

    def rules_of(page: Page, severity: str) -> list[str]:
        """The rule slug of each finding of the given severity on the claim page, in page order."""
        found = page.locator("#findings article.finding", has=page.locator(f".sev-{severity}"))
        return [link.split(" ", 1)[1] for link in found.locator("a.mono").all_inner_texts()]

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

        # 2. the biller signs in and imports the encounter; the claim page shows the coded lines
        sign_in(page, Role.BILLER, "/encounters")
        page.set_input_files("#file", ENCOUNTER)
        page.click("button:text-is('Import')")
        page.wait_for_url(re.compile(r".*/claims/\d+\?notice=coded$"))
        claim_id = int(page.url.rsplit("/", 1)[1].split("?", 1)[0])
        # 49 timed minutes -> 3 units (8-minute rule): 97530 (25 min) 2 x 45.00, 97116 (14) 1, 97110 (10) none
        # (each line points at the visit's three diagnoses)
        assert lines_of(page) == [["1", "97530", "GP", "2", "25", "1, 2, 3", "$90.00"],
                                  ["2", "97116", "GP", "1", "14", "1, 2, 3", "no charge"]]
        expect(page.locator("ol.arithmetic li").first).to_contain_text("49")
        expect(page.locator("#no-charge")).to_contain_text("lines[2].charge")
        shot(page, "02-coded-lines")

        # 3. scrub: two error findings on each line (no KX over the 2025 threshold; past Medicare's one-year filing
        # limit) and the missing charge; the claim cannot be marked ready while an error stands
        page.click("button:text-is('Scrub')")
        page.wait_for_url(f"{base}/claims/{claim_id}?notice=scrubbed")
        findings = page.locator("#findings")
        expect(findings).to_contain_text("a charge on line 2")
        assert sorted(rules_of(page, "error")) == ["missing-kx", "missing-kx", "timely-filing", "timely-filing"]
        expect(findings).to_contain_text("over the 2025 KX threshold of $2,410")
        shot(page, "03-scrubbed-with-errors")
        page.click("button:text-is('Mark ready')")  # refused on the claim's page, above the findings to work
        expect(page.locator(".alert.error").first).to_contain_text(
            "Not marked ready: 4 error finding(s) still stand (missing-kx, timely-filing)")
        expect(page.locator("form.override")).to_have_count(4)
        problems[:] = [p for p in problems if "status of 409" not in p]  # the browser logs the refused request
        shot(page, "04-ready-refused")
        assert _state(served, claim_id) == ClaimState.SCRUBBED

        # 4. the admin uploads the full charge master: 97116 is added; the biller codes the claim again (the missing
        # charge is fixed) and scrubs: the errors stand
        admin.set_input_files("#file", CHARGE_MASTER)
        admin.click("#upload-charge-master")
        expect(admin.locator("#charge-master-replaced")).to_contain_text("1 added, 0 changed, 0 removed")
        shot(admin, "05-admin-charge-master-fixed")
        page.goto(f"{base}/claims/{claim_id}")
        page.click("#recode")
        page.wait_for_url(f"{base}/claims/{claim_id}?notice=coded")
        assert [row[-1] for row in lines_of(page)] == ["$90.00", "$46.00"]
        expect(page.locator("#no-charge")).to_have_count(0)
        page.click("button:text-is('Re-scrub')")
        page.wait_for_url(f"{base}/claims/{claim_id}?notice=scrubbed")
        expect(page.locator("#findings")).not_to_contain_text("a charge on line")
        assert sorted(rules_of(page, "error")) == ["missing-kx", "missing-kx", "timely-filing", "timely-filing"]

        # 5. fix the KX finding: the note documents why therapy stays necessary, so both lines get KX (line editor)
        page.click("a:text-is('Edit lines')")
        page.wait_for_url(f"{base}/claims/{claim_id}/lines")
        page.fill("#modifiers_1", "GP KX")
        page.fill("#modifiers_2", "GP KX")
        shot(page, "06-line-editor")
        page.click("button:text-is('Save the lines')")
        page.wait_for_url(f"{base}/claims/{claim_id}?notice=edited")
        assert [row[2] for row in lines_of(page)] == ["GP KX", "GP KX"]
        page.click("button:text-is('Re-scrub')")
        page.wait_for_url(f"{base}/claims/{claim_id}?notice=scrubbed")
        assert rules_of(page, "error") == ["timely-filing", "timely-filing"]  # KX is fixed, by the claim itself
        expect(page.locator("#findings")).not_to_contain_text("has no KX")

        # 6. override the timely-filing errors: the exception (the contractor's written confirmation that the claim
        # sent in time was lost) is outside what any rule sees; an empty reason is refused
        overrides = page.locator("form.override")
        expect(overrides).to_have_count(2)
        overrides.first.locator("button").click()
        expect(page.locator("#findings")).to_contain_text("an override needs a reason")
        problems[:] = [p for p in problems if "status of 422" not in p]
        while page.locator("form.override").count():
            page.locator("form.override input[name=reason]").first.fill(OVERRIDE_REASON)
            page.locator("form.override button").first.click()
            page.wait_for_url(f"{base}/claims/{claim_id}?notice=overridden")
        expect(page.locator("#findings article.overridden")).to_have_count(2)
        expect(page.locator("#findings article.overridden").first).to_contain_text(
            f"Overridden by {served.org.email(Role.BILLER)}")
        shot(page, "07-overridden")
        page.click("button:text-is('Mark ready')")
        page.wait_for_url(f"{base}/claims/{claim_id}?notice=ready")
        expect(page.locator(".summary")).to_contain_text("136.00")
        # the claim's audit trail (on its page) keeps each override: who, and the reason
        trail = page.locator("#audit tbody tr", has_text="override")
        expect(trail).to_have_count(2)
        expect(trail.first).to_contain_text(served.org.email(Role.BILLER))
        expect(trail.first).to_contain_text(OVERRIDE_REASON)
        page.locator("#audit").scroll_into_view_if_needed()
        shot(page, "08-ready-with-audit-trail")
        with session_factory(served.engine)() as session:
            events = claim_audit_trail(Tenant(session, served.org.id), claim_id) or []
        overridden = [e for e in events if e.entity == "finding" and e.action == "override"]
        assert len(overridden) == 2
        assert {e.user_id for e in overridden} == {served.org.user_id(Role.BILLER)}
        assert all(e.after is not None and e.after["override_reason"] == OVERRIDE_REASON and e.before is not None
                   and e.before["override_reason"] is None for e in overridden)

        # 7. send it as a batch and download its 837P (KX on both lines); pyx12 finds nothing wrong with it
        page.click("nav >> text=Submissions")
        page.wait_for_url(f"{base}/submissions")
        expect(page.locator("#new-batch")).to_contain_text("CLM-0002")
        page.click("#submit-batch")
        page.wait_for_url("**/submissions/*?created=1")
        expect(page.locator("#batch-claims")).to_contain_text("CLM-0002")
        shot(page, "09-batch")
        assert _state(served, claim_id) == ClaimState.SUBMITTED
        with page.expect_download() as waiting:
            page.click("#download-837p")
        download = waiting.value
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        x12 = saved.read_text()
        assert download.suggested_filename == "cleanclaim-837p-000000003.x12"  # the two earlier batches, then this
        assert "CLM*CLM-0002*136*" in x12
        assert "SV1*HC:97530:GP:KX*90*UN*2" in x12 and "SV1*HC:97116:GP:KX*46*UN*1" in x12
        assert pyx12_errors(x12) == []

        # 8. the payer's 835 denies line 1 (CARC 16) and pays the rest; posted once, the second time nothing changes
        era = tmp_path / "payer.835"
        era.write_text(denial_835(served.engine, served.org, claim_id, trace="FLOW-TRN-1", carc="16", deny_line=1))
        page.click("nav >> text=Remittances")
        page.set_input_files("#file", era)
        page.click("#post-835")
        expect(page.locator(".newly-posted")).to_contain_text("1 claim applied")
        expect(page.locator(".remit-claims")).to_contain_text("CO-16")
        shot(page, "10-835-posted")
        assert _state(served, claim_id) == ClaimState.PARTIALLY_PAID
        page.click("nav >> text=Remittances")
        page.set_input_files("#file", era)
        page.click("#post-835")
        expect(page.locator(".already-posted")).to_contain_text("nothing changed")
        shot(page, "11-835-again")

        # 9. the denial is on the worklist with the rule that would have caught it; assign and note it (htmx)
        page.click("nav >> text=Denials")
        page.wait_for_url(f"{base}/denials")
        group = page.locator("#carc-16")
        expect(group).to_contain_text("CLM-0002")
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
        shot(page, "12-denial-worklist")

        # 10. resolve it: the row says so, and the worklist no longer lists it
        task = group.locator("tbody.task").first
        task.locator("form[action$='/resolve'] input[name=note]").fill("corrected claim sent")
        task.locator("button", has_text="Resolve").click()
        expect(group.locator("tbody.task .status").first).to_contain_text("resolved")
        shot(page, "13-resolved")
        page.reload()
        expect(page.locator("#carc-16")).to_have_count(0)
        expect(page.locator("main")).not_to_contain_text("CLM-0002")
        expect(page.locator("#carc-197")).to_contain_text("EARLIER-1")
        shot(page, "14-worklist-after")
        browser.close()
    keep = os.environ.get("CLEANCLAIM_SCREENSHOTS")
    if keep:
        shutil.copytree(shots, keep, dirs_exist_ok=True)
    if os.environ.get("CLEANCLAIM_DOCS_IMAGES") == "1":  # only when asked: a test run leaves the checkout clean
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shots / "12-denial-worklist.png", DOCS_IMAGES / "denials.png")
    assert problems == []  # no CSP violation, no script error, no missing file
