"""The workspace's tables: every claim, payment and change a billing office makes, per organisation.

Two database-level guarantees carry the design, because the web layer, the API and batch jobs all write here and
none of them should be trusted to remember:

* **Tenancy is in the keys.** Every tenant-owned row has ``organisation_id``, and every reference between two
  tenant-owned rows is a composite foreign key ``(x_id, organisation_id)``, so a claim line can only point at a claim
  version of its own organisation. ``store.tenant`` then filters every query by organisation.
* **History is kept.** A corrected claim is a new :class:`ClaimVersion` (frequency code 7) and the old version stays;
  findings keep who overrode them and why; :class:`AuditEvent` rows cannot be updated or deleted (a trigger,
  created by the migration, refuses it).

Money is :class:`~cleanclaim.store.types.Money` (Numeric(12,2), Decimal only) and every timestamp is UTC-aware.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    or_,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, mapped_column, object_session, relationship
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from cleanclaim.lifecycle import ClaimState, Role
from cleanclaim.model import Severity
from cleanclaim.store.types import Money, Units, UTCDateTime, utcnow

# Deterministic constraint names: migrations (and SQLite's batch mode) must be able to name what they drop.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# The claim states and the roles are the lifecycle's (cleanclaim.lifecycle): the database's CHECK constraints hold
# the same values, so a state or role the lifecycle does not know cannot be stored. Changing either needs a
# migration; tests/store checks every value is accepted.
CLAIM_STATES: tuple[str, ...] = tuple(ClaimState)
ROLES: tuple[str, ...] = tuple(Role)

# CLM05-3 claim frequency type code: 1 original, 7 replacement of a prior claim, 8 void (005010X222A1 2300 CLM05-3).
FREQUENCY_CODES: tuple[str, ...] = ("1", "7", "8")

# CAS01 claim adjustment group codes (005010X221A1 2100/2110 CAS01).
ADJUSTMENT_GROUPS: tuple[str, ...] = ("CO", "CR", "OA", "PI", "PR")


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    listed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({listed})", name=f"{column}_allowed")


def _same_tenant_fk(column: str, table: str, *, ondelete: str | None = None) -> ForeignKeyConstraint:
    """A reference that also matches ``organisation_id``: no row can point into another organisation."""
    return ForeignKeyConstraint(
        [column, "organisation_id"], [f"{table}.id", f"{table}.organisation_id"], ondelete=ondelete
    )


def _tenant_key() -> UniqueConstraint:
    """``(id, organisation_id)``: the target of the composite references above."""
    return UniqueConstraint("id", "organisation_id")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), Decimal: Money(), dict[str, Any]: JSON(), list[Any]: JSON()}  # noqa: RUF012


class TenantOwned:
    """Mixin of every table that belongs to one organisation; ``store.tenant`` filters on it."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)

    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)


class Organisation(Base):
    """A practice, or a billing company's client: the unit of tenancy."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(TenantOwned, Base):
    """A person who signs in. The email is unique across organisations because sign-in starts from it alone."""

    __tablename__ = "users"
    __table_args__ = (
        _tenant_key(),
        _one_of("role", ROLES),
        # stored lower-case so Ann@x and ann@x cannot be two accounts
        CheckConstraint("email = lower(email)", name="email_lower_case"),
    )

    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id PHC string, see store.passwords
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Patient(TenantOwned, Base):
    """The patient of the interchange contract; ``patient_ref`` is the practice's own id (``patient.id``)."""

    __tablename__ = "patients"
    __table_args__ = (_tenant_key(), UniqueConstraint("organisation_id", "patient_ref"))

    patient_ref: Mapped[str] = mapped_column(String(80))
    first_name: Mapped[str | None] = mapped_column(String(60))
    last_name: Mapped[str | None] = mapped_column(String(60))
    birth_date: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(1))


