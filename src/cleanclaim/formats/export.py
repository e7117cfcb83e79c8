"""Write claims in every output format from one entry point: X12 837P, FHIR R4 Claim (Bundle), CMS-1500 and
superbill PDFs. Encounters that have documented services but no billed lines are coded first, and a practice
charge master fills charges the lines lack, so `cleanclaim export` works straight from an encounter file."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cleanclaim.model import Encounter
from cleanclaim.pricing import ChargeMaster, line_charge

__all__ = ["FORMATS", "ExportFormat", "X12Options", "export_encounters", "with_charges"]

ExportFormat = Literal["837p", "fhir", "cms1500", "superbill"]
FORMATS: tuple[ExportFormat, ...] = ("837p", "fhir", "cms1500", "superbill")


@dataclass(frozen=True)
class X12Options:
    """Envelope values for the 837P; unset ones come from the first claim (billing NPI, payer id, names)."""

    sender_id: str | None = None
    receiver_id: str | None = None
    receiver_name: str | None = None
    submitter_name: str | None = None
    submitter_contact: str | None = None
    submitter_phone: str | None = None
    control_number: int = 1
    production: bool = False


def with_charges(encounter: Encounter, charge_master: ChargeMaster | None) -> Encounter:
    """The encounter with missing line charges filled from the charge master (per unit x units); others kept."""
    if not charge_master:
        return encounter
    lines = [line.model_copy(update={"charge": line_charge(line, charge_master)[0]}) for line in encounter.lines]
    return encounter.model_copy(update={"lines": lines})


def _pdf_name(encounter: Encounter, fmt: str) -> str:
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in (encounter.claim_id or encounter.id))
    return f"{stem}-{fmt}.pdf"


def export_encounters(encounters: Sequence[Encounter], fmt: ExportFormat, out: Path, *,
                      x12: X12Options | None = None, now: dt.datetime | None = None) -> list[Path]:
    """Write the encounters (with billed lines) in ``fmt``. 837P and FHIR write one file; PDFs one file per
    encounter (``out`` is then a directory unless there is a single encounter). Nothing is written when any claim
    lacks a required field: the error lists every missing field per encounter."""
    if fmt == "837p":
        from cleanclaim.formats.x12_837p import Submitter, write_837p

        options = x12 or X12Options()
        first = encounters[0] if encounters else None
        billing = first.billing_provider if first else None
        text = write_837p(
            encounters,
            sender_id=options.sender_id or (billing.npi if billing else ""),
            receiver_id=options.receiver_id or (first.payer_id if first and first.payer_id else ""),
            receiver_name=options.receiver_name or (first.payer_display if first else ""),
            submitter=Submitter(
                name=options.submitter_name or (billing.name if billing else ""),
                contact_name=options.submitter_contact or (billing.name if billing else ""),
                phone=options.submitter_phone or (billing.phone if billing else None),
            ),
            interchange_control_number=options.control_number,
            group_control_number=options.control_number,
            usage="P" if options.production else "T",
            now=now,
        )
        out.write_text(text, encoding="ascii", newline="")
        return [out]
    if fmt == "fhir":
        from cleanclaim.formats.fhir import bundle_json

        out.write_text(bundle_json(encounters), encoding="utf-8")
        return [out]
    if fmt in ("cms1500", "superbill"):
        from cleanclaim.formats.pdf_cms1500 import render_cms1500
        from cleanclaim.formats.pdf_superbill import render_superbill

        render = render_cms1500 if fmt == "cms1500" else render_superbill
        if len(encounters) == 1 and out.suffix.lower() == ".pdf":
            render(encounters[0], out)
            return [out]
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for encounter in encounters:
            target = out / _pdf_name(encounter, fmt)
            render(encounter, target)
            written.append(target)
        return written
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
