"""Encounters into the workspace: one typed in a form, or a file uploaded (encounter YAML/JSON or an 837P), stored as
claims and coded with the engine's coder, and the organisation's encounters as the Encounters page lists them.

Readers and coder are the engine's (``formats.encounters.parse_encounters``, ``formats.x12_837p.read_837p``,
``store.claims.import_encounters`` / ``code_claim``); this module only turns a form or an upload into their input and
their refusals into messages that name the form field, or the file and the line/row, and what was expected.

An upload is checked by its *content*, not its name: a file with NUL bytes or that is not UTF-8 text is refused, an
837P is recognised by its ``ISA`` segment, anything else must parse as the encounter contract's YAML or JSON. A
claim-line CSV table is not an encounter file (its rows are lines, not encounters), so it is refused with the
command that checks it.

A file with a damaged part keeps what is whole, whatever its kind. Encounters are independent of each other: an
encounter YAML/JSON file's encounters that read are stored, and each that does not (a missing field, a bad date, a
code of the wrong shape, a text value with a control character) is reported beside what was imported, by its
encounter id (or its place in the list, ``#3``, when it has no id), field and line. An 837P is a batch of independent
claims from a billing system: every claim the reader could read is stored, and each part it could not read (a claim,
by its segment and claim id) or that is wrong but did not stop the reading (an SE01 count) is reported the same way,
so one broken claim of 5,000 neither blocks nor hides the other 4,999. A file of which nothing can be read, or that
is not the shape of the contract at all, stores nothing and names every problem (up to ten).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import func, select

from cleanclaim.errors import CleanclaimError, InputError, UnreadableTextError, WrongKindOfFileError, is_phi_field
from cleanclaim.formats.encounters import EncounterFile, parse_encounters, read_encounter_bytes
from cleanclaim.formats.x12 import starts_with_isa
from cleanclaim.lifecycle import ClaimState
from cleanclaim.model import ClaimLine, Encounter
from cleanclaim.store import models as m
from cleanclaim.store.charges import organisation_charge_master
from cleanclaim.store.claims import Actor, ImportedClaim, code_claim, import_encounters
from cleanclaim.store.tenant import Tenant
from cleanclaim.store.uploads import (
    CONTROL_CHARACTERS,
    control_character_fields,
    refuse_control_characters,
    upload_text,
)

__all__ = ["FORM_FIELDS", "FORM_PATHS", "LINE_FIELDS", "SERVICE_ROWS", "EncounterRow", "FormProblemsError", "Intake",
           "Upload", "billing_provider_defaults", "encounter_from_form", "enter_encounters", "lines_from_form",
           "read_encounter_file", "read_upload", "recent_encounters", "without_control_characters"]

SERVICE_ROWS = 4
"""How many service rows the form offers (code + minutes each); a file takes any number."""
_SHOWN_PROBLEMS = 10


class FormProblemsError(CleanclaimError):
    """The form's fields that are missing or wrong: field name -> message (no patient value is quoted)."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems.items()))
        self.problems = dict(problems)


# Each form field and where it goes in the encounter contract (docs: DESIGN.md, "Encounter file"): one table, read
# both ways, so the encounter is built from it and a model error is shown next to the field it came from.
FORM_PATHS: dict[str, str] = {
    "encounter_id": "id", "claim_id": "claim_id", "date": "date", "place_of_service": "place_of_service",
    "patient_ref": "patient.id", "first_name": "patient.first_name", "last_name": "patient.last_name",
    "birth_date": "patient.birth_date", "sex": "patient.sex",
    "address_line1": "patient.address.line1", "address_city": "patient.address.city",
    "address_state": "patient.address.state", "address_zip": "patient.address.zip",
    "provider_npi": "provider.npi", "discipline": "provider.discipline",
    "provider_first_name": "provider.first_name", "provider_last_name": "provider.last_name",
    "payer": "payer", "payer_id": "payer_id", "payer_name": "payer_name",
    "billing_name": "billing_provider.name", "billing_npi": "billing_provider.npi",
    "billing_tax_id": "billing_provider.tax_id", "billing_taxonomy": "billing_provider.taxonomy",
    "billing_line1": "billing_provider.address.line1", "billing_city": "billing_provider.address.city",
    "billing_state": "billing_provider.address.state", "billing_zip": "billing_provider.address.zip",
    "member_id": "subscriber.member_id", "relationship": "subscriber.relationship",
    "subscriber_first_name": "subscriber.first_name", "subscriber_last_name": "subscriber.last_name",
    "group_number": "subscriber.group_number", "diagnoses": "diagnoses",
}
FORM_FIELDS: tuple[str, ...] = (*FORM_PATHS, *(f"{kind}_{row}" for row in range(1, SERVICE_ROWS + 1)
                                               for kind in ("code", "minutes")))