class Provider(TenantOwned, Base):
    """A rendering provider: the NPI and discipline the coding and eligibility rules read."""

    __tablename__ = "providers"
    __table_args__ = (
        _tenant_key(),
        UniqueConstraint("organisation_id", "npi"),
        CheckConstraint("length(npi) = 10", name="npi_ten_digits"),
    )

    npi: Mapped[str] = mapped_column(String(10))
    discipline: Mapped[str] = mapped_column(String(40))
    first_name: Mapped[str | None] = mapped_column(String(60))
    last_name: Mapped[str | None] = mapped_column(String(60))


class Payer(TenantOwned, Base):
    """A payer as the organisation bills it: its payer profile (rules) and its electronic payer id (837P/835)."""

    __tablename__ = "payers"
    __table_args__ = (_tenant_key(), UniqueConstraint("organisation_id", "payer_id"))

    profile_id: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(120))
    payer_id: Mapped[str] = mapped_column(String(80))


class ChargeMasterEntry(TenantOwned, Base):
    """The organisation's charge per unit of a code (its charge master), which the coder puts on each line it makes
    (charge x units). ``modifier`` '' is the charge whatever the line's modifiers; a row with a modifier is preferred
    for a line carrying it (``pricing.line_charge``). Replaced whole from a CSV by an admin (``store.charges``);
    the audit trail keeps every earlier version."""

    __tablename__ = "charge_master_entries"
    __table_args__ = (
        _tenant_key(),
        _same_tenant_fk("updated_by_id", "users"),
        UniqueConstraint("organisation_id", "code", "modifier"),
        CheckConstraint("unit_charge >= 0", name="unit_charge_not_negative"),
    )

    code: Mapped[str] = mapped_column(String(5))  # a CPT/HCPCS code, as claim_lines.code
    modifier: Mapped[str] = mapped_column(String(2), default="")
    unit_charge: Mapped[Decimal] = mapped_column()
    updated_by_id: Mapped[int | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EncounterRecord(TenantOwned, Base):
    """One encounter of the interchange contract, kept whole as JSON so nothing the engine reads is lost.

    The key columns repeat what lists and filters need (and what the JSON says) so they can be indexed.
    """

    __tablename__ = "encounters"
    __table_args__ = (
        _tenant_key(),
        _same_tenant_fk("patient_id", "patients"),
        _same_tenant_fk("provider_id", "providers"),
        _same_tenant_fk("payer_id", "payers"),
        Index("ix_encounters_organisation_id_date_of_service", "organisation_id", "date_of_service"),
        # the claim list's provider and payer filters, alone or with a range of service dates (migration 0005)
        Index("ix_encounters_list_provider", "organisation_id", "provider_id", "date_of_service"),
        Index("ix_encounters_list_payer", "organisation_id", "payer_id", "date_of_service"),
    )

    encounter_ref: Mapped[str] = mapped_column(String(80), index=True)
    date_of_service: Mapped[date] = mapped_column(Date)
    patient_id: Mapped[int] = mapped_column(index=True)
    provider_id: Mapped[int] = mapped_column(index=True)
    payer_id: Mapped[int | None] = mapped_column(index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Claim(TenantOwned, Base):
    """A claim across its versions: what stays the same when it is corrected (its encounter, who it bills)."""

    __tablename__ = "claims"
    __table_args__ = (_tenant_key(), _same_tenant_fk("encounter_id", "encounters"))

    encounter_id: Mapped[int] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    versions: Mapped[list[ClaimVersion]] = relationship(order_by="ClaimVersion.version")


class ClaimVersion(TenantOwned, Base):
    """One version of a claim as billed. A correction adds version n+1 with frequency code 7; earlier ones stay.

    Exactly one version of a claim is current, and among current versions the patient control number (CLM01,
    the claim id the 835 echoes in CLP01) is unique per organisation, so posting can match on it.
    """

    __tablename__ = "claim_versions"
    __table_args__ = (
        _tenant_key(),
        _same_tenant_fk("claim_id", "claims"),
        _same_tenant_fk("created_by_id", "users"),
        UniqueConstraint("claim_id", "version"),
        _one_of("state", CLAIM_STATES),
        _one_of("frequency_code", FREQUENCY_CODES),
        # the first version is an original claim; a later one replaces (7) or voids (8) it
        CheckConstraint(
            "(version = 1 AND frequency_code = '1') OR (version > 1 AND frequency_code IN ('7', '8'))",
            name="frequency_matches_version",
        ),
        Index(
            "uq_claim_versions_current_pcn",
            "organisation_id",
            "patient_control_number",
            unique=True,
            sqlite_where=text("is_current"),
            postgresql_where=text("is_current"),
        ),
        Index(
            "uq_claim_versions_one_current",
            "claim_id",
            unique=True,
            sqlite_where=text("is_current"),
            postgresql_where=text("is_current"),
        ),
        # The claim list (store.queries) reads a page of one organisation's current versions in the order it shows
        # them, instead of sorting them all: one index per sort it offers, each ending in the version id, the sort's
        # tie-break. Plain, not partial, indexes: SQLite uses a partial index only when the query repeats
        # its WHERE text exactly, and `is_current = 1` is not `is_current`.
        Index("ix_claim_versions_list_changed", "organisation_id", "is_current", "state_changed_at", "id"),
        Index("ix_claim_versions_list_state", "organisation_id", "is_current", "state", "state_changed_at", "id"),
        Index("ix_claim_versions_list_charge", "organisation_id", "is_current", "total_charge", "id"),
        Index("ix_claim_versions_list_pcn", "organisation_id", "is_current", "patient_control_number", "id"),
    )

    # No single-column index on organisation_id, claim_id or state (migration 0008 dropped them): every query of
    # the store filters them together with columns an index above starts with (the organisation's list indexes,
    # (claim_id, version), the current version per claim), and a batch scrub's UPDATE of 10,000 versions wrote
    # every index of the table once per row: three fewer were about a fifth of its work.
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    claim_id: Mapped[int] = mapped_column()
    version: Mapped[int] = mapped_column(Integer)
    is_current: Mapped[bool] = mapped_column(Boolean)
    frequency_code: Mapped[str] = mapped_column(String(1))
    patient_control_number: Mapped[str] = mapped_column(String(38))  # CLM01 is at most 38 characters
    # the payer's claim control number of the claim this version replaces (2300 REF*F8), for frequency 7 and 8
    original_reference: Mapped[str | None] = mapped_column(String(50))
    state: Mapped[str] = mapped_column(String(20))
    total_charge: Mapped[Decimal] = mapped_column()
    created_by_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the coder's arithmetic in plain words (minutes → units, pointers), shown beside the coded lines
    explanation: Mapped[list[Any] | None] = mapped_column(JSON)
    # when `state` last changed (kept by the attribute listener below): the claim list's "days in state" and its
    # oldest-first sort. Migration 0003 gives the rows that existed before it their creation time.
    state_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the version's latest scrub run (its highest scrub_runs.id; None: never scrubbed), so "the current scrub has a
    # finding of rule X" is one join on the claim list instead of a "max(id) per version" per flagged finding.
    # Written in the transaction that adds the run: store.claims' scrub sets it in the UPDATE that moves the state,
    # the listener on ScrubRun below does it for ORM inserts; migration 0005 filled it for existing versions.
    # Not a foreign key: scrub_runs already references claim_versions, and SQLite cannot add the reverse reference
    # to an existing table without rebuilding claim_versions (which would cascade into claim_lines). Every reader
    # also matches the run's organisation, so a wrong value could hide a scrub but never show another tenant's.
    latest_scrub_run_id: Mapped[int | None] = mapped_column(index=True)

    lines: Mapped[list[ClaimLine]] = relationship(order_by="ClaimLine.line_number", cascade="all, delete-orphan")


PCN_TRIGRAM_INDEX = "ix_claim_versions_pcn_trgm"
"""PostgreSQL only: a pg_trgm GIN index on the patient control number, so the claim list's "part of the claim
number" search (ILIKE '%...%') is an index lookup. Migration 0005 creates it when the pg_trgm extension can be
installed; SQLAlchemy has no dialect-neutral spelling of it and it may be absent, so it is not declared here."""

MIGRATION_ONLY_INDEXES = frozenset({PCN_TRIGRAM_INDEX})


def declared_in_models(_object: object, name: str | None, type_: str, reflected: bool, _compare_to: object) -> bool:
    """Alembic's ``include_object`` for comparing the models with a database: leaves out the indexes above, which
    only some databases have (so a migrated PostgreSQL database still matches the models)."""
    return not (type_ == "index" and reflected and name in MIGRATION_ONLY_INDEXES)


@event.listens_for(ClaimVersion.state, "set")
def _state_changed(version: ClaimVersion, value: str, old: object, _initiator: object) -> None:
    """Every ORM write of a new state stamps ``state_changed_at``, so no caller has to remember it (a Core
    ``update()`` bypasses this and must set the column itself)."""
    if value != old:
        version.state_changed_at = utcnow()


class ClaimLine(TenantOwned, Base):
    """A service line of one claim version (2400 loop): what was billed, as the engine coded or the user edited."""

    __tablename__ = "claim_lines"
    __table_args__ = (
        _tenant_key(),
        _same_tenant_fk("claim_version_id", "claim_versions", ondelete="CASCADE"),
        UniqueConstraint("claim_version_id", "line_number"),
        CheckConstraint("line_number >= 1", name="line_number_positive"),
        CheckConstraint("units >= 0", name="units_not_negative"),
        CheckConstraint("minutes IS NULL OR minutes >= 0", name="minutes_not_negative"),
        CheckConstraint("charge >= 0", name="charge_not_negative"),
    )

    claim_version_id: Mapped[int] = mapped_column(index=True)
    line_number: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(5))
    modifiers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    units: Mapped[Decimal] = mapped_column(Units())  # as billed: 1.5 is a finding, stored as it is
    minutes: Mapped[int | None] = mapped_column(Integer)
    dx_pointers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    charge: Mapped[Decimal] = mapped_column()
    service_date: Mapped[date] = mapped_column(Date)
    # the line's data the columns above do not hold (NDC, rendering NPI, 837P references, a charge or date that was
    # not given), so the interchange-contract line is rebuilt exactly (store.claims.encounter_of)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ScrubRun(TenantOwned, Base):
    """One run of the rule engine on one claim version; its findings hang from it so re-scrubs keep history."""

    __tablename__ = "scrub_runs"
    __table_args__ = (
        _tenant_key(),
        _same_tenant_fk("claim_version_id", "claim_versions"),
        _same_tenant_fk("ran_by_id", "users"),
        # a version's latest scrub is its highest id: one index probe when a scrub sets ClaimVersion's pointer
        Index("ix_scrub_runs_claim_version_id_id", "claim_version_id", "id"),
    )

    # no index on claim_version_id alone: the one on (claim_version_id, id) serves it (migration 0008)
    claim_version_id: Mapped[int] = mapped_column()
    as_of: Mapped[date] = mapped_column(Date)
    ran_by_id: Mapped[int | None] = mapped_column()
    ran_at: Mapped[datetime] = mapped_column(default=utcnow)

    findings: Mapped[list[FindingRecord]] = relationship(order_by="FindingRecord.id", cascade="all, delete-orphan")


@event.listens_for(ScrubRun, "after_insert")
def _point_at_latest_scrub(_mapper: Mapper[ScrubRun], connection: Connection, run: ScrubRun) -> None:
    """An ORM insert of a scrub run makes it its version's latest (never moving the pointer back to an older run);
    a version this session holds sees the new value without a reload. Core inserts (store.claims' batch scrub) set
    ``ClaimVersion.latest_scrub_run_id`` themselves."""
    connection.execute(
        update(ClaimVersion)
        .where(ClaimVersion.id == run.claim_version_id, ClaimVersion.organisation_id == run.organisation_id,
               or_(ClaimVersion.latest_scrub_run_id.is_(None), ClaimVersion.latest_scrub_run_id < run.id))
        .values(latest_scrub_run_id=run.id))
    session = object_session(run)
    held = session.identity_map.get(identity_key(ClaimVersion, run.claim_version_id)) if session is not None else None
    if isinstance(held, ClaimVersion) and (held.latest_scrub_run_id or 0) < run.id:
        set_committed_value(held, "latest_scrub_run_id", run.id)


class FindingRecord(TenantOwned, Base):
    """A finding of the contract's shape, plus the override a biller may record (who, why, when; all or none)."""

    __tablename__ = "findings"
    __table_args__ = (
        _tenant_key(),
        _same_tenant_fk("scrub_run_id", "scrub_runs"),
        _same_tenant_fk("overridden_by_id", "users"),
        _one_of("severity", tuple(Severity)),
        # the claim list's rule filter starts from the findings of one rule
        Index("ix_findings_organisation_id_rule", "organisation_id", "rule", "scrub_run_id"),
        CheckConstraint(
            "(overridden_by_id IS NULL AND override_reason IS NULL AND overridden_at IS NULL)"
            " OR (overridden_by_id IS NOT NULL AND override_reason IS NOT NULL AND overridden_at IS NOT NULL"
            " AND length(trim(override_reason)) > 0)",
            name="override_complete",
        ),
    )

    # no index on organisation_id alone: ix_findings_organisation_id_rule starts with it (migration 0008)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    scrub_run_id: Mapped[int] = mapped_column(index=True)
    rule: Mapped[str] = mapped_column(String(80))
    rule_id: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(10))
    line: Mapped[int | None] = mapped_column(Integer)
    code: Mapped[str | None] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text)
    fix: Mapped[str] = mapped_column(Text)
    references: Mapped[list[Any]] = mapped_column(JSON, default=list)
    overridden_by_id: Mapped[int | None] = mapped_column()
    override_reason: Mapped[str | None] = mapped_column(Text)
    overridden_at: Mapped[datetime | None] = mapped_column()


