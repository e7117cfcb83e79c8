"""The money pages on SQLite and PostgreSQL: submissions, remittances (835 upload and posting) and the denial
worklist. Roles (an auditor reads, a clinician is refused), bad input (a message on the page, nothing written),
and another organisation's ids (404)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from cleanclaim.lifecycle import ClaimState, Role
from cleanclaim.store import models as m
from cleanclaim.store.claims import current_version
from cleanclaim.store.database import session_factory
from cleanclaim.store.tenant import Tenant
from cleanclaim.web import WebSettings
from tests.formats.x12.conftest import pyx12_errors
from tests.web.conftest import Org, sign_in
from tests.web.money import denial_835, denied, imported, ready, submitted

PAGES = ("/submissions", "/remittances", "/denials")


def _count(engine: Engine, org: Org, model: type[m.TenantOwned]) -> int:
    with session_factory(engine)() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(
            model.organisation_id == org.id)) or 0)


def _state(engine: Engine, org: Org, claim_id: int) -> str:
    with session_factory(engine)() as session:
        return current_version(Tenant(session, org.id), claim_id).state


def _upload(client: TestClient, csrf: str, text: str | bytes, name: str = "era.835") -> object:
    return client.post("/remittances", data={"csrf_token": csrf}, files={"file": (name, text, "text/plain")})


# --- roles ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", [Role.ADMIN, Role.BILLER])
def test_billers_and_admins_see_and_work_the_money_pages(client: TestClient, org: Org, role: Role) -> None:
    sign_in(client, org.email(role))
    pages = {path: client.get(path) for path in PAGES}
    assert {path: r.status_code for path, r in pages.items()} == dict.fromkeys(PAGES, 200)
    assert 'id="new-batch"' in pages["/submissions"].text
    assert 'id="upload"' in pages["/remittances"].text
    assert "No open denial task" in pages["/denials"].text


def test_an_auditor_reads_the_money_pages_without_their_forms(client: TestClient, org: Org, engine: Engine) -> None:
    _claim, task = denied(engine, org, "AUD-1")
    sign_in(client, org.email(Role.AUDITOR))
    pages = {path: client.get(path) for path in PAGES}
    assert {path: r.status_code for path, r in pages.items()} == dict.fromkeys(PAGES, 200)
    assert 'id="new-batch"' not in pages["/submissions"].text
    assert 'id="upload"' not in pages["/remittances"].text
    assert "AUD-1" in pages["/denials"].text and f"/denials/{task}/resolve" not in pages["/denials"].text


def test_a_clinician_is_refused_the_money_pages(client: TestClient, org: Org) -> None:
    sign_in(client, org.email(Role.CLINICIAN))
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 403, path
        assert "you are signed in as clinician" in response.text


def test_an_auditor_changes_nothing(client: TestClient, org: Org, engine: Engine) -> None:
    ids = ready(engine, org, "AUDW-1")
    _claim, task = denied(engine, org, "AUDW-2")
    csrf = sign_in(client, org.email(Role.AUDITOR))
    assert client.post("/submissions", data={"csrf_token": csrf, "claim_id": str(ids[0])}).status_code == 403
    text = denial_835(engine, org, ids[0], trace="T-AUDW")
    assert _upload(client, csrf, text).status_code == 403
    assert client.post(f"/denials/{task}/resolve", data={"csrf_token": csrf}).status_code == 403
    assert _state(engine, org, ids[0]) == ClaimState.READY
    assert _count(engine, org, m.SubmissionBatch) == 1  # AUDW-2's own batch only
    with session_factory(engine)() as session:
        assert session.get(m.DenialTask, task).resolved_at is None  # type: ignore[union-attr]


def test_signed_out_is_sent_to_sign_in(client: TestClient) -> None:
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/sign-in?next=")


# --- submissions ----------------------------------------------------------------------------------------------------

def test_a_batch_from_ready_claims_and_its_837p(client: TestClient, org: Org, engine: Engine) -> None:
    ids = ready(engine, org, "SB-1", "SB-2")
    csrf = sign_in(client, org.email(Role.BILLER))
    listed = client.get("/submissions").text
    assert "SB-1" in listed and "SB-2" in listed
    response = client.post("/submissions", data={"csrf_token": csrf, "claim_id": [str(i) for i in ids]})
    assert response.status_code == 303
    batch_path = response.headers["location"].split("?")[0]
    page = client.get(response.headers["location"])
    assert page.status_code == 200
    assert "2 claims submitted" in page.text and "000000001" in page.text
    assert page.text.count("submitted</span>") == 2
    download = client.get(f"{batch_path}/837p")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/edi-x12")
    assert download.headers["content-disposition"] == 'attachment; filename="cleanclaim-837p-000000001.x12"'
    assert "CLM*SB-1*" in download.text and "CLM*SB-2*" in download.text
    assert pyx12_errors(download.text) == []
    assert {_state(engine, org, i) for i in ids} == {ClaimState.SUBMITTED}
    batches = client.get("/submissions").text
    assert f'href="{batch_path}"' in batches and "No claim is ready to submit" in batches


def test_a_batch_form_without_claims_says_so(client: TestClient, org: Org, engine: Engine) -> None:
    ready(engine, org, "NF-1")
    csrf = sign_in(client, org.email(Role.BILLER))
    response = client.post("/submissions", data={"csrf_token": csrf})
    assert response.status_code == 422
    assert "choose at least one ready claim" in response.text
    response = client.post("/submissions", data={"csrf_token": csrf, "claim_id": "one"})
    assert response.status_code == 422 and "chosen by its number" in response.text
    assert _count(engine, org, m.SubmissionBatch) == 0


def test_the_writers_refusal_names_the_claim_and_writes_nothing(client: TestClient, org: Org,
                                                                 engine: Engine) -> None:
    good = ready(engine, org, "WRG-1")
    bad = ready(engine, org, "WRB-1", subscriber=None)
    csrf = sign_in(client, org.email(Role.BILLER))
    response = client.post("/submissions", data={"csrf_token": csrf, "claim_id": [str(good[0]), str(bad[0])]})
    assert response.status_code == 422
    assert re.search(rf"claim {bad[0]} \(E-WRB-1\): subscriber\.member_id", response.text)
    assert "Nothing was submitted" in response.text
    assert _count(engine, org, m.SubmissionBatch) == 0
    assert {_state(engine, org, i) for i in good + bad} == {ClaimState.READY}


def test_a_claim_that_is_not_ready_is_refused(client: TestClient, org: Org, engine: Engine) -> None:
    coded = imported(engine, org, "NR-1")
    csrf = sign_in(client, org.email(Role.BILLER))
    response = client.post("/submissions", data={"csrf_token": csrf, "claim_id": str(coded)})
    assert response.status_code == 422
    assert re.search(r"claim \d+: a (coded|draft) claim cannot be moved by &#39;submit&#39;", response.text)
    assert _count(engine, org, m.SubmissionBatch) == 0


# --- remittances ----------------------------------------------------------------------------------------------------

def test_an_835_that_denies_a_line_is_posted_once(client: TestClient, org: Org, engine: Engine) -> None:
    (claim_id,) = submitted(engine, org, "RM-1")
    text = denial_835(engine, org, claim_id, trace="T-RM-1", deny_line=1)
    csrf = sign_in(client, org.email(Role.BILLER))
    response = _upload(client, csrf, text)
    assert response.status_code == 200, response.text
    assert "newly-posted" in response.text and "1 claim applied" in response.text
    assert "1 denial task opened" in response.text and "CO-197" in response.text
    assert _state(engine, org, claim_id) == ClaimState.PARTIALLY_PAID
    counts = (_count(engine, org, m.Remittance), _count(engine, org, m.RemittanceAdjustment),
              _count(engine, org, m.DenialTask), _count(engine, org, m.AuditEvent))
    again = _upload(client, csrf, text)
    assert again.status_code == 200
    assert "already posted" in again.text and "nothing changed" in again.text and "newly-posted" not in again.text
    assert (_count(engine, org, m.Remittance), _count(engine, org, m.RemittanceAdjustment),
            _count(engine, org, m.DenialTask), _count(engine, org, m.AuditEvent)) == counts
    listed = client.get("/remittances").text
    assert "T-RM-1" in listed
    remittance_id = re.search(r'href="/remittances/(\d+)"', listed).group(1)  # type: ignore[union-attr]
    detail = client.get(f"/remittances/{remittance_id}")
    assert detail.status_code == 200 and "RM-1" in detail.text and "1 of 1 claims applied" in detail.text


def test_an_835_for_unknown_claims_lists_them_unmatched(client: TestClient, org: Org, engine: Engine) -> None:
    (claim_id,) = submitted(engine, org, "UK-1")
    text = denial_835(engine, org, claim_id, trace="T-UK-1").replace("CLP*UK-1*", "CLP*NOBODY-9*")
    csrf = sign_in(client, org.email(Role.BILLER))
    response = _upload(client, csrf, text)
    assert response.status_code == 200
    assert "NOBODY-9" in response.text and "unmatched" in response.text and "0 claims applied" in response.text
    reason = re.search(r'class="fine unmatched-reason">([^<]+)<', response.text)
    assert reason is not None
    assert reason.group(1) == "no submitted claim has the patient control number &#39;NOBODY-9&#39;: not posted"
    assert _state(engine, org, claim_id) == ClaimState.SUBMITTED  # nothing invented
    assert _count(engine, org, m.DenialTask) == 0
    with session_factory(engine)() as session:
        rows = session.scalars(select(m.RemittanceClaim).where(m.RemittanceClaim.organisation_id == org.id)).all()
        assert [(r.patient_control_number, r.claim_version_id) for r in rows] == [("NOBODY-9", None)]
    # the reason is still on the payment's page later
    remittance_id = rows[0].remittance_id
    assert reason is not None and reason.group(1) in client.get(f"/remittances/{remittance_id}").text


@pytest.mark.parametrize(("content", "expected"), [
    (b"/etc/passwd", "is not an X12 file"),
    (b"", "the file is empty"),
    (b"\xff\xfe\x00binary", "is not a text file"),
    (b"ISA*00*broken~", "no payment could be read"),  # the API's message too: one check for both
])
def test_a_file_that_is_not_an_835_is_refused_and_nothing_is_written(client: TestClient, org: Org, engine: Engine,
                                                                      content: bytes, expected: str) -> None:
    csrf = sign_in(client, org.email(Role.BILLER))
    response = _upload(client, csrf, content, name="upload.txt")
    assert response.status_code == 422
    assert expected in response.text and "upload.txt" in response.text and "Nothing was posted" in response.text
    assert _count(engine, org, m.Remittance) == 0


def test_an_837_uploaded_as_an_835_is_refused(client: TestClient, org: Org, engine: Engine) -> None:
    submitted(engine, org, "X7-1")
    with session_factory(engine)() as session:
        x12 = session.scalars(select(m.SubmissionBatch.x12).where(m.SubmissionBatch.organisation_id == org.id)).one()
    csrf = sign_in(client, org.email(Role.BILLER))
    response = _upload(client, csrf, x12, name="claims.837")
    assert response.status_code == 422
    assert "transaction 837 is not an 835" in response.text
    assert _count(engine, org, m.Remittance) == 0


def test_an_upload_without_a_file_says_so(client: TestClient, org: Org) -> None:
    csrf = sign_in(client, org.email(Role.BILLER))
    response = client.post("/remittances", data={"csrf_token": csrf})
    assert response.status_code == 422 and "choose the 835 file to upload" in response.text


@pytest.fixture
def settings() -> WebSettings:
    """This module's app refuses bodies over 64 KB (every 835 here is a few hundred bytes), so the size limit is
    tested without sending 20 MB."""
    return WebSettings(max_upload_bytes=64 * 1024)


def test_an_upload_over_the_limit_is_refused(client: TestClient, org: Org, engine: Engine) -> None:
    csrf = sign_in(client, org.email(Role.BILLER))
    response = _upload(client, csrf, b"ISA" + b"*" * (200 * 1024))
    assert response.status_code == 413 and "larger than the limit" in response.text
    assert _count(engine, org, m.Remittance) == 0


# --- the denial worklist ---------------------------------------------------------------------------------------------

def test_the_worklist_groups_by_carc_with_the_rule_that_would_have_caught_it(client: TestClient, org: Org,
                                                                             engine: Engine) -> None:
    denied(engine, org, "WL-1", carc="197")
    denied(engine, org, "WL-2", carc="197")
    denied(engine, org, "WL-3", carc="16")
    sign_in(client, org.email(Role.BILLER))
    page = client.get("/denials").text
    groups = {section.split('"', 1)[0]: section for section in page.split('id="carc-')[1:]}
    assert list(groups) == ["197", "16"]  # the most dollars first: two denied claims before one
    assert "2 tasks on 2 claims" in groups["197"] and "1 task on 1 claim" in groups["16"]
    assert "WL-1" in groups["197"] and "WL-2" in groups["197"] and "WL-3" in groups["16"]
    # CARC 16 (missing information) is what the missing-required-field rule catches; 197 (no authorisation) is not
    assert 'href="/rules/missing-required-field"' in groups["16"]
    assert "no cleanclaim rule" in groups["197"] and 'href="/rules/' not in groups["197"]
    assert client.get("/rules/missing-required-field").status_code == 200


def _task_actions(client: TestClient, csrf: str, task: int, action: str, **fields: str) -> object:
    return client.post(f"/denials/{task}/{action}", data={"csrf_token": csrf, **fields},
                       headers={"HX-Request": "true"})


def test_assign_note_due_and_resolve_answer_the_row(client: TestClient, org: Org, engine: Engine) -> None:
    _claim, task = denied(engine, org, "WA-1")
    csrf = sign_in(client, org.email(Role.BILLER))
    clinician = org.user_id(Role.CLINICIAN)
    row = _task_actions(client, csrf, task, "assign", assignee_id=str(clinician))
    assert row.status_code == 200  # type: ignore[attr-defined]
    assert row.text.lstrip().startswith(("{#", "<tbody")) is not None  # type: ignore[attr-defined]
    assert "<html" not in row.text and f'id="task-{task}"' in row.text  # type: ignore[attr-defined]
    assert f'<td class="assignee">{org.email(Role.CLINICIAN)}</td>' in row.text  # type: ignore[attr-defined]
    row = _task_actions(client, csrf, task, "note", note="called payer, auth on file")
    assert "called payer, auth on file" in row.text  # type: ignore[attr-defined]
    row = _task_actions(client, csrf, task, "due", due_date="2020-01-31")
    assert "2020-01-31" in row.text and "overdue" in row.text  # type: ignore[attr-defined]
    assert "WA-1" in client.get("/denials?overdue=1").text
    assert "WA-1" in client.get(f"/denials?assignee={clinician}").text
    assert "WA-1" not in client.get("/denials?assignee=nobody").text
    assert "WA-1" not in client.get("/denials?due_by=2019-12-31").text
    bad = client.get("/denials?due_by=tomorrow")
    assert bad.status_code == 422 and "due by must be a date as YYYY-MM-DD" in bad.text
    bad = client.get("/denials?assignee=somebody")
    assert bad.status_code == 422 and "the assignee is chosen from the list" in bad.text and "WA-1" in bad.text
    row = _task_actions(client, csrf, task, "resolve", note="corrected and resubmitted")
    assert "resolved" in row.text and "/resolve" not in row.text  # type: ignore[attr-defined]
    assert "WA-1" not in client.get("/denials").text
    with session_factory(engine)() as session:
        actions = list(session.scalars(select(m.AuditEvent.action).where(
            m.AuditEvent.organisation_id == org.id, m.AuditEvent.entity == "denial_task",
            m.AuditEvent.entity_id == str(task)).order_by(m.AuditEvent.id)))
    assert actions == ["assign", "note", "due_date", "resolve"]


def test_a_plain_form_post_goes_back_to_the_list(client: TestClient, org: Org, engine: Engine) -> None:
    _claim, task = denied(engine, org, "WP-1")
    csrf = sign_in(client, org.email(Role.BILLER))
    response = client.post(f"/denials/{task}/note", data={"csrf_token": csrf, "note": "left a message"})
    assert response.status_code == 303 and response.headers["location"] == "/denials"
    assert "left a message" in client.get("/denials").text


@pytest.mark.parametrize(("action", "fields", "expected"), [
    ("note", {"note": "  "}, "the note is empty"),
    ("due", {"due_date": "next week"}, "must be a date as YYYY-MM-DD"),
    ("assign", {"assignee_id": "someone"}, "choose the user"),
])
def test_refused_task_actions_show_the_problem_and_write_nothing(client: TestClient, org: Org, engine: Engine,
                                                                 action: str, fields: dict[str, str],
                                                                 expected: str) -> None:
    _claim, task = denied(engine, org, f"WR-{action}")
    csrf = sign_in(client, org.email(Role.BILLER))
    before = _count(engine, org, m.AuditEvent)
    for headers in ({"HX-Request": "true"}, {}):
        response = client.post(f"/denials/{task}/{action}", data={"csrf_token": csrf, **fields}, headers=headers)
        assert response.status_code == 422 and expected in response.text
    assert _count(engine, org, m.AuditEvent) == before


def test_a_resolved_task_cannot_be_worked_again(client: TestClient, org: Org, engine: Engine) -> None:
    _claim, task = denied(engine, org, "WC-1")
    csrf = sign_in(client, org.email(Role.BILLER))
    assert _task_actions(client, csrf, task, "resolve").status_code == 200  # type: ignore[attr-defined]
    again = _task_actions(client, csrf, task, "note", note="late")
    assert again.status_code == 422 and "it is closed" in again.text  # type: ignore[attr-defined]


# --- another organisation's ids -------------------------------------------------------------------------------------

def test_another_organisations_money_ids_are_404(client: TestClient, org: Org, other_org: Org,
                                                 engine: Engine) -> None:
    (their_claim, their_task) = denied(engine, other_org, "ISO-1")
    their_ready = ready(engine, other_org, "ISO-2")
    with session_factory(engine)() as session:
        batch = session.scalars(select(m.SubmissionBatch.id).where(
            m.SubmissionBatch.organisation_id == other_org.id)).one()
        remittance = session.scalars(select(m.Remittance.id).where(
            m.Remittance.organisation_id == other_org.id)).one()
    csrf = sign_in(client, org.email(Role.BILLER))
    for path in (f"/submissions/{batch}", f"/submissions/{batch}/837p", f"/remittances/{remittance}"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "ISO-1" not in response.text
    for action, fields in (("assign", {"assignee_id": ""}), ("note", {"note": "x"}), ("due", {"due_date": ""}),
                           ("resolve", {})):
        response = client.post(f"/denials/{their_task}/{action}", data={"csrf_token": csrf, **fields})
        assert response.status_code == 404, action
    mine = ready(engine, org, "ISO-0")  # our organisation can submit: the refusal is about their claim
    for chosen in ([str(their_ready[0])], [str(mine[0]), str(their_ready[0])]):
        response = client.post("/submissions", data={"csrf_token": csrf, "claim_id": chosen})
        assert response.status_code == 404 and "no such claim in your organisation" in response.text
    assert _count(engine, org, m.SubmissionBatch) == 0 and _state(engine, org, mine[0]) == ClaimState.READY
    assert "ISO-1" not in client.get("/denials").text and "ISO-2" not in client.get("/submissions").text
    assert _state(engine, other_org, their_ready[0]) == ClaimState.READY
    with session_factory(engine)() as session:
        assert session.get(m.DenialTask, their_task).resolved_at is None  # type: ignore[union-attr]
    # and our task cannot be given to their user
    (_mine, my_task) = denied(engine, org, "ISO-3")
    response = _task_actions(client, csrf, my_task, "assign", assignee_id=str(other_org.user_id(Role.BILLER)))
    assert response.status_code == 422 and "choose a user of your organisation" in response.text  # type: ignore[attr-defined]
    assert their_claim != _mine
