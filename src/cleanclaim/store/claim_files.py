"""A stored claim as a file to download (837P, FHIR bundle, CMS-1500 or superbill PDF) and its price estimate.

Thin over the engine: the claim's current version becomes its interchange encounter (``claims.encounter_of``) and
the engine's writers (``formats.export``) and pricer (``pricing.price``) do the rest, exactly as ``cleanclaim
export`` and ``cleanclaim price`` would on that encounter. The writers write files whole (temp file + rename), so a
download is written into a private temporary folder and read back; nothing is left on disk.

An 837P downloaded here is a *copy for review*: its envelope comes from the organisation's submission settings
when they exist (else from the claim), its usage indicator is always T (test), and it takes no control number from
the organisation's counter, so it can never be mistaken for (or collide with) a submitted batch.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from cleanclaim.errors import InputError
from cleanclaim.formats.export import FORMATS, ExportFormat, X12Options, export_encounters
from cleanclaim.pricing import PricedClaim, price
from cleanclaim.store import models as m
from cleanclaim.store.claims import encounter_of
from cleanclaim.store.tenant import Tenant

__all__ = ["MEDIA_TYPES", "ClaimFile", "claim_file", "claim_price"]

MEDIA_TYPES: dict[ExportFormat, tuple[str, str]] = {
    "837p": ("application/edi-x12", "837p.txt"),
    "fhir": ("application/fhir+json", "fhir.json"),
    "cms1500": ("application/pdf", "cms1500.pdf"),
    "superbill": ("application/pdf", "superbill.pdf"),
}
"""Per format: the media type of the download and the end of its file name."""


@dataclass(frozen=True)
class ClaimFile:
    name: str
    media_type: str
    content: bytes


def _safe_stem(text: str) -> str:
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "_" for ch in text)[:60] or "claim"


def claim_file(tenant: Tenant, claim_id: int, fmt: str) -> ClaimFile:
    """The claim's current version written in ``fmt``; NotFoundError for another organisation's claim, InputError
    (naming what the format lacks) when the writer cannot write this claim."""
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}", field="format")
    chosen: ExportFormat = fmt
    encounter = encounter_of(tenant, claim_id)
    if not encounter.lines:
        raise InputError("the claim has no billed lines yet; code it first", field="lines")
    settings = tenant.session.scalars(tenant.select(m.SubmissionSettings)).first()
    options = X12Options(
        sender_id=settings.sender_id, receiver_id=settings.receiver_id, receiver_name=settings.receiver_name,
        submitter_name=settings.submitter_name, submitter_contact=settings.submitter_contact,
        submitter_phone=settings.submitter_phone) if settings is not None else X12Options()
    media_type, ending = MEDIA_TYPES[chosen]
    with tempfile.TemporaryDirectory(prefix="cleanclaim-export-") as folder:
        target = Path(folder) / ending
        result = export_encounters([encounter], chosen, target, x12=options)
        if result.errors or not result.written:
            reasons = "; ".join(str(error) for error in result.errors) or "nothing was written"
            raise InputError(f"the claim cannot be written as {fmt}: {reasons}", field="format")
        content = result.written[0].path.read_bytes()
    stem = _safe_stem(encounter.claim_id or encounter.id)
    return ClaimFile(f"{stem}-{ending}", media_type, content)


def claim_price(tenant: Tenant, claim_id: int, *, locality: str | None = None,
                deductible_remaining: Decimal = Decimal(0)) -> PricedClaim:
    """Medicare PFS estimate of the claim's current lines: national amounts unless ``locality`` (``MAC:LOCALITY``)
    is given (the workspace keeps no locality of its own yet); the claim page's and the API's estimate."""
    return price(encounter_of(tenant, claim_id), locality=locality, deductible_remaining=deductible_remaining)
