"""Posting an 835 into the workspace: payments, adjustments, claim states and denial tasks, once.

`cleanclaim.posting` decides what each CLP means; this module writes it. Each payment of the file (one BPR/TRN)
is posted in its own savepoint, and the first row written is the remittance itself, whose key (organisation,
TRN03 payer identifier, TRN02 trace number) is unique in the database. So posting the same 835 again finds the key
and changes nothing, and two people posting it at the same moment cannot both succeed: the second insert fails on
the key (or waits for the first on SQLite) and is reported as already posted.

A CLP that matches no claim of the organisation waiting for a payer decision is stored unmatched with the reason
(a biller looks at it), never dropped; its money is not applied to any claim.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cleanclaim.errors import InputError
from cleanclaim.formats.remittance_codes import remittance_codes
from cleanclaim.formats.x12 import starts_with_isa
from cleanclaim.formats.x12_835 import (
    Adjustment,
    RemitClaim,
    RemitLine,
    RemittanceAdvice,
    adjustment_kind,
    read_835,
)
from cleanclaim.lifecycle import ANSWERABLE, Action, Role, TransitionError, transition
from cleanclaim.model import ClaimLine
from cleanclaim.posting import PostedClaim, plan_posting
from cleanclaim.store import models as m
from cleanclaim.store.audit import values as audit_values
from cleanclaim.store.tenant import Tenant
from cleanclaim.store.types import utcnow

__all__ = ["PaymentPosting", "RemittancePosting", "post_remittance"]


@dataclass
class PaymentPosting:
    """What happened to one payment (BPR/TRN) of the file."""

    trace_number: str
    payer_identifier: str
    already_posted: bool = False
    posted: dict[str, str] = field(default_factory=dict)
    """Claim id (patient control number) -> the claim's new state."""
    unposted: list[tuple[str, str]] = field(default_factory=list)
    """(claim id, why it was not applied to a claim)."""


@dataclass
class RemittancePosting:
    payments: list[PaymentPosting]
    errors: list[InputError]
    """Parts of the file that could not be read (reported by the 835 reader); the rest was posted."""


def post_remittance(session: Session, organisation_id: int, text: str, *, user_id: int | None,
                    role: Role | str = Role.BILLER, file: str | None = None) -> RemittancePosting:
    """Post every payment of an 835 for one organisation; commit is the caller's (one transaction per request)."""
    tenant = Tenant(session, organisation_id)
    # the readers take a short one-line string for a file name; an upload is text, never a path on this server
    if not starts_with_isa(text):
        raise InputError("not an X12 835: an interchange starts with an ISA segment, and this file does not",
                         file=file)
    if "\x00" in text:
        # PostgreSQL cannot store a NUL character in text (the file is kept whole): a DataError, a 500, without this
        raise InputError(f"this is not a text file: it has a NUL byte at character {text.index(chr(0)) + 1}; an 835 "
                         "is an X12 text file", file=file)
    remittance = read_835(text)
    payments = [_post_payment(tenant, advice, text, user_id=user_id, role=Role(role))
                for advice in remittance.advices]
    errors = list(remittance.errors)
    if file is not None:
        for error in errors:
            error.file = error.file or file
    return RemittancePosting(payments, errors)


def _post_payment(tenant: Tenant, advice: RemittanceAdvice, text: str, *, user_id: int | None,
                  role: Role) -> PaymentPosting:
    session = tenant.session
    result = PaymentPosting(advice.trace_number, advice.payer_identifier)
    key = (m.Remittance.payer_identifier == advice.payer_identifier,
           m.Remittance.trace_number == advice.trace_number)
    # The insert comes before any read: on SQLite a transaction that read first cannot take the write lock once
    # another writer committed ("database is locked"), while one that writes first waits for it (busy timeout).
    try:
        with session.begin_nested():
            remittance = tenant.add(m.Remittance(
                trace_number=advice.trace_number, payer_identifier=advice.payer_identifier,
                payment_amount=advice.payment_amount if advice.payment_amount is not None else Decimal(0),
                file_text=text, posted_by_id=user_id))
            session.flush()  # the key first: a concurrent post of the same payment stops here
            _apply(tenant, remittance, advice, result, user_id=user_id, role=role)
    except IntegrityError:
        if session.scalars(tenant.select(m.Remittance, *key)).first() is None:
            raise
        result = PaymentPosting(advice.trace_number, advice.payer_identifier, already_posted=True)
    return result


