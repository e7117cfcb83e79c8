"""Statistically valid sampling and extrapolation of overpayments, the way a Medicare contractor or the OIG does it
(CMS Pub 100-08, Program Integrity Manual, ch. 8 §8.4; OIG RAT-STATS): draw a reproducible random sample of claims,
audit it, then project the sample's overpayments onto the population with a one-sided 90% lower confidence limit."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cleanclaim.sampling.draw import SampleDraw, StrataSpec, draw_sample, parse_strata
    from cleanclaim.sampling.extrapolation import Extrapolation, extrapolate
    from cleanclaim.sampling.frames import SampledResult, SamplingUnit, read_population, read_results
    from cleanclaim.sampling.methods import Allocation, DegreesOfFreedom
    from cleanclaim.sampling.wichmann_hill import WichmannHill

__all__ = ["Allocation", "DegreesOfFreedom", "Extrapolation", "SampleDraw", "SampledResult", "SamplingUnit",
           "StrataSpec", "WichmannHill", "draw_sample", "extrapolate", "parse_strata", "read_population",
           "read_results"]

# Where each public name lives. The CLI's `sample` and `extrapolate` options need the two enums while typer builds
# them at start-up; the frames reader imports Polars, so the rest loads on first use (PEP 562), as in
# `cleanclaim/__init__`, and `cleanclaim --help` does not wait for it.
_HOMES = {
    "Allocation": "cleanclaim.sampling.methods",
    "DegreesOfFreedom": "cleanclaim.sampling.methods",
    "SampleDraw": "cleanclaim.sampling.draw",
    "StrataSpec": "cleanclaim.sampling.draw",
    "draw_sample": "cleanclaim.sampling.draw",
    "parse_strata": "cleanclaim.sampling.draw",
    "Extrapolation": "cleanclaim.sampling.extrapolation",
    "extrapolate": "cleanclaim.sampling.extrapolation",
    "SampledResult": "cleanclaim.sampling.frames",
    "SamplingUnit": "cleanclaim.sampling.frames",
    "read_population": "cleanclaim.sampling.frames",
    "read_results": "cleanclaim.sampling.frames",
    "WichmannHill": "cleanclaim.sampling.wichmann_hill",
}


def __getattr__(name: str) -> Any:
    """A public name, imported from its module the first time it is asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names with the public ones not imported yet, so ``dir()`` and completion list them."""
    return sorted({*globals(), *__all__})
