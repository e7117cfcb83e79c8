"""The database, not only the application, refuses the rows that would corrupt billing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cleanclaim.store import models as m
from tests.store.conftest import Graph, unique, version


def _refused(session: Session, *rows: object) -> None:
    session.add_all(rows)
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def _remittance(organisation_id: int, trace: str, payer: str = "1512345678") -> m.Remittance:
    return m.Remittance(
        organisation_id=organisation_id,
        trace_number=trace,
        payer_identifier=payer,
        payment_amount=Decimal("58.10"),
        file_text="ISA*...~",
    )


def test_remittance_trace_is_unique_per_organisation_and_payer(session: Session) -> None:
    a, b = Graph(session), Graph(session)
    session.add_all([_remittance(a.id, "EFT1"), _remittance(b.id, "EFT1"), _remittance(a.id, "EFT1", "999")])
    session.commit()  # same trace: another organisation, or another payer, is another payment

    _refused(session, _remittance(a.id, "EFT1"))  # the same 835 posted twice
    assert session.scalar(select(m.Remittance.id).where(m.Remittance.organisation_id == a.id).limit(1)) is not None


def test_patient_control_number_is_unique_among_current_versions(session: Session) -> None:
    a, b = Graph(session, pcn="CLM-7"), Graph(session, pcn="CLM-7")  # another organisation may reuse it
    session.commit()
    other_claim = m.Claim(organisation_id=a.id, encounter_id=a.encounter.id)
    session.add(other_claim)
    session.commit()

    with pytest.raises(IntegrityError):
        version(session, other_claim, "CLM-7")
    session.rollback()

    # a correction: the old version stops being current and is kept; the new one (frequency 7) reuses the number
    a.version.is_current = False
    a.version.state = "corrected"
    session.flush()
    corrected = version(session, a.claim, "CLM-7", number=2, frequency="7")
    session.commit()
    kept = session.scalars(select(m.ClaimVersion).where(m.ClaimVersion.claim_id == a.claim.id)).all()
    history = sorted((row.version, row.frequency_code, row.is_current) for row in kept)
    assert history == [(1, "1", False), (2, "7", True)]
    assert corrected.patient_control_number == b.version.patient_control_number


def test_a_claim_has_one_current_version(session: Session) -> None:
    a = Graph(session)
    session.commit()
    with pytest.raises(IntegrityError):
        version(session, a.claim, "CLM-OTHER", number=2, frequency="7")  # the first one is still current
    session.rollback()


@pytest.mark.parametrize(("number", "frequency"), [(1, "7"), (2, "1"), (1, "9")])
def test_frequency_code_follows_the_version(session: Session, number: int, frequency: str) -> None:
    a = Graph(session)
    fresh = m.Claim(organisation_id=a.id, encounter_id=a.encounter.id)  # no version yet: only the check can refuse
    session.add(fresh)
    session.commit()
    with pytest.raises(IntegrityError, match="frequency"):
        version(session, fresh, unique("CLM"), number=number, frequency=frequency)
    session.rollback()


def test_every_lifecycle_state_is_accepted(session: Session) -> None:
    """CHECK constraints are invisible to autogenerate: a lifecycle state added without a migration fails here."""
    a = Graph(session)
    session.commit()
    for state in m.CLAIM_STATES:
        a.version.state = state
        session.flush()
    session.rollback()


def test_claim_state_is_one_of_the_lifecycle_states(session: Session) -> None:
    a = Graph(session)
    session.commit()
    a.version.state = "approved"
    with pytest.raises(IntegrityError, match="state_allowed"):
        session.flush()
    session.rollback()


def test_user_email_is_unique_across_organisations_and_lower_case(session: Session) -> None:
    a, b = Graph(session), Graph(session)
    session.commit()
    _refused(session, m.User(organisation_id=b.id, email=a.user.email, password_hash="x", role="admin"))
    _refused(session, m.User(organisation_id=b.id, email=a.user.email.upper(), password_hash="x", role="admin"))
    _refused(session, m.User(organisation_id=b.id, email=f"{unique('x')}@e.test", password_hash="x", role="owner"))


def test_a_row_cannot_point_into_another_organisation(session: Session) -> None:
    a, b = Graph(session), Graph(session)
    session.commit()
    line = m.ClaimLine(
        organisation_id=b.id,
        claim_version_id=a.version.id,  # A's claim version, written as B's line
        line_number=1,
        code="97110",
        units=2,
        charge=Decimal("90.00"),
        service_date=a.encounter.date_of_service,
    )
    _refused(session, line)


def test_an_override_needs_who_why_and_when(session: Session) -> None:
    a = Graph(session)
    run = m.ScrubRun(organisation_id=a.id, claim_version_id=a.version.id, as_of=a.encounter.date_of_service)
    session.add(run)
    session.commit()
    finding = m.FindingRecord(
        organisation_id=a.id,
        scrub_run_id=run.id,
        rule="missing-kx",
        rule_id="CC999",
        severity="error",
        message="m",
        fix="f",
        overridden_by_id=a.user.id,
        override_reason="KX documented: therapy above the threshold is medically necessary",
        overridden_at=a.organisation.created_at,
    )
    session.add(finding)
    session.commit()  # a complete override is accepted

    for incomplete in ({"override_reason": "  "}, {"override_reason": None}, {"overridden_at": None}):
        for name, value in incomplete.items():
            setattr(finding, name, value)
        with pytest.raises(IntegrityError, match="override_complete"):
            session.flush()
        session.rollback()
