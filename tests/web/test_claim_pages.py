"""The claims list and the claim page: every role reads them, the buttons follow the lifecycle and the role, and
each action changes the claim (or, refused, changes nothing)."""

from __future__ import annotations

import json
import re
import time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from cleanclaim.lifecycle import ClaimState, Role
from cleanclaim.store import models as m
from cleanclaim.store.database import session_factory
from tests.formats.x12.conftest import BASE_ENCOUNTER
from tests.web.conftest import Org, sign_in
from tests.web.workspace import Workspace, build


@pytest.fixture
def ws(engine: Engine, org: Org) -> Workspace:
    return build(engine, org)


def _state(engine: Engine, claim_id: int) -> str:
    with session_factory(engine)() as session:
        return session.scalars(select(m.ClaimVersion.state).where(
            m.ClaimVersion.claim_id == claim_id, m.ClaimVersion.is_current.is_(True))).one()


def _finding(engine: Engine, finding_id: int) -> m.FindingRecord:
    with session_factory(engine)() as session:
        found = session.get(m.FindingRecord, finding_id)
        assert found is not None
        session.expunge(found)
        return found


def test_every_role_reads_the_list_and_the_claim_page(app: FastAPI, org: Org, ws: Workspace) -> None:
    for role in Role:
        with TestClient(app, follow_redirects=False) as client:
            sign_in(client, org.email(role))
            listing = client.get("/claims")
            assert listing.status_code == 200, role
            for number in ws.numbers.values():
                assert number in listing.text
            page = client.get(f"/claims/{ws.flagged}")
            assert page.status_code == 200, role
            assert ws.numbers["flagged"] in page.text
            assert 'href="/rules/deleted-code"' in page.text  # the finding links to its rule page
            # who may override sees the form, nobody else does
            assert ("/override" in page.text) is (role in (Role.ADMIN, Role.BILLER)), role
            assert ('value="mark_ready"' in listing.text) is (role in (Role.ADMIN, Role.BILLER)), role
            assert ('value="scrub"' in listing.text) is (role is not Role.AUDITOR), role


def test_signed_out_visitors_are_sent_to_sign_in(client: TestClient, ws: Workspace) -> None:
    for path in ("/claims", f"/claims/{ws.flagged}", f"/claims/{ws.flagged}/export/837p"):
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/sign-in?next=")


def test_finding_shows_message_fix_and_reference(client: TestClient, org: Org, ws: Workspace, engine: Engine) -> None:
    sign_in(client, org.email(Role.BILLER))
    page = client.get(f"/claims/{ws.flagged}").text
    finding = _finding(engine, ws.finding)
    assert finding.message in page.replace("&#39;", "'").replace("&quot;", '"').replace("&amp;", "&")
    assert "Fix:" in page
    assert finding.rule == "deleted-code"


def test_override_needs_a_reason_then_unblocks_mark_ready(client: TestClient, org: Org, ws: Workspace,
                                                         engine: Engine) -> None:
    csrf = sign_in(client, org.email(Role.BILLER))
    url = f"/claims/{ws.flagged}/findings/{ws.finding}/override"
    refused = client.post(f"/claims/{ws.flagged}/ready", data={"csrf_token": csrf})
    assert refused.status_code == 409  # a standing error finding holds it back
    # said on the claim's own page, above the findings and their override forms (not an error page)
    assert "Not marked ready: " in refused.text and "error finding(s) still stand (" in refused.text
    assert f'action="/claims/{ws.flagged}/findings/{ws.finding}/override"' in refused.text
    assert _state(engine, ws.flagged) == ClaimState.SCRUBBED
    missing = client.post(url, data={"csrf_token": csrf, "reason": "   "})
    assert missing.status_code == 422
    assert "an override needs a reason" in missing.text
    assert _finding(engine, ws.finding).override_reason is None  # nothing written
    done = client.post(url, data={"csrf_token": csrf, "reason": "payer contract 2026 still pays 96150"})
    assert done.status_code == 303
    assert _finding(engine, ws.finding).override_reason == "payer contract 2026 still pays 96150"
    page = client.get(f"/claims/{ws.flagged}").text
    assert "payer contract 2026 still pays 96150" in page
    assert "override" in page.split('id="audit"')[1]  # in the trail
    # every other error finding of the scrub must be overridden too before the claim can go
    with session_factory(engine)() as session:
        run = session.scalars(select(m.FindingRecord.scrub_run_id).where(m.FindingRecord.id == ws.finding)).one()
        others = session.scalars(select(m.FindingRecord.id).where(
            m.FindingRecord.scrub_run_id == run, m.FindingRecord.severity == "error",
            m.FindingRecord.id != ws.finding)).all()
    for other in others:
        assert client.post(f"/claims/{ws.flagged}/findings/{other}/override",
                           data={"csrf_token": csrf, "reason": "reviewed"}).status_code == 303
    assert client.post(f"/claims/{ws.flagged}/ready", data={"csrf_token": csrf}).status_code == 303
    assert _state(engine, ws.flagged) == ClaimState.READY


