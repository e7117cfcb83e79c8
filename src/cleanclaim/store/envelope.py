"""The organisation's 837P envelope checked as the store saves it and as the Submission settings page and
``/api/v1/submission-settings`` show it (every field's problem at once): each field's stored length, read from the
model's columns so that the form, the API and the table agree, and how a submitted form or body becomes the store's
:class:`SubmissionSettingsInput`.

The rules of the envelope (required fields, a phone or an email) are in ``store.submissions.
save_submission_settings``, which also refuses what this module finds, whoever calls it. Found here: a value longer
than its column, because PostgreSQL refuses it where SQLite would keep it, and the answer must be a message on the
field on both; and a value the 837P writer's own rules refuse (ISA06/ISA08 ids of letters, digits, space, '.', '_',
'-'; no X12 separator or non-ASCII character in a name, contact or email), so that such a value is refused when it
is typed, not at every submission.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String

from cleanclaim.formats.x12 import Delimiters
from cleanclaim.formats.x12_837p import Submitter, _envelope_problems, _separator_problems, _transaction_rows
from cleanclaim.store import models as m
from cleanclaim.store.submissions import TEXT_FIELDS, SubmissionSettingsInput

__all__ = ["TEXT_FIELDS", "max_length", "settings_input", "too_long", "unwritable"]


def max_length(field: str) -> int:
    """The stored length of one text field of the envelope (ISA06/ISA08 are 15 characters by X12)."""
    column_type = m.SubmissionSettings.__table__.c[field].type
    assert isinstance(column_type, String) and column_type.length is not None
    return column_type.length


def too_long(values: dict[str, str | None]) -> dict[str, str]:
    """field -> message for each value longer than its column (stripped, as the store stores it)."""
    return {field: f"{field.replace('_', ' ')} is at most {max_length(field)} characters"
            for field, value in values.items() if value is not None and len(value.strip()) > max_length(field)}


def settings_input(values: dict[str, str | None], *, production: bool) -> SubmissionSettingsInput:
    """The store's input from a form or a body: a blank phone or email is no phone or email (the store then asks
    for one of them)."""
    def optional(field: str) -> str | None:
        value = (values.get(field) or "").strip()
        return value or None

    return SubmissionSettingsInput(
        sender_id=values.get("sender_id") or "", receiver_id=values.get("receiver_id") or "",
        receiver_name=values.get("receiver_name") or "", submitter_name=values.get("submitter_name") or "",
        submitter_contact=values.get("submitter_contact") or "", submitter_phone=optional("submitter_phone"),
        submitter_email=optional("submitter_email"), production=production)


def _unwritable_ids(given: SubmissionSettingsInput) -> dict[str, str]:
    """field -> the 837P writer's message for a sender or receiver id it would refuse: the writer's rule, asked with
    the envelope as given; only the ids' messages are taken (a blank id is the store's "is required")."""
    ids = {"sender_id": given.sender_id.strip(), "receiver_id": given.receiver_id.strip()}
    problems = _envelope_problems(ids["sender_id"], ids["receiver_id"],
                                  Submitter(given.submitter_name, given.submitter_contact,
                                            phone=given.submitter_phone, email=given.submitter_email),
                                  given.receiver_name, "P" if given.production else "T", 1, 1)
    return {field: message for message in problems.get("(file)", []) for field, value in ids.items()
            if value and message.startswith(f"{field} ")}


_NAMED_BY = {("NM1", "41"): {3: "submitter_name", 9: "sender_id"}, ("NM1", "40"): {3: "receiver_name",
                                                                                      9: "receiver_id"}}
"""The envelope's fields in the writer's 1000A (NM1*41) and 1000B (NM1*40) rows, by element position."""


def _fields_of(row: list[str]) -> dict[int, str]:
    if row[0] == "PER":  # 1000A PER: the contact, then qualifier/value pairs (TE phone, EM email)
        found = {2: "submitter_contact"}
        found.update({position + 1: "submitter_phone" if row[position] == "TE" else "submitter_email"
                      for position in range(3, len(row) - 1, 2)})
        return found
    return _NAMED_BY.get((row[0], row[1] if len(row) > 1 else ""), {})


def unwritable(given: SubmissionSettingsInput) -> dict[str, str]:
    """field -> the 837P writer's message for a value of the envelope it would refuse at every submission: an id
    out of the ISA06/ISA08 pattern, a separator (``*`` ``:`` ``^`` ``~``) or a character outside X12's ASCII in a
    name, contact or email. The writer's own checks, asked with the envelope's rows as it writes them (1000A, PER,
    1000B); the messages name the element, and each is put on the field it came from."""
    found = _unwritable_ids(given)
    submitter = Submitter(given.submitter_name.strip(), given.submitter_contact.strip(),
                          phone=given.submitter_phone, email=given.submitter_email)
    rows = _transaction_rows([], submitter, given.sender_id.strip(), given.receiver_name.strip(),
                             given.receiver_id.strip(), dt.datetime(2000, 1, 1), 1, {}, {}, Delimiters())
    for _, row in rows:
        fields = _fields_of(row)
        for message in _separator_problems([("row", row)], Delimiters()).get("row", []):
            element = message.split(" ", 1)[0]
            field = fields.get(int(element[len(row[0]):])) if element[len(row[0]):].isdigit() else None
            if field is not None and field not in found:
                found[field] = message
    return found
