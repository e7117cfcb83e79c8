"""Every real public 837P and 835 (tests/formats/x12/fixtures/public, see its README) through the workspace: the
claims of an 837P become stored claims, line for line, or are reported by name; every CLP of an 835 is posted
against its claim or reported unmatched, and posting the same 835 twice changes nothing.

The expected claims come from the independent segment split of tests/formats/x12/test_public_fixtures.py (no code
shared with the readers), so a workspace that drops a claim cannot agree with it by construction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from cleanclaim.errors import InputError
from cleanclaim.formats.x12_835 import read_835
from cleanclaim.lifecycle import ClaimState, Role
from cleanclaim.store import models as m
from cleanclaim.store.claims import Actor
from cleanclaim.store.database import session_factory
from cleanclaim.store.intake import enter_encounters, read_encounter_file
from cleanclaim.store.posting import post_remittance
from cleanclaim.store.tenant import Tenant
from tests.api.conftest import bearer
from tests.formats.x12.test_public_fixtures import (
    FILES_835,
    FILES_837P,
    VALID_835,
    VALID_837P,
    _unread_are_reported,
    split,
)
from tests.web.conftest import Org, sign_in

PUBLIC_835 = Path(__file__).parents[1] / "formats" / "x12" / "fixtures" / "public" / "835"
_TABLES = (m.EncounterRecord, m.Claim, m.ClaimVersion, m.ClaimLine, m.AuditEvent, m.Remittance, m.RemittanceClaim)


def stored_claims(engine: Engine, org: Org) -> list[tuple[str, int]]:
    """(patient control number, number of lines) of the organisation's current claim versions, in id order."""
    with session_factory(engine)() as session:
        lines = (select(func.count()).select_from(m.ClaimLine)
                 .where(m.ClaimLine.claim_version_id == m.ClaimVersion.id).scalar_subquery())
        return [(pcn, count) for pcn, count in session.execute(
            select(m.ClaimVersion.patient_control_number, lines)
            .where(m.ClaimVersion.organisation_id == org.id, m.ClaimVersion.is_current.is_(True))
            .order_by(m.ClaimVersion.id))]


def row_counts(engine: Engine, org: Org) -> dict[str, int]:
    """Rows the organisation owns in every table an import or a posting writes."""
    with session_factory(engine)() as session:
        return {model.__tablename__: session.scalar(select(func.count()).select_from(model).where(
            model.organisation_id == org.id)) or 0 for model in _TABLES}


def _expected(path: Path) -> list[tuple[str, int]]:
    return [(claim.id, claim.lines) for claim in split(path, "CLM", "SV1").claims]


# ------------------------------------------------------------------------------------------------------ 837P


@pytest.mark.parametrize("path", FILES_837P, ids=lambda p: p.name)
def test_every_claim_of_a_public_837p_is_stored_or_named(path: Path, engine: Engine, org: Org) -> None:
    """Through the store services the pages and jobs call: read, store, and compare with the split."""
    expected = split(path, "CLM", "SV1")
    refused: InputError | None = None
    try:
        upload = read_encounter_file(path.name, path.read_bytes())
    except InputError as error:  # refused whole: only when the reader read no claim at all; nothing is stored
        refused = error
    if refused is not None:
        assert path.name not in VALID_837P, str(refused)
        assert path.name in str(refused)
        assert row_counts(engine, org)["claims"] == 0
        return
    read = [(e.claim_id or "", len(e.lines)) for e in upload.encounters]
    _unread_are_reported(expected.claims, [claim_id for claim_id, _ in read], upload.problems,
                         expected.transactions)
    with session_factory(engine)() as session:
        tenant = Tenant(session, org.id)
        duplicated = len({e.claim_id for e in upload.encounters}) < len(upload.encounters)
        if duplicated:  # a claim id twice in the file: the whole import is refused, naming it, nothing written
            with pytest.raises(InputError, match="more than once"):
                enter_encounters(tenant, Actor(org.user_id(Role.BILLER), Role.BILLER), upload.encounters)
            session.rollback()
            assert path.name not in VALID_837P
            assert row_counts(engine, org)["claims"] == 0
            return
        enter_encounters(tenant, Actor(org.user_id(Role.BILLER), Role.BILLER), upload.encounters)
        session.commit()
    assert stored_claims(engine, org) == read
    if path.name in VALID_837P:
        assert read == _expected(path) and upload.problems == []


