"""835 remittance advice (ASC X12N 005010X221A1) and the denial worklist built from it.

A billing company works denials by reason, biggest dollars first, and wants to know which check would have
stopped each one before the claim went out: :func:`denials` groups every denied amount by its Claim Adjustment
Reason Code, joins the billed line from the 837P or encounter files when given (CLP01 = CLM01, the patient
control number), and names the cleanclaim rules that catch that denial (``remittance_codes/denial_rules.csv``).

Patient responsibility (deductible, coinsurance, copay), contractual write-offs and payment-rule reductions are
reported apart from denials, because nobody appeals a deductible.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

from cleanclaim.errors import UNFORESEEN, InputError
from cleanclaim.formats.remittance_codes import RemittanceCodes, remittance_codes
from cleanclaim.formats.x12 import Segment, Transaction, X12SegmentError, parse_envelope, read_x12_text
from cleanclaim.model import ClaimLine, Encounter

__all__ = [
    "Adjustment",
    "BilledClaim",
    "BilledLine",
    "DenialGroup",
    "DenialItem",
    "DenialWorklist",
    "RemitClaim",
    "RemitLine",
    "Remittance",
    "RemittanceAdvice",
    "adjustment_kind",
    "billed_line",
    "denial_rules_for",
    "denials",
    "load_claims",
    "read_835",
]

IMPLEMENTATION_GUIDE = "005010X221A1"
# CLP02 claim status codes (X12 element 1029) that 005010X221A1 uses.
CLAIM_STATUS = {
    "1": "processed as primary", "2": "processed as secondary", "3": "processed as tertiary", "4": "denied",
    "19": "processed as primary, forwarded to additional payer(s)",
    "20": "processed as secondary, forwarded to additional payer(s)",
    "21": "processed as tertiary, forwarded to additional payer(s)", "22": "reversal of previous payment",
    "23": "not our claim, forwarded to additional payer(s)", "25": "predetermination pricing only, no payment",
}
GROUP_CODES = {"CO": "contractual obligation", "CR": "correction and reversal", "OA": "other adjustment",
               "PI": "payer-initiated reduction", "PR": "patient responsibility"}
# SVC01-01 (and SVC06-01) Product or Service ID Qualifier, X12 element 235: every code 005010X221A1 allows in the
# loop 2110 SVC segment (HC HCPCS/CPT, NU NUBC revenue code, N4 NDC 5-4-2, AD ADA dental, HP HIPPS, and the
# others); the list matches pyx12's map of the TR3 (835.5010.X221.A1.xml, element SVC01-01).
SVC_QUALIFIERS = frozenset({"AD", "ER", "HC", "HP", "IV", "N4", "N6", "NU", "UI", "WK"})
# Maximum number of digits of an X12 decimal (R) element, leading sign and decimal point not counted (X12.6;
# the 005010X221A1 element attributes): 782 Monetary Amount R1/18, 380 Quantity R1/15. Past these an element is
# not X12, and numbers that long would overflow every fixed-width decimal type downstream.
MONEY_DIGITS = 18
QUANTITY_DIGITS = 15
CONTROL_NUMBER_LENGTH = 38  # CLP01, X12 element 1028 Claim Submitter's Identifier, AN 1/38


@dataclass(frozen=True)
class Adjustment:
    group: str
    reason: str
    amount: Decimal
    quantity: Decimal | None
    segment_number: int


@dataclass
class RemitLine:
    """One SVC service payment: what the payer says was billed and what it paid."""

    code: str
    modifiers: list[str]
    charge: Decimal
    paid: Decimal
    units: Decimal
    segment_number: int
    date: dt.date | None = None
    date_end: dt.date | None = None
    adjustments: list[Adjustment] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)
    control_number: str | None = None


@dataclass
class RemitClaim:
    patient_control_number: str
    status: str
    charge: Decimal
    paid: Decimal
    patient_responsibility: Decimal | None
    payer_claim_number: str
    segment_number: int
    patient_id: str | None = None
    statement_start: dt.date | None = None
    statement_end: dt.date | None = None
    adjustments: list[Adjustment] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)
    lines: list[RemitLine] = field(default_factory=list)

    @property
    def status_text(self) -> str:
        return CLAIM_STATUS.get(self.status, f"status {self.status}")


@dataclass
class RemittanceAdvice:
    """One 835 transaction: one payment (check or EFT) and the claims it pays."""

    payment_amount: Decimal | None  # None when BPR02 could not be read (reported); the claims are still read
    payment_method: str
    payment_date: dt.date | None
    trace_number: str
    payer_name: str
    payee_name: str
    payee_id: str
    segment_number: int
    claims: list[RemitClaim] = field(default_factory=list)
    payer_identifier: str = ""
    """TRN03, the payer's identifier (1 + its EIN, or another number it chose): with TRN02 it names the payment,
    which is what makes posting the same remittance twice recognisable."""


@dataclass
class Remittance:
    """What an 835 file holds. ``errors``: what could not be read (and is missing from ``advices``);
    ``warnings``: what was read but is wrong (a bad payment date, an adjustment that does not balance)."""

    advices: list[RemittanceAdvice]
    errors: list[InputError]
    file: str | None = None
    warnings: list[InputError] = field(default_factory=list)

    @property
    def claims(self) -> list[RemitClaim]:
        return [claim for advice in self.advices for claim in advice.claims]


# ---------------------------------------------------------------------------------------------------- reader


def read_835(text_or_path: str | Path) -> Remittance:
    """Every readable 835 transaction in the file; damaged claims and transactions are reported, not read."""
    text, file = read_x12_text(text_or_path)
    # A wrong count or control number (SE01/SE02, GE01/GE02, IEA01/IEA02) leaves every payment between the envelope
    # segments readable: a warning naming the segment, and the claims are read (a remittance that was not read
    # would leave its payments unposted and its denials unworked).
    envelope = parse_envelope(text, file=file, keep_miscounted=True)
    errors: list[InputError] = [e for e in envelope.errors if not getattr(e, "envelope_control", False)]
    warnings: list[InputError] = [e for e in envelope.errors if getattr(e, "envelope_control", False)]
    advices = []
    for transaction in envelope.transactions():
        if transaction.kind != "835":
            errors.append(X12SegmentError(
                f"transaction {transaction.kind} is not an 835; not read", segment_number=transaction.st.number,
                segment_id="ST", file=file))
            continue
        reader = _RemitReader(file)
        advice = reader.read(transaction)
        errors += reader.errors
        warnings += reader.warnings
        if advice is not None:
            advices.append(advice)
    return Remittance(advices, errors, file, warnings)


class _ElementError(Exception):
    def __init__(self, element: str | None, message: str) -> None:
        super().__init__(message)
        self.element = element
        self.message = message


class _RemitReader:
    def __init__(self, file: str | None) -> None:
        self.file = file
        self.errors: list[InputError] = []
        self.warnings: list[InputError] = []
        self.advice: RemittanceAdvice | None = None
        self.claim: RemitClaim | None = None
        self.claim_damaged = False
        self.line: RemitLine | None = None
        self.loop = "HEADER"

    def read(self, transaction: Transaction) -> RemittanceAdvice | None:
        for segment in transaction.body:
            try:
                handler = getattr(self, f"_on_{segment.id.lower()}", None)
                if handler is not None:
                    handler(segment)
            except _ElementError as problem:
                self._problem(segment, problem.element, problem.message)
            except UNFORESEEN as exc:  # an unforeseen failure loses this claim only, and says where
                self._problem(segment, None, f"the segment could not be read ({type(exc).__name__})")
        self._close_claim()
        if self.advice is None:
            self.errors.append(X12SegmentError(
                "835 transaction without a BPR segment; not read", segment_number=transaction.st.number,
                segment_id="ST", file=self.file))
        return self.advice

    def _problem(self, segment: Segment, element: str | None, message: str) -> None:
        in_claim = self.claim is not None or self.claim_damaged
        if in_claim:
            self.claim_damaged = True
            message += "; the claim was not read"
        self.errors.append(X12SegmentError(
            message, segment_number=segment.number, segment_id=segment.id, loop=self.loop, element=element,
            file=self.file, encounter=self.claim.patient_control_number if self.claim else (
                _shown_id(segment.element(1)) if segment.id == "CLP" else None)))
        if in_claim:
            self.claim = None
            self.line = None

    def _on_bpr(self, segment: Segment) -> None:
        if self.advice is not None:  # replacing it would lose the claims already read into it
            self.errors.append(X12SegmentError(
                f"a second BPR segment in one 835 transaction (the first is segment {self.advice.segment_number}) "
                "was not read", segment_number=segment.number, segment_id=segment.id, loop=self.loop,
                file=self.file))
            return
        try:
            amount = _amount(segment, 2)
            if amount is None:
                raise _ElementError("BPR02", "expected the total payment amount, got nothing")
        except _ElementError as problem:
            # the payment's total is not what its claims say: they are still read, and the total is reported
            self._problem(segment, problem.element, f"{problem.message}; the claims of this payment are still read")
            amount = None
        if amount is not None and segment.element(3) == "D":
            amount = -amount
        payment_date = None
        if segment.element(16):
            try:
                payment_date = _date(segment, 16)
            except _ElementError as problem:
                # the date a payment was issued does not change what it paid for: the claims are still read
                self.warnings.append(X12SegmentError(
                    f"{problem.message}; the payment date is left empty and the claims are read",
                    segment_number=segment.number, segment_id=segment.id, loop=self.loop, element=problem.element,
                    file=self.file))
        self.advice = RemittanceAdvice(
            payment_amount=amount, payment_method=segment.element(4),
            payment_date=payment_date, trace_number="", payer_name="", payee_name="", payee_id="",
            segment_number=segment.number)

    def _on_trn(self, segment: Segment) -> None:
        if self.advice is not None:
            self.advice.trace_number = segment.element(2)
            self.advice.payer_identifier = segment.element(3)

    def _on_n1(self, segment: Segment) -> None:
        if self.advice is None:
            return
        if segment.element(1) == "PR":
            self.loop = "1000A"
            self.advice.payer_name = segment.element(2)
        elif segment.element(1) == "PE":
            self.loop = "1000B"
            self.advice.payee_name = segment.element(2)
            self.advice.payee_id = segment.element(4)

    def _on_lx(self, segment: Segment) -> None:
        self._close_claim()
        self.loop = "2000"

    def _on_clp(self, segment: Segment) -> None:
        self._close_claim()
        self.loop = "2100"
        self.claim_damaged = True  # until the CLP is read: an error here drops the claim's SVC/CAS quietly
        if self.advice is None:
            raise _ElementError(None, "claim payment (CLP) before the BPR segment")
        if not segment.element(1):
            raise _ElementError("CLP01", "expected the patient control number, got nothing")
        if len(segment.element(1)) > CONTROL_NUMBER_LENGTH:
            raise _ElementError("CLP01", f"expected a patient control number of at most {CONTROL_NUMBER_LENGTH} "
                                         f"characters (X12 element 1028, AN 1/38), got {len(segment.element(1))}")
        if segment.element(2) not in CLAIM_STATUS:
            raise _ElementError("CLP02", f"expected a claim status code, got {_shown(segment.element(2))}")
        charge, paid = _amount(segment, 3), _amount(segment, 4)
        if charge is None or paid is None:
            raise _ElementError("CLP03" if charge is None else "CLP04", "expected a money amount, got nothing")
        self.claim = RemitClaim(
            patient_control_number=segment.element(1), status=segment.element(2), charge=charge, paid=paid,
            patient_responsibility=_amount(segment, 5), payer_claim_number=segment.element(7),
            segment_number=segment.number)
        self.claim_damaged = False
        self.line = None

    def _on_cas(self, segment: Segment) -> None:
        target = self.line or self.claim
        if target is None:
            if self.claim_damaged:
                return
            raise _ElementError(None, "adjustment (CAS) outside a claim")
        group = segment.element(1)
        if group not in GROUP_CODES:
            raise _ElementError("CAS01", f"expected a group code CO, CR, OA, PI or PR, got {_shown(group)}")
        extra = [p for p in range(20, len(segment.elements)) if segment.element(p)]
        if extra:  # an amount past CAS19 would otherwise be dropped without a word
            raise _ElementError(segment.name(extra[0]), "a CAS segment has at most six reason/amount/quantity "
                                                        "triplets (CAS02 to CAS19)")
        found = False
        for position in range(2, 20, 3):  # up to six reason/amount/quantity triplets
            reason = segment.element(position)
            if not reason:
                if segment.element(position + 1) or segment.element(position + 2):
                    raise _ElementError(segment.name(position), "expected the reason code (CARC) of the amount "
                                                                f"in {segment.name(position + 1)}, got nothing")
                continue
            if len(reason) > 5:  # X12 element 1034, ID 1/5
                raise _ElementError(segment.name(position), f"expected a reason code (CARC) of at most 5 "
                                                            f"characters, got {_shown(reason)}")
            amount = _amount(segment, position + 1)
            if amount is None:
                raise _ElementError(segment.name(position + 1), f"CARC {reason} has no amount")
            quantity = _amount(segment, position + 2, what="a quantity", digits=QUANTITY_DIGITS)
            target.adjustments.append(Adjustment(group, reason, amount, quantity, segment.number))
            found = True
        if not found:
            raise _ElementError("CAS02", "expected an adjustment reason code, got nothing")

    def _on_nm1(self, segment: Segment) -> None:
        if self.claim is not None and segment.element(1) == "QC":
            self.claim.patient_id = segment.element(9) or None

    def _on_moa(self, segment: Segment) -> None:
        if self.claim is not None:
            self.claim.remarks += [segment.element(p) for p in range(3, 8) if segment.element(p)]

    def _on_mia(self, segment: Segment) -> None:
        if self.claim is not None:
            self.claim.remarks += [segment.element(p) for p in (5, 20, 21, 22, 23) if segment.element(p)]

    def _on_dtm(self, segment: Segment) -> None:
        qualifier = segment.element(1)
        if self.line is not None and qualifier in ("472", "150"):  # date of service, or the period's start
            self.line.date = _date(segment, 2)
        elif self.line is not None and qualifier == "151":
            self.line.date_end = _date(segment, 2)
        elif self.claim is not None and self.line is None and qualifier == "232":
            self.claim.statement_start = _date(segment, 2)
        elif self.claim is not None and self.line is None and qualifier == "233":
            self.claim.statement_end = _date(segment, 2)

    def _on_svc(self, segment: Segment) -> None:
        if self.claim is None:
            if self.claim_damaged:
                return
            raise _ElementError(None, "service payment (SVC) outside a claim")
        self.loop = "2110"
        procedure = segment.components(1)
        if procedure[0] not in SVC_QUALIFIERS:
            qualifiers = ", ".join(sorted(SVC_QUALIFIERS))
            raise _ElementError("SVC01", f"expected a product or service id qualifier ({qualifiers}) and a code "
                                         f"separated by {segment.delimiters.component!r} (ISA16), got "
                                         f"{_shown(segment.element(1))}")
        if len(procedure) < 2 or not procedure[1]:
            raise _ElementError("SVC01", f"expected a procedure or service code after the qualifier "
                                         f"{procedure[0]}, got nothing")
        charge, paid = _amount(segment, 2), _amount(segment, 3)
        if charge is None or paid is None:
            raise _ElementError("SVC02" if charge is None else "SVC03", "expected a money amount, got nothing")
        units = _amount(segment, 5, what="a number of units", digits=QUANTITY_DIGITS)
        self.line = RemitLine(code=procedure[1], modifiers=[m for m in procedure[2:6] if m], charge=charge,
                              paid=paid, units=Decimal(1) if units is None else units,
                              segment_number=segment.number)
        self.claim.lines.append(self.line)

    def _on_lq(self, segment: Segment) -> None:
        if self.line is not None and segment.element(1) == "HE":
            self.line.remarks.append(segment.element(2))

    def _on_ref(self, segment: Segment) -> None:
        if self.line is not None and segment.element(1) == "6R":
            self.line.control_number = segment.element(2)

    def _on_plb(self, segment: Segment) -> None:
        self._close_claim()
        self.loop = "SUMMARY"

    def _close_claim(self) -> None:
        claim, self.claim, self.line = self.claim, None, None
        if claim is None or self.advice is None:
            return
        self.warnings += _balance_problems(claim, self.file)
        self.advice.claims.append(claim)


def _balance_problems(claim: RemitClaim, file: str | None) -> list[InputError]:
    """The 835 must balance: charge - adjustments = paid, per line and per claim (TR3 1.10.2). An 835 that does
    not is the payer's error, read as it is and reported as a warning: its amounts are what was paid."""
    problems: list[InputError] = []
    for line in claim.lines:
        adjusted = line.charge - sum((a.amount for a in line.adjustments), Decimal(0))
        if adjusted != line.paid:
            problems.append(X12SegmentError(
                f"line {line.code} does not balance: charge {line.charge} minus adjustments "
                f"{line.charge - adjusted} is {adjusted}, but paid is {line.paid}", segment_number=line.segment_number,
                segment_id="SVC", loop="2110", file=file, encounter=claim.patient_control_number))
    all_adjustments = claim.adjustments + [a for line in claim.lines for a in line.adjustments]
    adjusted = claim.charge - sum((a.amount for a in all_adjustments), Decimal(0))
    if adjusted != claim.paid and (claim.lines or claim.adjustments):
        problems.append(X12SegmentError(
            f"claim does not balance: charge {claim.charge} minus adjustments {claim.charge - adjusted} is "
            f"{adjusted}, but paid is {claim.paid}", segment_number=claim.segment_number, segment_id="CLP",
            loop="2100", file=file, encounter=claim.patient_control_number))
    return problems


