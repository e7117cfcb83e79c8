"""The workspace's read side on SQLite and PostgreSQL: each claim-list filter narrows to exactly the claims the
test built to match it, pages are stable, the claim page and the denial worklist carry what they promise, and one
organisation never sees another's claims."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cleanclaim.lifecycle import ClaimState
from cleanclaim.model import ClaimLine
from cleanclaim.store import models as m
from cleanclaim.store import queries
from cleanclaim.store.audit import record
from cleanclaim.store.claims import current_version, edit_lines, import_encounters, latest_scrub, scrub_claims
from cleanclaim.store.database import session_factory
from cleanclaim.store.queries import (
    ClaimFilter,
    ClaimPage,
    ClaimSort,
    QueryError,
    claim_audit_trail,
    claim_detail,
    claim_list,
    denial_worklist,
)
from cleanclaim.store.tenant import Tenant
from tests.store.practice import Made, Practice, at
from tests.store.services import Office, encounter

TODAY = date(2026, 4, 11)


@dataclass
class Book:
    """Practice A's six claims and practice B's one, committed; ids only (sessions are per tenant)."""

    a: int
    b: int
    a_payers: list[int]
    a_providers: list[int]
    claims: dict[str, int]
    b_claim: int


@pytest.fixture
def book(engine: Engine) -> Iterator[Book]:
    with session_factory(engine)() as session:
        a = Practice(session, "Harbor PT")
        made = {
            "CLM-1001": a.claim("CLM-1001", state="scrubbed", payer=0, provider=0, dos=date(2026, 3, 2),
                                changed=at(date(2026, 4, 1)),
                                scrubs=((("deleted-code", "error", False),
                                          ("progress-report-due", "warning", False)),)),
            "CLM-1002": a.claim("CLM-1002", state="submitted", payer=1, provider=0, dos=date(2026, 3, 10),
                                changed=at(date(2026, 4, 5)), charges=("45.00", "45.00"),
                                scrubs=((("deleted-code", "error", True),),)),
            # its first scrub found deleted-code, its latest found nothing: not a deleted-code claim any more
            "CLM-2003": a.claim("CLM-2003", state="denied", payer=0, provider=1, dos=date(2026, 3, 20),
                                changed=at(date(2026, 4, 10)), charges=("120.00",),
                                scrubs=((("deleted-code", "error", False),), ())),
            "Hb_2004": a.claim("Hb_2004", state="draft", payer=1, provider=1, dos=date(2026, 4, 1),
                               changed=at(date(2026, 4, 10)), charges=("60.00",)),
            "HB%2005": a.claim("HB%2005", state="scrubbed", payer=0, provider=0, dos=date(2026, 4, 15),
                               changed=at(date(2026, 4, 9)), charges=("30.00",),
                               scrubs=((("invalid-npi", "error", False), ("units-exceed-time", "error", False)),)),
        }
        # a corrected claim: version 1 (replaced) was scrubbed with invalid-npi, version 2 (current) is not scrubbed
        six = a.claim("CLM-3006-v1", state="corrected", dos=date(2026, 5, 1), changed=at(date(2026, 3, 1)),
                      scrubs=((("invalid-npi", "error", False),),))
        six.version.is_current = False
        session.flush()
        current = m.ClaimVersion(organisation_id=a.id, claim_id=six.claim.id, version=2, is_current=True,
                                 frequency_code="7", patient_control_number="CLM-3006", state="coded",
                                 total_charge=Decimal("90.00"))
        session.add(current)
        session.flush()
        current.state_changed_at = at(date(2026, 3, 25))
        made["CLM-3006"] = Made(six.claim, current, six.encounter)
        b = Practice(session, "Lakeside Coaching")
        b_claim = b.claim("CLM-1001", state="scrubbed", scrubs=((("deleted-code", "error", False),),))
        session.commit()
        yield Book(a.id, b.id, [p.id for p in a.payers], [p.id for p in a.providers],
                   {pcn: x.claim.id for pcn, x in made.items()}, b_claim.claim.id)


def _list(engine: Engine, organisation: int, wanted: ClaimFilter | None = None, **kwargs: object) -> ClaimPage:
    with session_factory(engine)() as session:
        return claim_list(Tenant(session, organisation), wanted, today=TODAY, **kwargs)  # type: ignore[arg-type]


def _pcns(page: ClaimPage) -> set[str]:
    return {row.patient_control_number for row in page.rows}


ALL_A = {"CLM-1001", "CLM-1002", "CLM-2003", "Hb_2004", "HB%2005", "CLM-3006"}


@pytest.fixture(params=["few: by id", "many: by index"])
def page_strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways the list finds a page on SQLite must give the same rows: few matches are read by id and sorted,
    many are found by walking the sort's index (forced here by treating every count as many)."""
    if request.param.startswith("many"):
        monkeypatch.setattr(queries, "_FEW", -1)
    return str(request.param)


