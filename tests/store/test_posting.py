"""Posting the Harbor 835 into the store, on SQLite and PostgreSQL: the payer's decision moves each submitted claim
(as `cleanclaim.posting` decides it), payments and adjustments are stored line by line, denials become follow-up
tasks, an unknown claim is kept unmatched, and the same 835 posted twice, one after the other or at the same moment
from two threads, is posted once."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cleanclaim.errors import InputError
from cleanclaim.formats.x12_837p import read_837p
from cleanclaim.store import models as m
from cleanclaim.store.database import session_factory
from cleanclaim.store.posting import post_remittance
from tests.store.conftest import Graph, version

FIXTURES = Path(__file__).parents[1] / "formats" / "x12" / "fixtures"
REMIT = (FIXTURES / "remit_harbor.835").read_text()
EXPECTED = {"CLM-1001": "partially_paid", "CLM-1002": "partially_paid", "CLM-1003": "paid", "CLM-1004": "denied"}


def _submitted_claims(session: Session, *, leave_out: frozenset[str] = frozenset()) -> Graph:
    """An organisation whose submitted claims are the Harbor 837P's (the claims the 835 answers)."""
    graph = Graph(session, pcn="OTHER-1")
    for encounter in read_837p(FIXTURES / "harbor_pt_claims.837").encounters:
        if encounter.id in leave_out:
            continue
        claim = m.Claim(organisation_id=graph.id, encounter_id=graph.encounter.id)
        session.add(claim)
        session.flush()
        row = version(session, claim, encounter.claim_id or encounter.id)
        row.state = "submitted"
        for number, line in enumerate(encounter.lines, start=1):
            session.add(m.ClaimLine(organisation_id=graph.id, claim_version_id=row.id, line_number=number,
                                    code=line.code, modifiers=line.modifiers, units=line.units,
                                    charge=line.charge or Decimal(0), service_date=line.date or encounter.date))
    session.commit()
    return graph


def _states(session: Session, graph: Graph) -> dict[str, str]:
    rows = session.execute(select(m.ClaimVersion.patient_control_number, m.ClaimVersion.state).where(
        m.ClaimVersion.organisation_id == graph.id, m.ClaimVersion.patient_control_number.like("CLM-%")))
    return {str(number): str(state) for number, state in rows.all()}


def _count(session: Session, model: type[m.TenantOwned], graph: Graph) -> int:
    return session.scalar(select(func.count()).select_from(model).where(model.organisation_id == graph.id)) or 0


def test_posting_moves_each_claim_and_stores_every_payment_and_adjustment(engine: Engine) -> None:
    with session_factory(engine)() as session:
        graph = _submitted_claims(session)
        posting = post_remittance(session, graph.id, REMIT, user_id=graph.user.id)
        session.commit()
        assert posting.errors == []
        assert [(p.trace_number, p.payer_identifier, p.already_posted) for p in posting.payments] == [
            ("0012345678", "1512345678", False), ("0099887766", "1870000001", False)]
        assert {k: v for p in posting.payments for k, v in p.posted.items()} == EXPECTED
        assert _states(session, graph) == EXPECTED
        assert _count(session, m.Remittance, graph) == 2
        assert _count(session, m.RemittanceClaim, graph) == 4
        assert _count(session, m.RemittanceLine, graph) == 7  # the SVC segments of the file: 3 + 2 + 1 + 1
        assert _count(session, m.RemittanceAdjustment, graph) == 11  # every CAS reason triplet: 4 + 3 + 3 + 1
        # every SVC matched to the billed line it answers
        unmatched = session.scalar(select(func.count()).select_from(m.RemittanceLine).where(
            m.RemittanceLine.organisation_id == graph.id, m.RemittanceLine.claim_line_id.is_(None)))
        assert unmatched == 0
        tasks = session.execute(select(m.ClaimVersion.patient_control_number, m.DenialTask.carc).join(
            m.ClaimVersion, m.ClaimVersion.claim_id == m.DenialTask.claim_id).where(
            m.DenialTask.organisation_id == graph.id).order_by(m.ClaimVersion.patient_control_number,
                                                              m.DenialTask.carc)).all()
        assert tasks == [("CLM-1001", "50"), ("CLM-1001", "97"), ("CLM-1002", "16"), ("CLM-1004", "204")]
        posts = session.scalar(select(func.count()).select_from(m.AuditEvent).where(
            m.AuditEvent.organisation_id == graph.id, m.AuditEvent.action == "post"))
        assert posts == 4 + 2  # each claim moved, each payment posted