_DATE = re.compile(r"[0-9]{8}")  # CCYYMMDD (X12 DT 8/8)
_DECIMAL = re.compile(r"-?([0-9]+\.?[0-9]*|\.[0-9]+)")  # [0-9], not \d: \d takes any Unicode digit


def _amount(segment: Segment, position: int, *, what: str = "a money amount",
            digits: int = MONEY_DIGITS) -> Decimal | None:
    """An X12 decimal element: ASCII digits, an optional sign and point, at most ``digits`` digits."""
    text = segment.element(position)
    if not text:
        return None
    if not _DECIMAL.fullmatch(text):
        raise _ElementError(segment.name(position), f"expected {what}, got {_shown(text)}")
    found = sum(character.isdigit() for character in text)
    if found > digits:
        raise _ElementError(segment.name(position), f"expected {what} of at most {digits} digits "
                                                    f"(X12 R1/{digits}), got {found} digits")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise _ElementError(segment.name(position), f"expected {what}, got {_shown(text)}") from None


def _date(segment: Segment, position: int) -> dt.date:
    text = segment.element(position)
    try:
        if not _DATE.fullmatch(text):  # strptime would take other scripts' digits and "2026 3 2"
            raise ValueError(text)
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))  # a day that does not exist: ValueError
    except ValueError:
        raise _ElementError(segment.name(position), f"expected a date CCYYMMDD, got {_shown(text)}") from None


