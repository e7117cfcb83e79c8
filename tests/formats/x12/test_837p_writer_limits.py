"""The 837P writer keeps within the TR3's loop repeats (issue 11): loop 2300 at most 100 times per 2000B/2000C HL,
loop 2400 at most 50 times per claim, 12 diagnoses in HI; and ``write_837p_file`` writes whole or not at all."""

from __future__ import annotations

import errno
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cleanclaim.errors import InputError
from cleanclaim.formats import files as files_module
from cleanclaim.formats.x12_837p import (
    MAX_CLAIMS_PER_HL,
    MAX_LINES,
    ClaimFileError,
    read_837p,
    write_837p,
    write_837p_file,
)
from cleanclaim.formats.x12_validation import x12_findings
from cleanclaim.model import Encounter

from .conftest import WRITER_OPTIONS, encounter, pyx12_errors

DEPENDENT = {
    "patient": {"id": "P2", "birth_date": "2014-08-15", "sex": "F", "first_name": "Lily", "last_name": "Sample",
                "address": {"line1": "22 Oak Ave", "city": "Springfield", "state": "IL", "zip": "62704"}},
    "subscriber": {"member_id": "XQH900112233", "first_name": "Robert", "last_name": "Sample",
                   "relationship": "child"},
    "payer": "commercial", "payer_id": "87726",
}


def visits(count: int, **overrides: Any) -> list[Encounter]:
    """``count`` one-line claims of one patient, each with its own claim id, date and charge."""
    return [encounter(id=f"E{n}", claim_id=f"CLM-{n:04d}", date=f"2026-{1 + n // 28 % 12:02d}-{1 + n % 28:02d}",
                      lines=[{"code": "97110", "modifiers": ["GP"], "units": 1, "dx_pointers": [1],
                              "charge": 40 + n}], **overrides)
            for n in range(1, count + 1)]


def hierarchy(text: str) -> list[tuple[str, int]]:
    """Each HL as (level code, claims directly under it), in file order."""
    levels: list[tuple[str, int]] = []
    for segment in text.replace("\n", "").split("~"):
        elements = segment.split("*")
        if elements[0] == "HL":
            levels.append((elements[3], 0))
        elif elements[0] == "CLM":
            code, claims = levels[-1]
            levels[-1] = (code, claims + 1)
    return levels


def test_the_limits_are_those_of_the_tr3() -> None:
    # 005010X222A1: 2300 "Claim Information" repeat 100; 2400 "Service Line Number" repeat 50 (pyx12's map too)
    assert (MAX_CLAIMS_PER_HL, MAX_LINES) == (100, 50)


def test_250_claims_of_one_patient_are_split_into_hls_of_100_and_read_back_claim_for_claim() -> None:
    claims = visits(250)
    text = write_837p(claims, **WRITER_OPTIONS)

    assert hierarchy(text) == [("20", 0), ("22", 100), ("22", 100), ("22", 50)]
    assert pyx12_errors(text, acknowledgement=False) == []
    assert [f for f in x12_findings(text) if f.severity == "error"] == []  # what `check` would say of the file
    read = read_837p(text)
    assert read.errors == []
    assert [(e.claim_id, e.date, e.patient.id, e.subscriber.member_id if e.subscriber else None, e.lines[0].charge)
            for e in read.encounters] == [
        (e.claim_id, e.date, e.patient.id, e.subscriber.member_id if e.subscriber else None, e.lines[0].charge)
        for e in claims]
    # each new 2000B repeats the subscriber, patient and payer loops: every claim is billed to the same person
    assert Counter(s for s in text.replace("\n", "").split("~") if s.startswith("NM1*IL*")) == {
        "NM1*IL*1*Example*Ann****MI*1EG4TE5MK73": 3}


@pytest.mark.parametrize(("count", "levels"), [
    (MAX_CLAIMS_PER_HL, [("20", 0), ("22", 100)]),
    (MAX_CLAIMS_PER_HL + 1, [("20", 0), ("22", 100), ("22", 1)]),
])
def test_a_new_subscriber_level_starts_after_the_hundredth_claim_not_before(
        count: int, levels: list[tuple[str, int]]) -> None:
    assert hierarchy(write_837p(visits(count), **WRITER_OPTIONS)) == levels