def test_no_filter_lists_every_current_version_of_the_organisation_only(engine: Engine, book: Book) -> None:
    page = _list(engine, book.a)
    assert _pcns(page) == ALL_A  # not CLM-3006-v1 (replaced), not B's CLM-1001
    assert page.total == 6
    assert _pcns(_list(engine, book.b)) == {"CLM-1001"}


@pytest.mark.usefixtures("page_strategy")
@pytest.mark.parametrize(("states", "expected"), [
    (("scrubbed",), {"CLM-1001", "HB%2005"}),
    (("submitted", "denied"), {"CLM-1002", "CLM-2003"}),
    (("paid",), set()),
])
def test_state_filter(engine: Engine, book: Book, states: tuple[str, ...], expected: set[str]) -> None:
    page = _list(engine, book.a, ClaimFilter(states=states))
    assert _pcns(page) == expected
    assert page.total == len(expected)


@pytest.mark.usefixtures("page_strategy")
def test_payer_and_provider_filters(engine: Engine, book: Book) -> None:
    assert _pcns(_list(engine, book.a, ClaimFilter(payer_id=book.a_payers[1]))) == {"CLM-1002", "Hb_2004"}
    assert _pcns(_list(engine, book.a, ClaimFilter(payer_id=book.a_payers[0]))) == {
        "CLM-1001", "CLM-2003", "HB%2005", "CLM-3006"}
    assert _pcns(_list(engine, book.a, ClaimFilter(provider_id=book.a_providers[1]))) == {"CLM-2003", "Hb_2004"}
    both = _list(engine, book.a, ClaimFilter(payer_id=book.a_payers[1], provider_id=book.a_providers[1]))
    assert _pcns(both) == {"Hb_2004"} and both.total == 1


@pytest.mark.usefixtures("page_strategy")
def test_date_of_service_range_includes_both_ends(engine: Engine, book: Book) -> None:
    page = _list(engine, book.a, ClaimFilter(service_from=date(2026, 3, 10), service_to=date(2026, 4, 1)))
    assert _pcns(page) == {"CLM-1002", "CLM-2003", "Hb_2004"}
    assert _pcns(_list(engine, book.a, ClaimFilter(service_from=date(2026, 4, 15)))) == {"HB%2005", "CLM-3006"}
    assert _pcns(_list(engine, book.a, ClaimFilter(service_to=date(2026, 3, 2)))) == {"CLM-1001"}


@pytest.mark.usefixtures("page_strategy")
def test_rule_filter_reads_only_the_current_scrub_of_the_current_version(engine: Engine, book: Book) -> None:
    # CLM-1002's finding is overridden (still a finding of that rule); CLM-2003's latest scrub is clean; B's is B's
    assert _pcns(_list(engine, book.a, ClaimFilter(rule="deleted-code"))) == {"CLM-1001", "CLM-1002"}
    # CLM-3006's invalid-npi was on the version it replaced
    assert _pcns(_list(engine, book.a, ClaimFilter(rule="invalid-npi"))) == {"HB%2005"}
    assert _pcns(_list(engine, book.a, ClaimFilter(rule="timely-filing"))) == set()
    combined = _list(engine, book.a, ClaimFilter(rule="deleted-code", states=("scrubbed",)))
    assert _pcns(combined) == {"CLM-1001"} and combined.total == 1