"""Every field the encounter form posts."""
_FIELD_OF_PATH = {path: name for name, path in FORM_PATHS.items()}
_LABELS = {"encounter_id": "encounter id", "date": "date of service", "patient_ref": "patient reference",
           "provider_npi": "rendering provider NPI", "discipline": "discipline", "payer": "payer",
           "address_line1": "patient's street address", "address_city": "patient's city",
           "address_state": "patient's state", "address_zip": "patient's ZIP code",
           "billing_name": "billing provider's name", "billing_npi": "billing provider's NPI",
           "billing_tax_id": "billing provider's tax id (EIN)", "billing_line1": "billing provider's street address",
           "billing_city": "billing provider's city", "billing_state": "billing provider's state",
           "billing_zip": "billing provider's ZIP+4", "member_id": "subscriber's member id",
           "subscriber_last_name": "subscriber's last name"}
_REQUIRED = ("encounter_id", "date", "patient_ref", "provider_npi", "discipline", "payer")
# Optional parts of the contract that are all-or-nothing once started: what the 837P needs of each (2010CA N3/N4,
# 2010AA NM1/REF*EI/N3/N4, 2010BA NM109); a half-given billing provider would be a claim no writer can send.
_GROUPS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("the patient's address", ("address_line1", "address_city", "address_state", "address_zip"), ()),
    ("the billing provider", ("billing_name", "billing_npi", "billing_tax_id", "billing_line1", "billing_city",
                              "billing_state", "billing_zip"), ("billing_taxonomy",)),
    ("the subscriber", ("member_id",), ("subscriber_first_name", "subscriber_last_name", "group_number")),
)
DEFAULT_RELATIONSHIP = "self"


def _form_field(location: Sequence[int | str]) -> str:
    """The form field a model error belongs to (``services.0.minutes`` -> ``minutes_1``)."""
    parts = [str(part) for part in location]
    if parts[:1] == ["services"] and len(parts) >= 2 and parts[1].isdigit():
        return f"{parts[2] if len(parts) > 2 else 'code'}_{int(parts[1]) + 1}"
    for size in range(len(parts), 0, -1):  # the longest known path: patient.address.zip before patient
        found = _FIELD_OF_PATH.get(".".join(parts[:size]))
        if found is not None:
            return found
    return "form"


def _group_problems(given: Mapping[str, str]) -> dict[str, str]:
    """The missing fields of each optional group that was started (nothing of a group given: none)."""
    problems: dict[str, str] = {}
    for what, required, optional in _GROUPS:
        if not any(given.get(name) for name in (*required, *optional)):
            continue
        problems |= {name: f"the {_LABELS[name]} is required once {what} is given" for name in required
                     if not given.get(name)}
    relationship = given.get("relationship") or DEFAULT_RELATIONSHIP
    if relationship.lower() != DEFAULT_RELATIONSHIP and not given.get("subscriber_last_name"):
        problems["subscriber_last_name"] = (f"the {_LABELS['subscriber_last_name']} is required when the patient is "
                                            "not the subscriber (837P 2010BA names the subscriber)")
    return problems


