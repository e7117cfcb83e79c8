"""A minimal 835 writer for synthetic remittances (the demo organisation, tests, benchmarks): the payer's answer to
claims this workspace submitted, so that posting runs through `store.posting` exactly as a real file would.

Not a production 835 generator: one payment (BPR/TRN) per file, claim and line amounts and CAS adjustments only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

__all__ = ["PaidClaim", "PaidLine", "remittance_text"]


@dataclass(frozen=True)
class PaidLine:
    code: str
    modifiers: tuple[str, ...]
    charge: Decimal
    paid: Decimal
    units: Decimal
    service_date: dt.date
    adjustments: tuple[tuple[str, str, Decimal], ...] = ()
    """(group, CARC, amount): charge - paid must equal their sum, as the 835 balances."""


@dataclass(frozen=True)
class PaidClaim:
    patient_control_number: str
    status: str  # CLP02: 1 processed as primary, 4 denied
    payer_claim_number: str
    lines: Sequence[PaidLine] = field(default_factory=tuple)
    patient_responsibility: Decimal = Decimal(0)


def _amount(value: Decimal) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def remittance_text(claims: Sequence[PaidClaim], *, trace_number: str, payer_identifier: str, payer_name: str,
                    payee_name: str, payee_npi: str, paid_on: dt.date, control_number: int = 1) -> str:
    """The 835 text of one payment answering ``claims``."""
    total = sum((line.paid for claim in claims for line in claim.lines), Decimal(0))
    body: list[list[str]] = [
        ["ST", "835", "0001"],
        ["BPR", "I", _amount(total), "C", "CHK", *[""] * 11, paid_on.strftime("%Y%m%d")],
        ["TRN", "1", trace_number, payer_identifier],
        ["DTM", "405", paid_on.strftime("%Y%m%d")],
        ["N1", "PR", payer_name],
        ["N1", "PE", payee_name, "XX", payee_npi],
        ["LX", "1"],
    ]
    for claim in claims:
        charge = sum((line.charge for line in claim.lines), Decimal(0))
        paid = sum((line.paid for line in claim.lines), Decimal(0))
        body.append(["CLP", claim.patient_control_number, claim.status, _amount(charge), _amount(paid),
                     _amount(claim.patient_responsibility), "MB", claim.payer_claim_number, "11", "1"])
        for line in claim.lines:
            body.append(["SVC", ":".join(["HC", line.code, *line.modifiers]), _amount(line.charge),
                         _amount(line.paid), "", _amount(line.units)])
            body.append(["DTM", "472", line.service_date.strftime("%Y%m%d")])
            body += [["CAS", group, carc, _amount(amount)] for group, carc, amount in line.adjustments]
    body.append(["SE", str(len(body) + 1), "0001"])
    stamp = dt.datetime.combine(paid_on, dt.time(8, 0))
    rows = [
        ["ISA", "00", " " * 10, "00", " " * 10, "ZZ", "PAYERHUB".ljust(15), "ZZ", "PAYEE".ljust(15),
         stamp.strftime("%y%m%d"), stamp.strftime("%H%M"), "^", "00501", f"{control_number:09d}", "0", "T", ":"],
        ["GS", "HP", "PAYERHUB", "PAYEE", stamp.strftime("%Y%m%d"), stamp.strftime("%H%M"), str(control_number),
         "X", "005010X221A1"],
        *body,
        ["GE", "1", str(control_number)],
        ["IEA", "1", f"{control_number:09d}"],
    ]
    return "\n".join("*".join(row) + "~" for row in rows) + "\n"
