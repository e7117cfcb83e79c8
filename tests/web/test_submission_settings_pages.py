"""The admin's Submission settings page (the organisation's 837P envelope): an organisation's admin sets it on the
page, and the next batch's 837P carries it; every other role is refused, a bad form writes nothing, another
organisation's envelope is never shown or changed, and the submission page says what to do while it is not set."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from cleanclaim.lifecycle import Role
from cleanclaim.store import models as m
from cleanclaim.store.database import session_factory
from cleanclaim.store.tenant import Tenant
from tests.web.conftest import Org, sign_in
from tests.web.money import ready

PAGE = "/admin/submission-settings"
FORM = {"sender_id": "NEWSENDER01", "receiver_id": "RECV123", "receiver_name": "Acme Clearinghouse",
        "submitter_name": "Harbor PT Billing", "submitter_contact": "Sam Admin", "submitter_phone": "",
        "submitter_email": "billing@example.test", "usage": "T"}


def _settings(engine: Engine, org: Org) -> m.SubmissionSettings | None:
    with session_factory(engine)() as session:
        return session.scalars(Tenant(session, org.id).select(m.SubmissionSettings)).one_or_none()


def _events(engine: Engine, org: Org) -> list[m.AuditEvent]:
    with session_factory(engine)() as session:
        tenant = Tenant(session, org.id)
        return list(session.scalars(tenant.select(m.AuditEvent, m.AuditEvent.entity == "submission_settings")
                                    .order_by(m.AuditEvent.id)))


def _isa_gs(x12: str) -> tuple[list[str], list[str]]:
    segments = [segment.strip() for segment in x12.split("~")]
    isa = next(s for s in segments if s.startswith("ISA")).split("*")
    gs = next(s for s in segments if s.startswith("GS")).split("*")
    return isa, gs


def _submit(client: TestClient, csrf: str, claim_ids: list[int]) -> str:
    """Submit through the Submissions page; the batch's 837P."""
    response = client.post("/submissions", data={"csrf_token": csrf, "claim_id": [str(i) for i in claim_ids]})
    assert response.status_code == 303, response.text
    batch = response.headers["location"].split("?", 1)[0]
    return client.get(f"{batch}/837p").text


def test_an_admin_sets_the_envelope_and_the_next_837p_carries_it(admin_client: tuple[TestClient, str], org: Org,
                                                                   engine: Engine) -> None:
    client, csrf = admin_client
    page = client.get(PAGE)
    assert page.status_code == 200 and 'id="no-settings"' in page.text
    assert f'href="{PAGE}"' in client.get("/admin").text  # linked from the admin tabs
    saved = client.post(PAGE, data={"csrf_token": csrf, **FORM})
    assert saved.status_code == 303 and saved.headers["location"] == f"{PAGE}?notice=saved"
    shown = client.get(saved.headers["location"]).text
    assert "The submission settings were saved" in shown
    assert 'value="NEWSENDER01"' in shown and 'value="billing@example.test"' in shown
    assert re.search(r'id="control-number">.*?000000001', shown, re.S)  # read-only, no field for it
    assert 'name="next_control_number"' not in shown

    (first,) = ready(engine, org, "ENV-1")  # the helper keeps the settings saved above
    isa, gs = _isa_gs(_submit(client, csrf, [first]))
    assert (isa[6].strip(), isa[8].strip(), isa[13], isa[15]) == ("NEWSENDER01", "RECV123", "000000001", "T")
    assert (gs[2], gs[3], gs[6]) == ("NEWSENDER01", "RECV123", "1")

    changed = client.post(PAGE, data={"csrf_token": csrf, **FORM, "sender_id": "OTHERSENDER", "usage": "P"})
    assert changed.status_code == 303
    assert "000000002" in client.get(PAGE).text  # the counter is kept across a save
    (second,) = ready(engine, org, "ENV-2")
    isa, gs = _isa_gs(_submit(client, csrf, [second]))
    assert (isa[6].strip(), isa[13], isa[15], gs[2], gs[6]) == ("OTHERSENDER", "000000002", "P", "OTHERSENDER", "2")

    events = _events(engine, org)
    assert [event.action for event in events] == ["save", "save"]
    assert events[0].before is None and events[0].after is not None
    assert events[0].after["sender_id"] == "NEWSENDER01"
    assert events[1].before is not None and events[1].after is not None
    assert (events[1].before["sender_id"], events[1].after["sender_id"]) == ("NEWSENDER01", "OTHERSENDER")
    assert events[1].user_id == org.user_id(Role.ADMIN)


