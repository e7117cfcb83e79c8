"""The organisation's payers (store.payers): an admin adds one with a bundled profile and edits its name or profile;
everything else is refused with the field named, and every change is in the audit trail."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cleanclaim.errors import InputError
from cleanclaim.lifecycle import Role, TransitionError
from cleanclaim.store import models as m
from cleanclaim.store.claims import ConflictError, NotFoundError, import_encounters
from cleanclaim.store.database import session_factory
from cleanclaim.store.payers import add_payer, billed_encounters, edit_payer, organisation_payers, payer_profiles
from tests.store.services import Office, encounter


def test_the_bundled_profiles_are_offered() -> None:
    assert {"medicare", "commercial", "medicaid", "tricare"} <= set(payer_profiles())


def test_an_admin_adds_and_edits_a_payer_and_the_trail_keeps_both(session: Session) -> None:
    office = Office(session)
    admin = office.actor(Role.ADMIN)
    payer = add_payer(office.tenant, admin, payer_id=" 87726 ", name="United  Healthcare", profile_id="Commercial")
    edit_payer(office.tenant, admin, payer.id, name="UHC Community Plan", profile_id="medicaid")
    session.commit()
    assert [(p.payer_id, p.name, p.profile_id) for p in organisation_payers(office.tenant)] == [
        ("87726", "UHC Community Plan", "medicaid")]
    events = session.scalars(select(m.AuditEvent).where(m.AuditEvent.organisation_id == office.organisation.id,
                                                        m.AuditEvent.entity == "payer").order_by(m.AuditEvent.id))
    trail = [(e.action, (e.before or {}).get("profile_id"), (e.after or {}).get("profile_id")) for e in events]
    assert trail == [("create", None, "commercial"), ("edit", "commercial", "medicaid")]


def test_an_imported_payer_is_listed_and_its_id_cannot_be_added_twice(session: Session) -> None:
    office = Office(session)
    import_encounters(office.tenant, office.biller, [encounter("PAY-1")])  # payer_id of the X12 tests' encounter
    (imported,) = organisation_payers(office.tenant)
    with pytest.raises(InputError, match="already one of this organisation's payers") as raised:
        add_payer(office.tenant, office.actor(Role.ADMIN), payer_id=imported.payer_id, name="Again",
                  profile_id="medicare")
    assert raised.value.field == "payer_id"


@pytest.mark.parametrize(("fields", "field"), [
    ({"payer_id": "1", "name": "X", "profile_id": "medicare"}, "payer_id"),
    ({"payer_id": "12 345", "name": "X", "profile_id": "medicare"}, "payer_id"),
    ({"payer_id": "12345", "name": "  ", "profile_id": "medicare"}, "name"),
    ({"payer_id": "12345", "name": "N" * 61, "profile_id": "medicare"}, "name"),
    ({"payer_id": "12345", "name": "X", "profile_id": "aetna-gold"}, "profile_id"),
])
def test_a_wrong_field_is_named_and_nothing_is_added(session: Session, fields: dict[str, str], field: str) -> None:
    office = Office(session)
    with pytest.raises(InputError) as raised:
        add_payer(office.tenant, office.actor(Role.ADMIN), **fields)
    assert raised.value.field == field
    assert organisation_payers(office.tenant) == []


@pytest.mark.parametrize("role", [Role.BILLER, Role.CLINICIAN, Role.AUDITOR])
def test_only_an_admin_changes_payers(session: Session, role: Role) -> None:
    office = Office(session)
    payer = add_payer(office.tenant, office.actor(Role.ADMIN), payer_id="12345", name="Medicare",
                      profile_id="medicare")
    with pytest.raises(TransitionError, match="that is for: admin"):
        add_payer(office.tenant, office.actor(role), payer_id="99999", name="X", profile_id="medicare")
    with pytest.raises(TransitionError, match="that is for: admin"):
        edit_payer(office.tenant, office.actor(role), payer.id, name="Y", profile_id="commercial")


def test_another_organisations_payer_is_not_found(session: Session) -> None:
    with session_factory(session.get_bind())() as elsewhere:  # type: ignore[arg-type]
        other = Office(elsewhere)
        theirs = add_payer(other.tenant, other.actor(Role.ADMIN), payer_id="55555", name="Theirs",
                           profile_id="medicare")
        elsewhere.commit()
        theirs_id = theirs.id
    office = Office(session)
    with pytest.raises(NotFoundError):
        edit_payer(office.tenant, office.actor(Role.ADMIN), theirs_id, name="Mine now", profile_id="commercial")


def _trail(session: Session, office: Office) -> list[tuple[str, object, object]]:
    events = session.scalars(select(m.AuditEvent).where(m.AuditEvent.organisation_id == office.organisation.id,
                                                        m.AuditEvent.entity == "payer").order_by(m.AuditEvent.id))
    return [(e.action, (e.before or {}).get("payer_id"), (e.after or {}).get("payer_id")) for e in events]


def test_an_unbilled_payers_id_is_corrected_and_the_trail_keeps_both(session: Session) -> None:
    office = Office(session)
    admin = office.actor(Role.ADMIN)
    payer = add_payer(office.tenant, admin, payer_id="87762", name="UHC", profile_id="commercial")
    assert billed_encounters(office.tenant) == {}
    edit_payer(office.tenant, admin, payer.id, payer_id=" 87726 ", name="UHC", profile_id="commercial")
    assert [p.payer_id for p in organisation_payers(office.tenant)] == ["87726"]
    assert _trail(session, office) == [("create", None, "87762"), ("edit", "87762", "87726")]


def test_a_billed_payers_id_is_refused_naming_its_claims_but_its_name_changes(session: Session) -> None:
    office = Office(session)
    admin = office.actor(Role.ADMIN)
    import_encounters(office.tenant, office.biller, [encounter(f"PAY-{n}") for n in range(7)])
    (payer,) = organisation_payers(office.tenant)
    billed_id = payer.payer_id
    assert billed_encounters(office.tenant) == {payer.id: 7}
    with pytest.raises(ConflictError) as refused:
        edit_payer(office.tenant, admin, payer.id, payer_id="NEWID99", name=payer.name, profile_id="medicare")
    message = str(refused.value)
    # five claims named, then how many more: the admin can find them; the way out is said
    assert "PAY-0, PAY-1, PAY-2, PAY-3, PAY-4 and 2 more" in message and "add the new id as a payer" in message
    assert payer.payer_id == billed_id
    assert _trail(session, office) == []
    # the same id (as the form sends it back) with a new name is an ordinary edit
    edit_payer(office.tenant, admin, payer.id, payer_id=billed_id, name="Medicare Part B", profile_id="medicare")
    assert (payer.payer_id, payer.name) == (billed_id, "Medicare Part B")


def test_a_payers_id_cannot_become_another_payers_id(session: Session) -> None:
    office = Office(session)
    admin = office.actor(Role.ADMIN)
    add_payer(office.tenant, admin, payer_id="87726", name="UHC", profile_id="commercial")
    aetna = add_payer(office.tenant, admin, payer_id="60054", name="Aetna", profile_id="commercial")
    with pytest.raises(InputError, match="already one of this organisation's payers") as raised:
        edit_payer(office.tenant, admin, aetna.id, payer_id="87726", name="Aetna", profile_id="commercial")
    assert raised.value.field == "payer_id"
    assert sorted(p.payer_id for p in organisation_payers(office.tenant)) == ["60054", "87726"]