def _shown_id(text: str) -> str:
    """A claim id for a message: whole when it fits CLP01, else its start (an over-long id is itself the error)."""
    return text if len(text) <= CONTROL_NUMBER_LENGTH else f"{text[:CONTROL_NUMBER_LENGTH]}..."


def _shown(text: str, limit: int = 40) -> str:
    """An element's text for a message, cut short: a hostile file must not make a message megabytes long."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


# ---------------------------------------------------------------------------------------------------- claims


@dataclass(frozen=True)
class BilledLine:
    """The line as it was billed (from the 837P or encounter file), joined to a remittance line."""

    encounter_id: str
    line_number: int
    line: ClaimLine
    file: str | None


def load_claims(paths: Iterable[str | Path]) -> tuple[list[tuple[Encounter, str]], list[InputError]]:
    """Encounters (with the file each came from) from 837P files and encounter YAML/JSON files, and what was
    unreadable."""
    from cleanclaim.formats.encounters import load_encounters
    from cleanclaim.formats.x12_837p import read_837p

    encounters: list[tuple[Encounter, str]] = []
    errors: list[InputError] = []
    for path in map(Path, paths):
        try:
            if path.is_file() and path.read_bytes()[:300].lstrip(b"\xef\xbb\xbf \r\n\t").startswith(b"ISA"):
                claims = read_837p(path)
                encounters += [(encounter, str(path)) for encounter in claims.encounters]
                errors += claims.errors
            else:
                read = load_encounters(path)
                encounters += [(encounter, str(path)) for encounter in read.encounters]
                errors += read.errors
        except InputError as exc:
            errors.append(exc)
        except OSError as exc:
            errors.append(InputError(f"cannot read the file: {exc.strerror}", file=str(path)))
        except UNFORESEEN as exc:  # a claim file that breaks its reader is reported; the worklist is still built
            errors.append(InputError(f"the file could not be read ({type(exc).__name__})", file=str(path)))
    return encounters, errors


class BilledClaim(Protocol):
    """What the line matcher reads of a claim as billed: an Encounter, or a claim version the workspace stored."""

    @property
    def id(self) -> str: ...

    @property
    def date(self) -> dt.date: ...

    @property
    def lines(self) -> Sequence[ClaimLine]: ...


def billed_line(remit_line: RemitLine, encounter: BilledClaim, file: str | None) -> BilledLine | None:
    """The billed line a payer's SVC answers: same code and modifiers (and date when known), else same code."""
    def same_date(line: ClaimLine) -> bool:
        return remit_line.date is None or (line.date or encounter.date) == remit_line.date

    candidates = [(n, line) for n, line in enumerate(encounter.lines, start=1) if line.code == remit_line.code]
    for wanted in (
        lambda line: line.modifiers == remit_line.modifiers and same_date(line),
        lambda line: sorted(line.modifiers) == sorted(remit_line.modifiers) and same_date(line),
        same_date,
    ):
        matches = [(n, line) for n, line in candidates if wanted(line)]
        if matches:
            number, line = matches[0]
            return BilledLine(encounter.id, number, line, file)
    return None


