"""What every resource route of ``/api/v1`` shares: a change's steps in one call (:func:`act`: the role check, the
store service as the token's user in its organisation, which audits it, and the refusals), how the store's refusals
become the API's JSON errors (:func:`answering`), and the shapes of a page of results.

The store services raise domain errors, not HTTP ones, because the pages, the API and the jobs all call them. The
mapping is one table here so that the same refusal is the same status everywhere: not found (or of another
organisation) 404, an illegal transition or a change the stored records forbid 409, an upload that is not the kind
of file asked for at all 415 (binary, not UTF-8, not X12 where an 835 is expected: nothing in it was read), input
that cannot be used 422 (the right kind of file or body, with content that is wrong), a list request that cannot be
answered as asked 400. The pages show both upload refusals on their form (422), because there the answer is the
form again with its message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Annotated, Any, Concatenate, ParamSpec, TypeVar

from fastapi import Path
from pydantic import BaseModel, PlainSerializer, model_validator

from cleanclaim.errors import CleanclaimError, InputError, WrongKindOfFileError
from cleanclaim.lifecycle import Role, TransitionError
from cleanclaim.store.accounts import AccountError
from cleanclaim.store.claims import Actor, ConflictError, NotFoundError
from cleanclaim.store.queries import QueryError
from cleanclaim.store.tenant import Tenant
from cleanclaim.store.uploads import control_character_fields
from cleanclaim.web.context import RequestContext
from cleanclaim.web.errors import CODES, AppError

__all__ = ["MAX_INT", "Id", "Money", "PageInfo", "RequestBody", "act", "answering", "documented", "require_role"]

_P = ParamSpec("_P")
_T = TypeVar("_T")

MAX_INT = 2**31 - 1
"""The largest id or count a request may name: ids are 32-bit integer columns (PostgreSQL refuses larger)."""
Id = Annotated[int, Path(ge=1, le=MAX_INT, description="The object's id (another organisation's id is a 404)")]


NUL = re.compile("\x00")
"""What no text of a request body may hold (the body's other control characters are the fields' own business)."""


class RequestBody(BaseModel):
    """A JSON request body of the API. No text in it may hold a NUL: PostgreSQL stores none (an override reason
    with ``"\\u0000"`` was a 500 there, and SQLite would have kept it), so the body is a 422 naming the field, the
    same answer on both databases, before any route sees it."""

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        found = [path or "(the body)" for path in control_character_fields(data, pattern=NUL)]
        if found:
            raise ValueError(f"{', '.join(found[:5])}: a NUL character, which no text may hold; remove it")
        return data

Money = Annotated[Decimal, PlainSerializer(lambda value: f"{value:.2f}", return_type=str, when_used="json")]
"""An amount as the CLI's JSON contract writes it: a string with two decimals, never a float."""


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a router's routes answer besides 401/403/404/413/422."""
    return {status: {"description": CODES[status].replace("_", " "), "content": {"application/json": {
        "example": {"error": {"code": CODES[status], "message": "…", "details": None}}}}} for status in statuses}


def require_role(ctx: RequestContext, roles: frozenset[Role], what: str) -> None:
    """403 unless the token's user has one of ``roles`` (the same sets the lifecycle and the pages use)."""
    if ctx.role not in roles:
        names = " or ".join(sorted(role.value for role in roles))
        raise AppError(403, f"{what} needs the role {names}; this token acts as a {ctx.role.value}.")


def _input_details(error: InputError) -> dict[str, object]:
    return {key: value for key, value in error.to_dict().items() if value is not None}


@contextmanager
def answering() -> Iterator[None]:
    """Run a store call; its refusals become JSON errors (and the request's transaction is rolled back)."""
    try:
        yield
    except NotFoundError as error:
        raise AppError(404, str(error)) from error
    except TransitionError as error:
        raise AppError(409, str(error), code="illegal_transition") from error
    except ConflictError as error:
        raise AppError(409, str(error)) from error
    except QueryError as error:
        raise AppError(400, str(error)) from error
    except WrongKindOfFileError as error:  # not the kind of file asked for: nothing in it was read
        raise AppError(415, str(error), details={"file": error.file}) from error
    except InputError as error:
        raise AppError(422, str(error), code="invalid_input", details=_input_details(error)) from error
    except AccountError as error:  # a token's name, a deactivated user: the field named, as for InputError
        raise AppError(422, str(error), code="invalid_input",
                       details={"field": error.field} if error.field else None) from error
    except CleanclaimError as error:
        raise AppError(422, str(error), code="cannot_process") from error


def act(ctx: RequestContext, roles: frozenset[Role], what: str, change: Callable[Concatenate[Tenant, Actor, _P], _T],
        *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """A change as every API route makes it: 403 unless the token's user has one of ``roles`` (``what`` names the
    change in the message), then the store service ``change(tenant, actor, *args, **kwargs)``, which checks the
    lifecycle and writes the audit trail, with its refusals answered as JSON errors (:func:`answering`)."""
    require_role(ctx, roles, what)
    with answering():
        return change(ctx.tenant, ctx.actor, *args, **kwargs)


class PageInfo(BaseModel):
    total: int
    limit: int
    offset: int
