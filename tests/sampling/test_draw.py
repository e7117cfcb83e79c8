"""Allocation of the sample to strata, worked by hand, and properties of every draw."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from cleanclaim.sampling.draw import Allocation, StrataSpec, _allocate, draw_sample
from cleanclaim.sampling.frames import Frame, SamplingUnit
from cleanclaim.sampling.wichmann_hill import WichmannHill


def test_proportional_allocation_by_largest_remainder_then_two_per_stratum() -> None:
    # n = 7 over N = 50 + 30 + 20: exact shares 3.5, 2.1, 1.4 -> floors 3, 2, 1 (6); the one left goes to the
    # largest remainder (S1: .5) -> 4, 2, 1; then S3 is raised to the minimum of 2 -> 4, 2, 2 (8 in all)
    assert _allocate(7, {"S1": 50, "S2": 30, "S3": 20}, Allocation.PROPORTIONAL) == {"S1": 4, "S2": 2, "S3": 2}


def test_proportional_allocation_exact_when_shares_are_whole() -> None:
    # n = 10 over 60, 30, 10 -> 6, 3, 1 ... and S3 raised to 2
    assert _allocate(10, {"S1": 60, "S2": 30, "S3": 10}, Allocation.PROPORTIONAL) == {"S1": 6, "S2": 3, "S3": 2}
    # a stratum of one claim is taken whole, never asked for 2
    assert _allocate(10, {"S1": 60, "S2": 1}, Allocation.PROPORTIONAL) == {"S1": 10, "S2": 1}


def test_equal_allocation_passes_what_a_small_stratum_cannot_take() -> None:
    # n = 10 over 3 strata: 4, 3, 3 -- but S1 has only 3 claims, so its fourth goes on: 3, 4, 3
    assert _allocate(10, {"S1": 3, "S2": 50, "S3": 50}, Allocation.EQUAL) == {"S1": 3, "S2": 4, "S3": 3}


def _frame(paid: list[int]) -> Frame:
    return Frame([SamplingUnit(f"C{i}", Decimal(p), None, i + 2) for i, p in enumerate(paid)], "paid", "f.csv")


@settings(max_examples=60, deadline=None)
@given(paid=st.lists(st.integers(min_value=0, max_value=2000), min_size=4, max_size=120),
       fraction=st.floats(min_value=0.05, max_value=1.0), seed=st.integers(min_value=0, max_value=10**9),
       allocation=st.sampled_from(list(Allocation)))
def test_every_draw_is_distinct_claims_of_the_right_strata_in_the_right_numbers(
        paid: list[int], fraction: float, seed: int, allocation: Allocation) -> None:
    frame = _frame(paid)
    size = max(1, int(len(paid) * fraction))
    spec = StrataSpec(paid_bounds=(Decimal(500), Decimal(1500)))
    draw = draw_sample(frame, size=size, generator=WichmannHill.from_integer(seed), strata=spec,
                       allocation=allocation)
    ids = [claim.unit.claim_id for claim in draw.claims]
    assert len(ids) == len(set(ids))
    for claim in draw.claims:
        low, high = {"S1": (0, 500), "S2": (500, 1500), "S3": (1500, 10**9)}[claim.stratum]
        assert low <= claim.unit.paid < high
    for stratum in draw.strata:
        assert sum(1 for c in draw.claims if c.stratum == stratum.stratum) == stratum.sample_size
        assert stratum.sample_size <= stratum.population_size
    assert sum(s.population_size for s in draw.strata) == len(paid)
    assert len(ids) >= size
    # the same seed draws the same sample
    again = draw_sample(frame, size=size, generator=WichmannHill.from_integer(seed), strata=spec,
                        allocation=allocation)
    assert [c.unit.claim_id for c in again.claims] == ids
