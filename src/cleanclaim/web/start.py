"""What ``cleanclaim serve`` does to a database before it serves it: migrate, then fill an empty one with the demo
workspace (``store.demo``: two organisations, a user of each role, ~200 claims in every state, a posted 835 and its
denials), whose sign-ins are printed once. A database that has any organisation is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cleanclaim.lifecycle import Role
from cleanclaim.store.demo import DEMO_DOMAIN, load_demo
from cleanclaim.store.models import Organisation

DEMO_ADMIN_EMAIL = f"{Role.ADMIN.value}@{DEMO_DOMAIN}"


@dataclass(frozen=True)
class FirstSignIn:
    organisation: str
    email: str
    password: str
    others: dict[str, str] = field(default_factory=dict)
    """The other demo users' sign-ins (email -> password), the second organisation's included."""

    def announcement(self, url: str) -> str:
        lines = [f"First start: loaded the demo workspace {self.organisation!r}.",
                 f"  Sign in at {url}/sign-in", f"  email:    {self.email}", f"  password: {self.password}",
                 "  other demo users (one per role, and a second organisation for isolation):"]
        lines += [f"    {email:40} {password}" for email, password in self.others.items()]
        lines.append("These passwords are generated now, shown once and stored only as argon2 hashes; keep them, or "
                     "make another admin with `cleanclaim user create`.")
        return "\n".join(lines)


def first_start(factory: sessionmaker[Session], *, claims: int = 200) -> FirstSignIn | None:
    """An empty database gets the demo workspace with generated passwords (never a default); else None."""
    with factory() as session:
        if session.scalars(select(Organisation.id).limit(1)).first() is not None:
            return None
    demo = load_demo(factory, claims=claims)
    others = {email: password for email, password in demo.passwords.items() if email != DEMO_ADMIN_EMAIL}
    return FirstSignIn(demo.organisation, DEMO_ADMIN_EMAIL, demo.passwords[DEMO_ADMIN_EMAIL], others)