def test_a_dependents_claims_past_100_go_in_a_second_patient_level_under_the_same_subscriber() -> None:
    claims = visits(MAX_CLAIMS_PER_HL + 1, **DEPENDENT)
    text = write_837p(claims, **WRITER_OPTIONS)

    assert hierarchy(text) == [("20", 0), ("22", 0), ("23", 100), ("23", 1)]
    hl = [s.split("*") for s in text.replace("\n", "").split("~") if s.startswith("HL*")]
    assert [row[2] for row in hl[2:]] == [hl[1][1], hl[1][1]]  # both 2000C under the one 2000B
    assert pyx12_errors(text, acknowledgement=False) == []
    read = read_837p(text)
    assert read.errors == []
    assert [(e.claim_id, e.patient.id, e.subscriber.relationship if e.subscriber else None)
            for e in read.encounters] == [(e.claim_id, "P2", "child") for e in claims]


def test_claims_of_other_patients_keep_their_own_levels_beside_a_split_one() -> None:
    claims = [*visits(MAX_CLAIMS_PER_HL + 1), encounter(id="OTHER", claim_id="CLM-OTHER", **DEPENDENT)]
    text = write_837p(claims, **WRITER_OPTIONS)
    assert hierarchy(text) == [("20", 0), ("22", 100), ("22", 1), ("22", 0), ("23", 1)]
    assert [e.claim_id for e in read_837p(text).encounters] == [e.claim_id for e in claims]


def _lines(count: int) -> list[dict[str, Any]]:
    return [{"code": "97110", "modifiers": ["GP"], "units": 1, "dx_pointers": [1], "charge": 40,
             "date": f"2026-03-{1 + n % 28:02d}"} for n in range(count)]


def test_a_claim_of_50_lines_is_written_and_valid() -> None:
    text = write_837p([encounter(lines=_lines(MAX_LINES))], **WRITER_OPTIONS)
    assert pyx12_errors(text, acknowledgement=False) == []
    (read,) = read_837p(text).encounters
    assert len(read.lines) == MAX_LINES


def test_a_claim_of_51_lines_is_refused_naming_it_and_the_others_are_checked_too() -> None:
    with pytest.raises(ClaimFileError) as raised:
        write_837p([encounter(lines=_lines(MAX_LINES + 1)), encounter(id="E2", claim_id="CLM-0002")],
                   **WRITER_OPTIONS)
    assert list(raised.value.problems) == ["E1"]
    (problem,) = raised.value.problems["E1"]
    assert problem.startswith("lines: an 837P claim carries at most 50 service lines (loop 2400), got 51")


def test_thirteen_diagnoses_are_refused() -> None:
    codes = ["M62.81", "Z91.81", "R26.2", "M54.50", "M25.561", "M25.562", "R53.1", "M62.50", "R29.6", "Z74.09",
             "M79.604", "M79.605"]
    text = write_837p([encounter(diagnoses=codes)], **WRITER_OPTIONS)
    assert pyx12_errors(text, acknowledgement=False) == []
    with pytest.raises(ClaimFileError) as raised:
        write_837p([encounter(diagnoses=[*codes, "M79.606"])], **WRITER_OPTIONS)
    assert raised.value.problems["E1"] == ["diagnoses: an 837P claim carries at most 12, got 13"]


def _problems(**overrides: Any) -> list[str]:
    with pytest.raises(ClaimFileError) as raised:
        write_837p([encounter(**overrides)], **WRITER_OPTIONS)
    return raised.value.problems["E1"]


