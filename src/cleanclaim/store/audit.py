"""Writing the audit trail: one call per change, with JSON-safe before/after snapshots of the row.

The trail must answer "who changed what, when, from what to what" for a payer audit years later, so a snapshot
keeps every column as plain JSON (money as its exact decimal string, dates as ISO text) rather than whatever the
driver would make of a Decimal. Secrets never enter it: a password hash is not history anyone needs to read.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from cleanclaim.store.models import AuditEvent, TenantOwned
from cleanclaim.store.types import utcnow

# columns whose values never go into the trail (their change is still recorded, as changed)
SECRET_COLUMNS = frozenset({"password_hash"})
CHANGED = "(changed)"


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_value(item) for key, item in value.items()}
    return value


def snapshot(row: TenantOwned) -> dict[str, Any]:
    """The row's column values as JSON-safe data (secrets replaced by a marker)."""
    mapper = inspect(type(row))
    values: dict[str, Any] = {}
    for column in mapper.column_attrs:
        name = column.key
        values[name] = CHANGED if name in SECRET_COLUMNS else _json_value(getattr(row, name))
    return values


def values(
    *,
    organisation_id: int,
    user_id: int | None,
    entity: str,
    entity_id: str | int,
    action: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One audit event's column values, JSON-safe: what `record` adds, for writers that insert many at once."""
    return {
        "organisation_id": organisation_id,
        "user_id": user_id,
        "at": utcnow(),
        "entity": entity,
        "entity_id": str(entity_id),
        "action": action,
        "before": None if before is None else _json_value(before),
        "after": None if after is None else _json_value(after),
    }


def record(
    session: Session,
    *,
    organisation_id: int,
    user_id: int | None,
    entity: str,
    entity_id: str | int,
    action: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one audit event to the session (it is written with the change, in the same transaction)."""
    event = AuditEvent(**values(organisation_id=organisation_id, user_id=user_id, entity=entity, entity_id=entity_id,
                                action=action, before=before, after=after))
    session.add(event)
    return event
