"""The sign-in rate limit: after ``max_failures`` failed sign-ins for one email from one client within ``window``,
further attempts are refused (the page answers 429) until enough of those failures have left the window.

**In the database** (table ``sign_in_failures``), so that every worker process of the app and a restarted one count
the same failures; an in-process count let each of N workers allow N times the limit. A failure is written in its own
short transaction, committed at once, because the sign-in request's transaction is rolled back when it answers 400;
reading the count and clearing it after a success run in the request's session (on SQLite a second connection could
not write while the request holds the write lock, as it does after a password rehash).

Keyed by email *and* client so that one attacker cannot lock a colleague out from another machine by guessing at
their email, and one client cannot try many passwords on one email. The email is stored only as its SHA-256.
Two workers counting the same key at the same instant may each let one more attempt through (the count and the
insert are not one atomic step); the limit is then exceeded by at most the number of workers, once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cleanclaim.store.models import SignInFailure
from cleanclaim.store.types import utcnow

__all__ = ["SignInLimit"]

_CLIENT_LENGTH = 64  # the column's width: an IPv6 address with a zone fits; anything longer is cut, not refused


def _email_key(email: str) -> str:
    return hashlib.sha256(email.encode("utf-8")).hexdigest()


class SignInLimit:
    def __init__(self, sessions: Callable[[], Session], *, max_failures: int, window: timedelta,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self.max_failures = max_failures
        self.window = window
        self._clock = clock

    def _key(self, email: str, client: str) -> tuple[str, str]:
        return _email_key(email), client[:_CLIENT_LENGTH]

    def retry_after(self, session: Session, email: str, client: str) -> int | None:
        """Seconds until this email may be tried again from this client, or None when it may be tried now."""
        email_hash, client_key = self._key(email, client)
        now = self._clock()
        times = list(session.scalars(
            select(SignInFailure.failed_at)
            .where(SignInFailure.email_hash == email_hash, SignInFailure.client == client_key,
                   SignInFailure.failed_at > now - self.window)
            .order_by(SignInFailure.failed_at)))
        if len(times) < self.max_failures:
            return None
        # the attempt is allowed again once all but max_failures - 1 of these failures have left the window
        leaving = times[len(times) - self.max_failures]
        return max(1, int((leaving + self.window - now).total_seconds()) + 1)

    def failed(self, email: str, client: str) -> None:
        """Record a failure; failures of any key older than the window are deleted on the way (the table stays the
        size of one window's failures)."""
        email_hash, client_key = self._key(email, client)
        now = self._clock()
        with self._sessions() as session, session.begin():
            session.execute(delete(SignInFailure).where(SignInFailure.failed_at <= now - self.window))
            session.add(SignInFailure(email_hash=email_hash, client=client_key, failed_at=now))

    def succeeded(self, session: Session, email: str, client: str) -> None:
        """A successful sign-in clears this email's failures from this client (with the sign-in's transaction)."""
        email_hash, client_key = self._key(email, client)
        session.execute(delete(SignInFailure).where(SignInFailure.email_hash == email_hash,
                                                    SignInFailure.client == client_key))