# ---------------------------------------------------------------------------------------------------- worklist


@dataclass
class DenialItem:
    """One adjustment on one remittance line (``line`` is None for a claim-level adjustment)."""

    patient_control_number: str
    payer_claim_number: str
    claim_status: str
    line: int | None
    code: str | None
    modifiers: list[str]
    date: dt.date | None
    line_charge: Decimal | None
    line_paid: Decimal | None
    group_code: str
    carc: str
    amount: Decimal
    rarcs: list[str]
    rule_slugs: list[str]
    preventable: str | None
    advice: str
    segment_number: int
    billed: BilledLine | None = None
    kind: str = "denial"

    def to_dict(self) -> dict[str, Any]:
        codes = remittance_codes()
        return {
            "claim": self.patient_control_number, "payer_claim_number": self.payer_claim_number, "kind": self.kind,
            "claim_status": self.claim_status, "line": self.line, "code": self.code, "modifiers": self.modifiers,
            "date": self.date.isoformat() if self.date else None, "line_charge": _number(self.line_charge),
            "line_paid": _number(self.line_paid), "group_code": self.group_code, "carc": self.carc,
            "amount": _number(self.amount),
            "rarcs": [{"code": code, "description": codes.remark(code)} for code in self.rarcs],
            "rules": self.rule_slugs, "preventable": self.preventable, "advice": self.advice,
            "segment": self.segment_number,
            "billed": None if self.billed is None else {
                "encounter": self.billed.encounter_id, "line": self.billed.line_number, "file": self.billed.file,
                **self.billed.line.model_dump(mode="json", exclude_none=True)},
        }


