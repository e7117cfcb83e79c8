"""store.accounts on both databases: users, password policy, sign-in, rehash, tokens, sessions, migration 0004."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, inspect, select
from sqlalchemy.engine import URL

from cleanclaim.lifecycle import Role
from cleanclaim.store.accounts import (
    AccountError,
    authenticate,
    authenticate_token,
    create_api_token,
    create_organisation,
    create_user,
    find_web_session,
    sha256_hex,
    start_web_session,
)
from cleanclaim.store.database import current_revision, downgrade, make_engine, migrate, session_factory
from cleanclaim.store.models import AuditEvent, User
from cleanclaim.store.tenant import Tenant
from cleanclaim.store.types import utcnow
from cleanclaim.web.start import first_start

PASSWORD = "twelve chars!"


def _tenant(engine: Engine) -> Tenant:
    session = session_factory(engine)()
    organisation = create_organisation(session, f"Org {uuid.uuid4().hex[:8]}")
    return Tenant(session, organisation.id)


def _email() -> str:
    return f"u-{uuid.uuid4().hex[:8]}@example.test"


def test_user_email_is_lower_cased_and_creation_is_audited(engine: Engine) -> None:
    tenant = _tenant(engine)
    address = _email()
    user = create_user(tenant, email=f"  {address.upper()} ", password=PASSWORD, role="biller", actor_id=None)
    assert user.email == address
    event = tenant.session.scalars(tenant.select(AuditEvent, AuditEvent.entity == "user")).one()
    assert event.after is not None and event.after["password_hash"] == "(changed)"
    tenant.session.rollback()


@pytest.mark.parametrize(("password", "field"), [("elevenchars", "password"), ("", "password")])
def test_short_passwords_are_refused(engine: Engine, password: str, field: str) -> None:
    tenant = _tenant(engine)
    with pytest.raises(AccountError, match="at least 12 characters") as refused:
        create_user(tenant, email=_email(), password=password, role="biller")
    assert refused.value.field == field
    tenant.session.rollback()


def test_email_taken_in_another_organisation_and_bad_role_are_refused(engine: Engine) -> None:
    first = _tenant(engine)
    address = _email()
    create_user(first, email=address, password=PASSWORD, role="admin")
    first.session.commit()
    first.session.close()
    second = _tenant(engine)
    with pytest.raises(AccountError, match="exists already"):
        create_user(second, email=address.upper(), password=PASSWORD, role="admin")
    with pytest.raises(AccountError, match="role must be one of"):
        create_user(second, email=_email(), password=PASSWORD, role="owner")
    second.session.rollback()


def test_authenticate(engine: Engine) -> None:
    tenant = _tenant(engine)
    address = _email()
    create_user(tenant, email=address, password=PASSWORD, role="clinician")
    session = tenant.session
    assert authenticate(session, address.upper(), PASSWORD) is not None
    assert authenticate(session, address, PASSWORD + "x") is None
    assert authenticate(session, _email(), PASSWORD) is None
    user = session.scalars(select(User).where(User.email == address)).one()
    user.active = False
    assert authenticate(session, address, PASSWORD) is None
    session.rollback()


def test_weaker_hash_is_replaced_at_sign_in(engine: Engine) -> None:
    tenant = _tenant(engine)
    address = _email()
    user = create_user(tenant, email=address, password=PASSWORD, role="biller")
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024).hash(PASSWORD)
    user.password_hash = weak
    assert authenticate(tenant.session, address, PASSWORD) is user
    assert user.password_hash != weak
    assert "m=8192" not in user.password_hash
    assert authenticate(tenant.session, address, PASSWORD) is user  # the new hash verifies
    tenant.session.rollback()


def test_tokens_store_only_a_hash_and_stop_when_revoked_or_deactivated(engine: Engine) -> None:
    tenant = _tenant(engine)
    user = create_user(tenant, email=_email(), password=PASSWORD, role="biller")
    issued = create_api_token(tenant, user_id=user.id, name="sync", actor_id=user.id)
    assert issued is not None
    assert issued.secret.startswith("cc_") and len(issued.secret) > 40
    assert issued.token.token_hash == sha256_hex(issued.secret)
    assert issued.secret not in {issued.token.token_hash, issued.token.prefix}
    found = authenticate_token(tenant.session, issued.secret)
    assert found is not None and found[1].id == user.id and found[0].last_used_at is not None
    assert authenticate_token(tenant.session, issued.secret[:-1]) is None
    assert authenticate_token(tenant.session, "no-prefix") is None
    user.active = False
    assert authenticate_token(tenant.session, issued.secret) is None
    user.active = True
    issued.token.revoked_at = utcnow()
    assert authenticate_token(tenant.session, issued.secret) is None
    assert create_api_token(tenant, user_id=10**9, name="x", actor_id=user.id) is None  # not in this organisation
    tenant.session.rollback()


def test_web_sessions_expire(engine: Engine) -> None:
    tenant = _tenant(engine)
    user = create_user(tenant, email=_email(), password=PASSWORD, role="auditor")
    signed = start_web_session(tenant.session, user, lifetime=timedelta(hours=1))
    assert signed.web_session.id_hash == sha256_hex(signed.cookie_value)
    assert find_web_session(tenant.session, signed.cookie_value) is not None
    assert find_web_session(tenant.session, signed.cookie_value, now=utcnow() + timedelta(hours=2)) is None
    assert find_web_session(tenant.session, "") is None
    tenant.session.rollback()


def test_migration_0004_up_and_down(empty_url: URL) -> None:
    engine = make_engine(empty_url)
    try:
        migrate(engine)
        assert {"api_tokens", "web_sessions"} <= set(inspect(engine).get_table_names())
        downgrade(engine, "0001")
        assert current_revision(engine) == "0001"
        tables = set(inspect(engine).get_table_names())
        assert "api_tokens" not in tables and "web_sessions" not in tables and "users" in tables
        migrate(engine)
        assert {"api_tokens", "web_sessions"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_first_start_creates_the_admin_once(empty_url: URL) -> None:
    engine = make_engine(empty_url)
    try:
        migrate(engine)
        factory = session_factory(engine)
        created = first_start(factory, claims=10)
        assert created is not None and len(created.password) >= 20
        with factory() as session:
            admin = authenticate(session, created.email, created.password)
            assert admin is not None and admin.role == Role.ADMIN.value
        assert first_start(factory, claims=10) is None  # a database with an organisation is left as it is
    finally:
        engine.dispose()
