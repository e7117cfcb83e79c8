"""The organisation's charge master (store.charges) and the coder putting it on every line it makes in the workspace,
on SQLite and PostgreSQL. Expected charges are worked by hand from the CSVs below and the CMS 8-minute rule."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cleanclaim.errors import InputError
from cleanclaim.lifecycle import Role, TransitionError
from cleanclaim.model import Encounter
from cleanclaim.store import models as m
from cleanclaim.store.charges import charge_master_entries, organisation_charge_master, replace_charge_master
from cleanclaim.store.claim_files import claim_file
from cleanclaim.store.claims import code_claim, current_version, import_encounters
from cleanclaim.store.database import session_factory
from cleanclaim.store.intake import enter_encounters
from cleanclaim.store.jobs import start_import_job
from cleanclaim.store.queries import claim_detail
from tests.store.services import Office, encounter

CSV = b"code,charge,modifier\n97535,48\n97116,46\n97110,44\n97110,50.00,GP\n# a comment\n"


def visit(claim_id: str) -> Encounter:
    """The PT visit of examples/pt-visit-97535.yaml: 97535 23 min, 97116 12 min, 97110 18 min, no billed lines."""
    services = [{"code": "97535", "minutes": 23}, {"code": "97116", "minutes": 12}, {"code": "97110", "minutes": 18}]
    return encounter(claim_id, lines=None, total_charge=None, services=services)


def test_replace_stores_the_csv_and_the_coder_mapping(session: Session) -> None:
    office = Office(session)
    change = replace_charge_master(office.tenant, office.actor(Role.ADMIN), CSV, source="charges.csv")
    session.commit()
    assert (change.entries, sorted(change.added), change.changed, change.removed) == (
        4, ["97110", "97110-GP", "97116", "97535"], [], [])
    assert organisation_charge_master(office.tenant) == {
        ("97535", ""): Decimal("48.00"), ("97116", ""): Decimal("46.00"), ("97110", ""): Decimal("44.00"),
        ("97110", "GP"): Decimal("50.00")}
    entries = charge_master_entries(office.tenant)
    assert [(e.code, e.modifier) for e in entries] == [("97110", ""), ("97110", "GP"), ("97116", ""), ("97535", "")]
    assert {e.updated_by_id for e in entries} == {office.users[Role.ADMIN].id}
    events = session.scalars(select(m.AuditEvent).where(m.AuditEvent.organisation_id == office.organisation.id,
                                                        m.AuditEvent.entity == "charge_master")).all()
    assert len(events) == 1 and events[0].after is not None
    assert events[0].after["charges"] == {"97535": "48.00", "97116": "46.00", "97110": "44.00", "97110-GP": "50.00"}


def test_a_second_file_adds_changes_and_removes_with_the_old_values_in_the_trail(session: Session) -> None:
    office = Office(session)
    admin = office.actor(Role.ADMIN)
    replace_charge_master(office.tenant, admin, CSV, source="v1.csv")
    change = replace_charge_master(office.tenant, admin, "97535,52\n97110,44\n97530,45\n", source="v2.csv")
    session.commit()
    assert (change.added, change.changed, sorted(change.removed), change.unchanged) == (
        ["97530"], ["97535"], ["97110-GP", "97116"], 1)
    assert organisation_charge_master(office.tenant) == {
        ("97535", ""): Decimal("52.00"), ("97110", ""): Decimal("44.00"), ("97530", ""): Decimal("45.00")}
    last = session.scalars(select(m.AuditEvent).where(m.AuditEvent.organisation_id == office.organisation.id,
                                                      m.AuditEvent.entity == "charge_master")
                           .order_by(m.AuditEvent.id.desc())).first()
    assert last is not None and last.before == {"97535": "48.00", "97110-GP": "50.00", "97116": "46.00"}
    assert last.after is not None and last.after["removed"] == ["97110-GP", "97116"]


@pytest.mark.parametrize(("content", "row", "expected"), [
    (b"code,charge\n97110,44\n97116,abc\n", 3, "is not an amount"),
    (b"97110,44\n97110,-1\n", 2, "is negative"),
    (b"97110,44\n971100,45\n", 2, "5-character"),
    (b"97110,44\n97116,45,GPX\n", 2, "2-character modifier"),
    (b"97110,44.125\n", 1, "at most two decimals"),
    (b"97110,44\n97116,45\n97110,46\n", 3, "already on row 1"),
    (b"97110\n", 1, "expected code,charge"),
])
def test_a_bad_row_is_named_and_nothing_changes(session: Session, content: bytes, row: int, expected: str) -> None:
    office = Office(session)
    admin = office.actor(Role.ADMIN)
    replace_charge_master(office.tenant, admin, CSV, source="good.csv")
    with pytest.raises(InputError) as raised:
        replace_charge_master(office.tenant, admin, content, source="bad.csv")
    assert raised.value.file == "bad.csv" and raised.value.row == row
    assert expected in str(raised.value) and str(raised.value).startswith(f"bad.csv, row {row}:")
    session.commit()
    assert len(organisation_charge_master(office.tenant)) == 4  # the good file's entries, untouched


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "the file is empty"), (b"code,charge\n# nothing\n", "no charge rows"), (b"\x00\x01", "NUL bytes"),
    (b"\xff\xfe9", "not UTF-8"),
])
def test_an_unusable_file_is_refused_whole(session: Session, content: bytes, expected: str) -> None:
    office = Office(session)
    with pytest.raises(InputError, match=expected):
        replace_charge_master(office.tenant, office.actor(Role.ADMIN), content, source="x.csv")
    assert organisation_charge_master(office.tenant) == {}


@pytest.mark.parametrize("role", [Role.BILLER, Role.CLINICIAN, Role.AUDITOR])
def test_only_an_admin_changes_the_charge_master(session: Session, role: Role) -> None:
    office = Office(session)
    with pytest.raises(TransitionError, match="that is for: admin"):
        replace_charge_master(office.tenant, office.actor(role), CSV, source="charges.csv")
    assert organisation_charge_master(office.tenant) == {}


def test_coding_puts_the_organisations_charges_on_the_lines(session: Session) -> None:
    with session_factory(session.get_bind())() as elsewhere:  # type: ignore[arg-type]
        other = Office(elsewhere)  # another organisation's charge master never prices this one's lines
        replace_charge_master(other.tenant, other.actor(Role.ADMIN), b"97535,999\n97116,999\n97110,999\n",
                              source="o.csv")
        elsewhere.commit()
    office = Office(session)
    replace_charge_master(office.tenant, office.actor(Role.ADMIN), CSV, source="charges.csv")
    (item,) = import_encounters(office.tenant, office.biller, [visit("CM-1")])
    version = code_claim(office.tenant, office.biller, item.claim_id)
    session.commit()
    # 53 timed minutes -> 4 units: 97535 (23 min) 2, 97116 (12) 1, 97110 (18) 1; 97110 carries GP -> the GP row
    assert [(line.code, line.units, line.charge) for line in version.lines] == [
        ("97535", Decimal(2), Decimal("96.00")), ("97116", Decimal(1), Decimal("46.00")),
        ("97110", Decimal(1), Decimal("50.00"))]
    assert version.total_charge == Decimal("192.00")
    assert all(line.charge_given for line in claim_detail(office.tenant, item.claim_id).current.lines)  # type: ignore[union-attr]
    assert b"CLM*CM-1*192*" in claim_file(office.tenant, item.claim_id, "837p").content


def test_a_code_without_an_entry_has_no_charge_and_the_837p_says_so(session: Session) -> None:
    office = Office(session)
    replace_charge_master(office.tenant, office.actor(Role.ADMIN), b"97535,48\n97110,44\n", source="c.csv")
    intake = enter_encounters(office.tenant, office.biller, [visit("CM-2")])
    session.commit()
    claim_id = intake.claims[0].claim_id
    version = current_version(office.tenant, claim_id)
    assert [(line.code, line.charge) for line in version.lines] == [
        ("97535", Decimal("96.00")), ("97116", Decimal("0.00")), ("97110", Decimal("44.00"))]
    detail = claim_detail(office.tenant, claim_id)
    assert detail is not None
    assert [line.charge_given for line in detail.current.lines] == [True, False, True]
    with pytest.raises(InputError, match=r"lines\[2\]\.charge"):
        claim_file(office.tenant, claim_id, "837p")


def test_a_large_import_job_codes_with_the_charge_master(session: Session) -> None:
    office = Office(session)
    replace_charge_master(office.tenant, office.actor(Role.ADMIN), CSV, source="charges.csv")
    session.commit()
    factory = session_factory(session.get_bind())  # type: ignore[arg-type]
    job_id = start_import_job(factory, office.organisation.id, office.biller, [visit("JOB-1"), visit("JOB-2")],
                              wait=True)
    with factory() as fresh:
        job = fresh.get(m.Job, job_id)
        assert job is not None and job.state == "done", job.message if job else None
        totals = fresh.scalars(select(m.ClaimVersion.total_charge).where(
            m.ClaimVersion.organisation_id == office.organisation.id)).all()
    assert totals == [Decimal("192.00"), Decimal("192.00")]