@dataclass
class DenialGroup:
    carc: str
    description: str
    kind: str
    group_codes: list[str]
    amount: Decimal
    lines: int
    claims: int
    rule_slugs: list[str]
    preventable: str | None
    advice: str
    items: list[DenialItem]

    def to_dict(self) -> dict[str, Any]:
        return {"carc": self.carc, "description": self.description, "kind": self.kind,
                "group_codes": self.group_codes, "amount": _number(self.amount), "lines": self.lines,
                "claims": self.claims, "rules": self.rule_slugs, "preventable": self.preventable,
                "advice": self.advice, "items": [item.to_dict() for item in self.items]}


@dataclass
class DenialWorklist:
    """Denials grouped by CARC, largest amount first; other adjustments (deductible, write-offs) apart."""

    denials: list[DenialGroup]
    other_adjustments: list[DenialGroup]
    claims: int
    charged: Decimal
    paid: Decimal
    errors: list[InputError]
    unmatched_claims: list[str] = field(default_factory=list)
    warnings: list[InputError] = field(default_factory=list)

    @property
    def denied(self) -> Decimal:
        return sum((group.amount for group in self.denials), Decimal(0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": {"claims": self.claims, "charged": _number(self.charged), "paid": _number(self.paid),
                        "denied": _number(self.denied),
                        "denied_lines": sum(group.lines for group in self.denials),
                        "preventable_amount": _number(sum(
                            (g.amount for g in self.denials if g.preventable in ("yes", "partly")), Decimal(0)))},
            "denials": [group.to_dict() for group in self.denials],
            "other_adjustments": [group.to_dict() for group in self.other_adjustments],
            "unmatched_claims": self.unmatched_claims,
            "errors": [error.to_dict() | {"text": str(error)} for error in self.errors],
            "warnings": [warning.to_dict() | {"text": str(warning)} for warning in self.warnings],
        }