def test_three_payer_secondary_ids_are_written_and_a_fourth_is_refused() -> None:
    # 2010BB REF "Payer Secondary Identification": qualifiers 2U, EI, FY, NF, maximum use 3
    three = {"2010BB": {"2U": "A1", "EI": "B2", "FY": "C3", "G2": "D4"}, "2300": {"EA": "P1"}}
    text = write_837p([encounter(references=three)], **WRITER_OPTIONS)
    assert pyx12_errors(text, acknowledgement=False) == []
    four = {"2010BB": {"2U": "A1", "EI": "B2", "FY": "C3", "NF": "D4"}, "2300": {"EA": "P1"}}
    assert _problems(references=four) == [
        "references 2010BB: at most 3 payer secondary ids (2U, EI, FY, NF), got 4"]


def test_a_ref_qualifier_the_loop_has_no_place_for_is_refused_not_written() -> None:
    # written, pyx12 reports "Segment REF*ZZ not found" at the claim: the receiver's 999 would reject the file
    assert _problems(references={"2300": {"ZZ": "X1"}}) == [
        "references 2300 REF*ZZ: the 837P allows only 4N, F5, EW, 9F, G1, F8, X4, 9A, 9C, LX, D9, EA, P4, 1J in "
        "loop 2300"]
    assert _problems(references={"2420A": {"G2": "X1"}}) == [
        "references 2420A: the writer writes REF segments in loops 2010BB, 2300, 2310A, 2310B, 2400 only"]
    lines = [{"code": "97110", "units": 1, "dx_pointers": [1], "charge": 40, "references": {"6R": "L1", "EA": "X"}}]
    assert _problems(lines=lines) == [
        "lines[1].references REF*EA: the 837P allows only 9B, 9D, G1, 6R, EW, X4, F4, BT, 9F in loop 2400"]


def test_referring_provider_refs_without_a_referring_provider_are_refused_not_dropped() -> None:
    assert _problems(references={"2310A": {"G2": "R1"}}) == [
        "references 2310A: there is no referring_provider (NM1*DN) for them to follow"]
    text = write_837p([encounter(references={"2310A": {"G2": "R1"}},
                                 referring_provider={"last_name": "Referrer", "npi": "1245319599"})],
                      **WRITER_OPTIONS)
    assert pyx12_errors(text, acknowledgement=False) == []
    assert "NM1*DN*1*Referrer*****XX*1245319599~\nREF*G2*R1~" in text


# ---------------------------------------------------------------------------------------- whole or nothing


def test_a_failing_write_leaves_no_partial_file_and_the_old_file_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "claims.837"
    target.write_bytes(b"yesterday's file")
    real_write = os.write

    def half_then_full(descriptor: int, data: Any) -> int:
        """Writes half of the first chunk into the folder, then the disk is full."""
        if not os.readlink(f"/proc/self/fd/{descriptor}").startswith(str(tmp_path)):
            return real_write(descriptor, data)
        if not calls:
            calls.append(1)
            return real_write(descriptor, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    calls: list[int] = []
    monkeypatch.setattr(files_module.os, "write", half_then_full)
    with pytest.raises(InputError) as raised:
        write_837p_file(target, visits(3), **WRITER_OPTIONS)

    assert calls == [1]  # the write did start: the half-written file existed and was removed
    assert raised.value.file == str(target)
    assert "No space left on device" in str(raised.value)
    assert target.read_bytes() == b"yesterday's file"
    assert [p.name for p in tmp_path.iterdir()] == ["claims.837"]


def test_a_missing_folder_is_an_input_error_naming_the_path(tmp_path: Path) -> None:
    target = tmp_path / "no-such-folder" / "claims.837"
    with pytest.raises(InputError) as raised:
        write_837p_file(target, visits(1), **WRITER_OPTIONS)
    assert raised.value.file == str(target)
    assert not target.parent.exists()


def test_a_written_file_is_exactly_the_text_and_replaces_the_old_one(tmp_path: Path) -> None:
    target = tmp_path / "claims.837"
    target.write_bytes(b"old")
    claims = visits(2)
    assert write_837p_file(target, claims, **WRITER_OPTIONS) == target
    assert target.read_bytes() == write_837p(claims, **WRITER_OPTIONS).encode("ascii")
    assert [p.name for p in tmp_path.iterdir()] == ["claims.837"]