class SubmissionBatch(TenantOwned, Base):
    """An 837P file as written and sent, with its control numbers (ISA13, GS06, ST02) to match 999/277CA later."""

    __tablename__ = "submission_batches"
    __table_args__ = (
        _tenant_key(),
        _same_tenant_fk("created_by_id", "users"),
        # an interchange control number is never reused by one sender (X12 ISA13)
        UniqueConstraint("organisation_id", "isa13"),
    )

    x12: Mapped[str] = mapped_column(Text)
    isa13: Mapped[str] = mapped_column(String(9))
    gs06: Mapped[str] = mapped_column(String(9))
    st02: Mapped[str] = mapped_column(String(9))
    created_by_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SubmissionClaim(TenantOwned, Base):
    """A claim version included in a batch."""

    __tablename__ = "submission_claims"
    __table_args__ = (
        _tenant_key(),
        _same_tenant_fk("batch_id", "submission_batches"),
        _same_tenant_fk("claim_version_id", "claim_versions"),
        UniqueConstraint("batch_id", "claim_version_id"),
    )

    batch_id: Mapped[int] = mapped_column(index=True)
    claim_version_id: Mapped[int] = mapped_column(index=True)


class Remittance(TenantOwned, Base):
    """A posted 835. Its TRN02 trace (check or EFT number) and payer identify it: posting the same file twice is
    refused by the unique key, which is what makes posting idempotent even under two concurrent posts."""

    __tablename__ = "remittances"
    __table_args__ = (
        _tenant_key(),
        _same_tenant_fk("posted_by_id", "users"),
        UniqueConstraint("organisation_id", "payer_identifier", "trace_number"),
    )

    trace_number: Mapped[str] = mapped_column(String(50))  # TRN02
    payer_identifier: Mapped[str] = mapped_column(String(80))  # TRN03, the payer's identifier
    payment_amount: Mapped[Decimal] = mapped_column()  # BPR02
    file_text: Mapped[str] = mapped_column(Text)
    posted_by_id: Mapped[int | None] = mapped_column()
    posted_at: Mapped[datetime] = mapped_column(default=utcnow)

    claims: Mapped[list[RemittanceClaim]] = relationship(order_by="RemittanceClaim.id", cascade="all, delete-orphan")


