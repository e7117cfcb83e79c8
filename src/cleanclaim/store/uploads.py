"""An uploaded file's text, checked by its content rather than its name: the pages and the API take encounter files
and charge masters from a person's computer, and a spreadsheet saved as .xlsx or in another encoding must be
refused with what was expected, never read as garbage."""

from __future__ import annotations

from cleanclaim.errors import InputError

__all__ = ["upload_text"]

_SNIFF = 65536
"""How far into a file NUL bytes are looked for (a binary file shows them at once)."""


def upload_text(name: str, content: bytes, *, expected: str) -> str:
    """The UTF-8 text of an upload (a BOM dropped), or an InputError naming the file and ``expected`` (what to
    upload instead): an empty file, a binary one (NUL bytes), or one that is not UTF-8."""
    if not content.strip():
        raise InputError(f"the file is empty; upload {expected}", file=name)
    if b"\x00" in content[:_SNIFF]:
        raise InputError(f"this is not a text file (it has NUL bytes); upload {expected}", file=name)
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"the file is not UTF-8 text (byte {error.start} cannot be read); save it as UTF-8 "
                         f"({expected})", file=name) from error
