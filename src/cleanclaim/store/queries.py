"""The workspace's read side: the claim list, a claim's page, the denial worklist and a claim's audit trail.

The web pages and the REST API are thin layers over these functions, so a page and its JSON twin cannot disagree
about which claims match a filter. Every function takes a :class:`~cleanclaim.store.tenant.Tenant`: the session it
carries is bound to one organisation (every ORM select is filtered by it), and each query also names the
organisation itself, so an id of another organisation reads as "not found" (None), never as its data.

Results are plain frozen dataclasses (money as Decimal), not ORM rows: a template or a JSON encoder can read them
after the session is closed, and nothing on a page can lazy-load a row the query did not scope.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select, true

from cleanclaim.errors import CleanclaimError
from cleanclaim.formats.remittance_codes import remittance_codes
from cleanclaim.formats.x12_835 import denial_rules_for
from cleanclaim.lifecycle import ClaimState
from cleanclaim.model import Severity
from cleanclaim.store import models as m
from cleanclaim.store.claims import latest_scrub
from cleanclaim.store.tenant import Tenant

__all__ = [
    "AUDIT_ENTITIES",
    "COUNT_CAP",
    "MAX_PAGE_SIZE",
    "AdjustmentView",
    "AuditEntry",
    "ClaimDetail",
    "ClaimFilter",
    "ClaimListRow",
    "ClaimPage",
    "ClaimSort",
    "DenialReasonGroup",
    "DenialTaskView",
    "FindingView",
    "LineView",
    "QueryError",
    "RemittanceView",
    "ScrubView",
    "VersionView",
    "adjustment_view",
    "claim_audit_trail",
    "claim_detail",
    "claim_list",
    "denial_task",
    "denial_worklist",
]

MAX_PAGE_SIZE = 500
"""A page larger than this is refused: the list is paginated so that no request reads the whole table."""

COUNT_CAP = 1_000
"""The claim list counts matching claims up to this many (or up to the end of the page asked for, if further) and
past it says "at least" (``ClaimPage.total_capped``; the page shows "1,000+"). Counting every match was most of a
list request's time at 100,000 claims (a payer's 16,600 claims: 120 ms of a 155 ms request on PostgreSQL under
load; capped at 1,000: 27 ms, bench/README.md), and twenty pages are more than anyone pages through: a biller facing
more narrows the filter."""

AUDIT_ENTITIES = ("claim", "claim_version", "scrub_run", "finding", "denial_task")
"""The ``AuditEvent.entity`` names that belong to a claim's trail, with ``entity_id`` the row's id: writers of the
trail (store.posting, the claim and denial services) use these names so the claim page can find every change."""


class QueryError(CleanclaimError):
    """A list request that cannot be answered as asked (an unknown sort, a page size out of range, a cursor this
    list did not issue); the message says what is accepted."""


class ClaimSort(StrEnum):
    """What the claim list can be ordered by; ties are broken by the claim version's id, so paging is stable."""

    STATE_CHANGED = "state_changed_at"
    """When the claim entered its state: ascending puts the claims that have waited longest first."""
    DATE_OF_SERVICE = "date_of_service"
    PATIENT_CONTROL_NUMBER = "patient_control_number"
    TOTAL_CHARGE = "total_charge"
    CREATED = "created"
    """The order claims were entered (the version's id)."""


@dataclass(frozen=True)
class ClaimFilter:
    """Which claims the list shows; every field left empty matches every claim.

    ``rule`` is a rule slug (``deleted-code``): claims whose current scrub (the latest scrub of the current version)
    has a finding of that rule, overridden or not. ``text`` matches part of the patient control number, ignoring
    case. ``service_from``/``service_to`` bound the encounter's date of service, both ends included.
    """

    states: tuple[ClaimState | str, ...] = ()
    payer_id: int | None = None
    """The store's id of the payer (``Payer.id``), as the page's payer menu gives it."""
    provider_id: int | None = None
    service_from: date | None = None
    service_to: date | None = None
    rule: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class ClaimListRow:
    """One claim as the list shows it: its current version, who it bills and how its current scrub went."""

    claim_id: int
    version_id: int
    version: int
    patient_control_number: str
    patient_ref: str
    provider_npi: str
    payer_name: str | None
    payer_id: str | None
    date_of_service: date
    state: str
    total_charge: Decimal
    errors: int
    """Error findings of the current scrub that still stand (not overridden)."""
    warnings: int
    overridden: int
    """Error findings of the current scrub that a biller overrode with a reason."""
    scrubbed: bool
    """Whether the current version has been scrubbed at all (no scrub: the counts are not "clean", they are unknown)."""
    state_changed_at: datetime
    days_in_state: int


