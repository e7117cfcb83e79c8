"""cleanclaim: turn what a clinician or coach documented into a defensible claim, and check claims before a payer does.

The public API is small and typed::

    import cleanclaim
    result = cleanclaim.code("examples/pt-visit-97535.yaml")       # services -> claim lines, with the arithmetic
    report = cleanclaim.check("claims.csv", as_of=date(2026, 4, 1))  # scrub billed lines with every rule
    estimate = cleanclaim.price(encounter, locality="01182:18")      # Medicare PFS estimate, step by step

Nothing here is legal or billing advice, and no AMA CPT descriptor text is shipped: code summaries are our own words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cleanclaim.exports import lazy_exports

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
# pydantic and Polars; the names are imported on first use instead (`cleanclaim.exports`), and stay in the module
# after. The same modules and names as the TYPE_CHECKING imports above (tests/test_startup_imports.py holds them so).
_HOMES = {
    "cleanclaim.errors": ("CleanclaimError", "DataError", "InputError", "UnknownPayerError"),
    "cleanclaim.model": ("ClaimLine", "Encounter", "Finding", "Service", "Severity"),
    "cleanclaim.pricing": ("PricedClaim", "price"),
    "cleanclaim.scrub": ("CheckResult", "CodeResult", "check", "code"),
}

if not TYPE_CHECKING:  # mypy reads the imports above; a `__getattr__` it saw would make every misspelling `Any`
    __getattr__, __dir__ = lazy_exports(__name__, globals(), _HOMES)