@pytest.mark.usefixtures("page_strategy")
@pytest.mark.parametrize(("text", "expected"), [
    ("hb", {"Hb_2004", "HB%2005"}),  # case ignored
    ("_", {"Hb_2004"}),  # LIKE's wildcards are matched literally
    ("%", {"HB%2005"}),
    ("1001", {"CLM-1001"}),
    ("nothing-like-it", set()),
])
def test_text_search_on_patient_control_number(engine: Engine, book: Book, text: str, expected: set[str]) -> None:
    assert _pcns(_list(engine, book.a, ClaimFilter(text=text))) == expected


def test_the_count_stops_at_the_cap_and_says_so(engine: Engine, book: Book, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queries, "COUNT_CAP", 4)
    page = _list(engine, book.a, limit=3)
    assert (page.total, page.total_capped) == (4, True)  # "4+": at least four of the six
    assert len(page.rows) == 3 and page.next_cursor is not None
    scrubbed = _list(engine, book.a, ClaimFilter(states=("scrubbed",)), limit=3)
    assert (scrubbed.total, scrubbed.total_capped) == (2, False)
    # a page larger than the cap is counted to its end
    assert (_list(engine, book.a).total, _list(engine, book.a).total_capped) == (6, False)
    # a page that ends past the cap is counted to its end: 6 matches, counted to 4 (offset 2 + 2)
    monkeypatch.setattr(queries, "COUNT_CAP", 2)
    deeper = _list(engine, book.a, limit=2, offset=2)
    assert (deeper.total, deeper.total_capped) == (4, True)
    last = _list(engine, book.a, limit=2, offset=4)
    assert (last.total, last.total_capped) == (6, False)
    monkeypatch.setattr(queries, "COUNT_CAP", 6)  # exactly at the cap: the count is exact
    exact = _list(engine, book.a, limit=2)
    assert (exact.total, exact.total_capped) == (6, False)


def test_rule_filter_follows_the_latest_batch_scrub(session: Session) -> None:
    """The batch scrub (Core statements, not the ORM) moves each version's latest-scrub pointer: a claim fixed and
    scrubbed again leaves the rule's list, and one that gained the fault joins it."""
    office = Office(session)
    fixed, broken = import_encounters(office.tenant, office.biller, [
        encounter("RS-1", lines=[{"code": "96150", "units": 1, "dx_pointers": [1], "charge": 50}]),
        encounter("RS-2")])
    ids = [fixed.claim_id, broken.claim_id]

    def flagged() -> set[int]:
        return {row.claim_id for row in claim_list(office.tenant, ClaimFilter(rule="deleted-code")).rows}

    first = scrub_claims(office.tenant, office.biller, ids, as_of=date(2026, 3, 20))
    session.commit()
    assert flagged() == {fixed.claim_id}
    edit_lines(office.tenant, office.biller, fixed.claim_id, [
        ClaimLine(code="97110", modifiers=["GP"], units=Decimal(1), dx_pointers=[1], charge=Decimal(45))])
    edit_lines(office.tenant, office.biller, broken.claim_id, [
        ClaimLine(code="96150", units=Decimal(1), dx_pointers=[1], charge=Decimal(50))])
    second = scrub_claims(office.tenant, office.biller, ids, as_of=date(2026, 3, 20))
    session.commit()
    assert flagged() == {broken.claim_id}
    for claim_id in ids:
        version = current_version(office.tenant, claim_id)
        assert version.state == ClaimState.SCRUBBED
        assert version.latest_scrub_run_id == second.runs[claim_id] != first.runs[claim_id]
        run = latest_scrub(office.tenant, version)
        assert run is not None and run.id == second.runs[claim_id]
    rows = {row.claim_id: row for row in claim_list(office.tenant).rows}
    assert rows[broken.claim_id].errors >= 1 and rows[broken.claim_id].scrubbed