def test_a_nul_in_a_form_field_is_a_422_not_a_500(client: TestClient, org: Org, ws: Workspace,
                                                  engine: Engine) -> None:
    """PostgreSQL stores no NUL in text: an override reason with one was a 500 there. Every form is checked."""
    csrf = sign_in(client, org.email(Role.BILLER))
    response = client.post(f"/claims/{ws.flagged}/findings/{ws.finding}/override",
                           data={"csrf_token": csrf, "reason": "reviewed\x00 with the clinician"})
    assert response.status_code == 422 and "NUL character" in response.text and "reason" in response.text
    assert _finding(engine, ws.finding).override_reason is None


def test_a_finding_of_another_claim_is_not_overridden_through_this_one(client: TestClient, org: Org,
                                                                       ws: Workspace, engine: Engine) -> None:
    csrf = sign_in(client, org.email(Role.BILLER))
    response = client.post(f"/claims/{ws.coded}/findings/{ws.finding}/override",
                           data={"csrf_token": csrf, "reason": "sneaky"})
    assert response.status_code == 404
    assert _finding(engine, ws.finding).override_reason is None


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.AUDITOR])
def test_who_may_not_override_or_release_is_refused(client: TestClient, org: Org, ws: Workspace, engine: Engine,
                                                    role: Role) -> None:
    csrf = sign_in(client, org.email(role))
    override = client.post(f"/claims/{ws.flagged}/findings/{ws.finding}/override",
                           data={"csrf_token": csrf, "reason": "fine by me"})
    assert override.status_code in (403, 409)
    assert client.post(f"/claims/{ws.flagged}/ready", data={"csrf_token": csrf}).status_code in (403, 409)
    assert _finding(engine, ws.finding).override_reason is None
    assert _state(engine, ws.flagged) == ClaimState.SCRUBBED


def test_lifecycle_buttons_follow_state_and_role(client: TestClient, org: Org, ws: Workspace) -> None:
    sign_in(client, org.email(Role.BILLER))
    denied = client.get(f"/claims/{ws.denied}").text
    for action in ("/correct", "/appeal", "/write-off"):
        assert f'/claims/{ws.denied}{action}"' in denied
    assert f'/claims/{ws.denied}/ready"' not in denied and f'/claims/{ws.denied}/scrub"' not in denied
    coded = client.get(f"/claims/{ws.coded}").text
    assert f'/claims/{ws.coded}/scrub"' in coded
    assert f'/claims/{ws.coded}/correct"' not in coded and f'/claims/{ws.coded}/ready"' not in coded
    with TestClient(client.app, follow_redirects=False) as clinician:
        sign_in(clinician, org.email(Role.CLINICIAN))
        seen = clinician.get(f"/claims/{ws.denied}").text
        assert "/write-off" not in seen and "/correct" not in seen


def test_write_off_needs_a_reason_and_correct_makes_version_2(client: TestClient, org: Org, ws: Workspace,
                                                             engine: Engine) -> None:
    csrf = sign_in(client, org.email(Role.BILLER))
    missing = client.post(f"/claims/{ws.denied}/write-off", data={"csrf_token": csrf, "reason": ""})
    assert missing.status_code == 422
    assert "a write-off needs a reason" in missing.text
    assert _state(engine, ws.denied) == ClaimState.DENIED
    assert client.post(f"/claims/{ws.denied}/correct", data={"csrf_token": csrf}).status_code == 303
    page = client.get(f"/claims/{ws.denied}").text
    assert "version 2 (frequency 7" in page
    assert _state(engine, ws.denied) == ClaimState.CODED
    # the old version is kept, as corrected
    with session_factory(engine)() as session:
        states = session.scalars(select(m.ClaimVersion.state).where(m.ClaimVersion.claim_id == ws.denied)
                                 .order_by(m.ClaimVersion.version)).all()
    assert states == [ClaimState.CORRECTED, ClaimState.CODED]
    # a coded claim cannot be written off: refused with the lifecycle's message
    refused = client.post(f"/claims/{ws.denied}/write-off", data={"csrf_token": csrf, "reason": "old debt"})
    assert refused.status_code == 409


