"""The sign-in rate limit in the database, on SQLite and PostgreSQL: counted per (email, client) within the window,
shared by every app process on the database, forgotten after the window or a success, the email never stored."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from cleanclaim.store.database import session_factory
from cleanclaim.store.models import SignInFailure
from cleanclaim.store.sign_in_limits import SignInLimit

WINDOW = timedelta(minutes=15)


class Clock:
    def __init__(self) -> None:
        # far in the future, so another test's failures (real time) are long outside this clock's window
        self.now = datetime(2090, 1, 1, 9, 0, tzinfo=UTC) + timedelta(days=uuid.uuid4().int % 10_000)

    def __call__(self) -> datetime:
        return self.now


def _limit(engine: Engine, clock: Clock, max_failures: int = 5) -> SignInLimit:
    return SignInLimit(session_factory(engine), max_failures=max_failures, window=WINDOW, clock=clock)


def _email() -> str:
    return f"limit-{uuid.uuid4().hex[:10]}@example.test"


def _wait(limit: SignInLimit, engine: Engine, email: str, client: str) -> int | None:
    with session_factory(engine)() as session:
        return limit.retry_after(session, email, client)


def test_the_fifth_failure_locks_the_email_for_this_client_only(engine: Engine) -> None:
    clock, email = Clock(), _email()
    limit = _limit(engine, clock)
    for _ in range(4):
        limit.failed(email, "10.0.0.1")
        clock.now += timedelta(seconds=10)
    assert _wait(limit, engine, email, "10.0.0.1") is None  # four failures: still allowed
    limit.failed(email, "10.0.0.1")
    # locked until the first failure (40 s ago) leaves the 15-minute window: 900 - 40 = 860 s, rounded up
    assert _wait(limit, engine, email, "10.0.0.1") == 861
    assert _wait(limit, engine, email, "10.0.0.2") is None  # another computer
    assert _wait(limit, engine, _email(), "10.0.0.1") is None  # another email


def test_two_app_processes_count_the_same_failures(engine: Engine) -> None:
    clock, email = Clock(), _email()
    first, second = _limit(engine, clock), _limit(engine, clock)  # as two workers, each with its own instance
    for _ in range(3):
        first.failed(email, "10.0.0.1")
    for _ in range(2):
        second.failed(email, "10.0.0.1")
    assert _wait(first, engine, email, "10.0.0.1") is not None
    assert _wait(second, engine, email, "10.0.0.1") is not None


def test_failures_leave_the_window_and_old_rows_are_deleted(engine: Engine) -> None:
    clock, email, other = Clock(), _email(), _email()
    limit = _limit(engine, clock)
    for _ in range(5):
        limit.failed(email, "10.0.0.1")
    assert _wait(limit, engine, email, "10.0.0.1") == 901
    clock.now += WINDOW - timedelta(seconds=1)
    assert _wait(limit, engine, email, "10.0.0.1") == 2  # one second left, shown as at least one whole second more
    clock.now += timedelta(seconds=1)
    assert _wait(limit, engine, email, "10.0.0.1") is None
    limit.failed(other, "10.0.0.9")  # any failure deletes what has left the window
    with session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(SignInFailure).where(
            SignInFailure.failed_at < clock.now)) == 0


def test_a_success_clears_only_its_own_key(engine: Engine) -> None:
    clock, email = Clock(), _email()
    limit = _limit(engine, clock, max_failures=2)
    for client in ("10.0.0.1", "10.0.0.2"):
        limit.failed(email, client)
        limit.failed(email, client)
    with session_factory(engine)() as session, session.begin():
        limit.succeeded(session, email, "10.0.0.1")
    assert _wait(limit, engine, email, "10.0.0.1") is None
    assert _wait(limit, engine, email, "10.0.0.2") is not None


def test_the_email_is_stored_only_as_a_hash(engine: Engine) -> None:
    clock, email = Clock(), _email()
    _limit(engine, clock).failed(email, "10.0.0.1")
    with session_factory(engine)() as session:
        stored = session.scalars(select(SignInFailure).where(SignInFailure.failed_at == clock.now)).one()
        assert email not in stored.email_hash and len(stored.email_hash) == 64
        assert stored.client == "10.0.0.1"
