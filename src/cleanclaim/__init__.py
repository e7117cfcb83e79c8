"""cleanclaim: turn what a clinician or coach documented into a defensible claim, and check claims before a payer does.

The public API is small and typed::

    import cleanclaim
    result = cleanclaim.code("examples/pt-visit-97535.yaml")       # services -> claim lines, with the arithmetic
    report = cleanclaim.check("claims.csv", as_of=date(2026, 4, 1))  # scrub billed lines with every rule
    estimate = cleanclaim.price(encounter, locality="01182:18")      # Medicare PFS estimate, step by step

Nothing here is legal or billing advice, and no AMA CPT descriptor text is shipped: code summaries are our own words.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cleanclaim.errors import CleanclaimError, DataError, InputError, UnknownPayerError
    from cleanclaim.model import ClaimLine, Encounter, Finding, Service, Severity
    from cleanclaim.pricing import PricedClaim, price
    from cleanclaim.scrub import CheckResult, CodeResult, check, code

__all__ = [
    "CheckResult",
    "ClaimLine",
    "CleanclaimError",
    "CodeResult",
    "DataError",
    "Encounter",
    "Finding",
    "InputError",
    "PricedClaim",
    "Service",
    "Severity",
    "UnknownPayerError",
    "check",
    "code",
    "price",
]

__version__ = "0.1.0"

# Where each public name lives. Importing ``cleanclaim.<anything>`` runs this file first, so an eager import of the
# rule engine here made every submodule (the CLI's ``--help``, ``cleanclaim.errors``) pay for scrub, pricing,
# pydantic and Polars; the names are imported on first use instead (PEP 562), and stay in the module after.
_HOMES = {
    "CleanclaimError": "cleanclaim.errors",
    "DataError": "cleanclaim.errors",
    "InputError": "cleanclaim.errors",
    "UnknownPayerError": "cleanclaim.errors",
    "ClaimLine": "cleanclaim.model",
    "Encounter": "cleanclaim.model",
    "Finding": "cleanclaim.model",
    "Service": "cleanclaim.model",
    "Severity": "cleanclaim.model",
    "PricedClaim": "cleanclaim.pricing",
    "price": "cleanclaim.pricing",
    "CheckResult": "cleanclaim.scrub",
    "CodeResult": "cleanclaim.scrub",
    "check": "cleanclaim.scrub",
    "code": "cleanclaim.scrub",
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
    """The module's names with the public ones not imported yet, so ``dir(cleanclaim)`` and completion list them."""
    return sorted({*globals(), *__all__})
