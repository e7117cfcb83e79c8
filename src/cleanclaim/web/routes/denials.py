"""The denial worklist: open denial tasks grouped by CARC with the rule that would have caught each (``store.queries
.denial_worklist``), filtered by assignee and due date, and the work on one task (assign, note, due date, resolve:
``store.denials``).

Each action answers an htmx request with the task's row alone (``denials/_task.html``), which htmx swaps in; a
browser without htmx posts the same form and is sent back to the list. A refused action (an empty note, a date that
is not a date, a closed task) answers 422 with the row and its message, and writes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from cleanclaim.errors import CleanclaimError
from cleanclaim.store.accounts import user_emails
from cleanclaim.store.claims import NotFoundError
from cleanclaim.store.denials import assign_task, note_task, resolve_task, set_due_date
from cleanclaim.store.queries import denial_task, denial_worklist
from cleanclaim.web.context import RequestContext
from cleanclaim.web.errors import AppError
from cleanclaim.web.routes.money import Reader, Worker
from cleanclaim.web.templating import is_htmx, render

router = APIRouter(prefix="/denials", tags=["denials"])
TASK = "denials/_task.html"
NOT_FOUND = "There is no such denial task in your organisation."


def _users(ctx: RequestContext) -> dict[int, str]:
    """The organisation's active users, who a task can be given to (id -> email)."""
    return user_emails(ctx.tenant, active_only=True)


def _date(value: str, field: str) -> dt.date | None:
    if not value.strip():
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError as error:
        raise CleanclaimError(f"{field} must be a date as YYYY-MM-DD, not {value.strip()[:20]!r}") from error


@router.get("")
def worklist(request: Request, ctx: Reader, assignee: str = "", due_by: str = "", overdue: str = "") -> Response:
    today = dt.date.today()
    message = ""
    try:
        due = _date(due_by, "due by")
    except CleanclaimError as error:
        due, message = None, str(error)
    assignee_id = int(assignee) if assignee.isdigit() else None
    if assignee not in ("", "nobody") and assignee_id is None:
        message = "the assignee is chosen from the list (a user, or nobody); showing everyone's tasks"
    groups = denial_worklist(ctx.tenant, assignee_id=assignee_id, unassigned=assignee == "nobody", due_by=due,
                             overdue_on=today if overdue else None)
    values = {"groups": groups, "users": _users(ctx), "assignee": assignee, "due_by": due_by,
              "overdue": bool(overdue), "today": today, "message": message}
    return render(request, "denials/list.html", values, status_code=422 if message else 200)


def _act(request: Request, ctx: RequestContext, task_id: int, action: Callable[[], Any]) -> Response:
    """Run one task action; answer with the task's row (htmx) or back to the list, or the row with the problem."""
    problem = ""
    try:
        action()
    except NotFoundError as error:
        if denial_task(ctx.tenant, task_id) is None:
            raise AppError(404, NOT_FOUND) from error
        problem = f"{error}: choose a user of your organisation"  # the assignee, not the task
    except CleanclaimError as error:
        problem = str(error)
    view = denial_task(ctx.tenant, task_id)
    if view is None:
        raise AppError(404, NOT_FOUND)
    if not problem and not is_htmx(request):
        return RedirectResponse("/denials", status_code=303)
    values = {"task": view, "users": _users(ctx), "problem": problem, "today": dt.date.today(),
              "standalone": not is_htmx(request)}
    return render(request, TASK if is_htmx(request) else "denials/task_page.html", values,
                  status_code=422 if problem else 200)


@router.post("/{task_id}/assign")
def assign(request: Request, ctx: Worker, task_id: int, assignee_id: Annotated[str, Form()] = "") -> Response:
    def run() -> None:
        value = assignee_id.strip()
        if value and not value.isdigit():
            raise CleanclaimError("choose the user to give the task to")
        assign_task(ctx.tenant, ctx.actor, task_id, int(value) if value else None)
    return _act(request, ctx, task_id, run)


@router.post("/{task_id}/note")
def note(request: Request, ctx: Worker, task_id: int, note: Annotated[str, Form()] = "") -> Response:
    return _act(request, ctx, task_id, lambda: note_task(ctx.tenant, ctx.actor, task_id, note))


@router.post("/{task_id}/due")
def due(request: Request, ctx: Worker, task_id: int, due_date: Annotated[str, Form()] = "") -> Response:
    return _act(request, ctx, task_id, lambda: set_due_date(ctx.tenant, ctx.actor, task_id,
                                                            _date(due_date, "the due date")))


@router.post("/{task_id}/resolve")
def resolve(request: Request, ctx: Worker, task_id: int, note: Annotated[str, Form()] = "") -> Response:
    return _act(request, ctx, task_id, lambda: resolve_task(ctx.tenant, ctx.actor, task_id, note))