@dataclass
class _Version:
    """What posting reads of a current claim version: plain values from two queries, not ORM objects (a 5,000-claim
    835 would otherwise build 15,000 of them just to read them)."""

    id: int
    claim_id: int
    patient_control_number: str
    state: str
    line_ids: dict[int, int]
    """line number -> claim line id"""
    billed: _StoredClaim


def _answerable_versions(tenant: Tenant, numbers: list[str]) -> dict[str, _Version]:
    version, line = m.ClaimVersion, m.ClaimLine
    organisation = tenant.organisation_id
    rows = tenant.session.execute(select(version.id, version.claim_id, version.patient_control_number, version.state)
                                  .where(version.organisation_id == organisation, version.is_current.is_(True),
                                         version.patient_control_number.in_(numbers),
                                         version.state.in_([state.value for state in ANSWERABLE]))).all()
    lines: dict[int, list[Any]] = {row.id: [] for row in rows}
    if rows:
        for found in tenant.session.execute(
                select(line.claim_version_id, line.id, line.line_number, line.code, line.modifiers, line.units,
                       line.service_date)
                .where(line.organisation_id == organisation, line.claim_version_id.in_(list(lines)))
                .order_by(line.claim_version_id, line.line_number)):
            lines[found.claim_version_id].append(found)
    versions = {}
    for row in rows:
        billed = [ClaimLine(code=x.code, modifiers=list(x.modifiers), units=x.units, date=x.service_date)
                  for x in lines[row.id]]
        first = min((x.service_date for x in lines[row.id]), default=dt.date.min)
        versions[row.patient_control_number] = _Version(
            row.id, row.claim_id, row.patient_control_number, row.state,
            {x.line_number: x.id for x in lines[row.id]}, _StoredClaim(row.patient_control_number, first, billed))
    return versions


