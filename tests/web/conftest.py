"""Fixtures of the web tests: the app on each backend's database (a SQLite file and PostgreSQL, the store tests'
session-scoped engines), organisations with users of every role, and a signed-in client.

The database fixtures are the store tests' own (imported, not copied), so both suites run on the same databases.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from cleanclaim.lifecycle import Role
from cleanclaim.store import accounts
from cleanclaim.store.accounts import create_api_token, create_organisation, create_user
from cleanclaim.store.database import session_factory
from cleanclaim.store.passwords import hash_password
from cleanclaim.store.tenant import Tenant
from cleanclaim.web import WebSettings, create_app
from tests.store import conftest as store_fixtures

# the store tests' database fixtures, the same session-scoped databases (SQLite file and PostgreSQL)
postgres_databases = store_fixtures.postgres_databases
empty_url = store_fixtures.empty_url
engine = store_fixtures.engine

PASSWORD = "correct horse battery"  # 21 characters: meets the policy
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Org:
    id: int
    name: str
    users: dict[Role, tuple[int, str]] = field(default_factory=dict)
    """role -> (user id, email)"""
    tokens: dict[Role, str] = field(default_factory=dict)
    """role -> API token secret"""

    def email(self, role: Role) -> str:
        return self.users[role][1]

    def user_id(self, role: Role) -> int:
        return self.users[role][0]


@cache
def _fixture_password_hash(password: str) -> str:
    """One real argon2id hash of the fixture password (today's parameters, random salt), made once per process."""
    return hash_password(password)


def make_org(engine: Engine) -> Org:
    """An organisation with one user of each role and an API token for each.

    The users are made by ``create_user`` as always, but share one argon2id hash of ``PASSWORD``, made once: hashing
    costs ~0.2 s of CPU by design, four per organisation, and several hundred tests make one or two organisations.
    The stored hash is a genuine one with the production parameters, so signing in still verifies it for real;
    hashing itself (salted, argon2id) is tested in tests/store/test_database.py and by every user a test creates
    through a page or the API."""
    with pytest.MonkeyPatch.context() as patch, session_factory(engine)() as session, session.begin():
        patch.setattr(accounts, "hash_password", _fixture_password_hash)
        organisation = create_organisation(session, f"Harbor PT {uuid.uuid4().hex[:8]}")
        tenant = Tenant(session, organisation.id)
        org = Org(organisation.id, organisation.name)
        for role in Role:
            user = create_user(tenant, email=f"{role.value}-{uuid.uuid4().hex[:8]}@Example.test",
                               password=PASSWORD, role=role)
            org.users[role] = (user.id, user.email)
            issued = create_api_token(tenant, user_id=user.id, name=f"{role.value} token", actor_id=user.id)
            assert issued is not None
            org.tokens[role] = issued.secret
    return org


@pytest.fixture
def org(engine: Engine) -> Org:
    return make_org(engine)


@pytest.fixture
def other_org(engine: Engine) -> Org:
    return make_org(engine)


@pytest.fixture
def settings() -> WebSettings:
    return WebSettings()


@pytest.fixture
def app(engine: Engine, settings: WebSettings) -> FastAPI:
    return create_app(engine, settings=settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as opened:
        yield opened


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the session's CSRF token (from the next page)."""
    form = client.get("/sign-in")
    response = client.post("/sign-in", data={"email": email, "password": password, "csrf_token": csrf_of(form.text),
                                              "next": "/rules"})
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/rules").text)


@pytest.fixture
def admin_client(client: TestClient, org: Org) -> tuple[TestClient, str]:
    """A client signed in as the org's admin, and its CSRF token."""
    return client, sign_in(client, org.email(Role.ADMIN))
