"""Entering and importing encounters: coded on save with the arithmetic shown, every bad input answered with a
message naming the field or the file (and line), and nothing written then."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from cleanclaim.lifecycle import Role
from cleanclaim.store import models as m
from cleanclaim.store.claims import Actor
from cleanclaim.store.database import session_factory
from cleanclaim.store.submissions import SubmissionSettingsInput, save_submission_settings
from cleanclaim.store.tenant import Tenant
from cleanclaim.web import WebSettings, create_app
from tests.formats.x12.conftest import pyx12_errors
from tests.store.services import encounter
from tests.web.conftest import Org, sign_in

EXAMPLE = Path(__file__).parents[2] / "examples" / "pt-visit-97535.yaml"
FORM = {"encounter_id": "WEB-1", "date": "2026-03-02", "patient_ref": "P-900", "first_name": "Test",
        "last_name": "Person", "birth_date": "1950-01-01", "provider_npi": "1987654328", "discipline": "PT",
        "payer": "medicare", "diagnoses": "R26.81, M62.81", "code_1": "97110", "minutes_1": "38"}


def _encounters(engine: Engine, org: Org) -> int:
    with session_factory(engine)() as session:
        return session.scalar(select(func.count()).select_from(m.EncounterRecord).where(
            m.EncounterRecord.organisation_id == org.id)) or 0


def test_every_role_sees_the_encounters(client: TestClient, org: Org) -> None:
    for role in Role:
        sign_in(client, org.email(role))
        page = client.get("/encounters")
        assert page.status_code == 200
        assert ('action="/encounters/import"' in page.text) is (role is not Role.AUDITOR)


def test_entered_encounter_is_coded_with_its_arithmetic(client: TestClient, org: Org, engine: Engine) -> None:
    csrf = sign_in(client, org.email(Role.CLINICIAN))
    response = client.post("/encounters", data={"csrf_token": csrf, **FORM})
    assert response.status_code == 303
    assert re.fullmatch(r"/claims/\d+\?notice=coded", response.headers["location"])
    page = client.get(response.headers["location"]).text
    assert "How the lines were coded" in page
    lines = page.split("Billed lines", 1)[1].split("</table>", 1)[0]
    # 38 timed minutes: 2 full 15-minute units and 8 left over, which makes a third (CMS 8-minute rule)
    assert re.search(r"97110</td>.*?<td class=\"right\">3</td>\s*<td class=\"right\">38</td>", lines, re.S)
    assert "WEB-1" in client.get("/encounters").text


def test_a_form_with_missing_fields_comes_back_and_writes_nothing(client: TestClient, org: Org,
                                                                 engine: Engine) -> None:
    csrf = sign_in(client, org.email(Role.BILLER))
    before = _encounters(engine, org)
    missing = client.post("/encounters", data={"csrf_token": csrf, **FORM, "patient_ref": "", "date": "",
                                               "code_1": "", "minutes_1": "12"})
    assert missing.status_code == 422
    for message in ("the patient reference is required", "the date of service is required",
                    "service 1 has minutes but no code"):
        assert message in missing.text
    assert 'value="R26.81, M62.81"' in missing.text  # what was typed is kept
    wrong = client.post("/encounters", data={"csrf_token": csrf, **FORM, "minutes_1": "ten"})
    assert wrong.status_code == 422
    assert "minutes must be a whole number" in wrong.text
    # what the model refuses comes back next to its field; a patient value is not quoted back in the message
    dates = client.post("/encounters", data={"csrf_token": csrf, **FORM, "date": "2026-02-30",
                                             "birth_date": "1950-13-01"})
    assert dates.status_code == 422
    assert 'id="date-error"' in dates.text and 'id="birth_date-error"' in dates.text
    assert "1950-13-01" not in dates.text.split('id="birth_date-error"')[1].split("</p>")[0]
    assert _encounters(engine, org) == before


def test_auditor_cannot_enter_or_import(client: TestClient, org: Org, engine: Engine) -> None:
    csrf = sign_in(client, org.email(Role.AUDITOR))
    assert client.post("/encounters", data={"csrf_token": csrf, **FORM}).status_code == 403
    files = {"file": ("visit.yaml", EXAMPLE.read_bytes(), "application/yaml")}
    assert client.post("/encounters/import", data={"csrf_token": csrf}, files=files).status_code == 403
    assert _encounters(engine, org) == 0


def test_import_a_yaml_file_then_the_same_again(client: TestClient, org: Org, engine: Engine) -> None:
    csrf = sign_in(client, org.email(Role.BILLER))
    files = {"file": ("visit.yaml", EXAMPLE.read_bytes(), "application/yaml")}
    first = client.post("/encounters/import", data={"csrf_token": csrf}, files=files)
    assert first.status_code == 303 and first.headers["location"].startswith("/claims/")
    page = client.get(first.headers["location"]).text
    assert "CLM-0001" in page and "How the lines were coded" in page
    again = client.post("/encounters/import", data={"csrf_token": csrf}, files=files)
    assert again.status_code == 422
    assert "CLM-0001" in again.text  # the claim id already used is named
    assert _encounters(engine, org) == 1


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("broken.yaml", b"encounters:\n  - id: [unclosed\n    date: 2026-03-02\n", "broken.yaml"),
    ("picture.yaml", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a text file"),
    ("latin1.json", "{\"id\": \"caf\u00e9\"}".encode("latin-1"), "not UTF-8"),
    ("lines.csv", b"encounter_id,date,code\nE1,2026-03-02,97110\n", "claim-line table"),
    ("empty.yaml", b"  \n", "the file is empty"),
    ("nothing.json", b"[]", "must be a non-empty list"),
])
def test_a_bad_file_is_refused_with_a_message(client: TestClient, org: Org, engine: Engine, name: str,
                                              content: bytes, expected: str) -> None:
    csrf = sign_in(client, org.email(Role.BILLER))
    response = client.post("/encounters/import", data={"csrf_token": csrf},
                           files={"file": (name, content, "application/octet-stream")})
    assert response.status_code == 422
    assert expected in response.text
    assert _encounters(engine, org) == 0


def test_a_file_with_bad_encounters_imports_the_good_ones_and_names_each_bad_one(client: TestClient, org: Org,
                                                                                  engine: Engine) -> None:
    csrf = sign_in(client, org.email(Role.BILLER))
    good = [encounter(f"GOOD-{n}").model_dump(mode="json") for n in (1, 2)]
    bad_date = {**encounter("BAD-1").model_dump(mode="json"), "date": "not a date"}
    no_patient = {k: v for k, v in encounter("BAD-2").model_dump(mode="json").items() if k != "patient"}
    text = json.dumps({"encounters": [good[0], bad_date, no_patient, good[1]]}, indent=1)
    response = client.post("/encounters/import", data={"csrf_token": csrf},
                           files={"file": ("four.json", text.encode(), "application/json")})
    assert response.status_code == 200
    assert "2 claim(s) of four.json imported and coded." in response.text
    assert "2 problem(s) in four.json" in response.text
    lines = text.splitlines()
    date_line = next(n for n, line in enumerate(lines, 1) if '"not a date"' in line)
    assert f"four.json:{date_line}: encounter E-BAD-1, field date" in response.text
    assert "encounter E-BAD-2, field patient: is required" in response.text
    assert _encounters(engine, org) == 2
    assert "E-GOOD-1" in response.text and "E-GOOD-2" in response.text  # listed with the encounters stored


def test_a_nul_escaped_in_a_json_string_is_named_not_a_500(client: TestClient, org: Org, engine: Engine) -> None:
    """JSON's "\\u0000" is a NUL in the value, which PostgreSQL's JSONB and text refuse (it was a 500 there): the
    encounter is named with its field, never stored, and a file of only such encounters stores nothing."""
    csrf = sign_in(client, org.email(Role.BILLER))
    bad = encounter("NUL-1").model_dump(mode="json")
    bad["patient"]["last_name"] = "Sam@ple"
    only = json.dumps([bad]).replace("Sam@ple", "Sam\\u0000ple")
    response = client.post("/encounters/import", data={"csrf_token": csrf},
                           files={"file": ("nul.json", only.encode(), "application/json")})
    assert response.status_code == 422
    assert "nul.json: 1 problem(s), nothing was imported" in response.text
    assert "encounter E-NUL-1, field patient.last_name" in response.text and "control character" in response.text
    assert _encounters(engine, org) == 0
    both = json.dumps([encounter("OK-1").model_dump(mode="json"), bad]).replace("Sam@ple", "Sam\\u0000ple")
    response = client.post("/encounters/import", data={"csrf_token": csrf},
                           files={"file": ("two.json", both.encode(), "application/json")})
    assert response.status_code == 200 and "1 claim(s) of two.json imported" in response.text
    assert "encounter E-NUL-1, field patient.last_name" in response.text
    assert _encounters(engine, org) == 1
    form = client.post("/encounters", data={"csrf_token": csrf, **FORM, "last_name": "Per\x00son"})
    # refused before the route reads the form, naming the field (web.context.submitted_csrf checks every form)
    assert form.status_code == 422 and "last_name" in form.text and "holds a NUL character" in form.text
    assert _encounters(engine, org) == 1


def test_no_file_chosen(client: TestClient, org: Org) -> None:
    csrf = sign_in(client, org.email(Role.BILLER))
    response = client.post("/encounters/import", data={"csrf_token": csrf})
    assert response.status_code == 422 and "Choose a file" in response.text


def test_a_file_over_the_limit_is_refused(engine: Engine, org: Org) -> None:
    app = create_app(engine, settings=WebSettings(max_upload_bytes=2000))
    with TestClient(app, follow_redirects=False) as client:
        csrf = sign_in(client, org.email(Role.BILLER))
        response = client.post("/encounters/import", data={"csrf_token": csrf},
                               files={"file": ("big.yaml", b"#" * 5000, "application/yaml")})
    assert response.status_code == 413
    assert _encounters(engine, org) == 0


def test_a_large_import_runs_as_a_job(client: TestClient, org: Org, engine: Engine,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from cleanclaim.web.routes import encounters as encounter_routes

    monkeypatch.setattr(encounter_routes, "IMPORT_JOB_THRESHOLD", 2)
    csrf = sign_in(client, org.email(Role.BILLER))
    items = [encounter(f"JOB-{n}").model_dump(mode="json") for n in range(3)]
    response = client.post("/encounters/import", data={"csrf_token": csrf},
                           files={"file": ("three.json", json.dumps(items).encode(), "application/json")})
    assert response.status_code == 303 and re.fullmatch(r"/jobs/\d+", response.headers["location"])
    deadline = time.monotonic() + 30
    fragment = ""
    while time.monotonic() < deadline:
        fragment = client.get(response.headers["location"], headers={"HX-Request": "true"}).text
        if "hx-trigger" not in fragment:
            break
        time.sleep(0.1)
    assert "3 of 3" in fragment and "Finished" in fragment
    assert _encounters(engine, org) == 3


BILLING = {"billing_name": "Harbor Physical Therapy", "billing_npi": "1234567893", "billing_tax_id": "12-3456789",
           "billing_taxonomy": "225100000X", "billing_line1": "1 Main St", "billing_city": "Springfield",
           "billing_state": "il", "billing_zip": "62701-1234"}
INSURANCE = {"member_id": "1EG4TE5MK73", "relationship": "self", "payer_id": "12345", "payer_name": "Medicare Part B",
             "sex": "F", "address_line1": "10 Elm St", "address_city": "Springfield", "address_state": "IL",
             "address_zip": "62704", "provider_first_name": "Pat", "provider_last_name": "Therapist"}


def _stored_encounter(engine: Engine, org: Org, ref: str) -> dict[str, object]:
    with session_factory(engine)() as session:
        data = session.scalars(select(m.EncounterRecord.data).where(
            m.EncounterRecord.organisation_id == org.id, m.EncounterRecord.encounter_ref == ref)).one()
        assert isinstance(data, dict)
        return data


def test_the_form_takes_billing_provider_and_insurance_and_the_claim_writes_as_837p(
        client: TestClient, org: Org, engine: Engine) -> None:
    with session_factory(engine)() as session, session.begin():  # the clearinghouse's ids: the admin's, once
        save_submission_settings(Tenant(session, org.id), Actor(org.user_id(Role.ADMIN), Role.ADMIN),
                                 SubmissionSettingsInput(
            sender_id="HARBORPT", receiver_id="CLEARHOUSE", receiver_name="Example Clearinghouse",
            submitter_name="Harbor PT Billing", submitter_contact="Jo Biller", submitter_phone="2175550100"))
    csrf = sign_in(client, org.email(Role.BILLER))
    response = client.post("/encounters", data={"csrf_token": csrf, **FORM, "encounter_id": "WEB-837",
                                                **BILLING, **INSURANCE})
    assert response.status_code == 303, response.text
    stored = _stored_encounter(engine, org, "WEB-837")
    # as the contract writes them: the EIN's dash and the ZIP+4's dash dropped, the state in capitals
    assert stored["billing_provider"] == {
        "name": "Harbor Physical Therapy", "npi": "1234567893", "tax_id": "123456789", "taxonomy": "225100000X",
        "address": {"line1": "1 Main St", "line2": None, "city": "Springfield", "state": "IL", "zip": "627011234"},
        "phone": None}
    assert stored["subscriber"] == {"member_id": "1EG4TE5MK73", "first_name": None, "last_name": None,
                                    "relationship": "self", "birth_date": None, "sex": None, "group_number": None}
    assert stored["patient"]["address"]["zip"] == "62704"  # type: ignore[index]
    claim = response.headers["location"].split("?")[0]
    # coded without a charge master the line has no charge, which the 837P needs: the biller adds it by hand
    editor = client.get(f"{claim}/lines")
    assert editor.status_code == 200
    saved = client.post(f"{claim}/lines", data={"csrf_token": csrf, "code_1": "97110", "modifiers_1": "GP",
                                                 "units_1": "3", "minutes_1": "38", "dx_pointers_1": "1, 2",
                                                 "charge_1": "135.00"})
    assert saved.status_code == 303, saved.text
    x12 = client.get(f"{claim}/export/837p")
    assert x12.status_code == 200, x12.text
    text = x12.text
    assert pyx12_errors(text) == []
    for segment in ("NM1*85*2*Harbor Physical Therapy*****XX*1234567893~", "N4*Springfield*IL*627011234~",
                    "REF*EI*123456789~", "SBR*P*18*******MB~", "NM1*IL*1*Person*Test****MI*1EG4TE5MK73~",
                    "N3*10 Elm St~", "NM1*PR*2*MEDICARE PART B*****PI*12345~",
                    "NM1*82*1*Therapist*Pat****XX*1987654328~", "SV1*HC:97110:GP*135*UN*3***1:2~"):
        assert segment in text.splitlines(), segment


def test_the_billing_provider_of_the_last_encounter_fills_the_next_form(client: TestClient, org: Org) -> None:
    csrf = sign_in(client, org.email(Role.CLINICIAN))
    blank = client.get("/encounters/new").text
    assert 'name="billing_name" type="text" value=""' in blank  # no encounter named one yet
    assert client.post("/encounters", data={"csrf_token": csrf, **FORM, "encounter_id": "WEB-BP-1",
                                            **BILLING}).status_code == 303
    filled = client.get("/encounters/new").text
    assert 'value="Harbor Physical Therapy"' in filled and 'value="627011234"' in filled
    assert 'value="1EG4TE5MK73"' not in filled  # the subscriber is the patient's, never carried over


def test_a_half_given_billing_provider_or_subscriber_comes_back_and_writes_nothing(
        client: TestClient, org: Org, engine: Engine) -> None:
    csrf = sign_in(client, org.email(Role.BILLER))
    before = _encounters(engine, org)
    partial = {**BILLING, "billing_tax_id": "", "billing_zip": ""}
    response = client.post("/encounters", data={"csrf_token": csrf, **FORM, **partial, "group_number": "G-1"})
    assert response.status_code == 422
    for message in ("the billing provider&#39;s tax id (EIN) is required once the billing provider is given",
                    "the billing provider&#39;s ZIP+4 is required once the billing provider is given",
                    "the subscriber&#39;s member id is required once the subscriber is given"):
        assert message in response.text
    assert 'id="billing_tax_id-error"' in response.text and 'id="member_id-error"' in response.text
    assert 'value="Harbor Physical Therapy"' in response.text  # what was typed is kept
    spouse = client.post("/encounters", data={"csrf_token": csrf, **FORM, "member_id": "W123",
                                              "relationship": "spouse"})
    assert spouse.status_code == 422
    assert "required when the patient is not the subscriber" in spouse.text
    address = client.post("/encounters", data={"csrf_token": csrf, **FORM, "address_city": "Springfield"})
    assert address.status_code == 422
    assert "the patient&#39;s street address is required once the patient&#39;s address is given" in address.text
    assert _encounters(engine, org) == before


def test_the_relationship_menu_alone_is_not_a_subscriber(client: TestClient, org: Org, engine: Engine) -> None:
    csrf = sign_in(client, org.email(Role.BILLER))
    response = client.post("/encounters", data={"csrf_token": csrf, **FORM, "encounter_id": "WEB-NOSUB",
                                                "relationship": "self"})
    assert response.status_code == 303
    assert _stored_encounter(engine, org, "WEB-NOSUB")["subscriber"] is None
