"""``/api/v1/denials``: the denial worklist (open tasks grouped by CARC, with the rules that would have caught each
denial: `store.queries.denial_worklist`) and working a task (`store.denials`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from cleanclaim.lifecycle import WORKS_CLAIMS
from cleanclaim.store import denials
from cleanclaim.store import models as m
from cleanclaim.store.queries import DenialReasonGroup, DenialTaskView, _denial_tasks, denial_worklist
from cleanclaim.web.api.service import MAX_INT, Id, RequestBody, act, documented
from cleanclaim.web.context import Context, RequestContext
from cleanclaim.web.errors import AppError

router = APIRouter(tags=["denials"], responses=documented(409))


class Worklist(BaseModel):
    groups: list[DenialReasonGroup]


class Assign(RequestBody):
    assignee_id: Annotated[int, Field(ge=1, le=MAX_INT)] | None = None
    """A user of the organisation; null: nobody has it."""


class Note(RequestBody):
    note: str = Field(min_length=1, max_length=4000)


class Due(RequestBody):
    due_date: dt.date | None = None


class Resolve(RequestBody):
    note: str | None = Field(default=None, max_length=4000)


def _view(ctx: RequestContext, task_id: int) -> DenialTaskView:
    found = _denial_tasks(ctx.tenant, [m.DenialTask.id == task_id], include_resolved=True)
    if not found:
        raise AppError(404, f"denial task {task_id} not found")
    return found[0]


@router.get("/denials", response_model=Worklist, responses=documented(400))
def worklist(ctx: Context, assignee_id: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
             unassigned: Annotated[bool, Query(description="Only the tasks nobody has")] = False,
             due_by: Annotated[dt.date | None, Query(description="Only tasks due on or before this date")] = None,
             overdue: Annotated[bool, Query(description="Only tasks due before today")] = False) -> Worklist:
    """Open denial tasks grouped by reason (CARC), the most dollars first; narrowed as the worklist page narrows
    them (one assignee's or nobody's, due by a date, overdue). A task without a due date is neither due nor
    overdue."""
    if unassigned and assignee_id is not None:
        raise AppError(400, "ask for one assignee's tasks (assignee_id) or for nobody's (unassigned), not both")
    return Worklist(groups=denial_worklist(ctx.tenant, assignee_id=assignee_id, unassigned=unassigned,
                                           due_by=due_by, overdue_on=dt.date.today() if overdue else None))


@router.get("/denials/{task_id}", response_model=DenialTaskView)
def get_task(ctx: Context, task_id: Id) -> DenialTaskView:
    return _view(ctx, task_id)


@router.post("/denials/{task_id}/assign", response_model=DenialTaskView)
def assign(ctx: Context, task_id: Id, body: Assign) -> DenialTaskView:
    act(ctx, WORKS_CLAIMS, "Assigning a denial task", denials.assign_task, task_id, body.assignee_id)
    return _view(ctx, task_id)


@router.post("/denials/{task_id}/note", response_model=DenialTaskView)
def note(ctx: Context, task_id: Id, body: Note) -> DenialTaskView:
    act(ctx, WORKS_CLAIMS, "Noting a denial task", denials.note_task, task_id, body.note)
    return _view(ctx, task_id)


@router.post("/denials/{task_id}/due", response_model=DenialTaskView)
def due(ctx: Context, task_id: Id, body: Due) -> DenialTaskView:
    act(ctx, WORKS_CLAIMS, "Setting a due date", denials.set_due_date, task_id, body.due_date)
    return _view(ctx, task_id)


@router.post("/denials/{task_id}/resolve", response_model=DenialTaskView)
def resolve(ctx: Context, task_id: Id, body: Resolve) -> DenialTaskView:
    act(ctx, WORKS_CLAIMS, "Resolving a denial task", denials.resolve_task, task_id, body.note)
    return _view(ctx, task_id)
