"""The billing workspace: server-rendered pages (FastAPI, Jinja2, htmx) and the REST API under ``/api/v1``.

A thin layer: every decision about claims comes from the engine and the store; this package adds who is asking
(:mod:`cleanclaim.web.context`), how it is shown and the web's security (:mod:`cleanclaim.web.security`).
"""

from cleanclaim.web.app import create_app
from cleanclaim.web.settings import WebSettings

__all__ = ["WebSettings", "create_app"]
