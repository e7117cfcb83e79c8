"""Tenant scoping: a session bound to organisation A never reads, changes or writes organisation B's rows."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import aliased

from cleanclaim.store import models as m
from cleanclaim.store.database import session_factory
from cleanclaim.store.tenant import CrossTenantWriteError, Tenant
from tests.store.conftest import Graph


@pytest.fixture
def two(engine: Engine) -> tuple[Graph, Graph]:
    with session_factory(engine)() as setup:
        a, b = Graph(setup), Graph(setup)
        setup.commit()
    return a, b


def test_get_returns_none_for_another_organisations_row(engine: Engine, two: tuple[Graph, Graph]) -> None:
    a, b = two
    with session_factory(engine)() as session:
        tenant = Tenant(session, a.id)
        mine = tenant.get(m.Claim, a.claim.id)
        assert mine is not None and mine.organisation_id == a.id
        assert tenant.get(m.Claim, b.claim.id) is None
        assert tenant.get(m.ClaimVersion, b.version.id) is None
        assert tenant.get(m.User, b.user.id) is None
        assert session.get(m.Claim, b.claim.id) is None  # the session's guard, not only Tenant.get


def test_every_select_on_a_bound_session_is_filtered(engine: Engine, two: tuple[Graph, Graph]) -> None:
    a, b = two
    with session_factory(engine)() as session:
        tenant = Tenant(session, a.id)
        organisations = {row.organisation_id for row in session.scalars(select(m.ClaimVersion))}
        assert organisations == {a.id}
        assert session.scalars(tenant.select(m.Patient)).one().id == a.patient.id
        # a query written without the helper, with a join and an alias, is filtered too
        other = aliased(m.ClaimVersion)
        joined = session.scalars(select(m.Claim).join(other, other.claim_id == m.Claim.id)).all()
        assert [claim.id for claim in joined] == [a.claim.id]
        assert session.scalar(select(func.count()).select_from(m.Claim)) == 1
        assert session.scalar(select(m.Claim.id).where(m.Claim.id == b.claim.id)) is None

    with session_factory(engine)() as unbound:  # the same query without a tenant sees both
        ids = set(unbound.scalars(select(m.Claim.id).where(m.Claim.id.in_([a.claim.id, b.claim.id]))))
        assert ids == {a.claim.id, b.claim.id}


def test_a_bulk_update_cannot_reach_another_organisation(engine: Engine, two: tuple[Graph, Graph]) -> None:
    a, b = two
    with session_factory(engine)() as session:
        Tenant(session, a.id)
        session.execute(
            update(m.ClaimVersion)
            .where(m.ClaimVersion.id.in_([a.version.id, b.version.id]))
            .values(state="coded")
            .execution_options(synchronize_session=False)
        )
        session.commit()
    with session_factory(engine)() as check:
        assert check.get(m.ClaimVersion, a.version.id).state == "coded"  # type: ignore[union-attr]
        assert check.get(m.ClaimVersion, b.version.id).state == "draft"  # type: ignore[union-attr]


def test_writing_another_organisations_row_is_refused(engine: Engine, two: tuple[Graph, Graph]) -> None:
    a, b = two
    with session_factory(engine)() as session:
        tenant = Tenant(session, a.id)
        added = tenant.add(m.Payer(profile_id="commercial", name="Acme", payer_id="ACME1"))
        assert added.organisation_id == a.id
        with pytest.raises(CrossTenantWriteError):
            tenant.add(m.Payer(organisation_id=b.id, profile_id="commercial", name="Acme", payer_id="ACME2"))
        session.add(m.Payer(organisation_id=b.id, profile_id="commercial", name="Acme", payer_id="ACME3"))
        with pytest.raises(CrossTenantWriteError):
            session.flush()
        session.rollback()
        with pytest.raises(CrossTenantWriteError):
            Tenant(session, b.id)  # a session serves one organisation


def test_a_new_row_without_organisation_is_stamped_on_flush(engine: Engine, two: tuple[Graph, Graph]) -> None:
    a, _ = two
    with session_factory(engine)() as session:
        Tenant(session, a.id)
        payer = m.Payer(profile_id="commercial", name="Acme", payer_id="ACME4")
        session.add(payer)
        session.flush()
        assert payer.organisation_id == a.id
        session.rollback()


def test_money_in_a_scoped_row_stays_decimal(engine: Engine, two: tuple[Graph, Graph]) -> None:
    a, _ = two
    with session_factory(engine)() as session:
        version = Tenant(session, a.id).get(m.ClaimVersion, a.version.id)
        assert version is not None and version.total_charge == Decimal("90.00")


def test_a_session_holding_another_organisations_rows_cannot_be_bound(engine: Engine, two: tuple[Graph, Graph]) -> None:
    a, b = two
    with session_factory(engine)() as session:
        foreign = session.get(m.Claim, b.claim.id)  # loaded unbound and held: in the identity map
        assert foreign is not None
        with pytest.raises(CrossTenantWriteError):
            Tenant(session, a.id)
        assert session.get(m.Claim, b.claim.id) is foreign  # why: get() would have answered without SQL


@pytest.mark.filterwarnings("error")
def test_children_added_through_relationships_take_the_parents_organisation(
    engine: Engine, two: tuple[Graph, Graph]
) -> None:
    a, _ = two
    with session_factory(engine)() as session:
        tenant = Tenant(session, a.id)
        version = tenant.get(m.ClaimVersion, a.version.id)
        assert version is not None
        version.lines.append(
            m.ClaimLine(
                line_number=1, code="97110", units=2, charge=Decimal("90.00"), service_date=a.encounter.date_of_service
            )
        )
        remittance = tenant.add(
            m.Remittance(trace_number="EFT9", payer_identifier="P", payment_amount=Decimal("58.10"), file_text="")
        )
        remitted = m.RemittanceClaim(
            patient_control_number=version.patient_control_number,
            status_code="1",
            charge=Decimal("90.00"),
            paid=Decimal("58.10"),
            claim_version_id=version.id,
        )
        remittance.claims.append(remitted)
        remitted.lines.append(m.RemittanceLine(code="97110", charge=Decimal("90.00"), paid=Decimal("58.10")))
        remitted.adjustments.append(m.RemittanceAdjustment(group_code="CO", carc="45", amount=Decimal("31.90")))
        session.commit()
        ids = (version.lines[0].id, remitted.id, remitted.lines[0].id, remitted.adjustments[0].id)

    with session_factory(engine)() as check:
        rows = [
            check.get(m.ClaimLine, ids[0]),
            check.get(m.RemittanceClaim, ids[1]),
            check.get(m.RemittanceLine, ids[2]),
            check.get(m.RemittanceAdjustment, ids[3]),
        ]
        assert [row.organisation_id for row in rows if row is not None] == [a.id] * 4
