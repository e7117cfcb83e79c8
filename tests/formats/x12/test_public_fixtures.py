"""Our X12 readers on files other projects wrote (issue 11): every claim of a valid file is read, none is lost.

The expected claims come from an independent segment split on the ISA delimiters written here (no code shared
with cleanclaim.formats.x12), so a reader that drops or invents a claim cannot agree with it by construction.
Which files are valid, and why, is argued in fixtures/public/README.md (pyx12 as the referee); the README and
the sets below are kept equal by a test.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cleanclaim.cli import app
from cleanclaim.errors import InputError
from cleanclaim.formats.x12_835 import read_835
from cleanclaim.formats.x12_837p import read_837p

PUBLIC = Path(__file__).parent / "fixtures" / "public"
FILES_837P = sorted((PUBLIC / "837p").glob("*.837"))
FILES_835 = sorted((PUBLIC / "835").glob("*.835"))

# Every claim intact: pyx12 finds no error, or only errors that leave the claims whole (see the README).
VALID_837P = {
    "lfh__demo.837", "lfh__demo.ambulance.example5.837", "lfh__demo.autoaccident.837",
    "lfh__demo.cob.example3.A.837", "lfh__demo.cob.example3.B.837", "lfh__demo.cob.example3.C.837",
    "lfh__demo.cob.example4.837", "lfh__demo.drug.example10.1.837", "lfh__demo.drug.example10.2.837",
    "lfh__demo.drug.example10.3.837", "lfh__demo.example1.837", "lfh__demo.example2.837",
    "lfh__demo.example7.837", "lfh__demo.example8.837",
}
VALID_835 = {
    "edi835p__emedny_sample.835", "edi835p__united_healthcare_legacy_sample.835", "lfh__demo.835",
    "lfh__managed-care.835", "mjkubba__edi835-demo-005010X221.835", "pyx12__835_mult_loops.835",
}


# ------------------------------------------------------------------------------------- independent segment split


@dataclass
class Claim:
    """A CLM (837P) or CLP (835) as the file has it: its id, segment number, lines and enclosing transaction."""

    id: str
    segment: int
    transaction: tuple[int, int]
    lines: int = 0


@dataclass
class Split:
    claims: list[Claim] = field(default_factory=list)
    transactions: list[tuple[int, int]] = field(default_factory=list)


def _segments(text: str) -> list[list[str]]:
    """Segments as element lists, numbered from 1 by position; the delimiters come from the ISA itself.

    The element separator is the character after "ISA"; the component separator and the segment terminator are
    the two characters after the sixteenth element separator (read by counting, so a short ISA02 still splits).
    A file without ISA is split on the common "*" and "~".
    """
    start = text.find("ISA")
    element, terminator = "*", "~"
    if start >= 0 and len(text) > start + 3:
        position = start + 3
        for _ in range(16):  # an ISA cut short (a fuzzed mutant) keeps the common delimiters
            position = text.find(text[start + 3], position) + 1
            if position == 0:
                break
        else:
            if len(text) > position + 1:
                element, terminator = text[start + 3], text[position + 1]
    return [raw.strip("\r\n\t ").split(element) for raw in text.split(terminator) if raw.strip("\r\n\t ")]


def split(path: Path, claim_id: str, line_id: str) -> Split:
    """Claims (``claim_id`` segments) with their ``line_id`` segments, and every ST..SE span, by segment number."""
    result = Split()
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    segments = _segments(text)
    st = 1
    ends: dict[int, int] = {}
    current: Claim | None = None
    for number, elements in enumerate(segments, start=1):
        tag = elements[0]
        if tag == "ST":
            st, current = number, None
        elif tag == "SE":
            ends[st] = number
            current = None
        elif tag == claim_id:
            current = Claim(elements[1] if len(elements) > 1 else "", number, (st, 0))
            result.claims.append(current)
        elif tag == line_id and current is not None:
            current.lines += 1
        elif tag == "HL":
            current = None
    for claim in result.claims:
        claim.transaction = (claim.transaction[0], ends.get(claim.transaction[0], len(segments)))
    result.transactions = list(ends.items())
    return result


# ------------------------------------------------------------------------------------------------------ checks


def _names_a_place(error: InputError) -> None:
    assert error.file, f"error without a file: {error}"
    assert error.segment or error.line is not None, f"error without a place: {error}"


def _segment_number(error: InputError) -> int | None:
    number = getattr(error, "segment_number", None)
    return number if isinstance(number, int) else None


def _unread_are_reported(expected: list[Claim], read_ids: list[str], errors: list[InputError],
                         transactions: list[tuple[int, int]]) -> None:
    """Claims read keep the file's order; each claim not read has an error inside its transaction, or one outside
    every transaction (the envelope or the whole file), so no claim disappears without a word."""
    remaining = iter(expected)
    unread: list[Claim] = []
    for claim_id in read_ids:
        for claim in remaining:
            if claim.id == claim_id:
                break
            unread.append(claim)
        else:
            pytest.fail(f"claim {claim_id!r} was read but is not in the file (or is out of order)")
    unread += list(remaining)
    numbers = [_segment_number(error) for error in errors]
    envelope_level = any(n is None or not any(a <= n <= b for a, b in transactions) for n in numbers)
    for claim in unread:
        first, last = claim.transaction
        inside = any(n is not None and first <= n <= last for n in numbers)
        assert inside or envelope_level, (
            f"claim {claim.id!r} (segment {claim.segment}) was neither read nor reported; errors: "
            f"{[str(e) for e in errors]}")


def _check_valid(name: str, expected: Split, read_ids: list[str], read_lines: list[int],
                 errors: list[InputError]) -> None:
    for error in errors:
        _names_a_place(error)
    assert read_ids == [claim.id for claim in expected.claims], (
        f"{name}: claims read differ from the file's; errors: {[str(e) for e in errors]}")
    assert read_lines == [claim.lines for claim in expected.claims], f"{name}: service lines read differ"


# ------------------------------------------------------------------------------------------------------- tests


def test_the_fixture_sets_are_the_ones_the_readme_argues() -> None:
    readme = (PUBLIC / "README.md").read_text(encoding="utf-8")
    listed = dict(re.findall(r"^\| `([^`]+)` \|[^\n]*?\| (valid|broken)[:|]", readme, flags=re.MULTILINE))
    on_disk = {path.name for path in FILES_837P + FILES_835}
    assert set(listed) == on_disk
    assert {name for name, status in listed.items() if status == "valid"} == VALID_837P | VALID_835
    assert len(FILES_837P) >= 30 and len(FILES_835) >= 5


def test_the_independent_split_counts_what_a_hand_count_gives() -> None:
    # Counted by eye in the files (grep "~CLM\*", "~SV1\*"): CLM 26407789 with three SV1 lines; 3 CLP and 10 SVC.
    cob = split(PUBLIC / "837p" / "lfh__demo.cob.example3.A.837", "CLM", "SV1")
    assert [(c.id, c.lines) for c in cob.claims] == [("26407789", 3)]
    emedny = split(PUBLIC / "835" / "edi835p__emedny_sample.835", "CLP", "SVC")
    assert len(emedny.claims) == 3 and sum(c.lines for c in emedny.claims) == 10
    # A file whose ISA uses other delimiters (element "~", segment "_") splits the same as its twin.
    twin = split(PUBLIC / "837p" / "imsweb__x12_valid.837", "CLM", "SV1")
    other = split(PUBLIC / "837p" / "imsweb__x12_valid_different_separators.837", "CLM", "SV1")
    assert [(c.id, c.lines) for c in other.claims] == [(c.id, c.lines) for c in twin.claims]
    assert [c.id for c in twin.claims] == ["A37YH556", "A37YH667"]


@pytest.mark.parametrize("path", FILES_837P, ids=lambda p: p.name)
def test_837p_public_file(path: Path) -> None:
    expected = split(path, "CLM", "SV1")
    result = read_837p(path)
    read_ids = [encounter.claim_id or "" for encounter in result.encounters]
    for error in result.errors:
        _names_a_place(error)
    if path.name in VALID_837P:
        _check_valid(path.name, expected, read_ids, [len(e.lines) for e in result.encounters], result.errors)
    else:
        _unread_are_reported(expected.claims, read_ids, result.errors, expected.transactions)


@pytest.mark.parametrize("path", FILES_835, ids=lambda p: p.name)
def test_835_public_file(path: Path) -> None:
    expected = split(path, "CLP", "SVC")
    result = read_835(path)
    read_ids = [claim.patient_control_number for claim in result.claims]
    for error in result.errors:
        _names_a_place(error)
    if path.name in VALID_835:
        _check_valid(path.name, expected, read_ids, [len(c.lines) for c in result.claims], result.errors)
    else:
        _unread_are_reported(expected.claims, read_ids, result.errors, expected.transactions)


@pytest.mark.parametrize("name", sorted(VALID_837P))
def test_check_reads_every_claim_of_a_valid_837p(name: str) -> None:
    """`check` is what a biller runs: a claim it does not read is one it silently calls clean."""
    path = PUBLIC / "837p" / name
    expected = split(path, "CLM", "SV1")
    result = CliRunner().invoke(app, ["check", str(path), "--json"], env={"COLUMNS": "200"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (0, 1), result.output
    summary = json.loads(result.stdout)["summary"]
    assert (summary["encounters"], summary["lines"]) == (
        len(expected.claims), sum(claim.lines for claim in expected.claims))


@pytest.mark.parametrize("name", sorted(VALID_835))
def test_denials_counts_every_claim_of_a_valid_835(name: str) -> None:
    """`denials` is what a biller runs on an 835: its claim count and totals come from every CLP in the file."""
    path = PUBLIC / "835" / name
    expected = split(path, "CLP", "SVC")
    result = CliRunner().invoke(app, ["denials", str(path), "--json"], env={"COLUMNS": "200"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    worklist = json.loads(result.stdout)
    assert worklist["summary"]["claims"] == len(expected.claims), worklist.get("errors")
