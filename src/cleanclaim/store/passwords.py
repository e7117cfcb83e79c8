"""Password hashing for ``users.password_hash``: argon2id (argon2-cffi), as issue 12 requires.

The PHC string keeps the parameters with the hash, so raising the cost later only needs :func:`needs_rehash` at
the next sign-in, not a migration.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    """The argon2id PHC string of ``password`` (a new random salt each time)."""
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches; a malformed stored hash is a mismatch, not a crash at sign-in."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's: rehash after a successful sign-in."""
    return _HASHER.check_needs_rehash(password_hash)
