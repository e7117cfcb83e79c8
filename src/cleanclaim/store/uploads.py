"""An uploaded file as text: the one check every upload of the workspace (an encounter file, an 837P, an 835, a charge
master) passes before a reader sees it, on the pages and in the API alike; and the check of the text values read
from one, before any reaches the database.

Checked by content, never by the file's name, and over the whole content, not a sniffed head: empty, binary (a NUL
byte anywhere) and not-UTF-8 files are refused as :class:`~cleanclaim.errors.WrongKindOfFileError`, naming the file,
the place and what was expected. PostgreSQL stores no NUL character in text or JSONB, so a NUL that got past here
would be a database error (a 500) at the first write instead of this message.

A text format that is not X12 (encounter YAML/JSON, a CSV) allows no other C0 control character but tab, line feed
and carriage return either (YAML 1.2 section 5.1; RFC 8259 section 7 for JSON strings);
:func:`refuse_control_characters` says so with the line. An X12 file may use some as delimiters, so it is held to the
NUL check only. An escape (JSON ``"\\u0000"``, YAML ``"\\0"``) puts a control character into a value without one in
the file: :func:`control_character_fields` finds the fields of read data that hold one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from cleanclaim.errors import WrongKindOfFileError

__all__ = ["CONTROL_CHARACTERS", "control_character_fields", "refuse_control_characters", "upload_text"]

CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
"""The C0 control characters no text value or YAML/JSON/CSV file may hold (all but tab, line feed, carriage
return)."""


def upload_text(content: bytes, name: str, *, expected: str) -> str:
    """The upload's text (a UTF-8 byte-order mark dropped); ``expected`` ends each refusal (what the file should be)."""
    if not content.strip():
        raise WrongKindOfFileError(f"the file is empty; {expected}", file=name)
    nul = content.find(b"\x00")  # the whole file: one memchr, even for the largest upload allowed
    if nul >= 0:
        raise WrongKindOfFileError(f"this is not a text file (it has NUL bytes, the first at byte {nul + 1}: binary, "
                                   f"or UTF-16 text, which is not UTF-8); {expected}", file=name)
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise WrongKindOfFileError(f"the file is not UTF-8 text (byte {error.start} cannot be read); {expected}",
                                   file=name) from error


def refuse_control_characters(text: str, name: str, *, expected: str) -> None:
    """Refuse a YAML, JSON or CSV file with a control character anywhere in it, naming the line."""
    found = CONTROL_CHARACTERS.search(text)
    if found is not None:
        line = text.count("\n", 0, found.start()) + 1
        raise WrongKindOfFileError(f"this is not a text file (it has a control character, U+{ord(found.group()):04X}, "
                                   f"which YAML, JSON and CSV text does not allow); {expected}", file=name, line=line)


def control_character_fields(data: object, path: str = "", *,
                             pattern: re.Pattern[str] = CONTROL_CHARACTERS) -> list[str]:
    """The dotted path (``patient.last_name``, ``services.0.code``) of each text value, or mapping key, in ``data``
    that holds a control character (see :data:`CONTROL_CHARACTERS`; ``pattern`` narrows it, e.g. to NUL only); empty
    when none does."""
    if isinstance(data, str):
        return [path] if pattern.search(data) else []
    found: list[str] = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and pattern.search(key):
                found.append(path or "(a key)")
            found.extend(control_character_fields(value, where, pattern=pattern))
    elif isinstance(data, list | tuple):
        for index, value in enumerate(data):
            found.extend(control_character_fields(value, f"{path}.{index}" if path else str(index), pattern=pattern))
    return found