@pytest.mark.parametrize("role", [Role.BILLER, Role.AUDITOR, Role.CLINICIAN])
def test_only_an_admin_reaches_the_page(client: TestClient, org: Org, engine: Engine, role: Role) -> None:
    csrf = sign_in(client, org.email(role))
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, data={"csrf_token": csrf, **FORM}).status_code == 403
    assert _settings(engine, org) is None and _events(engine, org) == []


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"sender_id": "  "}, "sender_id", "is required for the 837P envelope"),
    ({"receiver_name": ""}, "receiver_name", "is required for the 837P envelope"),
    ({"submitter_phone": "", "submitter_email": " "}, "submitter_phone", "needs a phone or an email"),
    ({"sender_id": "S" * 16}, "sender_id", "at most 15 characters"),
    ({"usage": "X"}, "usage", "choose test or production"),
    ({"sender_id": "HARBOR/PT"}, "sender_id", "letters, digits, spaces"),  # the 837P writer's ISA06 rule
    ({"receiver_id": "CLEAR*HOUSE"}, "receiver_id", "letters, digits, spaces"),
    ({"receiver_name": "Acme*Clearinghouse"}, "receiver_name", "NM103 contains the separator(s) &#39;*&#39;"),
    ({"submitter_name": "Müller Billing"}, "submitter_name", "outside the X12 character set"),
    ({"submitter_contact": "Jo:Biller"}, "submitter_contact", "PER02 contains the separator"),
])
def test_a_bad_form_names_the_field_and_writes_nothing(admin_client: tuple[TestClient, str], org: Org,
                                                        engine: Engine, change: dict[str, str], field: str,
                                                        message: str) -> None:
    client, csrf = admin_client
    refused = client.post(PAGE, data={"csrf_token": csrf, **FORM, **change})
    assert refused.status_code == 422
    found = re.search(rf'id="{field}-error">([^<]*)<', refused.text)
    assert found and message in found.group(1)
    assert f'value="{FORM["sender_id"]}"' in refused.text or field == "sender_id"  # what was typed is kept
    assert _settings(engine, org) is None and _events(engine, org) == []


def test_a_form_without_its_csrf_token_is_refused(admin_client: tuple[TestClient, str], org: Org,
                                                   engine: Engine) -> None:
    client, _ = admin_client
    assert client.post(PAGE, data=FORM).status_code == 403
    assert _settings(engine, org) is None


def test_another_organisations_envelope_is_never_shown_or_changed(client: TestClient, org: Org, other_org: Org,
                                                                  engine: Engine) -> None:
    csrf = sign_in(client, other_org.email(Role.ADMIN))
    assert client.post(PAGE, data={"csrf_token": csrf, **FORM, "sender_id": "OTHERORG"}).status_code == 303
    client.post("/sign-out", data={"csrf_token": csrf})
    client.cookies.clear()
    csrf = sign_in(client, org.email(Role.ADMIN))
    page = client.get(PAGE).text
    assert "OTHERORG" not in page and 'id="no-settings"' in page
    assert client.post(PAGE, data={"csrf_token": csrf, **FORM}).status_code == 303
    theirs = _settings(engine, other_org)
    assert theirs is not None and theirs.sender_id == "OTHERORG" and theirs.next_control_number == 1
    assert len(_events(engine, other_org)) == 1


@pytest.mark.parametrize("role", [Role.ADMIN, Role.BILLER])
def test_the_submission_page_says_what_to_do_without_settings(client: TestClient, org: Org, role: Role) -> None:
    csrf = sign_in(client, org.email(role))
    page = client.get("/submissions").text
    notice = page.split('id="no-submission-settings"', 1)[1].split("</div>", 1)[0]
    if role is Role.ADMIN:
        assert f'href="{PAGE}"' in notice
    else:
        assert "Ask an admin" in notice and PAGE not in notice
    # the envelope is checked before any claim: the refusal is shown with the notice again
    refused = client.post("/submissions", data={"csrf_token": csrf, "claim_id": "1"})
    assert refused.status_code == 422
    assert "an admin sets them" in refused.text and 'id="no-submission-settings"' in refused.text