def test_the_same_835_posted_again_changes_nothing(engine: Engine) -> None:
    with session_factory(engine)() as session:
        graph = _submitted_claims(session)
        post_remittance(session, graph.id, REMIT, user_id=graph.user.id)
        session.commit()
        counts = [_count(session, model, graph) for model in (m.Remittance, m.RemittanceClaim, m.RemittanceLine,
                                                               m.RemittanceAdjustment, m.DenialTask, m.AuditEvent)]
        again = post_remittance(session, graph.id, REMIT, user_id=graph.user.id)
        session.commit()
        assert [p.already_posted for p in again.payments] == [True, True]
        assert all(not p.posted for p in again.payments)
        assert [_count(session, model, graph) for model in (m.Remittance, m.RemittanceClaim, m.RemittanceLine,
                                                             m.RemittanceAdjustment, m.DenialTask,
                                                             m.AuditEvent)] == counts
        assert _states(session, graph) == EXPECTED


def test_two_concurrent_posts_of_one_835_post_it_once(engine: Engine) -> None:
    with session_factory(engine)() as session:
        graph = _submitted_claims(session)
        organisation, user = graph.id, graph.user.id
    start = threading.Barrier(2)
    results: list[list[bool]] = []
    failures: list[BaseException] = []

    def post() -> None:
        try:
            with session_factory(engine)() as own:
                start.wait()
                posting = post_remittance(own, organisation, REMIT, user_id=user)
                own.commit()
                results.append([p.already_posted for p in posting.payments])
        except BaseException as error:  # a thread's failure must fail the test, not vanish with the thread
            failures.append(error)

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    # each payment was posted by exactly one of the two
    assert sorted(results) == [[False, False], [True, True]] or all(
        sorted(pair) == [False, True] for pair in zip(*results, strict=True))
    with session_factory(engine)() as session:
        assert _states(session, graph) == EXPECTED
        assert _count(session, m.Remittance, graph) == 2
        assert _count(session, m.RemittanceClaim, graph) == 4
        assert _count(session, m.DenialTask, graph) == 4


def test_a_claim_that_is_not_ours_is_stored_unmatched_and_posts_nothing(engine: Engine) -> None:
    with session_factory(engine)() as session:
        graph = _submitted_claims(session, leave_out=frozenset({"CLM-1003"}))
        posting = post_remittance(session, graph.id, REMIT, user_id=graph.user.id)
        session.commit()
        (unposted,) = posting.payments[1].unposted
        assert unposted[0] == "CLM-1003"
        assert "no submitted claim has the patient control number" in unposted[1]
        stored = session.scalars(select(m.RemittanceClaim).where(
            m.RemittanceClaim.organisation_id == graph.id,
            m.RemittanceClaim.patient_control_number == "CLM-1003")).one()
        assert stored.claim_version_id is None
        assert stored.paid == Decimal("50.00")
        assert _states(session, graph) == {k: v for k, v in EXPECTED.items() if k != "CLM-1003"}


def test_a_claim_not_yet_submitted_is_not_moved(engine: Engine) -> None:
    with session_factory(engine)() as session:
        graph = _submitted_claims(session)
        draft = session.scalars(select(m.ClaimVersion).where(
            m.ClaimVersion.organisation_id == graph.id, m.ClaimVersion.patient_control_number == "CLM-1004")).one()
        draft.state = "ready"
        session.commit()
        posting = post_remittance(session, graph.id, REMIT, user_id=graph.user.id)
        session.commit()
        assert [number for number, _ in posting.payments[1].unposted] == ["CLM-1004"]
        assert _states(session, graph)["CLM-1004"] == "ready"


def test_an_upload_that_names_a_file_on_the_server_is_refused_not_read(engine: Engine, tmp_path: Path) -> None:
    """The X12 readers take a short one-line string for a path; an uploaded 835 is text and must never make the
    server read one of its own files (here an 835 the server could read, which would otherwise be posted)."""
    secret = tmp_path / "server-side.835"
    secret.write_text(REMIT, encoding="utf-8")
    with session_factory(engine)() as session:
        graph = _submitted_claims(session)
        with pytest.raises(InputError, match="starts with an ISA segment"):
            post_remittance(session, graph.id, str(secret), user_id=graph.user.id, file="upload.835")
        session.rollback()
        assert session.scalar(select(func.count()).select_from(m.Remittance).where(
            m.Remittance.organisation_id == graph.id)) == 0
