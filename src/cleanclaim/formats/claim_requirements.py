"""What every claim document needs in its lines, shared by the CMS-1500, the superbill and the FHIR Claim (the 837P
writer checks the same items in its own loop terms)."""

from __future__ import annotations

from cleanclaim.model import Encounter
from cleanclaim.rules.catalogue.claim import claim_document_problems

__all__ = ["MAX_DIAGNOSES", "claim_line_gaps"]

MAX_DIAGNOSES = 12  # CMS-1500 item 21 (A-L) and the 837P HI segment hold twelve diagnoses


def claim_line_gaps(encounter: Encounter, *, max_pointers: int | None) -> list[str]:
    """Gaps in the billed lines: diagnoses, charges and diagnosis pointers that must point at one of the first
    twelve diagnoses; ``max_pointers`` where the document holds only so many per line."""
    gaps = claim_document_problems(encounter)
    if not encounter.diagnoses:
        gaps.append("diagnoses")
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
