"""Editing a claim's billed lines by hand on the claim page: a biller or admin corrects a line, the trail keeps the
lines before and after, the claim must be scrubbed again; a clinician or auditor cannot, a wrong field comes back next
to its input and nothing is written, and a submitted claim's lines are not edited (it is corrected instead)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from cleanclaim.lifecycle import Role
from cleanclaim.store import models as m
from cleanclaim.store.database import session_factory
from tests.web.conftest import Org, sign_in
from tests.web.workspace import Workspace, build


@pytest.fixture
def ws(engine: Engine, org: Org) -> Workspace:
    return build(engine, org)


def _current(engine: Engine, claim_id: int) -> tuple[str, list[tuple[str, list[str], Decimal, int | None,
                                                                       list[int], Decimal]]]:
    with session_factory(engine)() as session:
        version = session.scalars(select(m.ClaimVersion).where(
            m.ClaimVersion.claim_id == claim_id, m.ClaimVersion.is_current.is_(True))).one()
        return version.state, [(line.code, list(line.modifiers), line.units, line.minutes, list(line.dx_pointers),
                                line.charge) for line in version.lines]


def _edits(engine: Engine, claim_id: int) -> list[m.AuditEvent]:
    with session_factory(engine)() as session:
        version_ids = [str(v) for v in session.scalars(select(m.ClaimVersion.id).where(
            m.ClaimVersion.claim_id == claim_id))]
        events = list(session.scalars(select(m.AuditEvent).where(
            m.AuditEvent.entity == "claim_version", m.AuditEvent.entity_id.in_(version_ids),
            m.AuditEvent.action == "edit_lines")))
        session.expunge_all()
        return events


def test_a_biller_corrects_a_flagged_line_and_the_claim_needs_a_new_scrub(client: TestClient, org: Org,
                                                                         ws: Workspace, engine: Engine) -> None:
    csrf = sign_in(client, org.email(Role.BILLER))
    page = client.get(f"/claims/{ws.flagged}").text
    assert f'href="/claims/{ws.flagged}/lines"' in page
    editor = client.get(f"/claims/{ws.flagged}/lines").text
    assert 'name="code_1" value="96150"' in editor  # the current line, ready to correct
    state, before = _current(engine, ws.flagged)
    assert state == "scrubbed" and before[0][0] == "96150"
    # 96150 (deleted 2020-01-01) becomes its replacement 96156, and a second line is added in an empty row
    response = client.post(f"/claims/{ws.flagged}/lines", data={
        "csrf_token": csrf, "code_1": "96156", "modifiers_1": "", "units_1": "1", "minutes_1": "",
        "dx_pointers_1": "1", "charge_1": "120.00",
        "code_2": "97110", "modifiers_2": "gp, 59", "units_2": "2", "minutes_2": "30", "dx_pointers_2": "1",
        "charge_2": "1,090.50"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/claims/{ws.flagged}?notice=edited"
    state, after = _current(engine, ws.flagged)
    assert state == "coded"  # its scrub no longer applies: mark ready is not offered until it is scrubbed again
    assert after == [("96156", [], Decimal(1), None, [1], Decimal("120.00")),
                     ("97110", ["GP", "59"], Decimal(2), 30, [1], Decimal("1090.50"))]
    claim_page = client.get(response.headers["location"]).text
    assert "scrub the claim again" in claim_page and f'action="/claims/{ws.flagged}/ready"' not in claim_page
    [event] = _edits(engine, ws.flagged)
    assert [line["code"] for line in event.before["lines"]] == ["96150"]  # type: ignore[index]
    assert [line["code"] for line in event.after["lines"]] == ["96156", "97110"]  # type: ignore[index]
    assert event.before["state"] == "scrubbed" and event.after["state"] == "coded"  # type: ignore[index]
    assert event.user_id == org.user_id(Role.BILLER)
    # the claim's audit trail shows what changed in a line, modifiers and units too, not only the codes
    assert "lines 96150 → 96156, 97110-GP-59 ×2" in claim_page.replace("&rarr;", "→")


def test_clearing_a_code_removes_its_line_and_other_line_data_is_kept(client: TestClient, org: Org,
                                                                       ws: Workspace, engine: Engine) -> None:
    csrf = sign_in(client, org.email(Role.ADMIN))
    _, before = _current(engine, ws.coded)
    assert len(before) >= 1
    form = {"csrf_token": csrf, "code_1": before[0][0], "units_1": "1", "dx_pointers_1": "1", "charge_1": "10"}
    form |= {"code_2": "97530", "units_2": "1", "dx_pointers_2": "1", "charge_2": "20"}
    assert client.post(f"/claims/{ws.coded}/lines", data=form).status_code == 303
    _, two = _current(engine, ws.coded)
    assert [line[0] for line in two] == [before[0][0], "97530"]
    form = {"csrf_token": csrf, "code_1": "", "units_1": "1", "dx_pointers_1": "1", "charge_1": "10",
            "code_2": "97530", "units_2": "1", "dx_pointers_2": "1", "charge_2": "20"}
    assert client.post(f"/claims/{ws.coded}/lines", data=form).status_code == 303
    _, one = _current(engine, ws.coded)
    assert [line[0] for line in one] == ["97530"]


def test_wrong_fields_come_back_next_to_their_inputs_and_nothing_is_written(client: TestClient, org: Org,
                                                                           ws: Workspace, engine: Engine) -> None:
    csrf = sign_in(client, org.email(Role.BILLER))
    before = _current(engine, ws.flagged)
    response = client.post(f"/claims/{ws.flagged}/lines", data={
        "csrf_token": csrf, "code_1": "96156", "units_1": "-2", "minutes_1": "ten", "dx_pointers_1": "1",
        "charge_1": "abc", "modifiers_2": "GP", "units_2": "1"})
    assert response.status_code == 422
    assert 'id="minutes_1-error"' in response.text and "whole number" in response.text
    assert 'id="code_2-error"' in response.text and "line 2 has no code" in response.text
    assert 'value="ten"' in response.text  # what was typed is kept
    negative = client.post(f"/claims/{ws.flagged}/lines", data={
        "csrf_token": csrf, "code_1": "96156", "units_1": "-2", "dx_pointers_1": "1", "charge_1": "abc"})
    assert negative.status_code == 422
    assert 'id="units_1-error"' in negative.text and "must not be negative" in negative.text
    assert 'id="charge_1-error"' in negative.text
    nothing = client.post(f"/claims/{ws.flagged}/lines", data={"csrf_token": csrf, "code_1": ""})
    assert nothing.status_code == 422 and "at least one billed line" in nothing.text
    assert _current(engine, ws.flagged) == before
    assert _edits(engine, ws.flagged) == []


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.AUDITOR])
def test_a_clinician_or_auditor_cannot_edit_lines(app: FastAPI, org: Org, ws: Workspace, engine: Engine,
                                                   role: Role) -> None:
    with TestClient(app, follow_redirects=False) as client:
        csrf = sign_in(client, org.email(role))
        assert f'href="/claims/{ws.coded}/lines"' not in client.get(f"/claims/{ws.coded}").text
        assert client.get(f"/claims/{ws.coded}/lines").status_code == 403
        before = _current(engine, ws.coded)
        refused = client.post(f"/claims/{ws.coded}/lines", data={"csrf_token": csrf, "code_1": "97110",
                                                                  "units_1": "9", "dx_pointers_1": "1"})
        assert refused.status_code == 403
        assert _current(engine, ws.coded) == before


def test_csrf_and_state_and_organisation_are_checked(client: TestClient, org: Org, other_org: Org, ws: Workspace,
                                                     engine: Engine) -> None:
    csrf = sign_in(client, org.email(Role.BILLER))
    form = {"code_1": "97110", "units_1": "1", "dx_pointers_1": "1", "charge_1": "10"}
    assert client.post(f"/claims/{ws.coded}/lines", data=form).status_code == 403  # no CSRF token
    denied = client.post(f"/claims/{ws.denied}/lines", data={"csrf_token": csrf, **form})
    assert denied.status_code == 409 and "cannot be edited" in denied.text  # a denied claim is corrected instead
    assert client.get(f"/claims/{ws.denied}/lines").status_code == 409
    assert f'href="/claims/{ws.denied}/lines"' not in client.get(f"/claims/{ws.denied}").text
    stranger = build(engine, other_org)
    assert client.get(f"/claims/{stranger.coded}/lines").status_code == 404
    assert client.post(f"/claims/{stranger.coded}/lines", data={"csrf_token": csrf, **form}).status_code == 404
    assert _edits(engine, ws.coded) == [] and _edits(engine, stranger.coded) == []