class RemittanceClaim(TenantOwned, Base):
    """A CLP of an 835 and the claim version it was matched to by patient control number (None: unmatched)."""

    __tablename__ = "remittance_claims"
    __table_args__ = (
        _tenant_key(),
        _same_tenant_fk("remittance_id", "remittances"),
        _same_tenant_fk("claim_version_id", "claim_versions"),
    )

    remittance_id: Mapped[int] = mapped_column(index=True)
    patient_control_number: Mapped[str] = mapped_column(String(38), index=True)  # CLP01
    status_code: Mapped[str] = mapped_column(String(2))  # CLP02
    charge: Mapped[Decimal] = mapped_column()  # CLP03
    paid: Mapped[Decimal] = mapped_column()  # CLP04
    patient_responsibility: Mapped[Decimal | None] = mapped_column()  # CLP05
    payer_claim_control_number: Mapped[str | None] = mapped_column(String(50))  # CLP07
    claim_version_id: Mapped[int | None] = mapped_column(index=True)

    lines: Mapped[list[RemittanceLine]] = relationship(order_by="RemittanceLine.id", cascade="all, delete-orphan")
    # claim-level and line-level CAS alike (a line's have remittance_line_id set)
    adjustments: Mapped[list[RemittanceAdjustment]] = relationship(
        order_by="RemittanceAdjustment.id", cascade="all, delete-orphan"
    )