def _apply(tenant: Tenant, remittance: m.Remittance, advice: RemittanceAdvice, result: PaymentPosting, *,
           user_id: int | None, role: Role) -> None:
    """Write the payment in a few batched statements per table, whatever its size: the CLPs, their SVCs and CAS as
    bulk INSERTs (ids returned in order), the claims' new states as one executemany UPDATE, the denial tasks and the
    audit events as bulk INSERTs (issue 12: a 5,000-claim remittance posts in <= 5 s)."""
    organisation = tenant.organisation_id
    numbers = sorted({claim.patient_control_number for claim in advice.claims})
    versions = _answerable_versions(tenant, numbers)
    plan = plan_posting(advice, {number: version.billed for number, version in versions.items()})
    claims: list[tuple[RemitClaim, _Version | None, PostedClaim | None]] = []
    for unposted in plan.unposted:
        claims.append((unposted.remit, None, None))
        result.unposted.append((unposted.remit.patient_control_number, unposted.reason))
    moves: list[tuple[PostedClaim, _Version, str, str]] = []
    refused: list[tuple[str, str]] = []
    for posted in plan.posted:
        version = versions[posted.claim_id]
        before = version.state
        # two CLPs of one claim in a payment move it twice, as the ORM did: each from the state the last one left
        try:
            version.state = transition(before, Action.POST, role=role, to=posted.outcome).value
        except TransitionError as error:
            # a later CLP of a claim an earlier one already settled (a real 835 repeats a patient control number:
            # emedny_sample's three CLPs): kept as an unmatched CLP with the reason, never a failed payment
            reason = f"an earlier CLP of this payment already left the claim {before}: {error}"
            claims.append((posted.remit, None, None))
            result.unposted.append((posted.remit.patient_control_number, reason))
            refused.append((posted.remit.patient_control_number, reason))
            continue
        claims.append((posted.remit, version, posted))
        moves.append((posted, version, before, version.state))
        result.posted[posted.claim_id] = version.state
    _update_states(tenant, {version.id: version.state for _posted, version, _before, _after in moves})
    claim_ids = _insert_all(tenant, m.RemittanceClaim, [{
        "remittance_id": remittance.id, "patient_control_number": claim.patient_control_number,
        "status_code": claim.status, "charge": claim.charge, "paid": claim.paid,
        "patient_responsibility": claim.patient_responsibility,
        "payer_claim_control_number": claim.payer_claim_number or None,
        "claim_version_id": version.id if version is not None else None} for claim, version, _posted in claims])
    line_rows: list[dict[str, Any]] = []
    line_owners: list[tuple[int, RemitLine, RemitClaim]] = []
    for (claim, matched_version, answer), claim_id in zip(claims, claim_ids, strict=True):
        billed_ids = matched_version.line_ids if matched_version is not None else {}
        matched = answer.lines if answer is not None else [None] * len(claim.lines)
        for remit_line, match in zip(claim.lines, matched, strict=True):
            line_rows.append({
                "remittance_claim_id": claim_id, "code": remit_line.code, "modifiers": list(remit_line.modifiers),
                "charge": remit_line.charge, "paid": remit_line.paid, "units": remit_line.units,
                "service_date": remit_line.date,
                "claim_line_id": billed_ids.get(match.billed.line_number) if match and match.billed else None})
            line_owners.append((claim_id, remit_line, claim))
    line_ids = _insert_all(tenant, m.RemittanceLine, line_rows)
    adjustments: list[dict[str, Any]] = []
    for (claim_id, remit_line, claim), line_id in zip(line_owners, line_ids, strict=True):
        adjustments += _adjustments(claim_id, line_id, remit_line.adjustments, [*remit_line.remarks, *claim.remarks])
    for (claim, _version, _posted), claim_id in zip(claims, claim_ids, strict=True):
        adjustments += _adjustments(claim_id, None, claim.adjustments, claim.remarks)
    _insert_all(tenant, m.RemittanceAdjustment, adjustments)
    open_tasks = _open_tasks(tenant, [version.claim_id for _posted, version, _before, _after in moves])
    row_ids = {id(claim): claim_id for (claim, _version, _posted), claim_id in zip(claims, claim_ids, strict=True)}
    tasks: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for posted, version, before, after in moves:
        tasks += _denial_tasks(version.claim_id, row_ids[id(posted.remit)], posted.remit, open_tasks)
        events.append(audit_values(
            organisation_id=organisation, user_id=user_id, entity="claim_version", entity_id=version.id,
            action="post", before={"state": before},
            after={"state": after, "trace_number": advice.trace_number, "paid": posted.remit.paid,
                   "denied": posted.denied}))
    events.append(audit_values(
        organisation_id=organisation, user_id=user_id, entity="remittance", entity_id=remittance.id, action="post",
        after={"trace_number": advice.trace_number, "payer_identifier": advice.payer_identifier,
               "claims_posted": len(moves), "claims_unposted": len(plan.unposted) + len(refused),
               # why each CLP was not applied: the remittance page shows it (no column holds it)
               "unposted": [[u.remit.patient_control_number, u.reason] for u in plan.unposted]
               + [list(item) for item in refused]}))
    _insert_all(tenant, m.DenialTask, tasks)
    _insert_all(tenant, m.AuditEvent, events)


def _update_states(tenant: Tenant, states: dict[int, str]) -> None:
    """Set the posted claims' states in one executemany (Core, so ``state_changed_at`` is set here: the model's
    attribute listener only sees ORM writes), and expire any of those versions this session holds, so no caller
    reads a state from before the post."""
    if not states:
        return
    table = inspect(m.ClaimVersion).local_table
    assert isinstance(table, Table)
    now = utcnow()
    tenant.session.connection().execute(
        table.update()
        .where(table.c.id == bindparam("version_id"), table.c.organisation_id == tenant.organisation_id)
        .values(state=bindparam("new_state"), state_changed_at=now),
        [{"version_id": version_id, "new_state": state} for version_id, state in states.items()])
    for row in list(tenant.session.identity_map.values()):
        if isinstance(row, m.ClaimVersion) and row.id in states:
            tenant.session.expire(row)


