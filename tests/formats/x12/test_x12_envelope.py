"""Tokenizer and envelope checks shared by the 837P and 835 readers."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from cleanclaim.formats.x12 import X12SegmentError, format_amount, parse_envelope, tokenize

ISA = "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *260101*1200*^*00501*000000001*0*T*:~"


def interchange(body: str, *, isa: str = ISA, gs: str = "GS*HC*S*R*20260101*1200*1*X*005010X222A1~",
                trailer: str = "GE*1*1~IEA*1*000000001~") -> str:
    return isa + gs + body + trailer


def test_separators_come_from_the_isa() -> None:
    isa = ISA.replace("*", "|").replace("^", "{").replace(":~", "}\n")
    assert len(isa) == 106  # a line break as the segment terminator
    segments, errors = tokenize(isa + "GS|HC|S|R\nST|837|0001|005010X222A1\nNM1|85|2|A}B\n")
    assert errors == []
    assert [s.id for s in segments] == ["ISA", "GS", "ST", "NM1"]
    nm1 = segments[3]
    assert nm1.number == 4
    assert nm1.element(3) == "A}B"  # "}" is the component separator, not an element separator
    assert nm1.components(3) == ["A", "B"]
    assert segments[0].delimiters.repetition == "{"


def test_line_breaks_and_crlf_are_ignored() -> None:
    text = interchange("ST*837*0001~\r\nBHT*0019~\r\nSE*3*0001~\r\n").replace("~", "~\r\n")
    envelope = parse_envelope(text)
    assert envelope.errors == []
    (transaction,) = envelope.transactions()
    assert [s.id for s in transaction.body] == ["BHT"]
    assert transaction.version == "005010X222A1"


@pytest.mark.parametrize(
    ("body", "trailer", "segment", "element"),
    [
        ("ST*837*0001~BHT*0019~SE*4*0001~", "GE*1*1~IEA*1*000000001~", 5, "SE01"),
        ("ST*837*0001~BHT*0019~SE*3*0002~", "GE*1*1~IEA*1*000000001~", 5, "SE02"),
        ("ST*837*0001~BHT*0019~SE*3*0001~", "GE*2*1~IEA*1*000000001~", 6, "GE01"),
        ("ST*837*0001~BHT*0019~SE*3*0001~", "GE*1*9~IEA*1*000000001~", 6, "GE02"),
        ("ST*837*0001~BHT*0019~SE*3*0001~", "GE*1*1~IEA*1*000000002~", 7, "IEA02"),
    ],
)
def test_envelope_control_problems_name_segment_and_element(
    body: str, trailer: str, segment: int, element: str
) -> None:
    envelope = parse_envelope(interchange(body, trailer=trailer))
    (error,) = envelope.errors
    assert isinstance(error, X12SegmentError)
    assert (error.segment_number, error.element) == (segment, element)
    assert str(error).startswith(f"segment {segment} (")


def test_a_good_transaction_after_a_damaged_one_is_kept() -> None:
    body = "ST*837*0001~BHT*0019~SE*9*0001~ST*837*0002~BHT*0019~SE*3*0002~"
    envelope = parse_envelope(interchange(body, trailer="GE*2*1~IEA*1*000000001~"))
    assert [t.control_number for t in envelope.transactions()] == ["0002"]
    assert [getattr(e, "segment_number", None) for e in envelope.errors] == [5]


def test_st_without_se_is_truncated() -> None:
    envelope = parse_envelope(interchange("ST*837*0001~BHT*0019~ST*837*0002~BHT*0019~SE*3*0002~",
                                          trailer="GE*2*1~IEA*1*000000001~"))
    assert [t.control_number for t in envelope.transactions()] == ["0002"]
    (error,) = envelope.errors
    assert isinstance(error, X12SegmentError)
    assert error.segment_number == 3
    assert "truncated" in str(error)


def test_file_cut_short_reports_the_missing_iea() -> None:
    envelope = parse_envelope(ISA + "GS*HC*S*R*20260101*1200*1*X*005010X222A1~ST*837*0001~BHT*0019~SE*3*0001~")
    assert [t.control_number for t in envelope.transactions()] == ["0001"]
    assert "no IEA" in str(envelope.errors[0])


def test_a_short_isa_is_reported() -> None:
    envelope = parse_envelope(ISA[:60])
    assert envelope.interchanges == []
    assert "ISA" in str(envelope.errors[0])


def test_segments_outside_a_transaction_are_reported() -> None:
    envelope = parse_envelope(interchange("BHT*0019~ST*837*0001~SE*2*0001~"))
    (error,) = envelope.errors
    assert "outside a transaction" in str(error)


@pytest.mark.parametrize(
    ("value", "text"),
    [(Decimal("90.00"), "90"), (Decimal("45.50"), "45.5"), (Decimal("1E+2"), "100"), (Decimal("0.00"), "0"),
     (Decimal("1.25"), "1.25")],
)
def test_amounts_are_written_without_trailing_zeros(value: Decimal, text: str) -> None:
    assert format_amount(value) == text


@pytest.mark.parametrize(
    ("body", "trailer", "element"),
    [
        ("ST*837*0001~BHT*0019~SE*4*0001~", "GE*1*1~IEA*1*000000001~", "SE01"),  # one too many
        ("ST*837*0001~BHT*0019~SE*2*0001~", "GE*1*1~IEA*1*000000001~", "SE01"),  # one too few
        ("ST*837*0001~BHT*0019~SE*3*0002~", "GE*1*1~IEA*1*000000001~", "SE02"),
        ("ST*837*0001~BHT*0019~SE*3*0001~", "GE*2*1~IEA*1*000000001~", "GE01"),
        ("ST*837*0001~BHT*0019~SE*3*0001~", "GE*1*1~IEA*2*000000001~", "IEA01"),
        ("ST*837*0001~BHT*0019~SE*3*0001~", "GE*1*1~IEA*1*000000002~", "IEA02"),
    ],
)
def test_keep_miscounted_reports_the_count_and_keeps_the_transaction(body: str, trailer: str, element: str) -> None:
    envelope = parse_envelope(interchange(body, trailer=trailer), keep_miscounted=True)
    assert [e.field for e in envelope.errors] == [element]
    assert "were read" in str(envelope.errors[0]) or element not in ("SE01", "SE02")
    assert [t.control_number for t in envelope.transactions()] == ["0001"]


def test_the_iea_is_looked_for_only_up_to_the_next_isa() -> None:
    # An interchange without IEA ends where the next one starts, not at the next one's IEA: searching past it made
    # files of many such interchanges quadratic (4.7 MB: 38 s).
    first = ISA + "GS*HC*S*R*20260101*1200*1*X*005010X222A1~ST*837*0001~BHT*0019~SE*3*0001~GE*1*1~"
    second = interchange("ST*837*0002~BHT*0019~SE*3*0002~")
    segments, errors = tokenize(first + second)
    assert errors == []
    assert [s.id for s in segments] == ["ISA", "GS", "ST", "BHT", "SE", "GE", "ISA", "GS", "ST", "BHT", "SE", "GE",
                                        "IEA"]
    envelope = parse_envelope(first + second)
    assert [t.control_number for t in envelope.transactions()] == ["0001", "0002"]
    assert [e.segment_number for e in envelope.errors if isinstance(e, X12SegmentError)] == [7]
    assert "previous interchange's IEA" in str(envelope.errors[0])


def test_many_interchanges_without_iea_are_all_tokenized() -> None:
    one = ISA + "GS*HC*S*R*20260101*1200*1*X*005010X222A1~ST*837*0001~BHT*0019~SE*3*0001~GE*1*1~"
    envelope = parse_envelope(one * 2000)
    assert len(list(envelope.transactions())) == 2000


def test_a_byte_that_is_not_utf8_is_placed_at_its_segment(tmp_path: Path) -> None:
    from cleanclaim.errors import InputError
    from cleanclaim.formats.x12 import read_x12_text

    text = interchange("ST*837*0001~BHT*0019~NM1*85*2*AB~SE*4*0001~")
    path = tmp_path / "bad.837"
    path.write_bytes(text.replace("AB", "A\xff", 1).encode("latin-1"))
    with pytest.raises(InputError) as caught:
        read_x12_text(path)
    assert isinstance(caught.value, X12SegmentError)
    assert caught.value.segment_number == 5  # ISA GS ST BHT NM1
    assert caught.value.file == str(path)
    # no ISA: the line is given instead
    plain = tmp_path / "plain.837"
    plain.write_bytes(b"hello\n\xff\n")
    with pytest.raises(InputError) as caught:
        read_x12_text(plain)
    assert caught.value.line == 2
