"""An uploaded file as text: the one check every upload of the workspace (an encounter file, an 837P, an 835) passes
before a reader sees it, on the pages and in the API alike.

Checked by content, never by the file's name: empty, binary (a NUL byte in its first 64 KiB) and not-UTF-8 files are
refused as :class:`~cleanclaim.errors.WrongKindOfFileError`, naming the file and saying what was expected.
"""

from __future__ import annotations

from cleanclaim.errors import WrongKindOfFileError

__all__ = ["upload_text"]

_SNIFFED = 65536


def upload_text(content: bytes, name: str, *, expected: str) -> str:
    """The upload's text (a UTF-8 byte-order mark dropped); ``expected`` ends each refusal (what the file should be)."""
    if not content.strip():
        raise WrongKindOfFileError(f"the file is empty; {expected}", file=name)
    if b"\x00" in content[:_SNIFFED]:
        raise WrongKindOfFileError(f"this is not a text file (it has NUL bytes: binary, or UTF-16 text, which is "
                                   f"not UTF-8); {expected}", file=name)
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise WrongKindOfFileError(f"the file is not UTF-8 text (byte {error.start} cannot be read); {expected}",
                                   file=name) from error
