"""What every claim document needs in its lines, shared by the CMS-1500, the superbill and the FHIR Claim (the 837P
writer checks the same items in its own loop terms)."""

from __future__ import annotations

import re

from cleanclaim.model import Encounter

__all__ = ["BILLING_ZIP_PATTERN", "BILLING_ZIP_REFERENCE", "ICD9_PREFIX", "MAX_DIAGNOSES", "billing_zip_gap",
           "claim_line_gaps"]

MAX_DIAGNOSES = 12  # CMS-1500 item 21 (A-L) and the 837P HI segment hold twelve diagnoses
# How the 837P reader keeps an ICD-9-CM diagnosis (HI BK/BF): "ICD9:724.2", never mistaken for an ICD-10-CM code
ICD9_PREFIX = "ICD9:"

# One requirement for the 837P writer (which refuses the claim) and the `billing-zip-plus-four` rule (which warns at
# `check`): the TR3 requires the full ZIP+4 in the billing provider's N403; a paper CMS-1500 (item 33) takes 5 digits.
BILLING_ZIP_PATTERN = r"^[0-9]{9}$"
BILLING_ZIP_REFERENCE = "ASC X12 837P 005010X222A1 loop 2010AA N403 (billing provider ZIP code: the nine-digit ZIP+4)"


def billing_zip_gap(zip_code: str) -> str | None:
    """What is wrong with a billing provider's ZIP code for an 837P, or None when it is a full ZIP+4."""
    if re.fullmatch(BILLING_ZIP_PATTERN, zip_code):
        return None
    return f"billing_provider.address.zip must be 9 digits (ZIP+4) in 2010AA N403, got {len(zip_code)} characters"


def claim_line_gaps(encounter: Encounter, *, max_pointers: int | None) -> list[str]:
    """Gaps in the billed lines: diagnoses, charges and diagnosis pointers that must point at one of the first
    twelve diagnoses; ``max_pointers`` where the document holds only so many per line."""
    # imported here: the rule catalogue's billing-zip-plus-four rule imports this module's ZIP requirement
    from cleanclaim.rules.catalogue.claim import claim_document_problems

    gaps = claim_document_problems(encounter)
    if not encounter.diagnoses:
        gaps.append("diagnoses")
    # an ICD-9-CM code read from an old 837P (HI BK/BF) is kept so `check` can report it, never sent as ICD-10-CM
    gaps += [f"diagnoses[{n}] is an ICD-9-CM code (claims take ICD-10-CM since 2015-10-01)"
             for n, code in enumerate(encounter.diagnoses, start=1) if code.startswith(ICD9_PREFIX)]
    if len(encounter.diagnoses) > MAX_DIAGNOSES:
        gaps.append(f"diagnoses ({len(encounter.diagnoses)} given, a claim holds at most 12, A-L)")
    if not encounter.lines:
        gaps.append("lines")
    usable = min(len(encounter.diagnoses), MAX_DIAGNOSES)
    for number, line in enumerate(encounter.lines, start=1):
        if line.charge is None:
            gaps.append(f"lines[{number}].charge")
        if not line.dx_pointers:
            gaps.append(f"lines[{number}].dx_pointers")
        outside = [p for p in line.dx_pointers if not 1 <= p <= usable]
        if outside:
            gaps.append(f"lines[{number}].dx_pointers ({', '.join(map(str, outside))} outside 1..{usable})")
        if max_pointers is not None and len(line.dx_pointers) > max_pointers:
            gaps.append(f"lines[{number}].dx_pointers ({len(line.dx_pointers)} given, the form holds {max_pointers})")
    return gaps
