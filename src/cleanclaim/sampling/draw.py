"""Drawing a simple or stratified random sample of claims, without replacement, with the random numbers kept.

How a claim is picked (the procedure of RAT-STATS's random numbers over a numbered frame): the claims of a stratum
are numbered 1..N in the frame's file order; each Wichmann-Hill number u gives the position ``floor(u * N) + 1``; a
position already drawn is skipped (its number is counted, not used) until the stratum has its n claims. Strata are
drawn in the order of their names (paid-amount strata: lowest first) from one continuing stream of numbers, so the
seed alone reproduces every stratum.

Allocation of ``--size n`` to strata:
- ``proportional`` (default): n_h = n * N_h / N, rounded by largest remainder (Hamilton) so the n_h add up to n; then
  every stratum gets at least min(2, N_h) claims (two are the fewest that estimate a stratum's variance; a stratum of
  one claim is taken whole), which may raise the total above n (the draw says so);
- ``equal``: n // L per stratum, the remainder to the first strata; a stratum smaller than its share is taken
  whole and the rest goes to the others.
A stratum whose n_h equals N_h is a certainty stratum: every claim in it is audited and it adds no sampling error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

from cleanclaim.errors import InputError
from cleanclaim.sampling.frames import Frame, SamplingUnit
from cleanclaim.sampling.methods import Allocation
from cleanclaim.sampling.wichmann_hill import WichmannHill

__all__ = ["Allocation", "DrawnClaim", "SampleDraw", "StrataSpec", "StratumDraw", "draw_sample", "parse_strata"]

MIN_PER_STRATUM = 2


@dataclass(frozen=True)
class StrataSpec:
    """How claims are put in strata: by upper bounds on the paid amount, or by a column's value."""

    paid_bounds: tuple[Decimal, ...] = ()
    column: str | None = None

    def describe(self) -> str:
        if self.paid_bounds:
            return "by paid amount, upper bounds " + ", ".join(f"{b:.2f}" for b in self.paid_bounds)
        return f"by column {self.column}" if self.column else "none (simple random sample)"


def parse_strata(text: str | None) -> StrataSpec:
    """``paid:100,500`` (strata paid < 100, 100 <= paid < 500, paid >= 500) or ``column:NAME``."""
    if text is None or not text.strip():
        return StrataSpec()
    kind, _, rest = text.strip().partition(":")
    if kind == "paid" and rest:
        try:
            bounds = tuple(Decimal(part.strip()) for part in rest.split(","))
        except ArithmeticError as exc:
            raise InputError(f"--strata paid: expects amounts such as paid:100,500, got {text!r}",
                             field="--strata") from exc
        if any(not b.is_finite() for b in bounds) or list(bounds) != sorted(set(bounds)):
            raise InputError(f"--strata paid: bounds must be finite and strictly increasing, got {text!r}",
                             field="--strata")
        return StrataSpec(paid_bounds=bounds)
    if kind == "column" and rest.strip():
        return StrataSpec(column=rest.strip())
    raise InputError(f"--strata expects paid:BOUND,BOUND,... or column:NAME, got {text!r}", field="--strata")


@dataclass(frozen=True)
class DrawnClaim:
    sample_order: int
    stratum: str
    position: int
    random_number: float
    unit: SamplingUnit


@dataclass(frozen=True)
class StratumDraw:
    stratum: str
    label: str
    population_size: int
    population_paid: Decimal
    sample_size: int
    numbers_skipped: int


@dataclass
class SampleDraw:
    """A drawn sample with everything needed to reproduce and to extrapolate it."""

    claims: list[DrawnClaim]
    strata: list[StratumDraw]
    seeds: tuple[int, int, int]
    allocation: Allocation
    strata_spec: StrataSpec
    requested_size: int
    amount_column: str
    population: list[tuple[SamplingUnit, str]] = field(default_factory=list)
    """Every claim of the frame with the stratum it was put in (written beside the sample for `extrapolate`)."""

    def method(self) -> dict[str, object]:
        return {
            "generator": "Wichmann-Hill AS 183 (Applied Statistics 31:188-190, 1982)",
            "seeds": list(self.seeds),
            "selection": "position floor(u*N_h)+1 in the stratum's file order; repeated positions skipped",
            "strata": self.strata_spec.describe(),
            "allocation": self.allocation.value,
            "requested_size": self.requested_size,
            "sample_size": len(self.claims),
            "amount_column": self.amount_column,
            "by_stratum": [{"stratum": s.stratum, "label": s.label, "population_size": s.population_size,
                            "population_paid": f"{s.population_paid:.2f}", "sample_size": s.sample_size,
                            "numbers_skipped": s.numbers_skipped} for s in self.strata],
        }


