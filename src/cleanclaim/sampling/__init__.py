"""Statistically valid sampling and extrapolation of overpayments, the way a Medicare contractor or the OIG does it
(CMS Pub 100-08, Program Integrity Manual, ch. 8 §8.4; OIG RAT-STATS): draw a reproducible random sample of claims,
audit it, then project the sample's overpayments onto the population with a one-sided 90% lower confidence limit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cleanclaim.exports import lazy_exports

if TYPE_CHECKING:
    from cleanclaim.sampling.draw import SampleDraw, StrataSpec, draw_sample, parse_strata
    from cleanclaim.sampling.extrapolation import Extrapolation, extrapolate
    from cleanclaim.sampling.frames import SampledResult, SamplingUnit, read_population, read_results
    from cleanclaim.sampling.methods import Allocation, DegreesOfFreedom
    from cleanclaim.sampling.wichmann_hill import WichmannHill

__all__ = ["Allocation", "DegreesOfFreedom", "Extrapolation", "SampleDraw", "SampledResult", "SamplingUnit",
           "StrataSpec", "WichmannHill", "draw_sample", "extrapolate", "parse_strata", "read_population",
           "read_results"]

# Where each public name lives. Importing any submodule (`cleanclaim.sampling.methods` for the enums of the CLI's
# `sample` and `extrapolate` options, while typer builds them) runs this file first; the frames reader imports Polars,
# so the names load on first use (`cleanclaim.exports`) and `cleanclaim --help` does not wait for it. The same modules
# and names as the TYPE_CHECKING imports above (tests/test_startup_imports.py holds them so).
_HOMES = {
    "cleanclaim.sampling.draw": ("SampleDraw", "StrataSpec", "draw_sample", "parse_strata"),
    "cleanclaim.sampling.extrapolation": ("Extrapolation", "extrapolate"),
    "cleanclaim.sampling.frames": ("SampledResult", "SamplingUnit", "read_population", "read_results"),
    "cleanclaim.sampling.methods": ("Allocation", "DegreesOfFreedom"),
    "cleanclaim.sampling.wichmann_hill": ("WichmannHill",),
}

if not TYPE_CHECKING:  # mypy reads the imports above; a `__getattr__` it saw would make every misspelling `Any`
    __getattr__, __dir__ = lazy_exports(__name__, globals(), _HOMES)
