"""The web app's knobs, with defaults that are right for one office on one machine.

They are read once when the app is made (``WebSettings.from_env``) and never from a request.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

MEGABYTE = 1024 * 1024


@dataclass(frozen=True)
class WebSettings:
    max_upload_bytes: int = 20 * MEGABYTE
    """The largest request body accepted (an 835 or an encounter import). A day's 835 for a busy practice is a few
    hundred kilobytes; 20 MB leaves room for a month of claim-line CSV without letting one upload fill the disk."""
    session_lifetime: timedelta = timedelta(hours=12)
    """A working day: a session left open overnight on a shared front-desk computer has ended by morning."""
    login_max_failures: int = 5
    login_window: timedelta = timedelta(minutes=15)
    secure_cookies: bool | None = None
    """True: cookies always ``Secure``; None: ``Secure`` when the request came over https (behind a proxy, run
    uvicorn with ``--proxy-headers`` so the scheme is the client's)."""
    rule_cases_dir: Path | None = None
    """Where each rule's pass/fail cases are (``tests/rules/cases`` of a source checkout) to show them on the rule
    pages; None: look for that folder beside the package, and show none if it is not there (an installed wheel)."""

    @classmethod
    def from_env(cls) -> WebSettings:
        """``CLEANCLAIM_MAX_UPLOAD_MB``, ``CLEANCLAIM_SESSION_HOURS`` and ``CLEANCLAIM_SECURE_COOKIES`` (1/0)."""
        upload = os.environ.get("CLEANCLAIM_MAX_UPLOAD_MB")
        hours = os.environ.get("CLEANCLAIM_SESSION_HOURS")
        secure = os.environ.get("CLEANCLAIM_SECURE_COOKIES")
        defaults = cls()
        return cls(
            max_upload_bytes=int(float(upload) * MEGABYTE) if upload else defaults.max_upload_bytes,
            session_lifetime=timedelta(hours=float(hours)) if hours else defaults.session_lifetime,
            secure_cookies=None if secure is None else secure.strip() in {"1", "true", "yes"},
        )

    def cases_dir(self) -> Path | None:
        if self.rule_cases_dir is not None:
            return self.rule_cases_dir
        # src/cleanclaim/web/settings.py -> the checkout's tests/rules/cases
        candidate = Path(__file__).resolve().parents[3] / "tests" / "rules" / "cases"
        return candidate if candidate.is_dir() else None