def _nested(given: Mapping[str, str]) -> dict[str, object]:
    """The contract's nested fields from the given (non-blank) form fields; a group left empty is left out."""
    data: dict[str, object] = {}
    for name, path in FORM_PATHS.items():
        value = given.get(name)
        if not value:
            continue
        *parents, leaf = path.split(".")
        target = data
        for parent in parents:
            child = target.setdefault(parent, {})
            assert isinstance(child, dict)
            target = child
        target[leaf] = value
    subscriber = data.get("subscriber")
    if isinstance(subscriber, dict) and set(subscriber) == {"relationship"}:
        del data["subscriber"]  # the menu's default alone is not a subscriber
    return data


def encounter_from_form(values: Mapping[str, str]) -> Encounter:
    """The encounter the form describes, or :class:`FormProblemsError` naming every missing or wrong field at once."""
    def given(name: str) -> str:
        return (values.get(name) or "").strip()

    fields = {name: given(name) for name in FORM_PATHS}
    problems: dict[str, str] = {name: f"the {_LABELS[name]} is required" for name in _REQUIRED if not fields[name]}
    problems |= {name: f"this field {_CONTROL_IN_VALUE}" for name in FORM_FIELDS
                 if CONTROL_CHARACTERS.search(values.get(name) or "")}
    problems |= {name: message for name, message in _group_problems(fields).items() if name not in problems}
    services = []
    for row in range(1, SERVICE_ROWS + 1):
        code, minutes = given(f"code_{row}"), given(f"minutes_{row}")
        if not code and not minutes:
            continue
        if not code:
            problems[f"code_{row}"] = f"service {row} has minutes but no code"
            continue
        service: dict[str, object] = {"code": code.upper()}
        if minutes:
            if not minutes.isdigit():
                problems[f"minutes_{row}"] = f"service {row}'s minutes must be a whole number"
                continue
            service["minutes"] = int(minutes)
        services.append(service)
    if not services and "code_1" not in problems:
        problems["code_1"] = "enter at least one service (a code, and its minutes when it is timed)"
    if problems:
        raise FormProblemsError(problems)
    fields["payer"] = fields["payer"].lower()
    for name in ("address_state", "billing_state"):
        fields[name] = fields[name].upper()
    for name in ("address_zip", "billing_zip"):  # 62701-1234 as typed is the ZIP+4 627011234 the claim formats take
        if re.fullmatch(r"[0-9]{5}-[0-9]{4}", fields[name]):
            fields[name] = fields[name].replace("-", "")
    data = _nested(fields)
    data["diagnoses"] = [code.strip().upper() for code in given("diagnoses").replace(";", ",").split(",")
                         if code.strip()]
    data["services"] = services
    try:
        return Encounter.model_validate(data)
    except ValidationError as error:
        found: dict[str, str] = {}
        for item in error.errors():
            field = _form_field(item.get("loc", ()))
            # a patient field's message names what was expected, never the value typed
            message = str(item.get("msg", "is not valid"))
            found.setdefault(field, message if not is_phi_field(".".join(map(str, item.get("loc", ())))) else
                             f"is not valid ({item.get('type', 'value')})")
        raise FormProblemsError(found) from error


def billing_provider_defaults(tenant: Tenant, *, look_back: int = 20) -> dict[str, str]:
    """The billing provider of the organisation's latest encounters that name one, as form values: a practice bills
    under one or a few billing providers, so the form starts with the last one rather than seven empty fields."""
    for data in tenant.session.scalars(select(m.EncounterRecord.data).where(
            m.EncounterRecord.organisation_id == tenant.organisation_id)
            .order_by(m.EncounterRecord.id.desc()).limit(look_back)):
        billing = (data or {}).get("billing_provider")
        if isinstance(billing, dict):
            flat = {**billing, **{f"address.{key}": value for key, value in (billing.get("address") or {}).items()}}
            return {name: str(flat[path.removeprefix("billing_provider.")])
                    for name, path in FORM_PATHS.items() if path.startswith("billing_provider.")
                    and flat.get(path.removeprefix("billing_provider.")) is not None}
    return {}


