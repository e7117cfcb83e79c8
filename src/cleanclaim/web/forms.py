"""The pattern for a form: read the fields, collect every problem at once, and show the form again with them.

A route declares its fields as ``Form()`` parameters with empty defaults (so a missing field reaches the route
instead of FastAPI's generic 422), checks them with :class:`FormErrors`, and on a problem re-renders its own
template with status 422, the values typed so far and the messages next to their fields::

    errors = FormErrors()
    errors.require(email=email, role=role)
    if not errors:
        with errors.collecting(AccountError):  # the service's refusal, on its field
            create_user(ctx.tenant, email=email, role=role, ...)
    if errors:
        return errors.render(request, "admin/index.html", page_values)

The CSRF token is not a field a route declares: the context dependency checks it on every unsafe request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from cleanclaim.errors import CleanclaimError, InputError
from cleanclaim.web.templating import render


class FormErrors:
    def __init__(self) -> None:
        self.by_field: dict[str, str] = {}

    def __bool__(self) -> bool:
        return bool(self.by_field)

    def add(self, field: str, message: str) -> None:
        self.by_field.setdefault(field, message)

    def require(self, **values: str | None) -> None:
        """Each named value must be present and not blank."""
        for field, value in values.items():
            if value is None or not str(value).strip():
                self.add(field, f"{field.replace('_', ' ')} is required")

    @contextmanager
    def collecting(self, *refusals: type[CleanclaimError], suffix: str = "") -> Iterator[None]:
        """Run a store call; a refusal of one of the ``refusals`` kinds becomes the message of the field it names
        (``form`` when it names none; ``suffix`` appended, for a page with one form per row) instead of an error
        page, so the route shows the form again with it::

            with errors.collecting(AccountError):
                create_user(ctx.tenant, ...)
        """
        try:
            yield
        except refusals as problem:
            field = getattr(problem, "field", None) or "form"
            self.add(field + suffix, problem.message if isinstance(problem, InputError) else str(problem))

    def render(self, request: Request, template: str, values: dict[str, Any], *,
               status_code: int = 422) -> HTMLResponse:
        """The form's page again, status 422 (or ``status_code``: 409 when stored records forbid the change), with
        ``errors`` (field → message) for the template."""
        return render(request, template, {**values, "errors": self.by_field}, status_code=status_code)
