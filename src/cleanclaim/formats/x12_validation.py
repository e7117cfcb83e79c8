"""X12 syntax and implementation-guide validation of a claim file, reported as findings of the ``x12`` family.

A clearinghouse answers every 837 with a 999 (and a TA1 when the interchange envelope itself is broken) before any
payer sees a claim: a transaction set with one syntax error is rejected whole. ``check FILE.837`` therefore runs the
same kind of validation first (SNIP levels 1 and 2: X12 syntax, then the 005010X222A1 TR3's loops, usage, lengths,
code values and situational rules) with pyx12 and its bundled maps, and reports each error beside the rules'
findings, where the rows of a real 999 would only say "IK3*SV1*28**8~IK4*3*355*7".

Every message names the segment (its number in the file and its id), the loop and the element (SV101-2), says what
was expected and gives the 999 or TA1 code; it never repeats the value that was there (it may be a member id, a name
or a birth date). pyx12 is a separate program with its own failure modes: whatever it raises becomes one
``x12-not-validated`` finding, never a crash of ``check``.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from cleanclaim.model import Finding, Severity
from cleanclaim.rules.registry import CANNOT_FIRE, NO_ROWS, Rule, register

__all__ = [
    "X12_RULES",
    "X12Element",
    "X12Envelope",
    "X12NotValidated",
    "X12Segment",
    "x12_findings",
    "x12_findings_table",
]

TR3_837P = "ASC X12 005010X222A1 Health Care Claim: Professional (837P) TR3"
ACK_999 = "ASC X12 005010X231A1 Implementation Acknowledgment for Health Care Insurance (999) TR3"
X12_SYNTAX = "ASC X12.6 Application Control Structure (X12 syntax: envelopes, separators, TA1 note codes)"
_TR3_BY_VERSION = {
    "005010X222A1": TR3_837P,
    "005010X221A1": "ASC X12 005010X221A1 Health Care Claim Payment/Advice (835) TR3",
}


class _X12Rule(Rule):
    """A rule about the claim file itself, not the claims in it: it finds nothing in the line tables (its screen
    says so), its findings come from :func:`x12_findings`, and its cases are the mutation tests in
    tests/formats/x12/test_x12_validation.py instead of encounter cases."""

    family = "x12"
    severity = Severity.ERROR
    screen = CANNOT_FIRE
    reads_tables = False

    def check(self, tables: Any) -> pl.DataFrame:
        return NO_ROWS


@register
class X12Envelope(_X12Rule):
    """An interchange, functional group or transaction set envelope does not close as it opens.

    What it checks:
    The control structure of the file (X12.6; the TR3's appendix B): every ISA closed by an IEA with the same
    control number (IEA02 = ISA13) and the number of functional groups in IEA01; every GS closed by a GE with
    GE02 = GS06 and the number of transaction sets in GE01; every ST closed by an SE with SE02 = ST02 and the
    number of segments from ST to SE in SE01; control numbers not repeated.

    Why it matters:
    A clearinghouse checks the envelope before reading a single claim: a wrong IEA is rejected with a TA1, a wrong
    GE or SE with a 999 that rejects the whole group or transaction set, and every claim inside is returned unread.
    cleanclaim still reads the claims (their content is intact) so that their own problems are reported too.

    Example:
    SE*57*0001~   (the transaction set has 58 segments from ST to SE)

    Use instead:
    SE*58*0001~   (count every segment from ST through SE, both included)

    References:
    ASC X12.6 Application Control Structure; 005010X222A1 TR3 appendix B (control segments); 999 TR3 IK5/AK9
    codes; TA1 note codes.
    """

    id = "CC901"
    slug = "x12-envelope"
    message = "{where}: {problem} ({ack})"
    fix = "{remedy}"
    references = (X12_SYNTAX, TR3_837P, ACK_999)


@register
class X12Segment(_X12Rule):
    """A segment is missing, repeated too often, unknown or out of place for the 837P implementation guide.

    What it checks:
    pyx12 walks every segment through the 005010X222A1 map: a segment the TR3 does not allow at that point, a
    required segment or loop that is missing, a segment or loop over its maximum use, a segment with too many
    elements or a broken syntax rule (paired or conditional elements), HL parents and LX numbers out of sequence.

    Why it matters:
    The clearinghouse's 999 rejects the transaction set with an IK3 segment error (SNIP levels 1 and 2); no payer
    sees the claims until the file is corrected and sent again.

    Example:
    NM1*PR*2*Example Payer*****PI*12345~
    DMG*D8*19500101*F~   (the subscriber's DMG placed after the payer name loop 2010BB)

    Use instead:
    DMG*D8*19500101*F~   (DMG inside loop 2010BA, after the subscriber's N4)
    NM1*PR*2*Example Payer*****PI*12345~

    References:
    005010X222A1 TR3 section 2 (transaction set listing, loop and segment usage); 999 TR3 IK3 (IK304 codes).
    """

    id = "CC902"
    slug = "x12-segment"
    message = "{where}: {problem} ({ack})"
    fix = "{remedy}"
    references = (TR3_837P, ACK_999)


@register
class X12Element(_X12Rule):
    """An element is missing, too long or short, of the wrong type, or holds a code the implementation guide does
    not allow there.

    What it checks:
    Each element against the 005010X222A1 map: required elements present, "Not Used" elements empty, lengths
    within the data element's minimum and maximum, numbers, dates (CCYYMMDD) and times well formed, and code values
    among those the TR3 lists for that element in that loop. Envelope segments (ISA, GS, ST) are checked the same way.

    Why it matters:
    The 999 rejects the transaction set with an IK4 element error; an invalid code value (SV103 other than MJ or UN,
    a bad qualifier) is the most common SNIP level 2 rejection.

    Example:
    SV1*HC:97110:GP*90*UX*2***1~   (SV103 UX is not a unit code of the TR3)

    Use instead:
    SV1*HC:97110:GP*90*UN*2***1~

    References:
    005010X222A1 TR3 section 2 (element usage, lengths and code lists); ASC X12.6 data element types;
    999 TR3 IK4 (IK403 codes).
    """

    id = "CC903"
    slug = "x12-element"
    message = "{where}: {problem} ({ack})"
    fix = "{remedy}"
    references = (TR3_837P, ACK_999)


@register
class X12NotValidated(_X12Rule):
    """The X12 validation of the file could not complete, so its syntax was not (fully) checked.

    What it checks:
    That pyx12 validated the whole file: it stops on a transaction set it has no map for (a GS08 version other
    than the 5010 implementation guides), on an ISA that is not 106 characters of 16 elements, or on an internal
    error. The claims that could be read are still checked by every other rule.

    Why it matters:
    A file cleanclaim could not validate may still be rejected by the clearinghouse's 999: nothing here says its
    syntax is right.

    Example:
    GS*HC*SENDER*RECEIVER*20260310*1415*417*X*005010X999A1~   (no such implementation guide)

    Use instead:
    GS*HC*SENDER*RECEIVER*20260310*1415*417*X*005010X222A1~

    References:
    005010X222A1 TR3 appendix B (GS08 version); ASC X12.6 (ISA fixed length).
    """

    id = "CC904"
    slug = "x12-not-validated"
    severity = Severity.WARNING
    message = "{where}: {problem}"
    fix = "{remedy}"
    references = (TR3_837P, X12_SYNTAX)


X12_RULES: tuple[type[_X12Rule], ...] = (X12Envelope, X12Segment, X12Element, X12NotValidated)

# ---- code tables: the 999 and TA1 code lists (999 TR3 IK304, IK403, IK502/AK905; X12.6 TA105) ---------------------

_IK304 = {
    "1": "unrecognized segment ID",
    "2": "unexpected segment",
    "3": "required segment missing",
    "4": "loop occurs over maximum times",
    "5": "segment exceeds maximum use",
    "6": "segment not in defined transaction set",
    "7": "segment not in proper sequence",
    "8": "segment has data element errors",
    "I4": "implementation \"Not Used\" segment present",
    "I6": "implementation dependent segment missing",
    "I7": "implementation loop occurs under minimum times",
    "I8": "implementation segment below minimum use",
    "I9": "implementation dependent \"Not Used\" segment present",
}
_IK403 = {
    "1": "required data element missing",
    "2": "conditional required data element missing",
    "3": "too many data elements",
    "4": "data element too short",
    "5": "data element too long",
    "6": "invalid character in data element",
    "7": "invalid code value",
    "8": "invalid date",
    "9": "invalid time",
    "10": "exclusion condition violated",
    "12": "too many repetitions",
    "13": "too many components",
    "I6": "code value not used in implementation",
    "I9": "implementation dependent data element missing",
    "I10": "implementation \"Not Used\" data element present",
    "I11": "implementation too few repetitions",
    "I12": "implementation pattern match failure",
    "I13": "implementation dependent \"Not Used\" data element present",
}
_IK502 = {
    "1": "transaction set not supported",
    "2": "transaction set trailer missing",
    "3": "transaction set control number in header and trailer do not match",
    "4": "number of included segments does not match actual count",
    "5": "one or more segments in error",
    "6": "missing or invalid transaction set identifier",
    "7": "missing or invalid transaction set control number",
    "23": "transaction set control number not unique within the functional group",
}
_AK905 = {
    "1": "functional group not supported",
    "2": "functional group version not supported",
    "3": "functional group trailer missing",
    "4": "group control number in the functional group header and trailer do not agree",
    "5": "number of included transaction sets does not match actual count",
    "6": "group control number violates syntax",
}
_TA105 = {
    "001": "the interchange control number in the header and trailer do not match",
    "021": "invalid number of included groups value",
    "023": "improper (premature) end-of-file",
    "024": "invalid interchange content",
    "025": "duplicate interchange control number",
}
# pyx12's own structure checks, which a 999 reports only as "segment has data element errors" or not at all
_PYX12_SEGMENT = {
    "HL1": "HL01 does not number the HL segments 1, 2, 3, … in order",
    "HL2": "HL02 names a parent that is not an earlier HL of this transaction set",
    "LX": "LX01 does not number the service lines of the claim 1, 2, 3, … in order",
    "SEG1": "the segment ends with an element separator (trailing empty elements)",
}
# pyx12 texts that name only map names, element ids and counts: shown as they are (a value is never in them)
_SAFE_SEGMENT_TEXT = re.compile(
    r'^(Mandatory (segment|loop|composite) "[^"]*" \(\w+\) (is )?missing'
    r"|(Segment|Loop) \w+ found but marked as not used"
    r"|(Segment|Loop) \w+ exceeded max count\.\s+Found \d+, should have \d+"
    r'|Too many elements in segment "[^"]*" \(\w+\)\. Has \d+, should have \d+'
    r'|Too many sub-elements in composite "[^"]*" \(\w+\)'
    r'|Composite "[^"]*" \(\w+\) is marked as Not Used'
    r"|Syntax Error \([^)]*\): [A-Za-z0-9 ,]*)$"
)
_LX_COUNT = re.compile(r"does not match my count of (\d+)$")
_HL_COUNT = re.compile(r"^My HL count (\d+) does not match your HL count (\d+)$")
_HL_PARENT = re.compile(r"^HL parent \((\d+)\) is not a valid parent$")


# ---- what pyx12 walked: one entry per segment, so an error's segment number finds its loop and claim ---------------

@dataclass
class _Trailer:
    """What an envelope trailer says and what the file holds (control numbers and counts, never patient data)."""

    segment: str
    says_count: str
    says_control: str
    counted: int
    opened_control: str


@dataclass
class _Trace:
    """Filled by pyx12's per-segment callback: the map node, claim and service line of every segment, the envelope
    counts, and the element errors of envelope segments (pyx12 validates those but does not list them)."""

    nodes: list[Any] = field(default_factory=list)
    claims: list[int] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    claim_ids: list[str] = field(default_factory=list)
    trailers: dict[int, _Trailer] = field(default_factory=dict)
    control_errors: list[tuple[int, str, Any]] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    claim: int = -1
    line: int = 0
    isa: tuple[str, int] = ("", 0)
    gs: tuple[str, int] = ("", 0)
    st: tuple[str, int] = ("", 0)

    def __call__(self, seg: Any, src: Any, node: Any, valid: bool) -> None:
        number = src.get_cur_line()
        seg_id = seg.get_seg_id()
        if seg_id in ("ISA", "GS", "ST", "SE", "GE", "IEA", "HL"):
            self.claim, self.line = -1, 0
        elif seg_id == "CLM":
            self.claim_ids.append(seg.get_value("CLM01") or "")
            self.claim, self.line = len(self.claim_ids) - 1, 0
        elif seg_id == "LX" and self.claim >= 0:
            self.line += 1
        self._envelope(seg_id, seg, number)
        while len(self.nodes) < number - 1:  # segments pyx12 skipped without a callback
            self.nodes.append(None)
            self.claims.append(-1)
            self.lines.append(0)
        self.nodes.append(node)
        self.claims.append(self.claim)
        self.lines.append(self.line)
        if seg_id in ("ISA", "GS", "ST", "SE", "GE", "IEA") and node is not None:
            _, errors = node.is_valid_errors(seg)
            self.control_errors += [(number, seg_id, error) for error in errors]

    def _envelope(self, seg_id: str, seg: Any, number: int) -> None:
        if seg_id == "ISA":
            self.isa = (seg.get_value("ISA13") or "", 0)
        elif seg_id == "GS":
            self.isa = (self.isa[0], self.isa[1] + 1)
            self.gs = (seg.get_value("GS06") or "", 0)
            self.versions.append(seg.get_value("GS08") or "")
        elif seg_id == "ST":
            self.gs = (self.gs[0], self.gs[1] + 1)
            self.st = (seg.get_value("ST02") or "", 1)
        elif seg_id == "SE":
            self.trailers[number] = _Trailer("SE", seg.get_value("SE01") or "", seg.get_value("SE02") or "",
                                             self.st[1] + 1, self.st[0])
        elif seg_id == "GE":
            self.trailers[number] = _Trailer("GE", seg.get_value("GE01") or "", seg.get_value("GE02") or "",
                                             self.gs[1], self.gs[0])
        elif seg_id == "IEA":
            self.trailers[number] = _Trailer("IEA", seg.get_value("IEA01") or "", seg.get_value("IEA02") or "",
                                             self.isa[1], self.isa[0])
        else:
            self.st = (self.st[0], self.st[1] + 1)

    def at(self, number: int | None) -> tuple[Any, str | None, int | None]:
        """The map node, claim id (CLM01) and service line number of segment ``number`` (1-based)."""
        if number is None or not 1 <= number <= len(self.nodes):
            return None, None, None
        claim = self.claims[number - 1]
        line = self.lines[number - 1]
        return self.nodes[number - 1], self.claim_ids[claim] if claim >= 0 else None, line or None


@dataclass(frozen=True)
class _Problem:
    rule: type[_X12Rule]
    where: str
    problem: str
    remedy: str
    ack: str = ""
    encounter: str | None = None
    line: int | None = None
    version: str = ""
    number: int | None = None
    """The segment it is about (or after), to list the findings in file order."""

    def finding(self) -> Finding:
        fields = {"where": self.where, "problem": self.problem, "remedy": self.remedy, "ack": self.ack}
        # the guide of the file's own version (GS08): an 835 or a 4010 file is not judged by the 837P TR3
        tr3 = _TR3_BY_VERSION.get(self.version) or (f"ASC X12 {self.version} TR3" if self.version else TR3_837P)
        references = [tr3 if reference == TR3_837P else reference for reference in self.rule.references]
        return self.rule.finding(encounter=self.encounter, line=self.line, message=self.rule.message.format(**fields),
                                 fix=self.rule.fix.format(**fields), references=references)


# ---- validation ------------------------------------------------------------------------------------------------------

def x12_findings(text: str) -> list[Finding]:
    """Every X12 syntax and TR3 error pyx12 finds in ``text``, as findings; an empty list for a valid file."""
    trace = _Trace()
    report = io.StringIO()
    try:
        with _quiet_pyx12():
            from pyx12 import params as pyx12_params
            from pyx12 import x12n_document

            valid = x12n_document.x12n_document(pyx12_params.ParamsBase(), io.StringIO(text), None, None, None,
                                                report, callback=trace)
        written = report.getvalue()
        if not written:  # pyx12 could not read the file as X12 at all (it logs why and returns)
            return [_not_validated(trace, None, unread=True).finding()]
        problems = list(_problems(json.loads(written), trace))
    except Exception as exc:  # pyx12 must never crash `check`: any failure is reported as one finding
        return [_not_validated(trace, exc).finding()]
    if not valid and not problems:
        problems.append(_not_validated(trace, None))
    problems.sort(key=lambda problem: (problem.number is None, problem.number or 0))
    return [problem.finding() for problem in problems]


def x12_findings_table(text: str, keep: Callable[[Finding], Severity | None]) -> pl.DataFrame:
    """The findings of :func:`x12_findings` as rows of a findings table (the engine's ``FINDING_SCHEMA``).

    ``keep`` says, per finding, whether its rule is enabled (None: drop it) and at what severity."""
    from cleanclaim.rules.engine import FINDING_SCHEMA

    rows = []
    for finding in x12_findings(text):
        severity = keep(finding)
        if severity is not None:
            rows.append(finding.model_copy(update={"severity": severity}).model_dump(mode="json"))
    return pl.DataFrame(rows, schema=FINDING_SCHEMA)


_MAPS: dict[str, Any] = {}
_SESSION = threading.Lock()


@contextmanager
def _quiet_pyx12() -> Iterator[None]:
    """pyx12 set up for one validation, one at a time.

    Its logger is silenced: pyx12 logs every error it finds at ERROR level, and with no handler configured Python
    would print them (and the values in them) on stderr; the findings say everything.

    Its maps are parsed once per process: ``x12n_document`` parses the control and 837P map XML on every call
    (about 0.35 s, more than validating a small file), although a map is not changed by a validation (the walk
    counts loops in its own counter). The cached loader is installed only while the lock is held."""
    import pyx12.map_if

    with _SESSION:
        logger = logging.getLogger("pyx12")
        level = logger.level
        load = pyx12.map_if.load_map_file

        def cached(map_file: str, param: Any, map_path: str | None = None) -> Any:
            if map_path is not None:
                return load(map_file, param, map_path)
            if map_file not in _MAPS:
                _MAPS[map_file] = load(map_file, param, map_path)
            return _MAPS[map_file]

        logger.setLevel(logging.CRITICAL + 1)
        pyx12.map_if.load_map_file = cached
        try:
            yield
        finally:
            pyx12.map_if.load_map_file = load
            logger.setLevel(level)


def _not_validated(trace: _Trace, exception: Exception | None, *, unread: bool = False) -> _Problem:
    version = trace.versions[-1] if trace.versions else ""
    if unread:
        return _Problem(
            X12NotValidated, where="segment 1 (ISA)",
            problem="pyx12 could not read the interchange header, so nothing in the file was validated; expected "
                    "an ISA segment of 16 elements and 106 characters",
            remedy=_NOT_VALIDATED_REMEDY, version=version)
    if exception is None:
        return _Problem(
            X12NotValidated, where="the file",
            problem="pyx12 found the file invalid but did not say where; its X12 syntax was not fully checked",
            remedy=_NOT_VALIDATED_REMEDY, version=version)
    where = f"segment {len(trace.nodes) + 1}"
    # pyx12's message is shown only for a missing map, where it names the envelope's version codes (not claim data)
    unmapped = _NO_MAP.search(str(exception))
    if unmapped:
        problem = (f"pyx12 has no implementation guide for GS08 {unmapped.group(1)!r}, so the transaction sets of "
                   "this group were not validated; expected 005010X222A1 (837P)")
    else:
        problem = (f"the X12 validation stopped here ({type(exception).__name__}); the rest of the file's X12 "
                   "syntax was not checked")
    return _Problem(X12NotValidated, where=where, problem=problem, remedy=_NOT_VALIDATED_REMEDY, version=version)


_NO_MAP = re.compile(r"Map not found\..*vriic=([0-9A-Z]{1,12})\b")
_NOT_VALIDATED_REMEDY = ("Check that the file is a 005010X222A1 837P interchange (ISA of 106 characters, GS08 "
                         "005010X222A1) and validate it with the clearinghouse's front-end editor before sending it")


def _problems(doc: dict[str, Any], trace: _Trace) -> Iterator[_Problem]:
    version = trace.versions[0] if trace.versions else ""
    for number, seg_id, error in trace.control_errors:
        yield _element_problem(trace, number, seg_id, error.map_node, error.err_cde, error.err_str, error.err_val,
                               version)
    for interchange in doc.get("interchanges", []):
        for error in interchange.get("errors", []):
            yield _envelope_problem(trace, "IEA", interchange.get("cur_line"), error, _TA105, "TA1 TA105", version)
        for group in interchange.get("groups", []):
            version = group.get("vriic") or version
            for error in group.get("errors", []):
                yield _envelope_problem(trace, "GE", group.get("cur_line"), error, _AK905, "999 AK905", version)
            for transaction in group.get("transactions", []):
                for error in transaction.get("errors", []):
                    yield _envelope_problem(trace, "SE", transaction.get("cur_line"), error, _IK502, "999 IK502",
                                            version)
                for segment in transaction.get("segments", []):
                    yield from _segment_problems(trace, segment, version)


def _place(trace: _Trace, number: int | None, seg_id: str | None) -> str:
    node, _, _ = trace.at(number)
    loop = _loop_of(node)
    detail = ", ".join(p for p in (seg_id, f"loop {loop}" if loop else None) if p)
    if number is None:
        return f"segment {seg_id}" if seg_id else "the file"
    return f"segment {number} ({detail})" if detail else f"segment {number}"


def _loop_of(node: Any) -> str | None:
    try:
        parent = node.get_parent() if node is not None else None
        while parent is not None and not parent.is_loop():
            parent = parent.get_parent()
        loop = parent.id if parent is not None else None
    except Exception:
        return None
    if not loop or loop in ("ISA_LOOP", "GS_LOOP", "ST_LOOP"):
        return None
    return str(loop) if loop not in ("HEADER", "DETAIL", "FOOTER") else str(loop).lower()


def _envelope_problem(trace: _Trace, trailer_id: str, number: int | None, error: dict[str, Any],
                      codes: dict[str, str], code_name: str, version: str) -> _Problem:
    code = str(error.get("err_cde", ""))
    trailer = trace.trailers.get(number) if number is not None else None
    seg_id = trailer.segment if trailer else {"IEA": "ISA", "GE": "GS", "SE": "ST"}[trailer_id]
    where = _place(trace, number, seg_id)
    ack = f"{code_name} code {code}: {codes.get(code, 'envelope error')}"
    problem, remedy = _envelope_texts(trailer_id, code, trailer)
    return _Problem(X12Envelope, where=where, problem=problem, remedy=remedy, ack=ack, version=version,
                    number=number)


def _envelope_texts(trailer_id: str, code: str, trailer: _Trailer | None) -> tuple[str, str]:
    opener = {"IEA": "ISA", "GE": "GS", "SE": "ST"}[trailer_id]
    control = {"IEA": ("IEA02", "ISA13"), "GE": ("GE02", "GS06"), "SE": ("SE02", "ST02")}[trailer_id]
    count = {"IEA": ("IEA01", "functional group(s)", "GS"), "GE": ("GE01", "transaction set(s)", "ST"),
             "SE": ("SE01", "segment(s)", "segment from ST through SE")}[trailer_id]
    mismatch = {("IEA", "001"), ("GE", "4"), ("SE", "3")}
    miscount = {("IEA", "021"), ("GE", "5"), ("SE", "4")}
    missing = {("IEA", "023"), ("GE", "3"), ("SE", "2")}
    repeated = {("IEA", "025"), ("GE", "6"), ("SE", "23")}
    if (trailer_id, code) in mismatch and trailer is not None:
        return (f"{control[0]} is {trailer.says_control!r} but the {opener} it closes has {control[1]} "
                f"{trailer.opened_control!r}; expected them equal",
                f"Set {control[0]} to {trailer.opened_control!r}, the {control[1]} of its {opener}")
    if (trailer_id, code) in miscount and trailer is not None:
        return (f"{count[0]} says {trailer.says_count} {count[1]} but there are {trailer.counted}; expected "
                f"{trailer.counted}",
                f"Set {count[0]} to {trailer.counted} (one per {count[2]})")
    if (trailer_id, code) in missing:
        return (f"the {opener} has no {trailer_id} trailer before the file ends or the next envelope starts; "
                f"expected the {trailer_id} segment closing it",
                f"Add the {trailer_id} segment that closes this {opener} (or send the file whole: it may be cut short)")
    if (trailer_id, code) in repeated:
        return (f"{control[1]} repeats the control number of an earlier {opener} of the file; expected a unique one",
                f"Give each {opener} its own {control[1]} (and the same number in its {control[0]})")
    return ("the envelope is not closed as it was opened (a loop left unterminated); expected each GS closed by a GE "
            "and each ST by an SE before the next envelope",
            "Close every ST with an SE, every GS with a GE and the ISA with an IEA, in that order")


def _segment_problems(trace: _Trace, segment: dict[str, Any], version: str) -> Iterator[_Problem]:
    number = segment.get("cur_line")
    seg_id = str(segment.get("seg_id") or "?")
    for error in segment.get("errors", []):
        code = str(error.get("err_cde", ""))
        text = str(error.get("err_str") or "")
        # a missing segment is noticed at the segment after it: the claim it belongs to is that of the one before
        missing = code in ("3", "I6", "I7", "I8")
        context = number - 1 if missing and isinstance(number, int) else number
        _, claim, line = trace.at(context)
        if missing and isinstance(context, int) and context >= 1:
            where = f"after {_place(trace, context, _seg_id_at(trace, context))}"
        else:
            where = _place(trace, number, seg_id)
        problem, remedy = _segment_texts(code, seg_id, str(segment.get("name") or ""), text, error.get("err_val"))
        if code in _IK304:
            ack = f"999 IK304 code {code}: {_IK304[code]}"
        elif code == "SEG1":
            ack = f"999 IK304 code 8: {_IK304['8']}"
        else:
            ack = f"pyx12 check {code}; the 999 has no code of its own for it"
        yield _Problem(X12Segment, where=where, problem=problem, remedy=remedy, ack=ack, encounter=claim,
                       line=line, version=version, number=context if isinstance(context, int) else None)
    for element in segment.get("elements", []):
        node, _, _ = trace.at(number)
        for error in element.get("errors", []):
            yield _element_problem(trace, number, seg_id, _element_node(node, element), error.get("err_cde"),
                                   error.get("err_str"), error.get("err_val"), version,
                                   position=(element.get("ele_pos"), element.get("subele_pos")),
                                   name=element.get("name"))


def _seg_id_at(trace: _Trace, number: int | None) -> str | None:
    node, _, _ = trace.at(number)
    return str(node.id) if node is not None and getattr(node, "id", None) else None


def _segment_texts(code: str, seg_id: str, name: str, text: str, value: Any) -> tuple[str, str]:
    safe = text if _SAFE_SEGMENT_TEXT.match(text) and not (value and str(value) in text) else ""
    described = f"{seg_id} ({name})" if name and name != "Unknown" else seg_id
    if code in ("3", "I6", "I7", "I8"):
        problem = safe or f"required segment {described} is missing"
        return (f"{problem}; expected it here by the TR3",
                f"Add the required {seg_id} segment where the TR3's loop puts it")
    if code in ("1", "2", "6", "7", "I4", "I9"):
        return (f"{safe or 'the TR3 does not allow this segment here'}; "
                "expected a segment of the loop the TR3 defines at this point",
                f"Move the {seg_id} segment into the loop where the TR3 places it, or remove it")
    if code in ("4", "5"):
        return (f"{safe or _IK304[code]}; expected no more occurrences than the TR3's maximum use",
                "Remove the extra occurrences, or move them into a new repeat of the parent loop (a loop 2300 "
                "takes at most 100 claims per subscriber or patient HL; start another HL for more)")
    if code == "8":
        return (f"{safe or 'the segment breaks an X12 syntax rule'}; expected the elements the segment's syntax "
                "rules allow", "Fill or empty the elements as the segment's syntax rule requires")
    if code == "LX":
        count = _LX_COUNT.search(text)
        expected = f"LX01 {count.group(1)}" if count else "the next number"
        return (f"{_PYX12_SEGMENT['LX']}; expected {expected}",
                f"Number the claim's service lines from 1 in LX01 (this one: {expected})")
    if code == "SEG1":
        return (f"{_PYX12_SEGMENT[code]}; expected no separator before the segment terminator",
                "Remove the trailing element separators")
    hl_count, hl_parent = _HL_COUNT.match(text), _HL_PARENT.match(text)
    if code == "HL1" and hl_count:
        return (f"HL01 is {hl_count.group(2)}; expected {hl_count.group(1)} (HL segments are numbered 1, 2, 3, … "
                "in order)", f"Set HL01 to {hl_count.group(1)} and renumber the HL segments after it")
    if code == "HL2" and hl_parent:
        return (f"HL02 names parent {hl_parent.group(1)}, which is not an earlier HL of this transaction set; "
                "expected the HL01 of the parent (2000A for a subscriber, 2000B for a patient)",
                "Point HL02 at the HL01 of the billing provider (2000A) or subscriber (2000B) HL above it")
    if code in _PYX12_SEGMENT:
        return (f"{_PYX12_SEGMENT[code]}; expected a consistent HL hierarchy",
                "Number HL01 1, 2, 3, … in order and point HL02 at the parent HL (2000A for a subscriber)")
    return (safe or "the segment is not valid here; expected a segment the TR3 allows",
            f"Correct the {seg_id} segment as the TR3 defines it")


def _element_node(segment_node: Any, element: dict[str, Any]) -> Any:
    try:
        node = segment_node.get_child_node_by_ordinal(int(element["ele_pos"]))
        if element.get("subele_pos") and node is not None and node.is_composite():
            node = node.get_child_node_by_ordinal(int(element["subele_pos"]))
        return node
    except Exception:
        return None


def _element_problem(trace: _Trace, number: int | None, seg_id: str, node: Any, code: Any, text: Any,
                     value: Any, version: str, *, position: tuple[Any, Any] | None = None,
                     name: Any = None) -> _Problem:
    code = str(code or "")
    text = str(text or "")
    ref = _element_ref(seg_id, node, position)
    label = str(name or getattr(node, "name", "") or "")
    element = f"{ref} ({label})" if label else ref
    where = f"{_place(trace, number, seg_id)}, element {element}"
    _, claim, line = trace.at(number)
    problem, remedy = _element_texts(code, ref, node, text, value)
    ack_code = f"999 IK403 code {code}: {_IK403[code]}" if code in _IK403 else f"element error {code}"
    if seg_id == "ISA":
        ack_code += "; a clearinghouse rejects the interchange with a TA1"
    return _Problem(X12Element, where=where, problem=problem, remedy=remedy, ack=ack_code, encounter=claim, line=line,
                    version=version, number=number)


def _element_ref(seg_id: str, node: Any, position: tuple[Any, Any] | None) -> str:
    ele, sub = position if position else (None, None)
    if ele is None and node is not None:
        try:
            parent = node.get_parent()
            if parent is not None and parent.is_composite():
                ele, sub = parent.seq, node.seq
            else:
                ele = node.seq
        except Exception:
            ele = None
    if ele is None:
        return seg_id
    return f"{seg_id}{int(ele):02d}" + (f"-{int(sub)}" if sub else "")


def _element_texts(code: str, ref: str, node: Any, text: str, value: Any) -> tuple[str, str]:
    minimum, maximum, data_type, codes = _element_spec(node)
    length = len(str(value)) if value is not None else None
    if code == "1":
        return (f"{ref} is required here and is empty; expected a value", f"Fill {ref}: the TR3 requires it here")
    if code in ("2", "I9"):
        return (f"{ref} is required in this situation and is empty; expected a value",
                f"Fill {ref}, as the TR3's situational rule for it requires")
    if code in ("4", "5"):
        has = f" ({length} characters)" if length is not None else ""
        if code == "4":
            return (f"{ref} is too short{has}; expected {minimum}–{maximum} characters",
                    f"Lengthen {ref} to at least {minimum} characters")
        return (f"{ref} is too long{has}; expected {minimum}–{maximum} characters",
                f"Shorten {ref} to at most {maximum} characters")
    if code in ("7", "I6"):
        allowed = f"one of {', '.join(codes)}" if codes and len(codes) <= 15 else "a code the TR3 lists for it here"
        return (f"{ref} holds a code the TR3 does not allow here; expected {allowed}",
                f"Use {allowed} in {ref}")
    if code == "8":
        form = "YYMMDD" if maximum == 6 else "CCYYMMDD"
        return (f"{ref} is not a valid calendar date; expected a date as {form}",
                f"Write {ref} as a real date in the form {form}")
    if code == "9":
        return (f"{ref} is not a valid time; expected HHMM (24-hour clock, seconds optional)",
                f"Write {ref} as HHMM")
    if code == "6":
        if "trailing spaces" in text:
            return (f"{ref} ends with spaces; expected no trailing spaces", f"Remove the trailing spaces of {ref}")
        if data_type in ("N0", "N1", "N2", "R"):
            expected = "a decimal number" if data_type == "R" else "a whole number (digits only)"
            return (f"{ref} is not of the element's type {data_type}; expected {expected}",
                    f"Write {ref} as {expected}")
        return (f"{ref} contains a character outside the X12 character set; expected letters, digits and "
                "the X12 special characters only", f"Remove control and non-X12 characters from {ref}")
    if code in ("10", "I10", "I13"):
        return (f"{ref} is present but the TR3 marks it Not Used here; expected it empty",
                f"Leave {ref} empty")
    if code == "I12":
        return (f"{ref} does not match the pattern the TR3 requires; expected the TR3's format for it",
                f"Rewrite {ref} in the format the TR3 gives for it")
    if code in ("3", "12", "13", "I11"):
        return (f"{ref}: {_IK403[code]}; expected no more than the TR3 allows",
                f"Remove the extra parts of {ref}")
    return (f"{ref} is not valid here; expected a value the TR3 allows", f"Correct {ref} as the TR3 defines it")


def _element_spec(node: Any) -> tuple[int | None, int | None, str | None, list[str]]:
    try:
        return int(node.min_len), int(node.max_len), node.data_type, [str(c) for c in node.valid_codes]
    except Exception:
        return None, None, None, []
