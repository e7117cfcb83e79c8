"""The choices of a sampling method, apart from the code that applies them: `cleanclaim sample --allocation` and
`cleanclaim extrapolate --df` offer them as options, and typer builds every command's options when the CLI starts,
so this module imports nothing heavy (the frames reader imports Polars); `cleanclaim --help` does not pay for it."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Allocation", "DegreesOfFreedom"]


class Allocation(StrEnum):
    """How ``--size`` is shared among strata (`cleanclaim.sampling.draw` describes both)."""

    PROPORTIONAL = "proportional"
    EQUAL = "equal"


class DegreesOfFreedom(StrEnum):
    """The degrees of freedom of a stratified estimate's t (`cleanclaim.sampling.extrapolation` gives the formulas)."""

    N_MINUS_STRATA = "n-minus-strata"
    SATTERTHWAITE = "satterthwaite"