def _assign(frame: Frame, spec: StrataSpec) -> tuple[list[tuple[SamplingUnit, str]], dict[str, str]]:
    """Each claim with its stratum name, and each stratum's label."""
    if spec.paid_bounds:
        width = len(str(len(spec.paid_bounds) + 1))
        labels: dict[str, str] = {}
        edges = [None, *spec.paid_bounds, None]
        for index in range(len(spec.paid_bounds) + 1):
            low, high = edges[index], edges[index + 1]
            name = f"S{index + 1:0{width}d}"
            labels[name] = (f"paid < {high:.2f}" if low is None else f"paid >= {low:.2f}" if high is None
                            else f"{low:.2f} <= paid < {high:.2f}")
        assigned = []
        for unit in frame.units:
            index = sum(1 for bound in spec.paid_bounds if unit.paid >= bound)
            assigned.append((unit, f"S{index + 1:0{width}d}"))
        return assigned, labels
    if spec.column:
        assigned = [(unit, unit.stratum or "") for unit in frame.units]
        return assigned, {name: f"{spec.column} = {name}" for _, name in assigned}
    return [(unit, "all") for unit in frame.units], {"all": "all claims"}


def _allocate(size: int, sizes: dict[str, int], allocation: Allocation) -> dict[str, int]:
    total = sum(sizes.values())
    names = sorted(sizes)
    if allocation is Allocation.EQUAL:
        # one claim at a time to each stratum in turn that still has claims left: n // L each, the remainder to the
        # first strata, and what a small stratum cannot take goes on to the others
        shares = dict.fromkeys(names, 0)
        given = 0
        while given < size:
            for name in names:
                if given < size and shares[name] < sizes[name]:
                    shares[name] += 1
                    given += 1
        return shares
    exact = {name: Decimal(size) * sizes[name] / total for name in names}
    shares = {name: math.floor(exact[name]) for name in names}
    left = size - sum(shares.values())
    for name in sorted(names, key=lambda n: (-(exact[n] - shares[n]), n))[:left]:
        shares[name] += 1
    if len(names) > 1:
        shares = {name: max(shares[name], min(MIN_PER_STRATUM, sizes[name])) for name in names}
    return {name: min(shares[name], sizes[name]) for name in names}


def draw_sample(frame: Frame, *, size: int, generator: WichmannHill, strata: StrataSpec | None = None,
                allocation: Allocation = Allocation.PROPORTIONAL) -> SampleDraw:
    """A reproducible sample of ``size`` claims of the frame (see the module's docstring for the procedure)."""
    spec = strata or StrataSpec()
    if size < 1:
        raise InputError(f"--size must be at least 1, got {size}", field="--size")
    if size > len(frame.units):
        raise InputError(f"--size {size} is larger than the population of {len(frame.units)} claims",
                         file=frame.path, field="--size")
    seeds = generator.seeds
    assigned, labels = _assign(frame, spec)
    members: dict[str, list[SamplingUnit]] = {}
    for unit, name in assigned:
        members.setdefault(name, []).append(unit)
    sizes = {name: len(units) for name, units in members.items()}
    wanted = _allocate(size, sizes, allocation)
    drawn: list[DrawnClaim] = []
    summary: list[StratumDraw] = []
    for name in sorted(members):
        units, n = members[name], wanted[name]
        taken: set[int] = set()
        skipped = 0
        while len(taken) < n:
            number = generator.next()
            position = math.floor(number * len(units)) + 1
            if position in taken:
                skipped += 1
                continue
            taken.add(position)
            drawn.append(DrawnClaim(len(drawn) + 1, name, position, number, units[position - 1]))
        summary.append(StratumDraw(name, labels[name], len(units), sum((u.paid for u in units), Decimal(0)), n,
                                   skipped))
    return SampleDraw(drawn, summary, seeds, allocation, spec, size, frame.amount_column, assigned)