@dataclass(frozen=True)
class ClaimPage:
    rows: list[ClaimListRow]
    total: int
    """How many claims match the filter, on every page; when ``total_capped``, at least this many (the count stops
    at :data:`COUNT_CAP`, or at the end of the page asked for when that is further)."""
    limit: int
    offset: int
    next_cursor: str | None
    """Pass as ``after`` to read the next page by keyset (stable while claims are added); None on the last page."""
    total_capped: bool = False
    """True: more than ``total`` claims match, show it as "10,000+"; False: ``total`` is the exact count."""


@dataclass(frozen=True)
class LineView:
    line_number: int
    code: str
    modifiers: list[str]
    units: Decimal
    minutes: int | None
    dx_pointers: list[int]
    charge: Decimal
    service_date: date
    charge_given: bool = True
    """False when the line has no charge (coded without a charge master entry, or entered without one): ``charge``
    is then 0.00 as stored, and the 837P writer refuses the claim until it is given."""


@dataclass(frozen=True)
class VersionView:
    id: int
    version: int
    is_current: bool
    frequency_code: str
    patient_control_number: str
    original_reference: str | None
    state: str
    total_charge: Decimal
    created_by_id: int | None
    created_at: datetime
    state_changed_at: datetime
    lines: list[LineView]
    explanation: list[str] = field(default_factory=list)
    """The coder's arithmetic in plain words (empty when the lines were entered or edited by hand)."""


@dataclass(frozen=True)
class FindingView:
    id: int
    rule: str
    rule_id: str
    severity: str
    line: int | None
    code: str | None
    message: str
    fix: str
    references: list[str]
    overridden_by_id: int | None
    override_reason: str | None
    overridden_at: datetime | None


@dataclass(frozen=True)
class ScrubView:
    id: int
    version_id: int
    as_of: date
    ran_by_id: int | None
    ran_at: datetime
    findings: list[FindingView]


@dataclass(frozen=True)
class AdjustmentView:
    group_code: str
    carc: str
    description: str
    kind: str
    amount: Decimal
    rarcs: list[str]


@dataclass(frozen=True)
class RemitLineView:
    code: str
    modifiers: list[str]
    charge: Decimal
    paid: Decimal
    units: Decimal | None
    service_date: date | None
    claim_line_id: int | None
    adjustments: list[AdjustmentView]


@dataclass(frozen=True)
class RemittanceView:
    """One CLP of a posted 835 that answered a version of the claim."""

    id: int
    remittance_id: int
    trace_number: str
    payer_identifier: str
    posted_at: datetime
    version_id: int | None
    status_code: str
    charge: Decimal
    paid: Decimal
    patient_responsibility: Decimal | None
    payer_claim_control_number: str | None
    adjustments: list[AdjustmentView]
    """Claim-level CAS only; each line carries its own."""
    lines: list[RemitLineView]


@dataclass(frozen=True)
class DenialTaskView:
    id: int
    claim_id: int
    patient_control_number: str
    carc: str
    description: str
    amount: Decimal
    """What the payer denied for this CARC on the remittance that opened the task (0 for a task opened by hand)."""
    rule_slugs: list[str]
    assignee_id: int | None
    note: str | None
    due_date: date | None
    created_at: datetime
    resolved_at: datetime | None
    provider_npi: str
    payer_name: str | None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    user_id: int | None
    entity: str
    entity_id: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True)
class ClaimDetail:
    """Everything the claim page shows, read in one call."""

    claim_id: int
    encounter_id: int
    encounter_ref: str
    date_of_service: date
    patient_ref: str
    provider_npi: str
    provider_discipline: str
    payer_name: str | None
    payer_id: str | None
    versions: list[VersionView]
    """Oldest first; exactly one is current."""
    current_scrub: ScrubView | None
    """The latest scrub of the current version (None: not scrubbed since it was made)."""
    remittances: list[RemittanceView]
    denial_tasks: list[DenialTaskView]
    audit: list[AuditEntry]

    @property
    def current(self) -> VersionView:
        return next(version for version in self.versions if version.is_current)


