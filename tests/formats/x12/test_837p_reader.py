"""The 837P reader: hand-written files with any separators, several GS/ST, damaged parts, and the round trip."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cleanclaim.errors import InputError
from cleanclaim.formats.x12 import Delimiters, X12SegmentError
from cleanclaim.formats.x12_837p import read_837p, write_837p
from cleanclaim.model import Discipline, Encounter

from .conftest import FIXTURES, WRITER_OPTIONS, encounter, multi_claim_encounters, pyx12_errors

HARBOR = FIXTURES / "harbor_pt_claims.837"
LAKESIDE = FIXTURES / "lakeside_coaching_pipe.837"


def segment_number(text: str, terminator: str, startswith: str) -> int:
    """1-based position of the first segment starting with ``startswith``, counted independently of the reader."""
    segments = [s.strip() for s in text.split(terminator) if s.strip()]
    return next(i for i, s in enumerate(segments, start=1) if s.startswith(startswith))


@pytest.mark.parametrize("fixture", [HARBOR, LAKESIDE])
def test_hand_written_fixtures_are_valid_x12(fixture: Path) -> None:
    assert pyx12_errors(fixture.read_text()) == []


def test_reads_every_claim_of_both_transactions() -> None:
    result = read_837p(HARBOR)
    assert result.errors == []
    by_id = {e.id: e for e in result.encounters}
    assert list(by_id) == ["CLM-1001", "CLM-1002", "CLM-1003", "CLM-1004"]

    first = by_id["CLM-1001"]
    assert first.claim_id == "CLM-1001"
    assert first.payer == "medicare"
    assert first.payer_id == "12345"
    assert first.place_of_service == "11"
    assert first.date == dt.date(2026, 3, 2)
    assert first.diagnoses == ["M62.81", "Z91.81", "R26.2"]
    assert first.total_charge == Decimal(255)
    assert first.patient.id == "PT-0001"
    assert (first.patient.last_name, first.patient.birth_date, first.patient.sex) == (
        "Example", dt.date(1950, 1, 1), "F")
    assert first.subscriber is not None
    assert (first.subscriber.member_id, first.subscriber.relationship) == ("1EG4TE5MK73", "self")
    assert first.billing_provider is not None
    assert (first.billing_provider.npi, first.billing_provider.tax_id) == ("1234567893", "123456789")
    assert first.billing_provider.address.line2 == "Suite 200"
    assert (first.provider.npi, first.provider.last_name, first.provider.discipline) == (
        "1987654328", "Rivera", Discipline.PT)
    assert [(line.code, line.modifiers, line.units, line.charge, line.dx_pointers) for line in first.lines] == [
        ("97161", ["GP"], Decimal(1), Decimal(120), [1, 3]),
        ("97110", ["GP"], Decimal(2), Decimal(90), [1, 2]),
        ("97530", ["GP", "59"], Decimal(1), Decimal(45), [3]),
    ]

    dependent = by_id["CLM-1003"]
    assert dependent.payer == "commercial"
    assert dependent.subscriber is not None
    assert (dependent.subscriber.relationship, dependent.subscriber.last_name) == ("child", "Sample")
    assert (dependent.patient.first_name, dependent.patient.birth_date) == ("Lily", dt.date(2014, 8, 15))
    assert dependent.diagnoses == ["S93.401A"]
    assert dependent.lines[0].units == Decimal("1.5")
    # no 2310B: the billing provider rendered the service
    assert dependent.provider.npi == "1234567893"

    coaching = by_id["CLM-1004"]
    assert coaching.place_of_service == "02"
    assert coaching.provider.discipline == Discipline.OTHER  # 2310B without PRV says nothing of the discipline
    assert coaching.lines[0].modifiers == ["95"]


def test_reads_pipe_separators_without_line_breaks_in_two_groups() -> None:
    text = LAKESIDE.read_text()
    assert "\n" not in text.strip()
    result = read_837p(text)
    assert result.errors == []
    assert [e.id for e in result.encounters] == ["CC-2001", "CC-2002"]
    first, second = result.encounters
    assert first.diagnoses == ["E11.9", "E66.01", "Z68.41"]
    assert [(line.code, line.units, line.dx_pointers) for line in first.lines] == [
        ("96158", Decimal(1), [1, 2, 3]), ("96159", Decimal(2), [1, 2])]
    assert first.provider.discipline == Discipline.NP  # billing taxonomy 363L...
    assert first.patient.address is not None
    assert first.patient.address.line2 == "Apt 3"
    assert [line.date for line in second.lines] == [dt.date(2026, 3, 25), dt.date(2026, 3, 26)]
    assert second.date == dt.date(2026, 3, 25)
    assert second.provider.npi == "1345678902"


def test_bad_amount_names_segment_loop_and_element_and_other_claims_are_read() -> None:
    text = HARBOR.read_text().replace("SV1*HC:97110:GP*90*UN*2***1:2~", "SV1*HC:97110:GP*abc*UN*2***1:2~")
    expected_number = segment_number(text, "~", "SV1*HC:97110:GP*abc")
    result = read_837p(text)
    assert [e.id for e in result.encounters] == ["CLM-1002", "CLM-1003", "CLM-1004"]
    assert len(result.errors) == 1
    error = result.errors[0]
    assert isinstance(error, X12SegmentError)
    assert (error.segment_number, error.segment_id, error.loop, error.element) == (
        expected_number, "SV1", "2400", "SV102")
    assert f"segment {expected_number} (SV1, loop 2400), element SV102: expected a money amount, got 'abc'" in str(
        error)
    assert str(error).endswith("(claim CLM-1001)")


@pytest.mark.parametrize(
    ("old", "new", "element"),
    [
        ("DMG*D8*20140815*F~", "DMG*D8*2014-08-15*F~", "DMG02"),
        ("SV1*HC:97530:GP*97.5*UN*1.5***1~", "SV1*HC:97530:GP*97.5*UN*x***1~", "SV104"),
        ("SV1*HC:97530:GP*97.5*UN*1.5***1~", "SV1*HC:97530:GP*97.5*UN*1.5***13~", "SV107"),
        ("SV1*HC:97530:GP*97.5*UN*1.5***1~", "SV1*ZZ:97530:GP*97.5*UN*1.5***1~", "SV101"),
        ("HI*ABK:S93401A~", "HI*ABK:S93.401A~", "HI01"),
        ("CLM*CLM-1003*97.5***11:B:1*Y*A*Y*Y~", "CLM*CLM-1003*97.5***1:B:1*Y*A*Y*Y~", "CLM05"),
    ],
)
def test_damaged_elements_are_reported_with_their_place(old: str, new: str, element: str) -> None:
    text = HARBOR.read_text()
    assert old in text
    result = read_837p(text.replace(old, new))
    assert [e.id for e in result.encounters] == ["CLM-1001", "CLM-1002", "CLM-1004"]
    assert getattr(result.errors[0], "element", None) == element
    assert any("CLM-1003" in str(error) for error in result.errors)


def test_wrong_se_count_is_reported_and_every_claim_is_read() -> None:
    text = HARBOR.read_text().replace("SE*58*0001~", "SE*57*0001~")
    result = read_837p(text)
    assert [e.id for e in result.encounters] == ["CLM-1001", "CLM-1002", "CLM-1003", "CLM-1004"]
    (error,) = result.errors
    assert isinstance(error, X12SegmentError)
    assert error.segment_number == segment_number(text, "~", "SE*57")
    assert error.element == "SE01"
    assert "58" in str(error)


def test_truncated_file_reports_the_open_transaction_and_reads_the_rest() -> None:
    text = HARBOR.read_text()
    truncated = text[: text.index("CLM*CLM-1004")]
    result = read_837p(truncated)
    assert [e.id for e in result.encounters] == ["CLM-1001", "CLM-1002", "CLM-1003"]
    (error,) = result.errors
    assert isinstance(error, X12SegmentError)
    assert error.segment_number == segment_number(text, "~", "ST*837*0002")
    assert "truncated" in str(error)


def test_bad_isa_skips_that_interchange_and_reads_the_next() -> None:
    good = LAKESIDE.read_text()
    damaged = good.replace("|ZZ|COACHCO        |", "|ZZ|COACHCO|", 1)
    result = read_837p(damaged + HARBOR.read_text())
    assert [e.id for e in result.encounters] == ["CLM-1001", "CLM-1002", "CLM-1003", "CLM-1004"]
    (error,) = result.errors
    assert isinstance(error, X12SegmentError)
    assert (error.segment_number, error.segment_id) == (1, "ISA")
    assert "ISA06" in str(error)


def test_text_that_is_not_x12_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.837"
    path.write_text("this is not a claim file")
    result = read_837p(path)
    assert result.encounters == []
    assert "does not start with an ISA" in str(result.errors[0])
    assert str(path) in str(result.errors[0])
    with pytest.raises(InputError, match="cannot read"):
        read_837p(tmp_path / "missing.837")


def _comparable(encounter: Encounter) -> tuple[object, ...]:
    lines = tuple((line.code, tuple(line.modifiers), line.units, line.charge, line.date or encounter.date,
                   tuple(line.dx_pointers)) for line in encounter.lines)
    billing = encounter.billing_provider
    subscriber = encounter.subscriber
    assert billing is not None
    assert subscriber is not None
    return (encounter.claim_id or encounter.id, encounter.patient.id, encounter.place_of_service,
            encounter.payer, encounter.payer_id, tuple(d if "." in d or len(d) <= 3 else f"{d[:3]}.{d[3:]}"
                                                        for d in encounter.diagnoses),
            encounter.provider.npi, billing.npi, billing.tax_id, subscriber.member_id, subscriber.relationship,
            encounter.patient.birth_date, encounter.patient.sex, lines)


def test_round_trip_of_a_multi_claim_file() -> None:
    written = multi_claim_encounters()
    result = read_837p(write_837p(written, **WRITER_OPTIONS))
    assert result.errors == []
    assert [_comparable(e) for e in result.encounters] == [_comparable(e) for e in written]


money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999.99"), places=2)
line_strategy = st.fixed_dictionaries({
    "code": st.sampled_from(["97110", "97112", "97140", "97530", "97535", "96158", "0591T", "G0447"]),
    "modifiers": st.lists(st.sampled_from(["GP", "GO", "GN", "KX", "59", "CQ", "95", "XU"]), max_size=4,
                          unique=True),
    "units": st.decimals(min_value=Decimal("0.5"), max_value=Decimal(12), places=1),
    "charge": money,
    "dx_pointers": st.lists(st.integers(min_value=1, max_value=3), min_size=1, max_size=4),
    "date": st.none() | st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2026, 12, 31)),
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(line_strategy, min_size=1, max_size=6),
    place=st.sampled_from(["02", "10", "11", "12", "22"]),
    claim_id=st.from_regex(r"[A-Z0-9][A-Z0-9-]{0,18}", fullmatch=True),
    separators=st.sampled_from([Delimiters(), Delimiters(element="|", component=">", repetition="{", segment="!")]),
)
def test_round_trip_keeps_every_billed_value(
    lines: list[dict[str, object]], place: str, claim_id: str, separators: Delimiters
) -> None:
    original = encounter(lines=[{k: v for k, v in line.items() if v is not None} for line in lines],
                         place_of_service=place, claim_id=claim_id, diagnoses=["M62.81", "Z91.81", "R26.2"])
    text = write_837p([original], **WRITER_OPTIONS, delimiters=separators, line_breaks=False)
    result = read_837p(text)
    assert result.errors == []
    assert [_comparable(e) for e in result.encounters] == [_comparable(original)]


def test_claims_under_a_damaged_hierarchical_level_are_not_read() -> None:
    text = HARBOR.read_text().replace("HL*3*1*22*1~", "HL*3*1*99*1~")
    result = read_837p(text)
    # CLM-1003 sits under the damaged subscriber level; reading it would pin it on the wrong subscriber
    assert [e.id for e in result.encounters] == ["CLM-1001", "CLM-1002", "CLM-1004"]
    hl_number = segment_number(text, "~", "HL*3*1*99")
    assert getattr(result.errors[0], "segment_number", None) == hl_number
    assert "HL03" in str(result.errors[0])
    assert any("CLM-1003" in str(e) and "not read" in str(e) for e in result.errors)
    assert not any("LX" in str(e) or "SV1" in str(e) for e in result.errors)  # the unread claim's lines are quiet


def test_other_payer_loops_do_not_replace_the_claims_own_parties() -> None:
    other_payer = ("HI*ABK:S93401A~\nSBR*S*01*******CI~\nOI***Y***Y~\nNM1*IL*1*Sample*Maria****MI*OTHER123~\n"
                   "N3*1 Other St~\nN4*Springfield*IL*62704~\nNM1*PR*2*Other Plan*****PI*99999~\n"
                   "NM1*82*1******XX*1111111112~\n")
    text = HARBOR.read_text().replace("HI*ABK:S93401A~\n", other_payer).replace("SE*58*0001~", "SE*65*0001~")
    result = read_837p(text)
    assert result.errors == []
    claim = next(e for e in result.encounters if e.id == "CLM-1003")
    assert claim.subscriber is not None
    assert (claim.subscriber.member_id, claim.payer_id) == ("XQH900112233", "87726")
    assert claim.patient.address is not None
    assert claim.patient.address.line1 == "22 Oak Ave"
    assert claim.provider.npi == "1234567893"


def test_multi_line_text_that_is_not_x12_is_read_as_text_not_as_a_path() -> None:
    result = read_837p("GS*HC*oops~\nST*837*0001~\n")
    assert result.encounters == []
    assert "does not start with an ISA" in str(result.errors[0])


def test_a_bad_birth_date_is_not_repeated_in_the_error() -> None:
    result = read_837p(HARBOR.read_text().replace("DMG*D8*20140815*F~", "DMG*D8*2014-08-15*F~"))
    assert "DMG02" in str(result.errors[0])
    assert "2014" not in str(result.errors[0])


def test_payer_name_is_read_back_from_2010bb() -> None:
    written = encounter(payer="commercial", payer_name="Example Health Plan")
    [read] = read_837p(write_837p([written], **WRITER_OPTIONS)).encounters
    assert read.payer_name == "EXAMPLE HEALTH PLAN"
    assert read.payer_display == "EXAMPLE HEALTH PLAN"
