"""The audit trail is append-only in the database itself: no session, ORM or raw SQL can rewrite it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import Engine, delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from cleanclaim.store import models as m
from cleanclaim.store.audit import record, snapshot
from cleanclaim.store.passwords import hash_password
from tests.store.conftest import Graph


def _event(session: Session) -> m.AuditEvent:
    graph = Graph(session)
    event = m.AuditEvent(
        organisation_id=graph.id,
        user_id=graph.user.id,
        entity="claim",
        entity_id=str(graph.claim.id),
        action="state",
        before={"state": "draft"},
        after={"state": "coded"},
    )
    session.add(event)
    session.commit()
    return event


def test_events_are_written_and_read_back(session: Session) -> None:
    event = _event(session)
    session.expunge_all()
    read = session.get(m.AuditEvent, event.id)
    assert read is not None
    assert (read.before, read.after, read.action) == ({"state": "draft"}, {"state": "coded"}, "state")


@pytest.mark.parametrize(
    "statement",
    [
        lambda id: update(m.AuditEvent).where(m.AuditEvent.id == id).values(action="erased"),
        lambda id: delete(m.AuditEvent).where(m.AuditEvent.id == id),
        lambda id: text(f"UPDATE audit_events SET after = NULL WHERE id = {int(id)}"),
        lambda id: text("DELETE FROM audit_events"),
    ],
    ids=["orm-update", "orm-delete", "sql-update", "sql-delete-all"],
)
def test_update_and_delete_are_refused(session: Session, statement: object) -> None:
    event = _event(session)
    assert callable(statement)
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(statement(event.id))
    session.rollback()
    assert session.scalar(select(m.AuditEvent.action).where(m.AuditEvent.id == event.id)) == "state"


def test_changing_a_loaded_event_is_refused(session: Session) -> None:
    event = _event(session)
    event.action = "erased"
    with pytest.raises(DBAPIError, match="append-only"):
        session.flush()
    session.rollback()


def test_truncate_is_refused_on_postgresql(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        assert engine.dialect.name == "sqlite"  # SQLite has no TRUNCATE; its DELETE is refused above
        return
    with engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
        connection.execute(text("TRUNCATE audit_events CASCADE"))


def test_a_recorded_change_keeps_exact_money_and_no_secret(session: Session) -> None:
    graph = Graph(session)
    graph.user.password_hash = hash_password("a long synthetic passphrase")
    session.commit()
    before = snapshot(graph.version)
    graph.version.total_charge = Decimal("120.10")
    graph.version.state = "coded"
    session.flush()
    record(
        session,
        organisation_id=graph.id,
        user_id=graph.user.id,
        entity="claim_version",
        entity_id=graph.version.id,
        action="state",
        before=before,
        after=snapshot(graph.version),
    )
    user_change = record(
        session,
        organisation_id=graph.id,
        user_id=graph.user.id,
        entity="user",
        entity_id=graph.user.id,
        action="password",
        after=snapshot(graph.user),
    )
    session.commit()
    session.expunge_all()

    stored = session.scalars(
        select(m.AuditEvent).where(m.AuditEvent.organisation_id == graph.id).order_by(m.AuditEvent.id)
    ).all()
    state_change = stored[0]
    assert state_change.before is not None and state_change.after is not None
    assert (state_change.before["total_charge"], state_change.after["total_charge"]) == ("90.00", "120.10")
    assert (state_change.before["state"], state_change.after["state"]) == ("draft", "coded")
    assert stored[1].id == user_change.id
    assert stored[1].after is not None and stored[1].after["password_hash"] == "(changed)"
    assert "argon2" not in str(stored[1].after)
