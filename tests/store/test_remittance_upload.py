"""store.remittances.read_upload: the one check an uploaded 835 passes before posting, on the page and in the API."""

from __future__ import annotations

import pytest

from cleanclaim.errors import InputError, WrongKindOfFileError
from cleanclaim.store.remittances import read_upload
from tests.fuzz import harness

SEED = harness._seeds_835()[0]


def test_a_readable_835_is_its_text() -> None:
    assert read_upload(SEED.encode(), "era.835") == SEED


def test_a_nul_byte_past_the_sniffed_head_is_refused_by_name() -> None:
    """upload_text once looked for NUL bytes in the first 64 KiB only; PostgreSQL cannot store one anywhere in the
    file's text, so the one upload check looks at all of it and says where (the seed is ASCII: byte = character)."""
    padded = SEED.replace("~", "~" + " " * 70_000, 1)
    position = padded.rindex("~")
    text = padded[:position] + "\x00" + padded[position:]
    with pytest.raises(WrongKindOfFileError) as raised:
        read_upload(text.encode(), "late-nul.835")
    assert "late-nul.835" in str(raised.value) and "NUL" in str(raised.value)
    assert f"the first at byte {position + 1}" in str(raised.value)


@pytest.mark.parametrize(("content", "kind"), [
    (b"", WrongKindOfFileError),
    (b"\xff\xfeI\x00S\x00A\x00", WrongKindOfFileError),  # UTF-16
    (b"GS*HP*SENDER~ST*835*0001~", WrongKindOfFileError),  # X12 without its ISA
    (b"ISA*00*          *00*          *ZZ*X~IEA*1*000000001~", InputError),  # X12, but no 835 in it
])
def test_what_is_not_an_835_is_refused_by_name(content: bytes, kind: type[InputError]) -> None:
    with pytest.raises(kind) as raised:
        read_upload(content, "upload.835")
    assert "upload.835" in str(raised.value)
