"""The Wichmann–Hill generator (Applied Statistics algorithm AS 183, 1982), the generator OIG's RAT-STATS uses.

Why this generator rather than Python's Mersenne Twister: an auditor's sample must be reproducible by the other side
with the seed alone, and RAT-STATS users know AS 183. Three small multiplicative congruential generators are summed
modulo 1:

    s1 = 171 * s1 mod 30269;  s2 = 172 * s2 mod 30307;  s3 = 170 * s3 mod 30323
    u  = (s1 / 30269 + s2 / 30307 + s3 / 30323) mod 1

One integer seed becomes the three seeds as Python 2's ``random.WichmannHill.seed`` did it (a documented, public
mapping): ``a, x = divmod(seed, 30268); a, y = divmod(a, 30306); a, z = divmod(a, 30322)``, seeds ``x+1, y+1, z+1``.
RAT-STATS turns its own seed into three seeds in a way its manual does not publish, so the same integer seed is NOT
claimed to give RAT-STATS's numbers; the three seeds this module prints can be given to any AS 183 implementation
(or back to ``--seed s1,s2,s3``) to reproduce the sample exactly.
"""

from __future__ import annotations

import re

from cleanclaim.errors import InputError

__all__ = ["MODULI", "MULTIPLIERS", "WichmannHill", "parse_seed"]

MODULI = (30269, 30307, 30323)
MULTIPLIERS = (171, 172, 170)


class WichmannHill:
    """AS 183. ``next()`` returns the next uniform number in [0, 1) and advances the three seeds."""

    def __init__(self, seeds: tuple[int, int, int]) -> None:
        for seed, modulus in zip(seeds, MODULI, strict=True):
            if not 1 <= seed < modulus:
                raise InputError(f"each Wichmann-Hill seed must be from 1 to its modulus minus 1 "
                                 f"({', '.join(str(m - 1) for m in MODULI)}), got {seeds}", field="--seed")
        self.initial_seeds = seeds
        self._s1, self._s2, self._s3 = seeds

    @classmethod
    def from_integer(cls, seed: int) -> WichmannHill:
        """Three seeds from one integer, as Python 2's ``random.WichmannHill.seed`` made them."""
        if seed < 0:
            raise InputError(f"--seed must be a whole number of 0 or more, got {seed}", field="--seed")
        rest, x = divmod(seed, 30268)
        rest, y = divmod(rest, 30306)
        _, z = divmod(rest, 30322)
        return cls((x + 1, y + 1, z + 1))

    @property
    def seeds(self) -> tuple[int, int, int]:
        """The current state (the seeds the next number will be computed from)."""
        return self._s1, self._s2, self._s3

    def next(self) -> float:
        self._s1 = MULTIPLIERS[0] * self._s1 % MODULI[0]
        self._s2 = MULTIPLIERS[1] * self._s2 % MODULI[1]
        self._s3 = MULTIPLIERS[2] * self._s3 % MODULI[2]
        return (self._s1 / MODULI[0] + self._s2 / MODULI[1] + self._s3 / MODULI[2]) % 1.0


def parse_seed(text: str) -> WichmannHill:
    """``--seed 2026`` (one integer) or ``--seed 171,344,510`` (AS 183's three seeds, as printed with a sample)."""
    value = text.strip()
    if re.fullmatch(r"[0-9]+", value):
        return WichmannHill.from_integer(int(value))
    parts = [p.strip() for p in value.split(",")]
    if len(parts) == 3 and all(re.fullmatch(r"[0-9]+", p) for p in parts):
        return WichmannHill((int(parts[0]), int(parts[1]), int(parts[2])))
    raise InputError(f"--seed expects a whole number (2026) or three Wichmann-Hill seeds (171,344,510), got {text!r}",
                     field="--seed")
