"""Posting an 835: which claim and billed line each payment answers, and what the payer decided for each claim.

The payer's remittance is the source of truth for money, but not every CLP is a decision a biller can post without
looking: a reversal (CLP02 22) undoes an earlier payment, a predetermination (25) decides nothing, a claim the payer
says is not theirs (23) must be sent elsewhere, and a CLP whose patient control number matches no submitted claim
was not ours to post. Those are returned as `Unposted` with the reason, never dropped and never guessed at.

This module decides; it writes nothing. The workspace's store posts a plan in one transaction keyed by the
remittance's trace number (TRN02) and payer, which is what makes posting the same 835 twice change nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from cleanclaim.formats.remittance_codes import RemittanceCodes, remittance_codes
from cleanclaim.formats.x12_835 import (
    NOTHING_DENIED,
    BilledClaim,
    BilledLine,
    RemitClaim,
    RemitLine,
    RemittanceAdvice,
    adjustment_kind,
    billed_line,
)
from cleanclaim.lifecycle import ClaimState

__all__ = ["NOT_A_DECISION", "PostedClaim", "PostedLine", "PostingPlan", "Unposted", "decision", "plan_posting"]

# CLP02 statuses that are not the payer's decision on the claim as billed (X12 element 1029, 005010X221A1 CLP02).
NOT_A_DECISION: dict[str, str] = {
    "22": "a reversal of an earlier payment (CLP02 22): post it against the remittance it reverses, by hand",
    "23": "the payer says the claim is not theirs and forwarded it (CLP02 23): bill the right payer",
    "25": "predetermination pricing only (CLP02 25): nothing was decided or paid",
}


@dataclass(frozen=True)
class PostedLine:
    """A service line (SVC) of the remittance and the billed line it answers (None when no billed line matches:
    reported on the claim, the payment is still recorded)."""

    remit: RemitLine
    billed: BilledLine | None
    denied: Decimal


@dataclass(frozen=True)
class PostedClaim:
    claim_id: str
    """The patient control number (CLM01 / CLP01) of the claim the payment is for."""
    remit: RemitClaim
    outcome: ClaimState
    denied: Decimal
    """What the payer denied on the claim and its lines: positive adjustments whose CARC is a denial (not the
    contractual write-off, not the patient's share)."""
    lines: list[PostedLine]
    review: list[str] = field(default_factory=list)
    """What a biller should look at before relying on the outcome (an unknown CARC, a line that matches nothing)."""


@dataclass(frozen=True)
class Unposted:
    remit: RemitClaim
    reason: str


@dataclass
class PostingPlan:
    trace_number: str
    """TRN02, the check or EFT trace number: with TRN03 it identifies the payment (the idempotency key)."""
    payer_identifier: str
    """TRN03, the payer's identifier."""
    payer_name: str
    posted: list[PostedClaim]
    unposted: list[Unposted]


def decision(claim: RemitClaim, codes: RemittanceCodes | None = None) -> tuple[ClaimState, Decimal] | None:
    """The claim's state after this remittance and the amount denied, or None when the CLP is not a decision.

    Denied (CLP02 4, or nothing paid while something was denied), partially paid (paid, and something denied),
    or paid: a claim whose whole amount went to the deductible or coinsurance is paid as far as the payer is
    concerned (the balance is the patient's), and a contractual write-off (CO-45) is not a denial. A CARC missing
    from cleanclaim's table is not counted as a denial (see `RemittanceCodes.reason`); `plan_posting` asks for a
    review instead.
    """
    if claim.status in NOT_A_DECISION:
        return None
    codes = codes or remittance_codes()
    adjustments = [*claim.adjustments, *(a for line in claim.lines for a in line.adjustments)]
    denied = sum((a.amount for a in adjustments if adjustment_kind(a, codes) == "denial"), Decimal(0))
    if claim.status == "4" or (denied > 0 and claim.paid <= 0):
        return ClaimState.DENIED, denied
    if denied > 0:
        return ClaimState.PARTIALLY_PAID, denied
    return ClaimState.PAID, denied


def plan_posting(advice: RemittanceAdvice, claims: Mapping[str, BilledClaim]) -> PostingPlan:
    """Match each CLP of one remittance (one BPR/TRN payment) to the submitted claim with its patient control
    number, and each SVC to the billed line it answers (code, modifiers and date, as the denial worklist does).

    ``claims`` are the organisation's submitted claims by claim id (the current version of each): encounters, or
    the workspace's stored claim versions.
    """
    codes = remittance_codes()
    posted: list[PostedClaim] = []
    unposted: list[Unposted] = []
    for claim in advice.claims:
        encounter = claims.get(claim.patient_control_number)
        if encounter is None:
            unposted.append(Unposted(claim, f"no submitted claim has the patient control number "
                                            f"{claim.patient_control_number!r}: not posted"))
            continue
        decided = decision(claim, codes)
        if decided is None:
            unposted.append(Unposted(claim, NOT_A_DECISION[claim.status]))
            continue
        outcome, denied = decided
        lines = []
        review = []
        for number, line in enumerate(claim.lines, start=1):
            matched = billed_line(line, encounter, None)
            if matched is None:
                review.append(f"remittance line {number} ({line.code}) matches no billed line of the claim")
            lines.append(PostedLine(line, matched, sum(
                (a.amount for a in line.adjustments if adjustment_kind(a, codes) == "denial"), Decimal(0))))
        for adjustment in [*claim.adjustments, *(a for line in claim.lines for a in line.adjustments)]:
            kind = adjustment_kind(adjustment, codes)
            reason = codes.reason(adjustment.reason)
            if kind == "unknown" and adjustment.amount > 0:
                where = ("is on the X12 list but cleanclaim does not classify it" if reason.start is not None
                         else "is not in cleanclaim's table")
                review.append(f"CARC {adjustment.reason} (${adjustment.amount}) {where}: check whether it is a denial "
                              "before working the claim")
            elif kind == NOTHING_DENIED and adjustment.amount < 0:
                review.append(f"CARC {adjustment.reason} gives back ${-adjustment.amount}: a reversal within the claim")
            # Reversals (CLP02 22) may report a stopped code, but they are never posted here (NOT_A_DECISION).
            dated = reason.out_of_dates(advice.payment_date) if advice.payment_date is not None else None
            if dated is not None and dated not in review:
                review.append(dated)
        for rarc in [*claim.remarks, *(r for line in claim.lines for r in line.remarks)]:
            dated = codes.remark_out_of_dates(rarc, advice.payment_date) if advice.payment_date is not None else None
            if dated is not None and dated not in review:
                review.append(dated)
        posted.append(PostedClaim(claim.patient_control_number, claim, outcome, denied, lines, review))
    return PostingPlan(advice.trace_number, advice.payer_identifier, advice.payer_name, posted, unposted)
