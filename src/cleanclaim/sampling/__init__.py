"""Statistically valid sampling and extrapolation of overpayments, the way a Medicare contractor or the OIG does it
(CMS Pub 100-08, Program Integrity Manual, ch. 8 §8.4; OIG RAT-STATS): draw a reproducible random sample of claims,
audit it, then project the sample's overpayments onto the population with a one-sided 90% lower confidence limit."""

from cleanclaim.sampling.draw import Allocation, SampleDraw, StrataSpec, draw_sample, parse_strata
from cleanclaim.sampling.extrapolation import DegreesOfFreedom, Extrapolation, extrapolate
from cleanclaim.sampling.frames import SampledResult, SamplingUnit, read_population, read_results
from cleanclaim.sampling.wichmann_hill import WichmannHill

__all__ = ["Allocation", "DegreesOfFreedom", "Extrapolation", "SampleDraw", "SampledResult", "SamplingUnit",
           "StrataSpec", "WichmannHill", "draw_sample", "extrapolate", "parse_strata", "read_population",
           "read_results"]
