"""What ``cleanclaim serve`` does to a database before it serves it: migrate, then give an empty one a first
organisation and admin.

:func:`first_start` is the one function to swap when the full demo data loader arrives (h/services' ``store.demo``):
it receives the session factory and returns the sign-in to print once, or None when the database already had an
organisation (demo data is loaded only into an empty database).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cleanclaim.lifecycle import Role
from cleanclaim.store.accounts import create_organisation, create_user
from cleanclaim.store.models import Organisation
from cleanclaim.store.tenant import Tenant

DEMO_ORGANISATION = "Demo Practice"
DEMO_ADMIN_EMAIL = "admin@demo.example"


@dataclass(frozen=True)
class FirstSignIn:
    organisation: str
    email: str
    password: str

    def announcement(self, url: str) -> str:
        return (f"First start: created the organisation {self.organisation!r} and its admin.\n"
                f"  Sign in at {url}/sign-in\n  email:    {self.email}\n  password: {self.password}\n"
                "This password is shown once and not stored anywhere readable; keep it, or make another admin with "
                "`cleanclaim user create`.")


def first_start(factory: sessionmaker[Session]) -> FirstSignIn | None:
    """An empty database gets the demo organisation and an admin with a generated password (never a default)."""
    with factory() as session, session.begin():
        if session.scalars(select(Organisation.id).limit(1)).first() is not None:
            return None
        organisation = create_organisation(session, DEMO_ORGANISATION)
        password = secrets.token_urlsafe(18)
        create_user(Tenant(session, organisation.id), email=DEMO_ADMIN_EMAIL, password=password, role=Role.ADMIN)
        return FirstSignIn(organisation.name, DEMO_ADMIN_EMAIL, password)