def test_rescrub_stores_a_new_scrub(client: TestClient, org: Org, ws: Workspace, engine: Engine) -> None:
    csrf = sign_in(client, org.email(Role.CLINICIAN))  # a clinician may scrub
    assert client.post(f"/claims/{ws.coded}/scrub", data={"csrf_token": csrf}).status_code == 303
    assert _state(engine, ws.coded) == ClaimState.SCRUBBED
    assert "Findings of the latest scrub" in client.get(f"/claims/{ws.coded}?notice=scrubbed").text


def test_exports_download_in_every_format(client: TestClient, org: Org, ws: Workspace) -> None:
    sign_in(client, org.email(Role.AUDITOR))  # reading: an auditor may download
    x12 = client.get(f"/claims/{ws.coded}/export/837p")
    assert x12.status_code == 200
    assert x12.text.startswith("ISA*")
    assert f"CLM*{ws.numbers['coded']}*" in x12.text
    assert x12.text.split("~", 1)[0].split("*")[15] == "T"  # ISA15 usage T: a review copy, never production
    assert "attachment;" in x12.headers["content-disposition"]
    fhir = client.get(f"/claims/{ws.coded}/export/fhir")
    assert json.loads(fhir.content)["resourceType"] == "Bundle"
    for fmt in ("cms1500", "superbill"):
        pdf = client.get(f"/claims/{ws.coded}/export/{fmt}")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert pdf.headers["content-type"] == "application/pdf"
    assert client.get(f"/claims/{ws.coded}/export/xlsx").status_code == 422


def test_price_estimate_is_on_the_page(client: TestClient, org: Org, ws: Workspace) -> None:
    sign_in(client, org.email(Role.BILLER))
    page = client.get(f"/claims/{ws.coded}").text
    estimate = page.split("Price estimate", 1)[1].split("</section>", 1)[0]
    for line in BASE_ENCOUNTER["lines"]:
        assert line["code"] in estimate
    assert "national amounts" in estimate or "locality" in estimate


def _numbers_listed(html: str) -> set[str]:
    return set(re.findall(r'href="/claims/\d+">([^<]+)</a>', html))


def test_list_filters(client: TestClient, org: Org, ws: Workspace) -> None:
    sign_in(client, org.email(Role.BILLER))
    assert _numbers_listed(client.get("/claims").text) == set(ws.numbers.values())
    assert _numbers_listed(client.get("/claims?state=denied").text) == {ws.numbers["denied"]}
    assert _numbers_listed(client.get("/claims?state=coded&state=scrubbed").text) == {
        ws.numbers["coded"], ws.numbers["flagged"]}
    assert _numbers_listed(client.get("/claims?rule=deleted-code").text) == {ws.numbers["flagged"]}
    assert _numbers_listed(client.get(f"/claims?q={ws.numbers['coded'].lower()}").text) == {ws.numbers["coded"]}
    assert _numbers_listed(client.get("/claims?service_from=2099-01-01").text) == set()
    assert _numbers_listed(client.get("/claims?sort=total_charge&order=asc").text) == set(ws.numbers.values())
    bad_date = client.get("/claims?service_from=03/02/2026")
    assert bad_date.status_code == 422 and "YYYY-MM-DD" in bad_date.text
    bad_state = client.get("/claims?state=lost")
    assert bad_state.status_code == 422 and "unknown claim state" in bad_state.text
    assert client.get("/claims?sort=patient_name").status_code == 422


