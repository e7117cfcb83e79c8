"""Sign-in rate limiting: after ``max_failures`` failed sign-ins for one email from one client within ``window``,
further attempts are refused (429) until the oldest failure leaves the window.

**In-process**: the counts live in this process's memory. That is right for ``cleanclaim serve`` (one process);
with several worker processes each keeps its own counts, so the effective limit is multiplied by the number of
workers, and a restart forgets them. A shared store (the database, Redis) would be the next step for such a setup.
Keyed by email *and* client so that one attacker cannot lock a colleague out from another machine by guessing at
their email, and one client cannot try many passwords on one email.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import timedelta

MAX_TRACKED = 100_000
"""Keys kept at most; beyond it the oldest are forgotten, so a flood of made-up emails cannot exhaust memory."""


class LoginThrottle:
    def __init__(self, *, max_failures: int, window: timedelta, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window.total_seconds()
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and now - times[0] >= self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, email: str, client: str) -> int | None:
        """Seconds until this email may be tried again from this client, or None when it may be tried now."""
        key = (email, client)
        with self._lock:
            now = self._clock()
            times = self._recent(key, now)
            if len(times) < self.max_failures:
                return None
            return max(1, int(self.window - (now - times[0])) + 1)

    def failed(self, email: str, client: str) -> None:
        key = (email, client)
        with self._lock:
            now = self._clock()
            times = self._recent(key, now)
            if not times:
                if len(self._failures) >= MAX_TRACKED:
                    self._failures.pop(next(iter(self._failures)))
                self._failures[key] = times
            times.append(now)

    def succeeded(self, email: str, client: str) -> None:
        with self._lock:
            self._failures.pop((email, client), None)
