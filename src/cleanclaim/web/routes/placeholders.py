"""Navigation targets that later slices fill: the dashboard (h/queries), claims, encounters, submissions,
remittances and denials (h/services). Each is a plain "coming next" page until its slice replaces the route here
(remove the path from ``COMING_NEXT`` and register the slice's router in ``routes/__init__.py``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from cleanclaim.web.context import Context
from cleanclaim.web.templating import NAVIGATION, render

router = APIRouter(tags=["coming next"])

COMING_NEXT: dict[str, str] = {
    "/submissions": "Submission batches and their 837P files.",
    "/remittances": "Upload and post 835 remittances.",
    "/denials": "The denial worklist, grouped by reason, with the rule that would have caught each denial.",
}


def _placeholder(path: str, description: str) -> None:
    label = next(item.label for item in NAVIGATION if item.path == path)

    def page(request: Request, ctx: Context) -> Response:
        return render(request, "coming_next.html", {"title": label, "description": description})

    router.add_api_route(path, page, methods=["GET"], name=f"coming_next_{label.lower()}")


for _path, _description in COMING_NEXT.items():
    _placeholder(_path, _description)
