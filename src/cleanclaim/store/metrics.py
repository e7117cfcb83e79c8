"""The dashboard's figures for one organisation as of a date: how clean claims are, how fast they go out, what is
owed and for how long, what payers deny, what the open findings put at risk and which follow-ups are due.

Each figure is defined here, once, so the page, the API and a billing manager's spreadsheet can be reconciled with
it. Money is Decimal throughout; ratios are Decimals rounded for display only at the edge (the page).

What "as of" can and cannot do: events with a date (a scrub, a submission, a posted remittance, a task's due date)
are counted up to and including ``as_of``; a claim's *state* is the one stored now, because the store keeps the
current state, not a history of states (that is in the audit trail). So an A/R figure "as of" a past date ages the
claims outstanding today as they were aged on that date; the page always asks for today.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, select, true

from cleanclaim.formats.remittance_codes import remittance_codes
from cleanclaim.formats.x12_835 import Adjustment, adjustment_kind
from cleanclaim.lifecycle import ClaimState, blocking_findings
from cleanclaim.model import Severity
from cleanclaim.store import models as m
from cleanclaim.store.tenant import Tenant

__all__ = [
    "AGING_BUCKETS",
    "OUTSTANDING_STATES",
    "AgingBucket",
    "CleanClaimRate",
    "Dashboard",
    "DaysToSubmission",
    "DenialCount",
    "DollarsAtRisk",
    "FollowUps",
    "dashboard",
]

AGING_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-30", 0, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("90+", 91, None))
"""(label, first day, last day) of the A/R aging buckets the issue asks for; days since the claim's first
submission."""

OUTSTANDING_STATES = (ClaimState.SUBMITTED, ClaimState.APPEALED, ClaimState.PARTIALLY_PAID)
"""States in which a claim's money is still expected from the payer (denied claims are on the denial worklist;
corrected ones are owed through their new version)."""

# CARC kinds that settle part of a charge for good: the patient's share is billed to the patient, a contractual
# write-off and a reduction are never owed. What remains after them and the payment is still owed by the payer.
_SETTLED_KINDS = frozenset({"patient-share", "contractual", "reduction"})


@dataclass(frozen=True)
class CleanClaimRate:
    """HFMA MAP Key CL-1, Clean Claim Rate: claims that pass edits requiring no manual intervention, divided by
    claims accepted into the claim-processing tool for billing (HFMA MAP Keys, Claims group:
    https://www.hfma.org/data-and-insights/map-initiative/).

    Here: the denominator is the claims whose *first* scrub (the earliest scrub of any of its versions) ran in the
    period; the numerator those whose first scrub found no error finding. An error a biller overrode is manual
    intervention, so it is not clean; warnings and info do not make a claim unclean.
    """

    claims: int
    clean: int

    @property
    def rate(self) -> Decimal | None:
        """clean / claims, exact to 4 places (0.9500 is 95%); None with no claims scrubbed in the period."""
        return None if not self.claims else (Decimal(self.clean) / Decimal(self.claims)).quantize(Decimal("0.0001"))


@dataclass(frozen=True)
class DaysToSubmission:
    """Days from the date of service to the claim's first submission (the first batch holding any of its versions),
    over the claims first submitted in the period."""

    claims: int
    median: Decimal | None
    mean: Decimal | None
    """Rounded to a tenth of a day."""


@dataclass(frozen=True)
class AgingBucket:
    """Outstanding payer A/R of claims whose first submission is ``first_day``..``last_day`` days before as_of.

    Outstanding = the current version's total charge, less what the payer paid on it, less the adjustments that
    settle a charge for good (patient share, contractual write-off, reduction: see `_SETTLED_KINDS`). A denied
    amount under appeal or a partly paid claim's denied lines stay outstanding. Aged from the first submission (not
    the date of service): a payer's clock starts when it has the claim, and a correction does not restart it.
    """

    label: str
    first_day: int
    last_day: int | None
    claims: int
    amount: Decimal


@dataclass(frozen=True)
class DenialCount:
    """Denied dollars of one CARC or one rendering provider: the positive adjustments whose CARC is a denial (the
    `denials` command's test, x12_835.adjustment_kind) on remittances posted in the period, matched to a claim."""

    key: str
    label: str
    claims: int
    amount: Decimal


@dataclass(frozen=True)
class DollarsAtRisk:
    """Total charges of claims held back by standing error findings: the current version is scrubbed (or marked
    ready) and its latest scrub has an error finding no biller overrode. Not yet submitted, so still fixable."""

    claims: int
    amount: Decimal


@dataclass(frozen=True)
class FollowUps:
    """Open denial tasks by their due date: due on or before as_of (overdue: before it), and without a due date."""

    due: int
    overdue: int
    without_due_date: int


@dataclass(frozen=True)
class Dashboard:
    as_of: date
    since: date | None
    clean_claim_rate: CleanClaimRate
    days_to_submission: DaysToSubmission
    aging: list[AgingBucket]
    denials_by_carc: list[DenialCount]
    denials_by_provider: list[DenialCount]
    at_risk: DollarsAtRisk
    follow_ups: FollowUps


def _end_of(day: date) -> datetime:
    """The first instant after ``day`` (UTC): timestamps before it fall on or before the day."""
    return datetime.combine(day + timedelta(days=1), time.min, UTC)


def _period(column: Any, as_of: date, since: date | None) -> list[ColumnElement[bool]]:
    """``column`` (a UTC timestamp) on a day from ``since`` (when given) to ``as_of``, both included."""
    terms: list[ColumnElement[bool]] = [column < _end_of(as_of)]
    if since is not None:
        terms.append(column >= datetime.combine(since, time.min, UTC))
    return terms


def clean_claim_rate(tenant: Tenant, as_of: date, since: date | None = None) -> CleanClaimRate:
    session, organisation = tenant.session, tenant.organisation_id
    run, version = m.ScrubRun, m.ClaimVersion
    first_runs = (
        select(version.claim_id, func.min(run.id).label("run_id"))
        .join(version, version.id == run.claim_version_id)
        .where(run.organisation_id == organisation, version.organisation_id == organisation)
        .group_by(version.claim_id)
        .subquery()
    )
    runs = session.execute(
        select(first_runs.c.run_id, run.ran_at).join(run, run.id == first_runs.c.run_id)
    ).all()
    in_period = [run_id for run_id, ran_at in runs
                 if ran_at < _end_of(as_of) and (since is None or ran_at >= datetime.combine(since, time.min, UTC))]
    if not in_period:
        return CleanClaimRate(0, 0)
    unclean = set(session.scalars(
        select(m.FindingRecord.scrub_run_id).where(
            m.FindingRecord.organisation_id == organisation, m.FindingRecord.scrub_run_id.in_(in_period),
            m.FindingRecord.severity == Severity.ERROR.value).distinct()))
    return CleanClaimRate(len(in_period), len(in_period) - len(unclean))


def _first_submissions(tenant: Tenant, as_of: date, since: date | None) -> dict[int, datetime]:
    """claim id -> when a batch first held one of its versions, for claims first submitted in the period."""
    batch, entry, version = m.SubmissionBatch, m.SubmissionClaim, m.ClaimVersion
    organisation = tenant.organisation_id
    rows = tenant.session.execute(
        select(version.claim_id, func.min(batch.created_at))
        .join(entry, entry.claim_version_id == version.id)
        .join(batch, batch.id == entry.batch_id)
        .where(version.organisation_id == organisation, entry.organisation_id == organisation,
               batch.organisation_id == organisation)
        .group_by(version.claim_id)
    ).all()
    start = datetime.combine(since, time.min, UTC) if since is not None else None
    return {claim_id: first for claim_id, first in rows
            if first < _end_of(as_of) and (start is None or first >= start)}


def days_to_submission(tenant: Tenant, as_of: date, since: date | None = None) -> DaysToSubmission:
    first = _first_submissions(tenant, as_of, since)
    if not first:
        return DaysToSubmission(0, None, None)
    service: dict[int, date] = {}
    for claim_id, day in tenant.session.execute(
            select(m.Claim.id, m.EncounterRecord.date_of_service)
            .join(m.EncounterRecord, m.EncounterRecord.id == m.Claim.encounter_id)
            .where(m.Claim.organisation_id == tenant.organisation_id, m.Claim.id.in_(list(first)))):
        service[claim_id] = day
    days = [(first[claim_id].date() - service[claim_id]).days for claim_id in first]
    median = Decimal(str(statistics.median(days)))
    mean = (Decimal(sum(days)) / Decimal(len(days))).quantize(Decimal("0.1"))
    return DaysToSubmission(len(days), median, mean)


def _settled_and_paid(tenant: Tenant, version_ids: list[int]) -> dict[int, Decimal]:
    """version id -> payer payments plus settling adjustments posted to it."""
    codes = remittance_codes()
    total: dict[int, Decimal] = defaultdict(Decimal)
    if not version_ids:
        return total
    remit, adjustment = m.RemittanceClaim, m.RemittanceAdjustment
    session, organisation = tenant.session, tenant.organisation_id
    for version_id, paid in session.execute(
            select(remit.claim_version_id, remit.paid).where(
                remit.organisation_id == organisation, remit.claim_version_id.in_(version_ids))):
        if version_id is not None:  # never None: only the versions asked for are read
            total[version_id] += paid
    for version_id, group, carc, amount in session.execute(
            select(remit.claim_version_id, adjustment.group_code, adjustment.carc, adjustment.amount)
            .join(remit, remit.id == adjustment.remittance_claim_id)
            .where(adjustment.organisation_id == organisation, remit.claim_version_id.in_(version_ids))):
        if version_id is not None and adjustment_kind(Adjustment(group, carc, amount, None, 0),
                                                      codes) in _SETTLED_KINDS:
            total[version_id] += amount
    return total


def aging(tenant: Tenant, as_of: date) -> list[AgingBucket]:
    first = _first_submissions(tenant, as_of, None)
    version = m.ClaimVersion
    rows = tenant.session.execute(
        select(version.id, version.claim_id, version.total_charge).where(
            version.organisation_id == tenant.organisation_id, version.is_current == true(),
            version.state.in_([state.value for state in OUTSTANDING_STATES]))
    ).all() if first else []
    rows = [row for row in rows if row.claim_id in first]
    settled = _settled_and_paid(tenant, [row.id for row in rows])
    claims = dict.fromkeys((label for label, _, _ in AGING_BUCKETS), 0)
    amounts = dict.fromkeys((label for label, _, _ in AGING_BUCKETS), Decimal(0))
    for row in rows:
        outstanding = row.total_charge - settled.get(row.id, Decimal(0))
        if outstanding <= 0:
            continue
        age = (as_of - first[row.claim_id].date()).days
        label = next(label for label, low, high in AGING_BUCKETS if age >= low and (high is None or age <= high))
        claims[label] += 1
        amounts[label] += outstanding
    return [AgingBucket(label, low, high, claims[label], amounts[label]) for label, low, high in AGING_BUCKETS]


def denials(tenant: Tenant, as_of: date, since: date | None = None) -> tuple[list[DenialCount], list[DenialCount]]:
    """(by CARC, by rendering provider), the most dollars first."""
    codes = remittance_codes()
    session, organisation = tenant.session, tenant.organisation_id
    remit, adjustment, version = m.RemittanceClaim, m.RemittanceAdjustment, m.ClaimVersion
    rows = session.execute(
        select(version.claim_id, m.Provider.npi, m.Provider.last_name, adjustment.group_code, adjustment.carc,
               adjustment.amount)
        .select_from(adjustment)
        .join(remit, remit.id == adjustment.remittance_claim_id)
        .join(m.Remittance, m.Remittance.id == remit.remittance_id)
        .join(version, version.id == remit.claim_version_id)
        .join(m.Claim, m.Claim.id == version.claim_id)
        .join(m.EncounterRecord, m.EncounterRecord.id == m.Claim.encounter_id)
        .join(m.Provider, m.Provider.id == m.EncounterRecord.provider_id)
        .where(adjustment.organisation_id == organisation, *_period(m.Remittance.posted_at, as_of, since))
    ).all()
    by_carc: dict[str, tuple[set[int], Decimal]] = {}
    by_provider: dict[str, tuple[set[int], Decimal, str]] = {}
    for claim_id, npi, last_name, group, carc, amount in rows:
        if adjustment_kind(Adjustment(group, carc, amount, None, 0), codes) != "denial":
            continue
        claims, total = by_carc.get(carc, (set(), Decimal(0)))
        by_carc[carc] = (claims | {claim_id}, total + amount)
        claims, total, name = by_provider.get(npi, (set(), Decimal(0), last_name or npi))
        by_provider[npi] = (claims | {claim_id}, total + amount, name)
    carcs = [DenialCount(carc, codes.reason(carc).description, len(claims), total)
             for carc, (claims, total) in by_carc.items()]
    providers = [DenialCount(npi, name, len(claims), total) for npi, (claims, total, name) in by_provider.items()]
    return (sorted(carcs, key=lambda d: (-d.amount, d.key)), sorted(providers, key=lambda d: (-d.amount, d.key)))


def dollars_at_risk(tenant: Tenant) -> DollarsAtRisk:
    session, organisation = tenant.session, tenant.organisation_id
    version, run = m.ClaimVersion, m.ScrubRun
    held = session.execute(
        select(version.id, version.total_charge, func.max(run.id))
        .join(run, run.claim_version_id == version.id)
        .where(version.organisation_id == organisation, version.is_current == true(),
               version.state.in_([ClaimState.SCRUBBED.value, ClaimState.READY.value]))
        .group_by(version.id, version.total_charge)
    ).all()
    latest = {run_id: charge for _version_id, charge, run_id in held}
    if not latest:
        return DollarsAtRisk(0, Decimal(0))
    findings = session.scalars(tenant.select(m.FindingRecord, m.FindingRecord.scrub_run_id.in_(list(latest)),
                                             m.FindingRecord.severity == Severity.ERROR.value))
    by_run: dict[int, list[m.FindingRecord]] = defaultdict(list)
    for finding in findings:
        by_run[finding.scrub_run_id].append(finding)
    risky = [run_id for run_id, found in by_run.items() if blocking_findings(found)]
    return DollarsAtRisk(len(risky), sum((latest[run_id] for run_id in risky), Decimal(0)))


def follow_ups(tenant: Tenant, as_of: date) -> FollowUps:
    task = m.DenialTask
    rows = tenant.session.execute(select(task.due_date).where(
        task.organisation_id == tenant.organisation_id, task.resolved_at.is_(None))).scalars().all()
    return FollowUps(due=sum(1 for due in rows if due is not None and due <= as_of),
                     overdue=sum(1 for due in rows if due is not None and due < as_of),
                     without_due_date=sum(1 for due in rows if due is None))


def dashboard(tenant: Tenant, as_of: date, since: date | None = None) -> Dashboard:
    """Every dashboard figure; ``since`` limits the period figures (clean-claim rate, days to submission, denials)
    to events on or after it (default: all time). Aging, dollars at risk and follow-ups are positions, not flows."""
    by_carc, by_provider = denials(tenant, as_of, since)
    return Dashboard(
        as_of=as_of, since=since, clean_claim_rate=clean_claim_rate(tenant, as_of, since),
        days_to_submission=days_to_submission(tenant, as_of, since), aging=aging(tenant, as_of),
        denials_by_carc=by_carc, denials_by_provider=by_provider, at_risk=dollars_at_risk(tenant),
        follow_ups=follow_ups(tenant, as_of))
