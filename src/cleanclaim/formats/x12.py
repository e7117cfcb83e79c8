"""X12 tokenizer and envelope checks shared by the 837P writer/reader and the 835 reader.

An X12 interchange names its own separators: the ISA segment has a fixed length of 106 characters, so the
element separator is character 4, the repetition separator is ISA11, the component separator is ISA16 and the
segment terminator is the character right after it. Everything else is read with those. Segment numbers in
errors are positions in the file (1 = the first ISA), which is what a person counting segments in an editor, or
a clearinghouse's rejection report, points at.

A damaged transaction (ST without SE) is reported and skipped; the other transactions in the file are still read.
Wrong counts and control numbers (GE01/GE02, IEA01/IEA02) are reported and drop nothing; a wrong SE01/SE02 drops its
transaction unless the caller asks to keep it (``keep_miscounted``: the 837P reader does, since its claims are
intact) (ASC X12 TR3 005010 envelope rules, ISA/GS/ST/SE/GE/IEA).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from cleanclaim.errors import InputError

__all__ = [
    "ISA_LENGTH",
    "Delimiters",
    "Interchange",
    "Segment",
    "Transaction",
    "X12Envelope",
    "X12SegmentError",
    "format_amount",
    "parse_envelope",
    "read_x12_text",
    "segments_text",
    "starts_with_isa",
    "tokenize",
]

ISA_LENGTH = 106


class X12SegmentError(InputError):
    """A problem at one segment of an X12 file; keeps the segment number, id, loop and element for callers."""

    def __init__(
        self,
        message: str,
        *,
        segment_number: int | None,
        segment_id: str | None = None,
        loop: str | None = None,
        element: str | None = None,
        file: str | None = None,
        encounter: str | None = None,
    ) -> None:
        self.segment_number = segment_number
        self.segment_id = segment_id
        # a count or control number that does not match (SE01/SE02 kept, GE01/GE02, IEA01/IEA02): what it encloses
        # was read; `check` leaves the report to the x12-envelope finding rather than an input error
        self.envelope_control = False
        self.loop = loop
        self.element = element
        where = ""
        if segment_number is not None:
            detail = ", ".join(p for p in (segment_id, f"loop {loop}" if loop else None) if p)
            where = f"{segment_number} ({detail})" if detail else str(segment_number)
        super().__init__(message, file=file, segment=where or None, field=element, encounter=encounter)

    def __str__(self) -> str:
        # "segment 23 (SV1, loop 2400), element SV102: expected a money amount, got 'abc'"
        place = []
        if self.file:
            place.append(self.file)
        if self.segment:
            place.append(f"segment {self.segment}")
        if self.field:
            place.append(f"element {self.field}")
        prefix = ", ".join(place)
        message = f"{self.message} (claim {self.encounter})" if self.encounter else self.message
        return f"{prefix}: {message}" if prefix else message


@dataclass(frozen=True)
class Delimiters:
    element: str = "*"
    component: str = ":"
    repetition: str = "^"
    segment: str = "~"

    def all(self) -> tuple[str, ...]:
        return (self.element, self.component, self.repetition, self.segment)


@dataclass(frozen=True)
class Segment:
    """One segment: ``elements[0]`` is the segment id, so ``element(1)`` is XX01 as the standard numbers it."""

    elements: tuple[str, ...]
    number: int
    delimiters: Delimiters

    @property
    def id(self) -> str:
        return self.elements[0]

    def element(self, position: int) -> str:
        return self.elements[position].strip() if position < len(self.elements) else ""

    def components(self, position: int) -> list[str]:
        return [c.strip() for c in self.element(position).split(self.delimiters.component)]

    def name(self, position: int) -> str:
        return f"{self.id}{position:02d}"


@dataclass
class Transaction:
    """One ST..SE transaction set, with the GS values that say what it is."""

    st: Segment
    body: list[Segment]
    functional_id: str
    version: str
    group_control_number: str
    interchange_control_number: str

    @property
    def kind(self) -> str:
        return self.st.element(1)

    @property
    def control_number(self) -> str:
        return self.st.element(2)


@dataclass
class Interchange:
    isa: Segment
    delimiters: Delimiters
    transactions: list[Transaction] = field(default_factory=list)

    @property
    def sender_id(self) -> str:
        return self.isa.element(6)

    @property
    def receiver_id(self) -> str:
        return self.isa.element(8)

    @property
    def control_number(self) -> str:
        return self.isa.element(13)


@dataclass
class X12Envelope:
    """What a file holds: every readable interchange and transaction, and what was damaged."""

    interchanges: list[Interchange]
    errors: list[InputError]

    def transactions(self, kind: str | None = None) -> Iterator[Transaction]:
        for interchange in self.interchanges:
            for transaction in interchange.transactions:
                if kind is None or transaction.kind == kind:
                    yield transaction


def starts_with_isa(text: str) -> bool:
    """Whether ``text`` opens with an interchange's ISA segment (after a byte-order mark and blank space): what tells
    X12 text from a file name, and an upload that could be an 835 from one that cannot."""
    return text.lstrip("\ufeff \r\n\t").startswith("ISA")


def read_x12_text(text_or_path: str | Path) -> tuple[str, str | None]:
    """Text and file name of an X12 input given as its text or as a path (a one-line string not starting ISA)."""
    if isinstance(text_or_path, str) and (
            starts_with_isa(text_or_path) or "\n" in text_or_path or len(text_or_path) > 1024):
        return text_or_path, None
    path = Path(text_or_path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror}", file=str(path)) from exc
    except ValueError as exc:  # a name with a NUL character (or text that is not X12, taken for a name)
        raise InputError(f"cannot read the file: {exc}", file=repr(str(path)[:80])) from exc
    try:
        return data.decode("utf-8-sig"), str(path)
    except UnicodeDecodeError as exc:
        raise _undecodable(data, exc, str(path)) from exc


def _undecodable(data: bytes, exc: UnicodeDecodeError, file: str) -> InputError:
    """Where the first byte that is not UTF-8 is: its segment (counted with the terminator the ISA names, which
    is ASCII in any readable file), its line and byte offset, so it can be found in an editor."""
    start = exc.start
    line = data.count(b"\n", 0, start) + 1
    offset = data.find(b"ISA")
    terminator = data[offset + ISA_LENGTH - 1 : offset + ISA_LENGTH] if offset >= 0 else b""
    message = f"not a UTF-8 or ASCII text file ({exc.reason} at byte {start}, line {line})"
    if terminator and terminator.isascii() and offset <= start:
        segment = data.count(terminator, offset, start) + 1
        return X12SegmentError(message, segment_number=segment, file=file)
    return InputError(message, file=file, line=line)


_ISA_ELEMENT_LENGTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)


def _isa_delimiters(text: str, start: int) -> Delimiters | str:
    """Separators named by the ISA at ``start``, or a message saying why the ISA is not usable."""
    element = text[start + 3 : start + 4]
    fields = text[start : start + 2 * ISA_LENGTH].split(element, 16) if element else []
    if len(fields) < 17:
        return f"the ISA segment must have 16 elements separated by {element!r}, found {max(len(fields) - 1, 0)}"
    for position, length in enumerate(_ISA_ELEMENT_LENGTHS[:15], start=1):
        if len(fields[position]) != length:
            return (f"ISA{position:02d} must be {length} characters long, got {len(fields[position])} "
                    f"({fields[position].strip()!r})")
    if len(fields[16]) < 2:
        return "the ISA segment ends before its component separator and segment terminator (file truncated?)"
    component, terminator = fields[16][0], fields[16][1]
    # 00501 gives ISA11 as the repetition separator; 00401 used it as a standards id ("U").
    repetition = fields[11] if fields[12] >= "00501" and not fields[11].isalnum() else ""
    chosen = [element, component, terminator] + ([repetition] if repetition else [])
    if len(set(chosen)) != len(chosen) or any(c.isalnum() or c == " " for c in chosen):
        return f"the ISA separators {chosen!r} are not distinct non-alphanumeric characters"
    return Delimiters(element=element, component=component, repetition=repetition or "\x00", segment=terminator)


# An ISA starts the text or follows a non-alphanumeric character (a terminator, a line break).
_ISA_START = re.compile(r"(?<![A-Za-z0-9])ISA(?=[^A-Za-z0-9 \r\n])")


def tokenize(text: str, *, file: str | None = None) -> tuple[list[Segment], list[InputError]]:
    """Split a file into segments, re-reading the separators at every ISA.

    Line breaks after a segment terminator (or in place of none) are ignored. A damaged ISA is reported and the
    reader skips to the next ISA, since without its separators nothing up to there can be split safely.
    """
    segments: list[Segment] = []
    errors: list[InputError] = []
    text = text.lstrip("\ufeff")
    position = 0
    number = 0
    while True:
        while position < len(text) and text[position] in " \r\n\t":
            position += 1
        if position >= len(text):
            break
        match = _ISA_START.match(text, position) or _ISA_START.search(text, position)
        if match is None or match.start() > position:
            if number == 0 and match is None:
                errors.append(X12SegmentError(
                    "not an X12 file: it does not start with an ISA segment", segment_number=1, file=file))
            else:
                errors.append(X12SegmentError(
                    "text that is not inside an ISA..IEA interchange was not read",
                    segment_number=number + 1, file=file))
            if match is None:
                break
        start = match.start()
        delimiters = _isa_delimiters(text, start)
        if isinstance(delimiters, str):
            number += 1
            errors.append(X12SegmentError(
                f"{delimiters}; this interchange was not read", segment_number=number, segment_id="ISA", file=file))
            following = _ISA_START.search(text, start + 3)
            if following is None:
                break
            position = following.start()
            continue
        end = _interchange_end(text, start, delimiters)
        for raw in text[start:end].split(delimiters.segment):
            cleaned = raw.strip("\r\n\t ")
            if not cleaned:
                continue
            number += 1
            segments.append(Segment(tuple(cleaned.split(delimiters.element)), number, delimiters))
        position = end
    return segments, errors


def _interchange_end(text: str, start: int, delimiters: Delimiters) -> int:
    """End of this interchange: just after its IEA segment, or the start of the next ISA, or the end of text.

    The IEA is looked for only up to the next ISA: searching to the end of the text for every interchange made a
    file of many interchanges without IEA quadratic (each search scanned every later interchange)."""
    following = re.compile(re.escape(delimiters.segment) + r"[\r\n\t ]*(ISA)" + re.escape(delimiters.element))
    next_isa = following.search(text, start + ISA_LENGTH - 1)
    limit = next_isa.start(1) if next_isa else len(text)
    iea = re.compile(r"(?:^|" + re.escape(delimiters.segment) + r")[\r\n\t ]*IEA" + re.escape(delimiters.element))
    found = iea.search(text, start + ISA_LENGTH - 1, limit)
    if found is None:
        return limit
    terminator = text.find(delimiters.segment, found.end(), limit)
    return limit if terminator < 0 else terminator + 1


def parse_envelope(text: str, *, file: str | None = None, keep_miscounted: bool = False) -> X12Envelope:
    """Check ISA/GS/ST/SE/GE/IEA and return every transaction whose envelope is intact (with ``keep_miscounted``,
    also those whose SE01 count or SE02 control number is wrong: reported, and kept)."""
    segments, errors = tokenize(text, file=file)
    if not segments and not errors:
        errors.append(InputError("no X12 interchange: the file is empty (an X12 file starts with ISA)", file=file))
    interchanges: list[Interchange] = []
    walker = _EnvelopeWalker(file, errors, interchanges, keep_miscounted=keep_miscounted)
    for segment in segments:
        walker.feed(segment)
    walker.finish(segments[-1].number if segments else 0)
    return X12Envelope(interchanges, errors)


@dataclass
class _EnvelopeWalker:
    file: str | None
    errors: list[InputError]
    interchanges: list[Interchange]
    interchange: Interchange | None = None
    gs: Segment | None = None
    group_transactions: int = 0
    interchange_groups: int = 0
    transaction: Transaction | None = None
    transaction_damaged: bool = False
    keep_miscounted: bool = False

    def error(self, segment: Segment, message: str, element: str | None = None, *, control: bool = False) -> None:
        error = X12SegmentError(
            message, segment_number=segment.number, segment_id=segment.id, element=element, file=self.file)
        error.envelope_control = control
        self.errors.append(error)

    def feed(self, segment: Segment) -> None:
        handler = {"ISA": self._isa, "GS": self._gs, "ST": self._st, "SE": self._se, "GE": self._ge,
                   "IEA": self._iea}.get(segment.id)
        if handler is not None:
            handler(segment)
        elif self.transaction is not None:
            self.transaction.body.append(segment)
        elif not self.transaction_damaged:
            self.error(segment, "segment outside a transaction (no ST before it)")

    def _isa(self, segment: Segment) -> None:
        if self.transaction is not None:
            self._truncated(segment)
        if self.interchange is not None:
            self.error(segment, "a new ISA starts before the previous interchange's IEA (truncated interchange)")
        self.interchange = Interchange(segment, segment.delimiters)
        self.interchanges.append(self.interchange)
        self.interchange_groups = 0
        self.gs = None
        self.transaction_damaged = False

    def _gs(self, segment: Segment) -> None:
        if self.transaction is not None:
            self._truncated(segment)
        if self.interchange is None:
            self.error(segment, "GS outside an interchange (no ISA before it)")
        self.gs = segment
        self.group_transactions = 0
        self.interchange_groups += 1
        self.transaction_damaged = False

    def _st(self, segment: Segment) -> None:
        if self.transaction is not None:
            self._truncated(segment)
        self.transaction_damaged = False
        if self.gs is None or self.interchange is None:
            self.error(segment, "ST outside a functional group (no GS before it); transaction not read")
            self.transaction_damaged = True
            return
        self.group_transactions += 1
        self.transaction = Transaction(
            st=segment, body=[], functional_id=self.gs.element(1), version=self.gs.element(8),
            group_control_number=self.gs.element(6), interchange_control_number=self.interchange.control_number)

    def _truncated(self, segment: Segment) -> None:
        assert self.transaction is not None
        st = self.transaction.st
        self.errors.append(X12SegmentError(
            f"transaction {st.element(2)!r} started at segment {st.number} has no SE before segment "
            f"{segment.number} ({segment.id}); the transaction is truncated and was not read",
            segment_number=st.number, segment_id="ST", file=self.file))
        self.transaction = None

    def _se(self, segment: Segment) -> None:
        transaction = self.transaction
        if transaction is None:
            if not self.transaction_damaged:
                self.error(segment, "SE without a matching ST")
            return
        self.transaction = None
        counted = len(transaction.body) + 2
        problems = []
        # With keep_miscounted, a wrong count or control number is an envelope error, not damage to the claims:
        # every segment between ST and SE is there to read and each claim is still checked on its own (a receiver's
        # 999 would reject the transaction, so the error is reported; dropping the claims would hide them).
        outcome = ("its claims were read; correct it before sending" if self.keep_miscounted
                   else "the transaction was not read")
        if segment.element(1) != str(counted):
            problems.append((f"SE01 says {segment.element(1)!r} segments but the transaction has {counted} "
                             f"(ST to SE); segments are missing or extra, {outcome}", "SE01"))
        if segment.element(2) != transaction.st.element(2):
            problems.append((f"SE02 {segment.element(2)!r} does not match ST02 {transaction.st.element(2)!r}; "
                             f"{outcome}", "SE02"))
        for message, element in problems:
            self.error(segment, message, element, control=self.keep_miscounted)
        if problems and not self.keep_miscounted:
            return
        assert self.interchange is not None
        self.interchange.transactions.append(transaction)

    def _ge(self, segment: Segment) -> None:
        if self.transaction is not None:
            self._truncated(segment)
        if self.gs is None:
            self.error(segment, "GE without a matching GS")
            return
        if segment.element(1) != str(self.group_transactions):
            self.error(segment, f"GE01 says {segment.element(1)!r} transactions but the group has "
                                f"{self.group_transactions}", "GE01", control=True)
        if segment.element(2) != self.gs.element(6):
            self.error(segment, f"GE02 {segment.element(2)!r} does not match GS06 {self.gs.element(6)!r}", "GE02",
                       control=True)
        self.gs = None

    def _iea(self, segment: Segment) -> None:
        if self.transaction is not None:
            self._truncated(segment)
        if self.interchange is None:
            self.error(segment, "IEA without a matching ISA")
            return
        if segment.element(1) != str(self.interchange_groups):
            self.error(segment, f"IEA01 says {segment.element(1)!r} groups but the interchange has "
                                f"{self.interchange_groups}", "IEA01", control=True)
        if segment.element(2) != self.interchange.control_number:
            self.error(segment, f"IEA02 {segment.element(2)!r} does not match ISA13 "
                                f"{self.interchange.control_number!r}", "IEA02", control=True)
        self.interchange = None

    def finish(self, last_number: int) -> None:
        if self.transaction is not None:
            st = self.transaction.st
            self.errors.append(X12SegmentError(
                f"transaction {st.element(2)!r} started at segment {st.number} ends at segment {last_number} "
                "without an SE (file truncated); the transaction was not read",
                segment_number=st.number, segment_id="ST", file=self.file))
            self.transaction = None
        elif self.interchange is not None:
            self.errors.append(X12SegmentError(
                f"the interchange started at segment {self.interchange.isa.number} has no IEA (file truncated)",
                segment_number=last_number, file=self.file))


def format_amount(value: object) -> str:
    """An X12 decimal (R type): no exponent, no trailing zeros after the point, no bare point."""
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def segments_text(rows: Sequence[Sequence[str]], delimiters: Delimiters, *, line_breaks: bool) -> str:
    """Join segments, dropping trailing empty elements (X12 forbids trailing separators)."""
    out = []
    for row in rows:
        elements = list(row)
        while len(elements) > 1 and elements[-1] == "":
            elements.pop()
        out.append(delimiters.element.join(elements) + delimiters.segment)
    return ("\n" if line_breaks else "").join(out) + ("\n" if line_breaks else "")