AN_ENCOUNTER_FILE = "upload encounter YAML/JSON or an 837P"
# What in a YAML or JSON text can make a control character without one being in the file: an escape in a quoted
# string (JSON \u0000, \b, \f; YAML \0, \a, \e, \v, \x00, \U00000000) or YAML binary data given to a text field.
# A file without any of these has none in its values, so only such a file's encounters are walked field by field.
_MAY_ESCAPE_CONTROL = re.compile(r"\\(?:u00[01]|U0000000|U0000001|x[01]|[0abefv])|!!binary|yaml\.org,2002:binary")
_CONTROL_IN_VALUE = ("holds a control character (such as NUL, U+0000); no claim format carries one and the database "
                     "cannot store NUL: remove it")


# An X12 file whose ISA is missing starts at a later envelope or transaction segment (GS*, ST*, ...).
# (A YAML key such as ``ST:`` is not one: a colon, dash or quote is not taken for an element separator.)
_X12_WITHOUT_ISA = re.compile(r"(GS|ST|BHT|BPR|NM1|HL|CLM)[^A-Za-z0-9\s:\-_\"'#{\[]")


@dataclass(frozen=True)
class Upload:
    """What an uploaded file holds: the encounters read, and each part of the file that was not read or is wrong (an
    837P's claims, with their segment; an encounter file's encounters that hold bytes that are not text, with their
    line); an empty ``problems`` means the file was read whole."""

    encounters: list[Encounter]
    problems: list[InputError]


def _refusal(name: str, errors: Sequence[InputError]) -> InputError:
    shown = "; ".join(str(error) for error in errors[:_SHOWN_PROBLEMS])
    more = f" (and {len(errors) - _SHOWN_PROBLEMS} more)" if len(errors) > _SHOWN_PROBLEMS else ""
    return InputError(f"{len(errors)} problem(s), nothing was imported: {shown}{more}", file=name)


def read_encounter_file(name: str, content: bytes) -> Upload:
    """The encounters of an uploaded file, or InputError naming the file, and line/row/segment where known, with
    every problem found (up to ten) when nothing of it can be imported."""
    try:
        text = upload_text(content, name, expected=AN_ENCOUNTER_FILE)
    except WrongKindOfFileError as refused:
        return _with_unreadable_encounters(name, content, refused)
    head = text.lstrip(" \t\r\n")
    if starts_with_isa(head):
        from cleanclaim.formats.x12_837p import read_837p

        read = read_837p(text)
        if not read.encounters:
            raise _refusal(name, read.errors) if read.errors else InputError(
                "the 837P holds no claim (no CLM segment)", file=name)
        return Upload(list(read.encounters), list(read.errors))
    if _X12_WITHOUT_ISA.match(head):
        raise InputError("this looks like an X12 file without its ISA segment: an 837P starts with ISA*00*...; "
                         "export the whole interchange", file=name, line=1)
    lowered = name.lower()
    first_line = head.split("\n", 1)[0]
    looks_tabular = not head.startswith(("{", "[")) and "," in first_line and ":" not in first_line
    try:  # the whole file (a ZIP starts PK\x03\x04); binary inside some encounters costs only those
        refuse_control_characters(text, name, expected=AN_ENCOUNTER_FILE)
    except WrongKindOfFileError as refused:
        return _with_unreadable_encounters(name, content, refused)
    if lowered.endswith((".csv", ".tsv", ".parquet")) or looks_tabular:
        raise WrongKindOfFileError("a claim-line table (CSV) is not an encounter file: check it with `cleanclaim "
                                   "check FILE`; the workspace imports encounter YAML/JSON and 837P files",
                                   file=name)
    source = name if lowered.endswith((".json", ".yaml", ".yml")) else (
        f"{name}.json" if head.startswith(("{", "[")) else name)
    parsed = parse_encounters(text, source)
    encounters, problems = without_control_characters(parsed, text)
    problems = [*parsed.errors, *problems]
    for problem in problems:
        problem.file = name  # the name uploaded (a JSON file without its suffix was read as NAME.json)
    if not encounters:
        raise _refusal(name, problems) if problems else InputError("the file holds no encounters", file=name)
    return Upload(encounters, problems)


