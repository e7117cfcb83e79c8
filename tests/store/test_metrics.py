"""Dashboard figures on a practice built claim by claim; every expected figure is worked out by hand in the comments
from the claims as built, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from cleanclaim.store.database import session_factory
from cleanclaim.store.metrics import Dashboard, dashboard
from cleanclaim.store.tenant import Tenant
from tests.store.practice import Made, Practice, at

AS_OF = date(2026, 6, 30)
ERROR, WARNING = ("deleted-code", "error", False), ("progress-report-due", "warning", False)
OVERRIDDEN = ("deleted-code", "error", True)


@dataclass
class Books:
    a: int
    b: int


@pytest.fixture
def books(engine: Engine) -> Iterator[Books]:
    with session_factory(engine)() as session:
        p = Practice(session)
        isa = iter(f"{n:09d}" for n in range(1, 100))

        def claim(pcn: str, state: str, dos: date, charge: str, *, provider: int = 0,
                  scrubs: tuple[tuple[date, tuple[tuple[str, str, bool], ...]], ...] = (),
                  submitted: date | None = None) -> Made:
            made = p.claim(pcn, state=state, dos=dos, charges=(charge,), provider=provider)
            for ran, findings in scrubs:
                p.scrub(made.version, findings, ran_at=at(ran))
            if submitted is not None:
                p.submit(made, on=submitted, isa13=next(isa))
            return made

        # C1 clean (a warning only); submitted 04-05 (4 days after service); 100.00 owed, 86 days old
        claim("C1", "submitted", date(2026, 4, 1), "100.00", scrubs=((date(2026, 4, 2), (WARNING,)),),
              submitted=date(2026, 4, 5))
        # C2 first scrub had an overridden error (manual intervention: not clean); 10 days to submit; partly paid:
        # 200 - 120 paid - 30 CO-45 - 10 PR-2 = 40.00 still owed (the CO-97 denial), 71 days old
        c2 = claim("C2", "partially_paid", date(2026, 4, 10), "200.00",
                   scrubs=((date(2026, 4, 11), (OVERRIDDEN,)), (date(2026, 4, 12), ())), submitted=date(2026, 4, 20))
        p.remit(c2, trace="T2", paid="120.00", posted=date(2026, 5, 10),
                adjustments=(("CO", "45", "30.00", ()), ("PR", "2", "10.00", ()), ("CO", "97", "40.00", ())))
        # C3 first scrub had an error; 2 days; denied CO-16 90.00 (provider 2): denied is not aged A/R
        c3 = claim("C3", "denied", date(2026, 5, 1), "90.00", provider=1,
                   scrubs=((date(2026, 5, 2), (ERROR,)),), submitted=date(2026, 5, 3))
        p.remit(c3, trace="T3", paid="0.00", status="4", posted=date(2026, 5, 20),
                adjustments=(("CO", "16", "90.00", ("MA130",)),))
        # C4 clean; 5 days; 50.00 owed, 5 days old
        claim("C4", "submitted", date(2026, 6, 20), "50.00", scrubs=((date(2026, 6, 21), ()),),
              submitted=date(2026, 6, 25))
        # C5 clean; 5 days; appealed after CO-50 80.00 on 02-01 (provider 2): 80.00 owed, 171 days old.
        # A second denial posted after as_of (07-10) is not counted.
        c5 = claim("C5", "appealed", date(2026, 1, 5), "80.00", provider=1, scrubs=((date(2026, 1, 6), ()),),
                   submitted=date(2026, 1, 10))
        p.remit(c5, trace="T5", paid="0.00", posted=date(2026, 2, 1),
                adjustments=(("CO", "50", "80.00", ()),))
        p.remit(c5, trace="T5b", paid="0.00", posted=date(2026, 7, 10),
                adjustments=(("CO", "50", "5.00", ()),))
        # C6 scrubbed with a standing error: not clean, 75.00 at risk
        claim("C6", "scrubbed", date(2026, 6, 1), "75.00", scrubs=((date(2026, 6, 2), (ERROR,)),))
        # C7 ready after an override: not clean, not at risk
        claim("C7", "ready", date(2026, 6, 1), "60.00", scrubs=((date(2026, 6, 3), (OVERRIDDEN,)),))
        # C8 first scrubbed after as_of: not in the clean-claim rate
        claim("C8", "scrubbed", date(2026, 6, 29), "40.00", scrubs=((date(2026, 7, 5), ()),))
        # C9 clean; submitted after as_of: not in days to submission, not aged
        claim("C9", "submitted", date(2026, 6, 27), "30.00", scrubs=((date(2026, 6, 28), ()),),
              submitted=date(2026, 7, 2))
        # C10 clean; 2 days; paid in full (a $0.00 CO-97 denies nothing)
        c10 = claim("C10", "paid", date(2026, 3, 1), "100.00", scrubs=((date(2026, 3, 2), ()),),
                    submitted=date(2026, 3, 3))
        p.remit(c10, trace="T10", paid="100.00", posted=date(2026, 3, 20),
                adjustments=(("CO", "97", "0.00", ()),))
        # C11 a draft: nowhere
        claim("C11", "draft", date(2026, 6, 1), "500.00")
        # C12 and C13: clean; 6 and 5 days; 30 and 31 days old on the bucket edge
        claim("C12", "submitted", date(2026, 5, 25), "10.00", scrubs=((date(2026, 5, 26), ()),),
              submitted=date(2026, 5, 31))
        claim("C13", "submitted", date(2026, 5, 25), "20.00", scrubs=((date(2026, 5, 26), ()),),
              submitted=date(2026, 5, 30))
        # C14: its latest scrub is clean (not at risk); C15: its latest scrub has an error (25.00 at risk); both
        # first scrubbed after as_of
        claim("C14", "scrubbed", date(2026, 6, 29), "35.00",
              scrubs=((date(2026, 7, 1), (ERROR,)), (date(2026, 7, 2), ())))
        claim("C15", "scrubbed", date(2026, 6, 29), "25.00",
              scrubs=((date(2026, 7, 3), ()), (date(2026, 7, 4), (ERROR,))))
        # follow-ups: due on as_of, overdue, due later, no due date, resolved
        p.task(c3, "16", due=date(2026, 6, 30))
        p.task(c5, "50", due=date(2026, 6, 15))
        p.task(c2, "97", due=date(2026, 7, 15))
        p.task(c3, "16")
        p.task(c5, "50", due=date(2026, 6, 1), resolved=True)

        other = Practice(session, "Other")
        o1 = other.claim("O1", state="submitted", dos=date(2026, 6, 1), charges=("999.00",),
                         scrubs=((("deleted-code", "error", False),),))
        other.submit(o1, on=date(2026, 6, 2), isa13="000000001")
        other.remit(o1, trace="TO", paid="0.00", posted=date(2026, 6, 10), adjustments=(("CO", "16", "999.00", ()),))
        session.commit()
        yield Books(p.id, other.id)


def _dashboard(engine: Engine, organisation: int, since: date | None = None) -> Dashboard:
    with session_factory(engine)() as session:
        return dashboard(Tenant(session, organisation), AS_OF, since)


def test_clean_claim_rate_counts_first_scrubs_in_the_period(engine: Engine, books: Books) -> None:
    figures = _dashboard(engine, books.a)
    # first scrubs on or before 06-30: C1 C2 C3 C4 C5 C6 C7 C9 C10 C12 C13 = 11; clean: C1 C4 C5 C9 C10 C12 C13 = 7
    assert (figures.clean_claim_rate.claims, figures.clean_claim_rate.clean) == (11, 7)
    assert figures.clean_claim_rate.rate == Decimal("0.6364")  # 7/11 = 0.63636...
    since = _dashboard(engine, books.a, since=date(2026, 3, 1)).clean_claim_rate
    assert (since.claims, since.clean, since.rate) == (10, 6, Decimal("0.6000"))  # without C5 (scrubbed 01-06)


def test_days_from_service_to_first_submission(engine: Engine, books: Books) -> None:
    days = _dashboard(engine, books.a).days_to_submission
    # C1 4, C2 10, C3 2, C4 5, C5 5, C10 2, C12 6, C13 5 -> sorted 2 2 4 5 5 5 6 10: median 5, mean 39/8 = 4.875
    assert (days.claims, days.median, days.mean) == (8, Decimal("5"), Decimal("4.9"))
    since = _dashboard(engine, books.a, since=date(2026, 3, 1)).days_to_submission
    # without C5: 2 2 4 5 5 6 10 -> median 5, mean 34/7 = 4.857
    assert (since.claims, since.median, since.mean) == (7, Decimal("5"), Decimal("4.9"))


def test_aging_buckets_of_outstanding_amounts_by_days_since_first_submission(engine: Engine, books: Books) -> None:
    buckets = [(b.label, b.claims, b.amount) for b in _dashboard(engine, books.a).aging]
    assert buckets == [
        ("0-30", 2, Decimal("60.00")),  # C4 50.00 (5 days), C12 10.00 (30 days)
        ("31-60", 1, Decimal("20.00")),  # C13 (31 days)
        ("61-90", 2, Decimal("140.00")),  # C1 100.00 (86 days), C2 40.00 left of 200.00 (71 days)
        ("90+", 1, Decimal("80.00")),  # C5 appealed (171 days)
    ]


def test_denials_by_reason_and_by_provider(engine: Engine, books: Books) -> None:
    figures = _dashboard(engine, books.a)
    assert [(d.key, d.claims, d.amount) for d in figures.denials_by_carc] == [
        ("16", 1, Decimal("90.00")), ("50", 1, Decimal("80.00")), ("97", 1, Decimal("40.00"))]
    assert [(d.key, d.claims, d.amount) for d in figures.denials_by_provider] == [
        ("1987654328", 2, Decimal("170.00")), ("1234567893", 1, Decimal("40.00"))]  # C3 + C5; C2
    since = _dashboard(engine, books.a, since=date(2026, 3, 1))
    assert [(d.key, d.amount) for d in since.denials_by_carc] == [("16", Decimal("90.00")), ("97", Decimal("40.00"))]


def test_dollars_at_risk_are_charges_held_by_standing_errors(engine: Engine, books: Books) -> None:
    risk = _dashboard(engine, books.a).at_risk
    assert (risk.claims, risk.amount) == (2, Decimal("100.00"))  # C6 75.00 + C15 25.00


def test_follow_ups_due_by_the_date(engine: Engine, books: Books) -> None:
    due = _dashboard(engine, books.a).follow_ups
    assert (due.due, due.overdue, due.without_due_date) == (2, 1, 1)


def test_another_organisation_sees_only_its_own_figures(engine: Engine, books: Books) -> None:
    figures = _dashboard(engine, books.b)
    assert (figures.clean_claim_rate.claims, figures.clean_claim_rate.clean) == (1, 0)
    assert [(b.label, b.claims, b.amount) for b in figures.aging if b.claims] == [("0-30", 1, Decimal("999.00"))]
    assert [(d.key, d.amount) for d in figures.denials_by_carc] == [("16", Decimal("999.00"))]
    assert (figures.at_risk.claims, figures.follow_ups.due) == (0, 0)
    assert figures.days_to_submission.claims == 1


def test_an_organisation_with_nothing_yet_has_empty_figures(engine: Engine) -> None:
    with session_factory(engine)() as session:
        empty = Practice(session, "Empty")
        session.commit()
        oid = empty.id
    figures = _dashboard(engine, oid)
    assert figures.clean_claim_rate.rate is None
    assert (figures.days_to_submission.median, figures.days_to_submission.mean) == (None, None)
    assert all(b.claims == 0 and b.amount == 0 for b in figures.aging)
    assert (figures.denials_by_carc, figures.at_risk.amount) == ([], Decimal(0))
