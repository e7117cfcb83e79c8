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
from typing import Any

import polars as pl

from cleanclaim.errors import InputError
from cleanclaim.formats.remittance_codes import RemittanceCodes, remittance_codes
from cleanclaim.formats.x12 import Segment, Transaction, X12SegmentError, parse_envelope, read_x12_text
from cleanclaim.model import ClaimLine, Encounter

__all__ = [
    "Adjustment",
    "BilledLine",
    "DenialGroup",
    "DenialItem",
    "DenialWorklist",
    "RemitClaim",
    "RemitLine",
    "Remittance",
    "RemittanceAdvice",
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

    payment_amount: Decimal
    payment_method: str
    payment_date: dt.date | None
    trace_number: str
    payer_name: str
    payee_name: str
    payee_id: str
    segment_number: int
    claims: list[RemitClaim] = field(default_factory=list)


@dataclass
class Remittance:
    advices: list[RemittanceAdvice]
    errors: list[InputError]
    file: str | None = None

    @property
    def claims(self) -> list[RemitClaim]:
        return [claim for advice in self.advices for claim in advice.claims]


# ---------------------------------------------------------------------------------------------------- reader


def read_835(text_or_path: str | Path) -> Remittance:
    """Every readable 835 transaction in the file; damaged claims and transactions are reported, not read."""
    text, file = read_x12_text(text_or_path)
    envelope = parse_envelope(text, file=file)
    errors: list[InputError] = list(envelope.errors)
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
        if advice is not None:
            advices.append(advice)
    return Remittance(advices, errors, file)


class _ElementError(Exception):
    def __init__(self, element: str | None, message: str) -> None:
        super().__init__(message)
        self.element = element
        self.message = message


class _RemitReader:
    def __init__(self, file: str | None) -> None:
        self.file = file
        self.errors: list[InputError] = []
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
                segment.element(1) if segment.id == "CLP" else None)))
        if in_claim:
            self.claim = None
            self.line = None

    def _on_bpr(self, segment: Segment) -> None:
        amount = _amount(segment, 2)
        if amount is None:
            raise _ElementError("BPR02", "expected the total payment amount, got nothing")
        self.advice = RemittanceAdvice(
            payment_amount=amount if segment.element(3) != "D" else -amount, payment_method=segment.element(4),
            payment_date=_date(segment, 16) if segment.element(16) else None, trace_number="", payer_name="",
            payee_name="", payee_id="", segment_number=segment.number)

    def _on_trn(self, segment: Segment) -> None:
        if self.advice is not None:
            self.advice.trace_number = segment.element(2)

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
        if segment.element(2) not in CLAIM_STATUS:
            raise _ElementError("CLP02", f"expected a claim status code, got {segment.element(2)!r}")
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
            raise _ElementError("CAS01", f"expected a group code CO, CR, OA, PI or PR, got {group!r}")
        found = False
        for position in range(2, 20, 3):  # up to six reason/amount/quantity triplets
            reason = segment.element(position)
            if not reason:
                continue
            amount = _amount(segment, position + 1)
            if amount is None:
                raise _ElementError(segment.name(position + 1), f"CARC {reason} has no amount")
            quantity = _amount(segment, position + 2, what="a quantity")
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
        if procedure[0] not in ("HC", "AD", "ER", "IV", "N4", "NU", "WK") or len(procedure) < 2:
            raise _ElementError("SVC01", f"expected a qualified procedure code, got {segment.element(1)!r}")
        charge, paid = _amount(segment, 2), _amount(segment, 3)
        if charge is None or paid is None:
            raise _ElementError("SVC02" if charge is None else "SVC03", "expected a money amount, got nothing")
        units = _amount(segment, 5, what="a number of units")
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
        self.errors += _balance_problems(claim, self.file)
        self.advice.claims.append(claim)


def _balance_problems(claim: RemitClaim, file: str | None) -> list[InputError]:
    """The 835 must balance: charge - adjustments = paid, per line and per claim (TR3 1.10.2)."""
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


def _amount(segment: Segment, position: int, *, what: str = "a money amount") -> Decimal | None:
    text = segment.element(position)
    if not text:
        return None
    if not re.fullmatch(r"-?([0-9]+\.?[0-9]*|\.[0-9]+)", text):  # ASCII: Decimal() takes any script's digits
        raise _ElementError(segment.name(position), f"expected {what}, got {text!r}")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise _ElementError(segment.name(position), f"expected {what}, got {text!r}") from None