class RemittanceLine(TenantOwned, Base):
    """An SVC of a remitted claim and the claim line it was matched to."""

    __tablename__ = "remittance_lines"
    __table_args__ = (
        _tenant_key(),
        _same_tenant_fk("remittance_claim_id", "remittance_claims"),
        _same_tenant_fk("claim_line_id", "claim_lines"),
    )

    remittance_claim_id: Mapped[int] = mapped_column(index=True)
    # SVC01-2 is AN 1/48: an NDC (N4), a revenue code (NU) or a HIPPS code is not a 5-character HCPCS code
    code: Mapped[str] = mapped_column(String(48))
    modifiers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    charge: Mapped[Decimal] = mapped_column()  # SVC02
    paid: Mapped[Decimal] = mapped_column()  # SVC03
    units: Mapped[Decimal | None] = mapped_column(Units())  # SVC05
    service_date: Mapped[date | None] = mapped_column(Date)  # DTM*472
    claim_line_id: Mapped[int | None] = mapped_column(index=True)


class RemittanceAdjustment(TenantOwned, Base):
    """A CAS adjustment (group, CARC, amount) with its RARCs, on a remitted claim or one of its lines."""

    __tablename__ = "remittance_adjustments"
    __table_args__ = (
        _tenant_key(),
        _same_tenant_fk("remittance_claim_id", "remittance_claims"),
        _same_tenant_fk("remittance_line_id", "remittance_lines"),
        _one_of("group_code", ADJUSTMENT_GROUPS),
    )

    remittance_claim_id: Mapped[int] = mapped_column(index=True)
    remittance_line_id: Mapped[int | None] = mapped_column(index=True)  # None: a claim-level CAS
    group_code: Mapped[str] = mapped_column(String(2))
    carc: Mapped[str] = mapped_column(String(5))
    amount: Mapped[Decimal] = mapped_column()  # may be negative (a reversal)
    rarcs: Mapped[list[Any]] = mapped_column(JSON, default=list)


