"""cleanclaim: turn what a clinician or coach documented into a defensible claim, and check claims before a payer does.

The public API is small and typed::

    import cleanclaim
    result = cleanclaim.code("examples/pt-visit-97535.yaml")       # services -> claim lines, with the arithmetic
    report = cleanclaim.check("claims.csv", as_of=date(2026, 4, 1))  # scrub billed lines with every rule
    estimate = cleanclaim.price(encounter, locality="01182:18")      # Medicare PFS estimate, step by step

Nothing here is legal or billing advice, and no AMA CPT descriptor text is shipped: code summaries are our own words.
"""

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