def _date(segment: Segment, position: int) -> dt.date:
    text = segment.element(position)
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise _ElementError(segment.name(position), f"expected a date CCYYMMDD, got {text!r}") from None


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
    return encounters, errors


def _billed_line(remit_line: RemitLine, encounter: Encounter, file: str | None) -> BilledLine | None:
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

    def to_dict(self) -> dict[str, Any]:
        codes = remittance_codes()
        return {
            "claim": self.patient_control_number, "payer_claim_number": self.payer_claim_number,
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
    by_claim_id = {encounter.claim_id or encounter.id: (encounter, file) for encounter, file in known}
    codes = remittance_codes()
    items = [item for claim in remittance.claims for item in _items(claim, codes, by_claim_id)]
    unmatched = sorted({claim.patient_control_number for claim in remittance.claims
                        if claim.patient_control_number not in by_claim_id}) if known else []
    kinds = {item.carc: codes.reason(item.carc).kind for item in items}
    return DenialWorklist(
        denials=_grouped([i for i in items if kinds[i.carc] == "denial"], codes),
        other_adjustments=_grouped([i for i in items if kinds[i.carc] != "denial"], codes),
        claims=len(remittance.claims),
        charged=sum((claim.charge for claim in remittance.claims), Decimal(0)),
        paid=sum((claim.paid for claim in remittance.claims), Decimal(0)),
        errors=errors,
        unmatched_claims=unmatched,
    )


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
        if codes.reason(adjustment.reason).kind == "denial":
            slugs, preventable, advice = _rules_for(adjustment.reason, remarks, codes)
        else:  # a deductible or a contractual write-off is not something a scrubber prevents
            slugs, preventable, advice = [], None, ""
        items.append(DenialItem(
            patient_control_number=claim.patient_control_number, payer_claim_number=claim.payer_claim_number,
            claim_status=claim.status_text, line=number, code=line.code if line else None,
            modifiers=line.modifiers if line else [], date=line.date if line else claim.statement_start,
            line_charge=line.charge if line else None, line_paid=line.paid if line else None,
            group_code=adjustment.group, carc=adjustment.reason, amount=adjustment.amount, rarcs=remarks,
            rule_slugs=slugs, preventable=preventable, advice=advice, segment_number=adjustment.segment_number,
            billed=_billed_line(line, encounter, file) if line and encounter else None))
    return items


def _rules_for(carc: str, rarcs: Sequence[str], codes: RemittanceCodes) -> tuple[list[str], str | None, str]:
    """RARC rules first (they say which field or edit), then the CARC's; preventability from the CARC."""
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
    if not items:
        return []
    # Decimal columns keep cents exact; the scale fits the most precise amount so nothing is rounded.
    scale = max(max(-int(item.amount.as_tuple().exponent), 0) for item in items)
    table = pl.DataFrame(
        {
            "carc": [item.carc for item in items],
            "group_code": [item.group_code for item in items],
            "amount": [item.amount for item in items],
            "line_key": [f"{item.patient_control_number}\x1f{item.line}" for item in items],
            "claim": [item.patient_control_number for item in items],
        },
        schema={"carc": pl.String, "group_code": pl.String, "amount": pl.Decimal(precision=38, scale=scale),
                "line_key": pl.String, "claim": pl.String},
    )
    totals = (
        table.group_by("carc")
        .agg(
            pl.col("amount").sum(),
            pl.col("line_key").n_unique().alias("lines"),
            pl.col("claim").n_unique().alias("claims"),
            pl.col("group_code").unique().sort().alias("group_codes"),
        )
        .sort(["amount", "carc"], descending=[True, False])
    )
    groups = []
    for row in totals.iter_rows(named=True):
        carc = row["carc"]
        reason = codes.reason(carc)
        rule = codes.carc_rules.get(carc)
        members = [item for item in items if item.carc == carc]
        slugs: list[str] = []
        for item in members:
            slugs += [slug for slug in item.rule_slugs if slug not in slugs]
        groups.append(DenialGroup(
            carc=carc, description=reason.description, kind=reason.kind, group_codes=list(row["group_codes"]),
            amount=Decimal(row["amount"]), lines=row["lines"], claims=row["claims"], rule_slugs=slugs,
            preventable=rule.preventable if rule else None, advice=rule.advice if rule else "", items=members))
    return groups


def _number(value: Decimal | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)
