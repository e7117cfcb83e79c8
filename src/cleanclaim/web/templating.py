"""The Jinja environment of the pages, and ``render``: every page is rendered with who is asking and the CSRF
token, so a template never has to be handed them (and a form cannot be written without its token being at hand).

Templates autoescape (``.html``); the base template (``base.html``) has the blocks ``title``, ``content`` and
``actions``. A route answering an htmx request renders the partial instead of the page: see :func:`is_htmx`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from cleanclaim.formats.x12_835 import CLAIM_STATUS
from cleanclaim.lifecycle import Role

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


@dataclass(frozen=True)
class NavItem:
    label: str
    path: str
    roles: frozenset[Role] | None = None
    """Who sees it (None: every signed-in user)."""


NAVIGATION: tuple[NavItem, ...] = (
    NavItem("Dashboard", "/"),
    NavItem("Claims", "/claims"),
    NavItem("Encounters", "/encounters"),
    NavItem("Submissions", "/submissions"),
    NavItem("Remittances", "/remittances"),
    NavItem("Denials", "/denials"),
    NavItem("Rules", "/rules"),
    NavItem("Admin", "/admin", frozenset({Role.ADMIN})),
)



def money(amount: Decimal | int | None) -> str:
    """An amount as a biller reads it, with its unit: ``$1,234.50``, ``-$12.00``; a missing one is a dash, never
    $0.00 (not priced is not free)."""
    if amount is None:
        return "—"
    return f"{'-' if amount < 0 else ''}${abs(amount):,.2f}"


def claim_status(code: str) -> str:
    """An 835 CLP02 claim status code with its meaning (``1 · processed as primary``): the bare digit says nothing
    to a biller."""
    meaning = CLAIM_STATUS.get(code)
    return f"{code} · {meaning}" if meaning else code


def billed_lines(lines: list[dict[str, Any]] | None) -> str:
    """A stored line snapshot as the audit trail shows it: code, modifiers and units (``97530-GP-KX ×2``), so an
    edit that adds a modifier or changes units is visible, not ``97530 → 97530``; ``none`` for no lines."""
    shown = []
    for line in lines or []:
        modifiers = "".join(f"-{modifier}" for modifier in line.get("modifiers") or [])
        units = line.get("units")
        count = f" ×{Decimal(str(units)).normalize():f}" if units is not None and Decimal(str(units)) != 1 else ""
        shown.append(f"{line.get('code', '?')}{modifiers}{count}")
    return ", ".join(shown) or "none"


templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.globals["NAVIGATION"] = NAVIGATION
templates.env.filters["money"] = money
templates.env.filters["claim_status"] = claim_status
templates.env.filters["billed_lines"] = billed_lines


def is_htmx(request: Request) -> bool:
    """An htmx request (``HX-Request``) wants the fragment it swaps in, not the whole page."""
    return request.headers.get("HX-Request") == "true"


def render(
    request: Request, name: str, values: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    """Render ``name`` with ``values`` plus ``ctx`` (the request's context, or None when nobody is signed in),
    ``csrf_token`` and ``request_id``."""
    state = request.state
    if status_code >= 400:
        state.failed = True  # the request's transaction is rolled back: a page showing a problem writes nothing
    ctx = getattr(state, "context", None)
    merged: dict[str, Any] = {
        "ctx": ctx,
        "csrf_token": ctx.csrf_token if ctx is not None else getattr(state, "csrf_token", ""),
        "request_id": getattr(state, "request_id", ""),
        "current_path": request.url.path,
    }
    merged.update(values or {})
    return templates.TemplateResponse(request, name, merged, status_code=status_code)
