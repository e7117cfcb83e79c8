"""The pages' routers, one module per resource, registered here in one place (``create_app`` includes them in
this order). A new slice adds its module and its router to ``PAGE_ROUTERS``."""

from __future__ import annotations

from fastapi import APIRouter

from cleanclaim.web.routes import (
    admin,
    auth,
    claims,
    dashboard,
    denials,
    encounters,
    jobs,
    practice,
    remittances,
    rules,
    submission_settings,
    submissions,
)

PAGE_ROUTERS: tuple[APIRouter, ...] = (auth.router, rules.router, admin.router, practice.router,
                                       submission_settings.router, dashboard.router, claims.router,
                                       encounters.router, jobs.router, submissions.router, remittances.router,
                                       denials.router)
