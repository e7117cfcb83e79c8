"""Encounters into the workspace: one typed in a form, or a file uploaded (encounter YAML/JSON or an 837P), stored as
claims and coded with the engine's coder, and the organisation's encounters as the Encounters page lists them.

Readers and coder are the engine's (``formats.encounters.parse_encounters``, ``formats.x12_837p.read_837p``,
``store.claims.import_encounters`` / ``code_claim``); this module only turns a form or an upload into their input and
their refusals into messages that name the form field, or the file and the line/row, and what was expected.

An upload is checked by its *content*, not its name: a file with NUL bytes or that is not UTF-8 text is refused, an
837P is recognised by its ``ISA`` segment, anything else must parse as the encounter contract's YAML or JSON. A
claim-line CSV table is not an encounter file (its rows are lines, not encounters), so it is refused with the
command that checks it.

What a file with a damaged part gives differs by kind, on purpose. An encounter YAML/JSON file is written by hand or
by one export: nothing of it is stored unless every encounter is readable (fix the line named, upload again). An 837P
is a batch of independent claims from a billing system: every claim the reader could read is stored, and each part
it could not read (a claim, by its segment and claim id) or that is wrong but did not stop the reading (an SE01
count) is reported beside what was imported, so one broken claim of 5,000 neither blocks nor hides the other 4,999.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import func, select

from cleanclaim.errors import CleanclaimError, InputError, is_phi_field
from cleanclaim.formats.encounters import parse_encounters
from cleanclaim.lifecycle import ClaimState
from cleanclaim.model import Encounter
from cleanclaim.store import models as m
from cleanclaim.store.claims import Actor, ImportedClaim, code_claim, import_encounters
from cleanclaim.store.tenant import Tenant

__all__ = ["SERVICE_ROWS", "EncounterRow", "FormProblemsError", "Intake", "Upload", "encounter_from_form",
           "enter_encounters", "read_encounter_file", "read_upload", "recent_encounters"]

SERVICE_ROWS = 4
"""How many service rows the form offers (code + minutes each); a file takes any number."""
_SHOWN_PROBLEMS = 10


class FormProblemsError(CleanclaimError):
    """The form's fields that are missing or wrong: field name -> message (no patient value is quoted)."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems.items()))
        self.problems = dict(problems)


def _form_field(location: Sequence[int | str]) -> str:
    """The form field a model error belongs to (``services.0.minutes`` -> ``minutes_1``)."""
    parts = [str(part) for part in location]
    if parts[:1] == ["services"] and len(parts) >= 2 and parts[1].isdigit():
        return f"{parts[2] if len(parts) > 2 else 'code'}_{int(parts[1]) + 1}"
    mapping = {"id": "encounter_id", "date": "date", "diagnoses": "diagnoses", "payer": "payer",
               "payer_id": "payer_id", "payer_name": "payer_name", "claim_id": "claim_id",
               "patient.id": "patient_ref", "patient.first_name": "first_name", "patient.last_name": "last_name",
               "patient.birth_date": "birth_date", "provider.npi": "provider_npi",
               "provider.discipline": "discipline"}
    dotted = ".".join(parts[:2])
    return mapping.get(dotted, mapping.get(parts[0], dotted or "form"))


def encounter_from_form(values: Mapping[str, str]) -> Encounter:
    """The encounter the form describes, or :class:`FormProblemsError` naming every missing or wrong field at once."""
    def given(name: str) -> str:
        return (values.get(name) or "").strip()

    problems: dict[str, str] = {}
    for name, label in (("encounter_id", "encounter id"), ("date", "date of service"),
                        ("patient_ref", "patient reference"), ("provider_npi", "rendering provider NPI"),
                        ("discipline", "discipline"), ("payer", "payer")):
        if not given(name):
            problems[name] = f"the {label} is required"
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
    patient: dict[str, object] = {"id": given("patient_ref")}
    for name in ("first_name", "last_name", "birth_date", "sex"):
        if given(name):
            patient[name] = given(name)
    data: dict[str, object] = {
        "id": given("encounter_id"), "date": given("date"), "payer": given("payer").lower(), "patient": patient,
        "provider": {"npi": given("provider_npi"), "discipline": given("discipline")},
        "diagnoses": [code.strip().upper() for code in given("diagnoses").replace(";", ",").split(",")
                      if code.strip()],
        "services": services,
    }
    for name in ("claim_id", "payer_id", "payer_name"):
        if given(name):
            data[name] = given(name)
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


def _text_of(name: str, content: bytes) -> str:
    if not content.strip():
        raise InputError("the file is empty", file=name)
    if b"\x00" in content[:65536]:
        raise InputError("this is not a text file (it has NUL bytes); upload encounter YAML/JSON or an 837P",
                         file=name)
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"the file is not UTF-8 text (byte {error.start} cannot be read); save it as UTF-8",
                         file=name) from error


# An X12 file whose ISA is missing starts at a later envelope or transaction segment (GS*, ST*, ...).
# (A YAML key such as ``ST:`` is not one: a colon, dash or quote is not taken for an element separator.)
_X12_WITHOUT_ISA = re.compile(r"(GS|ST|BHT|BPR|NM1|HL|CLM)[^A-Za-z0-9\s:\-_\"'#{\[]")


@dataclass(frozen=True)
class Upload:
    """What an uploaded file holds: the encounters read, and (837P only, see the module docstring) each part of the
    file that was not read or is wrong, with its segment; an empty ``problems`` means the file was read whole."""

    encounters: list[Encounter]
    problems: list[InputError]


def _refusal(name: str, errors: Sequence[InputError]) -> InputError:
    shown = "; ".join(str(error) for error in errors[:_SHOWN_PROBLEMS])
    more = f" (and {len(errors) - _SHOWN_PROBLEMS} more)" if len(errors) > _SHOWN_PROBLEMS else ""
    return InputError(f"{len(errors)} problem(s), nothing was imported: {shown}{more}", file=name)


def read_encounter_file(name: str, content: bytes) -> Upload:
    """The encounters of an uploaded file, or InputError naming the file, and line/row/segment where known, with
    every problem found (up to ten) when nothing of it can be imported."""
    text = _text_of(name, content)
    head = text.lstrip(" \t\r\n")
    if head.startswith("ISA"):
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
    if lowered.endswith((".csv", ".tsv", ".parquet")) or looks_tabular:
        raise InputError("a claim-line table (CSV) is not an encounter file: check it with `cleanclaim check "
                         "FILE`; the workspace imports encounter YAML/JSON and 837P files", file=name)
    source = name if lowered.endswith((".json", ".yaml", ".yml")) else (
        f"{name}.json" if head.startswith(("{", "[")) else name)
    parsed = parse_encounters(text, source)
    if parsed.errors:
        raise _refusal(name, parsed.errors)
    if not parsed.encounters:
        raise InputError("the file holds no encounters", file=name)
    return Upload(list(parsed.encounters), [])


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
    """Store the encounters as claims (all or none) and code each one that documents services without lines."""
    imported = import_encounters(tenant, actor, encounters)
    not_coded: dict[int, str] = {}
    for item, encounter in zip(imported, encounters, strict=True):
        if item.state is ClaimState.DRAFT and encounter.services:
            try:
                code_claim(tenant, actor, item.claim_id)
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