def _insert_all(tenant: Tenant, model: type[m.TenantOwned], rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows of this organisation in one batched statement; their ids, in the order of ``rows``.

    PostgreSQL: ids drawn from the table's sequence first, then one COPY (see `_copy_rows`). SQLite cannot promise the
    order of RETURNING rows, so SQLAlchemy would fall back to one INSERT per row; instead the rows go in one
    executemany, in order, while this transaction holds SQLite's only write lock (the remittance row was written
    first), and an INTEGER PRIMARY KEY takes max(id) + 1 for each: the ids are the next ``len(rows)`` numbers. That
    is checked, not assumed.
    """
    if not rows:
        return []
    session = tenant.session
    for row in rows:
        row["organisation_id"] = tenant.organisation_id
    if session.get_bind().dialect.name == "postgresql":
        return _copy_rows(tenant, model, rows)
    if session.get_bind().dialect.name != "sqlite":
        return list(session.scalars(insert(model).returning(model.id, sort_by_parameter_order=True), rows))
    # Core statements on the session's connection: the whole table's ids (the tenant filter would hide others')
    table = inspect(model).local_table
    assert isinstance(table, Table)
    connection = session.connection()
    highest = select(func.coalesce(func.max(table.c.id), 0))
    before = int(connection.execute(highest).scalar_one())
    connection.execute(table.insert(), rows)
    after = int(connection.execute(highest).scalar_one())
    count = connection.execute(select(func.count()).select_from(table).where(table.c.id > before)).scalar_one()
    if after - before != len(rows) or count != len(rows):
        raise RuntimeError(f"SQLite gave {table.name} ids {before + 1}..{after} to {len(rows)} new rows: not one "
                           "id each in order; nothing is written (the transaction is rolled back)")
    return list(range(before + 1, after + 1))


@dataclass(frozen=True)
class _StoredClaim:
    """A stored claim version as the line matcher reads a billed claim (x12_835.BilledClaim)."""

    id: str
    date: dt.date
    lines: list[ClaimLine]


def _copy_rows(tenant: Tenant, model: type[m.TenantOwned], rows: list[dict[str, Any]]) -> list[int]:
    """PostgreSQL: take ``len(rows)`` ids from the table's own sequence, then write the rows with those ids in one
    COPY. A batched INSERT ... RETURNING costs psycopg a parse of a query with one placeholder per value (about 40%
    of posting a 5,000-claim 835); COPY sends the values as data. Each value still goes through its column type's
    bind processing (Money refuses a float or a sub-cent amount here as anywhere)."""
    table = inspect(model).local_table
    assert isinstance(table, Table)
    connection = tenant.session.connection()
    dialect = connection.dialect
    ids = [int(value) for value in connection.execute(
        select(func.nextval(func.pg_get_serial_sequence(table.name, "id"))).select_from(
            func.generate_series(1, len(rows)))).scalars()]
    columns = ["id", *rows[0]]
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
    raw = connection.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(
            f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:  # names from the model, not input
        for row_id, row in zip(ids, rows, strict=True):
            values = (row_id, *(row[name] for name in columns[1:]))
            copy.write_row([value if process is None or value is None else process(value)
                            for process, value in zip(processors, values, strict=True)])
    return ids


def _adjustments(claim_id: int, line_id: int | None, adjustments: Sequence[Adjustment],
                 remarks: Sequence[str]) -> list[dict[str, Any]]:
    return [{"remittance_claim_id": claim_id, "remittance_line_id": line_id, "group_code": adjustment.group,
             "carc": adjustment.reason, "amount": adjustment.amount, "rarcs": list(remarks)}
            for adjustment in adjustments]


def _open_tasks(tenant: Tenant, claim_ids: list[int]) -> set[tuple[int, str]]:
    """(claim id, CARC) of the open denial tasks of these claims, read once for the whole payment."""
    if not claim_ids:
        return set()
    task = m.DenialTask
    return {(claim_id, carc) for claim_id, carc in tenant.session.execute(select(task.claim_id, task.carc).where(
        task.organisation_id == tenant.organisation_id, task.claim_id.in_(sorted(set(claim_ids))),
        task.resolved_at.is_(None)))}


def _denial_tasks(claim_id: int, remittance_claim_id: int, claim: RemitClaim,
                  open_tasks: set[tuple[int, str]]) -> list[dict[str, Any]]:
    """One follow-up task per denial reason (CARC) of the claim, for the denial worklist; open tasks of the same
    claim and reason are not repeated when a later remittance denies it again."""
    codes = remittance_codes()
    reasons = sorted({a.reason for a in [*claim.adjustments, *(a for line in claim.lines for a in line.adjustments)]
                      if adjustment_kind(a, codes) == "denial"})
    tasks = []
    for carc in reasons:
        if (claim_id, carc) not in open_tasks:
            tasks.append({"claim_id": claim_id, "remittance_claim_id": remittance_claim_id, "carc": carc,
                          "created_at": utcnow()})
            open_tasks.add((claim_id, carc))
    return tasks
