"""The claim services the web pages, the REST API and batch jobs all call: intake, coding, scrubbing, overrides,
release, correction, appeal and write-off of stored claims.

They stay thin over the engine: the coder (`cleanclaim.code`), the rule catalogue (`cleanclaim.check`) and the
lifecycle (`lifecycle.transition`) decide; this module loads, writes and records. Three promises hold for every
function here, because three callers with different habits will use them:

* **One organisation.** Each takes a :class:`~cleanclaim.store.tenant.Tenant`; an id of another organisation is
  :class:`NotFoundError`, exactly as an id that does not exist.
* **Whole or nothing.** Each runs in a savepoint: a refusal or a failure part-way leaves the session as it was (the
  caller commits, once per request or job step).
* **A trail.** Every change writes an audit event (before/after) in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar

import polars as pl
from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Table,
    Text,
    bindparam,
    cast,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from cleanclaim.errors import CleanclaimError, InputError
from cleanclaim.formats.export import with_charges
from cleanclaim.lifecycle import (
    ENTERS_ENCOUNTERS,
    WORKS_CLAIMS,
    Action,
    ClaimState,
    Role,
    TransitionError,
    check_override,
    transition,
)
from cleanclaim.model import ClaimLine, Encounter, Severity
from cleanclaim.payers import PayerProfile, profile_for
from cleanclaim.pricing import ChargeMaster
from cleanclaim.rules.tables import STORED_LINE_SCHEMA, tables_from_stored
from cleanclaim.scrub import check, check_tables, code
from cleanclaim.store import models as m
from cleanclaim.store.audit import record, snapshot
from cleanclaim.store.bulk import among, append_rows, insert_each, read_frame, update_by_id
from cleanclaim.store.charges import organisation_charge_master
from cleanclaim.store.tenant import Tenant
from cleanclaim.store.types import utcnow

__all__ = [
    "Actor",
    "ConflictError",
    "ImportedClaim",
    "NotFoundError",
    "ScrubOutcome",
    "appeal_claim",
    "code_claim",
    "correct_claim",
    "current_version",
    "edit_lines",
    "encounter_of",
    "import_encounters",
    "latest_scrub",
    "mark_all_ready",
    "mark_ready",
    "override_finding",
    "scrub_claims",
    "write_off_claim",
]

# The interchange line fields the claim_lines columns hold; every other field given goes to ``details``.
_LINE_COLUMNS = ("code", "modifiers", "units", "minutes", "dx_pointers", "charge", "date")
_T = TypeVar("_T")
# SQLite allows 32,766 bound parameters in one statement; an IN list stays well below it.
_IN_CHUNK = 5000


class NotFoundError(CleanclaimError):
    """No such object in this organisation (which is also what another organisation's id is: a 404, never data)."""


class ConflictError(CleanclaimError):
    """A change the stored records forbid (its message names them and what to do instead): the API's 409."""


@dataclass(frozen=True)
class Actor:
    """Who is acting: the user's id (for the trail) and role (for the lifecycle's role checks)."""

    id: int
    role: Role

    @classmethod
    def of(cls, user: m.User) -> Actor:
        return cls(user.id, Role(user.role))


@dataclass(frozen=True)
class ImportedClaim:
    claim_id: int
    version_id: int
    patient_control_number: str
    state: ClaimState


@dataclass
class ScrubOutcome:
    """What one batch scrub did: per claim id its scrub run and the count of findings by severity."""

    runs: dict[int, int]
    """Claim id -> the new scrub run's id."""
    counts: dict[int, dict[str, int]]
    """Claim id -> {"error": n, "warning": n, "info": n}."""

    @property
    def findings(self) -> int:
        return sum(sum(c.values()) for c in self.counts.values())


@contextmanager
def _whole(session: Session) -> Iterator[None]:
    """A savepoint around one service call: any exception undoes what the call wrote, and is raised on."""
    with session.begin_nested():
        yield


def _require(actor: Actor, roles: Iterable[Role], what: str) -> None:
    allowed = frozenset(roles)
    if actor.role not in allowed:
        who = ", ".join(sorted(r.value for r in allowed))
        raise TransitionError(f"a {actor.role.value} cannot {what}; that is for: {who}")


def _audit(tenant: Tenant, actor: Actor | None, entity: str, entity_id: int | str, action: str,
           before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    record(tenant.session, organisation_id=tenant.organisation_id, user_id=actor.id if actor else None,
           entity=entity, entity_id=entity_id, action=action, before=before, after=after)


# ------------------------------------------------------------------------------------------------ lines <-> rows


def _line_values(line: ClaimLine, number: int, date_of_service: dt.date) -> dict[str, Any]:
    """The claim_lines column values of a billed line (what the columns do not hold goes to ``details``)."""
    given = line.model_dump(mode="json", exclude_defaults=True)
    details = {key: value for key, value in given.items() if key not in _LINE_COLUMNS}
    # a charge or date that was not given is kept as "not given", not as 0.00 or the encounter's date
    if line.charge is None:
        details["charge"] = None
    if line.date is None:
        details["date"] = None
    return {"line_number": number, "code": line.code, "modifiers": list(line.modifiers), "units": line.units,
            "minutes": line.minutes, "dx_pointers": list(line.dx_pointers),
            "charge": line.charge if line.charge is not None else Decimal(0),
            "service_date": line.date or date_of_service, "details": details or None}


def _line_row(line: ClaimLine, number: int, date_of_service: dt.date) -> m.ClaimLine:
    return m.ClaimLine(**_line_values(line, number, date_of_service))


def _line_fields(code_: str, modifiers: list[Any], units: Decimal, minutes: int | None, dx_pointers: list[Any],
                 charge: Decimal, service_date: dt.date, details: dict[str, Any] | None) -> dict[str, Any]:
    data: dict[str, Any] = {"code": code_, "modifiers": modifiers, "units": units, "minutes": minutes,
                            "dx_pointers": dx_pointers, "charge": charge, "date": service_date}
    if details:
        data.update(details)
    return data


def _line_model(row: m.ClaimLine) -> ClaimLine:
    return ClaimLine.model_validate(_line_fields(row.code, list(row.modifiers), row.units, row.minutes,
                                                 list(row.dx_pointers), row.charge, row.service_date, row.details))


def _total(lines: Sequence[ClaimLine]) -> Decimal:
    return sum((line.charge for line in lines if line.charge is not None), Decimal(0))


def _billed_encounter(data: dict[str, Any], lines: list[dict[str, Any]] | list[ClaimLine], *, version: int,
                      frequency_code: str, original_reference: str | None, key: str | None = None) -> Encounter:
    """The encounter as this claim version bills it: the stored encounter with the version's lines, and for a
    replacement (frequency 7/8) the CLM05-3 code and the payer's claim number it replaces (2300 REF*F8)."""
    fields = {**data, "lines": lines}
    if key is not None:
        fields["id"] = key
    if frequency_code != "1":
        fields["claim_elements"] = {**(data.get("claim_elements") or {}), "CLM05-3": frequency_code}
        if original_reference:
            references = {loop: dict(refs) for loop, refs in (data.get("references") or {}).items()}
            if data.get("references") is None:
                references["2300"] = {"EA": str(data["patient"]["id"])}  # what the writer writes by default
            references.setdefault("2300", {})["F8"] = original_reference
            fields["references"] = references
    return Encounter.model_validate(fields)


# ------------------------------------------------------------------------------------------------------- lookups


def current_version(tenant: Tenant, claim_id: int) -> m.ClaimVersion:
    """The claim's current version, or NotFoundError (also for another organisation's claim id)."""
    version = tenant.session.scalars(tenant.select(m.ClaimVersion, m.ClaimVersion.claim_id == claim_id,
                                                   m.ClaimVersion.is_current.is_(True))).one_or_none()
    if version is None:
        raise NotFoundError(f"claim {claim_id} not found")
    return version


def _encounter_record(tenant: Tenant, claim_id: int) -> m.EncounterRecord:
    record_ = tenant.session.scalars(tenant.select(m.EncounterRecord).join(
        m.Claim, m.Claim.encounter_id == m.EncounterRecord.id).where(m.Claim.id == claim_id)).one_or_none()
    if record_ is None:
        raise NotFoundError(f"claim {claim_id} not found")
    return record_


def encounter_of(tenant: Tenant, claim_id: int) -> Encounter:
    """The interchange-contract encounter of the claim's current version: the stored encounter with the version's
    lines (exactly what was imported, when nothing was edited since)."""
    version = current_version(tenant, claim_id)
    data = _encounter_record(tenant, claim_id).data
    return _billed_encounter(data, [_line_model(row) for row in version.lines], version=version.version,
                             frequency_code=version.frequency_code, original_reference=version.original_reference)


def latest_scrub(tenant: Tenant, version: m.ClaimVersion) -> m.ScrubRun | None:
    """The version's most recent scrub run: the one whose findings decide whether it may be released (the same run
    the claim list counts and filters by: ``ClaimVersion.latest_scrub_run_id``)."""
    if version.latest_scrub_run_id is None:
        return None
    run = tenant.get(m.ScrubRun, version.latest_scrub_run_id)
    return run if run is not None and run.claim_version_id == version.id else None


# -------------------------------------------------------------------------------------------------------- intake


def import_encounters(tenant: Tenant, actor: Actor, encounters: Sequence[Encounter]) -> list[ImportedClaim]:
    """Store encounters (as the readers make them) as claims: patients, providers and payers are found by their
    references or added, each encounter is kept whole, and its claim gets version 1 (frequency 1, patient control
    number = the encounter's claim id, else its id), coded when it has billed lines, else a draft.

    All or nothing: a claim id already used by a current claim of the organisation, or twice in the batch, refuses
    the whole import, naming it. Set-based (Core executemany per table, ids by RETURNING in parameter order), so
    10,000 encounters import in seconds rather than the minutes ORM objects took.
    """
    _require(actor, ENTERS_ENCOUNTERS, "enter encounters")
    session = tenant.session
    numbers = [encounter.claim_id or encounter.id for encounter in encounters]
    _check_numbers(tenant, encounters, numbers)
    if not encounters:
        return []
    organisation_id = tenant.organisation_id
    with _whole(session):
        connection = session.connection()
        # the latest encounter's demographics are the patient's (a name or birth date corrected at the front desk)
        patients = _upsert(tenant, m.Patient, "patient_ref", {e.patient.id: {
            "first_name": e.patient.first_name, "last_name": e.patient.last_name,
            "birth_date": e.patient.birth_date, "sex": e.patient.sex} for e in encounters}, refresh=True)
        providers = _upsert(tenant, m.Provider, "npi", {str(e.provider.npi): {
            "discipline": e.provider.discipline.value, "first_name": e.provider.first_name,
            "last_name": e.provider.last_name} for e in encounters}, refresh=True)
        payer_rows: dict[str, dict[str, Any]] = {}
        for encounter in encounters:
            if encounter.payer_id:  # a payer is added as first seen; an existing one is the admin's to edit
                payer_rows.setdefault(encounter.payer_id, {"profile_id": encounter.payer,
                                                           "name": encounter.payer_display})
        payers = _upsert(tenant, m.Payer, "payer_id", payer_rows, refresh=False)
        record_ids = _insert_ids(connection, _table(m.EncounterRecord), [
            {"organisation_id": organisation_id, "encounter_ref": encounter.id,
             "date_of_service": encounter.date, "patient_id": patients[encounter.patient.id],
             "provider_id": providers[str(encounter.provider.npi)],
             "payer_id": payers[encounter.payer_id] if encounter.payer_id else None,
             "data": encounter.model_dump(mode="json"), "created_at": utcnow()} for encounter in encounters])
        now = utcnow()
        claim_ids = _insert_ids(connection, _table(m.Claim), [
            {"organisation_id": organisation_id, "encounter_id": record_id, "created_at": now}
            for record_id in record_ids])
        states = [ClaimState.CODED if encounter.lines else ClaimState.DRAFT for encounter in encounters]
        version_ids = _insert_ids(connection, _table(m.ClaimVersion), [
            {"organisation_id": organisation_id, "claim_id": claim_id, "version": 1, "is_current": True,
             "frequency_code": "1", "patient_control_number": number, "original_reference": None,
             "state": state.value, "total_charge": _total(encounter.lines), "created_by_id": actor.id,
             "created_at": now, "explanation": None}
            for encounter, claim_id, number, state in zip(encounters, claim_ids, numbers, states, strict=True)])
        lines = [{"organisation_id": organisation_id, "claim_version_id": version_id,
                  **_line_values(line, n, encounter.date)}
                 for encounter, version_id in zip(encounters, version_ids, strict=True)
                 for n, line in enumerate(encounter.lines, start=1)]
        if lines:
            connection.execute(insert(_table(m.ClaimLine)), lines)
        imported = [ImportedClaim(claim_id, version_id, number, state) for claim_id, version_id, number, state
                    in zip(claim_ids, version_ids, numbers, states, strict=True)]
        connection.execute(insert(_table(m.AuditEvent)), [
            {"organisation_id": organisation_id, "user_id": actor.id, "at": now, "entity": "claim",
             "entity_id": str(item.claim_id), "action": "import", "before": None,
             "after": {"encounter": encounter.id, "patient_control_number": item.patient_control_number,
                       "version_id": item.version_id, "state": item.state.value, "lines": len(encounter.lines)}}
            for item, encounter in zip(imported, encounters, strict=True)])
    return imported


def _insert_ids(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows (executemany, batched by insertmanyvalues) and return their new ids in the rows' order."""
    return list(connection.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
                .scalars().all())


def _check_numbers(tenant: Tenant, encounters: Sequence[Encounter], numbers: list[str]) -> None:
    for encounter, number in zip(encounters, numbers, strict=True):
        if len(number) > 38:
            raise InputError(f"the claim id {number!r} is longer than the 38 characters CLM01 holds",
                             encounter=encounter.id, field="claim_id")
        npi = encounter.provider.npi
        if npi is None or len(npi) != 10:
            raise InputError("the workspace keeps a rendering provider by a 10-digit NPI; this encounter has none",
                             encounter=encounter.id, field="provider.npi")
    twice = [number for number, count in Counter(numbers).items() if count > 1]
    if twice:
        raise InputError(f"claim id(s) {', '.join(sorted(twice)[:10])} appear more than once in this import; each "
                         "claim needs its own patient control number", field="claim_id")
    taken: set[str] = set()
    for start in range(0, len(numbers), _IN_CHUNK):
        taken |= set(tenant.session.scalars(select(m.ClaimVersion.patient_control_number).where(
            m.ClaimVersion.organisation_id == tenant.organisation_id, m.ClaimVersion.is_current.is_(True),
            m.ClaimVersion.patient_control_number.in_(numbers[start:start + _IN_CHUNK]))))
    if taken:
        raise InputError(f"claim id(s) {', '.join(sorted(taken)[:10])} already belong to claims of this "
                         "organisation; correct the existing claim instead, or give a new claim id",
                         field="claim_id")


def _upsert(tenant: Tenant, model: type[m.Base], key: str, given: dict[str, dict[str, Any]], *,
            refresh: bool) -> dict[str, int]:
    """The ids of the organisation's rows by ``key`` (a patient ref, an NPI, a payer id): the ones not there are
    added with the given values; with ``refresh`` an existing row takes the given values where they differ (one
    executemany UPDATE). A few set-based statements, whatever the number of encounters."""
    if not given:
        return {}
    table = _table(model)
    connection = tenant.session.connection()
    organisation_id = tenant.organisation_id
    names = list(next(iter(given.values())))
    found: dict[str, tuple[int, tuple[Any, ...]]] = {}
    for chunk in _chunks(sorted(given)):
        for row in connection.execute(select(table.c.id, table.c[key], *(table.c[name] for name in names))
                                      .where(table.c.organisation_id == organisation_id, table.c[key].in_(chunk))):
            found[row[1]] = (row[0], tuple(row[2:]))
    ids = {ref: found_id for ref, (found_id, _) in found.items()}
    new = [ref for ref in given if ref not in found]
    if new:
        ids.update(zip(new, _insert_ids(connection, table, [
            {"organisation_id": organisation_id, key: ref, **given[ref]} for ref in new]), strict=True))
    if refresh:
        changed = [{"row_id": found[ref][0], **{f"new_{name}": given[ref][name] for name in names}}
                   for ref in found if found[ref][1] != tuple(given[ref][name] for name in names)]
        if changed:
            connection.execute(update(table).where(table.c.organisation_id == organisation_id,
                                                   table.c.id == bindparam("row_id"))
                               .values({name: bindparam(f"new_{name}") for name in names}), changed)
            _expire(tenant.session, model, {row["row_id"] for row in changed})
    return ids


def _expire(session: Session, model: type[m.Base], ids: set[int]) -> None:
    """Rows this session already holds as objects were changed by a Core statement: read them again on access."""
    for row in list(session.identity_map.values()):
        if isinstance(row, model) and getattr(row, "id", None) in ids:
            session.expire(row)


# ------------------------------------------------------------------------------------------------ coding, editing


def code_claim(tenant: Tenant, actor: Actor, claim_id: int, *,
               charge_master: ChargeMaster | None = None) -> m.ClaimVersion:
    """Code the stored encounter's documented services into the claim's lines (the engine's coder), keeping its
    arithmetic in plain words; the claim becomes coded, and a scrub done before no longer applies.

    Each line gets the organisation's charge master charge (unit charge x units); ``charge_master`` is that mapping
    when the caller already has it (a batch reads it once). A code without an entry gets no charge, shown as such
    on the claim page (the 837P writer refuses it until the charge master has the code)."""
    version = current_version(tenant, claim_id)
    target = transition(version.state, Action.CODE, role=actor.role)
    data = _encounter_record(tenant, claim_id).data
    encounter = Encounter.model_validate({**data, "lines": []})
    if not encounter.services:
        raise InputError("the encounter documents no services to code; enter its billed lines instead",
                         encounter=encounter.id, field="services")
    result = code(encounter)
    problems = [str(e) for e in result.errors] + [str(f.to_dict()) for f in result.failures]
    if problems or not result.encounters:
        raise CleanclaimError(f"claim {claim_id} could not be coded: {'; '.join(problems) or 'no result'}")
    coded = result.encounters[0]
    if charge_master is None:
        charge_master = organisation_charge_master(tenant)
    lines = with_charges(encounter.model_copy(update={"lines": coded.lines}), charge_master).lines
    with _whole(tenant.session):
        _replace_lines(tenant, actor, version, lines, target, "code", explanation=list(coded.explanation))
    return version


def edit_lines(tenant: Tenant, actor: Actor, claim_id: int, lines: Sequence[ClaimLine]) -> m.ClaimVersion:
    """Replace the claim's billed lines by hand; it goes back to coded (its earlier scrub no longer applies).

    A biller's or admin's correction: a clinician enters encounters and codes them, but changing what is billed
    after coding is the billing office's call (and an auditor changes nothing)."""
    _require(actor, WORKS_CLAIMS, "edit a claim's billed lines by hand")
    version = current_version(tenant, claim_id)
    target = transition(version.state, Action.CODE, role=actor.role)
    if not lines:
        raise InputError("a claim needs at least one billed line", field="lines")
    with _whole(tenant.session):
        _replace_lines(tenant, actor, version, list(lines), target, "edit_lines", explanation=None)
    return version


def _lines_snapshot(version: m.ClaimVersion) -> list[dict[str, Any]]:
    return [snapshot(line) for line in version.lines]


def _replace_lines(tenant: Tenant, actor: Actor, version: m.ClaimVersion, lines: list[ClaimLine],
                   target: ClaimState, action: str, *, explanation: list[str] | None) -> None:
    before = {**snapshot(version), "lines": _lines_snapshot(version)}
    date_of_service = _encounter_date(tenant, version)
    version.lines.clear()
    tenant.session.flush()  # the old lines go before the new ones take their line numbers
    version.lines = [tenant.add(_line_row(line, n, date_of_service)) for n, line in enumerate(lines, start=1)]
    version.state = target.value
    version.total_charge = _total(lines)
    version.explanation = explanation
    tenant.session.flush()
    _audit(tenant, actor, "claim_version", version.id, action, before,
           {**snapshot(version), "lines": _lines_snapshot(version)})


def _encounter_date(tenant: Tenant, version: m.ClaimVersion) -> dt.date:
    return _encounter_record(tenant, version.claim_id).date_of_service


# -------------------------------------------------------------------------------------------------------- scrub


_D = TypeVar("_D")


@dataclass
class _Loaded(Generic[_D]):
    """A claim's current version and its encounter; ``data`` is the encounter's JSON, decoded (a dict) or as the
    database's text (a str: for the batch scrub, which decodes every claim's at once in Polars)."""

    version_id: int
    claim_id: int
    state: str
    version: int
    frequency_code: str
    original_reference: str | None
    encounter_ref: str
    data: _D


def _table(model: type[m.Base]) -> Table:
    """A model's table, for Core statements: rows as tuples and executemany, without ORM objects or events."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _chunks(values: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start:start + _IN_CHUNK]


def _load_current(tenant: Tenant, claim_ids: Sequence[int]) -> list[_Loaded[dict[str, Any]]]:
    """The current versions of these claims with their encounters, in the order asked: one Core SELECT (rows as
    tuples, no ORM objects, the ids as one bound value), scoped to the organisation; NotFoundError names ids it does
    not hold."""
    return _current(tenant, claim_ids, _table(m.EncounterRecord).c.data)


def _load_current_text(tenant: Tenant, claim_ids: Sequence[int]) -> list[_Loaded[str]]:
    """`_load_current` with each encounter's JSON as the database's text, not decoded one claim at a time."""
    return _current(tenant, claim_ids, cast(_table(m.EncounterRecord).c.data, Text))


def _current(tenant: Tenant, claim_ids: Sequence[int], data: ColumnElement[_D]) -> list[_Loaded[_D]]:
    connection = tenant.session.connection()
    versions, claims, encounters = _table(m.ClaimVersion).c, _table(m.Claim), _table(m.EncounterRecord)
    organisation_id = tenant.organisation_id
    wanted = list(dict.fromkeys(claim_ids))
    rows = [_Loaded(*row) for row in connection.execute(
        select(versions.id, versions.claim_id, versions.state, versions.version, versions.frequency_code,
               versions.original_reference, encounters.c.encounter_ref, data)
        .join(claims, (claims.c.id == versions.claim_id) & (claims.c.organisation_id == organisation_id))
        .join(encounters, (encounters.c.id == claims.c.encounter_id)
              & (encounters.c.organisation_id == organisation_id))
        .where(versions.organisation_id == organisation_id, versions.is_current.is_(True),
               among(connection, versions.claim_id, wanted))).all()]
    missing = set(wanted) - {row.claim_id for row in rows}
    if missing:
        shown = ", ".join(str(i) for i in sorted(missing)[:10])
        raise NotFoundError(f"claim(s) {shown} not found")
    order = {claim_id: n for n, claim_id in enumerate(wanted)}
    rows.sort(key=lambda row: order[row.claim_id])
    return rows


def _load_lines(tenant: Tenant, version_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """The billed lines of these versions as `ClaimLine` field dicts, in line order: one Core SELECT per 5,000."""
    connection = tenant.session.connection()
    c = _table(m.ClaimLine).c
    lines: dict[int, list[dict[str, Any]]] = {version_id: [] for version_id in version_ids}
    for chunk in _chunks(version_ids):
        for row in connection.execute(
                select(c.claim_version_id, c.code, c.modifiers, c.units, c.minutes, c.dx_pointers, c.charge,
                       c.service_date, c.details)
                .where(c.organisation_id == tenant.organisation_id, c.claim_version_id.in_(chunk))
                .order_by(c.claim_version_id, c.line_number)):
            lines[row[0]].append(_line_fields(*row[1:]))
    return lines


_LINE_FRAME_SCHEMA: dict[str, Any] = {
    "version_id": pl.Int64, "code": pl.String, "modifiers": pl.String, "units": pl.Float64, "minutes": pl.Int64,
    "dx_pointers": pl.String, "charge": pl.Float64, "service_date": pl.Date, "details": pl.String,
}


def _line_frame(tenant: Tenant, loaded: Sequence[_Loaded[Any]], keys: list[str]) -> pl.DataFrame:
    """The billed lines of the loaded versions as `tables.STORED_LINE_SCHEMA` columns, in the claims' order and
    line order: one Core SELECT (the version ids as one bound value; on PostgreSQL read by COPY as CSV into Polars,
    `store.bulk.read_frame`), the JSON columns read as text and decoded by Polars, amounts read as floats (what
    the rule tables hold), ``details`` decoded in Python only where a line has any (a charge or a date that was not
    given, an NDC, a rendering NPI, a place: few lines)."""
    connection = tenant.session.connection()
    c = _table(m.ClaimLine).c
    frame = read_frame(connection, select(
        c.claim_version_id, c.code, cast(c.modifiers, Text), cast(c.units, Float), c.minutes,
        cast(c.dx_pointers, Text), cast(c.charge, Float), c.service_date, cast(c.details, Text))
        .where(c.organisation_id == tenant.organisation_id,
               among(connection, c.claim_version_id, [row.version_id for row in loaded]))
        .order_by(c.claim_version_id, c.line_number), _LINE_FRAME_SCHEMA)
    # SQL NULL or JSON null (what a line with nothing beyond its columns holds): no details, nothing to decode,
    # one shared row of flags (most lines; looking into an empty dict per line cost more than the query)
    plain: tuple[Any, ...] = (False, False, None, None, None)
    extra = [plain if not text or text == "null" else _detail_flags(json.loads(text) or {})
             for text in frame.get_column("details").to_list()]
    flags = pl.DataFrame(extra, schema={"no_charge": pl.Boolean, "no_date": pl.Boolean, "ndc": pl.String,
                                        "rendering_npi": pl.String, "place_of_service": pl.String}, orient="row")
    order = pl.DataFrame({"version_id": [row.version_id for row in loaded], "encounter_id": keys},
                         schema={"version_id": pl.Int64, "encounter_id": pl.String}).with_row_index("claim_order")
    return (
        pl.concat([frame, flags], how="horizontal")
        .with_row_index("stored_order")
        .join(order, on="version_id", how="inner")
        .sort("claim_order", "stored_order")
        .select(
            "encounter_id", "code",
            pl.col("modifiers").str.json_decode(pl.List(pl.String)),
            "units", "minutes",
            pl.col("dx_pointers").str.json_decode(pl.List(pl.Int64)),
            pl.when(~pl.col("no_charge")).then(pl.col("charge")).alias("charge"),
            pl.when(~pl.col("no_date")).then(pl.col("service_date")).alias("date"),
            "ndc", "rendering_npi", "place_of_service",
        )
        .cast(pl.Schema(STORED_LINE_SCHEMA))
    )


def _detail_flags(given: dict[str, Any]) -> tuple[Any, ...]:
    """What a line's ``details`` tell the rule tables: a charge or date given as "not given", an NDC, a rendering
    NPI, a place of service."""
    return ("charge" in given and given["charge"] is None, "date" in given and given["date"] is None,
            given.get("ndc"), given.get("rendering_npi"), given.get("place_of_service"))


def _keys(loaded: Sequence[_Loaded[Any]]) -> list[str]:
    """The id each claim has in one engine run: its encounter id, unless two claims of the batch share it (then
    the claim's id is added), because the rules group lines by encounter."""
    seen = Counter(row.encounter_ref for row in loaded)
    return [row.encounter_ref if seen[row.encounter_ref] == 1 else f"{row.encounter_ref}#claim{row.claim_id}"
            for row in loaded]


def scrub_claims(tenant: Tenant, actor: Actor, claim_ids: Sequence[int], *, as_of: dt.date | None = None,
                 before_writing: Callable[[], None] | None = None) -> ScrubOutcome:
    """Scrub claims as ONE batch through the rule catalogue: the current versions and their lines are loaded in a
    few queries, checked in one engine run, and each claim gets a scrub run with its findings and becomes scrubbed.

    Every claim must be scrubbable (coded, scrubbed or ready) by this user, or none is scrubbed: the message names
    the ones that are not. ``before_writing`` (a job's gate, `store.jobs`) is called after the claims are loaded and
    before anything is written; it may wait, or raise to stop the scrub.
    """
    as_of = as_of or dt.date.today()
    if not claim_ids:
        return ScrubOutcome({}, {})
    loaded = _load_current_text(tenant, claim_ids)
    refusal: dict[str, str | None] = {}
    for state in {row.state for row in loaded}:  # a handful of states: the lifecycle is asked once for each
        try:
            transition(state, Action.SCRUB, role=actor.role)
            refusal[state] = None
        except TransitionError as error:
            refusal[state] = str(error)
    refused = [(row.claim_id, why) for row in loaded if (why := refusal[row.state]) is not None]
    if refused:
        shown = "; ".join(f"claim {claim_id}: {why}" for claim_id, why in refused[:5])
        raise TransitionError(f"{len(refused)} claim(s) cannot be scrubbed, none was: {shown}")
    keys = _keys(loaded)
    lines = _line_frame(tenant, loaded, keys)
    stored_path = lines.get_column("encounter_id").n_unique() == len(keys)
    billed = None if stored_path else _load_lines(tenant, [row.version_id for row in loaded])
    ran_at = utcnow()

    def check_batch() -> pl.DataFrame:
        if billed is None:
            return _check_stored(loaded, keys, lines, as_of)
        decoded = [_Loaded(row.version_id, row.claim_id, row.state, row.version, row.frequency_code,
                           row.original_reference, row.encounter_ref, _json_object(row.data)) for row in loaded]
        return _check_encounters(decoded, keys, billed, as_of)

    with _whole(tenant.session):
        # the runs and the new states need no finding: the server writes them while this process runs the rules
        connection = tenant.session.connection()  # taken here: the other thread only uses it, never the session

        def mark() -> dict[int, int]:
            if before_writing is not None:
                before_writing()
            return _mark_scrubbed(connection, tenant.organisation_id, actor, loaded, as_of, ran_at)

        run_of_version, table = _meanwhile(mark, check_batch, apart=len(loaded) >= OVERLAP_FROM)
        _expire_states(tenant.session, {row.version_id for row in loaded})
        return _store_findings(tenant, actor, loaded, keys, table, as_of, run_of_version, ran_at)


OVERLAP_FROM = 500
"""From this many claims a batch scrub writes its runs and states on a second thread while the rules run (see
`_meanwhile`); a smaller batch (the claim page's one claim) does both in turn, without a thread to start."""


def _meanwhile(write: Callable[[], _T], compute: Callable[[], _D], *, apart: bool) -> tuple[_T, _D]:
    """``write`` (database statements on the session's connection) and ``compute`` (no database: the rules), on
    two threads when ``apart``: the database server works while this process computes, so a batch scrub's wall
    time is nearer the larger of the two than their sum (on PostgreSQL the runs and states cost the server about
    as much as the rules cost this process). Only ``write`` touches the connection meanwhile, and it is joined
    before a result or an error reaches the caller, whose savepoint then undoes everything written on an error. In
    turn (not ``apart``) the rules go first, so a batch they refuse writes nothing."""
    if not apart:
        computed = compute()
        return write(), computed
    written: list[_T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            written.append(write())
        except BaseException as error:  # raised again in the caller's thread below
            failed.append(error)

    thread = threading.Thread(target=run, name="cleanclaim-scrub-store")
    thread.start()
    try:
        computed = compute()
    finally:
        thread.join()
    if failed:
        raise failed[0]
    return written[0], computed


def _json_object(text: str) -> dict[str, Any]:
    value = json.loads(text)
    assert isinstance(value, dict)
    return value


def _payer_profile(payer: str) -> PayerProfile:
    try:
        return profile_for(payer)
    except InputError as error:
        raise CleanclaimError(f"the scrub could not check every claim, none was stored: {error}") from None


def _check_stored(loaded: Sequence[_Loaded[str]], keys: list[str], lines: pl.DataFrame,
                  as_of: dt.date) -> pl.DataFrame:
    """The engine's rules over the stored claims as columns (`tables_from_stored`), built without a Python object
    per claim (which cost a 10,000-claim scrub more than the rules did). Same findings as `_check_encounters` on
    claims with billed lines (tests/store/test_scrub_tables.py proves it on varied claims)."""
    encounters = pl.DataFrame({"encounter_id": keys, "data": [row.data for row in loaded]},
                              schema={"encounter_id": pl.String, "data": pl.String})
    tables = tables_from_stored(encounters, lines, _payer_profile, as_of=as_of)
    table, failures = check_tables(tables)
    if failures:
        problems = [str(f.to_dict()) for f in failures]
        raise CleanclaimError(f"the scrub could not check every claim, none was stored: {'; '.join(problems[:5])}")
    return table


def _check_encounters(loaded: Sequence[_Loaded[dict[str, Any]]], keys: list[str],
                      lines: dict[int, list[dict[str, Any]]], as_of: dt.date) -> pl.DataFrame:
    """The batch through `check` as Encounter objects: for a batch with a claim without billed lines, which
    `check` codes from its documented services first (the coder's findings then stand in for the rules')."""
    encounters = [_billed_encounter(row.data, lines[row.version_id], version=row.version,
                                    frequency_code=row.frequency_code, original_reference=row.original_reference,
                                    key=key) for row, key in zip(loaded, keys, strict=True)]
    result = check(encounters, as_of=as_of)
    if result.errors or result.failures:
        problems = [str(e) for e in result.errors] + [str(f.to_dict()) for f in result.failures]
        raise CleanclaimError(f"the scrub could not check every claim, none was stored: {'; '.join(problems[:5])}")
    return result.table


def _mark_scrubbed(connection: Connection, organisation_id: int, actor: Actor, loaded: Sequence[_Loaded[Any]],
                   as_of: dt.date, ran_at: dt.datetime) -> dict[int, int]:
    """Add each loaded version's scrub run and move the version to scrubbed with the run as its latest; returns
    version id -> run id. Scoped to the organisation; the caller's savepoint makes it whole with the findings. The
    runs come back with their ids from one INSERT ... SELECT ... RETURNING (`store.bulk.insert_each`, matched by
    version: each claim of the batch has one current version). Touches only the connection (the session's, taken
    by the caller), not the session or its objects (`_expire_states` is the caller's), so it may run on another
    thread (`_meanwhile`)."""
    run_of_version: dict[int, int] = dict(insert_each(
        connection, _table(m.ScrubRun), "claim_version_id", [row.version_id for row in loaded],
        constants={"organisation_id": organisation_id, "as_of": as_of, "ran_by_id": actor.id, "ran_at": ran_at}))
    versions = _table(m.ClaimVersion)
    # the run just added is each version's latest: the claim list's rule filter and counts read this pointer. Set
    # from the ids RETURNING gave, by primary key: a correlated max() over scrub_runs made the planners walk the
    # organisation's runs once per version (13 s for 10,000 claims on SQLite)
    update_by_id(connection, versions, "latest_scrub_run_id", run_of_version,
                 where=versions.c.organisation_id == organisation_id,
                 constants={"state": ClaimState.SCRUBBED.value, "state_changed_at": ran_at})
    return run_of_version


def _store_findings(tenant: Tenant, actor: Actor, loaded: Sequence[_Loaded[Any]], keys: list[str],
                    table: pl.DataFrame, as_of: dt.date, run_of_version: Mapping[int, int],
                    ran_at: dt.datetime) -> ScrubOutcome:
    """Write the batch's findings (under the runs `_mark_scrubbed` added) and one audit event per claim, every one
    scoped to the organisation; both go through `store.bulk.append_rows` (COPY on PostgreSQL)."""
    connection = tenant.session.connection()
    organisation_id = tenant.organisation_id
    run_of_key = {key: run_of_version[row.version_id] for key, row in zip(keys, loaded, strict=True)}
    claim_of_key = {key: row.claim_id for key, row in zip(keys, loaded, strict=True)}
    encounter_column = table.get_column("encounter").to_list()
    unknown = set(encounter_column) - set(run_of_key)
    if unknown:  # a finding the engine attached to no claim of the batch cannot be stored against one
        raise CleanclaimError(f"the engine reported findings for unknown encounter(s): {sorted(map(str, unknown))}")
    runs = [run_of_key[encounter] for encounter in encounter_column]
    # references as tuples: a rule's few distinct lists are turned into JSON once each, not once per finding
    references = [tuple(value) if value else () for value in table.get_column("references").to_list()]
    append_rows(connection, _table(m.FindingRecord),
                ("scrub_run_id", "rule", "rule_id", "severity", "line", "code", "message", "fix", "references"),
                zip(runs, *(table.get_column(name).to_list() for name in
                            ("rule", "id", "severity", "line", "code", "message", "fix")), references, strict=True),
                constants={"organisation_id": organisation_id})
    none = dict.fromkeys((s.value for s in Severity), 0)  # the enum read once, not once per claim
    counts: dict[int, dict[str, int]] = {row.claim_id: none.copy() for row in loaded}
    for (encounter, severity), n in Counter(zip(encounter_column, table.get_column("severity").to_list(),
                                                 strict=True)).items():
        counts[claim_of_key[encounter]][severity] += n
    scrubbed, day = ClaimState.SCRUBBED.value, as_of.isoformat()
    before = {state: {"state": state} for state in {row.state for row in loaded}}  # one object (and JSON) a state
    append_rows(connection, _table(m.AuditEvent), ("entity_id", "before", "after"), (
        (str(row.version_id), before[row.state],
         {"state": scrubbed, "scrub_run_id": run_of_version[row.version_id], "as_of": day, **counts[row.claim_id]})
        for row in loaded),
        constants={"organisation_id": organisation_id, "user_id": actor.id, "at": ran_at, "entity": "claim_version",
                   "action": "scrub"})
    return ScrubOutcome({claim_of_key[key]: run for key, run in run_of_key.items()}, counts)


def _expire_states(session: Session, version_ids: set[int]) -> None:
    """Versions this session already holds as objects were updated behind the ORM's back: their state is read
    again on next access (what ``synchronize_session`` did for an ORM update, without its per-row cost)."""
    for row in list(session.identity_map.values()):
        if isinstance(row, m.ClaimVersion) and row.id in version_ids:
            session.expire(row, ["state", "state_changed_at", "latest_scrub_run_id"])


# -------------------------------------------------------------------------------------- override, ready, outcomes


def override_finding(tenant: Tenant, actor: Actor, finding_id: int, reason: str | None) -> m.FindingRecord:
    """Record a biller's override of a finding of the claim's latest scrub: who, why, when."""
    finding = tenant.get(m.FindingRecord, finding_id)
    if finding is None:
        raise NotFoundError(f"finding {finding_id} not found")
    text = check_override(actor.role, reason)
    run = tenant.get(m.ScrubRun, finding.scrub_run_id)
    version = tenant.get(m.ClaimVersion, run.claim_version_id) if run is not None else None
    if run is None or version is None:
        raise NotFoundError(f"finding {finding_id} not found")
    latest = latest_scrub(tenant, version)
    if not version.is_current or latest is None or latest.id != run.id:
        raise TransitionError("this finding is from an earlier scrub or an earlier version of the claim; override "
                              "the findings of its latest scrub")
    if version.state != ClaimState.SCRUBBED:
        raise TransitionError(f"a {version.state.replace('_', ' ')} claim's findings cannot be overridden; "
                              "scrub it again first")
    if finding.overridden_by_id is not None:
        raise TransitionError(f"finding {finding_id} is already overridden ({finding.override_reason!r})")
    with _whole(tenant.session):
        before = snapshot(finding)
        finding.overridden_by_id, finding.override_reason, finding.overridden_at = actor.id, text, utcnow()
        tenant.session.flush()
        _audit(tenant, actor, "finding", finding.id, "override", before, snapshot(finding))
    return finding


def _move(tenant: Tenant, actor: Actor, version: m.ClaimVersion, action: Action, *,
          extra: dict[str, Any] | None = None, findings: Sequence[m.FindingRecord] = ()) -> m.ClaimVersion:
    target = transition(version.state, action, role=actor.role, findings=findings)
    with _whole(tenant.session):
        before = snapshot(version)
        version.state = target.value
        tenant.session.flush()
        _audit(tenant, actor, "claim_version", version.id, action.value, before, {**snapshot(version), **(extra or {})})
    return version


def mark_ready(tenant: Tenant, actor: Actor, claim_id: int) -> m.ClaimVersion:
    """Release a scrubbed claim for submission: refused while an error finding of its latest scrub stands."""
    version = current_version(tenant, claim_id)
    run = latest_scrub(tenant, version)
    findings = list(run.findings) if run is not None else []
    return _move(tenant, actor, version, Action.MARK_READY, findings=findings,
                 extra={"scrub_run_id": run.id if run is not None else None})


def mark_all_ready(tenant: Tenant, actor: Actor, claim_ids: Sequence[int]) -> list[m.ClaimVersion]:
    """Release several claims (the claim list's bulk action), all or none: the first refusal (not scrubbed, an error
    finding standing, not of this organisation) undoes the ones before it and is raised."""
    with tenant.session.begin_nested():
        return [mark_ready(tenant, actor, claim_id) for claim_id in dict.fromkeys(claim_ids)]


def appeal_claim(tenant: Tenant, actor: Actor, claim_id: int, *, note: str | None = None) -> m.ClaimVersion:
    """Appeal the payer's decision on a denied or partly paid claim."""
    return _move(tenant, actor, current_version(tenant, claim_id), Action.APPEAL,
                 extra={"note": (note or "").strip() or None})


def write_off_claim(tenant: Tenant, actor: Actor, claim_id: int, reason: str | None) -> m.ClaimVersion:
    """Write off what the payer did not pay; the reason is required and kept in the trail."""
    version = current_version(tenant, claim_id)
    text = (reason or "").strip()
    transition(version.state, Action.WRITE_OFF, role=actor.role)  # the role and state first, then the reason
    if not text:
        raise InputError("a write-off needs a reason (why the balance will not be collected)", field="reason")
    return _move(tenant, actor, version, Action.WRITE_OFF, extra={"reason": text})


def correct_claim(tenant: Tenant, actor: Actor, claim_id: int) -> m.ClaimVersion:
    """Replace a denied or partly paid claim: its version becomes corrected and is kept as it was; version n+1
    (frequency 7, same patient control number, the lines copied) refers to the payer's claim control number of the
    latest remittance (2300 REF*F8) and is coded, ready to be edited and scrubbed."""
    old = current_version(tenant, claim_id)
    target = transition(old.state, Action.CORRECT, role=actor.role)
    reference = tenant.session.scalars(select(m.RemittanceClaim.payer_claim_control_number).join(
        m.ClaimVersion, m.ClaimVersion.id == m.RemittanceClaim.claim_version_id).where(
        m.RemittanceClaim.organisation_id == tenant.organisation_id, m.ClaimVersion.claim_id == claim_id,
        m.RemittanceClaim.payer_claim_control_number.is_not(None))
        .order_by(m.RemittanceClaim.id.desc()).limit(1)).first()
    with _whole(tenant.session):
        before = snapshot(old)
        old.state, old.is_current = target.value, False
        tenant.session.flush()  # one current version per claim: the old one steps down first
        new = tenant.add(m.ClaimVersion(
            claim_id=claim_id, version=old.version + 1, is_current=True, frequency_code="7",
            patient_control_number=old.patient_control_number, original_reference=reference,
            state=ClaimState.CODED.value, total_charge=old.total_charge, created_by_id=actor.id,
            explanation=old.explanation))
        copies = [m.ClaimLine(
            organisation_id=tenant.organisation_id, line_number=line.line_number, code=line.code,
            modifiers=list(line.modifiers), units=line.units, minutes=line.minutes,
            dx_pointers=list(line.dx_pointers), charge=line.charge, service_date=line.service_date,
            details=line.details) for line in old.lines]
        new.lines = copies
        tenant.session.flush()
        _audit(tenant, actor, "claim_version", old.id, "correct", before, snapshot(old))
        _audit(tenant, actor, "claim_version", new.id, "create_version", None,
               {**snapshot(new), "replaces_version_id": old.id})
    return new


def claim_count(tenant: Tenant, state: ClaimState | None = None) -> int:
    """How many current claims the organisation has (in a state): for progress totals and tests."""
    criteria: list[ColumnElement[bool]] = [m.ClaimVersion.is_current.is_(True)]
    if state is not None:
        criteria.append(m.ClaimVersion.state == state.value)
    return tenant.session.scalar(select(func.count()).select_from(m.ClaimVersion).where(
        m.ClaimVersion.organisation_id == tenant.organisation_id, *criteria)) or 0