@dataclass(frozen=True)
class DenialReasonGroup:
    """Open denial tasks of one CARC: how many, how much, and what would have prevented them."""

    carc: str
    description: str
    tasks: int
    claims: int
    amount: Decimal
    rule_slugs: list[str]
    """The cleanclaim rules that would have caught it before submission (empty: none is mapped)."""
    preventable: str | None
    """yes / partly / no, from the CARC's row in denial_rules.csv; None when the CARC has no row."""
    advice: str
    items: list[DenialTaskView] = field(default_factory=list)


# --- the claim list -------------------------------------------------------------------------------------------------

_Version = m.ClaimVersion
_Encounter = m.EncounterRecord


def _sort_column(sort: ClaimSort) -> Any:
    return {
        ClaimSort.STATE_CHANGED: _Version.state_changed_at,
        ClaimSort.DATE_OF_SERVICE: _Encounter.date_of_service,
        ClaimSort.PATIENT_CONTROL_NUMBER: _Version.patient_control_number,
        ClaimSort.TOTAL_CHARGE: _Version.total_charge,
        ClaimSort.CREATED: _Version.id,
    }[sort]


def _filters(tenant: Tenant, wanted: ClaimFilter) -> tuple[list[ColumnElement[bool]], list[ColumnElement[bool]],
                                                           Select[Any] | None]:
    """The WHERE terms of a filter: those on the claim version, those on its encounter (which need it joined), and
    for a rule filter the runs with a finding of that rule (the version's latest scrub must be one of them)."""
    organisation = tenant.organisation_id
    terms: list[ColumnElement[bool]] = [_Version.organisation_id == organisation, _Version.is_current == true()]
    on_encounter: list[ColumnElement[bool]] = []
    if wanted.states:
        try:
            states = [ClaimState(state).value for state in wanted.states]
        except ValueError as error:  # a misspelt state is an error, not an empty list
            raise QueryError(f"unknown claim state in {list(wanted.states)}; the states are: "
                             f"{', '.join(state.value for state in ClaimState)}") from error
        terms.append(_Version.state.in_(states))
    if wanted.payer_id is not None:
        on_encounter.append(_Encounter.payer_id == wanted.payer_id)
    if wanted.provider_id is not None:
        on_encounter.append(_Encounter.provider_id == wanted.provider_id)
    if wanted.service_from is not None:
        on_encounter.append(_Encounter.date_of_service >= wanted.service_from)
    if wanted.service_to is not None:
        on_encounter.append(_Encounter.date_of_service <= wanted.service_to)
    if wanted.text:
        # LIKE's wildcards in what the user typed are matched literally
        escaped = wanted.text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        if tenant.session.get_bind().dialect.name == "sqlite":
            # SQLite's LIKE already ignores ASCII case (and X12 identifiers are ASCII); lower() per row costs 2x
            terms.append(_Version.patient_control_number.like(pattern, escape="\\"))
        else:
            terms.append(_Version.patient_control_number.ilike(pattern, escape="\\"))
    flagged = None
    if wanted.rule:
        flagged = select(m.FindingRecord.scrub_run_id).where(m.FindingRecord.organisation_id == organisation,
                                                              m.FindingRecord.rule == wanted.rule)
    return terms, on_encounter, flagged