class DenialTask(TenantOwned, Base):
    """A denial to work: which claim, the CARC that denied it, who has it, until when, and when it was resolved."""

    __tablename__ = "denial_tasks"
    __table_args__ = (
        _tenant_key(),
        _same_tenant_fk("claim_id", "claims"),
        _same_tenant_fk("remittance_claim_id", "remittance_claims"),
        _same_tenant_fk("assignee_id", "users"),
    )

    claim_id: Mapped[int] = mapped_column(index=True)
    remittance_claim_id: Mapped[int | None] = mapped_column()
    carc: Mapped[str] = mapped_column(String(5), index=True)
    assignee_id: Mapped[int | None] = mapped_column(index=True)
    note: Mapped[str | None] = mapped_column(Text)
    due_date: Mapped[date | None] = mapped_column(Date, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column()


class AuditEvent(TenantOwned, Base):
    """Who changed what, when, from what to what. Insert-only: the database refuses UPDATE and DELETE."""

    __tablename__ = "audit_events"
    __table_args__ = (
        _tenant_key(),
        _same_tenant_fk("user_id", "users"),
        Index("ix_audit_events_entity", "organisation_id", "entity", "entity_id"),
    )

    # no index on organisation_id alone: ix_audit_events_entity starts with it (migration 0008)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    user_id: Mapped[int | None] = mapped_column()  # None: the system (an import, a migration)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    entity: Mapped[str] = mapped_column(String(60))
    entity_id: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(60))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class SubmissionSettings(TenantOwned, Base):
    """How the organisation's 837P files are addressed (ISA/GS sender and receiver, 1000A submitter, 1000B
    receiver) and the next interchange control number, allocated by one row update so two submissions at the same
    moment never share an ISA13."""

    __tablename__ = "submission_settings"
    __table_args__ = (
        _tenant_key(),
        UniqueConstraint("organisation_id"),
        _one_of("usage", ("T", "P")),
        # ISA13 is nine digits (X12 ISA13, 005010 interchange control number)
        CheckConstraint("next_control_number BETWEEN 1 AND 999999999", name="control_number_nine_digits"),
    )

    sender_id: Mapped[str] = mapped_column(String(15))  # ISA06 / GS02
    receiver_id: Mapped[str] = mapped_column(String(15))  # ISA08 / GS03
    receiver_name: Mapped[str] = mapped_column(String(60))  # 1000B NM103
    submitter_name: Mapped[str] = mapped_column(String(60))  # 1000A NM103
    submitter_contact: Mapped[str] = mapped_column(String(60))  # 1000A PER02
    submitter_phone: Mapped[str | None] = mapped_column(String(20))
    submitter_email: Mapped[str | None] = mapped_column(String(80))
    usage: Mapped[str] = mapped_column(String(1), default="T")  # ISA15: T test, P production
    next_control_number: Mapped[int] = mapped_column(Integer, default=1)