THROUGH_THE_WEB = ("lfh__demo.837", "lfh__demo.cob.example3.A.837", "lfh__demo.drug.example10.2.837",
                   "imsweb__x12_writer_test.837", "imsweb__x12_complex.837", "lfh__demo.cob.2ndary.example4.837",
                   "mjkubba__edi837P-demo-005010X222.837", "imsweb__x12_bad_first_line.837")


@pytest.mark.parametrize("path", [p for p in FILES_837P if p.name in THROUGH_THE_WEB], ids=lambda p: p.name)
def test_a_public_837p_through_the_api_and_the_page(path: Path, client: TestClient, engine: Engine,
                                                    org: Org, other_org: Org) -> None:
    """The same file through POST /api/v1/encounters/import and the Encounters page: the same claims stored, the
    same problems reported, never a 5xx. (Valid files and each kind of broken one: every file goes through the
    store services above; each web request is slow on a loaded CI machine.)"""
    expected = _expected(path)
    response = client.post("/api/v1/encounters/import", headers=bearer(org),
                           files={"file": (path.name, path.read_bytes(), "application/octet-stream")})
    assert response.status_code in (201, 422), response.text
    if response.status_code == 422:
        assert path.name not in VALID_837P and path.name in response.json()["error"]["message"]
        assert stored_claims(engine, org) == []
    else:
        body: dict[str, Any] = response.json()
        stored = stored_claims(engine, org)
        assert [c["patient_control_number"] for c in body["claims"]] == [pcn for pcn, _ in stored]
        assert set(stored) <= set(expected)
        if path.name in VALID_837P:
            assert stored == expected and body["problems"] == []
        else:  # a claim not stored is named by a problem (its segment, or the envelope's)
            assert len(stored) == len(expected) or body["problems"]
    csrf = sign_in(client, other_org.email(Role.BILLER))
    page = client.post("/encounters/import", data={"csrf_token": csrf},
                       files={"file": (path.name, path.read_bytes(), "application/octet-stream")})
    assert page.status_code in (200, 303, 422), page.text[:500]
    assert stored_claims(engine, other_org) == stored_claims(engine, org)
    if page.status_code == 200:  # a partial import: the page says how many and lists the problems
        assert "imported and coded" in page.text and "problem(s) in" in page.text


def test_an_837p_whose_only_fault_is_its_se01_count_is_imported_with_the_count_reported(
        engine: Engine, org: Org) -> None:
    """imsweb x12_writer_test: one intact claim, SE01 says 25 for 31 segments. Readable-but-wrong: the claim is
    stored and the count is reported, where the all-or-nothing intake used to refuse the whole file."""
    path = next(p for p in FILES_837P if p.name == "imsweb__x12_writer_test.837")
    upload = read_encounter_file(path.name, path.read_bytes())
    assert [(e.claim_id, len(e.lines)) for e in upload.encounters] == _expected(path)
    assert [p.field for p in upload.problems] == ["SE01"]
    with session_factory(engine)() as session:
        enter_encounters(Tenant(session, org.id), Actor(org.user_id(Role.BILLER), Role.BILLER), upload.encounters)
        session.commit()
    assert stored_claims(engine, org) == _expected(path)


def test_an_x12_file_without_its_isa_is_named_as_such(client: TestClient, org: Org, engine: Engine) -> None:
    path = next(p for p in FILES_837P if p.name == "imsweb__x12_no_isa_line.837")
    csrf = sign_in(client, org.email(Role.BILLER))
    page = client.post("/encounters/import", data={"csrf_token": csrf},
                       files={"file": (path.name, path.read_bytes(), "text/plain")})
    assert page.status_code == 422
    assert "without its ISA segment" in page.text and path.name in page.text
    api = client.post("/api/v1/encounters/import", headers=bearer(org),
                      files={"file": (path.name, path.read_bytes(), "text/plain")})
    assert api.status_code == 422 and "without its ISA segment" in api.json()["error"]["message"]
    assert row_counts(engine, org)["claims"] == 0


