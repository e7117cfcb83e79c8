"""The admin's charge master and payers pages, and what the charge master does to the pages that code claims: the
entry form's lines get charges, a code without an entry is shown as having none (and why submitting would fail),
and coding again after the admin adds it gives the line its charge. Expected charges are worked by hand."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from cleanclaim.lifecycle import Role
from cleanclaim.store import models as m
from cleanclaim.store.database import session_factory
from tests.api.conftest import encounter_json
from tests.web.conftest import Org, sign_in

CSV = b"code,charge,modifier\n97110,44\n97116,46\n"
FORM = {"encounter_id": "CM-WEB-1", "date": "2026-03-02", "patient_ref": "P-901", "provider_npi": "1987654328",
        "discipline": "PT", "payer": "medicare", "diagnoses": "R26.81", "code_1": "97110", "minutes_1": "38",
        "code_2": "97535", "minutes_2": "15"}


def _upload(client: TestClient, csrf: str, content: bytes, name: str = "charges.csv") -> str:
    response = client.post("/admin/charge-master", data={"csrf_token": csrf},
                           files={"file": (name, content, "text/csv")})
    assert response.status_code in (200, 422), response.text
    return response.text


def _entries(engine: Engine, org: Org) -> int:
    with session_factory(engine)() as session:
        return session.scalar(select(func.count()).select_from(m.ChargeMasterEntry).where(
            m.ChargeMasterEntry.organisation_id == org.id)) or 0


@pytest.mark.parametrize("role", [Role.BILLER, Role.CLINICIAN, Role.AUDITOR])
def test_only_an_admin_reaches_the_charge_master_and_payers(client: TestClient, org: Org, role: Role) -> None:
    csrf = sign_in(client, org.email(role))
    assert client.get("/admin/charge-master").status_code == 403
    assert client.get("/admin/payers").status_code == 403
    upload = client.post("/admin/charge-master", data={"csrf_token": csrf}, files={"file": ("c.csv", CSV)})
    assert upload.status_code == 403
    added = client.post("/admin/payers", data={"csrf_token": csrf, "payer_id": "12345", "name": "X",
                                               "profile_id": "medicare"})
    assert added.status_code == 403


def test_the_admin_uploads_the_charge_master_and_sees_it(admin_client: tuple[TestClient, str], org: Org,
                                                         engine: Engine) -> None:
    client, csrf = admin_client
    empty = client.get("/admin/charge-master")
    assert empty.status_code == 200 and "No charges yet" in empty.text
    page = _upload(client, csrf, CSV)
    assert "charges.csv is the charge master now: 2 entries (2 added, 0 changed, 0 removed" in " ".join(page.split())
    table = page.split('id="charge-master"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'<td class="mono">(\d{5})</td>', table) == ["97110", "97116"]
    assert "$44.00" in table and "$46.00" in table and org.email(Role.ADMIN) in table


def test_a_bad_charge_master_names_the_row_and_changes_nothing(admin_client: tuple[TestClient, str], org: Org,
                                                               engine: Engine) -> None:
    client, csrf = admin_client
    _upload(client, csrf, CSV)
    page = _upload(client, csrf, b"97110,44\n97116,forty\n", name="typo.csv")
    assert "Nothing was changed: typo.csv, row 2: field charge: charge &#39;forty&#39; is not an amount" in page
    assert _entries(engine, org) == 2
    missing = client.post("/admin/charge-master", data={"csrf_token": csrf})
    assert missing.status_code == 422 and "choose the charge master CSV" in missing.text


def test_entered_lines_get_charges_and_a_missing_code_is_shown(admin_client: tuple[TestClient, str], org: Org,
                                                               engine: Engine) -> None:
    client, csrf = admin_client
    _upload(client, csrf, CSV)
    entered = client.post("/encounters", data={"csrf_token": csrf, **FORM})
    assert entered.status_code == 303
    claim_url = entered.headers["location"].split("?", 1)[0]
    page = client.get(claim_url).text
    lines = page.split("Billed lines", 1)[1].split("</table>", 1)[0]
    # 38 + 15 = 53 timed minutes -> 4 units (CMS 8-minute rule): 97110 38 min 3 units x 44.00 = 132.00; 97535
    # 15 min 1 unit, not in the charge master -> no charge
    assert re.search(r"97110</td>.*?<td class=\"right\">3</td>.*?<td class=\"right\">\$132.00</td>", lines, re.S)
    assert re.search(r"97535</td>.*?no charge</span>", lines, re.S)
    notice = page.split('id="no-charge"', 1)[1].split("</div>", 1)[0]
    assert "Line 2 (<span class=\"mono\">97535</span>)" in notice and "lines[2].charge" in notice
    assert 'href="/admin/charge-master"' in notice and 'id="recode"' in notice
    # the admin adds 97535; coding again gives the line its charge and the notice goes
    _upload(client, csrf, CSV + b"97535,48\n")
    recoded = client.post(f"{claim_url}/code", data={"csrf_token": csrf})
    assert recoded.status_code == 303
    page = client.get(claim_url).text
    assert 'id="no-charge"' not in page
    lines = page.split("Billed lines", 1)[1].split("</table>", 1)[0]
    assert re.search(r"97535</td>.*?<td class=\"right\">\$48.00</td>", lines, re.S)
    assert "$180.00" in page.split("Total charge", 1)[1][:80]


def test_a_biller_is_told_to_ask_an_admin(client: TestClient, org: Org) -> None:
    csrf = sign_in(client, org.email(Role.BILLER))
    entered = client.post("/encounters", data={"csrf_token": csrf, **FORM, "encounter_id": "CM-WEB-2"})
    page = client.get(entered.headers["location"]).text
    notice = page.split('id="no-charge"', 1)[1].split("</div>", 1)[0]
    assert "Line 1" in notice and "Line 2" in notice and "Ask an admin" in notice
    assert 'href="/admin/charge-master"' not in notice


def test_the_admin_adds_and_edits_a_payer(admin_client: tuple[TestClient, str], org: Org) -> None:
    client, csrf = admin_client
    page = client.get("/admin/payers")
    assert page.status_code == 200 and "No payers yet" in page.text
    added = client.post("/admin/payers", data={"csrf_token": csrf, "payer_id": "87726", "name": "United Healthcare",
                                               "profile_id": "commercial"})
    assert added.status_code == 303 and added.headers["location"] == "/admin/payers?notice=added"
    page = client.get("/admin/payers").text
    row = page.split('payer-id">87726</td>', 1)[1].split("</tr>", 1)[0]
    assert 'value="United Healthcare"' in row and '<option value="commercial" selected>' in row
    payer_row_id = re.search(r'action="/admin/payers/(\d+)"', row)
    assert payer_row_id is not None
    edited = client.post(f"/admin/payers/{payer_row_id.group(1)}", data={
        "csrf_token": csrf, "name": "UHC Community Plan", "profile_id": "medicaid"})
    assert edited.status_code == 303
    row = client.get("/admin/payers").text.split('payer-id">87726</td>', 1)[1].split("</tr>", 1)[0]
    assert 'value="UHC Community Plan"' in row and '<option value="medicaid" selected>' in row


def test_payer_form_problems_are_shown_and_nothing_is_written(admin_client: tuple[TestClient, str]) -> None:
    client, csrf = admin_client
    missing = client.post("/admin/payers", data={"csrf_token": csrf, "payer_id": "", "name": "", "profile_id": ""})
    assert missing.status_code == 422
    assert "payer id is required" in missing.text and "profile id is required" in missing.text
    unknown = client.post("/admin/payers", data={"csrf_token": csrf, "payer_id": "87726", "name": "X",
                                                 "profile_id": "gold-plan"})
    assert unknown.status_code == 422 and "choose one of the payer profiles" in unknown.text
    assert 'value="87726"' in unknown.text  # the form keeps what was typed
    assert "No payers yet" in client.get("/admin/payers").text
    nothing = client.post("/admin/payers/2000000000", data={"csrf_token": csrf, "name": "X",
                                                            "profile_id": "medicare"})
    assert nothing.status_code == 404


def test_the_admin_pages_link_each_other(admin_client: tuple[TestClient, str]) -> None:
    client, _ = admin_client
    for path in ("/admin", "/admin/payers", "/admin/charge-master"):
        page = client.get(path).text
        tabs = page.split('<nav class="tabs"', 1)[1].split("</nav>", 1)[0]
        assert all(f'href="{p}"' in tabs for p in ("/admin", "/admin/payers", "/admin/charge-master"))
        assert f'href="{path}" class="active"' in tabs


def test_lines_imported_without_a_charge_are_shown_without_a_recode(client: TestClient, org: Org) -> None:
    csrf = sign_in(client, org.email(Role.BILLER))
    data = encounter_json("NOCHARGE-1")
    data.pop("total_charge", None)
    for line in data["lines"]:
        line.pop("charge", None)
    response = client.post("/encounters/import", data={"csrf_token": csrf},
                           files={"file": ("visit.json", json.dumps(data).encode(), "application/json")})
    assert response.status_code == 303, response.text
    page = client.get(response.headers["location"]).text
    notice = " ".join(page.split('id="no-charge"', 1)[1].split("</div>", 1)[0].split())
    assert "the billed lines were entered without one" in notice and "lines[1].charge, lines[2].charge" in notice
    assert 'id="recode"' not in notice and "charge master" not in notice


def test_the_users_tab_stays_active_after_a_form_on_it(admin_client: tuple[TestClient, str]) -> None:
    client, csrf = admin_client
    page = client.post("/admin/tokens", data={"csrf_token": csrf, "name": "sync", "user_id": "x"}).text
    assert 'href="/admin" class="active"' in page.split('<nav class="tabs"', 1)[1].split("</nav>", 1)[0]


def _payer_row(page: str, payer_id: str) -> str:
    return page.split(f'payer-id">{payer_id}</td>', 1)[1].split("</tr>", 1)[0]


def test_the_admin_corrects_an_unbilled_payers_id_but_not_a_billed_ones(admin_client: tuple[TestClient, str],
                                                                         org: Org) -> None:
    client, csrf = admin_client
    client.post("/admin/payers", data={"csrf_token": csrf, "payer_id": "87762", "name": "UHC",
                                       "profile_id": "commercial"})
    row = _payer_row(client.get("/admin/payers").text, "87762")
    assert 'name="payer_id" value="87762"' in row  # nothing bills it yet: the id is a field of the row
    found = re.search(r'action="/admin/payers/(\d+)"', row)
    assert found is not None
    fixed = client.post(f"/admin/payers/{found.group(1)}", data={
        "csrf_token": csrf, "payer_id": "87726", "name": "UHC", "profile_id": "commercial"})
    assert fixed.status_code == 303
    assert 'payer-id">87762</td>' not in client.get("/admin/payers").text

    claim = encounter_json("BILLED-1")
    imported = client.post("/api/v1/encounters", json=claim,
                           headers={"Authorization": f"Bearer {org.tokens[Role.BILLER]}"})
    assert imported.status_code == 201, imported.text
    page = client.get("/admin/payers").text
    row = _payer_row(page, claim["payer_id"])
    assert 'name="payer_id"' not in row and "billed on 1 encounter: the id stays" in " ".join(row.split())
    billed = re.search(r'action="/admin/payers/(\d+)"', row)
    assert billed is not None
    refused = client.post(f"/admin/payers/{billed.group(1)}", data={
        "csrf_token": csrf, "payer_id": "NEWID99", "name": "X", "profile_id": "medicare"})
    assert refused.status_code == 409
    assert "BILLED-1" in refused.text and "add the new id as a payer instead" in refused.text
    assert _payer_row(client.get("/admin/payers").text, claim["payer_id"]) == row  # nothing changed
    blank = client.post(f"/admin/payers/{found.group(1)}", data={
        "csrf_token": csrf, "payer_id": " ", "name": "UHC", "profile_id": "commercial"})
    assert blank.status_code == 422 and "2 to 80 letters and digits" in blank.text