def without_control_characters(parsed: EncounterFile, text: str) -> tuple[list[Encounter], list[InputError]]:
    """The encounters read from ``text`` but those with a text value holding a control character (a JSON
    ``"\\u0000"`` would reach PostgreSQL's JSONB, which refuses it), and an InputError naming the encounter, the
    field and its line for each such value (never the value: it may be a patient's)."""
    if not _MAY_ESCAPE_CONTROL.search(text):
        return list(parsed.encounters), []
    kept: list[Encounter] = []
    problems: list[InputError] = []
    for encounter in parsed.encounters:
        fields = control_character_fields(encounter.model_dump(mode="json"))
        if not fields:
            kept.append(encounter)
            continue
        for field in fields:
            parts = field.split(".")
            line = next((found for size in range(len(parts), -1, -1)
                         if (found := parsed.line_of(encounter.id, ".".join(parts[:size]))) is not None), None)
            problems.append(InputError(f"the text value {_CONTROL_IN_VALUE}", file=parsed.sources[0], line=line,
                                       field=field, encounter=encounter.id))
    return kept, problems


def _with_unreadable_encounters(name: str, content: bytes, refusal: WrongKindOfFileError) -> Upload:
    """An encounter file with bytes that are not text (not UTF-8, a NUL, a control character) in some encounters,
    such as binary pasted into a note: the encounters around them are imported and each one holding them is a
    problem naming its line and byte, as a partial 837P import lists its claims not read. A file that is not an
    encounter file with such encounters (a picture, a ZIP, a UTF-16 export), or that has other problems too, is
    refused as the kind of file it is not, as before (415)."""
    head = content.lstrip(b" \t\r\n")
    source = name if name.lower().endswith((".json", ".yaml", ".yml")) else (
        f"{name}.json" if head.startswith((b"{", b"[")) else name)
    try:
        read = read_encounter_bytes(content, source)
    except InputError:
        raise refusal from None
    if not read.encounters or not read.errors or not all(isinstance(e, UnreadableTextError) for e in read.errors):
        raise refusal
    # the encounters that read may still carry an escaped control character ("\u0000"), as in a clean file
    encounters, escaped = without_control_characters(read, content.decode("utf-8", errors="replace"))
    problems = [*read.errors, *escaped]
    for problem in problems:
        problem.file = name
    if not encounters:
        raise _refusal(name, problems)
    return Upload(encounters, problems)


def read_upload(name: str, content: bytes) -> list[Encounter]:
    """The encounters of a file that reads whole, or InputError naming the file and every problem (up to ten): the
    all-or-nothing reading, for callers that cannot report a partial import."""
    upload = read_encounter_file(name, content)
    if upload.problems:
        raise _refusal(name, upload.problems)
    return upload.encounters


@dataclass(frozen=True)
class Intake:
    """What an entry or an import did: the claims made, and per claim that could not be coded, why (it stays a
    draft, to be coded or given its lines by hand)."""

    claims: list[ImportedClaim]
    not_coded: dict[int, str]


def enter_encounters(tenant: Tenant, actor: Actor, encounters: Sequence[Encounter]) -> Intake:
    """Store the encounters as claims (all or none) and code each one that documents services without lines,
    with the organisation's charge master."""
    imported = import_encounters(tenant, actor, encounters)
    not_coded: dict[int, str] = {}
    charges = organisation_charge_master(tenant)  # read once for the whole file
    for item, encounter in zip(imported, encounters, strict=True):
        if item.state is ClaimState.DRAFT and encounter.services:
            try:
                code_claim(tenant, actor, item.claim_id, charge_master=charges)
            except CleanclaimError as error:  # the savepoint undid the attempt; the claim stays a draft
                not_coded[item.claim_id] = str(error)
    return Intake(imported, not_coded)


