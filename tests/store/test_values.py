"""Money stays exact and timestamps stay UTC on both databases; what cannot be stored exactly is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from cleanclaim.store import models as m
from tests.store.conftest import Graph


def _line(graph: Graph, number: int, charge: object, units: object = 1) -> m.ClaimLine:
    return m.ClaimLine(
        organisation_id=graph.id,
        claim_version_id=graph.version.id,
        line_number=number,
        code="97110",
        units=units,
        charge=charge,
        service_date=graph.encounter.date_of_service,
    )


def test_money_round_trips_exactly(session: Session) -> None:
    graph = Graph(session)
    amounts = [Decimal("0.10") + Decimal("0.20"), Decimal("9999999999.99"), Decimal("0.01"), Decimal(7)]
    session.add_all(_line(graph, number, amount) for number, amount in enumerate(amounts, 1))
    session.commit()
    session.expunge_all()

    stored = session.scalars(
        select(m.ClaimLine.charge).where(m.ClaimLine.claim_version_id == graph.version.id).order_by("line_number")
    ).all()
    assert stored == [Decimal("0.30"), Decimal("9999999999.99"), Decimal("0.01"), Decimal("7.00")]
    assert all(isinstance(value, Decimal) for value in stored)
    assert [str(value) for value in stored] == ["0.30", "9999999999.99", "0.01", "7.00"]


def test_a_sum_in_the_database_is_exact(session: Session) -> None:
    graph = Graph(session)
    session.add_all([_line(graph, 1, Decimal("0.10")), _line(graph, 2, Decimal("0.20"))])
    session.commit()
    total = session.scalar(select(func.sum(m.ClaimLine.charge)).where(m.ClaimLine.claim_version_id == graph.version.id))
    assert total == Decimal("0.30")
    assert str(total) == "0.30"


@pytest.mark.parametrize(
    ("charge", "error"),
    [(0.3, TypeError), ("0.30", TypeError), (Decimal("0.305"), ValueError), (Decimal("1E10"), ValueError)],
)
def test_money_that_is_not_exact_is_refused(session: Session, charge: object, error: type[Exception]) -> None:
    graph = Graph(session)
    session.add(_line(graph, 1, charge))
    with pytest.raises(StatementError) as raised:
        session.flush()
    assert isinstance(raised.value.orig, error)
    session.rollback()


def test_timestamps_are_stored_and_read_as_utc(session: Session) -> None:
    graph = Graph(session)
    ahead = timezone(timedelta(hours=5, minutes=30))
    posted = datetime(2026, 3, 2, 9, 15, 30, 123456, tzinfo=ahead)
    session.add(
        m.Remittance(
            organisation_id=graph.id,
            trace_number="T1",
            payer_identifier="P",
            payment_amount=Decimal(0),
            file_text="",
            posted_at=posted,
        )
    )
    session.commit()
    session.expunge_all()
    read = session.scalar(select(m.Remittance.posted_at).where(m.Remittance.organisation_id == graph.id))
    assert read == posted
    assert read is not None and read.tzinfo is UTC
    assert read.hour == 3 and read.minute == 45


def test_a_naive_timestamp_is_refused(session: Session) -> None:
    graph = Graph(session)
    graph.version.created_at = datetime(2026, 3, 2, 9, 0)
    with pytest.raises(StatementError) as raised:
        session.flush()
    assert isinstance(raised.value.orig, ValueError)
    session.rollback()


def test_units_are_stored_as_billed_fractions_included(session: Session) -> None:
    # a claim with 1.5 units is readable but wrong (fractional-units reports it): the store keeps what was billed
    graph = Graph(session)
    units = [Decimal("1.5"), Decimal("0.125"), Decimal(9999), 0]
    session.add_all(_line(graph, n, Decimal("10.00"), u) for n, u in enumerate(units, 1))
    session.commit()
    session.expunge_all()
    stored = session.scalars(
        select(m.ClaimLine.units).where(m.ClaimLine.claim_version_id == graph.version.id).order_by("line_number")
    ).all()
    assert [str(value) for value in stored] == ["1.500", "0.125", "9999.000", "0.000"]


@pytest.mark.parametrize(("units", "error"), [(1.5, TypeError), (Decimal("1.0005"), ValueError),
                                              (Decimal(10000), ValueError)])
def test_units_that_cannot_be_stored_exactly_are_refused(session: Session, units: object,
                                                         error: type[Exception]) -> None:
    graph = Graph(session)
    session.add(_line(graph, 1, Decimal("10.00"), units))
    with pytest.raises(StatementError) as raised:
        session.flush()
    assert isinstance(raised.value.orig, error)