def _encode_cursor(sort: ClaimSort, descending: bool, value: Any, version_id: int) -> str:
    if isinstance(value, datetime | date):
        value = value.isoformat()
    elif isinstance(value, Decimal):
        value = str(value)
    raw = json.dumps([sort.value, descending, value, version_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: ClaimSort, descending: bool) -> tuple[Any, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        sort_name, cursor_descending, value, version_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as error:
        raise QueryError("the page cursor is not one this list issued; start again from the first page") from error
    if sort_name != sort.value or cursor_descending != descending or not isinstance(version_id, int):
        raise QueryError("the page cursor belongs to another sort order; start again from the first page")
    try:
        if sort is ClaimSort.STATE_CHANGED:
            value = datetime.fromisoformat(value)
        elif sort is ClaimSort.DATE_OF_SERVICE:
            value = date.fromisoformat(value)
        elif sort is ClaimSort.TOTAL_CHARGE:
            value = Decimal(value)
    except (TypeError, ValueError, ArithmeticError) as error:
        raise QueryError("the page cursor is damaged; start again from the first page") from error
    return value, version_id


def _after(column: Any, descending: bool, value: Any, version_id: int) -> ColumnElement[bool]:
    """Rows strictly after (value, version id) in the list's order."""
    if descending:
        return or_(column < value, and_(column == value, _Version.id < version_id))
    return or_(column > value, and_(column == value, _Version.id > version_id))


def claim_list(
    tenant: Tenant,
    wanted: ClaimFilter | None = None,
    *,
    sort: ClaimSort | str = ClaimSort.STATE_CHANGED,
    descending: bool = True,
    limit: int = 50,
    offset: int = 0,
    after: str | None = None,
    today: date | None = None,
) -> ClaimPage:
    """A page of the organisation's claims (their current versions) matching ``wanted``, with the total count.

    Page by ``offset`` (jump to page n) or by ``after``, the ``next_cursor`` of the previous page (keyset: a claim
    added while someone pages does not shift or repeat rows). ``today`` is the date "days in state" counts to
    (default: today, UTC).
    """
    wanted = wanted or ClaimFilter()
    try:
        sort = ClaimSort(sort)
    except ValueError as error:
        raise QueryError(f"cannot sort claims by {sort!r}; sort by one of: "
                         f"{', '.join(s.value for s in ClaimSort)}") from error
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise QueryError(f"a page holds 1 to {MAX_PAGE_SIZE} claims, not {limit}")
    if offset < 0:
        raise QueryError(f"the offset is a number of claims to skip, 0 or more, not {offset}")
    if after is not None and offset:
        raise QueryError("page by offset or by cursor (after), not both")
    session = tenant.session
    terms, on_encounter, flagged = _filters(tenant, wanted)

    # count no further than the cap (one row past it tells "more"): the database stops reading there
    cap = max(COUNT_CAP, offset + limit)
    matching = select(_Version.id).select_from(_Version)
    if on_encounter:
        matching = matching.join(m.Claim, m.Claim.id == _Version.claim_id).join(
            _Encounter, _Encounter.id == m.Claim.encounter_id)
    matching = matching.where(*terms, *on_encounter)
    if flagged is not None:
        # the version's latest scrub (its pointer) among the runs with a finding of the rule: a semi-join that can
        # start from the rule's findings, so a rare rule costs little
        matching = matching.where(_Version.latest_scrub_run_id.in_(flagged))
    matched: list[int] | None = None
    if cap == COUNT_CAP:  # the matches' ids (at most 1,001 of them): their count, and on SQLite the page's candidates
        matched = list(session.scalars(matching.limit(cap + 1)))
        counted = len(matched)
    else:
        counted = session.scalar(select(func.count()).select_from(matching.limit(cap + 1).subquery())) or 0
    total, capped = min(counted, cap), counted > cap

    # Two steps: the page's version ids first, from claim_versions alone (and the encounter when a filter or the sort
    # needs it) in an index's order, then the columns shown for those 50 ids. One query with every join lets a
    # planner start from a small table (the providers) and sort all 100,000 rows to keep 50.
    column = _sort_column(sort)
    ids: Select[Any] = select(_Version.id, column.label("sort_value")).select_from(_Version)
    if sort is ClaimSort.DATE_OF_SERVICE:
        ids = ids.join(m.Claim, m.Claim.id == _Version.claim_id).join(_Encounter, _Encounter.id == m.Claim.encounter_id)
    if counted <= _FEW and session.get_bind().dialect.name == "sqlite":
        # SQLite walks the sort's index and reads each version's row to test the filter until a page matches: for a
        # rare match (a claim number, a provider's month) that is every row. Few matches: take them by id from the
        # count's query (the PCN index for a search) and sort those.
        ids = ids.where(_Version.organisation_id == tenant.organisation_id,
                        _Version.id.in_(matched if matched is not None else matching))
    else:
        ids = ids.where(*terms)
        if on_encounter and sort is not ClaimSort.DATE_OF_SERVICE:
            # many matches: walk the sort's index and test each version's encounter, so the page stops after 50
            # (joined, SQLite starts from the encounters index instead and sorts every match of a payer to keep 50)
            ids = ids.where(exists().where(
                m.Claim.id == _Version.claim_id, m.Claim.organisation_id == tenant.organisation_id,
                _Encounter.id == m.Claim.encounter_id, _Encounter.organisation_id == tenant.organisation_id,
                *on_encounter))
        elif on_encounter:
            ids = ids.where(*on_encounter)
        if flagged is not None:  # the same walk: each version's latest scrub probed for a finding of the rule
            ids = ids.where(exists(flagged.where(m.FindingRecord.scrub_run_id == _Version.latest_scrub_run_id)))
    if after is not None:
        value, version_id = _decode_cursor(after, sort, descending)
        ids = ids.where(_after(column, descending, value, version_id))
    order = [column.desc(), _Version.id.desc()] if descending else [column.asc(), _Version.id.asc()]
    found = session.execute(ids.order_by(*order).limit(limit + 1).offset(offset)).all()
    more = len(found) > limit
    found = found[:limit]
    details = {row.id: row for row in session.execute(
        select(
            _Version.id, _Version.claim_id, _Version.version, _Version.patient_control_number, _Version.state,
            _Version.total_charge, _Version.state_changed_at, _Version.latest_scrub_run_id,
            _Encounter.date_of_service, m.Patient.patient_ref,
            m.Provider.npi, m.Payer.name, m.Payer.payer_id,
        )
        .select_from(_Version)
        .join(m.Claim, m.Claim.id == _Version.claim_id)
        .join(_Encounter, _Encounter.id == m.Claim.encounter_id)
        .join(m.Patient, m.Patient.id == _Encounter.patient_id)
        .join(m.Provider, m.Provider.id == _Encounter.provider_id)
        .outerjoin(m.Payer, m.Payer.id == _Encounter.payer_id)
        .where(_Version.organisation_id == tenant.organisation_id, _Version.id.in_([row.id for row in found]))
    )}
    rows = [details[row.id] for row in found]
    counts = _finding_counts(tenant, {row.id: row.latest_scrub_run_id for row in rows})
    today = today or datetime.now(UTC).date()
    listed = [
        ClaimListRow(
            claim_id=row.claim_id, version_id=row.id, version=row.version,
            patient_control_number=row.patient_control_number, patient_ref=row.patient_ref, provider_npi=row.npi,
            payer_name=row.name, payer_id=row.payer_id, date_of_service=row.date_of_service, state=row.state,
            total_charge=row.total_charge, errors=counts.get(row.id, _NOT_SCRUBBED)[0],
            warnings=counts.get(row.id, _NOT_SCRUBBED)[1], overridden=counts.get(row.id, _NOT_SCRUBBED)[2],
            scrubbed=row.id in counts, state_changed_at=row.state_changed_at,
            days_in_state=(today - row.state_changed_at.date()).days,
        )
        for row in rows
    ]
    next_cursor = None
    if more and found:
        next_cursor = _encode_cursor(sort, descending, found[-1].sort_value, found[-1].id)
    return ClaimPage(listed, total, limit, offset, next_cursor, total_capped=capped)


_NOT_SCRUBBED = (0, 0, 0)
_FEW = 1000
"""At most this many matching claims are read by id and sorted on SQLite, not found by walking the sort's index."""


def _finding_counts(tenant: Tenant, latest_runs: dict[int, int | None]) -> dict[int, tuple[int, int, int]]:
    """(standing errors, warnings, overridden errors) of each version's latest scrub, given {version id: its latest
    run id}; a version never scrubbed is absent. Read for one page only, so the list costs the same on 100 claims as
    on 100,000."""
    latest = {run_id: version_id for version_id, run_id in latest_runs.items() if run_id is not None}
    if not latest:
        return {}
    session, organisation = tenant.session, tenant.organisation_id
    counts = {version_id: [0, 0, 0] for version_id in latest.values()}
    finding = m.FindingRecord
    overridden = finding.override_reason.is_not(None)
    grouped = session.execute(
        select(finding.scrub_run_id, finding.severity, overridden, func.count())
        .where(finding.organisation_id == organisation, finding.scrub_run_id.in_(list(latest)))
        .group_by(finding.scrub_run_id, finding.severity, overridden))
    for run_id, severity, was_overridden, count in grouped:
        if severity == Severity.ERROR:
            counts[latest[run_id]][2 if was_overridden else 0] += count
        elif severity == Severity.WARNING:
            counts[latest[run_id]][1] += count
    return {version_id: (c[0], c[1], c[2]) for version_id, c in counts.items()}


# --- one claim ------------------------------------------------------------------------------------------------------


def adjustment_view(row: m.RemittanceAdjustment) -> AdjustmentView:
    """A stored CAS adjustment with its reason code's description and kind (the claim and remittance pages')."""
    reason = remittance_codes().reason(row.carc)
    return AdjustmentView(row.group_code, row.carc, reason.description, reason.kind, row.amount,
                          [str(rarc) for rarc in row.rarcs])


def _finding_view(row: m.FindingRecord) -> FindingView:
    return FindingView(row.id, row.rule, row.rule_id, row.severity, row.line, row.code, row.message, row.fix,
                       [str(ref) for ref in row.references], row.overridden_by_id, row.override_reason,
                       row.overridden_at)


def claim_detail(tenant: Tenant, claim_id: int) -> ClaimDetail | None:
    """The claim page's bundle, or None when the claim is not this organisation's (the caller answers 404)."""
    session = tenant.session
    claim = tenant.get(m.Claim, claim_id)
    if claim is None:
        return None
    header = session.execute(
        select(_Encounter.id, _Encounter.encounter_ref, _Encounter.date_of_service, m.Patient.patient_ref,
               m.Provider.npi, m.Provider.discipline, m.Payer.name, m.Payer.payer_id)
        .join(m.Patient, m.Patient.id == _Encounter.patient_id)
        .join(m.Provider, m.Provider.id == _Encounter.provider_id)
        .outerjoin(m.Payer, m.Payer.id == _Encounter.payer_id)
        .where(_Encounter.organisation_id == tenant.organisation_id, _Encounter.id == claim.encounter_id)
    ).one()
    versions = list(session.scalars(tenant.select(_Version, _Version.claim_id == claim.id).order_by(_Version.version)))
    version_ids = [version.id for version in versions]
    lines: dict[int, list[LineView]] = {version_id: [] for version_id in version_ids}
    for line in session.scalars(tenant.select(m.ClaimLine, m.ClaimLine.claim_version_id.in_(version_ids))
                                .order_by(m.ClaimLine.claim_version_id, m.ClaimLine.line_number)):
        lines[line.claim_version_id].append(LineView(
            line.line_number, line.code, [str(x) for x in line.modifiers], line.units, line.minutes,
            [int(x) for x in line.dx_pointers], line.charge, line.service_date,
            not (line.details and "charge" in line.details and line.details["charge"] is None)))
    version_views = [
        VersionView(v.id, v.version, v.is_current, v.frequency_code, v.patient_control_number, v.original_reference,
                    v.state, v.total_charge, v.created_by_id, v.created_at, v.state_changed_at, lines[v.id],
                    [str(step) for step in v.explanation or []])
        for v in versions
    ]
    current = next(v for v in versions if v.is_current)
    scrub = latest_scrub(tenant, current)
    current_scrub = None
    if scrub is not None:
        findings = session.scalars(tenant.select(m.FindingRecord, m.FindingRecord.scrub_run_id == scrub.id)
                                   .order_by(m.FindingRecord.id))
        current_scrub = ScrubView(scrub.id, scrub.claim_version_id, scrub.as_of, scrub.ran_by_id, scrub.ran_at,
                                  [_finding_view(f) for f in findings])
    return ClaimDetail(
        claim_id=claim.id, encounter_id=header.id, encounter_ref=header.encounter_ref,
        date_of_service=header.date_of_service, patient_ref=header.patient_ref, provider_npi=header.npi,
        provider_discipline=header.discipline, payer_name=header.name, payer_id=header.payer_id,
        versions=version_views, current_scrub=current_scrub, remittances=_remittances(tenant, version_ids),
        denial_tasks=_denial_tasks(tenant, [m.DenialTask.claim_id == claim.id], include_resolved=True),
        audit=claim_audit_trail(tenant, claim.id) or [],
    )


def _remittances(tenant: Tenant, version_ids: list[int]) -> list[RemittanceView]:
    session = tenant.session
    rows = session.execute(
        select(m.RemittanceClaim, m.Remittance.trace_number, m.Remittance.payer_identifier, m.Remittance.posted_at)
        .join(m.Remittance, m.Remittance.id == m.RemittanceClaim.remittance_id)
        .where(m.RemittanceClaim.organisation_id == tenant.organisation_id,
               m.RemittanceClaim.claim_version_id.in_(version_ids))
        .order_by(m.Remittance.posted_at, m.RemittanceClaim.id)
    ).all()
    claim_ids = [row[0].id for row in rows]
    remit_lines = list(session.scalars(tenant.select(m.RemittanceLine, m.RemittanceLine.remittance_claim_id.in_(
        claim_ids)).order_by(m.RemittanceLine.id)))
    adjustments = list(session.scalars(tenant.select(m.RemittanceAdjustment,
                                                     m.RemittanceAdjustment.remittance_claim_id.in_(claim_ids))
                                       .order_by(m.RemittanceAdjustment.id)))
    views = []
    for remit, trace_number, payer_identifier, posted_at in rows:
        line_views = [
            RemitLineView(line.code, [str(x) for x in line.modifiers], line.charge, line.paid, line.units,
                          line.service_date, line.claim_line_id,
                          [adjustment_view(a) for a in adjustments if a.remittance_line_id == line.id])
            for line in remit_lines if line.remittance_claim_id == remit.id
        ]
        views.append(RemittanceView(
            remit.id, remit.remittance_id, trace_number, payer_identifier, posted_at, remit.claim_version_id,
            remit.status_code, remit.charge, remit.paid, remit.patient_responsibility, remit.payer_claim_control_number,
            [adjustment_view(a) for a in adjustments
             if a.remittance_claim_id == remit.id and a.remittance_line_id is None],
            line_views))
    return views


def claim_audit_trail(tenant: Tenant, claim_id: int) -> list[AuditEntry] | None:
    """Every audit event of the claim, its versions, their scrubs and findings, and its denial tasks, oldest first;
    None when the claim is not this organisation's."""
    session = tenant.session
    if tenant.get(m.Claim, claim_id) is None:
        return None
    version_ids = list(session.scalars(select(_Version.id).where(
        _Version.organisation_id == tenant.organisation_id, _Version.claim_id == claim_id)))
    run_ids = list(session.scalars(select(m.ScrubRun.id).where(
        m.ScrubRun.organisation_id == tenant.organisation_id, m.ScrubRun.claim_version_id.in_(version_ids))))
    finding_ids = list(session.scalars(select(m.FindingRecord.id).where(
        m.FindingRecord.organisation_id == tenant.organisation_id, m.FindingRecord.scrub_run_id.in_(run_ids))))
    task_ids = list(session.scalars(select(m.DenialTask.id).where(
        m.DenialTask.organisation_id == tenant.organisation_id, m.DenialTask.claim_id == claim_id)))
    owned = {"claim": [claim_id], "claim_version": version_ids, "scrub_run": run_ids, "finding": finding_ids,
             "denial_task": task_ids}
    event = m.AuditEvent
    which = [and_(event.entity == entity, event.entity_id.in_([str(i) for i in ids]))
             for entity, ids in owned.items() if ids]
    events = session.scalars(tenant.select(event, or_(*which) if which else false()).order_by(event.at, event.id))
    return [AuditEntry(e.id, e.at, e.user_id, e.entity, e.entity_id, e.action, e.before, e.after) for e in events]


# --- the denial worklist --------------------------------------------------------------------------------------------


def _denial_tasks(tenant: Tenant, criteria: list[ColumnElement[bool]], *,
                  include_resolved: bool = False) -> list[DenialTaskView]:
    """Denial tasks with the amount their CARC denied on the remittance that opened them and the rules that would
    have caught it (RARCs of those adjustments narrow the CARC's rules, as in the ``denials`` command)."""
    session = tenant.session
    task = m.DenialTask
    terms = [task.organisation_id == tenant.organisation_id, *criteria]
    if not include_resolved:
        terms.append(task.resolved_at.is_(None))
    rows = session.execute(
        select(task, _Version.patient_control_number, m.Provider.npi, m.Payer.name)
        .join(_Version, and_(_Version.claim_id == task.claim_id, _Version.is_current == true()))
        .join(m.Claim, m.Claim.id == task.claim_id)
        .join(_Encounter, _Encounter.id == m.Claim.encounter_id)
        .join(m.Provider, m.Provider.id == _Encounter.provider_id)
        .outerjoin(m.Payer, m.Payer.id == _Encounter.payer_id)
        .where(*terms)
        .order_by(task.due_date.asc().nulls_last(), task.id)
    ).all()
    remit_ids = sorted({row[0].remittance_claim_id for row in rows if row[0].remittance_claim_id is not None})
    denied: dict[tuple[int, str], tuple[Decimal, list[str]]] = {}
    if remit_ids:
        for adjustment in session.scalars(tenant.select(m.RemittanceAdjustment,
                                                        m.RemittanceAdjustment.remittance_claim_id.in_(remit_ids))):
            key = (adjustment.remittance_claim_id, adjustment.carc)
            amount, rarcs = denied.get(key, (Decimal(0), []))
            denied[key] = (amount + adjustment.amount, rarcs + [str(r) for r in adjustment.rarcs if r not in rarcs])
    codes = remittance_codes()
    views = []
    for row, pcn, npi, payer_name in rows:
        amount, rarcs = denied.get((row.remittance_claim_id or 0, row.carc), (Decimal(0), []))
        slugs, _preventable, _advice = denial_rules_for(row.carc, rarcs, codes)
        views.append(DenialTaskView(
            row.id, row.claim_id, pcn, row.carc, codes.reason(row.carc).description, amount, slugs, row.assignee_id,
            row.note, row.due_date, row.created_at, row.resolved_at, npi, payer_name))
    return views


def denial_task(tenant: Tenant, task_id: int) -> DenialTaskView | None:
    """One denial task, open or resolved, as the worklist shows it; None when it is not this organisation's."""
    found = _denial_tasks(tenant, [m.DenialTask.id == task_id], include_resolved=True)
    return found[0] if found else None


def denial_worklist(tenant: Tenant, *, assignee_id: int | None = None, unassigned: bool = False,
                    due_by: date | None = None, overdue_on: date | None = None) -> list[DenialReasonGroup]:
    """Open denial tasks grouped by CARC, the most dollars first, each with the cleanclaim rules that would have
    caught it before submission (the mapping the ``denials`` command uses: formats/remittance_codes).

    Narrowed to one assignee's tasks, or the tasks nobody has (``unassigned``); to tasks due on or before
    ``due_by``; to tasks overdue on ``overdue_on`` (due strictly before it). A task without a due date is neither
    due nor overdue."""
    task = m.DenialTask
    criteria: list[ColumnElement[bool]] = []
    if assignee_id is not None:
        criteria.append(task.assignee_id == assignee_id)
    if unassigned:
        criteria.append(task.assignee_id.is_(None))
    if due_by is not None:
        criteria.append(task.due_date <= due_by)
    if overdue_on is not None:
        criteria.append(task.due_date < overdue_on)
    codes = remittance_codes()
    grouped: dict[str, list[DenialTaskView]] = {}
    for view in _denial_tasks(tenant, criteria):
        grouped.setdefault(view.carc, []).append(view)
    groups = []
    for carc, items in grouped.items():
        slugs: list[str] = []
        for item in items:
            slugs += [slug for slug in item.rule_slugs if slug not in slugs]
        rule = codes.carc_rules.get(carc)
        groups.append(DenialReasonGroup(
            carc=carc, description=codes.reason(carc).description, tasks=len(items),
            claims=len({item.claim_id for item in items}), amount=sum((i.amount for i in items), Decimal(0)),
            rule_slugs=slugs, preventable=rule.preventable if rule else None, advice=rule.advice if rule else "",
            items=items))
    return sorted(groups, key=lambda group: (-group.amount, group.carc))