def denials(
    remit_path: str | Path,
    claims: Sequence[str | Path] | None = None,
    *,
    encounters: Sequence[Encounter] | None = None,
) -> DenialWorklist:
    """The denial worklist of an 835 file.

    With ``claims`` (837P or encounter files) or ``encounters``, each denial shows the line as it was billed.
    """
    remittance = read_835(remit_path)
    errors = list(remittance.errors)
    known: list[tuple[Encounter, str | None]] = [(encounter, None) for encounter in encounters or []]
    if claims:
        loaded, problems = load_claims(claims)
        known += loaded
        errors += problems
    by_claim_id, duplicates = _claims_by_id(known)
    codes = remittance_codes()
    items: list[DenialItem] = []
    for claim in remittance.claims:
        try:
            items += _items(claim, codes, by_claim_id)
        except UNFORESEEN as exc:  # an unforeseen failure on one claim: reported, the other claims still listed
            errors.append(X12SegmentError(
                f"the claim's adjustments could not be listed ({type(exc).__name__})",
                segment_number=claim.segment_number, segment_id="CLP", loop="2100", file=remittance.file,
                encounter=claim.patient_control_number))
    unmatched = sorted({claim.patient_control_number for claim in remittance.claims
                        if claim.patient_control_number not in by_claim_id
                        and claim.patient_control_number not in duplicates}) if known else []
    return DenialWorklist(
        denials=_grouped([i for i in items if i.kind == "denial"], codes),
        other_adjustments=_grouped([i for i in items if i.kind != "denial"], codes),
        claims=len(remittance.claims),
        charged=sum((claim.charge for claim in remittance.claims), Decimal(0)),
        paid=sum((claim.paid for claim in remittance.claims), Decimal(0)),
        errors=errors,
        unmatched_claims=unmatched,
        warnings=list(remittance.warnings) + list(duplicates.values()),
    )


