"""Projecting a sample's audited overpayments onto the population: the mean-per-unit estimator with the finite
population correction and Student's t, stratified where strata are given.

Formulas (Cochran, *Sampling Techniques*, 3rd ed., 1977, §2.4-2.5 and §5.3-5.4), per stratum h with N_h claims in
the population, n_h audited, overpayments y_hi:

    mean_h = sum(y_hi) / n_h                     s2_h = sum((y_hi - mean_h)^2) / (n_h - 1)
    total  = sum(N_h * mean_h)                   var  = sum(N_h^2 * (1 - n_h / N_h) * s2_h / n_h)
    SE     = sqrt(var)                           t    = Student's t quantile 0.90 with df degrees of freedom
    lower  = total - t * SE   (the one-sided 90% lower limit: what a contractor demands, CMS Pub 100-08 ch. 8
                               §8.4.5.1 recovers at the lower limit of a one-sided 90% confidence interval;
                               ch. 8 "Statistical Sampling for Overpayment Estimation", Rev. 10383, 2020-10-09,
                               confirmed from its table of contents; the §8.4.5.1 number and text not verified here)
    upper  = total + t * SE   precision % = t * SE / total * 100 (undefined, null, when total is 0)

Degrees of freedom: n - 1 for a simple sample. Stratified, ``n-minus-strata`` (default) uses n - L, L the number of
strata that were sampled (not taken whole), and ``satterthwaite`` the effective degrees of freedom of Satterthwaite
(1946) as Cochran gives them (eq. 5.16): (sum a_h s2_h)^2 / sum((a_h s2_h)^2 / (n_h - 1)), a_h = N_h (N_h - n_h) / n_h.
n - L is the figure RAT-STATS-style reports usually quote; Satterthwaite is smaller (so t is larger and the lower
limit lower) when one stratum carries most of the variance, which is when n - L overstates the precision. A stratum
taken whole (n_h = N_h, also a stratum of one claim) adds its total exactly and no variance. A stratum sampled with
one claim out of more cannot estimate its variance and is refused.

Money is kept as ``Decimal`` through the sums and means; the square root and t are computed with 28 significant
digits and amounts are rounded to the cent (half up) only when shown.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from cleanclaim.errors import InputError
from cleanclaim.sampling.frames import SampledResult, SamplingUnit
from cleanclaim.sampling.methods import DegreesOfFreedom

__all__ = ["CONFIDENCE", "DegreesOfFreedom", "Extrapolation", "StratumEstimate", "extrapolate", "money"]

CONFIDENCE = 0.90
"""One-sided confidence of the lower limit (CMS Pub 100-08 ch. 8 §8.4.5.1: the lower limit of a one-sided 90%
interval)."""

_CENT = Decimal("0.01")


def money(value: Decimal) -> str:
    """An amount as a decimal string rounded to the cent, half up (the contract's money format)."""
    return str(value.quantize(_CENT, rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class StratumEstimate:
    stratum: str
    n: int
    population_size: int
    population_paid: Decimal | None
    sample_paid: Decimal
    sample_overpaid: Decimal
    mean: Decimal
    variance: Decimal
    """The sample variance s2_h (0 for a stratum taken whole or of one sampled claim)."""
    point_estimate: Decimal
    variance_of_total: Decimal

    def to_json(self) -> dict[str, Any]:
        return {
            "stratum": self.stratum, "n": self.n, "population_size": self.population_size,
            "population_paid": None if self.population_paid is None else money(self.population_paid),
            "sample_paid": money(self.sample_paid), "sample_overpayment": money(self.sample_overpaid),
            "mean_overpayment": money(self.mean), "point_estimate": money(self.point_estimate),
            "standard_error": money(self.variance_of_total.sqrt()),
        }


@dataclass(frozen=True)
class Extrapolation:
    n: int
    population_size: int
    point_estimate: Decimal
    standard_error: Decimal
    degrees_of_freedom: Decimal | None
    degrees_of_freedom_method: str
    t_value: Decimal | None
    lower_limit: Decimal
    upper_limit: Decimal
    precision_percent: Decimal | None
    strata: list[StratumEstimate]
    stratified: bool
    warnings: list[str]
    """Readable but doubtful input, computed with as given (an overpayment above what was paid, a paid amount that
    differs from the population's): shown on standard error, outside the JSON contract."""

    def to_json(self) -> dict[str, Any]:
        """The contract's keys (DESIGN.md, ``extrapolate --json``); money as decimal strings."""
        return {
            "n": self.n,
            "population_size": self.population_size,
            "point_estimate": money(self.point_estimate),
            "standard_error": money(self.standard_error),
            "t_value": None if self.t_value is None else round(float(self.t_value), 6),
            "lower_limit_90": money(self.lower_limit),
            "upper_limit_90": money(self.upper_limit),
            "precision_percent": None if self.precision_percent is None else round(float(self.precision_percent), 4),
            "strata": [s.to_json() for s in self.strata] if self.stratified else [],
        }


def _group(results: list[SampledResult]) -> dict[str | None, list[SampledResult]]:
    groups: dict[str | None, list[SampledResult]] = defaultdict(list)
    for result in results:
        groups[result.stratum].append(result)
    return groups


def extrapolate(results: list[SampledResult], *, results_file: str, population_size: int | None = None,
                population: list[SamplingUnit] | None = None, population_file: str | None = None,
                degrees_of_freedom: DegreesOfFreedom = DegreesOfFreedom.N_MINUS_STRATA) -> Extrapolation:
    """The estimate for the audited sample ``results`` from a population given by its size (simple sample) or its
    claims (simple or stratified; strata come from the results' ``stratum`` or else the population's)."""
    if (population_size is None) == (population is None):
        raise InputError("give the population as --population-size N or --population FILE (one of them)",
                         field="--population")
    sizes: dict[str | None, int]
    paid: dict[str | None, Decimal | None]
    if population is None:
        assert population_size is not None
        if any(r.stratum is not None for r in results):
            raise InputError("the results are stratified (a stratum column): give --population FILE with each "
                             "claim's stratum, so each stratum's size is known", file=results_file, field="stratum")
        if population_size < 1:
            raise InputError(f"--population-size must be at least 1, got {population_size}",
                             field="--population-size")
        sizes, paid = {None: population_size}, {None: None}
    else:
        results, sizes, paid = _match(results, results_file, population, population_file or "--population")
    groups = _group(results)
    for stratum, members in groups.items():
        where = "" if stratum is None else f" in stratum {stratum!r}"
        if len(members) > sizes[stratum]:
            raise InputError(f"the sample has {len(members)} claims{where} but the population only "
                             f"{sizes[stratum]}: a sample cannot be larger than its population", file=results_file,
                             field="stratum" if stratum is not None else "--population-size")
    missing = sorted(str(s) for s in sizes if s not in groups)
    if missing:
        raise InputError(f"stratum {', '.join(missing)} of the population has no sampled claim: its overpayment "
                         "cannot be estimated", file=results_file, field="stratum")
    estimates = [_stratum(stratum, groups[stratum], sizes[stratum], paid[stratum], results_file)
                 for stratum in sorted(groups, key=lambda s: "" if s is None else s)]
    from scipy import stats  # type: ignore[import-untyped]  # here: seconds of start-up for every other command

    with localcontext() as context:
        context.prec = 28
        point = sum((e.point_estimate for e in estimates), Decimal(0))
        variance = sum((e.variance_of_total for e in estimates), Decimal(0))
        standard_error = variance.sqrt()
        df, method = _degrees_of_freedom(estimates, degrees_of_freedom, variance)
        t_value = None if df is None else Decimal(repr(float(stats.t.ppf(CONFIDENCE, float(df)))))
        margin = Decimal(0) if t_value is None else t_value * standard_error
        precision = None if point == 0 or t_value is None else margin / abs(point) * 100
        return Extrapolation(
            n=len(results), population_size=sum(sizes.values()), point_estimate=point,
            standard_error=standard_error, degrees_of_freedom=df, degrees_of_freedom_method=method,
            t_value=t_value, lower_limit=point - margin, upper_limit=point + margin, precision_percent=precision,
            strata=estimates, stratified=any(e.stratum != "" for e in estimates),
            warnings=_doubts(results, results_file, population))


def _doubts(results: list[SampledResult], results_file: str, population: list[SamplingUnit] | None) -> list[str]:
    paid = {unit.claim_id: unit.paid for unit in population or []}
    doubts: list[str] = []
    for result in results:
        if result.overpayment > result.paid:
            doubts.append(f"{results_file}, row {result.row}: claim {result.claim_id!r} has an overpayment "
                          f"{result.overpayment} above its paid amount {result.paid}; check the audit worksheet")
        if result.claim_id in paid and paid[result.claim_id] != result.paid:
            doubts.append(f"{results_file}, row {result.row}: claim {result.claim_id!r} is paid {result.paid} here "
                          f"but {paid[result.claim_id]} in the population file")
    return doubts


def _match(results: list[SampledResult], results_file: str, population: list[SamplingUnit], population_file: str,
           ) -> tuple[list[SampledResult], dict[str | None, int], dict[str | None, Decimal | None]]:
    """Every sampled claim found in the population, each result with its population's stratum; the strata's sizes
    and paid totals."""
    by_id = {unit.claim_id: unit for unit in population}
    stratified = any(unit.stratum is not None for unit in population)
    matched: list[SampledResult] = []
    for result in results:
        unit = by_id.get(result.claim_id)
        if unit is None:
            raise InputError(f"claim {result.claim_id!r} is not in the population file {population_file}: a sampled "
                             "claim must come from the population", file=results_file, row=result.row,
                             field="claim_id")
        if result.stratum is not None and not stratified:
            raise InputError("the results are stratified but the population file has no stratum column",
                             file=population_file, field="stratum")
        if result.stratum is not None and result.stratum != unit.stratum:
            raise InputError(f"claim {result.claim_id!r} is in stratum {result.stratum!r} here but "
                             f"{unit.stratum!r} in the population file (row {unit.row})", file=results_file,
                             row=result.row, field="stratum")
        matched.append(SampledResult(result.claim_id, result.paid, result.overpayment, unit.stratum, result.row))
    sizes: dict[str | None, int] = defaultdict(int)
    totals: dict[str | None, Decimal | None] = defaultdict(lambda: Decimal(0))
    for unit in population:
        sizes[unit.stratum] += 1
        total = totals[unit.stratum]
        assert total is not None
        totals[unit.stratum] = total + unit.paid
    return matched, dict(sizes), dict(totals)


def _stratum(stratum: str | None, members: list[SampledResult], size: int, paid: Decimal | None,
             results_file: str) -> StratumEstimate:
    n = len(members)
    with localcontext() as context:
        context.prec = 28
        overpaid = sum((m.overpayment for m in members), Decimal(0))
        mean = overpaid / n
        if n == size:
            variance = Decimal(0)
        elif n == 1:
            raise InputError(f"stratum {stratum!r} has 1 sampled claim out of {size}: its variance cannot be "
                             "estimated; sample at least 2 claims (or all of them)", file=results_file,
                             row=members[0].row, field="stratum")
        else:
            variance = sum(((m.overpayment - mean) ** 2 for m in members), Decimal(0)) / (n - 1)
        fpc = 1 - Decimal(n) / Decimal(size)
        return StratumEstimate(
            stratum="" if stratum is None else stratum, n=n, population_size=size, population_paid=paid,
            sample_paid=sum((m.paid for m in members), Decimal(0)), sample_overpaid=overpaid, mean=mean,
            variance=variance, point_estimate=size * mean,
            variance_of_total=Decimal(size) ** 2 * fpc * variance / n)


def _degrees_of_freedom(estimates: list[StratumEstimate], method: DegreesOfFreedom,
                        variance: Decimal) -> tuple[Decimal | None, str]:
    """The degrees of freedom and how they were found; None when there are none (every claim audited: the total is
    exact and the interval has no width)."""
    sampled = [e for e in estimates if e.n < e.population_size]
    if len(estimates) == 1:
        df = estimates[0].n - 1
        return (Decimal(df) if df >= 1 else None), "n - 1"
    n_minus = sum(e.n for e in sampled) - len(sampled)
    if method is DegreesOfFreedom.SATTERTHWAITE and variance > 0:
        denominator = Decimal(0)
        for e in sampled:
            a_s2 = Decimal(e.population_size) * (e.population_size - e.n) / e.n * e.variance
            denominator += a_s2 ** 2 / (e.n - 1)
        numerator = sum((Decimal(e.population_size) * (e.population_size - e.n) / e.n * e.variance
                         for e in sampled), Decimal(0)) ** 2
        return numerator / denominator, "Satterthwaite (Cochran 1977 eq. 5.16)"
    if method is DegreesOfFreedom.SATTERTHWAITE:
        label = "n - L (Satterthwaite is undefined when every sampled stratum has zero variance)"
    else:
        label = "n - L over the sampled strata"
    return (Decimal(n_minus) if n_minus >= 1 else None), label