# ------------------------------------------------------------------------------------------------------- 835


def _claims_for(engine: Engine, org: Org, numbers: list[str]) -> None:
    """Submitted claims with these patient control numbers (as if an 837P had gone out), one line each."""
    from cleanclaim.model import Encounter
    from tests.api.conftest import encounter_json

    with session_factory(engine)() as session:
        tenant = Tenant(session, org.id)
        intake = enter_encounters(tenant, Actor(org.user_id(Role.BILLER), Role.BILLER),
                                  [Encounter.model_validate(encounter_json(number)) for number in numbers])
        session.flush()
        session.execute(m.ClaimVersion.__table__.update()
                        .where(m.ClaimVersion.claim_id.in_([c.claim_id for c in intake.claims]))
                        .values(state=ClaimState.SUBMITTED.value))
        session.commit()


@pytest.mark.parametrize("path", FILES_835, ids=lambda p: p.name)
@pytest.mark.parametrize("with_claims", [True, False], ids=["matching-claims", "no-claims"])
def test_every_clp_of_a_public_835_is_posted_or_reported(path: Path, with_claims: bool, engine: Engine,
                                                        org: Org) -> None:
    expected = split(path, "CLP", "SVC")
    read = read_835(path)
    numbers = list(dict.fromkeys(c.patient_control_number for c in read.claims))
    if path.name in VALID_835:
        assert [c.patient_control_number for c in read.claims] == [c.id for c in expected.claims]
    if with_claims:
        _claims_for(engine, org, [n for n in numbers if n])
    before = row_counts(engine, org)
    text = path.read_text(encoding="utf-8")
    if not text.startswith("ISA"):  # the bare ST..SE sample: refused with its name, nothing written
        with session_factory(engine)() as session, pytest.raises(InputError, match=path.name):
            post_remittance(session, org.id, text, user_id=org.user_id(Role.BILLER), role=Role.BILLER,
                            file=path.name)
        assert row_counts(engine, org) == before
        return
    outcomes = []
    for _ in range(2):
        with session_factory(engine)() as session:
            result = post_remittance(session, org.id, text, user_id=org.user_id(Role.BILLER), role=Role.BILLER,
                                     file=path.name)
            session.commit()
        outcomes.append((result, row_counts(engine, org)))
    (first, after_first), (second, after_second) = outcomes
    # every CLP read is either posted (its claim's new state) or unposted with a reason: counted, not dropped
    accounted = sum(len(p.posted) + len(p.unposted) for p in first.payments if not p.already_posted)
    assert accounted == len(read.claims) or all(p.already_posted for p in first.payments)
    posted = {pcn for p in first.payments for pcn in p.posted}
    if with_claims:
        assert posted == {n for n in numbers if n}
    else:
        # the store keeps the payment with every CLP unmatched (the API and page refuse such a file, rolled back)
        assert posted == set()
        assert after_first["remittance_claims"] - before["remittance_claims"] == len(read.claims)
    assert after_second == after_first  # posting twice changes nothing
    assert all(p.already_posted for p in second.payments if p.posted or p.already_posted)


def test_an_835_repeating_a_patient_control_number_posts_on_the_page(client: TestClient, engine: Engine,
                                                                    org: Org) -> None:
    """edi835p emedny_sample: three CLPs with one patient control number. The first settles the claim; the later
    two used to raise TransitionError out of the posting (a 500 on this page, a 409 refusing the whole payment on
    the API). Now they are unmatched CLPs with their reason, and the payment is posted."""
    path = PUBLIC_835 / "edi835p__emedny_sample.835"
    _claims_for(engine, org, ["PATIENT ACCOUNT NUMBER"])
    csrf = sign_in(client, org.email(Role.BILLER))
    page = client.post("/remittances", data={"csrf_token": csrf},
                       files={"file": (path.name, path.read_bytes(), "text/plain")})
    assert page.status_code == 200, page.text[:500]
    assert "already left the claim" in page.text or "PATIENT ACCOUNT NUMBER" in page.text
    counts = row_counts(engine, org)
    assert counts["remittances"] == 1 and counts["remittance_claims"] == 3