def _claims_by_id(known: Sequence[tuple[Encounter, str | None]]) -> tuple[
        dict[str, tuple[Encounter, str | None]], dict[str, InputError]]:
    """Billed claims by patient control number (CLM01 = CLP01), and a warning for each id that more than one
    claim carries: those are joined to none, since picking one would show a denial against the wrong claim."""
    found: dict[str, list[tuple[Encounter, str | None]]] = {}
    for encounter, file in known:
        found.setdefault(encounter.claim_id or encounter.id, []).append((encounter, file))
    duplicates = {
        claim_id: InputError(
            f"{len(claims)} claims in the claim files have this claim id ("
            + ", ".join(f"encounter {e.id}" + (f" in {f}" if f else "") for e, f in claims)
            + "); its denials are not joined to a billed line", encounter=claim_id)
        for claim_id, claims in found.items() if len(claims) > 1}
    return {claim_id: claims[0] for claim_id, claims in found.items() if len(claims) == 1}, duplicates


# The kind of an adjustment whose CARC is a denial reason but whose amount is $0.00 or negative (a reversal):
# nothing was denied, so it is not worked, counted or summed as a denial.
NOTHING_DENIED = "nothing-denied"


def adjustment_kind(adjustment: Adjustment, codes: RemittanceCodes) -> str:
    """What an adjustment is: its group code and CARC decide (`RemittanceCodes.kind`: PR is the patient's share,
    CR a correction, otherwise the CARC's kind, "unknown" when the table lacks the code), except that a denial
    reason with no positive amount denied nothing."""
    kind: str = codes.kind(adjustment.group, adjustment.reason)
    return NOTHING_DENIED if kind == "denial" and adjustment.amount <= 0 else kind


