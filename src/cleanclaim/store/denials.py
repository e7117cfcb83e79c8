"""Working the denial tasks that posting an 835 creates (`store.posting`): who has a task, what was done, until when,
and when it was resolved. Billers and admins work them; every change is in the trail with its before and after."""

from __future__ import annotations

import datetime as dt

from cleanclaim.errors import InputError
from cleanclaim.lifecycle import WORKS_CLAIMS, TransitionError
from cleanclaim.store import models as m
from cleanclaim.store.audit import snapshot
from cleanclaim.store.claims import Actor, NotFoundError, _audit, _require, _whole
from cleanclaim.store.tenant import Tenant
from cleanclaim.store.types import utcnow

__all__ = ["assign_task", "note_task", "resolve_task", "set_due_date"]


def _open_task(tenant: Tenant, actor: Actor, task_id: int, what: str) -> m.DenialTask:
    _require(actor, WORKS_CLAIMS, what)
    task = tenant.get(m.DenialTask, task_id)
    if task is None:
        raise NotFoundError(f"denial task {task_id} not found")
    if task.resolved_at is not None:
        raise TransitionError(f"denial task {task_id} was resolved on {task.resolved_at:%Y-%m-%d}; it is closed")
    return task


def _change(tenant: Tenant, actor: Actor, task: m.DenialTask, action: str, **values: object) -> m.DenialTask:
    with _whole(tenant.session):
        before = snapshot(task)
        for name, value in values.items():
            setattr(task, name, value)
        tenant.session.flush()
        _audit(tenant, actor, "denial_task", task.id, action, before, snapshot(task))
    return task


def assign_task(tenant: Tenant, actor: Actor, task_id: int, assignee_id: int | None) -> m.DenialTask:
    """Give the task to an active user of the organisation (None: nobody has it)."""
    task = _open_task(tenant, actor, task_id, "assign denial tasks")
    if assignee_id is not None:
        assignee = tenant.get(m.User, assignee_id)
        if assignee is None or not assignee.active:
            raise NotFoundError(f"user {assignee_id} not found")
    return _change(tenant, actor, task, "assign", assignee_id=assignee_id)


def note_task(tenant: Tenant, actor: Actor, task_id: int, note: str | None) -> m.DenialTask:
    """Add to the task's note (what was found, who was called); earlier notes stay, newest last, dated."""
    task = _open_task(tenant, actor, task_id, "note denial tasks")
    text = (note or "").strip()
    if not text:
        raise InputError("the note is empty", field="note")
    stamped = f"{dt.date.today().isoformat()}: {text}"
    return _change(tenant, actor, task, "note", note=f"{task.note}\n{stamped}" if task.note else stamped)


def set_due_date(tenant: Tenant, actor: Actor, task_id: int, due: dt.date | None) -> m.DenialTask:
    """When the task must be worked by (None: no date)."""
    task = _open_task(tenant, actor, task_id, "set due dates")
    return _change(tenant, actor, task, "due_date", due_date=due)


def resolve_task(tenant: Tenant, actor: Actor, task_id: int, note: str | None = None) -> m.DenialTask:
    """Close the task, optionally saying how; a resolved task cannot be changed again."""
    task = _open_task(tenant, actor, task_id, "resolve denial tasks")
    values: dict[str, object] = {"resolved_at": utcnow()}
    text = (note or "").strip()
    if text:
        stamped = f"{dt.date.today().isoformat()}: {text}"
        values["note"] = f"{task.note}\n{stamped}" if task.note else stamped
    return _change(tenant, actor, task, "resolve", **values)
