"""The pattern for a form: read the fields, collect every problem at once, and show the form again with them.

A route declares its fields as ``Form()`` parameters with empty defaults (so a missing field reaches the route
instead of FastAPI's generic 422), checks them with :class:`FormErrors`, and on a problem re-renders its own
template with status 422, the values typed so far and the messages next to their fields::

    errors = FormErrors()
    errors.require(email=email, role=role)
    if errors:
        return errors.render(request, "admin/index.html", page_values)

The CSRF token is not a field a route declares: the context dependency checks it on every unsafe request.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

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

    def render(self, request: Request, template: str, values: dict[str, Any], *,
               status_code: int = 422) -> HTMLResponse:
        """The form's page again, status 422 (or ``status_code``: 409 when stored records forbid the change), with
        ``errors`` (field → message) for the template."""
        return render(request, template, {**values, "errors": self.by_field}, status_code=status_code)