def test_a_scrub_run_added_through_the_orm_becomes_its_versions_latest(session: Session) -> None:
    practice = Practice(session, "Pointer PT")
    made = practice.claim("PTR-1", state="scrubbed", scrubs=((("deleted-code", "error", False),),))
    first = made.version.latest_scrub_run_id
    assert first is not None
    second = practice.scrub(made.version, (("invalid-npi", "error", False),))
    assert made.version.latest_scrub_run_id == second.id > first  # the object in the session, without a reload
    session.expire(made.version)
    assert made.version.latest_scrub_run_id == second.id  # and the row
    tenant = Tenant(session, practice.id)
    assert {row.patient_control_number for row in claim_list(tenant, ClaimFilter(rule="invalid-npi")).rows} == {
        "PTR-1"}
    assert claim_list(tenant, ClaimFilter(rule="deleted-code")).rows == []


def test_rows_carry_what_the_list_shows(engine: Engine, book: Book) -> None:
    rows = {row.patient_control_number: row for row in _list(engine, book.a).rows}
    first = rows["CLM-1001"]
    assert (first.claim_id, first.version, first.patient_ref, first.provider_npi, first.payer_name,
            first.payer_id, first.date_of_service, first.state, first.total_charge) == (
        book.claims["CLM-1001"], 1, "P1", "1234567893", "Medicare", "12345", date(2026, 3, 2), "scrubbed",
        Decimal("90.00"))
    assert (first.errors, first.warnings, first.overridden, first.scrubbed) == (1, 1, 0, True)
    assert first.days_in_state == 10  # 2026-04-01 to 2026-04-11
    assert (rows["CLM-1002"].errors, rows["CLM-1002"].overridden, rows["CLM-1002"].total_charge) == (
        0, 1, Decimal("90.00"))
    assert (rows["CLM-2003"].errors, rows["CLM-2003"].scrubbed) == (0, True)  # latest scrub clean
    assert (rows["Hb_2004"].errors, rows["Hb_2004"].scrubbed) == (0, False)
    assert rows["HB%2005"].errors == 2
    assert (rows["CLM-3006"].version, rows["CLM-3006"].scrubbed, rows["CLM-3006"].days_in_state) == (2, False, 17)


def test_sort_orders_with_the_version_id_breaking_ties(engine: Engine, book: Book) -> None:
    newest_first = [row.patient_control_number for row in _list(engine, book.a).rows]
    # CLM-2003 and Hb_2004 both changed on 2026-04-10: the later-made (higher id) first when descending
    assert newest_first == ["Hb_2004", "CLM-2003", "HB%2005", "CLM-1002", "CLM-1001", "CLM-3006"]
    by_charge = _list(engine, book.a, sort=ClaimSort.TOTAL_CHARGE, descending=False)
    assert [(r.patient_control_number, r.total_charge) for r in by_charge.rows] == [
        ("HB%2005", Decimal("30.00")), ("Hb_2004", Decimal("60.00")), ("CLM-1001", Decimal("90.00")),
        ("CLM-1002", Decimal("90.00")), ("CLM-3006", Decimal("90.00")), ("CLM-2003", Decimal("120.00"))]
    by_service = _list(engine, book.a, sort="date_of_service", descending=True)
    assert [r.patient_control_number for r in by_service.rows] == [
        "CLM-3006", "HB%2005", "Hb_2004", "CLM-2003", "CLM-1002", "CLM-1001"]


@pytest.mark.usefixtures("page_strategy")
@pytest.mark.parametrize("sort", list(ClaimSort))
@pytest.mark.parametrize("descending", [True, False])
def test_offset_and_cursor_pages_cover_the_list_once_in_order(engine: Engine, book: Book, sort: ClaimSort,
                                                              descending: bool) -> None:
    whole = [row.version_id for row in _list(engine, book.a, sort=sort, descending=descending).rows]
    by_offset = []
    for offset in range(0, 6, 4):
        page = _list(engine, book.a, sort=sort, descending=descending, limit=4, offset=offset)
        assert page.total == 6
        by_offset += [row.version_id for row in page.rows]
    by_cursor, cursor, pages = [], None, 0
    while True:
        page = _list(engine, book.a, sort=sort, descending=descending, limit=2, after=cursor)
        by_cursor += [row.version_id for row in page.rows]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert by_offset == whole and by_cursor == whole and len(set(whole)) == 6
    assert pages == 3