JOB_STATES: tuple[str, ...] = ("queued", "running", "done", "failed")


class Job(TenantOwned, Base):
    """Long work (a large import, a batch scrub) a page starts and then polls: how far it got and what came of it."""

    __tablename__ = "jobs"
    __table_args__ = (
        _tenant_key(),
        _same_tenant_fk("created_by_id", "users"),
        _one_of("state", JOB_STATES),
        CheckConstraint("done >= 0 AND total >= 0", name="progress_not_negative"),
    )

    kind: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()

class ApiToken(TenantOwned, Base):
    """A bearer token for ``/api/v1``, issued to one user of one organisation.

    Only the SHA-256 of the token is kept (a token is 256 bits of randomness, so a slow hash adds nothing, and a
    database dump cannot be replayed); the token itself is shown once when it is created. ``prefix`` (``cc_`` and a
    few characters) lets a person tell their tokens apart on the admin page.
    """

    __tablename__ = "api_tokens"
    __table_args__ = (_tenant_key(), _same_tenant_fk("user_id", "users"))

    user_id: Mapped[int] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class WebSession(TenantOwned, Base):
    """A signed-in browser. The cookie holds a random id; only its SHA-256 is stored, so signing out, deactivating
    the user or expiry ends the session on the server (a signed cookie could not be taken back). Each session has
    its own CSRF token, which every form and htmx request must send back."""

    __tablename__ = "web_sessions"
    __table_args__ = (_tenant_key(), _same_tenant_fk("user_id", "users"))

    user_id: Mapped[int] = mapped_column(index=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256 of the cookie's value
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class SignInFailure(Base):
    """A failed sign-in, kept for the sign-in rate limit's window (``store.sign_in_limits``): in the database so
    every worker process of the app counts the same failures. Not tenant-owned: a failure is before anyone is known
    (the email may belong to no one). The email is kept only as its SHA-256; rows older than the window are deleted."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_key", "email_hash", "client", "failed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(index=True)


TENANT_MODELS: tuple[type[TenantOwned], ...] = tuple(
    mapper.class_ for mapper in Base.registry.mappers if issubclass(mapper.class_, TenantOwned)
)