@dataclass(frozen=True)
class EncounterRow:
    encounter_id: int
    encounter_ref: str
    date_of_service: dt.date
    patient_ref: str
    provider_npi: str
    payer_name: str | None
    claim_id: int
    patient_control_number: str
    state: str


def recent_encounters(tenant: Tenant, *, limit: int = 50, offset: int = 0) -> tuple[list[EncounterRow], int]:
    """The organisation's encounters, the latest entered first, each with its claim's current version; and the
    total count."""
    session, organisation = tenant.session, tenant.organisation_id
    record, version = m.EncounterRecord, m.ClaimVersion
    total = session.scalar(select(func.count()).select_from(record).where(record.organisation_id == organisation))
    rows = session.execute(
        select(record.id, record.encounter_ref, record.date_of_service, m.Patient.patient_ref, m.Provider.npi,
               m.Payer.name, m.Claim.id, version.patient_control_number, version.state)
        .join(m.Patient, m.Patient.id == record.patient_id)
        .join(m.Provider, m.Provider.id == record.provider_id)
        .outerjoin(m.Payer, m.Payer.id == record.payer_id)
        .join(m.Claim, m.Claim.encounter_id == record.id)
        .join(version, (version.claim_id == m.Claim.id) & version.is_current.is_(True))
        .where(record.organisation_id == organisation)
        .order_by(record.id.desc()).limit(limit).offset(offset)
    ).all()
    return [EncounterRow(*row) for row in rows], total or 0


LINE_FIELDS = ("code", "modifiers", "units", "minutes", "dx_pointers", "charge")
"""What a biller corrects on a billed line by hand; a line's other data (NDC, rendering NPI, 837P elements) is kept."""


def lines_from_form(current: Sequence[ClaimLine], values: Mapping[str, str], rows: int) -> list[ClaimLine]:
    """The billed lines the line editor describes: row n (``code_n``, ``units_n``, ...) edits current line n, a row
    past them adds a line, a row whose code is cleared removes its line. Every wrong field is named at once
    (:class:`FormProblemsError`, keys ``units_2`` ...), so the page can show each message next to its input."""
    problems: dict[str, str] = {}
    lines: list[ClaimLine] = []
    for row in range(1, rows + 1):
        given = {name: (values.get(f"{name}_{row}") or "").strip() for name in LINE_FIELDS}
        if not given["code"]:
            if row > len(current) and any(given.values()):
                problems[f"code_{row}"] = f"line {row} has no code; give one, or clear the row"
            continue
        base = current[row - 1].model_dump(exclude_none=True) if row <= len(current) else {}
        edited: dict[str, object] = {
            "code": given["code"].upper(),
            "modifiers": [part.upper() for part in re.split(r"[\s,;]+", given["modifiers"]) if part],
            "units": given["units"] or "1",
            "dx_pointers": given["dx_pointers"],
        }
        if given["minutes"] and not given["minutes"].isdigit():
            problems[f"minutes_{row}"] = f"line {row}'s minutes must be a whole number, not {given['minutes']!r}"
            continue
        edited["minutes"] = int(given["minutes"]) if given["minutes"] else None
        edited["charge"] = given["charge"].replace(",", "") or None
        try:
            lines.append(ClaimLine.model_validate({**base, **edited}))
        except ValidationError as error:
            for item in error.errors():
                field = str(item.get("loc", ("code",))[0]) if item.get("loc") else "code"
                field = field if field in LINE_FIELDS else "code"
                problems.setdefault(f"{field}_{row}", f"line {row} {field.replace('_', ' ')}: {item.get('msg')}")
    if not lines and not problems:
        problems["code_1"] = "a claim needs at least one billed line"
    if problems:
        raise FormProblemsError(problems)
    return lines