def _items(claim: RemitClaim, codes: RemittanceCodes,
           encounters: Mapping[str, tuple[Encounter, str | None]]) -> list[DenialItem]:
    encounter, file = encounters.get(claim.patient_control_number, (None, None))
    items = []
    located: list[tuple[int | None, RemitLine | None, Adjustment]] = [
        (None, None, adjustment) for adjustment in claim.adjustments]
    located += [(number, line, adjustment) for number, line in enumerate(claim.lines, start=1)
                for adjustment in line.adjustments]
    for number, line, adjustment in located:
        remarks = (line.remarks if line else []) + claim.remarks
        kind = adjustment_kind(adjustment, codes)
        if kind == "denial":
            slugs, preventable, advice = denial_rules_for(adjustment.reason, remarks, codes)
        else:  # a deductible or a contractual write-off is not something a scrubber prevents
            slugs, preventable, advice = [], None, ""
        items.append(DenialItem(
            patient_control_number=claim.patient_control_number, payer_claim_number=claim.payer_claim_number,
            claim_status=claim.status_text, line=number, code=line.code if line else None,
            modifiers=line.modifiers if line else [], date=line.date if line else claim.statement_start,
            line_charge=line.charge if line else None, line_paid=line.paid if line else None,
            group_code=adjustment.group, carc=adjustment.reason, amount=adjustment.amount, rarcs=remarks,
            rule_slugs=slugs, preventable=preventable, advice=advice, segment_number=adjustment.segment_number,
            billed=billed_line(line, encounter, file) if line and encounter else None, kind=kind))
    return items


def denial_rules_for(carc: str, rarcs: Sequence[str], codes: RemittanceCodes) -> tuple[list[str], str | None, str]:
    """The cleanclaim rules that would have caught a denial for ``carc`` with these remarks, whether a scrubber can
    prevent it, and the advice: RARC rules first (they say which field or edit), then the CARC's; preventability
    from the CARC. Public because the workspace's denial worklist (store.queries) groups stored denials the same
    way this file's worklist does."""
    carc_rule = codes.carc_rules.get(carc)
    slugs: list[str] = []
    for rarc in rarcs:
        rule = codes.rarc_rules.get(rarc)
        if rule is not None:
            slugs += [slug for slug in rule.rule_slugs if slug not in slugs]
    if carc_rule is not None:
        slugs += [slug for slug in carc_rule.rule_slugs if slug not in slugs]
        return slugs, carc_rule.preventable, carc_rule.advice
    return slugs, None, "" if slugs else "No cleanclaim rule is mapped to this code."


def _grouped(items: list[DenialItem], codes: RemittanceCodes) -> list[DenialGroup]:
    """Items grouped by CARC and kind, largest amount first. Sums are Python decimals: exact at any size, where a
    fixed-width column (Decimal128) would overflow or refuse a scale past 38 digits."""
    members: dict[tuple[str, str], list[DenialItem]] = {}
    for item in items:
        members.setdefault((item.carc, item.kind), []).append(item)
    groups = []
    for (carc, kind), grouped in members.items():
        reason = codes.reason(carc)
        rule = codes.carc_rules.get(carc) if kind == "denial" else None
        slugs: list[str] = []
        for item in grouped:
            slugs += [slug for slug in item.rule_slugs if slug not in slugs]
        description = reason.description
        if kind == NOTHING_DENIED:
            description += " (but the amount is $0.00 or a reversal: nothing was denied)"
        groups.append(DenialGroup(
            carc=carc, description=description, kind=kind,
            group_codes=sorted({item.group_code for item in grouped}),
            amount=sum((item.amount for item in grouped), Decimal(0)),
            lines=len({(item.patient_control_number, item.line) for item in grouped}),
            claims=len({item.patient_control_number for item in grouped}), rule_slugs=slugs,
            preventable=rule.preventable if rule else None, advice=rule.advice if rule else "", items=grouped))
    return sorted(groups, key=lambda group: (-group.amount, group.carc, group.kind))


def _number(value: Decimal | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)
