"""Frames built from the payer profiles once per set of profiles, not once per check.

Several rules turn profile settings (timely filing, not-covered codes, frequency limits, distinct goals) into small
tables to join with the lines. On a single claim, building such a table costs as much as the rule's whole plan, and
the profiles of one process rarely change: ``load_profile`` returns the same frozen object for a profile every time.
So those tables are cached with :class:`ProfilesKey`, the check's payer mapping compared by identity (a profile is
not hashable by value: it holds lists and dicts).
"""

from __future__ import annotations

from collections.abc import Mapping

from cleanclaim.payers import PayerProfile

__all__ = ["ProfilesKey"]


class ProfilesKey:
    """The payer mapping of a check as a cache key: equal when it maps the same ids to the same profile objects.

    It holds the profiles, so a cached entry keeps them alive and an ``id`` cannot be reused by another profile
    while the entry exists."""

    __slots__ = ("_hash", "items")

    def __init__(self, payers: Mapping[str, PayerProfile]) -> None:
        self.items: tuple[tuple[str, PayerProfile], ...] = tuple(payers.items())
        self._hash = hash(tuple((payer_id, id(profile)) for payer_id, profile in self.items))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProfilesKey):
            return NotImplemented
        return len(self.items) == len(other.items) and all(
            mine[0] == theirs[0] and mine[1] is theirs[1] for mine, theirs in zip(self.items, other.items, strict=True))