def test_cursor_pages_do_not_shift_when_a_claim_arrives(engine: Engine, book: Book) -> None:
    first = _list(engine, book.a, limit=2)
    assert [r.patient_control_number for r in first.rows] == ["Hb_2004", "CLM-2003"]
    with session_factory(engine)() as session:
        tenant = Tenant(session, book.a)
        practice = Practice.__new__(Practice)
        practice.session, practice.organisation = session, session.get(m.Organisation, book.a)  # type: ignore[assignment]
        practice.patients = list(session.scalars(tenant.select(m.Patient).order_by(m.Patient.id)))
        practice.providers = list(session.scalars(tenant.select(m.Provider).order_by(m.Provider.id)))
        practice.payers = list(session.scalars(tenant.select(m.Payer).order_by(m.Payer.id)))
        practice.claim("CLM-9009", state="coded", changed=at(date(2026, 4, 11)))
        session.commit()
    second = _list(engine, book.a, limit=2, after=first.next_cursor)
    assert [r.patient_control_number for r in second.rows] == ["HB%2005", "CLM-1002"]
    shifted = _list(engine, book.a, limit=2, offset=2)  # an offset page moves by the new claim
    assert [r.patient_control_number for r in shifted.rows] == ["CLM-2003", "HB%2005"]
    assert second.total == 7


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"limit": 0}, "a page holds 1 to 500"),
    ({"limit": 501}, "a page holds 1 to 500"),
    ({"offset": -1}, "0 or more"),
    ({"sort": "patient_name"}, "sort by one of"),
    ({"after": "not-a-cursor!"}, "not one this list issued"),
    ({"after": "WyJ0b3RhbF9jaGFyZ2UiLHRydWUsIjkwLjAwIiwxXQ"}, "another sort order"),  # a total_charge cursor
    ({"after": "WyJzdGF0ZV9jaGFuZ2VkX2F0Iix0cnVlLCJ5ZXN0ZXJkYXkiLDFd"}, "damaged"),  # a date that is not one
])
def test_requests_the_list_cannot_answer_are_refused_with_what_it_accepts(
        engine: Engine, book: Book, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(QueryError, match=message):
        _list(engine, book.a, **kwargs)


def test_an_unknown_state_is_refused_not_an_empty_list(engine: Engine, book: Book) -> None:
    with pytest.raises(QueryError, match="unknown claim state"):
        _list(engine, book.a, ClaimFilter(states=("pending",)))


def test_offset_and_cursor_together_are_refused(engine: Engine, book: Book) -> None:
    cursor = _list(engine, book.a, limit=2).next_cursor
    with pytest.raises(QueryError, match="not both"):
        _list(engine, book.a, limit=2, offset=2, after=cursor)


def test_state_changed_at_follows_each_state_change(session: Session) -> None:
    practice = Practice(session)
    made = practice.claim("CLM-1", state="scrubbed", changed=at(date(2026, 1, 1)))
    made.version.state = "scrubbed"  # the same state: the clock does not restart
    assert made.version.state_changed_at == at(date(2026, 1, 1))
    made.version.state = "ready"
    assert made.version.state_changed_at > at(date(2026, 1, 1))


# --- one claim, its trail, the worklist ------------------------------------------------------------------------------


def _corrected_claim(session: Session, practice: Practice) -> tuple[Made, m.ClaimVersion, m.RemittanceClaim]:
    """CLM-4001: version 1 denied (CO-16 with MA130) and replaced; version 2 submitted, scrubbed with one warning."""
    first = practice.claim("CLM-4001", state="denied", charges=("90.00", "45.00"))
    remit = practice.remit(first, trace="T-4001", paid="0.00", status="4",
                           adjustments=(("CO", "16", "135.00", ("MA130",)),))
    first.version.state = "corrected"
    first.version.is_current = False
    session.flush()
    second = m.ClaimVersion(organisation_id=practice.id, claim_id=first.claim.id, version=2, is_current=True,
                            frequency_code="7", patient_control_number="CLM-4001", original_reference="26081000100",
                            state="submitted", total_charge=Decimal("135.00"))
    session.add(second)
    session.flush()
    session.add(m.ClaimLine(organisation_id=practice.id, claim_version_id=second.id, line_number=1, code="97110",
                            modifiers=["GP"], units=Decimal(2), minutes=30, dx_pointers=[1, 2],
                            charge=Decimal("135.00"), service_date=date(2026, 3, 2)))
    practice.scrub(second, (("deleted-code", "error", False),), ran_at=at(date(2026, 4, 1)))
    practice.scrub(second, (("progress-report-due", "warning", False),), ran_at=at(date(2026, 4, 3)))
    return first, second, remit


def test_claim_detail_bundles_versions_scrub_remittances_tasks_and_trail(engine: Engine) -> None:
    with session_factory(engine)() as session:
        practice = Practice(session)
        first, second, remit = _corrected_claim(session, practice)
        task = practice.task(first, "16", remit=remit, due=date(2026, 5, 1))
        other = practice.claim("CLM-4002")
        oid, uid = practice.id, practice.user.id
        for entity, entity_id, action in (("claim_version", first.version.id, "post"),
                                          ("claim_version", second.id, "create"),
                                          ("denial_task", task.id, "assign"),
                                          ("claim_version", other.version.id, "scrub")):  # another claim's
            record(session, organisation_id=oid, user_id=uid, entity=entity, entity_id=entity_id, action=action)
        session.commit()
        claim_id, v1, v2 = first.claim.id, first.version.id, second.id
    with session_factory(engine)() as session:
        detail = claim_detail(Tenant(session, oid), claim_id)
    assert detail is not None
    assert [(v.id, v.version, v.is_current, v.frequency_code, v.state) for v in detail.versions] == [
        (v1, 1, False, "1", "corrected"), (v2, 2, True, "7", "submitted")]
    assert detail.current.original_reference == "26081000100"
    assert [(line.line_number, line.charge) for line in detail.versions[0].lines] == [
        (1, Decimal("90.00")), (2, Decimal("45.00"))]
    assert [(line.code, line.units, line.dx_pointers) for line in detail.versions[1].lines] == [
        ("97110", Decimal("2.000"), [1, 2])]
    assert (detail.patient_ref, detail.provider_npi, detail.payer_name, detail.date_of_service) == (
        "P1", "1234567893", "Medicare", date(2026, 3, 2))
    # the latest scrub of the current version, not the one before it
    assert detail.current_scrub is not None
    assert [(f.rule, f.severity) for f in detail.current_scrub.findings] == [("progress-report-due", "warning")]
    (remittance,) = detail.remittances
    assert (remittance.trace_number, remittance.version_id, remittance.status_code, remittance.paid) == (
        "T-4001", v1, "4", Decimal("0.00"))
    assert [(a.group_code, a.carc, a.amount, a.rarcs, a.kind) for a in remittance.adjustments] == [
        ("CO", "16", Decimal("135.00"), ["MA130"], "denial")]
    (denial,) = detail.denial_tasks
    assert (denial.carc, denial.amount, denial.rule_slugs, denial.due_date) == (
        "16", Decimal("135.00"), ["missing-required-field"], date(2026, 5, 1))
    assert [(e.entity, e.action) for e in detail.audit] == [
        ("claim_version", "post"), ("claim_version", "create"), ("denial_task", "assign")]


def test_claim_page_and_trail_of_another_organisation_are_not_found(engine: Engine, book: Book) -> None:
    with session_factory(engine)() as session:
        tenant = Tenant(session, book.b)
        assert claim_detail(tenant, book.claims["CLM-1001"]) is None
        assert claim_audit_trail(tenant, book.claims["CLM-1001"]) is None
        assert claim_detail(tenant, book.b_claim) is not None
    with session_factory(engine)() as session:
        tenant = Tenant(session, book.a)
        assert claim_detail(tenant, book.b_claim) is None
        assert claim_audit_trail(tenant, book.b_claim) is None
        assert claim_audit_trail(tenant, book.claims["CLM-1001"]) == []
    assert _list(engine, book.b, ClaimFilter(payer_id=book.a_payers[0])).total == 0  # A's payer id in B


def test_denial_worklist_groups_open_tasks_by_reason_with_dollars_and_rules(engine: Engine) -> None:
    with session_factory(engine)() as session:
        practice = Practice(session)
        x = practice.claim("CLM-X", state="partially_paid")
        y = practice.claim("CLM-Y", state="denied", provider=1)
        z = practice.claim("CLM-Z", state="denied")
        w = practice.claim("CLM-W", state="denied")
        v = practice.claim("CLM-V", state="denied")
        rx = practice.remit(x, trace="TX", paid="35.00", adjustments=(("CO", "97", "45.00", ()),
                                                                     ("CO", "45", "10.00", ())))
        ry = practice.remit(y, trace="TY", paid="0.00", adjustments=(("CO", "97", "30.00", ()),))
        rz = practice.remit(z, trace="TZ", paid="0.00", adjustments=(("CO", "16", "90.00", ("N290",)),))
        rw = practice.remit(w, trace="TW", paid="0.00", adjustments=(("CO", "97", "80.00", ()),))
        rv = practice.remit(v, trace="TV", paid="0.00", adjustments=(("CO", "50", "120.00", ()),))
        practice.task(x, "97", remit=rx, assignee=True)
        practice.task(y, "97", remit=ry)
        practice.task(z, "16", remit=rz, assignee=True)
        practice.task(w, "97", remit=rw, resolved=True)  # resolved: not on the worklist
        practice.task(v, "50", remit=rv)
        practice.task(v, "29")  # opened by hand, no remittance: no dollars
        other = Practice(session, "Other")
        other_claim = other.claim("CLM-X")
        other.task(other_claim, "97", remit=other.remit(other_claim, trace="TX", paid="0.00",
                                                         adjustments=(("CO", "97", "999.00", ()),)))
        session.commit()
        oid, user = practice.id, practice.user.id
    with session_factory(engine)() as session:
        groups = denial_worklist(Tenant(session, oid))
        assert [(g.carc, g.tasks, g.claims, g.amount) for g in groups] == [
            ("50", 1, 1, Decimal("120.00")), ("16", 1, 1, Decimal("90.00")), ("97", 2, 2, Decimal("75.00")),
            ("29", 1, 1, Decimal("0"))]
        by_carc = {g.carc: g for g in groups}
        # denial_rules.csv: N290 -> missing-required-field, invalid-npi (remarks first); CARC 16 -> the same first
        assert by_carc["16"].rule_slugs == ["missing-required-field", "invalid-npi"]
        assert (by_carc["50"].rule_slugs, by_carc["50"].preventable) == ([], "no")
        assert (by_carc["97"].rule_slugs, by_carc["97"].preventable) == (
            ["ncci-ptp-conflict", "ncci-ptp-modifier-not-allowed"], "yes")
        assert by_carc["29"].rule_slugs == ["timely-filing"]
        assert sorted((i.patient_control_number, i.amount, i.provider_npi) for i in by_carc["97"].items) == [
            ("CLM-X", Decimal("45.00"), "1234567893"), ("CLM-Y", Decimal("30.00"), "1987654328")]
    with session_factory(engine)() as session:
        mine = denial_worklist(Tenant(session, oid), assignee_id=user)
        assert [(g.carc, g.tasks) for g in mine] == [("16", 1), ("97", 1)]