def test_list_pages(client: TestClient, org: Org, ws: Workspace, engine: Engine,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    from cleanclaim.web.routes import claims as claim_routes

    monkeypatch.setattr(claim_routes, "PAGE_SIZE", 2)
    sign_in(client, org.email(Role.BILLER))
    first = client.get("/claims?sort=created&order=asc")
    second = client.get("/claims?sort=created&order=asc&page=2")
    assert "page 1 of 2" in first.text and "page 2 of 2" in second.text
    assert _numbers_listed(first.text) == {ws.numbers["coded"], ws.numbers["flagged"]}
    assert _numbers_listed(second.text) == {ws.numbers["denied"]}
    assert "page=2" in first.text and "page=2" not in second.text.split('class="pager"')[1].split("Previous")[1]


def test_a_capped_count_reads_as_at_least_and_the_next_page_stays_reachable(
        client: TestClient, org: Org, ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from cleanclaim.store import queries
    from cleanclaim.web.routes import claims as claim_routes

    monkeypatch.setattr(claim_routes, "PAGE_SIZE", 1)
    monkeypatch.setattr(queries, "COUNT_CAP", 2)  # three claims: counted to two, "2+"
    sign_in(client, org.email(Role.BILLER))
    first = client.get("/claims?sort=created&order=asc")
    assert "2+ claims · page 1 of 2+" in first.text
    second = client.get("/claims?sort=created&order=asc&page=2")
    assert "2+ claims · page 2 of 2+" in second.text and "page=3" in second.text  # Next, past the counted pages
    last = client.get("/claims?sort=created&order=asc&page=3")  # counted to the end of this page: exact
    assert "3 claims · page 3 of 3<" in last.text and "page=4" not in last.text
    assert _numbers_listed(first.text) | _numbers_listed(second.text) | _numbers_listed(last.text) == set(
        ws.numbers.values())


def test_bulk_mark_ready_is_all_or_nothing(client: TestClient, org: Org, ws: Workspace, engine: Engine) -> None:
    csrf = sign_in(client, org.email(Role.BILLER))
    response = client.post("/claims/bulk", data={"csrf_token": csrf, "action": "mark_ready",
                                                 "claim_ids": [str(ws.coded), str(ws.flagged)]})
    assert response.status_code == 409
    assert _state(engine, ws.coded) == ClaimState.CODED and _state(engine, ws.flagged) == ClaimState.SCRUBBED
    nothing = client.post("/claims/bulk", data={"csrf_token": csrf, "action": "mark_ready"})
    assert nothing.status_code == 422 and "Choose at least one claim" in nothing.text


def test_bulk_scrub_runs_as_a_job_with_progress(client: TestClient, org: Org, ws: Workspace, engine: Engine) -> None:
    csrf = sign_in(client, org.email(Role.BILLER))
    started = client.post("/claims/bulk", data={"csrf_token": csrf, "action": "scrub",
                                                "claim_ids": [str(ws.coded), str(ws.flagged)]})
    assert started.status_code == 303
    job_url = started.headers["location"]
    assert re.fullmatch(r"/jobs/\d+", job_url)
    page = client.get(job_url)
    assert page.status_code == 200 and "progress" in page.text
    deadline = time.monotonic() + 30
    fragment = ""
    while time.monotonic() < deadline:
        fragment = client.get(job_url, headers={"HX-Request": "true"}).text
        if "hx-trigger" not in fragment:  # polling stops when the job is finished
            break
        time.sleep(0.1)
    assert "<html" not in fragment  # the fragment, not the page
    assert "2 of 2" in fragment and "Finished" in fragment
    assert _state(engine, ws.coded) == ClaimState.SCRUBBED
    with session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(m.ScrubRun).join(
            m.ClaimVersion, m.ClaimVersion.id == m.ScrubRun.claim_version_id).where(
            m.ClaimVersion.claim_id == ws.coded)) == 1


def test_bulk_scrub_of_another_organisations_claim_is_a_404(client: TestClient, other_org: Org, ws: Workspace,
                                                            engine: Engine) -> None:
    csrf = sign_in(client, other_org.email(Role.BILLER))
    response = client.post("/claims/bulk", data={"csrf_token": csrf, "action": "scrub",
                                                 "claim_ids": [str(ws.coded)]})
    assert response.status_code == 404
    assert _state(engine, ws.coded) == ClaimState.CODED


def test_every_form_carries_the_sessions_csrf_token(client: TestClient, org: Org, ws: Workspace) -> None:
    """The forms' own tokens (not the one a test would send): a form without it is refused in a real browser."""
    csrf = sign_in(client, org.email(Role.BILLER))
    for path in ("/claims", f"/claims/{ws.flagged}", f"/claims/{ws.denied}", "/encounters", "/encounters/new"):
        html = client.get(path).text
        forms = re.findall(r"<form[^>]*method=\"post\"[^>]*>(.*?)</form>", html, re.S)
        assert forms, path
        for form in forms:
            assert f'name="csrf_token" value="{csrf}"' in form, path
